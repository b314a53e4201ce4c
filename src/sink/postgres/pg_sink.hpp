// Owns the PostgreSQL sink: the shared schema and its migrations, this host's checkpoints, and
// the one transaction per batch that COPYs its rows and advances its offsets together, so that
// many hosts ship into one database exactly once. One connection, owned by the writer thread
// (connect() may run on the main thread first).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "sink/batch.hpp"
#include "sink/postgres/pg_connection.hpp"

namespace sqtail::sink {

struct PgSettings {
  std::string conninfo;  // libpq key=value or URI; the password comes from PGPASSFILE/env
  std::string host_id;   // "" = this machine's hostname
  std::string schema = "sqtail";
};

// A file's position as this host last committed it (sqtail_checkpoints).
struct PgCheckpoint {
  std::uint64_t dev, inode, birth, fingerprint;
  std::string path;
  std::int64_t offset, line_no;
  std::int64_t file_id;
  std::string source;
  std::uint32_t fingerprint_len;
  std::uint64_t check_hash;
  std::uint32_t check_len;
  std::int64_t size;
  std::string state;
};

// Whether the router sent this event to PostgreSQL (rejects, rollups, usage and checkpoints go
// to every database sink).
inline bool routedToPostgres(const EventRow& row) { return (row.sinks & kToPostgres) != 0; }

// What the sink has sent, for metrics and the benchmark.
struct PgCounters {
  std::uint64_t commits = 0;
  std::uint64_t rows = 0;        // events and rejects COPYed in committed batches
  std::uint64_t copy_bytes = 0;  // bytes handed to PQputCopyData, committed or not
  std::uint64_t failures = 0;
  std::uint64_t reconnects = 0;
};

// Capped exponential backoff with jitter for reconnecting: 250 ms, 500 ms, ... up to `cap`,
// each delay drawn in [d/2, d] so that many hosts do not come back in step after an outage.
class PgBackoff {
 public:
  explicit PgBackoff(std::chrono::milliseconds first = std::chrono::milliseconds(250),
                     std::chrono::milliseconds cap = std::chrono::seconds(30));
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }

 private:
  std::chrono::milliseconds first_, cap_;
  int attempt_ = 0;
  std::uint64_t rng_;
};

// The writer's loop:
//   connect() (retry with PgBackoff while the error is transient), loadCheckpoints(), then
//   commit() each batch. On a transient error: while !connected(), wait PgBackoff::next() and
//   reconnect(); then commit() the same batch again. If the connection broke while COMMIT was
//   in flight, the sink does not know whether the batch landed: the retried commit() asks the
//   database (a per-host commit sequence) and does not write it twice. A writer that drops the
//   batch instead must call loadCheckpoints() and re-read from there.
// A non-transient error (a constraint, a permission, a schema newer than this sqtail) will
// fail again with the same batch: stop and say so.
class PgSink {
 public:
  // Connects, migrates the schema (under an advisory lock: hosts may start together) and
  // registers this host.
  static tl::expected<std::unique_ptr<PgSink>, PgError> connect(const PgSettings& settings);
  ~PgSink();
  PgSink(const PgSink&) = delete;
  PgSink& operator=(const PgSink&) = delete;

  // This host's checkpoints.
  tl::expected<std::vector<PgCheckpoint>, PgError> loadCheckpoints();

  // All of the batch or none: the events routed to PostgreSQL, rejects, usage (upsert by
  // dedup key), stats_minute (added) and the checkpoints of batch.files, in one transaction.
  tl::expected<void, PgError> commit(const Batch& batch);

  // False once a call has found the connection gone.
  bool connected() const;
  // A new connection (the old one, if any, is dropped).
  tl::expected<void, PgError> reconnect();

  const std::string& hostId() const { return settings_.host_id; }
  const PgCounters& counters() const { return counters_; }
  int backendPid() const { return conn_ ? conn_->backendPid() : 0; }

  // Test seam: the next successful COMMIT is reported as a lost connection, as if its reply
  // had never arrived (the in-doubt case).
  void loseNextCommitReplyForTest() { lose_commit_reply_ = true; }

 private:
  struct Sql;
  PgSink(PgSettings settings, std::unique_ptr<Sql> sql);
  tl::expected<void, PgError> open();
  tl::expected<void, PgError> commitOnce(const Batch& batch, std::int64_t digest);
  tl::expected<void, PgError> readHostState();
  tl::expected<void, PgError> copyAll(const std::string& copy_sql, std::string& data);

  PgSettings settings_;
  std::unique_ptr<Sql> sql_;
  std::optional<PgConnection> conn_;
  std::int64_t commit_seq_ = 0;  // the last one this host committed
  // A COMMIT whose reply was lost: its sequence number and batch digest.
  struct InDoubt {
    std::int64_t seq;
    std::int64_t digest;
  };
  std::optional<InDoubt> in_doubt_;
  // Set when the database says the in-doubt batch landed: the retry with this digest is done.
  std::optional<std::int64_t> landed_digest_;
  bool lose_commit_reply_ = false;
  PgCounters counters_;
};

// Creates or migrates the schema; refuses one from a newer sqtail. Idempotent.
tl::expected<void, PgError> migratePg(PgConnection& conn, std::string_view schema);

// A read-only connection for reports (`sqtail stats --pg`, `sqtail usage --pg`), checked to
// hold sqtail's tables in `schema`.
tl::expected<PgConnection, PgError> openPgForReports(std::string_view conninfo,
                                                     std::string_view schema);

// A schema name sqtail accepts: letters, digits and '_', not starting with a digit.
bool validPgSchemaName(std::string_view schema);

}  // namespace sqtail::sink
