#include "watch/inotify.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace sqtail::watch {

namespace {
// No IN_CLOSE_WRITE: every write already brings an IN_MODIFY, and the kernel merges an event
// only into an identical last one. A writer that opens, writes and closes per line would
// alternate MODIFY and CLOSE_WRITE, two events a line that never merge, and overflow the
// queue (16,384 events) in a fraction of a second while sqtail reads.
constexpr std::uint32_t kDirMask = IN_MODIFY | IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE |
                                   IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
}  // namespace

Inotify::Inotify() : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
  const char* limit = std::getenv("SQTAIL_FAULT_MAX_WATCHES");
  fault_max_watches_ = limit != nullptr ? std::strtoull(limit, nullptr, 10) : SIZE_MAX;
}

sys::Result<int> Inotify::watchDir(const std::string& dir) {
  if (dirs_.size() >= fault_max_watches_ && wds_.find(dir) == wds_.end()) {
    return tl::unexpected(sys::Error{"inotify_add_watch " + dir, ENOSPC});
  }
  auto added = sys::inotifyAddWatch(fd_.get(), dir, kDirMask);
  if (!added) return tl::unexpected(added.error());
  const int wd = *added;
  // The same inode under a new path returns the same wd: the newest path wins.
  auto old = dirs_.find(wd);
  if (old != dirs_.end() && old->second != dir) wds_.erase(old->second);
  dirs_[wd] = dir;
  wds_[dir] = wd;
  return wd;
}

void Inotify::forget(int wd) {
  auto it = dirs_.find(wd);
  if (it == dirs_.end()) return;
  wds_.erase(it->second);
  dirs_.erase(it);
}

const std::string* Inotify::dirOf(int wd) const {
  auto it = dirs_.find(wd);
  return it == dirs_.end() ? nullptr : &it->second;
}

void Inotify::drain(const std::function<void(const Event&)>& on_event) {
  for (;;) {
    auto got = sys::readSome(fd_.get(), buf_, sizeof buf_);
    if (!got || *got == 0) return;  // EAGAIN: queue empty (EINTR is retried by sys)
    const auto n = static_cast<ssize_t>(*got);
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf_ + off);
      std::string_view name = ev->len ? std::string_view(ev->name) : std::string_view();
      on_event(Event{ev->wd, ev->mask, ev->cookie, name});
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
}

}  // namespace sqtail::watch
