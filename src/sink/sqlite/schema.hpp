// Owns the SQL text of the stats DB schema, one entry per version step.
// Data only; any thread may read it.
#pragma once

#include <array>
#include <string_view>

#include "sink/sqlite/usage_sql.hpp"

namespace sqtail::sink {

// kMigrations[i] takes a DB from user_version i to i + 1. Append; never edit a shipped step.
inline constexpr std::array<std::string_view, 4> kMigrations = {
    R"sql(
CREATE TABLE files(
  id              INTEGER PRIMARY KEY,
  source          TEXT    NOT NULL,
  path            TEXT    NOT NULL,
  dev             INTEGER NOT NULL,
  inode           INTEGER NOT NULL,
  birth           INTEGER NOT NULL DEFAULT 0,
  fingerprint     INTEGER NOT NULL,
  fingerprint_len INTEGER NOT NULL,
  check_hash      INTEGER NOT NULL DEFAULT 0,
  check_len       INTEGER NOT NULL DEFAULT 0,
  offset          INTEGER NOT NULL,
  line_no         INTEGER NOT NULL,
  size            INTEGER NOT NULL,
  state           TEXT    NOT NULL,
  lines           INTEGER NOT NULL DEFAULT 0,
  rejects         INTEGER NOT NULL DEFAULT 0,
  truncations     INTEGER NOT NULL DEFAULT 0,
  first_seen      INTEGER NOT NULL,
  last_seen       INTEGER NOT NULL,
  last_event_ts   INTEGER
);
CREATE INDEX files_by_identity ON files(dev, inode);
CREATE TABLE events(
  id       INTEGER PRIMARY KEY,
  file_id  INTEGER NOT NULL,
  offset   INTEGER NOT NULL,
  line_no  INTEGER NOT NULL,
  ts       INTEGER,
  level    TEXT,
  category TEXT,
  message  TEXT,
  raw      TEXT
);
CREATE TABLE rejects(
  id      INTEGER PRIMARY KEY,
  file_id INTEGER NOT NULL,
  offset  INTEGER NOT NULL,
  line_no INTEGER NOT NULL,
  reason  TEXT    NOT NULL,
  length  INTEGER NOT NULL,
  snippet BLOB,
  seen_at INTEGER NOT NULL
);
CREATE TABLE stats_minute(
  minute   INTEGER NOT NULL,
  source   TEXT    NOT NULL,
  category TEXT    NOT NULL,
  level    TEXT    NOT NULL,
  lines    INTEGER NOT NULL,
  bytes    INTEGER NOT NULL,
  PRIMARY KEY(minute, source, category, level)
) WITHOUT ROWID;
)sql",
    kUsageSchema,
    // 3: category files' committed lengths ([sink.files.*]): a file longer than its row after
    // a crash is cut back to it, so the lines re-read are written once.
    R"sql(
CREATE TABLE output_files(
  sink    TEXT    NOT NULL,
  path    TEXT    NOT NULL,
  length  INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  PRIMARY KEY(sink, path)
) WITHOUT ROWID;
)sql",
    // 4: the hourly rollup, so that `sqtail stats` reads one row per hour and combination for
    // the whole hours of a window (stats_minute only for the partial hours at its edges). The
    // writer keeps it in the same transaction as stats_minute; here it is filled from the
    // minutes already counted. An hour is floor(minute / 60), minutes before 1970 included.
    // The fill upserts minute rows in key order rather than GROUP BY: no sort of the whole
    // table in memory (10 M events' 4.3 M minute rows: ~4 s, 6 MB, where the sort took 320 MB).
    R"sql(
CREATE TABLE stats_hour(
  hour     INTEGER NOT NULL,
  source   TEXT    NOT NULL,
  category TEXT    NOT NULL,
  level    TEXT    NOT NULL,
  lines    INTEGER NOT NULL,
  bytes    INTEGER NOT NULL,
  PRIMARY KEY(hour, source, category, level)
) WITHOUT ROWID;
INSERT INTO stats_hour(hour, source, category, level, lines, bytes)
  SELECT CASE WHEN minute >= 0 THEN minute / 60 ELSE (minute - 59) / 60 END,
         source, category, level, lines, bytes
    FROM stats_minute WHERE true
  ON CONFLICT DO UPDATE SET lines = lines + excluded.lines, bytes = bytes + excluded.bytes;
)sql",
};

}  // namespace sqtail::sink
