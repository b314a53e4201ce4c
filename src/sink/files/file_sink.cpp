#include "sink/files/file_sink.hpp"

#include <cerrno>
#include <unordered_set>

#include <fmt/format.h>

#include "sys/sys.hpp"

namespace sqtail::sink {

namespace {
// A buffer that grew past this for one huge batch is released rather than kept.
constexpr std::size_t kKeepBufferBytes = 4u << 20;
}  // namespace

bool isSafeRelativePath(std::string_view rel_path) {
  if (rel_path.empty() || rel_path.front() == '/') return false;
  if (rel_path.find('\0') != std::string_view::npos) return false;
  std::size_t start = 0;
  while (start <= rel_path.size()) {
    std::size_t slash = rel_path.find('/', start);
    if (slash == std::string_view::npos) slash = rel_path.size();
    const std::string_view seg = rel_path.substr(start, slash - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    start = slash + 1;
  }
  return true;
}

FileSink::FileSink(Settings settings)
    : settings_(std::move(settings)),
      pool_(settings_.dir,
            HandlePool::Options{settings_.max_open_files, settings_.handle_idle, settings_.sync}) {}

std::string FileSink::fullPath(std::string_view rel_path) const {
  std::string path = settings_.dir.string();
  path += '/';
  path += rel_path;
  return path;
}

tl::expected<FileSink::Recovery, std::string> FileSink::recover(
    const std::vector<Length>& checkpointed) {
  Recovery out;
  const auto now = Clock::now();
  for (const Length& c : checkpointed) {
    if (!isSafeRelativePath(c.rel_path) || c.length < 0) {
      out.warnings.push_back(fmt::format("sink files.{}: ignoring checkpoint '{}' ({} bytes)",
                                         settings_.name, c.rel_path, c.length));
      continue;
    }
    const std::string path = fullPath(c.rel_path);
    auto st = sys::stat(path);
    std::int64_t length = 0;
    if (!st) {
      if (st.error().code != ENOENT && st.error().code != ENOTDIR) {
        return tl::unexpected(
            fmt::format("sink files.{}: {}", settings_.name, st.error().message()));
      }
      if (c.length > 0) {
        out.warnings.push_back(fmt::format("sink files.{}: {} is missing; {} bytes were committed",
                                           settings_.name, path, c.length));
      }
    } else {
      const auto size = static_cast<std::int64_t>(st->st_size);
      length = size;
      if (size > c.length) {
        if (auto r = sys::truncate(path, c.length); !r) {
          return tl::unexpected(
              fmt::format("sink files.{}: {}", settings_.name, r.error().message()));
        }
        out.truncated.push_back({c.rel_path, size, c.length});
        ++counters_.truncations;
        length = c.length;
      } else if (size < c.length) {
        out.warnings.push_back(fmt::format(
            "sink files.{}: {} has {} bytes, fewer than the {} committed (changed outside sqtail)",
            settings_.name, path, size, c.length));
      }
    }
    PathState& state = paths_[c.rel_path];
    state.length = length;
    state.last_used = now;
    state.undo_failed = false;
  }
  return out;
}

tl::expected<std::vector<FileSink::Length>, std::string> FileSink::lengthsBefore(
    std::span<const Output> batch) const {
  std::vector<Length> out;
  std::unordered_set<std::string_view> seen;
  std::string_view last;
  for (const Output& o : batch) {
    if (o.rel_path == last) continue;  // runs of one path are common: skip the hash
    last = o.rel_path;
    if (!seen.insert(o.rel_path).second || paths_.find(o.rel_path) != paths_.end()) continue;
    if (!isSafeRelativePath(o.rel_path)) {
      return tl::unexpected(
          fmt::format("sink files.{}: unsafe path '{}'", settings_.name, o.rel_path));
    }
    auto st = sys::stat(fullPath(o.rel_path));
    if (st) {
      out.push_back({std::string(o.rel_path), static_cast<std::int64_t>(st->st_size)});
    } else if (st.error().code == ENOENT || st.error().code == ENOTDIR) {
      out.push_back({std::string(o.rel_path), 0});
    } else {
      return tl::unexpected(fmt::format("sink files.{}: {}", settings_.name, st.error().message()));
    }
  }
  return out;
}

tl::expected<std::vector<FileSink::Length>, std::string> FileSink::write(
    std::span<const Output> batch) {
  const auto now = Clock::now();

  // Group the lines by path, keeping their order within each path.
  groups_.clear();
  group_of_.clear();
  std::string_view last_path;
  std::size_t last_group = 0;
  for (const Output& o : batch) {
    std::size_t g = last_group;
    if (groups_.empty() || o.rel_path != last_path) {
      auto [it, inserted] = group_of_.try_emplace(o.rel_path, groups_.size());
      if (inserted) {
        if (!isSafeRelativePath(o.rel_path)) {
          return tl::unexpected(
              fmt::format("sink files.{}: unsafe path '{}'", settings_.name, o.rel_path));
        }
        groups_.push_back(Group{o.rel_path});
        if (bufs_.size() < groups_.size()) bufs_.emplace_back();
        bufs_[it->second].clear();
      }
      g = it->second;
      last_path = o.rel_path;
      last_group = g;
    }
    std::string& buf = bufs_[g];
    buf.append(o.line);
    buf += '\n';
  }

  const auto fail = [&](std::size_t touched, const std::string& what) {
    ++counters_.write_failures;
    const std::string undo = rollback(touched);
    return tl::unexpected(fmt::format("sink files.{}: {}{}", settings_.name, what, undo));
  };

  for (std::size_t g = 0; g < groups_.size(); ++g) {
    Group& group = groups_[g];
    auto h = pool_.acquire(group.rel_path, now);
    if (!h) return fail(g, h.error());
    // A path gets a length only from its open file: a failed open must not make up one.
    auto it = paths_.find(group.rel_path);
    if (it == paths_.end()) {
      std::int64_t size = h->size_at_open;
      if (!h->opened) {  // open in the pool but forgotten here: cannot happen, but cheap
        auto st = sys::fstat(h->fd);
        if (!st) {
          return fail(g,
                      sys::Error{"fstat " + fullPath(group.rel_path), st.error().code}.message());
        }
        size = static_cast<std::int64_t>(st->st_size);
      }
      it = paths_.emplace(std::string(group.rel_path), PathState{size, now, false}).first;
    } else if (h->opened && h->size_at_open < it->second.length) {
      it->second.length = h->size_at_open;  // shortened outside sqtail
    } else if (h->opened && h->size_at_open > it->second.length) {
      // Bytes past what we hold: a write whose undo failed, or a crash not yet recovered.
      if (auto r = sys::ftruncate(h->fd, it->second.length); !r) {
        pool_.discard(group.rel_path);  // so that the next write opens and tries again
        return fail(
            g,
            sys::Error{r.error().what + " " + fullPath(group.rel_path), r.error().code}.message());
      }
    }
    PathState& state = *(group.state = &it->second);
    state.last_used = now;
    group.before = state.length;
    group.touched = true;
    const std::string& buf = bufs_[g];
    if (auto r = sys::writeAll(h->fd, buf.data(), buf.size()); !r) {
      return fail(g + 1, sys::Error{"write " + fullPath(group.rel_path), r.error().code}.message());
    }
    state.length += static_cast<std::int64_t>(buf.size());
    // O_APPEND wrote at the file's end, wherever that was: a file cut short by someone else
    // while it was open (a copytruncate of the output) ends at its real length, and an undo
    // must cut back to where these lines began, not lengthen it with zeros.
    if (auto st = sys::fstat(h->fd); st && static_cast<std::int64_t>(st->st_size) != state.length) {
      state.length = static_cast<std::int64_t>(st->st_size);
      group.before = state.length - static_cast<std::int64_t>(buf.size());
    }
  }
  if (auto r = pool_.syncDirty(); !r) return fail(groups_.size(), r.error());

  std::vector<Length> out;
  out.reserve(groups_.size());
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    out.push_back({std::string(groups_[g].rel_path), groups_[g].state->length});
    counters_.bytes += bufs_[g].size();
    if (bufs_[g].capacity() > kKeepBufferBytes) std::string().swap(bufs_[g]);
  }
  counters_.lines += batch.size();
  return out;
}

std::string FileSink::rollback(std::size_t groups) {
  std::string undo_errors;
  for (std::size_t g = 0; g < groups; ++g) {
    Group& group = groups_[g];
    if (!group.touched) continue;
    group.state->length = group.before;
    pool_.markClean(group.rel_path);
    if (auto r = sys::truncate(fullPath(group.rel_path), group.before); !r) {
      // The next open cuts it back (the length is kept); until then the handle must go.
      group.state->undo_failed = true;
      pool_.discard(group.rel_path);
      undo_errors += "; could not undo: " + r.error().message();
    } else {
      group.state->undo_failed = false;
    }
  }
  return undo_errors;
}

std::size_t FileSink::closeIdle(Clock::time_point now) {
  const std::size_t closed = pool_.closeIdle(now);
  if (now < next_sweep_) return closed;
  next_sweep_ = now + settings_.handle_idle / 4;
  for (auto it = paths_.begin(); it != paths_.end();) {
    const bool idle = now - it->second.last_used >= settings_.handle_idle;
    if (idle && !it->second.undo_failed && !pool_.isOpen(it->first)) {
      it = paths_.erase(it);
    } else {
      ++it;
    }
  }
  return closed;
}

std::optional<std::int64_t> FileSink::knownLength(std::string_view rel_path) const {
  auto it = paths_.find(rel_path);
  if (it == paths_.end()) return std::nullopt;
  return it->second.length;
}

FileSink::Counters FileSink::counters() const {
  Counters c = counters_;
  c.pool = pool_.counters();
  return c;
}

}  // namespace sqtail::sink
