// Owns retention of the stats DB: deleting old events, rejects and rollups in small steps and
// handing the freed pages back with incremental vacuum. Writer thread only: it runs on the
// writer's connection, between batches, never inside a batch's transaction.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>

#include "config/config.hpp"

struct sqlite3;

namespace sqtail::sink {

class Retention {
 public:
  // Rows deleted per step, at most: a step's write lock lasts milliseconds, not seconds.
  static constexpr std::int64_t kStepRows = 5000;
  // Pages given back per step (16 KiB pages: 8 MiB).
  static constexpr int kVacuumPages = 512;

  explicit Retention(const config::Config& config);

  // True when any retention key is set; otherwise step() never touches the DB.
  bool enabled() const;

  // Does at most one small step (one short transaction). Returns true if it did work, so
  // that a caller with nothing else to do calls it again; false when nothing is due now.
  // `now_ms` is wall-clock epoch ms, the clock of events.ts. Errors skip the step (the next
  // one tries again) with a warning at most once a minute.
  bool step(sqlite3* db, std::int64_t now_ms);

 private:
  enum class Did { kNothing, kWork, kError };

  Did trimToMaxEvents(sqlite3* db);
  Did expireEvents(sqlite3* db, std::int64_t now_ms);
  Did expireRejects(sqlite3* db, std::int64_t now_ms);
  Did expireRollups(sqlite3* db, std::int64_t now_ms);
  Did vacuum(sqlite3* db);
  void warn(sqlite3* db, std::int64_t now_ms, const char* what);
  std::int64_t passInterval() const;

  std::optional<std::chrono::milliseconds> retention_;
  std::optional<std::uint64_t> max_events_;
  std::optional<std::chrono::milliseconds> rollup_retention_;

  // Expiring events by age walks events.id in chunks of kStepRows ids, oldest first (ids
  // grow with commit time, so old rows sit low). Time is not indexed (an index would cost
  // inserts far more than this saves), so for each chunk already read the oldest `ts` left
  // in it is kept in memory: a later pass skips the chunk until that time expires. 10 M
  // events are 2,000 entries.
  std::map<std::int64_t, std::int64_t> oldest_left_;  // chunk number -> min ts left in it
  bool pass_running_ = false;
  std::int64_t pass_chunk_ = 0;   // next chunk to look at in this pass
  std::int64_t pass_end_id_ = 0;  // ids at or above this appeared after the pass started
  std::int64_t next_pass_ms_ = 0;
  std::int64_t last_max_id_ = 0;  // the largest id when the last pass started
  bool vacuum_due_ = false;
  int auto_vacuum_ = -1;  // PRAGMA auto_vacuum, read once: 2 is INCREMENTAL
  std::int64_t next_warning_ms_ = 0;
};

}  // namespace sqtail::sink
