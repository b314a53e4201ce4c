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

void printTable(const Table& t, Format f) { std::cout << render(t, f); }

struct Denied {
  std::string what;
};

// Refuses everything but reading: writes, ATTACH, state-changing pragmas, extensions.
int readOnlyAuthorizer(void* ctx, int action, const char* a1, const char* a2, const char*,
                       const char*) {
  auto* denied = static_cast<Denied*>(ctx);
  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    case SQLITE_FUNCTION:
      if (a2 != nullptr && std::string_view(a2) == "load_extension") {
        denied->what = "load_extension()";
        return SQLITE_DENY;
      }
      return SQLITE_OK;
    case SQLITE_PRAGMA: {
      // Read-only without an argument (with one, user_version = 5 and the like set a value).
      static constexpr std::string_view kReadable[] = {
          "database_list",   "user_version",  "page_count",  "page_size",     "freelist_count",
          "compile_options", "function_list", "pragma_list", "schema_version"};
      // Read-only with or without one: the argument names a table, an index or a schema
      // (PRAGMA table_info(events)). Their table-valued forms (pragma_table_info('events'))
      // reach the authorizer as an UPDATE of sqlite_master and stay refused.
      static constexpr std::string_view kNamesAnObject[] = {
          "table_info", "table_xinfo", "table_list",      "index_list",
          "index_info", "index_xinfo", "foreign_key_list"};
      const std::string_view name = a1 != nullptr ? a1 : "";
      const auto listed = [&](const auto& list) {
        return std::find(std::begin(list), std::end(list), name) != std::end(list);
      };
      if ((a2 == nullptr && listed(kReadable)) || listed(kNamesAnObject)) return SQLITE_OK;
      denied->what = fmt::format("PRAGMA {}", name);
      return SQLITE_DENY;
    }
    case SQLITE_ATTACH:
      denied->what = "ATTACH";
      return SQLITE_DENY;
    default:
      denied->what = "writing (INSERT, UPDATE, DELETE, CREATE, DROP, ...)";
      return SQLITE_DENY;
  }
}

int cmdQuery(const std::string& db, const std::string& sql, Format format) {
  auto conn = openReadOnly(db);
  if (!conn) return 1;
  Denied denied;
  sqlite3_set_authorizer(conn->getHandle(), readOnlyAuthorizer, &denied);
  try {
    SQLite::Statement st(*conn, sql);
    Table t;
    const int cols = st.getColumnCount();
    for (int c = 0; c < cols; ++c) {
      t.headers.emplace_back(st.getColumnName(c));
      t.numeric.push_back(false);
    }
    while (st.executeStep()) {
      std::vector<std::string> cells;
      std::vector<bool> nulls;
      for (int c = 0; c < cols; ++c) {
        auto col = st.getColumn(c);
        if (col.isInteger() || col.isFloat()) t.numeric[static_cast<std::size_t>(c)] = true;
        nulls.push_back(col.isNull());
        if (col.isBlob()) {
          cells.push_back(fmt::format("<blob {} bytes>", col.getBytes()));
        } else {
          cells.emplace_back(col.isNull() ? "" : col.getString());
        }
      }
      t.addRow(std::move(cells), std::move(nulls));
    }
    printTable(t, format);
  } catch (const SQLite::Exception& e) {
    if (!denied.what.empty()) {
      fmt::print(stderr, "sqtail: query refused: sqtail query is read-only; {} is not allowed\n",
                 denied.what);
    } else {
      fmt::print(stderr, "sqtail: query failed: {}\n", e.what());
    }
    return 1;
  }
  return 0;
}

}  // namespace

void addQueryCommand(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("query", "Run one read-only SQL query");
  struct Opts {
    std::string db = "sqtail.db", sql, format = "table";
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("sql", o->sql, "The SELECT to run")->required();
  cmd->add_option("--db", o->db, "SQLite database file");
  cmd->add_option("--format", o->format, "table|json|csv|tsv");
  cmd->callback([&action, o] {
    action = [o] {
      return withFormat(o->format, [&](Format f) { return cmdQuery(o->db, o->sql, f); });
    };
  });
}

}  // namespace sqtail::cli
