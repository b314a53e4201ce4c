// Owns the process-wide counters the threads publish and the CLI (and later /metrics) read.
// Each counter has one writer thread, named beside it; any thread may read.
#pragma once

#include <atomic>
#include <cstdint>

namespace sqtail::app {

struct Counters {
  // tail thread
  std::atomic<std::int64_t> lines_read{0};
  std::atomic<std::int64_t> bytes_read{0};
  std::atomic<std::int64_t> rejects{0};
  std::atomic<std::int64_t> empty_lines{0};
  std::atomic<std::int64_t> truncations{0};
  std::atomic<std::int64_t> copy_recoveries{0};  // copytruncate lines read from the copy
  std::atomic<std::int64_t> inotify_overflows{0};
  std::atomic<std::int64_t> files_tracked{0};
  std::atomic<std::int64_t> backlog_bytes{0};  // bytes known to exist but not read yet (--once)
  std::atomic<std::int64_t> backpressure_waits{0};
  // writer thread
  std::atomic<std::int64_t> lines_committed{0};
  std::atomic<std::int64_t> bytes_committed{0};
  std::atomic<std::int64_t> batches_committed{0};
  std::atomic<std::int64_t> commit_failures{0};
  std::atomic<std::int64_t> commit_us_recent{0};  // recent commit durations, a decaying max
};

}  // namespace sqtail::app
