// Owns the tail thread: the epoll loop over inotify and the wake-up descriptors, the tracked
// files and their read positions, parsing, and building batches for the writer.
// Construct on any thread; run() and everything else only on the tail thread, except
// requestStop(), which any thread (the signal handler thread) may call.
#pragma once

#include <chrono>
#include <cstdint>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <string_view>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "app/counters.hpp"
#include "app/handoff.hpp"
#include "app/metrics.hpp"
#include "config/config.hpp"
#include "parse/extractor.hpp"
#include "parse/field_reader.hpp"
#include "route/router.hpp"
#include "sink/batch.hpp"
#include "sink/files/path_template.hpp"
#include "sink/sqlite/sqlite_sink.hpp"
#include "sys/sys.hpp"
#include "tail/identity.hpp"
#include "tail/line_reader.hpp"
#include "usage/usage.hpp"
#include "watch/discovery.hpp"
#include "watch/inotify.hpp"

namespace sqtail::app {

class TailLoop {
 public:
  using Clock = std::chrono::steady_clock;

  TailLoop(const config::Config& config, Handoff& handoff, Counters& counters,
           std::vector<sink::StoredFile> stored, bool once, const usage::Pricing& pricing,
           TailMetrics metrics = {});
  ~TailLoop();

  // Runs until requestStop() (or, with once, until every file is read to its end).
  // Seals the last batch and closes the hand-off before returning.
  void run();
  void requestStop();
  // Read every file to its end as it is now, commit, then return from run() (the sidecar's
  // child exited). Any thread.
  void requestDrain();
  // Apply a new configuration between two batches: added sources start, removed ones stop
  // after their last lines commit, changed settings apply to lines read from now on. Any
  // thread; `db` and `[http]` changes need a restart (a warning says so).
  void requestReload(config::Config next);

 private:
  struct File {
    std::int64_t id = 0;
    int source = 0;
    std::string path;
    sys::Fd fd;
    tail::Identity identity;
    std::uint64_t check_hash = 0;  // of the check_len bytes before pos.offset, at the last seal
    std::uint32_t check_len = 0;
    std::int64_t checked_offset = -1;  // the offset check_hash was taken at
    std::vector<std::string> aliases;  // other paths naming it (a symlink's target, a 2nd link)
    tail::ReadPosition pos;
    std::int64_t size = 0;
    std::string_view state = "active";
    bool queued = false;
    bool pending = false;  // written to; read when the coalescing window closes
    Clock::time_point seen_at{};  // when a write was first reported and not yet read
    bool detached = false;  // renamed away or deleted: drain, then close at close_at
    Clock::time_point close_at{};
    bool dirty = false;  // has a change the next batch must checkpoint
    bool closed = false;  // drained and closed; dropped after its last checkpoint is sealed
    std::int64_t deleted_bytes = 0;  // counted in sqtail_deleted_file_bytes while held
    std::int64_t lines_added = 0, rejects_added = 0, truncations_added = 0, last_event_ts = 0;
  };
  struct RollupAgg {
    std::int64_t minute;
    int source;
    std::string category, level;
    std::int64_t lines = 0, bytes = 0;
  };

  void openFile(const std::string& path, int source, bool initial);
  // A file we hold appeared under `path` too: a rename we did not see, or another link.
  void seenUnderPath(File& f, const std::string& path);
  bool resumeFromStored(File& f, const sink::StoredFile& prev);
  // Startup: a checkpointed file that no glob matched may have been rotated while sqtail was
  // down; look for its identity in its old directory and finish it.
  void recoverRotatedWhileDown();
  // copytruncate: the lines between our offset and the truncation may survive in the copy
  // logrotate made in the same directory; read them from there.
  void recoverFromCopy(File& f);
  // Startup: a checkpointed file that no longer exists may live on in a copytruncate copy.
  bool finishFromCopy(const sink::StoredFile& stored, int source);
  int sourceIndex(std::string_view name) const;  // -1 when no source has that name
  void drainAndMaybeClose(File& f, Clock::time_point now);
  void unmapPaths(File& f);
  void refreshCheckHash(File& f);
  void track(std::unique_ptr<File> file);
  void enqueue(File& f);
  void markDirty(File& f);
  // One bounded read of one file; true when it has more to read right away.
  bool readTurn(File& f);
  void onLine(File& f, const tail::LineReader::Line& line);
  // Where the record goes (routes), and a sooner deadline for a high-priority one.
  void routeRecord(File& f, const tail::LineReader::Line& line, std::string_view text,
                   const parse::Fields& fields, sink::EventRow& row);
  void addReject(File& f, const tail::LineReader::Line& line, std::string_view text,
                 parse::RejectReason reason);
  void addRollup(int source, std::int64_t minute, std::string_view category,
                 std::string_view level, std::int64_t bytes);
  void detach(File& f, std::string_view state);
  void closeFile(File& f);
  void onInotify(const watch::Event& ev);
  void rescan();
  void seal();
  bool budgetAllowsRead() const;
  void reportGauges();
  int timeoutMs(Clock::time_point now) const;
  void checkpointStoredAs(const sink::StoredFile& s, std::string_view state);

  config::Config config_;
  usage::Pricing pricing_;
  Handoff& handoff_;
  Counters& counters_;
  TailMetrics metrics_;
  bool once_;
  std::string cwd_;
  sys::Fd epoll_;
  sys::Fd stop_;
  std::unique_ptr<watch::Inotify> inotify_;
  std::unique_ptr<watch::Discovery> discovery_;
  tail::LineReader reader_;
  std::vector<std::unique_ptr<parse::Extractor>> extractors_;
  std::vector<std::unique_ptr<usage::Extractor>> usage_;  // per source; null: not a usage source
  std::unique_ptr<route::Router> router_;
  std::unique_ptr<parse::FieldReader> fields_;  // the pointers routes and path templates read
  std::vector<std::unique_ptr<sink::PathTemplate>> templates_;  // per file sink
  std::vector<std::size_t> template_fields_;  // per file sink: its first pointer in fields_
  std::string host_;      // for {host}
  std::string path_scratch_;
  Clock::time_point turn_seen_at_{};  // of the file being read: when its write was reported

  std::unordered_map<std::int64_t, std::unique_ptr<File>> files_;
  std::unordered_map<std::string, File*> by_path_;
  std::unordered_map<std::uint32_t, File*> moved_from_;  // inotify cookie -> file
  std::unordered_map<std::uint32_t, int> untracked_moves_;  // cookie -> source
  std::deque<File*> ready_;
  // Files reported written, read together when the window closes: one read per file per
  // window instead of one per write (a logger writing line by line).
  std::vector<File*> pending_;
  Clock::time_point coalesce_at_{};
  void defer(File& f);
  void releasePending();
  std::vector<File*> dirty_;
  std::vector<std::int64_t> closing_;  // ids closed but still owed a checkpoint
  std::map<std::pair<std::uint64_t, std::uint64_t>, File*> by_inode_;

  // Checkpoints from the DB not yet matched to a file on disk, by (dev, inode).
  std::map<std::pair<std::uint64_t, std::uint64_t>, sink::StoredFile> stored_;
  std::int64_t next_id_ = 1;

  sink::Batch batch_;
  Clock::time_point batch_deadline_{};
  std::unordered_map<std::string, RollupAgg> rollups_;
  std::string rollup_key_;
  std::string crlf_scratch_;
  bool stopping_ = false;
  bool draining_ = false;
  std::atomic<bool> drain_requested_{false};
  std::mutex reload_mu_;  // guards pending_reload_ (written by any thread, read by the loop)
  std::optional<config::Config> pending_reload_;
  void applyReload(config::Config next);
  void buildSources();  // extractors, usage extractors, discovery and metrics for config_
  bool finishing() const { return once_ || draining_; }
  bool rescan_pending_ = false;
  bool polling_ = false;  // inotify unavailable or a watch failed: rescan on a timer
  Clock::time_point next_poll_{};
  Clock::time_point paused_since_{};  // reading paused for backpressure since, or {}
  Clock::time_point next_lag_report_{};
};

}  // namespace sqtail::app
