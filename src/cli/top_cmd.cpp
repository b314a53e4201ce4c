// `sqtail top`: a live view of a running sqtail, like `vector top`. Reads /metrics (rates from
// two scrapes) and, when it can, the stats DB (lag, rejects and the busiest files, which the
// metrics do not break down per file). Plain ANSI escapes rather than curses: the screen is a
// few fixed tables redrawn once a second, which needs cursor moves and nothing else, and one
// dependency less is one package less on every box sqtail is ssh'd into.
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <simdjson.h>

#include "cli/command.hpp"
#include "cli/table.hpp"
#include "cli/top.hpp"
#include "config/config.hpp"
#include "obs/http_config.hpp"
#include "obs/metrics_table.hpp"
#include "sys/sys.hpp"

namespace sqtail::cli {
namespace top {

// ---- Prometheus text ------------------------------------------------------------------------

std::string_view Sample::label(std::string_view key) const {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return {};
}

namespace {

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == ':';
}

std::optional<double> parseValue(std::string_view text) {
  if (text == "+Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  if (text == "NaN") return std::nan("");
  std::string copy(text);  // strtod wants a terminated string
  char* end = nullptr;
  const double v = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size()) return std::nullopt;
  return v;
}

// One sample line; nullopt for anything else.
std::optional<Sample> parseSampleLine(std::string_view line) {
  Sample s;
  std::size_t i = 0;
  while (i < line.size() && isNameChar(line[i])) ++i;
  if (i == 0) return std::nullopt;
  s.name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    for (;;) {
      while (i < line.size() && (line[i] == ' ' || line[i] == ',')) ++i;
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      const std::size_t key_start = i;
      while (i < line.size() && isNameChar(line[i])) ++i;
      if (i == key_start || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
        return std::nullopt;
      }
      std::string key(line.substr(key_start, i - key_start));
      i += 2;
      std::string value;
      for (;; ++i) {
        if (i >= line.size()) return std::nullopt;
        if (line[i] == '"') break;
        if (line[i] == '\\' && i + 1 < line.size()) {
          ++i;
          value += line[i] == 'n' ? '\n' : line[i];
        } else {
          value += line[i];
        }
      }
      ++i;  // the closing quote
      s.labels.emplace_back(std::move(key), std::move(value));
    }
  }
  while (i < line.size() && line[i] == ' ') ++i;
  std::string_view rest = line.substr(i);
  rest = rest.substr(0, rest.find(' '));  // an optional timestamp follows
  auto v = parseValue(rest);
  if (!v) return std::nullopt;
  s.value = *v;
  return s;
}

}  // namespace

std::vector<Sample> parsePrometheus(std::string_view text) {
  std::vector<Sample> out;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    if (auto s = parseSampleLine(line)) out.push_back(std::move(*s));
  }
  return out;
}

MetricsFacts metricsFacts(const std::vector<Sample>& samples) {
  using obs::MetricId;
  const auto name = [](MetricId id) { return obs::spec(id).name; };
  const std::string lag_sum = std::string(name(MetricId::kCommitLag)) + "_sum";
  const std::string lag_count = std::string(name(MetricId::kCommitLag)) + "_count";
  const std::string commit_sum = std::string(name(MetricId::kCommitDuration)) + "_sum";
  const std::string commit_count = std::string(name(MetricId::kCommitDuration)) + "_count";
  MetricsFacts f;
  for (const Sample& s : samples) {
    const std::string source(s.label("source")), sink(s.label("sink"));
    if (s.name == name(MetricId::kLinesRead)) {
      f.sources[source].lines += s.value;
    } else if (s.name == name(MetricId::kBytesRead)) {
      f.sources[source].bytes += s.value;
    } else if (s.name == name(MetricId::kFilesTracked)) {
      f.sources[source].files += s.value;
    } else if (s.name == name(MetricId::kRejects)) {
      f.rejects[std::string(s.label("reason"))] += s.value;
    } else if (s.name == name(MetricId::kRecordsCommitted)) {
      f.sinks[sink].records += s.value;
    } else if (s.name == name(MetricId::kBatchesCommitted)) {
      f.sinks[sink].batches += s.value;
    } else if (s.name == name(MetricId::kCommitFailures)) {
      f.sinks[sink].failures += s.value;
    } else if (s.name == lag_sum) {
      f.sinks[sink].lag_sum += s.value;
    } else if (s.name == lag_count) {
      f.sinks[sink].lag_count += s.value;
    } else if (s.name == commit_sum) {
      f.sinks[sink].commit_sum += s.value;
    } else if (s.name == commit_count) {
      f.sinks[sink].commit_count += s.value;
    } else if (s.name == name(MetricId::kBufferedBytes)) {
      f.buffered = s.value;
    } else if (s.name == name(MetricId::kBufferCapBytes)) {
      f.buffer_cap = s.value;
    } else if (s.name == name(MetricId::kBackpressureSeconds)) {
      f.backpressure_seconds = s.value;
    } else if (s.name == name(MetricId::kResidentMemoryBytes)) {
      f.rss = s.value;
    } else if (s.name == name(MetricId::kCpuSeconds)) {
      f.cpu_seconds = s.value;
    } else if (s.name == name(MetricId::kDbSizeBytes)) {
      f.db_size = s.value;
    } else if (s.name == name(MetricId::kDbWalSizeBytes)) {
      f.wal_size = s.value;
    } else if (s.name == name(MetricId::kInotifyWatches)) {
      f.watches = s.value;
    } else if (s.name == name(MetricId::kBuildInfo)) {
      f.version = std::string(s.label("version"));
    }
  }
  return f;
}

// ---- Formatting ---------------------------------------------------------------------------

namespace {

bool isContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::size_t columns(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return !isContinuation(c); }));
}

// The last `cols` columns of `text`, "..." in front when cut: the end of a path names the file.
std::string fitTail(std::string_view text, std::size_t cols) {
  if (columns(text) <= cols) return std::string(text);
  if (cols <= 3) return std::string(cols, '.');
  std::size_t keep = cols - 3, start = text.size();
  while (keep > 0 && start > 0) {
    --start;
    if (!isContinuation(text[start])) --keep;
  }
  return "..." + std::string(text.substr(start));
}

std::string cell(std::string_view text, std::size_t width, bool right) {
  std::string t = right ? std::string(text) : fitTail(text, width);
  const std::size_t w = columns(t);
  if (w >= width) return t;
  return right ? std::string(width - w, ' ') + t : t + std::string(width - w, ' ');
}

// A table row: the first column left-aligned (cut to fit), the others right-aligned.
std::string row(const std::vector<std::string>& cells, const std::vector<std::size_t>& widths) {
  std::string out;
  for (std::size_t c = 0; c < cells.size() && c < widths.size(); ++c) {
    if (c) out += "  ";
    out += cell(cells[c], widths[c], c > 0);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// Counters only grow while one sqtail runs; a smaller value means it restarted, and then the
// new total is what happened since (as Prometheus's rate() reads a reset).
double perSecond(double now, double before, double seconds) {
  if (seconds <= 0) return 0;
  return (now >= before ? now - before : now) / seconds;
}

constexpr const char* kNone = "-";

}  // namespace

std::string fitColumns(std::string_view text, int cols) {
  if (cols <= 0) return {};
  std::size_t left = static_cast<std::size_t>(cols), end = 0;
  for (; end < text.size(); ++end) {
    if (isContinuation(text[end])) continue;
    if (left == 0) break;
    --left;
  }
  return std::string(text.substr(0, end));
}

std::string humanBytes(double bytes, std::string_view suffix) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t u = 0;
  while (std::abs(bytes) >= 1024 && u + 1 < std::size(kUnits)) {
    bytes /= 1024;
    ++u;
  }
  if (u == 0) return fmt::format("{:.0f} B{}", bytes, suffix);
  return fmt::format("{:.1f} {}{}", bytes, kUnits[u], suffix);
}

std::string humanRate(double per_second) {
  if (per_second <= 0) return "0";
  if (per_second < 10 && std::round(per_second * 10) != std::round(per_second) * 10) {
    return fmt::format("{:.1f}", per_second);
  }
  return thousands(std::llround(per_second));
}

// ---- The screen ---------------------------------------------------------------------------

namespace {

struct SourceRow {
  std::optional<double> files, lines_rate, bytes_rate, lag, rejects;
};

struct FileRow {
  const DbFacts::File* file;
  std::optional<double> lines_rate, bytes_rate;
};

std::string orNone(const std::optional<double>& v, std::string (*format)(double)) {
  return v ? format(*v) : kNone;
}
std::string bytesRate(double v) { return humanBytes(v, "/s"); }
std::string bytes(double v) { return humanBytes(v); }
std::string count(double v) { return thousands(std::llround(v)); }
std::string seconds(double v) {
  if (v < 0.001) return fmt::format("{:.0f}us", v * 1e6);
  return v < 1 ? fmt::format("{:.0f}ms", v * 1000) : fmt::format("{:.2f}s", v);
}
// The refresh period as it was given: "1s", "250ms".
std::string period(double v) {
  const auto ms = std::llround(v * 1000);
  return ms % 1000 == 0 ? fmt::format("{}s", ms / 1000) : fmt::format("{}ms", ms);
}

// Per file: lines and bytes committed since `before`. A file new since then counts from 0; a
// file whose offset went back was truncated and read again from 0.
std::map<std::int64_t, std::pair<double, double>> fileDeltas(const DbFacts& now,
                                                             const DbFacts* before) {
  std::map<std::int64_t, std::pair<double, double>> out;
  if (before == nullptr) return out;
  for (const auto& [id, f] : now.files) {
    auto it = before->files.find(id);
    const double lines0 = it == before->files.end() ? 0 : it->second.lines;
    const double offset0 = it == before->files.end() ? 0 : it->second.offset;
    out[id] = {f.lines >= lines0 ? f.lines - lines0 : f.lines,
               f.offset >= offset0 ? f.offset - offset0 : f.offset};
  }
  return out;
}

}  // namespace

std::vector<Line> compose(const Snapshot* before, const Snapshot& now, const ViewOptions& o) {
  std::vector<Line> out;
  auto add = [&](std::string text, Line::Style style = Line::Style::kPlain) {
    out.push_back(Line{std::move(text), style});
  };
  const double dt = before ? now.at - before->at : 0;
  const MetricsFacts* m = now.metrics ? &*now.metrics : nullptr;
  const MetricsFacts* m0 = before && before->metrics && m ? &*before->metrics : nullptr;
  const DbFacts* d = now.db ? &*now.db : nullptr;
  const DbFacts* d0 = before && before->db && d ? &*before->db : nullptr;

  add(fmt::format("sqtail top  {}  {}  every {}{}", now.origin, o.clock, period(o.interval_seconds),
                  o.interactive ? "  (q quits)" : ""),
      Line::Style::kTitle);
  if (m) {
    std::string l = m->version.empty() ? "sqtail" : "sqtail " + m->version;
    if (now.health) l += "  health " + *now.health;
    if (m->buffered) {
      l += "  buffer " + bytes(*m->buffered);
      if (m->buffer_cap) l += " of " + bytes(*m->buffer_cap);
    }
    if (m0 && m->backpressure_seconds && m0->backpressure_seconds) {
      const double paused = perSecond(*m->backpressure_seconds, *m0->backpressure_seconds, dt);
      l += fmt::format("  backpressure {:.0f}%", std::min(100.0, paused * 100));
    }
    add(std::move(l),
        now.health && *now.health != "ok" ? Line::Style::kAlert : Line::Style::kPlain);
    std::string p;
    if (m->rss) p += "rss " + bytes(*m->rss);
    if (m0 && m->cpu_seconds && m0->cpu_seconds) {
      p += fmt::format("  cpu {:.0f}%", perSecond(*m->cpu_seconds, *m0->cpu_seconds, dt) * 100);
    }
    if (m->db_size) p += "  db " + bytes(*m->db_size);
    if (m->wal_size) p += "  wal " + bytes(*m->wal_size);
    if (m->watches) p += "  watches " + count(*m->watches);
    add(std::move(p));
  }
  for (const auto& note : now.notes) add(note, Line::Style::kAlert);
  if (!m && !d) return out;
  if (!m0 && m) add("rates from the next refresh on");

  // Per source: rates from the metrics (every line read), else from the DB's committed
  // offsets, else from the rollup of the last minute; lag and rejects only the DB knows.
  std::map<std::string, SourceRow> sources;
  const auto deltas = d ? fileDeltas(*d, d0) : decltype(fileDeltas(*d, d0)){};
  if (m) {
    for (const auto& [name, s] : m->sources) {
      SourceRow& r = sources[name];
      r.files = s.files;
      if (m0) {
        auto it = m0->sources.find(name);
        const MetricsFacts::Source zero;
        const auto& s0 = it == m0->sources.end() ? zero : it->second;
        r.lines_rate = perSecond(s.lines, s0.lines, dt);
        r.bytes_rate = perSecond(s.bytes, s0.bytes, dt);
      }
    }
  }
  if (d) {
    for (const auto& [id, f] : d->files) {
      SourceRow& r = sources[f.source];
      if (!m) r.files = r.files.value_or(0) + 1;
      r.lag = r.lag.value_or(0) + f.lag;
      r.rejects = r.rejects.value_or(0) + f.rejects;
      if (!m && d0) {
        const auto& [lines, offset] = deltas.at(id);
        r.lines_rate = r.lines_rate.value_or(0) + lines / dt;
        r.bytes_rate = r.bytes_rate.value_or(0) + offset / dt;
      }
    }
    if (!m && !d0) {
      for (auto& [name, r] : sources) {
        auto it = d->last_minute.find(name);
        const DbFacts::Minute zero;
        const auto& minute = it == d->last_minute.end() ? zero : it->second;
        r.lines_rate = minute.lines / d->minute_window_seconds;
        r.bytes_rate = minute.bytes / d->minute_window_seconds;
      }
    }
  }
  add("");
  const std::vector<std::size_t> source_widths{20, 5, 9, 12, 10, 9};
  add(row({"SOURCE", "FILES", "LINES/S", "BYTES/S", "LAG", "REJECTS"}, source_widths),
      Line::Style::kHeading);
  if (sources.empty()) add("(no sources yet)");
  for (const auto& [name, r] : sources) {
    add(row({name, orNone(r.files, count), orNone(r.lines_rate, humanRate),
             orNone(r.bytes_rate, bytesRate), orNone(r.lag, bytes), orNone(r.rejects, count)},
            source_widths));
  }

  // Per sink: only the metrics know about commits; the DB alone tells what was committed.
  add("");
  const std::vector<std::size_t> sink_widths{14, 9, 9, 10, 11, 8};
  add(row({"SINK", "RECORDS/S", "BATCHES/S", "COMMIT LAG", "COMMIT TIME", "FAILURES"}, sink_widths),
      Line::Style::kHeading);
  if (m) {
    if (m->sinks.empty()) add("(no sinks yet)");
    for (const auto& [name, s] : m->sinks) {
      const MetricsFacts::Sink zero;
      const MetricsFacts::Sink* s0 = &zero;
      if (m0) {
        auto it = m0->sinks.find(name);
        if (it != m0->sinks.end()) s0 = &it->second;
      }
      // Lag and commit time are means over the batches committed since the last look (or
      // since sqtail started, on the first look); "-" when none was.
      auto mean = [](double sum, double n) -> std::optional<double> {
        return n > 0 ? std::optional<double>(sum / n) : std::nullopt;
      };
      const auto lag = m0 ? mean(s.lag_sum - s0->lag_sum, s.lag_count - s0->lag_count)
                          : mean(s.lag_sum, s.lag_count);
      const auto commit =
          m0 ? mean(s.commit_sum - s0->commit_sum, s.commit_count - s0->commit_count)
             : mean(s.commit_sum, s.commit_count);
      const bool failing = m0 && s.failures > s0->failures;
      add(row({name, m0 ? humanRate(perSecond(s.records, s0->records, dt)) : kNone,
               m0 ? humanRate(perSecond(s.batches, s0->batches, dt)) : kNone, orNone(lag, seconds),
               orNone(commit, seconds), count(s.failures)},
              sink_widths),
          failing ? Line::Style::kAlert : Line::Style::kPlain);
    }
  } else {
    double rate = 0;
    if (d0) {
      for (const auto& [id, delta] : deltas) rate += delta.first / dt;
    } else {
      for (const auto& [name, minute] : d->last_minute) rate += minute.lines;
      rate /= d->minute_window_seconds;
    }
    add(row({"sqlite", humanRate(rate), kNone, kNone, kNone, kNone}, sink_widths));
  }

  if (m) {
    std::string l = "rejects";
    for (const auto& [reason, n] : m->rejects) {
      if (n <= 0) continue;
      l += fmt::format("  {} {}", reason, count(n));
      if (m0) {
        auto it = m0->rejects.find(reason);
        const double r = perSecond(n, it == m0->rejects.end() ? 0 : it->second, dt);
        if (r > 0) l += fmt::format(" ({}/s)", humanRate(r));
      }
    }
    add("");
    add(l == "rejects" ? "rejects  none" : l);
  }

  add("");
  const std::vector<std::size_t> file_widths{40, 9, 12, 10};
  add(row({"BUSIEST FILES", "LINES/S", "BYTES/S", "LAG"}, file_widths), Line::Style::kHeading);
  if (!d) {
    add("(the files need the DB: give --db)");
    return out;
  }
  std::vector<FileRow> files;
  for (const auto& [id, f] : d->files) {
    FileRow r{&f, std::nullopt, std::nullopt};
    if (d0) {
      r.lines_rate = deltas.at(id).first / dt;
      r.bytes_rate = deltas.at(id).second / dt;
    }
    files.push_back(r);
  }
  // Busiest first: most lines per second, then furthest behind, then the most lines ever.
  std::sort(files.begin(), files.end(), [](const FileRow& a, const FileRow& b) {
    const double ra = a.lines_rate.value_or(0), rb = b.lines_rate.value_or(0);
    if (ra != rb) return ra > rb;
    if (a.file->lag != b.file->lag) return a.file->lag > b.file->lag;
    if (a.file->lines != b.file->lines) return a.file->lines > b.file->lines;
    return a.file->path < b.file->path;
  });
  if (files.empty()) add("(no files tracked yet)");
  for (std::size_t i = 0; i < files.size() && i < o.max_files; ++i) {
    const FileRow& r = files[i];
    add(row({r.file->path, orNone(r.lines_rate, humanRate), orNone(r.bytes_rate, bytesRate),
             bytes(r.file->lag)},
            file_widths));
  }
  if (files.size() > o.max_files && !o.interactive) {
    add(fmt::format("({} more files)", files.size() - o.max_files));
  }
  return out;
}

namespace {

std::string_view styleOn(Line::Style style) {
  switch (style) {
    case Line::Style::kTitle:
      return "\x1b[7m";  // reverse video: a bar that reads on any colour scheme
    case Line::Style::kHeading:
      return "\x1b[1m";
    case Line::Style::kAlert:
      return "\x1b[1;31m";
    case Line::Style::kPlain:
      break;
  }
  return {};
}

}  // namespace

std::string renderTerminal(const std::vector<Line>& lines, int cols, int rows) {
  std::string out;
  const int shown = std::min<int>(rows, static_cast<int>(lines.size()));
  for (int i = 0; i < shown; ++i) {
    const Line& line = lines[static_cast<std::size_t>(i)];
    std::string text = fitColumns(line.text, cols);
    if (line.style == Line::Style::kTitle) {
      text += std::string(static_cast<std::size_t>(cols) - columns(text), ' ');
    }
    // Each row is placed and cleared before it is written: clearing after a row that fills
    // the last column would erase that column's character (the cursor waits on it).
    out += fmt::format("\x1b[{};1H\x1b[2K", i + 1);
    const std::string_view on = styleOn(line.style);
    out += on;
    out += text;
    if (!on.empty()) out += "\x1b[0m";
  }
  if (shown < rows) out += fmt::format("\x1b[{};1H\x1b[J", shown + 1);
  return out;
}

std::string renderPlain(const std::vector<Line>& lines, int cols, int rows) {
  std::string out;
  int n = 0;
  for (const Line& line : lines) {
    if (rows > 0 && n++ >= rows) break;
    out += cols > 0 ? fitColumns(line.text, cols) : line.text;
    out += '\n';
  }
  return out;
}

}  // namespace top

// ---- Reading sqtail -----------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;

double monotonicSeconds() {
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

std::string wallClock() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  return fmt::format("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

struct Endpoint {
  std::string host;
  int port = 0;
  std::string url() const {
    return host.find(':') != std::string::npos ? fmt::format("http://[{}]:{}", host, port)
                                               : fmt::format("http://{}:{}", host, port);
  }
};

// Takes one look at a time: scrapes the endpoint when there is one, reads the DB when it is
// there. Call from one thread.
class Looker {
 public:
  Looker(std::optional<Endpoint> endpoint, std::string db)
      : endpoint_(std::move(endpoint)), db_path_(std::move(db)) {
    if (endpoint_) {
      client_ = std::make_unique<httplib::Client>(endpoint_->host, endpoint_->port);
      // The endpoint serves one request at a time within 3 s; a view that hangs on it is worse
      // than one that says it could not reach it.
      client_->set_connection_timeout(0, 500'000);
      client_->set_read_timeout(2, 0);
      client_->set_keep_alive(false);
    }
  }

  bool hasEndpoint() const { return endpoint_.has_value(); }

  top::Snapshot look() {
    top::Snapshot s;
    s.at = monotonicSeconds();
    s.origin = endpoint_ ? endpoint_->url() : db_path_;
    if (endpoint_) scrape(s);
    readDb(s, /*quiet_when_missing=*/s.metrics.has_value() && !db_given_);
    if (!s.metrics && s.db && endpoint_) s.origin = db_path_;
    return s;
  }

  void dbGiven(bool given) { db_given_ = given; }

 private:
  void scrape(top::Snapshot& s) {
    auto res = client_->Get("/metrics");
    if (!res || res->status != 200) {
      const std::string why =
          res ? fmt::format("HTTP {}", res->status) : httplib::to_string(res.error());
      s.notes.push_back(fmt::format("endpoint {}: {}; showing the DB", endpoint_->url(), why));
      return;
    }
    s.metrics = top::metricsFacts(top::parsePrometheus(res->body));
    if (auto h = client_->Get("/health"); h && !h->body.empty()) s.health = healthText(h->body);
  }

  static std::string healthText(const std::string& body) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body).get(doc)) return "unknown";
    std::string_view status;
    if (doc["status"].get(status)) return "unknown";
    std::string text(status);
    simdjson::dom::array reasons;
    if (!doc["reasons"].get(reasons)) {
      const char* sep = ": ";
      for (auto r : reasons) {
        std::string_view reason;
        if (r.get(reason)) continue;
        text += sep;
        text += reason;
        sep = "; ";
      }
    }
    return text;
  }

  void readDb(top::Snapshot& s, bool quiet_when_missing) {
    struct stat st {};
    if (::stat(db_path_.c_str(), &st) != 0) {
      db_.reset();
      if (!quiet_when_missing) {
        s.notes.push_back(fmt::format("no database at '{}' (--db names it)", db_path_));
      }
      return;
    }
    try {
      if (!db_) {
        db_.emplace(db_path_, SQLite::OPEN_READONLY);
        // The writer holds its lock for one batch; a refresh may wait a little, not stall.
        db_->setBusyTimeout(200);
      }
      top::DbFacts facts;
      SQLite::Statement files(*db_,
                              "SELECT id, source, path, state, size, offset, lines, rejects, "
                              "inode FROM files WHERE state <> 'gone'");
      while (files.executeStep()) {
        top::DbFacts::File f;
        f.source = files.getColumn(1).getString();
        f.path = files.getColumn(2).getString();
        f.state = files.getColumn(3).getString();
        double size = static_cast<double>(files.getColumn(4).getInt64());
        f.offset = static_cast<double>(files.getColumn(5).getInt64());
        f.rejects = static_cast<double>(files.getColumn(7).getInt64());
        f.lines = static_cast<double>(files.getColumn(6).getInt64()) + f.rejects;
        // Lag against the file as it is now, when the path still names the same file (as
        // `sqtail files` does).
        struct stat now {};
        if (f.state == "active" && ::stat(f.path.c_str(), &now) == 0 &&
            static_cast<std::int64_t>(now.st_ino) == files.getColumn(8).getInt64()) {
          size = static_cast<double>(now.st_size);
        }
        f.lag = std::max(0.0, size - f.offset);
        facts.files.emplace(files.getColumn(0).getInt64(), std::move(f));
      }
      // The rollup counts lines by the minute of their timestamp: the last whole minute and
      // this one so far.
      const std::int64_t now_ms = nowMillis();
      const std::int64_t first_minute = now_ms / 60000 - 1;
      facts.minute_window_seconds = static_cast<double>(now_ms - first_minute * 60000) / 1000;
      SQLite::Statement minute(*db_,
                               "SELECT source, sum(lines), sum(bytes) FROM stats_minute "
                               "WHERE minute >= ?1 GROUP BY source");
      minute.bind(1, first_minute);
      while (minute.executeStep()) {
        facts.last_minute[minute.getColumn(0).getString()] = {
            static_cast<double>(minute.getColumn(1).getInt64()),
            static_cast<double>(minute.getColumn(2).getInt64())};
      }
      s.db = std::move(facts);
    } catch (const SQLite::Exception& e) {
      db_.reset();  // open it again next time: the file may have been replaced
      s.notes.push_back(fmt::format("database '{}': {}", db_path_, e.what()));
    }
  }

  std::optional<Endpoint> endpoint_;
  std::unique_ptr<httplib::Client> client_;
  std::string db_path_;
  bool db_given_ = false;
  std::optional<SQLite::Database> db_;
};

// ---- The terminal -------------------------------------------------------------------------

struct WindowSize {
  int cols = 80, rows = 24;
};

WindowSize windowSize() {
  winsize ws{};
  WindowSize out;
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
    out.cols = ws.ws_col;
    out.rows = ws.ws_row;
  }
  return out;
}

bool writeOut(std::string_view text) {
  return static_cast<bool>(sys::writeAll(STDOUT_FILENO, text.data(), text.size()));
}

// Raw keyboard (no line buffering, no echo) and the alternate screen while it lives. Signals
// stay on (ISIG): Ctrl-C arrives as SIGINT, which the loop takes and then restores all this.
class TerminalSession {
 public:
  TerminalSession() {
    raw_ = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved_) == 0;
    enter();
  }
  ~TerminalSession() { leave(); }
  TerminalSession(const TerminalSession&) = delete;
  TerminalSession& operator=(const TerminalSession&) = delete;

  bool keyboard() const { return raw_; }

  void enter() {
    if (raw_) {
      termios t = saved_;
      t.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
      t.c_cc[VMIN] = 1;
      t.c_cc[VTIME] = 0;
      ::tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
    writeOut("\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J");  // alternate screen, cursor hidden
    active_ = true;
  }

  void leave() {
    if (!active_) return;
    writeOut("\x1b[0m\x1b[?25h\x1b[?1049l");
    if (raw_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    active_ = false;
  }

 private:
  termios saved_{};
  bool raw_ = false;
  bool active_ = false;
};

struct TopOptions {
  std::string config_path, http, db, interval = "1s";
  bool once = false;
  std::size_t files = 10;
};

int interactive(Looker& looker, top::ViewOptions view) {
  // Taken from a signalfd in the loop, so that the terminal is restored on the way out
  // rather than left raw by a handler that cannot safely do it.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGTSTP}) sigaddset(&sigs, sig);
  sigset_t old;
  ::sigprocmask(SIG_BLOCK, &sigs, &old);
  sys::Fd sigfd(::signalfd(-1, &sigs, SFD_CLOEXEC));
  if (!sigfd) {
    fmt::print(stderr, "sqtail: signalfd: {}\n", std::strerror(errno));
    return 1;
  }

  int status = 0;
  {
    TerminalSession term;
    view.interactive = term.keyboard();
    std::optional<top::Snapshot> before;
    std::vector<top::Line> screen;
    const auto interval = std::chrono::duration<double>(view.interval_seconds);
    auto next = Clock::now();
    auto draw = [&] {
      const WindowSize ws = windowSize();
      return writeOut(top::renderTerminal(screen, ws.cols, ws.rows));
    };
    bool stdin_open = term.keyboard();
    for (bool running = true; running;) {
      if (Clock::now() >= next) {
        top::Snapshot now = looker.look();
        const WindowSize ws = windowSize();
        view.clock = wallClock();
        view.max_files = static_cast<std::size_t>(ws.rows);  // the screen cuts the rest
        screen = top::compose(before ? &*before : nullptr, now, view);
        if (now.metrics || now.db) before = std::move(now);
        if (!draw()) break;  // the terminal is gone (ssh dropped)
        next += std::chrono::duration_cast<Clock::duration>(interval);
        if (next < Clock::now())
          next = Clock::now() + std::chrono::duration_cast<Clock::duration>(interval);
      }
      pollfd fds[2] = {{sigfd.get(), POLLIN, 0}, {stdin_open ? STDIN_FILENO : -1, POLLIN, 0}};
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now());
      const int n = ::poll(fds, 2, static_cast<int>(std::max<std::int64_t>(0, wait.count())));
      if (n < 0 && errno != EINTR) break;
      if (n <= 0) continue;
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        char keys[64];
        const ssize_t got = ::read(STDIN_FILENO, keys, sizeof keys);
        if (got <= 0) {
          stdin_open = false;  // no keyboard any more; signals still stop the view
        } else if (std::find_if(keys, keys + got, [](char c) { return c == 'q' || c == 'Q'; }) !=
                   keys + got) {
          running = false;
        }
      }
      if (fds[0].revents & POLLIN) {
        signalfd_siginfo si{};
        if (::read(sigfd.get(), &si, sizeof si) != static_cast<ssize_t>(sizeof si)) continue;
        const int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGWINCH) {
          draw();
        } else if (sig == SIGTSTP) {
          // Ctrl-Z: give the shell its terminal back as it was, stop, and take it again on fg.
          term.leave();
          ::kill(::getpid(), SIGSTOP);
          term.enter();
          draw();
        } else {
          status = sig == SIGINT ? 0 : 128 + sig;  // Ctrl-C is how people quit a top
          running = false;
        }
      }
    }
  }
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  return status;
}

int plain(Looker& looker, top::ViewOptions view, bool once) {
  const bool tty = ::isatty(STDOUT_FILENO);
  const auto interval = std::chrono::duration<double>(view.interval_seconds);
  std::optional<top::Snapshot> before;
  auto next = Clock::now();
  for (bool first = true;; first = false) {
    std::this_thread::sleep_until(next);
    next += std::chrono::duration_cast<Clock::duration>(interval);
    top::Snapshot now = looker.look();
    // Rates from the endpoint need two scrapes: the first block waits for the second.
    if (now.metrics && !before) {
      before = std::move(now);
      continue;
    }
    view.clock = wallClock();
    const auto lines = top::compose(before ? &*before : nullptr, now, view);
    const WindowSize ws = windowSize();
    std::string text = top::renderPlain(lines, tty ? ws.cols : 0, tty && once ? ws.rows : 0);
    if (!first && !once) text = "\n" + text;
    if (!writeOut(text)) return 1;
    if (once) return now.metrics || now.db ? 0 : 1;
    if (now.metrics || now.db) before = std::move(now);
  }
}

int runTop(const TopOptions& o) {
  config::Config cfg;
  if (!o.config_path.empty()) {
    auto loaded = config::loadFile(o.config_path);
    if (!loaded) {
      fmt::print(stderr, "sqtail: {}\n", loaded.error().message);
      return 2;
    }
    cfg = std::move(*loaded);
  }
  auto every = config::parseDuration(o.interval);
  if (!every || every->count() < 100) {
    fmt::print(stderr, "sqtail: --interval '{}': expected a duration of 100ms or more, like 1s\n",
               o.interval);
    return 2;
  }
  std::optional<Endpoint> endpoint;
  if (!o.http.empty()) {
    auto listen = obs::parseListen(o.http);
    if (!listen || listen->port == 0) {
      fmt::print(stderr, "sqtail: --http: {}\n",
                 listen ? "give the port sqtail listens on, not 0" : listen.error());
      return 2;
    }
    endpoint = Endpoint{listen->host, listen->port};
  } else if (cfg.http && cfg.http->port != 0) {
    endpoint = Endpoint{cfg.http->host, cfg.http->port};
  }
  // A wildcard listen address is reached through loopback.
  if (endpoint && (endpoint->host == "0.0.0.0" || endpoint->host.empty())) {
    endpoint->host = "127.0.0.1";
  } else if (endpoint && endpoint->host == "::") {
    endpoint->host = "::1";
  }
  Looker looker(endpoint, o.db.empty() ? cfg.db.string() : o.db);
  looker.dbGiven(!o.db.empty() || !o.config_path.empty());

  top::ViewOptions view;
  view.interval_seconds = static_cast<double>(every->count()) / 1000;
  view.max_files = o.files;
  if (o.once || !::isatty(STDOUT_FILENO)) return plain(looker, view, o.once);
  return interactive(looker, view);
}

}  // namespace

void addTopCommand(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "top", "Live view of a running sqtail: rates per source and sink, lag, busiest files");
  auto o = std::make_shared<TopOptions>();
  cmd->add_option("--http", o->http,
                  "The /metrics endpoint, host:port (default: [http] listen of --config; "
                  "without one, the DB alone)");
  cmd->add_option("--db", o->db, "SQLite database file (default: the config's, or sqtail.db)");
  cmd->add_option("-c,--config", o->config_path, "Take the endpoint and the DB from this config");
  cmd->add_option("--interval", o->interval, "Refresh period (default 1s)");
  cmd->add_option("--files", o->files, "Busiest files listed without a terminal (default 10)");
  cmd->add_flag("--once", o->once, "Print one screen and exit");
  cmd->callback([&action, o] { action = [o] { return runTop(*o); }; });
}

}  // namespace sqtail::cli
