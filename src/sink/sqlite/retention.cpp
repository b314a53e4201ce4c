#include "sink/sqlite/retention.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <climits>

#include <fmt/core.h>

#include "sink/sqlite/sqlite_sink.hpp"

namespace sqtail::sink {

namespace {

constexpr std::int64_t kHourMs = 3'600'000;

// One statement for one step: prepared, stepped and finalized on the spot. A step runs a
// handful of them, each over a few thousand rows, so preparing is noise.
class Query {
 public:
  Query(sqlite3* db, const char* sql) {
    failed_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK;
  }
  ~Query() { sqlite3_finalize(stmt_); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int i, std::int64_t v) {
    if (!failed_) sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  // One step: true when it produced a row; failed() tells an error from the end.
  bool row() {
    if (failed_) return false;
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    failed_ = rc != SQLITE_DONE;
    return false;
  }
  // Runs a statement that returns no rows we need.
  bool run() {
    while (row()) {
    }
    return !failed_;
  }
  std::optional<std::int64_t> column(int c) const {
    if (sqlite3_column_type(stmt_, c) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_int64(stmt_, c);
  }
  bool failed() const { return failed_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  bool failed_ = false;
};

// The smallest and largest events.id, each an O(log n) look-up (one min() or max() per
// SELECT is what SQLite answers from the b-tree edge).
std::optional<std::pair<std::int64_t, std::int64_t>> idRange(sqlite3* db, const char* table,
                                                             bool& failed) {
  const std::string sql =
      fmt::format("SELECT (SELECT min(id) FROM {0}), (SELECT max(id) FROM {0})", table);
  Query q(db, sql.c_str());
  if (!q.row()) {
    failed = q.failed();
    return std::nullopt;
  }
  auto lo = q.column(0), hi = q.column(1);
  if (!lo || !hi) return std::nullopt;
  return std::pair{*lo, *hi};
}

}  // namespace

// Defined here rather than in sqlite_sink.cpp so that the sink's commit path does not depend
// on retention; it only lends its connection between batches.
bool SqliteSink::runRetention(Retention& retention, std::int64_t now_ms) {
  return retention.step(db_, now_ms);
}

Retention::Retention(const config::Config& config)
    : retention_(config.retention),
      max_events_(config.max_events),
      rollup_retention_(config.rollup_retention) {}

bool Retention::enabled() const {
  return retention_.has_value() || max_events_.has_value() || rollup_retention_.has_value();
}

// How long rows may outlive their retention when no new rows come in: a tenth of it,
// between 1 s and 1 min. Such a pass reads only the chunks whose remembered oldest time
// has expired, and the unfinished last chunk.
std::int64_t Retention::passInterval() const {
  return std::clamp<std::int64_t>(retention_.value_or(std::chrono::hours(1)).count() / 10, 1000,
                                  60'000);
}

void Retention::warn(sqlite3* db, std::int64_t now_ms, const char* what) {
  if (now_ms < next_warning_ms_) return;
  next_warning_ms_ = now_ms + 60'000;
  fmt::print(stderr, "sqtail: warning: retention: {}: {} (will retry)\n", what, sqlite3_errmsg(db));
}

bool Retention::step(sqlite3* db, std::int64_t now_ms) {
  if (!enabled()) return false;
  // Pages freed by the last delete go back first, so the file never holds more than one
  // step's worth of free pages; then the deletes, the cap on the count before age.
  Did did = Did::kNothing;
  const char* what = "";
  if (vacuum_due_) {
    what = "incremental vacuum";
    did = vacuum(db);
  }
  if (did == Did::kNothing) {
    what = "deleting events over max_events";
    did = trimToMaxEvents(db);
  }
  if (did == Did::kNothing) {
    what = "deleting old events";
    did = expireEvents(db, now_ms);
  }
  if (did == Did::kNothing) {
    what = "deleting old rejects";
    did = expireRejects(db, now_ms);
  }
  if (did == Did::kNothing) {
    what = "deleting old rollups";
    did = expireRollups(db, now_ms);
  }
  if (did == Did::kError) {
    warn(db, now_ms, what);
    return false;
  }
  return did == Did::kWork;
}

Retention::Did Retention::trimToMaxEvents(sqlite3* db) {
  if (!max_events_) return Did::kNothing;
  bool failed = false;
  const auto range = idRange(db, "events", failed);
  if (failed) return Did::kError;
  if (!range) return Did::kNothing;
  // Ids are dense and grow in commit order, so the newest max_events events are the ids
  // from here up. Where age retention already made holes this keeps fewer: still a cap.
  const auto max_events = static_cast<std::int64_t>(
      std::min<std::uint64_t>(*max_events_, static_cast<std::uint64_t>(INT64_MAX)));
  const std::int64_t keep_from = range->second - max_events + 1;
  if (range->first >= keep_from) return Did::kNothing;
  Query del(db, "DELETE FROM events WHERE id < ?1");
  if (!del.bind(1, std::min(keep_from, range->first + kStepRows)).run()) return Did::kError;
  vacuum_due_ = true;
  return Did::kWork;
}

Retention::Did Retention::expireEvents(sqlite3* db, std::int64_t now_ms) {
  if (!retention_) return Did::kNothing;
  const std::int64_t cutoff = now_ms - retention_->count();
  // A pass that ends may find the next one due at once (rows came in meanwhile): the
  // second round starts it, so that a caller told "nothing" really has nothing left.
  for (int round = 0;; ++round) {
    if (!pass_running_) {
      if (round > 1) return Did::kNothing;
      bool failed = false;
      const auto range = idRange(db, "events", failed);
      if (failed) return Did::kError;
      if (!range) {
        oldest_left_.clear();
        last_max_id_ = 0;
        return Did::kNothing;
      }
      // A pass starts when rows came in since the last one (they may be old: a backfill),
      // or when time has moved on enough for remembered chunks to expire. New rows cost
      // one read each, plus the last, unfinished chunk: a few milliseconds per commit.
      if (range->second == last_max_id_ && now_ms < next_pass_ms_) return Did::kNothing;
      // An emptied table hands out low ids again: what was remembered about them is void.
      if (range->second < last_max_id_) oldest_left_.clear();
      last_max_id_ = range->second;
      oldest_left_.erase(oldest_left_.begin(), oldest_left_.lower_bound(range->first / kStepRows));
      pass_running_ = true;
      pass_chunk_ = range->first / kStepRows;
      pass_end_id_ = range->second + 1;
      next_pass_ms_ = now_ms + passInterval();
    }
    // Chunks whose oldest row is still young are skipped without reading the DB.
    while (pass_chunk_ * kStepRows < pass_end_id_) {
      auto it = oldest_left_.find(pass_chunk_);
      if (it == oldest_left_.end() || it->second < cutoff) break;
      ++pass_chunk_;
    }
    if (pass_chunk_ * kStepRows < pass_end_id_) break;
    pass_running_ = false;
  }
  const std::int64_t lo = pass_chunk_ * kStepRows;
  const std::int64_t hi = std::min(lo + kStepRows, pass_end_id_);
  Query look(db,
             "SELECT count(*) FILTER (WHERE ts < ?3), min(ts) FILTER (WHERE ts >= ?3) "
             "FROM events WHERE id >= ?1 AND id < ?2");
  look.bind(1, lo).bind(2, hi).bind(3, cutoff);
  if (!look.row()) return Did::kError;
  const std::int64_t old = look.column(0).value_or(0);
  // Events without a time are never old by age (max_events bounds them): they count as
  // young forever, like INT64_MAX.
  const std::int64_t oldest_left = look.column(1).value_or(INT64_MAX);
  if (old > 0) {
    Query del(db, "DELETE FROM events WHERE id >= ?1 AND id < ?2 AND ts < ?3");
    if (!del.bind(1, lo).bind(2, hi).bind(3, cutoff).run()) return Did::kError;
    vacuum_due_ = true;
  }
  // Only a whole chunk is remembered: the last one still gets new rows.
  if (hi == lo + kStepRows) oldest_left_[pass_chunk_] = oldest_left;
  ++pass_chunk_;
  return Did::kWork;
}

Retention::Did Retention::expireRejects(sqlite3* db, std::int64_t now_ms) {
  if (!retention_) return Did::kNothing;
  const std::int64_t cutoff = now_ms - retention_->count();
  // seen_at is the commit time, which grows with id: the old rejects are a prefix.
  Query first(db, "SELECT id, seen_at FROM rejects ORDER BY id LIMIT 1");
  if (!first.row()) return first.failed() ? Did::kError : Did::kNothing;
  const std::int64_t lo = first.column(0).value_or(0);
  if (first.column(1).value_or(INT64_MAX) >= cutoff) return Did::kNothing;
  Query del(db, "DELETE FROM rejects WHERE id >= ?1 AND id < ?2 AND seen_at < ?3");
  if (!del.bind(1, lo).bind(2, lo + kStepRows).bind(3, cutoff).run()) return Did::kError;
  vacuum_due_ = true;
  return Did::kWork;
}

Retention::Did Retention::expireRollups(sqlite3* db, std::int64_t now_ms) {
  if (!rollup_retention_) return Did::kNothing;
  // Whole hours, in stats_minute as in stats_hour: an hour goes once all of its minutes are
  // old, and until then both tables hold all of it, so that `stats` gives the same numbers
  // from either (it reads hours for the middle of a window and minutes for its edges).
  const std::int64_t cutoff_ms = now_ms - rollup_retention_->count();
  const std::int64_t cutoff_hour =
      cutoff_ms >= 0 ? cutoff_ms / kHourMs : (cutoff_ms - kHourMs + 1) / kHourMs;
  const std::int64_t cutoff_minute = cutoff_hour * 60;
  Query first(db, "SELECT min(minute) FROM stats_minute");
  if (!first.row()) return Did::kError;
  if (const auto oldest = first.column(0); oldest && *oldest < cutoff_minute) {
    // Whole minutes, about kStepRows rows (the primary key starts with minute). A minute
    // with more rows than that goes alone.
    Query bound(db,
                "SELECT minute FROM stats_minute WHERE minute < ?1 ORDER BY minute "
                "LIMIT 1 OFFSET ?2");
    bound.bind(1, cutoff_minute).bind(2, kStepRows);
    std::int64_t upto = cutoff_minute;
    if (bound.row()) {
      upto = std::max(bound.column(0).value_or(cutoff_minute), *oldest + 1);
    } else if (bound.failed()) {
      return Did::kError;
    }
    Query del(db, "DELETE FROM stats_minute WHERE minute < ?1");
    if (!del.bind(1, upto).run()) return Did::kError;
    vacuum_due_ = true;
    return Did::kWork;
  }
  // Then stats_hour, the same way.
  Query first_hour(db, "SELECT min(hour) FROM stats_hour");
  if (!first_hour.row()) return Did::kError;
  const auto oldest_hour = first_hour.column(0);
  if (!oldest_hour || *oldest_hour >= cutoff_hour) return Did::kNothing;
  Query bound(db, "SELECT hour FROM stats_hour WHERE hour < ?1 ORDER BY hour LIMIT 1 OFFSET ?2");
  bound.bind(1, cutoff_hour).bind(2, kStepRows);
  std::int64_t upto = cutoff_hour;
  if (bound.row()) {
    upto = std::max(bound.column(0).value_or(cutoff_hour), *oldest_hour + 1);
  } else if (bound.failed()) {
    return Did::kError;
  }
  Query del(db, "DELETE FROM stats_hour WHERE hour < ?1");
  if (!del.bind(1, upto).run()) return Did::kError;
  vacuum_due_ = true;
  return Did::kWork;
}

Retention::Did Retention::vacuum(sqlite3* db) {
  if (auto_vacuum_ < 0) {
    Query mode(db, "PRAGMA auto_vacuum");
    if (!mode.row()) return Did::kError;
    auto_vacuum_ = static_cast<int>(mode.column(0).value_or(0));
  }
  // Only INCREMENTAL can give pages back in steps; a DB made otherwise keeps its free pages
  // for new rows, which is all a full VACUUM (a long exclusive lock) would improve on.
  if (auto_vacuum_ != 2) {
    vacuum_due_ = false;
    return Did::kNothing;
  }
  Query count(db, "PRAGMA freelist_count");
  if (!count.row()) return Did::kError;
  const std::int64_t free_pages = count.column(0).value_or(0);
  if (free_pages == 0) {
    vacuum_due_ = false;
    return Did::kNothing;
  }
  const std::string sql = fmt::format("PRAGMA incremental_vacuum({})", kVacuumPages);
  Query vac(db, sql.c_str());
  if (!vac.run()) return Did::kError;
  if (free_pages <= kVacuumPages) vacuum_due_ = false;
  return Did::kWork;
}

}  // namespace sqtail::sink
