// Owns the unit of hand-off between the tail thread and a sink's writer thread: the rows of
// one transaction, with the file checkpoints they advance. Built on the tail thread, then
// moved to the writer; never shared.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sqtail::sink {

// A string stored in Batch::arena; len == kNull is SQL NULL.
struct Slice {
  static constexpr std::uint32_t kNull = 0xffffffffu;
  std::uint32_t off = 0;
  std::uint32_t len = kNull;
  bool null() const { return len == kNull; }
};

// Which database sinks an event goes to (routing); rejects, rollups, usage and checkpoints go
// to every database sink.
inline constexpr std::uint8_t kToSqlite = 1;
inline constexpr std::uint8_t kToPostgres = 2;

struct EventRow {
  std::int64_t file_id;
  std::int64_t offset;
  std::int64_t line_no;
  std::int64_t ts_ms;  // valid when has_ts
  bool has_ts;
  Slice level, category, message, raw;
  std::uint8_t sinks = kToSqlite;  // kToSqlite | kToPostgres
};

// One line for a line sink (a category file, stdout), in file order per source file.
struct OutputRow {
  static constexpr std::uint16_t kStdout = 0xffff;
  std::uint16_t sink;  // index into Config::file_sinks, or kStdout
  Slice path;          // relative to the file sink's dir; null for stdout
  Slice line;          // the original line, without its newline
};

struct RejectRow {
  std::int64_t file_id;
  std::int64_t offset;
  std::int64_t line_no;
  std::string_view reason;  // static string from parse::reasonName
  std::int64_t length;      // bytes of the line, newline included
  Slice snippet;            // first bytes of the line (stored as a BLOB: may not be UTF-8)
};

// The state of one file after this batch: committed with the rows, so the offset never
// runs ahead of (or behind) the data.
struct FileCheckpoint {
  std::int64_t file_id;
  std::string source;
  std::string path;
  std::uint64_t dev, inode, birth, fingerprint;
  std::uint32_t fingerprint_len;
  // xxh64 of the check_len bytes just before `offset`: a file rewritten in place while
  // sqtail was away has other bytes there, even when it is longer than the offset.
  std::uint64_t check_hash;
  std::uint32_t check_len;
  std::int64_t offset, line_no, size;
  std::string_view state;  // "active", "rotated", "deleted", "gone"
  std::int64_t lines_added, rejects_added, truncations_added;
  std::int64_t last_event_ts;  // epoch ms of the newest event in the batch, 0 if none
};

// One agent usage entry (preset claude-code), upserted by its dedup key.
struct UsageRow {
  std::int64_t file_id, offset, ts_ms;
  Slice dedup_key, project, session, model;
  std::int64_t input, output, cache_creation_5m, cache_creation_1h, cache_read, total;
  std::optional<double> cost_record;
  double cost_calc;
  bool sidechain;
};

struct RollupRow {
  std::int64_t minute;  // epoch minutes
  std::string source, category, level;
  std::int64_t lines, bytes;
};

struct Batch {
  std::string arena;
  std::vector<EventRow> events;
  std::vector<RejectRow> rejects;
  std::vector<FileCheckpoint> files;
  std::vector<RollupRow> rollups;
  std::vector<UsageRow> usage;
  std::vector<OutputRow> outputs;
  std::int64_t input_bytes = 0;  // bytes of source lines covered
  // When its first line was read (just after it was appended, when keeping up): the start
  // of append-to-commit lag.
  std::chrono::steady_clock::time_point first_read{};

  // What the batch holds in memory: counted against max_buffer_bytes.
  std::size_t memoryBytes() const {
    return arena.capacity() + events.capacity() * sizeof(EventRow) +
           rejects.capacity() * sizeof(RejectRow) + files.capacity() * sizeof(FileCheckpoint) +
           rollups.size() * (sizeof(RollupRow) + 48) + usage.capacity() * sizeof(UsageRow) +
           outputs.capacity() * sizeof(OutputRow);
  }
  // memoryBytes() after adding `bytes` to the arena and `rows` rows to each row vector: a
  // vector or the arena that must grow doubles its capacity, all at once.
  std::size_t memoryBytesAfter(std::size_t bytes, std::size_t rows) const {
    // Rows are pushed one at a time: a vector doubles until they fit.
    auto grown = [&](std::size_t size, std::size_t capacity, std::size_t add) {
      std::size_t c = std::max<std::size_t>(capacity, 1);
      while (size + add > c) c *= 2;
      return c;
    };
    // The arena grows to what it needs or twice its size, whichever is more.
    const std::size_t need = arena.size() + bytes;
    const std::size_t arena_after =
        need <= arena.capacity() ? arena.capacity() : std::max(need, 2 * arena.capacity());
    // A line is an event or a reject: the rows are counted as events, the larger of the two.
    return arena_after + grown(events.size(), events.capacity(), rows) * sizeof(EventRow) +
           rejects.capacity() * sizeof(RejectRow) + files.capacity() * sizeof(FileCheckpoint) +
           rollups.size() * (sizeof(RollupRow) + 48) + usage.capacity() * sizeof(UsageRow) +
           grown(outputs.size(), outputs.capacity(), outputs.empty() ? 0 : rows) *
               sizeof(OutputRow);
  }
  bool empty() const { return events.empty() && rejects.empty() && files.empty(); }

  Slice put(std::string_view s) {
    Slice sl{static_cast<std::uint32_t>(arena.size()), static_cast<std::uint32_t>(s.size())};
    arena.append(s);
    return sl;
  }
  std::string_view view(Slice s) const { return {arena.data() + s.off, s.len}; }
};

}  // namespace sqtail::sink
