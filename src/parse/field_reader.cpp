#include "parse/field_reader.hpp"

#include <simdjson.h>

namespace sqtail::parse {

namespace od = simdjson::ondemand;

struct FieldReader::Impl {
  od::parser parser;
  std::vector<std::optional<std::string_view>> values;
  std::vector<std::string> numbers;  // the text of non-string values, per pointer
};

FieldReader::FieldReader(std::vector<std::string> pointers)
    : pointers_(std::move(pointers)), impl_(std::make_unique<Impl>()) {
  impl_->values.resize(pointers_.size());
  impl_->numbers.resize(pointers_.size());
}

FieldReader::~FieldReader() = default;

const std::vector<std::optional<std::string_view>>& FieldReader::read(std::string_view line) {
  auto& values = impl_->values;
  std::fill(values.begin(), values.end(), std::nullopt);
  if (pointers_.empty()) return values;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // One document per pointer: at_pointer() moves the on-demand cursor, and rewinding is only
  // defined for whole documents. Each pass stops at its member, so this is a short scan.
  for (std::size_t i = 0; i < pointers_.size(); ++i) {
    od::document doc;
    if (impl_->parser.iterate(line.data(), line.size(), line.size() + simdjson::SIMDJSON_PADDING)
            .get(doc) != simdjson::SUCCESS) {
      return values;
    }
    od::value value;
    if (doc.at_pointer(pointers_[i]).get(value) != simdjson::SUCCESS) continue;
    od::json_type type{};
    if (value.type().get(type) != simdjson::SUCCESS) continue;
    if (type == od::json_type::string) {
      // Unescaped into the parser's buffer, which the next iterate() overwrites: keep a copy.
      std::string_view text;
      if (value.get_string().get(text) != simdjson::SUCCESS) continue;
      impl_->numbers[i].assign(text);
      values[i] = impl_->numbers[i];
    } else if (type == od::json_type::number || type == od::json_type::boolean) {
      std::string_view raw = value.raw_json_token();
      while (!raw.empty() &&
             (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\n' || raw.back() == '\r' ||
              raw.back() == ',' || raw.back() == '}' || raw.back() == ']')) {
        raw.remove_suffix(1);
      }
      impl_->numbers[i].assign(raw);
      values[i] = impl_->numbers[i];
    }
  }
  return values;
}

}  // namespace sqtail::parse
