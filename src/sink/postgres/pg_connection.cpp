#include "sink/postgres/pg_connection.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstdlib>
#include <memory>

#include <fmt/core.h>

namespace sqtail::sink {

namespace {

std::string trimmed(const char* text) {
  std::string s = text != nullptr ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Filed under SQLSTATE class 08 (connection exception): libpq reports no code of its own
// for a connection that could not be made or was lost.
constexpr const char* kConnectionFailure = "08006";
constexpr const char* kCannotConnect = "08001";

}  // namespace

bool PgError::transient() const {
  if (sqlstate.size() != 5) return false;
  const std::string_view cls = std::string_view(sqlstate).substr(0, 2);
  if (cls == "08" || cls == "53" || cls == "58") return true;  // connection, resources, I/O
  for (const char* code :
       {"40001", "40P01", "40003", "57P01", "57P02", "57P03", "57P05", "57014", "55P03"}) {
    if (sqlstate == code) return true;
  }
  return false;
}

std::string redactConninfo(std::string_view conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(std::string(conninfo).c_str(), &err);
  if (opts == nullptr) {
    PQfreemem(err);
    return "(unparseable conninfo)";
  }
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || std::string_view(o->keyword) == "password") continue;
    std::string value;
    for (const char* p = o->val; *p != '\0'; ++p) {
      if (*p == '\'' || *p == '\\') value += '\\';
      value += *p;
    }
    if (!out.empty()) out += ' ';
    out += fmt::format("{}='{}'", o->keyword, value);
  }
  PQconninfoFree(opts);
  return out;
}

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    PQclear(res_);
    res_ = other.res_;
    other.res_ = nullptr;
  }
  return *this;
}

PgResult::~PgResult() { PQclear(res_); }

int PgResult::rows() const { return res_ != nullptr ? PQntuples(res_) : 0; }
int PgResult::columns() const { return res_ != nullptr ? PQnfields(res_) : 0; }
bool PgResult::isNull(int row, int col) const { return PQgetisnull(res_, row, col) != 0; }

std::string_view PgResult::text(int row, int col) const {
  return {PQgetvalue(res_, row, col), static_cast<std::size_t>(PQgetlength(res_, row, col))};
}

std::int64_t PgResult::int64(int row, int col) const {
  const std::string_view t = text(row, col);
  std::int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

double PgResult::float64(int row, int col) const {
  if (isNull(row, col)) return 0;
  return std::strtod(PQgetvalue(res_, row, col), nullptr);
}

std::string PgResult::columnName(int col) const { return PQfname(res_, col); }

std::int64_t PgResult::affected() const {
  const char* n = res_ != nullptr ? PQcmdTuples(res_) : "";
  return n[0] != '\0' ? std::strtoll(n, nullptr, 10) : 0;
}

tl::expected<PgConnection, PgError> PgConnection::open(std::string_view conninfo,
                                                       std::string_view application_name) {
  const std::string info(conninfo);
  const std::string app(application_name);
  // Keywords before dbname are defaults the conninfo may override; those after it are not.
  const char* keys[] = {
      "connect_timeout",           "keepalives_idle", "keepalives_interval", "keepalives_count",
      "fallback_application_name", "dbname",          "client_encoding",     nullptr};
  const char* values[] = {"10", "30", "10", "3", app.c_str(), info.c_str(), "UTF8", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  if (conn == nullptr) {
    return tl::unexpected(PgError{kCannotConnect, "libpq could not allocate a connection"});
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    PgError e{kCannotConnect, fmt::format("connecting to PostgreSQL ({}): {}",
                                          redactConninfo(conninfo), trimmed(PQerrorMessage(conn)))};
    PQfinish(conn);
    return tl::unexpected(std::move(e));
  }
  // Notices ("schema already exists, skipping") are not errors; libpq would print them.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return PgConnection(conn);
}

PgConnection& PgConnection::operator=(PgConnection&& other) noexcept {
  if (this != &other) {
    PQfinish(conn_);
    conn_ = other.conn_;
    other.conn_ = nullptr;
  }
  return *this;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::ok() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

bool PgConnection::inTransaction() const {
  if (conn_ == nullptr) return false;
  const auto st = PQtransactionStatus(conn_);
  return st == PQTRANS_INTRANS || st == PQTRANS_INERROR || st == PQTRANS_ACTIVE;
}

int PgConnection::backendPid() const { return conn_ != nullptr ? PQbackendPID(conn_) : 0; }

PgError PgConnection::error(pg_result* res, std::string_view what) const {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state != nullptr ? state : "";
  if (sqlstate.empty() && !ok()) sqlstate = kConnectionFailure;
  std::string msg = res != nullptr && PQresultErrorMessage(res)[0] != '\0'
                        ? trimmed(PQresultErrorMessage(res))
                        : trimmed(conn_ != nullptr ? PQerrorMessage(conn_) : "not connected");
  return PgError{std::move(sqlstate), fmt::format("{}: {}", what, msg)};
}

tl::expected<PgResult, PgError> PgConnection::exec(const std::string& sql) {
  if (conn_ == nullptr) return tl::unexpected(PgError{kConnectionFailure, "not connected"});
  pg_result* raw = PQexec(conn_, sql.c_str());
  PgResult res(raw);
  const auto st = raw != nullptr ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
  return tl::unexpected(error(raw, "query"));
}

tl::expected<PgResult, PgError> PgConnection::query(const std::string& sql,
                                                    const std::vector<std::string>& params) {
  if (conn_ == nullptr) return tl::unexpected(PgError{kConnectionFailure, "not connected"});
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  pg_result* raw = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                values.data(), nullptr, nullptr, 0);
  PgResult res(raw);
  const auto st = raw != nullptr ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
  return tl::unexpected(error(raw, "query"));
}

tl::expected<void, PgError> PgConnection::copyBegin(const std::string& copy_sql) {
  if (conn_ == nullptr) return tl::unexpected(PgError{kConnectionFailure, "not connected"});
  pg_result* raw = PQexec(conn_, copy_sql.c_str());
  PgResult res(raw);
  if (raw != nullptr && PQresultStatus(raw) == PGRES_COPY_IN) return {};
  return tl::unexpected(error(raw, "COPY"));
}

tl::expected<void, PgError> PgConnection::copyPut(std::string_view data) {
  if (PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) == 1) return {};
  return tl::unexpected(error(nullptr, "COPY data"));
}

tl::expected<std::int64_t, PgError> PgConnection::copyEnd() {
  if (PQputCopyEnd(conn_, nullptr) != 1) return tl::unexpected(error(nullptr, "COPY end"));
  tl::expected<std::int64_t, PgError> out = 0;
  bool first = true;
  while (pg_result* raw = PQgetResult(conn_)) {
    PgResult res(raw);
    if (!first) continue;
    first = false;
    if (PQresultStatus(raw) == PGRES_COMMAND_OK) {
      out = res.affected();
    } else {
      out = tl::unexpected(error(raw, "COPY"));
    }
  }
  if (first && !ok()) return tl::unexpected(error(nullptr, "COPY"));
  return out;
}

void PgConnection::copyAbort() {
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) return;
  PQputCopyEnd(conn_, "sqtail aborted the batch");
  while (pg_result* raw = PQgetResult(conn_)) PQclear(raw);
}

tl::expected<void, PgError> PgConnection::setReadOnly() {
  auto r = exec("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
  if (!r) return tl::unexpected(r.error());
  return {};
}

std::string PgConnection::literal(std::string_view text) const {
  char* q = PQescapeLiteral(conn_, text.data(), text.size());
  std::string out = q != nullptr ? q : "''";
  PQfreemem(q);
  return out;
}

std::string PgConnection::identifier(std::string_view text) const {
  char* q = PQescapeIdentifier(conn_, text.data(), text.size());
  std::string out = q != nullptr ? q : "\"\"";
  PQfreemem(q);
  return out;
}

}  // namespace sqtail::sink
