// Owns the open descriptors of one file sink: at most max_open_files, least recently used
// closed first, idle ones closed after handle_idle, EMFILE/ENFILE answered by closing some.
// Not thread-safe: one owner (the sink's writer thread) makes every call.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <tl/expected.hpp>

#include "sys/sys.hpp"

namespace sqtail::sink {

class HandlePool {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    std::size_t max_open_files = 64;
    std::chrono::milliseconds handle_idle = std::chrono::seconds(60);
    // false: writes are never synced (a crash of sqtail loses nothing; a crash of the machine
    // may lose what the page cache held).
    bool sync = true;
  };

  // Exported as metrics by the owner; plain values, read on the owner thread.
  struct Counters {
    std::uint64_t opens = 0;              // open() calls that succeeded
    std::uint64_t evictions = 0;          // closed to make room (cap or EMFILE)
    std::uint64_t idle_closes = 0;        // closed by closeIdle()
    std::uint64_t emfile_recoveries = 0;  // EMFILE/ENFILE answered by evicting and retrying
    std::uint64_t open_now = 0;           // descriptors held right now
    std::uint64_t fdatasyncs = 0;         // files synced one by one
    std::uint64_t syncfs_calls = 0;       // file systems synced whole (many dirty files)
  };

  // From this many dirty files on one file system, one syncfs(2) replaces their fdatasyncs:
  // one journal commit instead of one each (this VM's disk: 40 fdatasyncs ~250 ms, one
  // syncfs ~20 ms). It also flushes other files of that file system, which is the price.
  static constexpr std::size_t kSyncfsFrom = 4;

  struct Handle {
    int fd = -1;
    bool opened = false;            // opened by this acquire(): size_at_open is valid
    std::int64_t size_at_open = 0;  // fstat at open
  };

  // Files live under `dir` (created on first use, like every parent: mode 0750).
  HandlePool(std::filesystem::path dir, Options options);
  ~HandlePool();  // syncs dirty handles (errors logged), closes all
  HandlePool(const HandlePool&) = delete;
  HandlePool& operator=(const HandlePool&) = delete;

  // The descriptor for `rel_path` (relative to dir, already validated by the caller), opened
  // O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC mode 0640 if needed, and marked dirty: the caller is
  // about to write. The fd is valid until the next call on the pool. When full, about 20 % of
  // the handles (least recently used first) are closed; dirty ones are synced first, and a
  // failure of that sync is this call's error (their data may not be durable).
  tl::expected<Handle, std::string> acquire(std::string_view rel_path, Clock::time_point now);

  // Makes every dirty handle durable (fdatasync each, or syncfs for many: kSyncfsFrom).
  // The error names the path (or the dir, for syncfs); the handles stay dirty then.
  tl::expected<void, std::string> syncDirty();
  // Forgets that `rel_path` needs a sync (its writes were truncated away).
  void markClean(std::string_view rel_path);
  // Closes `rel_path` without syncing, if open: the next acquire() opens it afresh.
  void discard(std::string_view rel_path);

  // Closes handles unused for handle_idle or longer; returns how many.
  std::size_t closeIdle(Clock::time_point now);
  void closeAll();

  bool isOpen(std::string_view rel_path) const { return index_.count(rel_path) != 0; }
  const Counters& counters() const { return counters_; }
  const std::filesystem::path& dir() const { return dir_; }
  const Options& options() const { return options_; }

 private:
  struct Entry {
    std::string rel_path;
    sys::Fd fd;
    Clock::time_point last_used;
    dev_t dev = 0;  // the file system, for syncfs
    bool dirty = false;
  };
  using List = std::list<Entry>;  // front: most recently used

  // Syncs `entries` (all dirty) and marks them clean; the first error, the rest still tried.
  tl::expected<void, std::string> sync(const std::vector<Entry*>& entries);

  // Closes the least recently used ~20 % (at least one). Returns the first sync error.
  tl::expected<void, std::string> evictSome();
  void close(List::iterator it);

  std::filesystem::path dir_;
  std::string dir_prefix_;  // dir_ + '/'
  Options options_;
  List lru_;
  std::unordered_map<std::string_view, List::iterator> index_;  // keys view Entry::rel_path
  Counters counters_;
  std::vector<Entry*> scratch_;
};

}  // namespace sqtail::sink
