// Owns the tail thread: the epoll loop over inotify and the wake-up descriptors, the tracked
// files and their read positions, parsing, and building batches for the writer.
// Construct on any thread; run() and everything else only on the tail thread, except
// requestStop(), which any thread (the signal handler thread) may call.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "app/counters.hpp"
#include "app/handoff.hpp"
#include "app/metrics.hpp"
#include "app/record_builder.hpp"
#include "config/config.hpp"
#include "sink/batch.hpp"
#include "sink/sqlite/sqlite_sink.hpp"
#include "sys/sys.hpp"
#include "tail/identity.hpp"
#include "tail/line_reader.hpp"
#include "usage/usage.hpp"
#include "watch/discovery.hpp"
#include "watch/inotify.hpp"

namespace sqtail::app {

// The tail thread's files as they are between two batches, for a sink that fell behind and
// reads what it missed from the files themselves (TailLoop::requestSnapshot).
struct TailSnapshot {
  struct File {
    std::int64_t id = 0;
    int source = 0;  // index into config.sources
    std::string path;
    tail::Identity identity;
    std::int64_t offset = 0, line_no = 0, size = 0;  // the read position: sealed, not yet read
    std::string state;
    sys::Fd fd;  // a dup() of the tail's descriptor when the filter asked for it
  };
  config::Config config;    // the sources and routes the positions were read with
  std::vector<File> files;  // every file tracked (closed ones are gone)
};

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
  // Seals the open batch, then calls done(snapshot) on the tail thread before the next batch
  // is pushed, so that `done` may resume a hand-off consumer exactly at these positions. A file
  // gets a descriptor when wants_fd(identity, offset) says so (the filter runs on the tail
  // thread). Any thread; once run() has returned, `done` runs at once on the calling thread
  // with the final positions.
  using SnapshotFilter = std::function<bool(const tail::Identity&, std::int64_t offset)>;
  void requestSnapshot(SnapshotFilter wants_fd, std::function<void(TailSnapshot)> done);

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
    bool pending = false;         // written to; read when the coalescing window closes
    Clock::time_point seen_at{};  // when a write was first reported and not yet read
    bool detached = false;        // renamed away or deleted: drain, then close at close_at
    Clock::time_point close_at{};
    bool dirty = false;   // has a change the next batch must checkpoint
    bool closed = false;  // drained and closed; dropped after its last checkpoint is sealed
    std::int64_t deleted_bytes = 0;  // counted in sqtail_deleted_file_bytes while held
    std::int64_t lines_added = 0, rejects_added = 0, truncations_added = 0, last_event_ts = 0;
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
  std::vector<std::uint64_t> stack_hits_base_, stack_misses_base_;  // per source, at build
  std::unique_ptr<RecordBuilder> records_;  // extractors, routes, line sinks, rollups
  Clock::time_point turn_seen_at_{};        // of the file being read: when its write was reported

  std::unordered_map<std::int64_t, std::unique_ptr<File>> files_;
  std::unordered_map<std::string, File*> by_path_;
  std::unordered_map<std::uint32_t, File*> moved_from_;     // inotify cookie -> file
  std::unordered_map<std::uint32_t, int> untracked_moves_;  // cookie -> source
  std::deque<File*> ready_;
  // Files reported written, read together when the window closes: one read per file per
  // window instead of one per write (a logger writing line by line).
  std::vector<File*> pending_;
  Clock::time_point coalesce_at_{};
  // While a window is open the inotify descriptor is left out of epoll: a writer's every
  // line would wake the thread only to defer a file already deferred. Events that queue
  // meanwhile are read when the window closes, as reported at the window's start (the
  // earliest they can have happened: a priority deadline counts from it).
  bool inotify_armed_ = true;
  Clock::time_point disarmed_at_{};
  Clock::time_point stay_armed_until_{};  // after a window's backlog neared the queue's size
  void defer(File& f, Clock::time_point seen);
  void releasePending();
  void armInotify(bool armed);
  void drainInotify();
  std::vector<File*> dirty_;
  std::vector<std::int64_t> closing_;  // ids closed but still owed a checkpoint
  std::map<std::pair<std::uint64_t, std::uint64_t>, File*> by_inode_;

  // Checkpoints from the DB not yet matched to a file on disk, by (dev, inode).
  std::map<std::pair<std::uint64_t, std::uint64_t>, sink::StoredFile> stored_;
  std::int64_t next_id_ = 1;

  sink::Batch batch_;
  Clock::time_point batch_deadline_{};
  bool stopping_ = false;
  bool draining_ = false;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> drain_requested_{false};
  std::mutex reload_mu_;  // guards pending_reload_ (written by any thread, read by the loop)
  std::optional<config::Config> pending_reload_;
  void applyReload(config::Config next);
  void wake();
  // Guards the snapshot request and exited_. Taken before the hand-off's lock (done() may
  // resume a consumer), never the other way round.
  std::mutex snapshot_mu_;
  struct SnapshotRequest {
    SnapshotFilter wants_fd;
    std::function<void(TailSnapshot)> done;
  };
  std::optional<SnapshotRequest> pending_snapshot_;
  bool exited_ = false;  // run() has returned: requests are served on the caller's thread
  std::atomic<bool> snapshot_requested_{false};
  void serveSnapshot(SnapshotRequest& request);  // with snapshot_mu_ held
  void buildSources();  // the record builder, discovery and metrics for config_
  bool finishing() const { return once_ || draining_; }
  bool rescan_pending_ = false;
  bool polling_ = false;  // inotify unavailable or a watch failed: rescan on a timer
  // Files that could not be opened or read (EMFILE, EIO, EACCES, ...): tried again at
  // next_poll_, since nothing may say when they can be (they may never be written to again).
  struct RetryOpen {
    int source;
    bool initial;
  };
  std::map<std::string, RetryOpen> retry_open_;
  std::vector<std::int64_t> retry_read_;  // File ids
  // Paths whose last open or read failed: logged when they start and stop failing, not at
  // every try; counted in sqtail_files_failing and /health.
  std::set<std::string> failing_;
  void fileFailed(const std::string& path, int source, bool read, const sys::Error& error);
  void fileWorks(const std::string& path, bool say = true);
  void retryOpen(const std::string& path, int source, bool initial, const sys::Error& error);
  void retryRead(File& f, const sys::Error& error);
  bool retriesDue() const { return !retry_open_.empty() || !retry_read_.empty(); }
  void runRetries();
  Clock::time_point next_poll_{};
  Clock::time_point paused_since_{};  // reading paused for backpressure since, or {}
  Clock::time_point next_lag_report_{};
};

}  // namespace sqtail::app
