// Owns the line destinations of the SQLite writer thread: the category files
// ([sink.files.*]) and stdout. Their lines are written and synced before the batch's SQLite
// transaction, which records the files' new lengths; on start-up, files are cut back to the
// lengths committed. Writer thread only (open() and recover() on the main thread first).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "config/config.hpp"
#include "obs/registry.hpp"
#include "sink/batch.hpp"
#include "sink/files/file_sink.hpp"
#include "sink/sqlite/sqlite_sink.hpp"

namespace sqtail::app {

class LineOutputs {
 public:
  // Checks every [sink.files.*] table (path template, time zone); the error names the key.
  static tl::expected<std::unique_ptr<LineOutputs>, std::string> open(const config::Config& config);
  ~LineOutputs();

  bool empty() const { return files_.empty(); }

  // Cuts each file back to its committed length (a crash between a write and its commit).
  // An error (a file that cannot be examined or cut) must stop start-up: writing on would
  // duplicate lines.
  tl::expected<void, std::string> recover(const std::vector<sink::OutputLength>& committed);

  // Writes the batch's lines, at most once per batch whatever the retries: a sink that failed
  // leaves its files as they were and is tried again on the next call with the same batch.
  // Paths written for the first time get their starting length saved through `db` first.
  // Returns the new lengths of every file written, for the batch's transaction.
  tl::expected<std::vector<sink::OutputLength>, std::string> write(const sink::Batch& batch,
                                                                   sink::SqliteSink& db);
  // A new batch: forget what the last one wrote.
  void nextBatch();
  // Closes handles idle for handle_idle.
  void tick();

  // Publishes each file sink's counters (and stdout's lines) to /metrics after every call.
  void attachMetrics(obs::Registry& registry);

 private:
  LineOutputs() = default;
  struct Published {
    obs::Counter lines, opens, evictions, idle_closes, emfile_recoveries;
    obs::Gauge open_now;
    std::uint64_t lines_seen = 0, opens_seen = 0, evictions_seen = 0, idle_seen = 0,
                  emfile_seen = 0;
  };
  struct File {
    std::string name;
    std::unique_ptr<sink::FileSink> sink;
    std::uint64_t lines = 0;
    Published metrics;
  };
  void publish();
  std::vector<File> files_;
  // Per batch: which outputs are done (index files_.size() is stdout), and their lengths.
  std::vector<bool> done_;
  std::vector<sink::OutputLength> lengths_;
  std::vector<std::vector<sink::FileSink::Output>> grouped_;
  std::uint64_t stdout_lines_ = 0;
  std::optional<Published> stdout_metrics_;
  bool attached_ = false;
};

}  // namespace sqtail::app
