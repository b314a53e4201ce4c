// Owns what `sqtail top` shows: the facts read from /metrics or the stats DB, the rates made
// from two looks, and the screen they make. Pure data and formatting; any thread may call it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sqtail::cli::top {

// One sample line of the Prometheus text format: name{labels} value.
struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped values
  double value = 0;

  // The value of label `key`, or "" when the sample has none.
  std::string_view label(std::string_view key) const;
};

// Reads text format 0.0.4. Comments and lines it cannot read are skipped (a newer sqtail may
// add families this one does not know; they must not stop the view).
std::vector<Sample> parsePrometheus(std::string_view text);

// What /metrics says, summed per source and per sink. Counters are totals since sqtail
// started; rates come from two of these.
struct MetricsFacts {
  struct Source {
    double lines = 0, bytes = 0, files = 0;
  };
  struct Sink {
    double records = 0, batches = 0, failures = 0;
    double lag_sum = 0, lag_count = 0;        // sqtail_commit_lag_seconds
    double commit_sum = 0, commit_count = 0;  // sqtail_commit_duration_seconds
  };
  std::map<std::string, Source> sources;
  std::map<std::string, Sink> sinks;
  std::map<std::string, double> rejects;  // by reason
  std::optional<double> buffered, buffer_cap, backpressure_seconds, rss, cpu_seconds, db_size,
      wal_size, watches;
  std::string version;
};
MetricsFacts metricsFacts(const std::vector<Sample>& samples);

// What the stats DB says: the files table (committed offsets), the sizes of the files now,
// and the stats_minute rollup of the last minute.
struct DbFacts {
  struct File {
    std::string path, source, state;
    double lines = 0;   // events and rejects committed
    double offset = 0;  // first byte not yet committed
    double lag = 0;     // bytes written but not yet committed (current size - offset)
    double rejects = 0;
  };
  struct Minute {
    double lines = 0, bytes = 0;
  };
  std::map<std::int64_t, File> files;         // by files.id; only files still tracked
  std::map<std::string, Minute> last_minute;  // by source, events stamped in the window
  double minute_window_seconds = 60;
};

// One look at a running sqtail, from either place or both.
struct Snapshot {
  double at = 0;       // seconds on a monotonic clock
  std::string origin;  // "http://127.0.0.1:9099" or "sqtail.db"
  std::optional<MetricsFacts> metrics;
  std::optional<std::string> health;  // "ok" or "degraded: <reasons>"
  std::optional<DbFacts> db;
  std::vector<std::string> notes;  // why a part is missing ("endpoint ...: refused")
};

// One line of the screen; the style applies to the whole line on a terminal.
struct Line {
  enum class Style { kPlain, kTitle, kHeading, kAlert };
  std::string text;
  Style style = Style::kPlain;
};

struct ViewOptions {
  double interval_seconds = 1;
  std::string clock;         // "12:00:01", shown in the title
  bool interactive = false;  // keys work: the title says how to quit
  std::size_t max_files = 10;
};

// The screen for `now`, with rates against `before` (the previous look) when there is one:
// per source, per sink, rejects by reason, then the busiest files. A part without data says
// so on one line rather than showing zeros that look like facts.
std::vector<Line> compose(const Snapshot* before, const Snapshot& now, const ViewOptions& options);

// The screen drawn over the previous one with ANSI escapes: each line cut to `cols` columns,
// at most `rows` lines, the rest of the screen cleared.
std::string renderTerminal(const std::vector<Line>& lines, int cols, int rows);
// Plain lines without escapes, cut to `cols` columns and `rows` lines when those are > 0.
std::string renderPlain(const std::vector<Line>& lines, int cols = 0, int rows = 0);

// The first `cols` columns of `text` (UTF-8 code points count one column each).
std::string fitColumns(std::string_view text, int cols);
// "1.2 MiB", "118 KiB/s" (with suffix "/s"), "0 B".
std::string humanBytes(double bytes, std::string_view suffix = "");
// "1,204", "3.5", "0": a rate with a decimal only where it matters.
std::string humanRate(double per_second);

}  // namespace sqtail::cli::top
