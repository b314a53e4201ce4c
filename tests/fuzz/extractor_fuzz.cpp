// libFuzzer target for parse::Extractor. Built by `meson setup -Dfuzz=true` (clang); run by
// `scripts/test --fuzz SECONDS`, or by hand:
//   build-fuzz/tests/fuzz/extractor_fuzz NEW_INPUTS_DIR tests/fuzz/corpus/extractor
// Beyond "no crash, no sanitizer report", it checks two properties:
//  1. The result does not depend on the padding bytes after the line.
//  2. No false rejects: a line simdjson's fully validating DOM parser accepts as an object is
//     accepted (below the nesting depth where either side gives up).
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "parse/extractor.hpp"

namespace {

using sqtail::parse::Extractor;
using sqtail::parse::Fields;
using sqtail::parse::kPadding;
using sqtail::parse::RejectReason;

sqtail::config::FieldMap fuzzMap() {
  sqtail::config::FieldMap map;  // the defaults, plus nested and escaped pointers
  map.ts.push_back("/meta/ts");
  map.category.push_back("/a~1b/c");
  map.message = {"/message/text", "/message", "/msg", "/m~0"};
  return map;
}

bool sameView(const std::optional<std::string_view>& a, const std::optional<std::string_view>& b) {
  return a.has_value() == b.has_value() && (!a || *a == *b);
}

bool sameResult(const tl::expected<Fields, RejectReason>& a,
                const tl::expected<Fields, RejectReason>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return a.error() == b.error();
  return a->ts_ms == b->ts_ms && sameView(a->level, b->level) &&
         sameView(a->category, b->category) && sameView(a->message, b->message);
}

// Each Extractor keeps its own views alive, so two of them let the results be compared.
Extractor& first() {
  static Extractor extractor{fuzzMap()};
  return extractor;
}
Extractor& second() {
  static Extractor extractor{fuzzMap()};
  return extractor;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // Exactly size + kPadding bytes, so that ASan sees any read past the padding.
  std::string closing(input);
  closing.append(kPadding, '}');
  std::string quoting(input);
  for (std::size_t i = 0; i < kPadding; ++i) quoting.push_back(i % 2 ? '"' : ',');

  const auto a = first().extract(std::string_view(closing.data(), size));
  const auto b = second().extract(std::string_view(quoting.data(), size));
  if (!sameResult(a, b)) std::abort();

  if (!a && size < 2000) {
    static simdjson::dom::parser dom;
    simdjson::dom::element root;
    const simdjson::padded_string padded(input);
    if (dom.parse(padded).get(root) == simdjson::SUCCESS && root.is_object()) std::abort();
  }
  return 0;
}
