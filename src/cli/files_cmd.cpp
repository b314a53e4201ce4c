#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

#include <fmt/core.h>

#include "cli/command.hpp"
#include "cli/table.hpp"
#include "sys/sys.hpp"

namespace sqtail::cli {

namespace {

// Counting the lines behind a file's offset reads the file; this bounds what one file costs.
constexpr std::int64_t kMaxCountBytes = 64ll << 20;

struct Row {
  std::string path, source, state;
  std::int64_t size = 0, offset = 0, lag = 0, lines = 0, rejects = 0, truncations = 0;
  std::optional<std::int64_t> lag_lines;  // unknown when the file cannot be read
  bool lag_lines_capped = false;          // more than kMaxCountBytes were pending
  std::optional<std::int64_t> last_event;
};

struct Identity {
  std::uint64_t dev, inode;
  auto operator<=>(const Identity&) const = default;
};

// Newlines in [from, to) of an open file, reading at most kMaxCountBytes.
void countLines(int fd, std::int64_t from, std::int64_t to, Row& row) {
  const std::int64_t end = std::min(to, from + kMaxCountBytes);
  row.lag_lines_capped = end < to;
  std::vector<char> buf(1 << 20);
  std::int64_t lines = 0;
  for (std::int64_t at = from; at < end;) {
    const auto want = static_cast<std::size_t>(std::min<std::int64_t>(end - at, std::ssize(buf)));
    auto got = sys::preadFull(fd, buf.data(), want, at);
    if (!got) return;  // unreadable now: leave the count unknown rather than guess
    if (*got == 0) break;
    lines += std::count(buf.data(), buf.data() + *got, '\n');
    at += static_cast<std::int64_t>(*got);
  }
  row.lag_lines = lines;
}

// A rotated file lives on under another name, normally in the same directory (that is where
// sqtail looks for it too). One scan per directory, kept for the other files in it.
class RotatedFinder {
 public:
  std::optional<std::string> find(const std::string& old_path, Identity id) {
    const std::string dir = std::filesystem::path(old_path).parent_path().string();
    auto [it, added] = dirs_.try_emplace(dir);
    if (added) {
      // error_code forms throughout: a directory that vanishes mid-scan ends the scan.
      std::error_code ec;
      for (std::filesystem::directory_iterator d(dir, ec), end; !ec && d != end; d.increment(ec)) {
        if (auto st = sys::lstat(d->path().string()); st && S_ISREG(st->st_mode)) {
          it->second.emplace(Identity{st->st_dev, st->st_ino}, d->path().string());
        }
      }
    }
    auto found = it->second.find(id);
    if (found == it->second.end()) return std::nullopt;
    return found->second;
  }

 private:
  std::map<std::string, std::map<Identity, std::string>> dirs_;
};

// Opens `path` if it is still the tracked file; the identity is checked on the open
// descriptor, so a rename between the check and the read cannot swap the file.
std::optional<std::pair<sys::Fd, std::int64_t>> openTracked(const std::string& path, Identity id) {
  auto fd = sys::openRead(path);
  if (!fd) return std::nullopt;
  auto st = sys::fstat(fd->get());
  if (!st || st->st_dev != id.dev || st->st_ino != id.inode) return std::nullopt;
  return std::pair{std::move(*fd), static_cast<std::int64_t>(st->st_size)};
}

// The stored state says what sqtail last committed; the file system says what changed
// since (sqtail may be stopped, or not have looked yet). Lag is measured against the file
// as it is now, wherever it can still be read.
void measure(Row& r, Identity id, RotatedFinder& finder) {
  std::optional<std::pair<sys::Fd, std::int64_t>> file;
  if (r.state == "active") {
    file = openTracked(r.path, id);
    if (!file) {
      auto now = sys::stat(r.path);
      if (!now) {
        r.state = "deleted";
      } else if (auto moved = finder.find(r.path, id)) {
        r.state = "rotated";
        file = openTracked(*moved, id);
      } else {
        // The path names another file and ours is nowhere near: sqtail will call it gone.
        r.state = "gone";
      }
    }
  } else if (r.state == "rotated") {
    file = openTracked(r.path, id);
    if (!file) {
      if (auto moved = finder.find(r.path, id)) file = openTracked(*moved, id);
    }
  }
  if (!file) {
    // Deleted, gone, or unreadable: the size at the last commit is all there is.
    r.lag = std::max<std::int64_t>(0, r.size - r.offset);
    return;
  }
  auto& [fd, size] = *file;
  r.size = size;
  if (size < r.offset) {
    // Shorter than what was committed: copytruncate. sqtail starts it again from 0.
    r.state = "truncated";
    r.lag = size;
    countLines(fd.get(), 0, size, r);
  } else {
    r.lag = size - r.offset;
    countLines(fd.get(), r.offset, size, r);
  }
}

int cmdFiles(const std::string& db, Format format) {
  auto conn = openReadOnly(db);
  if (!conn) return 1;
  std::vector<Row> rows;
  RotatedFinder finder;
  try {
    SQLite::Statement st(*conn,
                         "SELECT path, source, state, size, offset, lines, rejects, truncations, "
                         "last_event_ts, dev, inode FROM files");
    while (st.executeStep()) {
      Row r;
      r.path = st.getColumn(0).getString();
      r.source = st.getColumn(1).getString();
      r.state = st.getColumn(2).getString();
      r.size = st.getColumn(3).getInt64();
      r.offset = st.getColumn(4).getInt64();
      r.lines = st.getColumn(5).getInt64();
      r.rejects = st.getColumn(6).getInt64();
      r.truncations = st.getColumn(7).getInt64();
      if (!st.getColumn(8).isNull()) r.last_event = st.getColumn(8).getInt64();
      const Identity id{static_cast<std::uint64_t>(st.getColumn(9).getInt64()),
                        static_cast<std::uint64_t>(st.getColumn(10).getInt64())};
      measure(r, id, finder);
      rows.push_back(std::move(r));
    }
  } catch (const SQLite::Exception& e) {
    fmt::print(stderr, "sqtail: {}\n", e.what());
    return 1;
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.lag != b.lag ? a.lag > b.lag : a.path < b.path;
  });
  Table t;
  t.headers = {"path",      "source", "state",   "size",        "offset",    "lag_bytes",
               "lag_lines", "lines",  "rejects", "truncations", "last_event"};
  t.numeric = {false, false, false, true, true, true, true, true, true, true, false};
  const bool pretty = format == Format::kTable;
  auto num = [&](std::int64_t v) { return pretty ? thousands(v) : std::to_string(v); };
  for (const auto& r : rows) {
    const std::string lag_lines =
        !r.lag_lines ? "" : (r.lag_lines_capped ? ">" : "") + num(*r.lag_lines);
    t.addRow(
        {r.path, r.source, r.state, num(r.size), num(r.offset), num(r.lag), lag_lines, num(r.lines),
         num(r.rejects), num(r.truncations), r.last_event ? isoMillis(*r.last_event) : ""},
        {false, false, false, false, false, false, !r.lag_lines, false, false, false,
         !r.last_event});
  }
  std::cout << render(t, format);
  return 0;
}

}  // namespace

void addFilesCommand(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("files", "Tracked files: state, offset, size, lag");
  struct Opts {
    std::string db = "sqtail.db", format = "table";
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--db", o->db, "SQLite database file");
  cmd->add_option("--format", o->format, "table|json|csv|tsv");
  cmd->callback([&action, o] {
    action = [o] { return withFormat(o->format, [&](Format f) { return cmdFiles(o->db, f); }); };
  });
}

}  // namespace sqtail::cli
