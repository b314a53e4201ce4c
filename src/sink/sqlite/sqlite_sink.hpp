// Owns the SQLite stats DB for writing: schema and migrations, the file checkpoints, and
// the one transaction per batch that stores rows and advances offsets together.
// One connection, owned by the writer thread (open() may run on the main thread first).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "sink/batch.hpp"

struct sqlite3;

namespace sqtail::sink {

class Retention;

inline constexpr int kSchemaVersion = 4;

struct StoredFile {
  std::int64_t id;
  std::string source, path;
  std::uint64_t dev, inode, birth, fingerprint;
  std::uint32_t fingerprint_len;
  std::uint64_t check_hash;
  std::uint32_t check_len;
  std::int64_t offset, line_no, size;
  std::string state;
};

struct DbError {
  int code = 0;  // SQLite extended result code (0 when not from SQLite)
  std::string message;
  // Busy, full disk, I/O or read-only: worth retrying once the fault clears.
  bool transient() const;
};

// How long a category file ([sink.files.<sink>]) is once the lines committed so far are in it.
struct OutputLength {
  std::string sink, path;  // path relative to the sink's dir
  std::int64_t length;
};

class SqliteSink {
 public:
  // Opens or creates the DB (0600), sets WAL and NORMAL sync, migrates the schema.
  static tl::expected<std::unique_ptr<SqliteSink>, DbError> open(const std::filesystem::path& db);
  ~SqliteSink();
  SqliteSink(const SqliteSink&) = delete;
  SqliteSink& operator=(const SqliteSink&) = delete;

  tl::expected<std::vector<StoredFile>, DbError> loadFiles();

  tl::expected<std::vector<OutputLength>, DbError> loadOutputLengths();
  // Before a batch first writes to a file: its length now, in a transaction of its own, so that
  // a crash before the batch commits cuts the file back to it.
  tl::expected<void, DbError> saveOutputLengths(std::span<const OutputLength> lengths);

  // All of the batch or none of it: rows routed to SQLite, rejects, rollups, checkpoints and
  // the category files' new lengths in one transaction.
  tl::expected<void, DbError> commit(const Batch& batch,
                                     std::span<const OutputLength> outputs = {});

  // One retention step on this connection, between batches; true if it did work
  // (defined in retention.cpp).
  bool runRetention(Retention& retention, std::int64_t now_ms);

 private:
  struct Statements;
  SqliteSink(sqlite3* db, std::unique_ptr<Statements> stmts);
  tl::expected<void, DbError> commitOnce(const Batch& batch, std::span<const OutputLength> outputs);
  tl::expected<void, DbError> upsertOutputs(std::span<const OutputLength> outputs);

  sqlite3* db_;
  std::unique_ptr<Statements> stmts_;
};

// Applies migrations up to kSchemaVersion; refuses a DB from a newer sqtail.
tl::expected<void, DbError> migrate(sqlite3* db);

}  // namespace sqtail::sink
