#include "sink/files/handle_pool.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "obs/log.hpp"

namespace sqtail::sink {

namespace {

constexpr mode_t kFileMode = 0640;
constexpr mode_t kDirMode = 0750;

// "fdatasync logs/a.jsonl: Input/output error" from an fd call's error.
std::string withPath(const sys::Error& e, const std::string& path) {
  return sys::Error{e.what + " " + path, e.code}.message();
}

}  // namespace

HandlePool::HandlePool(std::filesystem::path dir, Options options)
    : dir_(std::move(dir)), dir_prefix_(dir_.string() + "/"), options_(options) {
  options_.max_open_files = std::max<std::size_t>(options_.max_open_files, 1);
  index_.reserve(options_.max_open_files * 2);
}

HandlePool::~HandlePool() {
  if (auto r = syncDirty(); !r) obs::log::error("file sink: {}", r.error());
  closeAll();
}

tl::expected<HandlePool::Handle, std::string> HandlePool::acquire(std::string_view rel_path,
                                                                  Clock::time_point now) {
  if (auto it = index_.find(rel_path); it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    Entry& e = *it->second;
    e.last_used = now;
    e.dirty = options_.sync;
    return Handle{e.fd.get(), false, 0};
  }

  if (lru_.size() >= options_.max_open_files) {
    if (auto r = evictSome(); !r) return tl::unexpected(r.error());
  }
  std::string path = dir_prefix_;
  path += rel_path;
  bool made_dirs = false;
  for (;;) {
    auto fd = sys::openAppend(path, kFileMode);
    if (fd) {
      auto st = sys::fstat(fd->get());
      if (!st) return tl::unexpected(withPath(st.error(), path));
      lru_.push_front(Entry{std::string(rel_path), std::move(*fd), now, st->st_dev, options_.sync});
      index_.emplace(lru_.front().rel_path, lru_.begin());
      ++counters_.opens;
      counters_.open_now = lru_.size();
      return Handle{lru_.front().fd.get(), true, static_cast<std::int64_t>(st->st_size)};
    }
    const int err = fd.error().code;
    if (err == ENOENT && !made_dirs) {
      made_dirs = true;
      const std::string parent = std::filesystem::path(path).parent_path().string();
      if (auto r = sys::mkdirs(parent, kDirMode); !r) return tl::unexpected(r.error().message());
      continue;
    }
    if ((err == EMFILE || err == ENFILE) && !lru_.empty()) {
      ++counters_.emfile_recoveries;
      if (auto r = evictSome(); !r) return tl::unexpected(r.error());
      continue;
    }
    return tl::unexpected(fd.error().message());
  }
}

tl::expected<void, std::string> HandlePool::sync(const std::vector<Entry*>& entries) {
  std::string first_error;
  const auto note = [&](std::string e) {
    if (first_error.empty()) first_error = std::move(e);
  };
  const auto one = [&](Entry* e) {
    ++counters_.fdatasyncs;
    if (auto r = sys::fdatasync(e->fd.get()); !r) {
      note(withPath(r.error(), dir_prefix_ + e->rel_path));
    } else {
      e->dirty = false;
    }
  };
  // Per file system: syncfs once when it holds enough of them, else one fdatasync each.
  std::vector<bool> done(entries.size(), false);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (done[i]) continue;
    std::vector<std::size_t> same;
    for (std::size_t j = i; j < entries.size(); ++j) {
      if (!done[j] && entries[j]->dev == entries[i]->dev) same.push_back(j);
    }
    for (std::size_t j : same) done[j] = true;
    if (same.size() < kSyncfsFrom) {
      for (std::size_t j : same) one(entries[j]);
      continue;
    }
    ++counters_.syncfs_calls;
    auto r = sys::syncfs(entries[i]->fd.get());
    if (!r && (r.error().code == ENOSYS || r.error().code == EPERM)) {  // a seccomp filter
      for (std::size_t j : same) one(entries[j]);
    } else if (!r) {
      note(fmt::format("{} ({} files, e.g. {})", withPath(r.error(), dir_.string()), same.size(),
                       dir_prefix_ + entries[i]->rel_path));
    } else {
      for (std::size_t j : same) entries[j]->dirty = false;
    }
  }
  if (!first_error.empty()) return tl::unexpected(first_error);
  return {};
}

tl::expected<void, std::string> HandlePool::syncDirty() {
  scratch_.clear();
  for (Entry& e : lru_) {
    if (e.dirty) scratch_.push_back(&e);
  }
  if (scratch_.empty()) return {};
  return sync(scratch_);
}

void HandlePool::markClean(std::string_view rel_path) {
  if (auto it = index_.find(rel_path); it != index_.end()) it->second->dirty = false;
}

void HandlePool::discard(std::string_view rel_path) {
  if (auto it = index_.find(rel_path); it != index_.end()) {
    it->second->dirty = false;
    close(it->second);
  }
}

std::size_t HandlePool::closeIdle(Clock::time_point now) {
  // Idle handles are clean in practice (every successful write syncs); sync any that is not.
  scratch_.clear();
  for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
    if (now - it->last_used < options_.handle_idle) break;
    if (it->dirty) scratch_.push_back(&*it);
  }
  if (!scratch_.empty()) {
    if (auto r = sync(scratch_); !r) obs::log::warn("file sink: {}", r.error());
  }
  std::size_t closed = 0;
  while (!lru_.empty() && now - lru_.back().last_used >= options_.handle_idle) {
    close(std::prev(lru_.end()));
    ++counters_.idle_closes;
    ++closed;
  }
  return closed;
}

void HandlePool::closeAll() {
  while (!lru_.empty()) close(std::prev(lru_.end()));
}

tl::expected<void, std::string> HandlePool::evictSome() {
  const std::size_t n = std::max<std::size_t>(1, lru_.size() / 5);
  // Dirty victims are synced together first (one syncfs when there are many), then closed
  // even if that failed: the caller's write fails and truncates them by path.
  scratch_.clear();
  auto it = lru_.end();
  for (std::size_t i = 0; i < n && it != lru_.begin(); ++i) {
    --it;
    if (it->dirty) scratch_.push_back(&*it);
  }
  tl::expected<void, std::string> result;
  if (!scratch_.empty()) result = sync(scratch_);
  for (std::size_t i = 0; i < n && !lru_.empty(); ++i) {
    close(std::prev(lru_.end()));
    ++counters_.evictions;
  }
  return result;
}

void HandlePool::close(List::iterator it) {
  index_.erase(it->rel_path);
  lru_.erase(it);
  counters_.open_now = lru_.size();
}

}  // namespace sqtail::sink
