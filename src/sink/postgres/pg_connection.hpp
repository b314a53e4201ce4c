// Owns one libpq connection and the three ways sqtail talks over it: commands, queries with
// bound parameters, and COPY FROM STDIN. One thread at a time (a sink's writer thread, or the
// CLI's main thread); libpq connections are not shared.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

struct pg_conn;
struct pg_result;

namespace sqtail::sink {

struct PgError {
  // The server's SQLSTATE ("23514", "57P01"), or one libpq-side failures are filed under:
  // "08006" when the connection is lost or refused, "" for a fault of sqtail's own.
  std::string sqlstate;
  std::string message;
  // Connection lost or refused, server shutting down or starting, serialization failure,
  // deadlock, out of disk/memory/connections, statement cancelled: the same batch may succeed
  // later (after reconnect() when the connection is gone). Anything else (a constraint, a
  // permission, a schema from a newer sqtail) needs a person.
  bool transient() const;
};

// The conninfo (key=value or URI) rebuilt as key=value without its password, for logs and
// error messages; "(unparseable conninfo)" when libpq cannot parse it.
std::string redactConninfo(std::string_view conninfo);

// One result set; frees itself.
class PgResult {
 public:
  explicit PgResult(pg_result* res = nullptr) : res_(res) {}
  PgResult(PgResult&& other) noexcept : res_(other.res_) { other.res_ = nullptr; }
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();

  int rows() const;
  int columns() const;
  bool isNull(int row, int col) const;
  std::string_view text(int row, int col) const;
  std::int64_t int64(int row, int col) const;  // 0 for NULL
  double float64(int row, int col) const;      // 0 for NULL
  std::string columnName(int col) const;
  // Rows touched by an INSERT/UPDATE/DELETE/COPY, 0 for other commands.
  std::int64_t affected() const;

 private:
  pg_result* res_;
};

class PgConnection {
 public:
  // Connects with libpq's defaults and environment (PGPASSFILE, PGPASSWORD, PGSSLMODE, ...);
  // `conninfo` wins over them. Adds connect_timeout=10 and TCP keepalives unless the conninfo
  // sets them, so that a dead server is noticed in about a minute rather than never.
  static tl::expected<PgConnection, PgError> open(std::string_view conninfo,
                                                  std::string_view application_name);
  PgConnection(PgConnection&& other) noexcept : conn_(other.conn_) { other.conn_ = nullptr; }
  PgConnection& operator=(PgConnection&& other) noexcept;
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;
  ~PgConnection();

  // False once libpq has seen the connection fail (it notices on the next call, not before).
  bool ok() const;
  bool inTransaction() const;  // a transaction is open (possibly aborted)
  int backendPid() const;

  // One or more statements without parameters; the result of the last one.
  tl::expected<PgResult, PgError> exec(const std::string& sql);
  // One statement; parameters are text, never NULL.
  tl::expected<PgResult, PgError> query(const std::string& sql,
                                        const std::vector<std::string>& params = {});

  // COPY ... FROM STDIN: begin, put data (any split), end. end() returns the rows copied.
  tl::expected<void, PgError> copyBegin(const std::string& copy_sql);
  tl::expected<void, PgError> copyPut(std::string_view data);
  tl::expected<std::int64_t, PgError> copyEnd();
  // Ends a COPY in progress with an error and drains its result (after a failure of ours).
  void copyAbort();

  // Every later transaction of this session read-only (the CLI's reports).
  tl::expected<void, PgError> setReadOnly();

  // For SQL text built once: a literal ('it''s') or an identifier ("Logs").
  std::string literal(std::string_view text) const;
  std::string identifier(std::string_view text) const;

 private:
  explicit PgConnection(pg_conn* conn) : conn_(conn) {}
  PgError error(pg_result* res, std::string_view what) const;

  pg_conn* conn_;
};

}  // namespace sqtail::sink
