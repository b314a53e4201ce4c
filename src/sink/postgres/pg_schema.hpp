// Owns the SQL text of the PostgreSQL schema, one entry per version step, and the SQL a batch
// runs. "{s}" stands for the quoted schema name, "{h}" for this host's id as a literal.
// Data only; any thread may read it.
#pragma once

#include <array>
#include <string_view>

namespace sqtail::sink {

// The tables mirror the SQLite stats DB (sink/sqlite/schema.hpp), each with a host_id so
// that many hosts share one database. Times are bigint epoch milliseconds as in SQLite, so
// that the same arithmetic (ts / 60000) answers in both and nothing is rounded
// (to_timestamp(ts / 1000.0) gives a timestamptz). Bookkeeping times (first_seen, last_seen,
// seen_at) are the server's clock: one clock for every host.
//
// events has no key and no index: it is append-only and fed by COPY, and exactly-once comes
// from sqtail_checkpoints moving in the same transaction, not from a unique index (which
// would cost most of the insert rate). A row is identified by (host_id, file_id, "offset").
//
// kPgMigrations[i] takes a schema from version i to i + 1. Append; never edit a shipped step.
inline constexpr int kPgSchemaVersion = 1;
inline constexpr std::array<std::string_view, kPgSchemaVersion> kPgMigrations = {
    R"sql(
CREATE TABLE {s}.sqtail_hosts(
  host_id      text   PRIMARY KEY,
  commit_seq   bigint NOT NULL DEFAULT 0,
  batch_digest bigint NOT NULL DEFAULT 0,
  first_seen   bigint NOT NULL,
  last_seen    bigint NOT NULL
);
CREATE TABLE {s}.sqtail_checkpoints(
  host_id         text    NOT NULL,
  dev             bigint  NOT NULL,
  inode           bigint  NOT NULL,
  birth           bigint  NOT NULL,
  fingerprint     bigint  NOT NULL,
  fingerprint_len integer NOT NULL,
  check_hash      bigint  NOT NULL,
  check_len       integer NOT NULL,
  file_id         bigint  NOT NULL,
  source          text    NOT NULL,
  path            text    NOT NULL,
  "offset"        bigint  NOT NULL,
  line_no         bigint  NOT NULL,
  size            bigint  NOT NULL,
  state           text    NOT NULL,
  lines           bigint  NOT NULL DEFAULT 0,
  rejects         bigint  NOT NULL DEFAULT 0,
  truncations     bigint  NOT NULL DEFAULT 0,
  first_seen      bigint  NOT NULL,
  last_seen       bigint  NOT NULL,
  last_event_ts   bigint,
  PRIMARY KEY(host_id, dev, inode, birth)
);
CREATE TABLE {s}.events(
  host_id  text   NOT NULL,
  file_id  bigint NOT NULL,
  path     text   NOT NULL,
  "offset" bigint NOT NULL,
  line_no  bigint NOT NULL,
  ts       bigint,
  level    text,
  category text,
  message  text,
  raw      text
);
CREATE TABLE {s}.rejects(
  host_id  text   NOT NULL,
  file_id  bigint NOT NULL,
  path     text   NOT NULL,
  "offset" bigint NOT NULL,
  line_no  bigint NOT NULL,
  reason   text   NOT NULL,
  length   bigint NOT NULL,
  snippet  bytea,
  seen_at  bigint NOT NULL DEFAULT (extract(epoch FROM now()) * 1000)::bigint
);
CREATE TABLE {s}.stats_minute(
  minute   bigint NOT NULL,
  host_id  text   NOT NULL,
  source   text   NOT NULL,
  category text   NOT NULL,
  level    text   NOT NULL,
  lines    bigint NOT NULL,
  bytes    bigint NOT NULL,
  PRIMARY KEY(minute, host_id, source, category, level)
);
CREATE TABLE {s}.usage(
  host_id                   text    NOT NULL,
  dedup_key                 text    NOT NULL,
  file_id                   bigint  NOT NULL,
  "offset"                  bigint  NOT NULL,
  ts                        bigint  NOT NULL,
  project                   text    NOT NULL,
  session                   text    NOT NULL,
  model                     text    NOT NULL,
  input_tokens              bigint  NOT NULL,
  output_tokens             bigint  NOT NULL,
  cache_creation_5m_tokens  bigint  NOT NULL,
  cache_creation_1h_tokens  bigint  NOT NULL,
  cache_read_tokens         bigint  NOT NULL,
  cost_record               double precision,
  cost_calc                 double precision NOT NULL,
  sidechain                 boolean NOT NULL,
  total                     bigint  NOT NULL,
  PRIMARY KEY(host_id, dedup_key)
);
CREATE INDEX usage_by_ts ON {s}.usage(ts);
)sql",
};

// Per connection: the staging tables that rollups, usage entries and checkpoints are COPYed
// into before one INSERT ... ON CONFLICT each merges them (COPY cannot upsert). Emptied by
// every commit or rollback. (A pooler must hand sqtail a session, not a transaction.)
inline constexpr std::string_view kPgStagingTables = R"sql(
CREATE TEMP TABLE sqtail_rollup_in(
  minute bigint, source text, category text, level text, lines bigint, bytes bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE sqtail_usage_in(
  dedup_key text, file_id bigint, "offset" bigint, ts bigint, project text, session text,
  model text, input_tokens bigint, output_tokens bigint, cache_creation_5m_tokens bigint,
  cache_creation_1h_tokens bigint, cache_read_tokens bigint, cost_record double precision,
  cost_calc double precision, sidechain boolean, total bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE sqtail_checkpoint_in(
  dev bigint, inode bigint, birth bigint, fingerprint bigint, fingerprint_len integer,
  check_hash bigint, check_len integer, file_id bigint, source text, path text,
  "offset" bigint, line_no bigint, size bigint, state text, lines bigint, rejects bigint,
  truncations bigint, last_event_ts bigint
) ON COMMIT DELETE ROWS;
)sql";

inline constexpr std::string_view kPgCopyEvents =
    R"sql(COPY {s}.events(host_id, file_id, path, "offset", line_no, ts, level, category, message, raw) FROM STDIN)sql";
inline constexpr std::string_view kPgCopyRejects =
    R"sql(COPY {s}.rejects(host_id, file_id, path, "offset", line_no, reason, length, snippet) FROM STDIN)sql";
inline constexpr std::string_view kPgCopyRollups = "COPY pg_temp.sqtail_rollup_in FROM STDIN";
inline constexpr std::string_view kPgCopyUsage = "COPY pg_temp.sqtail_usage_in FROM STDIN";
inline constexpr std::string_view kPgCopyCheckpoints =
    "COPY pg_temp.sqtail_checkpoint_in FROM STDIN";

// Rollups add up. The staged rows have unique keys (PgSink merges duplicates first):
// ON CONFLICT may touch a row only once per statement.
inline constexpr std::string_view kPgMergeRollups = R"sql(
INSERT INTO {s}.stats_minute AS t(minute, host_id, source, category, level, lines, bytes)
SELECT minute, {h}, source, category, level, lines, bytes FROM pg_temp.sqtail_rollup_in
ON CONFLICT (minute, host_id, source, category, level) DO UPDATE
SET lines = t.lines + excluded.lines, bytes = t.bytes + excluded.bytes;
)sql";

// The rule of sink/sqlite/usage_sql.hpp's kUsageUpsert, per host: a main-thread copy beats a
// sidechain copy, then a strictly larger total wins; on a tie the stored copy stays.
inline constexpr std::string_view kPgMergeUsage = R"sql(
INSERT INTO {s}.usage AS u(host_id, dedup_key, file_id, "offset", ts, project, session, model,
  input_tokens, output_tokens, cache_creation_5m_tokens, cache_creation_1h_tokens,
  cache_read_tokens, cost_record, cost_calc, sidechain, total)
SELECT {h}, dedup_key, file_id, "offset", ts, project, session, model, input_tokens,
  output_tokens, cache_creation_5m_tokens, cache_creation_1h_tokens, cache_read_tokens,
  cost_record, cost_calc, sidechain, total FROM pg_temp.sqtail_usage_in
ON CONFLICT (host_id, dedup_key) DO UPDATE SET
  file_id = excluded.file_id, "offset" = excluded."offset", ts = excluded.ts,
  project = excluded.project, session = excluded.session, model = excluded.model,
  input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
  cache_creation_5m_tokens = excluded.cache_creation_5m_tokens,
  cache_creation_1h_tokens = excluded.cache_creation_1h_tokens,
  cache_read_tokens = excluded.cache_read_tokens, cost_record = excluded.cost_record,
  cost_calc = excluded.cost_calc, sidechain = excluded.sidechain, total = excluded.total
WHERE excluded.sidechain < u.sidechain
   OR (excluded.sidechain = u.sidechain AND excluded.total > u.total);
)sql";

inline constexpr std::string_view kPgMergeCheckpoints = R"sql(
INSERT INTO {s}.sqtail_checkpoints AS c(host_id, dev, inode, birth, fingerprint,
  fingerprint_len, check_hash, check_len, file_id, source, path, "offset", line_no, size, state,
  lines, rejects, truncations, first_seen, last_seen, last_event_ts)
SELECT {h}, dev, inode, birth, fingerprint, fingerprint_len, check_hash, check_len, file_id,
  source, path, "offset", line_no, size, state, lines, rejects, truncations,
  (extract(epoch FROM now()) * 1000)::bigint, (extract(epoch FROM now()) * 1000)::bigint,
  last_event_ts FROM pg_temp.sqtail_checkpoint_in
ON CONFLICT (host_id, dev, inode, birth) DO UPDATE SET
  fingerprint = excluded.fingerprint, fingerprint_len = excluded.fingerprint_len,
  check_hash = excluded.check_hash, check_len = excluded.check_len, file_id = excluded.file_id,
  source = excluded.source, path = excluded.path, "offset" = excluded."offset",
  line_no = excluded.line_no, size = excluded.size, state = excluded.state,
  lines = c.lines + excluded.lines, rejects = c.rejects + excluded.rejects,
  truncations = c.truncations + excluded.truncations, last_seen = excluded.last_seen,
  last_event_ts = greatest(c.last_event_ts, excluded.last_event_ts);
)sql";

}  // namespace sqtail::sink
