// Owns the SQLite stats DB for writing: schema and migrations, the file checkpoints, and
// the one transaction per batch that stores rows and advances offsets together.
// One connection, owned by the writer thread (open() may run on the main thread first).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "sink/batch.hpp"

struct sqlite3;

namespace sqtail::sink {

class Retention;

inline constexpr int kSchemaVersion = 2;

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

class SqliteSink {
 public:
  // Opens or creates the DB (0600), sets WAL and NORMAL sync, migrates the schema.
  static tl::expected<std::unique_ptr<SqliteSink>, DbError> open(const std::filesystem::path& db);
  ~SqliteSink();
  SqliteSink(const SqliteSink&) = delete;
  SqliteSink& operator=(const SqliteSink&) = delete;

  tl::expected<std::vector<StoredFile>, DbError> loadFiles();

  // All of the batch or none of it: rows, rejects, rollups and checkpoints in one transaction.
  tl::expected<void, DbError> commit(const Batch& batch);

  // One retention step on this connection, between batches; true if it did work
  // (defined in retention.cpp).
  bool runRetention(Retention& retention, std::int64_t now_ms);

 private:
  struct Statements;
  SqliteSink(sqlite3* db, std::unique_ptr<Statements> stmts);
  tl::expected<void, DbError> commitOnce(const Batch& batch);

  sqlite3* db_;
  std::unique_ptr<Statements> stmts_;
};

// Applies migrations up to kSchemaVersion; refuses a DB from a newer sqtail.
tl::expected<void, DbError> migrate(sqlite3* db);

}  // namespace sqtail::sink
