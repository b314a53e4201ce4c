#include "app/run.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/core.h>

#include "app/counters.hpp"
#include "app/handoff.hpp"
#include "app/line_outputs.hpp"
#include "app/metrics.hpp"
#include "app/pg_writer.hpp"
#include "app/pid_file.hpp"
#include "app/tail_loop.hpp"
#include "obs/http_server.hpp"
#include "obs/log.hpp"
#include "sink/sqlite/retention.hpp"
#include "sink/sqlite/sqlite_sink.hpp"
#include "usage/usage.hpp"

namespace sqtail::app {

namespace {

// The hand-off's consumers: the SQLite writer (with the line sinks), and the PostgreSQL writer
// when [sink.postgres] is configured.
constexpr int kSqliteConsumer = 0;
constexpr int kPostgresConsumer = 1;

// The writer thread: commits batches in order, retrying a failing commit (busy, full disk,
// read-only) with capped backoff. A batch is never dropped: until it commits, its memory
// stays charged and the tail thread stops reading.
void writerLoop(sink::SqliteSink& sink, LineOutputs& outputs, Handoff& handoff, Counters& counters,
                const SinkMetrics& metrics, sink::Retention& retention,
                std::chrono::milliseconds retention_budget) {
  using Clock = std::chrono::steady_clock;
  Delivery delivery;
  while (handoff.pop(kSqliteConsumer, delivery, [&] { outputs.tick(); })) {
    const sink::Batch& batch = *delivery.batch;
    auto backoff = std::chrono::milliseconds(50);
    outputs.nextBatch();
    for (int attempt = 1;; ++attempt) {
      const auto started = Clock::now();
      // Line sinks first, synced; then one transaction records their new lengths with the
      // rows and offsets. A crash in between is undone at start-up (LineOutputs::recover).
      tl::expected<std::vector<sink::OutputLength>, sink::DbError> lengths;
      if (!batch.outputs.empty()) {
        auto written = outputs.write(batch, sink);
        if (!written) {
          lengths = tl::unexpected(sink::DbError{0, written.error()});
        } else {
          lengths = std::move(*written);
        }
      }
      auto r = lengths ? sink.commit(batch, *lengths) : tl::unexpected(lengths.error());
      if (r) {
        const auto done = Clock::now();
        const auto took = std::chrono::duration_cast<std::chrono::microseconds>(done - started);
        // A decaying maximum: a priority deadline must leave room for a slow commit too.
        counters.commit_us_recent =
            std::max<std::int64_t>(took.count(), counters.commit_us_recent.load() * 15 / 16);
        const auto rows = batch.events.size() + batch.rejects.size();
        metrics.duration.observe(std::chrono::duration<double>(done - started).count());
        metrics.records.add(rows);
        metrics.batches.inc();
        if (metrics.health != nullptr) metrics.health->commitSucceeded();
        metrics.rows.observe(static_cast<double>(rows));
        if (batch.first_read != Clock::time_point{}) {
          metrics.lag.observe(std::chrono::duration<double>(done - batch.first_read).count());
        }
        break;
      }
      counters.commit_failures++;
      metrics.failures.inc();
      if (metrics.health != nullptr) metrics.health->commitFailed();
      if (attempt == 1 || attempt % 20 == 0) {
        obs::log::warn("commit failed ({}), retrying (attempt {})", r.error().message, attempt);
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
    counters.lines_committed +=
        static_cast<std::int64_t>(batch.events.size() + batch.rejects.size());
    counters.bytes_committed += batch.input_bytes;
    counters.batches_committed++;
    handoff.committed(kSqliteConsumer, delivery.seq);
    delivery = Delivery{};  // its memory is released once the PostgreSQL writer is done too
    // Retention between batches: one small step after each commit, more while no batch
    // waits, for at most retention_budget (so a shutdown waits no longer for it). Each step
    // is its own short transaction: a batch waits at most one step. While the logs are
    // quiet nothing commits, nothing grows and nothing is deleted.
    const auto wall_ms = [] {
      using namespace std::chrono;
      return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    };
    const auto retention_until = retention_budget == std::chrono::milliseconds::max()
                                     ? Clock::time_point::max()
                                     : Clock::now() + retention_budget;
    while (sink.runRetention(retention, wall_ms()) && handoff.queued(kSqliteConsumer) == 0 &&
           Clock::now() < retention_until) {
    }
  }
}

std::string humanBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", b, units[u]);
}

}  // namespace

namespace {

// Starts the sidecar's child with default signal handling (ours are blocked), in our
// process group, so that it sees a terminal's Ctrl-C like any foreground command.
tl::expected<pid_t, std::string> startChild(const std::vector<std::string>& command) {
  std::vector<char*> argv;
  std::vector<std::string> copy = command;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], nullptr, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return tl::unexpected(fmt::format("cannot start {}: {}", command[0], strerror(rc)));
  return pid;
}

}  // namespace

int run(const config::Config& config, const RunOptions& options) {
  if (config.sources.empty()) {
    fmt::print(stderr,
               "sqtail: nothing to tail: give path patterns or a [[source]] in the config\n");
    return 2;
  }
  usage::Pricing pricing = usage::builtinPricing();
  if (!config.pricing.empty()) {
    auto loaded = usage::loadPricing(config.pricing);
    if (!loaded) {
      fmt::print(stderr, "sqtail: {}\n", loaded.error());
      return 2;
    }
    pricing = std::move(*loaded);
  }
  obs::log::Level level = obs::log::Level::kInfo;
  obs::log::parseLevel(config.log_level, level);  // validated by the config loader
  if (auto err = obs::log::configure(level, config.log_file); !err.empty()) {
    fmt::print(stderr, "sqtail: {}\n", err);
    return 2;
  }
  auto pid_file = PidFile::acquire(config.db);
  if (!pid_file) {
    fmt::print(stderr, "sqtail: {}\n", pid_file.error());
    return 1;
  }
  auto sink = sink::SqliteSink::open(config.db);
  if (!sink) {
    fmt::print(stderr, "sqtail: cannot open database {}: {}\n", config.db.string(),
               sink.error().message);
    return 1;
  }
  auto stored = (*sink)->loadFiles();
  if (!stored) {
    fmt::print(stderr, "sqtail: {}\n", stored.error().message);
    return 1;
  }
  auto outputs = LineOutputs::open(config);
  if (!outputs) {
    fmt::print(stderr, "sqtail: {}\n", outputs.error());
    return 2;
  }
  if (!(*outputs)->empty()) {
    auto committed = (*sink)->loadOutputLengths();
    if (!committed) {
      fmt::print(stderr, "sqtail: {}\n", committed.error().message);
      return 1;
    }
    if (auto recovered = (*outputs)->recover(*committed); !recovered) {
      fmt::print(stderr, "sqtail: {}\n", recovered.error());
      return 1;
    }
  }

  // A reader of stdout (a route to "stdout") that went away is EPIPE, not the end of sqtail.
  ::signal(SIGPIPE, SIG_IGN);
  // Signals are taken synchronously on this thread; the workers never see them.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&sigs, sig);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  obs::Registry registry;
  obs::addProcessCollector(registry);
  obs::addDatabaseCollector(registry, config.db);
  registry.gauge(obs::MetricId::kBufferCapBytes).set(static_cast<double>(config.max_buffer_bytes));
  obs::Health health;
  const SinkMetrics sqlite_metrics = SinkMetrics::resolve(registry, health, "sqlite");
  (*outputs)->attachMetrics(registry);
  std::unique_ptr<obs::HttpServer> http;
  if (config.http) {
    auto server = obs::HttpServer::start(*config.http, registry, health);
    if (!server) {
      fmt::print(stderr, "sqtail: {}\n", server.error());
      return 1;
    }
    http = std::move(*server);
    obs::log::info("serving /metrics and /health on {}:{}", config.http->host, http->port());
  }

  Counters counters;
  Handoff handoff(config.postgres ? 2 : 1);
  // PostgreSQL's writer learns from SQLite's checkpoints where files not tracked any more ended.
  std::vector<sink::StoredFile> known;
  if (config.postgres) known = *stored;
  TailLoop loop(config, handoff, counters, std::move(*stored), options.once, pricing,
                TailMetrics::resolve(registry, health, config));
  // Its own thread, so that a PostgreSQL that is slow, down or refusing never holds up the
  // SQLite writer: it falls behind instead, and catches up from the files.
  std::unique_ptr<PgWriter> pg_writer;
  if (config.postgres) {
    pg_writer = std::make_unique<PgWriter>(
        config, pricing, handoff,
        [&loop](TailLoop::SnapshotFilter wants_fd, std::function<void(TailSnapshot)> done) {
          loop.requestSnapshot(std::move(wants_fd), std::move(done));
        },
        SinkMetrics::resolve(registry, health, "postgres"),
        PgWriter::Options{kPostgresConsumer, kSqliteConsumer, options.once, std::move(known)});
  }
  sink::Retention retention(config);
  // --once is there to finish the job, retention included.
  const auto retention_budget =
      options.once ? std::chrono::milliseconds::max() : std::chrono::milliseconds(200);
  std::thread writer([&] {
    writerLoop(**sink, **outputs, handoff, counters, sqlite_metrics, retention, retention_budget);
  });
  std::thread pg_thread;
  if (pg_writer) pg_thread = std::thread([&] { pg_writer->run(); });
  std::thread tailer([&] { loop.run(); });

  // The sidecar's child starts once we tail: nothing it writes can be missed.
  pid_t child = 0;
  int exit_code = 0;
  if (!options.child.empty()) {
    auto started = startChild(options.child);
    if (!started) {
      fmt::print(stderr, "sqtail: {}\n", started.error());
      exit_code = 127;
      loop.requestStop();
    } else {
      child = *started;
    }
  }

  const auto start = std::chrono::steady_clock::now();
  int signals = 0;
  std::atomic<bool> done{false};
  std::thread joiner([&] {
    tailer.join();
    writer.join();
    if (pg_thread.joinable()) pg_thread.join();
    done = true;
    kill(getpid(), SIGCHLD);  // wake the signal wait below
  });

  for (;;) {
    timespec tick{0, 250'000'000};
    const int sig = sigtimedwait(&sigs, nullptr, &tick);
    if (done) break;
    if ((sig == SIGINT || sig == SIGTERM) && child > 0) {
      kill(child, sig);  // the child decides; we drain when it has exited
    } else if (sig == SIGINT || sig == SIGTERM) {
      if (++signals == 1) {
        loop.requestStop();
      } else {
        // Second signal: leave now. Safe: what is committed is consistent, the rest is re-read.
        fmt::print(stderr, "sqtail: second signal, exiting without waiting for the writer\n");
        _exit(130);
      }
    } else if (sig == SIGHUP) {
      if (child > 0) kill(child, SIGHUP);
      if (!options.reload) {
        obs::log::warn("SIGHUP: nothing to reload (started without --config)");
      } else if (auto next = options.reload(); !next) {
        obs::log::error("reload rejected, the running configuration stays: {}", next.error());
      } else if (next->file_sinks != config.file_sinks || next->postgres != config.postgres) {
        // The writers hold the sinks open from start-up; routes to a sink they do not have
        // would lose their lines. (Sinks never change on reload, so config has the running ones.)
        obs::log::error(
            "reload rejected, the running configuration stays: [sink.files.*] and "
            "[sink.postgres] changes take effect at restart");
      } else {
        loop.requestReload(std::move(*next));
      }
    }
    if (child > 0) {
      int status = 0;
      if (waitpid(child, &status, WNOHANG) == child) {
        exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        child = 0;
        loop.requestDrain();  // what it wrote before exiting is committed before we exit
      }
    }
    obs::log::flush();  // a file log is written out at least every tick
    if (options.follow_pid > 0 && kill(options.follow_pid, 0) != 0 && errno == ESRCH) {
      obs::log::info("process {} has exited; draining", options.follow_pid);
      loop.requestDrain();
    }
    if (options.progress) {
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const auto lines = counters.lines_committed.load();
      const auto bytes = counters.bytes_committed.load();
      const auto backlog = counters.backlog_bytes.load();
      const double rate = secs > 0 ? static_cast<double>(lines) / secs : 0;
      const double bps = secs > 0 ? static_cast<double>(bytes) / secs : 0;
      const double eta = bps > 0 ? static_cast<double>(backlog) / bps : 0;
      fmt::print(stderr, "\r{} files  {} committed  {} lines  {:.0f} lines/s  ETA {:.0f}s   ",
                 counters.files_tracked.load(), humanBytes(static_cast<double>(bytes)), lines, rate,
                 eta);
    }
  }
  joiner.join();
  if (http) http->stop();  // before the registry and health it reads go away
  obs::log::flush();
  if (options.progress) fmt::print(stderr, "\n");
  if (options.once) {
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print(stderr, "sqtail: {} lines ({} rejected) from {} files in {:.2f}s\n",
               counters.lines_committed.load(), counters.rejects.load(),
               counters.files_tracked.load(), secs);
  }
  return exit_code;
}

}  // namespace sqtail::app
