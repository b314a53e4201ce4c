#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <ctime>
#include <iostream>

#include <fmt/core.h>

#include "cli/command.hpp"
#include "cli/table.hpp"

namespace sqtail::cli {

namespace {

int cmdFiles(const std::string& db, Format format) {
  auto conn = openReadOnly(db);
  if (!conn) return 1;
  struct Row {
    std::string path, source, state;
    std::int64_t size, offset, lag, lines, rejects, truncations;
    std::optional<std::int64_t> last_event;
  };
  std::vector<Row> rows;
  try {
    SQLite::Statement st(*conn,
                         "SELECT path, source, state, size, offset, lines, rejects, truncations, "
                         "last_event_ts, dev, inode FROM files");
    while (st.executeStep()) {
      Row r{st.getColumn(0).getString(), st.getColumn(1).getString(), st.getColumn(2).getString(),
            st.getColumn(3).getInt64(), st.getColumn(4).getInt64(), 0,
            st.getColumn(5).getInt64(), st.getColumn(6).getInt64(), st.getColumn(7).getInt64(),
            std::nullopt};
      if (!st.getColumn(8).isNull()) r.last_event = st.getColumn(8).getInt64();
      // Lag against the file as it is now, when the path still names the same file.
      struct stat now{};
      if (r.state == "active" && ::stat(r.path.c_str(), &now) == 0 &&
          static_cast<std::int64_t>(now.st_ino) == st.getColumn(10).getInt64()) {
        r.size = now.st_size;
      }
      r.lag = std::max<std::int64_t>(0, r.size - r.offset);
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
  t.headers = {"path", "source", "state", "size", "offset", "lag_bytes", "lines", "rejects",
               "truncations", "last_event"};
  t.numeric = {false, false, false, true, true, true, true, true, true, false};
  const bool pretty = format == Format::kTable;
  auto num = [&](std::int64_t v) { return pretty ? thousands(v) : std::to_string(v); };
  for (const auto& r : rows) {
    t.addRow({r.path, r.source, r.state, num(r.size), num(r.offset), num(r.lag), num(r.lines),
              num(r.rejects), num(r.truncations), r.last_event ? isoMillis(*r.last_event) : ""},
             {false, false, false, false, false, false, false, false, false, !r.last_event});
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
    action = [o] {
      auto f = parseFormat(o->format);
      if (!f) {
        fmt::print(stderr, "sqtail: {}\n", f.error());
        return 2;
      }
      return cmdFiles(o->db, *f);
    };
  });
}

}  // namespace sqtail::cli
