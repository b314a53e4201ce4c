#include "parse/stack_category.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>

namespace sqtail::parse {

namespace {

enum class FrameKind : std::uint8_t { kNode, kJava, kPython, kRuby, kGo };

struct Frame {
  FrameKind kind;
  std::string_view location;     // what the skip rules look at
  std::string_view file;         // where the module name comes from
  std::string_view java_method;  // "pkg.Class.method", Java only
};

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlnum(char c) { return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool isBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && isBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && (isBlank(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Removes one trailing ":<digits>"; false (and `s` unchanged) when there is none.
bool stripLineNumber(std::string_view& s) {
  std::size_t i = s.size();
  while (i > 0 && isDigit(s[i - 1])) --i;
  if (i == s.size() || i == 0 || s[i - 1] != ':') return false;
  s = s.substr(0, i - 1);
  return true;
}

// A module name that is safe as a category (it may become part of a file name).
std::optional<std::string_view> safeName(std::string_view name) {
  if (name.empty() || !(isAlnum(name.front()) || name.front() == '_')) return std::nullopt;
  for (char c : name) {
    if (!(isAlnum(c) || c == '_' || c == '.' || c == '-')) return std::nullopt;
  }
  return name.substr(0, kMaxStackCategoryBytes);
}

// "/app/src/loop.js:12:5" -> "loop". `need_line`: a location without ":N" is not a file
// (Node's "index 0", "native"); `need_ext`: one without an extension is not either (Java's
// "Unknown Source", ProGuard's "SourceFile").
std::optional<std::string_view> moduleOfFile(std::string_view file, bool need_line, bool need_ext) {
  const bool had_line = stripLineNumber(file);
  if (had_line) stripLineNumber(file);  // the column
  if (need_line && !had_line) return std::nullopt;
  const std::size_t slash = file.find_last_of("/\\");
  if (slash != std::string_view::npos) file.remove_prefix(slash + 1);
  file = file.substr(0, file.find_first_of("?#"));  // a browser URL's query or fragment
  const std::size_t dot = file.rfind('.');
  if (dot != std::string_view::npos && dot > 0) {
    file = file.substr(0, dot);
  } else if (need_ext) {
    return std::nullopt;
  }
  return safeName(file);
}

// "java.base/com.acme.Loop$Inner.run" -> "Loop".
std::optional<std::string_view> javaClassName(std::string_view method) {
  const std::size_t dot = method.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string_view cls = method.substr(0, dot);
  const std::size_t start = cls.find_last_of("./");
  if (start != std::string_view::npos) cls.remove_prefix(start + 1);
  return safeName(cls.substr(0, cls.find('$')));
}

std::optional<Frame> parseAt(std::string_view rest) {
  // A bare Node location, which may hold parentheses ("/app/(group)/page.js:1:2").
  if (rest.find(' ') == std::string_view::npos) {
    std::string_view probe = rest;
    if (stripLineNumber(probe)) return Frame{FrameKind::kNode, rest, rest, {}};
  }
  // Java: "pkg.Class.method(File.java:42)", maybe followed by " ~[app.jar:?]".
  const std::size_t paren = rest.find('(');
  if (paren != std::string_view::npos && paren > 0) {
    const std::string_view method = rest.substr(0, paren);
    const std::size_t close = rest.find(')', paren);
    if (method.find(' ') == std::string_view::npos && method.find('.') != std::string_view::npos &&
        close != std::string_view::npos) {
      return Frame{FrameKind::kJava, rest.substr(0, close + 1),
                   rest.substr(paren + 1, close - paren - 1), method};
    }
  }
  // Node: "fn (location)"; the location may itself hold parentheses.
  if (!rest.empty() && rest.back() == ')') {
    int depth = 0;
    for (std::size_t i = rest.size(); i-- > 0;) {
      if (rest[i] == ')') {
        ++depth;
      } else if (rest[i] == '(' && --depth == 0) {
        const std::string_view location = rest.substr(i + 1, rest.size() - i - 2);
        return Frame{FrameKind::kNode, location, location, {}};
      }
    }
    return std::nullopt;
  }
  return Frame{FrameKind::kNode, rest, rest, {}};
}

std::optional<Frame> parseRuby(std::string_view line) {
  if (line.starts_with("from ")) line.remove_prefix(5);
  const std::size_t in = line.find(":in ");
  if (in == std::string_view::npos || in + 4 >= line.size() ||
      (line[in + 4] != '`' && line[in + 4] != '\'')) {
    return std::nullopt;
  }
  std::string_view path = line.substr(0, in);
  if (!stripLineNumber(path)) return std::nullopt;
  return Frame{FrameKind::kRuby, path, path, {}};
}

std::optional<Frame> parseGo(std::string_view line) {
  const std::size_t pc = line.find(" +0x");
  if (pc != std::string_view::npos) {
    const std::string_view hex = line.substr(pc + 4);
    if (hex.empty() || !std::all_of(hex.begin(), hex.end(), isHex)) return std::nullopt;
    line = line.substr(0, pc);
  }
  if (!stripLineNumber(line) || !line.ends_with(".go")) return std::nullopt;
  return Frame{FrameKind::kGo, line, line, {}};
}

std::optional<Frame> parseFrame(std::string_view line) {
  line = trim(line);
  if (line.starts_with("File \"")) {
    line.remove_prefix(6);
    const std::size_t end = line.find("\", line ");
    if (end == std::string_view::npos || end + 8 >= line.size() || !isDigit(line[end + 8])) {
      return std::nullopt;
    }
    const std::string_view path = line.substr(0, end);
    return Frame{FrameKind::kPython, path, path, {}};
  }
  if (line.starts_with("at ")) return parseAt(trim(line.substr(3)));
  if (auto ruby = parseRuby(line)) return ruby;
  return parseGo(line);
}

std::optional<std::string_view> moduleOf(const Frame& frame) {
  switch (frame.kind) {
    case FrameKind::kNode:
      return moduleOfFile(frame.file, /*need_line=*/true, /*need_ext=*/false);
    case FrameKind::kJava:
      if (auto name = moduleOfFile(frame.file, false, /*need_ext=*/true)) return name;
      return javaClassName(frame.java_method);
    case FrameKind::kPython:
    case FrameKind::kRuby:
    case FrameKind::kGo:
      return moduleOfFile(frame.file, false, false);
  }
  return std::nullopt;
}

bool skipped(std::string_view location, const std::vector<std::string>& skip) {
  return std::any_of(skip.begin(), skip.end(), [&](const std::string& s) {
    return !s.empty() && location.find(s) != std::string_view::npos;
  });
}

bool indented(std::string_view line) { return !line.empty() && isBlank(line.front()); }

// The part of `stack` that decides its category: from the first indented line to the end of
// the last one, when every line outside is a message line (not a frame); else all of it.
std::string_view frameText(std::string_view stack) {
  std::size_t begin = 0;
  for (;;) {
    const std::size_t eol = stack.find('\n', begin);
    const std::string_view line = stack.substr(begin, eol - begin);
    if (indented(line)) break;
    if (eol == std::string_view::npos || parseFrame(line)) return stack;
    begin = eol + 1;
  }
  std::size_t end = stack.size();
  for (;;) {
    const std::size_t bol = end == 0 ? std::string_view::npos : stack.rfind('\n', end - 1);
    const std::size_t start = bol == std::string_view::npos ? 0 : bol + 1;
    const std::string_view line = stack.substr(start, end - start);
    if (indented(line)) break;
    if (parseFrame(line)) return stack;
    end = start == 0 ? 0 : start - 1;  // before the '\n'; cannot pass `begin`, it is indented
  }
  return stack.substr(begin, end - begin);
}

}  // namespace

std::optional<std::string_view> categoryFromStack(std::string_view stack,
                                                  const std::vector<std::string>& skip) {
  std::optional<std::string_view> python_last;
  std::size_t begin = 0;
  while (begin <= stack.size()) {
    const std::size_t eol = stack.find('\n', begin);
    const std::string_view line = stack.substr(begin, eol - begin);
    begin = eol == std::string_view::npos ? stack.size() + 1 : eol + 1;
    const std::optional<Frame> frame = parseFrame(line);
    if (!frame || skipped(frame->location, skip)) continue;
    const std::optional<std::string_view> name = moduleOf(*frame);
    if (!name) continue;
    if (frame->kind != FrameKind::kPython) return name;
    python_last = name;
  }
  return python_last;
}

namespace {

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

struct Entry {
  std::uint64_t hash;
  std::uint64_t length;
  std::uint32_t prev;  // towards the most recently used; kNone at the head
  std::uint32_t next;  // towards the least recently used; kNone at the tail
  std::uint8_t name_len;
  bool has_name;
  char name[kMaxStackCategoryBytes];
};
static_assert(sizeof(Entry) == 128, "the memory bound in stack_category.hpp assumes 128");

}  // namespace

struct StackCategory::Impl {
  std::vector<std::string> skip;
  std::size_t capacity = 0;
  std::vector<Entry> entries;        // reserved to capacity: never reallocates
  std::vector<std::uint32_t> slots;  // open addressing, linear probing; entry index or kNone
  std::size_t mask = 0;
  std::uint32_t head = kNone;
  std::uint32_t tail = kNone;
  Stats stats{};
  char uncached[kMaxStackCategoryBytes];  // the result when capacity is 0

  std::size_t home(std::uint64_t hash) const { return static_cast<std::size_t>(hash) & mask; }

  std::size_t find(std::uint64_t hash, std::uint64_t length) const {
    for (std::size_t i = home(hash);; i = (i + 1) & mask) {
      if (slots[i] == kNone) return i;
      const Entry& e = entries[slots[i]];
      if (e.hash == hash && e.length == length) return i;
    }
  }

  std::size_t slotOf(std::uint32_t index) const {
    std::size_t i = home(entries[index].hash);
    while (slots[i] != index) i = (i + 1) & mask;
    return i;
  }

  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  void eraseSlot(std::size_t hole) {
    for (std::size_t j = (hole + 1) & mask; slots[j] != kNone; j = (j + 1) & mask) {
      const std::size_t k = home(entries[slots[j]].hash);
      // The entry at j may move to the hole unless its home lies cyclically in (hole, j].
      const bool stays = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
      if (!stays) {
        slots[hole] = slots[j];
        hole = j;
      }
    }
    slots[hole] = kNone;
  }

  void unlink(std::uint32_t index) {
    Entry& e = entries[index];
    (e.prev == kNone ? head : entries[e.prev].next) = e.next;
    (e.next == kNone ? tail : entries[e.next].prev) = e.prev;
  }

  void pushFront(std::uint32_t index) {
    Entry& e = entries[index];
    e.prev = kNone;
    e.next = head;
    (head == kNone ? tail : entries[head].prev) = index;
    head = index;
  }

  static std::optional<std::string_view> view(const Entry& e) {
    if (!e.has_name) return std::nullopt;
    return std::string_view(e.name, e.name_len);
  }
};

StackCategory::StackCategory(StackCategoryOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.skip = std::move(options.skip);
  s.capacity = options.cache_size;
  assert(s.capacity < (std::size_t{1} << 30) && "cache_size is checked by the config loader");
  if (s.capacity > 0) {
    std::size_t slots = 2;
    while (slots < 2 * s.capacity) slots *= 2;
    s.slots.assign(slots, kNone);
    s.mask = slots - 1;
    s.entries.reserve(s.capacity);
  }
}

StackCategory::~StackCategory() = default;

std::optional<std::string_view> StackCategory::categoryOf(std::string_view stack) {
  Impl& s = *impl_;
  if (s.capacity == 0) {
    ++s.stats.misses;
    const std::optional<std::string_view> name = categoryFromStack(stack, s.skip);
    if (!name) return std::nullopt;
    std::memcpy(s.uncached, name->data(), name->size());
    return std::string_view(s.uncached, name->size());
  }

  const std::string_view key = frameText(stack);
  const std::uint64_t hash = XXH3_64bits(key.data(), key.size());
  const std::size_t slot = s.find(hash, key.size());
  if (s.slots[slot] != kNone) {
    ++s.stats.hits;
    const std::uint32_t index = s.slots[slot];
    if (index != s.head) {
      s.unlink(index);
      s.pushFront(index);
    }
    return Impl::view(s.entries[index]);
  }

  ++s.stats.misses;
  const std::optional<std::string_view> name = categoryFromStack(stack, s.skip);
  std::uint32_t index;
  if (s.entries.size() < s.capacity) {
    index = static_cast<std::uint32_t>(s.entries.size());
    s.entries.emplace_back();
  } else {
    index = s.tail;
    s.eraseSlot(s.slotOf(index));
    s.unlink(index);
    ++s.stats.evictions;
  }
  Entry& e = s.entries[index];
  e.hash = hash;
  e.length = key.size();
  e.has_name = name.has_value();
  e.name_len = name ? static_cast<std::uint8_t>(name->size()) : 0;
  if (name) std::memcpy(e.name, name->data(), name->size());
  // The erase may have shifted slots: probe again for a free one.
  s.slots[s.find(hash, key.size())] = index;
  s.pushFront(index);
  return Impl::view(e);
}

StackCategory::Stats StackCategory::stats() const {
  Stats out = impl_->stats;
  out.size = impl_->entries.size();
  return out;
}

}  // namespace sqtail::parse
