// Owns the inotify descriptor and its directory watches. Only directories are watched:
// a directory watch reports writes to every file in it, so 40,000 files cost a few
// hundred watches. Call only from the tail thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "sys/sys.hpp"

namespace sqtail::watch {

struct Event {
  int wd;
  std::uint32_t mask;
  std::uint32_t cookie;
  std::string_view name;  // empty for events on the directory itself
};

class Inotify {
 public:
  Inotify();
  int fd() const { return fd_.get(); }
  bool ok() const { return fd_.valid(); }

  // Adds (or keeps) a watch on `dir`; ENOSPC means the user's watch limit is reached.
  sys::Result<int> watchDir(const std::string& dir);
  void forget(int wd);  // after IN_IGNORED: the kernel dropped the watch
  const std::string* dirOf(int wd) const;
  std::size_t watchCount() const { return dirs_.size(); }

  // Reads every queued event (non-blocking) and hands each to `on_event`.
  void drain(const std::function<void(const Event&)>& on_event);

 private:
  sys::Fd fd_;
  // Test seam: SQTAIL_FAULT_MAX_WATCHES=N makes watch N+1 fail with ENOSPC, as the kernel does
  // at fs.inotify.max_user_watches, without changing a machine-wide setting.
  std::size_t fault_max_watches_;
  std::unordered_map<int, std::string> dirs_;
  std::unordered_map<std::string, int> wds_;
  alignas(8) char buf_[64 * 1024];
};

}  // namespace sqtail::watch
