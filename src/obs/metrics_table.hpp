// Owns the one declaration of every metric sqtail exports: name, type, help, label names and
// buckets. The registry, /metrics and README's metrics list are all made from this table.
// Constant data: any thread may read it.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace sqtail::obs {

enum class MetricType { kCounter, kGauge, kHistogram };

// One per row of kMetrics, in the same order (a static_assert below checks it).
enum class MetricId : std::size_t {
  kLinesRead,
  kBytesRead,
  kRejects,
  kStackCacheHits,
  kStackCacheMisses,
  kRecordsCommitted,
  kBatchesCommitted,
  kCommitFailures,
  kBatchRows,
  kCommitDuration,
  kCommitLag,
  kOutputLines,
  kOutputOpens,
  kOutputEvictions,
  kOutputIdleCloses,
  kOutputEmfileRecoveries,
  kOutputFilesOpen,
  kFilesTracked,
  kFilesRotated,
  kFilesTruncated,
  kDeletedFileBytes,
  kInotifyWatches,
  kInotifyOverflows,
  kPollingFallbacks,
  kFileErrors,
  kFilesFailing,
  kBufferedBytes,
  kBufferCapBytes,
  kBackpressureSeconds,
  kDbSizeBytes,
  kDbWalSizeBytes,
  kResidentMemoryBytes,
  kCpuSeconds,
  kBuildInfo,
};

struct MetricSpec {
  MetricId id;
  std::string_view name;
  MetricType type;
  std::string_view help;
  std::span<const std::string_view> labels;
  std::span<const double> buckets;  // histograms only: upper bounds, ascending, no +Inf
  // Counters hold an integer; /metrics shows it times this. Seconds counters count microseconds
  // (1e-6) so that the hot path stays one integer add.
  double scale = 1;
};

namespace labels {
inline constexpr std::string_view kSource[] = {"source"};
inline constexpr std::string_view kSourceOp[] = {"source", "op"};
inline constexpr std::string_view kSink[] = {"sink"};
inline constexpr std::string_view kReason[] = {"reason"};
inline constexpr std::string_view kVersion[] = {"version"};
}  // namespace labels

namespace buckets {
// batch_max_rows defaults to 20000: the top buckets show batches that filled up.
inline constexpr double kRows[] = {1, 10, 100, 1000, 2500, 5000, 10000, 20000, 50000};
inline constexpr double kCommitSeconds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1,     2.5,  5,     10};
// flush_interval defaults to 1s, so a healthy lag sits just under it.
inline constexpr double kLagSeconds[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
}  // namespace buckets

inline constexpr std::span<const std::string_view> kNoLabels{};
inline constexpr std::span<const double> kNoBuckets{};

inline constexpr MetricSpec kMetrics[] = {
    // tail thread
    {MetricId::kLinesRead, "sqtail_lines_read_total", MetricType::kCounter,
     "Complete lines read from the source's files, rejects and empty lines included.",
     labels::kSource, kNoBuckets},
    {MetricId::kBytesRead, "sqtail_bytes_read_total", MetricType::kCounter,
     "Bytes of complete lines read from the source's files.", labels::kSource, kNoBuckets},
    {MetricId::kRejects, "sqtail_rejects_total", MetricType::kCounter,
     "Lines stored in the rejects table instead of events, by reason.", labels::kReason,
     kNoBuckets},
    {MetricId::kStackCacheHits, "sqtail_stack_category_cache_hits_total", MetricType::kCounter,
     "Categories taken from a stack trace (category_from_stack) found in the source's cache.",
     labels::kSource, kNoBuckets},
    {MetricId::kStackCacheMisses, "sqtail_stack_category_cache_misses_total", MetricType::kCounter,
     "Categories taken from a stack trace that had to be parsed (not in the cache).",
     labels::kSource, kNoBuckets},
    // writer threads, one per sink
    {MetricId::kRecordsCommitted, "sqtail_records_committed_total", MetricType::kCounter,
     "Records (events and rejects) committed to the sink.", labels::kSink, kNoBuckets},
    {MetricId::kBatchesCommitted, "sqtail_batches_committed_total", MetricType::kCounter,
     "Batches committed to the sink, one transaction each.", labels::kSink, kNoBuckets},
    {MetricId::kCommitFailures, "sqtail_commit_failures_total", MetricType::kCounter,
     "Failed commit attempts; the batch is retried, never dropped.", labels::kSink, kNoBuckets},
    {MetricId::kBatchRows, "sqtail_batch_rows", MetricType::kHistogram,
     "Records per committed batch.", labels::kSink, buckets::kRows},
    {MetricId::kCommitDuration, "sqtail_commit_duration_seconds", MetricType::kHistogram,
     "Seconds one successful batch commit took.", labels::kSink, buckets::kCommitSeconds},
    {MetricId::kCommitLag, "sqtail_commit_lag_seconds", MetricType::kHistogram,
     "Seconds from reading a line (just after it was appended) to its commit, for the oldest "
     "line of each batch.",
     labels::kSink, buckets::kLagSeconds},
    // the SQLite writer thread: line sinks ([sink.files.*] by name, and stdout)
    {MetricId::kOutputLines, "sqtail_output_lines_total", MetricType::kCounter,
     "Lines written to a line sink (a category file sink or stdout), once per committed line.",
     labels::kSink, kNoBuckets},
    {MetricId::kOutputOpens, "sqtail_output_file_opens_total", MetricType::kCounter,
     "Output files opened by a file sink's handle pool.", labels::kSink, kNoBuckets},
    {MetricId::kOutputEvictions, "sqtail_output_file_evictions_total", MetricType::kCounter,
     "Output files closed to stay under max_open_files or after EMFILE (least recently used "
     "first).",
     labels::kSink, kNoBuckets},
    {MetricId::kOutputIdleCloses, "sqtail_output_file_idle_closes_total", MetricType::kCounter,
     "Output files closed after handle_idle without a write.", labels::kSink, kNoBuckets},
    {MetricId::kOutputEmfileRecoveries, "sqtail_output_file_emfile_recoveries_total",
     MetricType::kCounter,
     "Opens that hit EMFILE or ENFILE and succeeded after closing other output files.",
     labels::kSink, kNoBuckets},
    {MetricId::kOutputFilesOpen, "sqtail_output_files_open", MetricType::kGauge,
     "Output files a file sink holds open now.", labels::kSink, kNoBuckets},
    // tail thread: files and watches
    {MetricId::kFilesTracked, "sqtail_files_tracked", MetricType::kGauge,
     "Files tracked and held open, rotated or deleted ones still being drained included.",
     labels::kSource, kNoBuckets},
    {MetricId::kFilesRotated, "sqtail_files_rotated_total", MetricType::kCounter,
     "Files renamed away or replaced under their path (rotation); drained, then closed.",
     labels::kSource, kNoBuckets},
    {MetricId::kFilesTruncated, "sqtail_files_truncated_total", MetricType::kCounter,
     "Files found shorter than their read offset (copytruncate) and read again from the start.",
     labels::kSource, kNoBuckets},
    {MetricId::kDeletedFileBytes, "sqtail_deleted_file_bytes", MetricType::kGauge,
     "Bytes of deleted files still held open while their last lines are drained.", kNoLabels,
     kNoBuckets},
    {MetricId::kInotifyWatches, "sqtail_inotify_watches", MetricType::kGauge,
     "Directories watched with inotify.", kNoLabels, kNoBuckets},
    {MetricId::kInotifyOverflows, "sqtail_inotify_overflows_total", MetricType::kCounter,
     "inotify queue overflows, each followed by a full rescan.", kNoLabels, kNoBuckets},
    {MetricId::kPollingFallbacks, "sqtail_polling_fallbacks_total", MetricType::kCounter,
     "Times watching fell back to polling (inotify unavailable or its watch limit reached).",
     kNoLabels, kNoBuckets},
    {MetricId::kFileErrors, "sqtail_file_errors_total", MetricType::kCounter,
     "Failed attempts to open (op=\"open\", reading its first bytes to identify it included) or "
     "read (op=\"read\") a log file; each is tried again every poll_interval.",
     labels::kSourceOp, kNoBuckets},
    {MetricId::kFilesFailing, "sqtail_files_failing", MetricType::kGauge,
     "Log files whose last open or read failed and that wait for their next try.", kNoLabels,
     kNoBuckets},
    // memory budget
    {MetricId::kBufferedBytes, "sqtail_buffered_bytes", MetricType::kGauge,
     "Bytes read but not yet committed (the open batch and the hand-off to the sinks).", kNoLabels,
     kNoBuckets},
    {MetricId::kBufferCapBytes, "sqtail_buffer_cap_bytes", MetricType::kGauge,
     "max_buffer_bytes: the cap on sqtail_buffered_bytes.", kNoLabels, kNoBuckets},
    {MetricId::kBackpressureSeconds, "sqtail_backpressure_seconds_total", MetricType::kCounter,
     "Seconds reading was paused because the buffer was full (the sinks were behind).", kNoLabels,
     kNoBuckets, 1e-6},
    // read at scrape time
    {MetricId::kDbSizeBytes, "sqtail_db_size_bytes", MetricType::kGauge,
     "Size of the SQLite database file.", kNoLabels, kNoBuckets},
    {MetricId::kDbWalSizeBytes, "sqtail_db_wal_size_bytes", MetricType::kGauge,
     "Size of the SQLite write-ahead log (the -wal file).", kNoLabels, kNoBuckets},
    {MetricId::kResidentMemoryBytes, "sqtail_process_resident_memory_bytes", MetricType::kGauge,
     "Resident set size of the sqtail process.", kNoLabels, kNoBuckets},
    {MetricId::kCpuSeconds, "sqtail_process_cpu_seconds_total", MetricType::kCounter,
     "User and system CPU time used by the sqtail process.", kNoLabels, kNoBuckets, 1e-6},
    {MetricId::kBuildInfo, "sqtail_build_info", MetricType::kGauge,
     "Always 1; the version label says which sqtail is running.", labels::kVersion, kNoBuckets},
};

inline constexpr std::size_t kMetricCount = std::size(kMetrics);

constexpr const MetricSpec& spec(MetricId id) { return kMetrics[static_cast<std::size_t>(id)]; }

namespace detail {

constexpr bool isNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
constexpr bool isNameChar(char c) { return isNameStart(c) || (c >= '0' && c <= '9'); }
constexpr bool isName(std::string_view s) {
  if (s.empty() || !isNameStart(s[0])) return false;
  for (char c : s) {
    if (!isNameChar(c)) return false;
  }
  return true;
}
constexpr bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The rules Prometheus and its naming conventions ask for, checked when compiling.
constexpr bool tableIsValid() {
  for (std::size_t i = 0; i < kMetricCount; ++i) {
    const MetricSpec& m = kMetrics[i];
    if (static_cast<std::size_t>(m.id) != i) return false;
    if (!isName(m.name) || m.name.substr(0, 7) != "sqtail_" || m.help.empty()) return false;
    if (endsWith(m.name, "_total") != (m.type == MetricType::kCounter)) return false;
    if ((m.type == MetricType::kHistogram) == m.buckets.empty()) return false;
    for (std::size_t b = 1; b < m.buckets.size(); ++b) {
      if (!(m.buckets[b - 1] < m.buckets[b])) return false;
    }
    if (m.scale != 1 && m.type != MetricType::kCounter) return false;
    for (std::string_view label : m.labels) {
      if (!isName(label) || label.substr(0, 2) == "__" || label == "le") return false;
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (kMetrics[j].name == m.name) return false;
    }
  }
  return true;
}

}  // namespace detail

static_assert(detail::tableIsValid(),
              "kMetrics: ids in order, names unique and valid, counters (only) end in _total, "
              "histograms (only) have ascending buckets, label names valid and not 'le'");

}  // namespace sqtail::obs
