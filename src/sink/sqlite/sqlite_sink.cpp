#include "sink/sqlite/sqlite_sink.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/core.h>

#include "sink/sqlite/fault_vfs.hpp"
#include "sink/sqlite/schema.hpp"
#include "sink/sqlite/usage_sql.hpp"

namespace sqtail::sink {

namespace {

DbError dbError(sqlite3* db, int rc, std::string_view what) {
  const char* msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return DbError{rc, fmt::format("{}: {}", what, msg)};
}

std::int64_t nowMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

tl::expected<void, DbError> exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return {};
  DbError e{sqlite3_extended_errcode(db), err != nullptr ? err : sqlite3_errstr(rc)};
  sqlite3_free(err);
  return tl::unexpected(e);
}

// A statement prepared once for the life of the connection.
class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }

  tl::expected<void, DbError> prepare(sqlite3* db, std::string_view sql) {
    int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) return tl::unexpected(dbError(db, rc, "prepare"));
    return {};
  }
  void bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void bindNull(int i) { sqlite3_bind_null(stmt_, i); }
  void bindDouble(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  // The batch outlives the step, so SQLite need not copy.
  void bindText(int i, std::string_view s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  }
  void bindBlob(int i, std::string_view s) {
    sqlite3_bind_blob(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  }
  int step() {
    int rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    return rc;
  }
  sqlite3_stmt* get() { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// The batch's minute rollups summed per hour: one stats_hour upsert per (hour, source,
// category, level) instead of one per minute row. Sorted into the table's key order, so the
// upserts walk its b-tree forward. `row` names the group (any of its minute rows).
struct HourRollup {
  std::int64_t hour;
  const RollupRow* row;
  std::int64_t lines, bytes;
};

std::vector<HourRollup> hourRollups(const std::vector<RollupRow>& minutes) {
  // Floor division, as the migration's backfill: minutes before 1970 too.
  auto hour_of = [](std::int64_t minute) { return minute >= 0 ? minute / 60 : (minute - 59) / 60; };
  std::vector<HourRollup> hours;
  hours.reserve(minutes.size());
  for (const auto& m : minutes) hours.push_back({hour_of(m.minute), &m, m.lines, m.bytes});
  auto key = [](const HourRollup& h) {
    return std::tie(h.hour, h.row->source, h.row->category, h.row->level);
  };
  std::sort(hours.begin(), hours.end(),
            [&](const HourRollup& a, const HourRollup& b) { return key(a) < key(b); });
  std::size_t out = 0;
  for (std::size_t i = 0; i < hours.size(); ++i) {
    if (out > 0 && key(hours[out - 1]) == key(hours[i])) {
      hours[out - 1].lines += hours[i].lines;
      hours[out - 1].bytes += hours[i].bytes;
    } else {
      hours[out++] = hours[i];
    }
  }
  hours.resize(out);
  return hours;
}

}  // namespace

bool DbError::transient() const {
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return true;
    default:
      return false;
  }
}

struct SqliteSink::Statements {
  Stmt begin, commit, rollback, event, reject, file, rollup, rollup_hour, usage, output;
};

tl::expected<void, DbError> migrate(sqlite3* db) {
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
  int version = 0;
  if (st != nullptr && sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  if (version > kSchemaVersion) {
    return tl::unexpected(DbError{
        0, fmt::format("the database has schema version {}, newer than this sqtail knows ({}); "
                       "use a newer sqtail",
                       version, kSchemaVersion)});
  }
  for (int v = version; v < kSchemaVersion; ++v) {
    std::string sql = fmt::format("BEGIN IMMEDIATE;\n{}\nPRAGMA user_version = {};\nCOMMIT;",
                                  kMigrations[static_cast<std::size_t>(v)], v + 1);
    if (auto r = exec(db, sql.c_str()); !r) {
      exec(db, "ROLLBACK");
      return tl::unexpected(DbError{
          r.error().code,
          "migrating the schema to version " + std::to_string(v + 1) + ": " + r.error().message});
    }
  }
  return {};
}

tl::expected<std::unique_ptr<SqliteSink>, DbError> SqliteSink::open(
    const std::filesystem::path& path) {
  // Create the file ourselves so it is 0600 whatever the umask allows (SQLite gives the
  // -wal and -shm files the same mode).
  if (int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600); fd >= 0) {
    ::close(fd);
  }
  registerFaultVfs();  // only when SQTAIL_FAULTS names sqlite_ ops (tests)
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    DbError e = dbError(db, rc, "open " + path.string());
    sqlite3_close(db);
    return tl::unexpected(e);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 5000);
  auto fail = [&](DbError e) -> tl::expected<std::unique_ptr<SqliteSink>, DbError> {
    sqlite3_close(db);
    return tl::unexpected(std::move(e));
  };
  // page_size and auto_vacuum only take effect before the first table exists.
  for (const char* pragma :
       {"PRAGMA page_size = 16384", "PRAGMA auto_vacuum = INCREMENTAL", "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL", "PRAGMA temp_store = MEMORY"}) {
    if (auto r = exec(db, pragma); !r) return fail(r.error());
  }
  if (auto r = migrate(db); !r) return fail(r.error());

  auto st = std::make_unique<Statements>();
  struct {
    Stmt* stmt;
    std::string_view sql;
  } const prepared[] = {
      {&st->begin, "BEGIN IMMEDIATE"},
      {&st->commit, "COMMIT"},
      {&st->rollback, "ROLLBACK"},
      {&st->event,
       "INSERT INTO events(file_id, offset, line_no, ts, level, category, message, raw) "
       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
      {&st->reject,
       "INSERT INTO rejects(file_id, offset, line_no, reason, length, snippet, seen_at) "
       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
      {&st->file,
       "INSERT INTO files(id, source, path, dev, inode, fingerprint, fingerprint_len, offset, "
       "line_no, size, state, lines, rejects, truncations, first_seen, last_seen, last_event_ts, "
       "check_hash, check_len, birth) "
       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15, ?16, ?17, "
       "?18, ?19) "
       "ON CONFLICT(id) DO UPDATE SET source = excluded.source, path = excluded.path, "
       "dev = excluded.dev, "
       "inode = excluded.inode, birth = excluded.birth, fingerprint = excluded.fingerprint, "
       "fingerprint_len = excluded.fingerprint_len, check_hash = excluded.check_hash, "
       "check_len = excluded.check_len, offset = excluded.offset, "
       "line_no = excluded.line_no, size = excluded.size, state = excluded.state, "
       "lines = lines + excluded.lines, rejects = rejects + excluded.rejects, "
       "truncations = truncations + excluded.truncations, last_seen = excluded.last_seen, "
       "last_event_ts = coalesce(max(last_event_ts, excluded.last_event_ts), "
       "last_event_ts, excluded.last_event_ts)"},
      {&st->usage, kUsageUpsert},
      {&st->output,
       "INSERT INTO output_files(sink, path, length, updated) VALUES(?1, ?2, ?3, ?4) "
       "ON CONFLICT DO UPDATE SET length = excluded.length, updated = excluded.updated"},
      {&st->rollup,
       "INSERT INTO stats_minute(minute, source, category, level, lines, bytes) "
       "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO UPDATE SET "
       "lines = lines + excluded.lines, bytes = bytes + excluded.bytes"},
      {&st->rollup_hour,
       "INSERT INTO stats_hour(hour, source, category, level, lines, bytes) "
       "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO UPDATE SET "
       "lines = lines + excluded.lines, bytes = bytes + excluded.bytes"},
  };
  for (const auto& p : prepared) {
    if (auto r = p.stmt->prepare(db, p.sql); !r) return fail(r.error());
  }
  return std::unique_ptr<SqliteSink>(new SqliteSink(db, std::move(st)));
}

SqliteSink::SqliteSink(sqlite3* db, std::unique_ptr<Statements> stmts)
    : db_(db), stmts_(std::move(stmts)) {}

SqliteSink::~SqliteSink() {
  stmts_.reset();  // statements before the connection
  sqlite3_close(db_);
}

tl::expected<std::vector<StoredFile>, DbError> SqliteSink::loadFiles() {
  std::vector<StoredFile> out;
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db_,
                              "SELECT id, source, path, dev, inode, fingerprint, fingerprint_len, "
                              "check_hash, check_len, offset, line_no, size, state, birth "
                              "FROM files ORDER BY id",
                              -1, &st, nullptr);
  if (rc != SQLITE_OK) return tl::unexpected(dbError(db_, rc, "loading checkpoints"));
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    auto text = [&](int c) {
      const auto* p = sqlite3_column_text(st, c);
      return p != nullptr ? std::string(reinterpret_cast<const char*>(p)) : std::string();
    };
    out.push_back(StoredFile{sqlite3_column_int64(st, 0), text(1), text(2),
                             static_cast<std::uint64_t>(sqlite3_column_int64(st, 3)),
                             static_cast<std::uint64_t>(sqlite3_column_int64(st, 4)),
                             static_cast<std::uint64_t>(sqlite3_column_int64(st, 13)),
                             static_cast<std::uint64_t>(sqlite3_column_int64(st, 5)),
                             static_cast<std::uint32_t>(sqlite3_column_int64(st, 6)),
                             static_cast<std::uint64_t>(sqlite3_column_int64(st, 7)),
                             static_cast<std::uint32_t>(sqlite3_column_int64(st, 8)),
                             sqlite3_column_int64(st, 9), sqlite3_column_int64(st, 10),
                             sqlite3_column_int64(st, 11), text(12)});
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return tl::unexpected(dbError(db_, rc, "loading checkpoints"));
  return out;
}

tl::expected<std::vector<OutputLength>, DbError> SqliteSink::loadOutputLengths() {
  std::vector<OutputLength> out;
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db_, "SELECT sink, path, length FROM output_files", -1, &st, nullptr);
  if (rc != SQLITE_OK) return tl::unexpected(dbError(db_, rc, "loading output lengths"));
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    auto text = [&](int c) {
      const auto* p = sqlite3_column_text(st, c);
      return p != nullptr ? std::string(reinterpret_cast<const char*>(p)) : std::string();
    };
    out.push_back(OutputLength{text(0), text(1), sqlite3_column_int64(st, 2)});
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return tl::unexpected(dbError(db_, rc, "loading output lengths"));
  return out;
}

tl::expected<void, DbError> SqliteSink::upsertOutputs(std::span<const OutputLength> outputs) {
  auto& s = *stmts_;
  const std::int64_t now = nowMillis();
  for (const auto& o : outputs) {
    s.output.bindText(1, o.sink);
    s.output.bindText(2, o.path);
    s.output.bind(3, o.length);
    s.output.bind(4, now);
    if (int rc = s.output.step(); rc != SQLITE_DONE) {
      return tl::unexpected(dbError(db_, sqlite3_extended_errcode(db_), "update output_files"));
    }
  }
  return {};
}

tl::expected<void, DbError> SqliteSink::saveOutputLengths(std::span<const OutputLength> lengths) {
  if (lengths.empty()) return {};
  auto& s = *stmts_;
  if (int rc = s.begin.step(); rc != SQLITE_DONE) {
    return tl::unexpected(dbError(db_, sqlite3_extended_errcode(db_), "begin"));
  }
  auto r = upsertOutputs(lengths);
  if (r) {
    if (int rc = s.commit.step(); rc != SQLITE_DONE) {
      r = tl::unexpected(dbError(db_, sqlite3_extended_errcode(db_), "commit"));
    }
  }
  if (!r && !sqlite3_get_autocommit(db_)) s.rollback.step();
  return r;
}

tl::expected<void, DbError> SqliteSink::commit(const Batch& batch,
                                               std::span<const OutputLength> outputs) {
  auto r = commitOnce(batch, outputs);
  if (!r && !sqlite3_get_autocommit(db_)) stmts_->rollback.step();
  return r;
}

tl::expected<void, DbError> SqliteSink::commitOnce(const Batch& batch,
                                                   std::span<const OutputLength> outputs) {
  auto& s = *stmts_;
  auto check = [&](int rc, std::string_view what) -> tl::expected<void, DbError> {
    if (rc == SQLITE_DONE || rc == SQLITE_OK) return {};
    return tl::unexpected(dbError(db_, sqlite3_extended_errcode(db_), what));
  };
  if (auto r = check(s.begin.step(), "begin"); !r) return r;

  auto text = [&](Stmt& st, int i, Slice sl) {
    if (sl.null()) {
      st.bindNull(i);
    } else {
      st.bindText(i, batch.view(sl));
    }
  };
  for (const auto& e : batch.events) {
    if ((e.sinks & kToSqlite) == 0) continue;
    s.event.bind(1, e.file_id);
    s.event.bind(2, e.offset);
    s.event.bind(3, e.line_no);
    if (e.has_ts) {
      s.event.bind(4, e.ts_ms);
    } else {
      s.event.bindNull(4);
    }
    text(s.event, 5, e.level);
    text(s.event, 6, e.category);
    text(s.event, 7, e.message);
    text(s.event, 8, e.raw);
    if (auto r = check(s.event.step(), "insert event"); !r) return r;
  }
  const std::int64_t now = nowMillis();
  for (const auto& j : batch.rejects) {
    s.reject.bind(1, j.file_id);
    s.reject.bind(2, j.offset);
    s.reject.bind(3, j.line_no);
    s.reject.bindText(4, j.reason);
    s.reject.bind(5, j.length);
    s.reject.bindBlob(6, batch.view(j.snippet));
    s.reject.bind(7, now);
    if (auto r = check(s.reject.step(), "insert reject"); !r) return r;
  }
  for (const auto& r : batch.rollups) {
    s.rollup.bind(1, r.minute);
    s.rollup.bindText(2, r.source);
    s.rollup.bindText(3, r.category);
    s.rollup.bindText(4, r.level);
    s.rollup.bind(5, r.lines);
    s.rollup.bind(6, r.bytes);
    if (auto res = check(s.rollup.step(), "update stats_minute"); !res) return res;
  }
  for (const auto& h : hourRollups(batch.rollups)) {
    s.rollup_hour.bind(1, h.hour);
    s.rollup_hour.bindText(2, h.row->source);
    s.rollup_hour.bindText(3, h.row->category);
    s.rollup_hour.bindText(4, h.row->level);
    s.rollup_hour.bind(5, h.lines);
    s.rollup_hour.bind(6, h.bytes);
    if (auto res = check(s.rollup_hour.step(), "update stats_hour"); !res) return res;
  }
  for (const auto& f : batch.files) {
    s.file.bind(1, f.file_id);
    s.file.bindText(2, f.source);
    s.file.bindText(3, f.path);
    s.file.bind(4, static_cast<std::int64_t>(f.dev));
    s.file.bind(5, static_cast<std::int64_t>(f.inode));
    s.file.bind(6, static_cast<std::int64_t>(f.fingerprint));
    s.file.bind(7, f.fingerprint_len);
    s.file.bind(8, f.offset);
    s.file.bind(9, f.line_no);
    s.file.bind(10, f.size);
    s.file.bindText(11, f.state);
    s.file.bind(12, f.lines_added);
    s.file.bind(13, f.rejects_added);
    s.file.bind(14, f.truncations_added);
    s.file.bind(15, now);
    if (f.last_event_ts != 0) {
      s.file.bind(16, f.last_event_ts);
    } else {
      s.file.bindNull(16);
    }
    s.file.bind(17, static_cast<std::int64_t>(f.check_hash));
    s.file.bind(18, f.check_len);
    s.file.bind(19, static_cast<std::int64_t>(f.birth));
    if (auto r = check(s.file.step(), "update files"); !r) return r;
  }
  // After the files: a tie between two copies of a usage entry is broken by their paths.
  for (const auto& u : batch.usage) {
    s.usage.bindText(1, batch.view(u.dedup_key));
    s.usage.bind(2, u.file_id);
    s.usage.bind(3, u.offset);
    s.usage.bind(4, u.ts_ms);
    s.usage.bindText(5, batch.view(u.project));
    s.usage.bindText(6, batch.view(u.session));
    s.usage.bindText(7, batch.view(u.model));
    s.usage.bind(8, u.input);
    s.usage.bind(9, u.output);
    s.usage.bind(10, u.cache_creation_5m);
    s.usage.bind(11, u.cache_creation_1h);
    s.usage.bind(12, u.cache_read);
    if (u.cost_record) {
      s.usage.bindDouble(13, *u.cost_record);
    } else {
      s.usage.bindNull(13);
    }
    s.usage.bindDouble(14, u.cost_calc);
    s.usage.bind(15, u.sidechain ? 1 : 0);
    s.usage.bind(16, u.total);
    if (auto r = check(s.usage.step(), "upsert usage"); !r) return r;
  }
  if (auto r = upsertOutputs(outputs); !r) return r;
  return check(s.commit.step(), "commit");
}

}  // namespace sqtail::sink
