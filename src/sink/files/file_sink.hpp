// Owns one [sink.files.<name>] destination: appends each batch's lines to files under its dir,
// durable (fdatasync) before write() returns, and undoable back to the lengths the caller
// committed. Not thread-safe: the sink's writer thread makes every call.
//
// Exactly once, with the checkpoint in the caller's database:
//   1. at start-up, recover(lengths committed last run): longer files are cut back;
//   2. per batch, lengthsBefore(batch) and commit those first (paths new to the sink);
//   3. write(batch), then commit the lengths it returns with the source offsets.
// A crash between 3 and its commit leaves files longer than committed: step 1 undoes it.
// A failed write() has already truncated what it wrote; retry the same batch later.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <tl/expected.hpp>

#include "sink/files/handle_pool.hpp"
#include "sink/files/path_template.hpp"

namespace sqtail::sink {

class FileSink {
 public:
  using Clock = HandlePool::Clock;

  struct Settings {
    std::string name;           // <name> of [sink.files.<name>], for messages
    std::filesystem::path dir;  // created on first write if missing
    PathTemplate tmpl;          // not used by the sink: the caller renders rel_path with it
    std::size_t max_open_files = 64;
    std::chrono::milliseconds handle_idle = std::chrono::seconds(60);
    bool sync = true;  // fdatasync/syncfs before write() returns (HandlePool::Options::sync)
  };

  // One line for one file. rel_path is relative to dir (PathTemplate::render output); line has
  // no newline (the sink appends it).
  struct Output {
    std::string_view rel_path;
    std::string_view line;
  };
  struct Length {
    std::string rel_path;
    std::int64_t length;
  };
  struct Truncation {
    std::string rel_path;
    std::int64_t from, to;
  };
  struct Recovery {
    std::vector<Truncation> truncated;  // longer than committed: cut back (log these)
    std::vector<std::string> warnings;  // shorter than committed or missing: changed outside
  };
  struct Counters {
    HandlePool::Counters pool;
    std::uint64_t lines = 0, bytes = 0;  // written by successful write() calls
    std::uint64_t write_failures = 0;    // write() calls that failed (and were undone)
    std::uint64_t truncations = 0;       // files cut back by recover()
  };

  explicit FileSink(Settings settings);

  // Cuts every file longer than its committed length back to it. An error only when a file
  // cannot be examined or cut (then do not write: data would be duplicated).
  tl::expected<Recovery, std::string> recover(const std::vector<Length>& checkpointed);

  // The length now of every distinct path of `batch` the sink has no length for (0 if the
  // file does not exist), in order of first appearance: commit these before write().
  tl::expected<std::vector<Length>, std::string> lengthsBefore(std::span<const Output> batch) const;

  // Appends every line in order, one write per distinct path, fdatasyncs them, and returns
  // each touched path's new length (order of first appearance). On failure every touched
  // file is back at its length before the call and the error names the path.
  tl::expected<std::vector<Length>, std::string> write(std::span<const Output> batch);

  // Closes handles idle for handle_idle and forgets lengths of paths unused that long.
  std::size_t closeIdle(Clock::time_point now);

  // The length the sink holds for `rel_path`, if any (tests, metrics).
  std::optional<std::int64_t> knownLength(std::string_view rel_path) const;
  Counters counters() const;
  const Settings& settings() const { return settings_; }

 private:
  struct PathState {
    std::int64_t length = 0;
    Clock::time_point last_used;
    bool undo_failed = false;  // a rollback could not truncate: never forget this length
  };
  struct Group {
    std::string_view rel_path;
    PathState* state = nullptr;
    std::int64_t before = 0;
    bool touched = false;
  };
  struct Hash {
    using is_transparent = void;  // NOLINT(readability-identifier-naming): std name
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using PathMap = std::unordered_map<std::string, PathState, Hash, std::equal_to<>>;

  std::string fullPath(std::string_view rel_path) const;
  std::string rollback(std::size_t groups);  // returns what could not be undone, if anything

  Settings settings_;
  HandlePool pool_;
  PathMap paths_;
  Clock::time_point next_sweep_{};
  Counters counters_;
  // Reused by write(): one buffer per distinct path of the batch.
  std::vector<Group> groups_;
  std::vector<std::string> bufs_;
  std::unordered_map<std::string_view, std::size_t> group_of_;
};

// True when `rel_path` stays inside the sink's dir: relative, no empty, "." or ".." segment,
// no NUL.
bool isSafeRelativePath(std::string_view rel_path);

}  // namespace sqtail::sink
