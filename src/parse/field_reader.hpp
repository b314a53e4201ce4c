// Owns the second look at a line that routes and file paths need: the values of a few JSON
// pointers beyond the mapped fields. Tail thread only; one FieldReader per thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sqtail::parse {

class FieldReader {
 public:
  // `pointers`: RFC 6901 pointers, checked by the config loader.
  explicit FieldReader(std::vector<std::string> pointers);
  ~FieldReader();
  FieldReader(const FieldReader&) = delete;
  FieldReader& operator=(const FieldReader&) = delete;

  bool empty() const { return pointers_.empty(); }
  const std::vector<std::string>& pointers() const { return pointers_; }

  // The value of each pointer in `line` (a line Extractor accepted; kPadding readable bytes
  // after it): strings unescaped, numbers and true/false as their text; null, objects,
  // arrays and missing members are nullopt. Views stay valid until the next read().
  const std::vector<std::optional<std::string_view>>& read(std::string_view line);

 private:
  struct Impl;
  std::vector<std::string> pointers_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sqtail::parse
