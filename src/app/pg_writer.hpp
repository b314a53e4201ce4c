// Owns the PostgreSQL writer thread: commits the batches the hand-off gives its consumer,
// each only once SQLite has committed it (so that PostgreSQL's checkpoints never pass
// SQLite's, where the tail resumes after a crash); falls behind when PostgreSQL cannot take
// them, and then catches up from the source files. Constructed on the main thread before the
// threads start; run() on its own thread; the observer it registers runs on the tail thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "app/handoff.hpp"
#include "app/metrics.hpp"
#include "app/tail_loop.hpp"
#include "config/config.hpp"
#include "sink/postgres/pg_sink.hpp"
#include "sink/sqlite/sqlite_sink.hpp"
#include "usage/usage.hpp"

namespace sqtail::app {

class PgWriter {
 public:
  // TailLoop::requestSnapshot, or a fake.
  using RequestSnapshot =
      std::function<void(TailLoop::SnapshotFilter, std::function<void(TailSnapshot)>)>;

  struct Options {
    int consumer = 1;  // its queue in the hand-off
    int follows = 0;   // the consumer (SQLite's writer) whose commits it waits for
    // --once: a writer still behind when the tail is done catches up before it returns.
    bool finish_at_exit = false;
    // SQLite's checkpoints at start: where files that are not tracked any more ended.
    std::vector<sink::StoredFile> known;
  };

  // Marks its consumer behind until the first catch-up (the tail never waits for PostgreSQL
  // to connect).
  PgWriter(const config::Config& config, const usage::Pricing& pricing, Handoff& handoff,
           RequestSnapshot request_snapshot, SinkMetrics metrics, Options options);
  ~PgWriter();

  // Until the hand-off is closed and drained (or PostgreSQL is given up on at exit).
  void run();

 private:
  using Key = std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>;  // dev, inode, birth
  // Where a file ended, as far as a batch PostgreSQL did not get says.
  struct Known {
    sink::FileCheckpoint checkpoint;  // its state is empty: see `state`
    std::string state;
    std::int64_t first_offset = 0, first_line_no = 0;  // its first position seen
  };
  enum class Outcome { kDone, kFailed, kRestart };

  bool connect();
  void catchUp();
  // Files closed before PostgreSQL caught up: reported, and its checkpoints moved past them.
  Outcome shipLost(const std::map<Key, sink::PgCheckpoint>& pg);
  // Tracked files: what PostgreSQL lacks up to the snapshot, read from the files.
  Outcome readBehind(const TailSnapshot& snap, const std::map<Key, sink::PgCheckpoint>& pg,
                     const std::map<Key, std::pair<std::int64_t, std::int64_t>>& first_seen);
  // Commits a catch-up batch: kFailed (fallen behind again) when PostgreSQL refuses it.
  Outcome commitCatchUp(sink::Batch& batch);
  void commitLive(Delivery& delivery);
  // Drops its queue (and the batch in hand) and stops taking batches until the next catch-up.
  void fallBehind(const sink::Batch* in_hand, bool failing);
  void succeeded(const sink::Batch& batch, std::chrono::steady_clock::time_point started);
  void failed(const sink::PgError& error, std::string_view doing);
  void pause(const sink::PgError& error);
  bool exitDue();
  void note(const sink::Batch& batch);  // any thread that holds a batch PostgreSQL will miss

  usage::Pricing pricing_;
  Handoff& handoff_;
  RequestSnapshot request_snapshot_;
  SinkMetrics metrics_;
  Options options_;
  sink::PgSettings settings_;
  std::unique_ptr<sink::PgSink> sink_;
  sink::PgBackoff backoff_;
  bool behind_ = true;
  std::size_t pressure_bytes_;  // half of max_buffer_bytes: more queued while failing = behind

  std::mutex notes_mu_;  // guards notes_ (written by the tail thread and this one)
  std::map<Key, Known> notes_;
  std::map<Key, Known> known_;  // this thread: notes and SQLite's checkpoints, merged

  std::uint64_t rows_seen_ = 0, commits_seen_ = 0;  // PgSink::counters() already published
  std::uint64_t failures_ = 0;                      // in a row
  std::string last_logged_;
  std::chrono::steady_clock::time_point last_log_{};
  std::chrono::steady_clock::time_point closed_at_{};
};

}  // namespace sqtail::app
