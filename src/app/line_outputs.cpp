#include "app/line_outputs.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "obs/log.hpp"

namespace sqtail::app {

tl::expected<std::unique_ptr<LineOutputs>, std::string> LineOutputs::open(
    const config::Config& config) {
  std::unique_ptr<LineOutputs> out(new LineOutputs());
  // Output files may take a quarter of the descriptors at most: the source files, the
  // database and the HTTP endpoint need theirs (the pool still recovers from EMFILE).
  rlimit limit{};
  std::uint64_t share = 1 << 20;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      !config.file_sinks.empty()) {
    share = std::max<std::uint64_t>(2, limit.rlim_cur / 4 / config.file_sinks.size());
  }
  for (const auto& f : config.file_sinks) {
    auto zone = sink::TimeZone::load(f.timezone);
    if (!zone) {
      return tl::unexpected(fmt::format("key 'sink.files.{}.timezone': {}", f.name, zone.error()));
    }
    auto tmpl = sink::PathTemplate::parse(f.path, *zone);
    if (!tmpl) {
      return tl::unexpected(fmt::format("key 'sink.files.{}.path': {}", f.name, tmpl.error()));
    }
    if (f.max_open_files > share) {
      obs::log::info(
          "files:{}: max_open_files {} lowered to {} (a quarter of the descriptor "
          "limit {})",
          f.name, f.max_open_files, share, limit.rlim_cur);
    }
    sink::FileSink::Settings settings{
        f.name,           f.dir,
        std::move(*tmpl), static_cast<std::size_t>(std::min(f.max_open_files, share)),
        f.handle_idle,    f.sync};
    File file;
    file.name = f.name;
    file.sink = std::make_unique<sink::FileSink>(std::move(settings));
    out->files_.push_back(std::move(file));
  }
  out->done_.assign(out->files_.size() + 1, false);
  out->grouped_.resize(out->files_.size());
  return out;
}

LineOutputs::~LineOutputs() = default;

tl::expected<void, std::string> LineOutputs::recover(
    const std::vector<sink::OutputLength>& committed) {
  for (auto& f : files_) {
    std::vector<sink::FileSink::Length> mine;
    for (const auto& c : committed) {
      if (c.sink == f.name) mine.push_back(sink::FileSink::Length{c.path, c.length});
    }
    auto report = f.sink->recover(mine);
    if (!report) return tl::unexpected(fmt::format("files:{}: {}", f.name, report.error()));
    for (const auto& t : report->truncated) {
      obs::log::info(
          "files:{}: {} cut from {} back to {} bytes, its committed length (the "
          "lines after it are written again)",
          f.name, t.rel_path, t.from, t.to);
    }
    for (const auto& warning : report->warnings) obs::log::warn("files:{}: {}", f.name, warning);
  }
  return {};
}

void LineOutputs::nextBatch() {
  done_.assign(files_.size() + 1, false);
  lengths_.clear();
}

tl::expected<std::vector<sink::OutputLength>, std::string> LineOutputs::write(
    const sink::Batch& batch, sink::SqliteSink& db) {
  for (auto& g : grouped_) g.clear();
  bool to_stdout = false;
  for (const auto& o : batch.outputs) {
    if (o.sink == sink::OutputRow::kStdout) {
      to_stdout = true;
    } else if (o.sink < grouped_.size()) {
      grouped_[o.sink].push_back(sink::FileSink::Output{batch.view(o.path), batch.view(o.line)});
    } else {
      // Routes name the sinks this writer opened at start-up (a reload cannot add one).
      return tl::unexpected(fmt::format("a route names file sink #{}, which is not open", o.sink));
    }
  }
  for (std::size_t i = 0; i < files_.size(); ++i) {
    if (done_[i] || grouped_[i].empty()) continue;
    auto& f = files_[i];
    // A file written for the first time: its length before this batch is committed first,
    // or a crash before the batch commits would leave its lines there to be written again.
    const auto before = f.sink->lengthsBefore(grouped_[i]);
    if (!before) return tl::unexpected(fmt::format("files:{}: {}", f.name, before.error()));
    if (!before->empty()) {
      std::vector<sink::OutputLength> rows;
      for (const auto& b : *before) {
        rows.push_back(sink::OutputLength{f.name, b.rel_path, b.length});
      }
      if (auto saved = db.saveOutputLengths(rows); !saved) {
        return tl::unexpected(fmt::format("files:{}: {}", f.name, saved.error().message));
      }
    }
    auto written = f.sink->write(grouped_[i]);
    if (!written) {
      return tl::unexpected(fmt::format("files:{}: {}", f.name, written.error()));
    }
    for (auto& l : *written) {
      lengths_.push_back(sink::OutputLength{f.name, std::move(l.rel_path), l.length});
    }
    f.lines += grouped_[i].size();
    done_[i] = true;
  }
  if (to_stdout && !done_[files_.size()]) {
    // At least once: stdout keeps no checkpoint, so lines of a batch that a crash keeps from
    // committing are printed again after the restart.
    std::string text;
    for (const auto& o : batch.outputs) {
      if (o.sink != sink::OutputRow::kStdout) continue;
      text.append(batch.view(o.line));
      text += '\n';
      ++stdout_lines_;
    }
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() ||
        std::fflush(stdout) != 0) {
      // A closed pipe is no reason to stop the other sinks: the lines are dropped for stdout.
      obs::log::warn("stdout: {}; its lines are dropped", std::strerror(errno));
      std::clearerr(stdout);
    }
    done_[files_.size()] = true;
  }
  publish();
  return lengths_;
}

void LineOutputs::tick() {
  for (auto& f : files_) f.sink->closeIdle(std::chrono::steady_clock::now());
  publish();
}

void LineOutputs::attachMetrics(obs::Registry& registry) {
  auto resolve = [&](std::string_view name) {
    Published p;
    p.lines = registry.counter(obs::MetricId::kOutputLines, {name});
    p.opens = registry.counter(obs::MetricId::kOutputOpens, {name});
    p.evictions = registry.counter(obs::MetricId::kOutputEvictions, {name});
    p.idle_closes = registry.counter(obs::MetricId::kOutputIdleCloses, {name});
    p.emfile_recoveries = registry.counter(obs::MetricId::kOutputEmfileRecoveries, {name});
    p.open_now = registry.gauge(obs::MetricId::kOutputFilesOpen, {name});
    return p;
  };
  for (auto& f : files_) f.metrics = resolve("files:" + f.name);
  stdout_metrics_ = resolve("stdout");
  attached_ = true;
}

void LineOutputs::publish() {
  if (!attached_) return;
  // The pool counts in plain integers; /metrics gets the growth since the last call.
  auto add = [](obs::Counter& c, std::uint64_t now, std::uint64_t& seen) {
    if (now > seen) c.add(now - seen);
    seen = now;
  };
  for (auto& f : files_) {
    const auto c = f.sink->counters().pool;
    auto& m = f.metrics;
    add(m.lines, f.lines, m.lines_seen);
    add(m.opens, c.opens, m.opens_seen);
    add(m.evictions, c.evictions, m.evictions_seen);
    add(m.idle_closes, c.idle_closes, m.idle_seen);
    add(m.emfile_recoveries, c.emfile_recoveries, m.emfile_seen);
    m.open_now.set(static_cast<double>(c.open_now));
  }
  add(stdout_metrics_->lines, stdout_lines_, stdout_metrics_->lines_seen);
}

}  // namespace sqtail::app
