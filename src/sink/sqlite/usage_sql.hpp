// Owns the SQL text of the usage table (agent token usage, one row per deduplicated entry)
// and its upsert. Data only; any thread may read it.
#pragma once

#include <string_view>

namespace sqtail::sink {

// Migration step: the usage table and the one index `sqtail usage` needs (the --since/--until
// range; every grouping reads the rows in range anyway). model is '' for <synthetic> and
// model-less entries; cost_record is the line's costUSD (NULL without); cost_calc is the cost
// from the pricing table when the entry was stored; total is the sum of the five token counts
// (what decides between two copies of one entry).
inline constexpr std::string_view kUsageSchema = R"sql(
CREATE TABLE usage(
  id                        INTEGER PRIMARY KEY,
  dedup_key                 TEXT    NOT NULL UNIQUE,
  file_id                   INTEGER NOT NULL,
  offset                    INTEGER NOT NULL,
  ts                        INTEGER NOT NULL,
  project                   TEXT    NOT NULL,
  session                   TEXT    NOT NULL,
  model                     TEXT    NOT NULL,
  input_tokens              INTEGER NOT NULL,
  output_tokens             INTEGER NOT NULL,
  cache_creation_5m_tokens  INTEGER NOT NULL,
  cache_creation_1h_tokens  INTEGER NOT NULL,
  cache_read_tokens         INTEGER NOT NULL,
  cost_record               REAL,
  cost_calc                 REAL    NOT NULL,
  sidechain                 INTEGER NOT NULL,
  total                     INTEGER NOT NULL
);
CREATE INDEX usage_by_ts ON usage(ts);
)sql";

// One usage::Entry. Parameters:
//   ?1  dedup_key (TEXT; '' = none: the row is keyed 'pos:<file_id>:<offset>:<ts>' instead)
//   ?2  file_id   ?3  offset (of the line)   ?4  ts (epoch ms)
//   ?5  project   ?6  session   ?7  model ('' for none)
//   ?8  input_tokens   ?9  output_tokens   ?10 cache_creation_5m_tokens
//   ?11 cache_creation_1h_tokens   ?12 cache_read_tokens
//   ?13 cost_record (REAL or NULL)   ?14 cost_calc (REAL)   ?15 sidechain (0/1)
//   ?16 total (= ?8 + ?9 + ?10 + ?11 + ?12)
// A second copy of an entry (a resumed session's copy, a streaming repeat, a subagent's relay)
// replaces the stored one in place only if it wins: a main-thread copy beats a sidechain copy,
// then a strictly larger total wins; on a tie the copy from the path that sorts first (byte by
// byte, as ccusage orders the files it reads) wins, whichever was read first; a replayed batch
// after a crash changes nothing. The winner brings its own ts, file and offset with it. The
// batch's files rows are written before its usage rows, so both paths are known here.
inline constexpr std::string_view kUsageUpsert = R"sql(
INSERT INTO usage(dedup_key, file_id, offset, ts, project, session, model, input_tokens,
  output_tokens, cache_creation_5m_tokens, cache_creation_1h_tokens, cache_read_tokens,
  cost_record, cost_calc, sidechain, total)
VALUES(coalesce(nullif(?1, ''), 'pos:' || ?2 || ':' || ?3 || ':' || ?4), ?2, ?3, ?4, ?5, ?6,
  ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
ON CONFLICT(dedup_key) DO UPDATE SET
  file_id = excluded.file_id, offset = excluded.offset, ts = excluded.ts,
  project = excluded.project, session = excluded.session, model = excluded.model,
  input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
  cache_creation_5m_tokens = excluded.cache_creation_5m_tokens,
  cache_creation_1h_tokens = excluded.cache_creation_1h_tokens,
  cache_read_tokens = excluded.cache_read_tokens, cost_record = excluded.cost_record,
  cost_calc = excluded.cost_calc, sidechain = excluded.sidechain, total = excluded.total
WHERE excluded.sidechain < usage.sidechain
   OR (excluded.sidechain = usage.sidechain AND excluded.total > usage.total)
   OR (excluded.sidechain = usage.sidechain AND excluded.total = usage.total
       AND (SELECT path FROM files WHERE id = excluded.file_id)
           < (SELECT path FROM files WHERE id = usage.file_id))
)sql";

}  // namespace sqtail::sink
