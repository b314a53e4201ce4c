#include "app/tail_loop.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <filesystem>

#include <fmt/core.h>

#include "obs/log.hpp"

namespace sqtail::app {

namespace {

bool addToEpoll(int epfd, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

// A window's backlog this large (a quarter of the kernel's default queue of 16,384) means
// that many files are written at once: inotify then stays in epoll for a while, so that the
// queue is read as it fills instead of overflowing into full rescans.
constexpr std::size_t kMaxBacklogEvents = 4096;
constexpr auto kStayArmedAfterBigBacklog = std::chrono::seconds(10);

}  // namespace

TailLoop::TailLoop(const config::Config& config, Handoff& handoff, Counters& counters,
                   std::vector<sink::StoredFile> stored, bool once, const usage::Pricing& pricing,
                   TailMetrics metrics)
    : config_(config),
      pricing_(pricing),
      handoff_(handoff),
      counters_(counters),
      metrics_(std::move(metrics)),
      once_(once),
      cwd_(std::filesystem::current_path().string()),
      epoll_(epoll_create1(EPOLL_CLOEXEC)),
      stop_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      reader_(config.read_chunk_bytes, config.max_line_bytes, parse::kPadding) {
  for (auto& s : stored) {
    next_id_ = std::max(next_id_, s.id + 1);
    // The newest row of an inode wins; rows of every state are kept, so that a file that
    // comes back (its source re-added, a mount back) resumes instead of being read again.
    stored_.insert_or_assign(std::pair{s.dev, s.inode}, s);
  }
}

void TailLoop::buildSources() {
  records_ = std::make_unique<RecordBuilder>(config_, pricing_, /*with_outputs=*/true,
                                             sink::kToSqlite | sink::kToPostgres);
  metrics_.resolveSources(config_);
  // A new builder's caches count from zero; the metrics go on from what they showed.
  stack_hits_base_.clear();
  stack_misses_base_.clear();
  for (std::size_t i = 0; i < metrics_.stack_hits.size(); ++i) {
    stack_hits_base_.push_back(metrics_.stack_hits[i].value());
    stack_misses_base_.push_back(metrics_.stack_misses[i].value());
  }
  discovery_ = std::make_unique<watch::Discovery>(config_.sources, cwd_, inotify_.get());
}

TailLoop::~TailLoop() = default;

void TailLoop::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = sys::writeSome(stop_.get(), &one, sizeof one);
}

void TailLoop::requestStop() {
  stop_requested_ = true;
  wake();
}

void TailLoop::requestDrain() {
  drain_requested_ = true;
  requestStop();
}

void TailLoop::requestReload(config::Config next) {
  {
    std::lock_guard lock(reload_mu_);
    pending_reload_ = std::move(next);
  }
  wake();
}

void TailLoop::requestSnapshot(SnapshotFilter wants_fd, std::function<void(TailSnapshot)> done) {
  std::lock_guard lock(snapshot_mu_);
  SnapshotRequest request{std::move(wants_fd), std::move(done)};
  if (exited_) {
    // The tail thread is done with its files (they stay open until the loop is destroyed).
    serveSnapshot(request);
    return;
  }
  pending_snapshot_ = std::move(request);
  snapshot_requested_ = true;
  wake();
}

void TailLoop::serveSnapshot(SnapshotRequest& request) {
  TailSnapshot snap;
  snap.config = config_;
  snap.files.reserve(files_.size());
  for (const auto& [id, f] : files_) {
    if (f->closed) continue;
    TailSnapshot::File s;
    s.id = f->id;
    s.source = f->source;
    s.path = f->path;
    s.identity = f->identity;
    s.offset = f->pos.offset;
    s.line_no = f->pos.line_no;
    s.size = f->size;
    s.state = std::string(f->state);
    if (f->fd.valid() && request.wants_fd(f->identity, f->pos.offset)) {
      // Without a descriptor (EMFILE), the reader opens the file by its path.
      const int copy = ::fcntl(f->fd.get(), F_DUPFD_CLOEXEC, 0);
      if (copy >= 0) s.fd = sys::Fd(copy);
    }
    snap.files.push_back(std::move(s));
  }
  request.done(std::move(snap));
}

void TailLoop::applyReload(config::Config next) {
  seal();  // what was read under the old settings commits as it was
  if (next.db != config_.db) {
    obs::log::warn("reload: a new db ({}) takes effect at restart", next.db.string());
    next.db = config_.db;
  }
  if (next.http != config_.http) {
    obs::log::warn("reload: [http] changes take effect at restart");
    next.http = config_.http;
  }
  std::vector<int> remap(config_.sources.size(), -1);
  for (std::size_t i = 0; i < config_.sources.size(); ++i) {
    for (std::size_t j = 0; j < next.sources.size(); ++j) {
      if (config_.sources[i].name == next.sources[j].name) remap[i] = static_cast<int>(j);
    }
  }
  std::vector<File*> removed;
  for (auto& [id, f] : files_) {
    if (!f->closed && remap[static_cast<std::size_t>(f->source)] < 0) removed.push_back(f.get());
  }
  // A removed source's files stop here; their checkpoints stay, so re-adding it resumes.
  ready_.erase(
      std::remove_if(
          ready_.begin(), ready_.end(),
          [&](File* f) { return std::find(removed.begin(), removed.end(), f) != removed.end(); }),
      ready_.end());
  for (File* f : removed) {
    f->queued = false;
    refreshCheckHash(*f);
    stored_.insert_or_assign(
        std::pair{f->identity.dev, f->identity.inode},
        sink::StoredFile{f->id, config_.sources[static_cast<std::size_t>(f->source)].name, f->path,
                         f->identity.dev, f->identity.inode, f->identity.birth,
                         f->identity.fingerprint, f->identity.fingerprint_len, f->check_hash,
                         f->check_len, f->pos.offset, f->pos.line_no, f->size,
                         std::string(f->state)});
    closeFile(*f);
  }
  // Their checkpoints are sealed now, under the source names they were read with, and their
  // ids leave files_: a file that another source's globs find again below reuses its id.
  seal();
  for (auto& [id, f] : files_) {
    if (f->closed) continue;
    metrics_.files_tracked[static_cast<std::size_t>(f->source)].dec();
    f->source = remap[static_cast<std::size_t>(f->source)];
  }
  const auto old_names = config_.sources;
  config_ = std::move(next);
  reader_ = tail::LineReader(config_.read_chunk_bytes, config_.max_line_bytes, parse::kPadding);
  buildSources();
  for (auto& [id, f] : files_) {
    if (!f->closed) metrics_.files_tracked[static_cast<std::size_t>(f->source)].inc();
  }
  // Files of the sources as they are now; already tracked ones are found by their inode.
  discovery_->scanAll([&](const std::string& p, int src) {
    const bool is_new_source = std::none_of(old_names.begin(), old_names.end(), [&](const auto& o) {
      return o.name == config_.sources[static_cast<std::size_t>(src)].name;
    });
    openFile(p, src, is_new_source);
  });
  obs::log::info("configuration reloaded ({} sources)", config_.sources.size());
}

void TailLoop::openFile(const std::string& path, int source, bool initial) {
  std::string real = path;
  if (auto lst = sys::lstat(path); lst && S_ISLNK(lst->st_mode)) {
    std::error_code ec;
    real = std::filesystem::canonical(path, ec).string();
    if (ec) return;  // a dangling link: nothing to read until its target exists
    if (!config_.follow_symlinks && !discovery_->insideRoots(real)) {
      fmt::print(stderr,
                 "sqtail: note: not following {} -> {} (outside the watched directories; "
                 "set follow_symlinks = true)\n",
                 path, real);
      return;
    }
  }
  auto fd = sys::openRead(path);
  if (!fd) {
    if (fd.error().code != ENOENT) {
      retryOpen(path, source, initial, fd.error());
    } else {
      fileWorks(path, false);  // gone: nothing fails any more
    }
    return;
  }
  auto st = sys::fstat(fd->get());
  if (!st) return retryOpen(path, source, initial, st.error());
  if (!S_ISREG(st->st_mode)) return;
  auto id = tail::identify(fd->get(), static_cast<std::uint32_t>(config_.fingerprint_bytes));
  if (!id) return retryOpen(path, source, initial, id.error());
  fileWorks(path);

  const auto key = std::pair{id->dev, id->inode};
  if (auto it = by_inode_.find(key); it != by_inode_.end()) {
    seenUnderPath(*it->second, path);
    if (real != path) seenUnderPath(*it->second, real);
    return;
  }
  // Another file held this path: it was replaced (rotation, atomic rename, a swapped link).
  if (auto old = by_path_.find(path); old != by_path_.end()) detach(*old->second, "rotated");

  auto f = std::make_unique<File>();
  f->source = source;
  f->path = path;
  f->fd = std::move(*fd);
  f->identity = *id;
  f->size = st->st_size;
  if (real != path) {
    f->aliases.push_back(real);
    // Writes to a link's target are reported in the target's directory.
    if (!discovery_->couldContain(real.substr(0, real.rfind('/')))) {
      discovery_->watchDir(real.substr(0, real.rfind('/')));
    }
  }

  if (auto s = stored_.find(key); s != stored_.end()) {
    if (!resumeFromStored(*f, s->second)) {
      // This is a new file on the old one's inode. The old one is gone, but what we had not
      // committed of it may live on in a copytruncate copy.
      const int old_source = sourceIndex(s->second.source);
      if (old_source < 0 || !finishFromCopy(s->second, old_source)) {
        checkpointStoredAs(s->second, "gone");
      }
    }
    stored_.erase(s);
  }
  if (f->id == 0) {
    f->id = next_id_++;
    const auto& src = config_.sources[static_cast<std::size_t>(source)];
    if (initial && src.read_from == config::ReadFrom::kTail) {
      // Start after the last complete line, so the first event is a whole line.
      f->pos.offset = f->size;
      char c = 0;
      while (f->pos.offset > 0 &&
             sys::preadFull(f->fd.get(), &c, 1, f->pos.offset - 1).value_or(0) == 1 && c != '\n') {
        --f->pos.offset;
      }
    }
  }
  track(std::move(f));
}

bool TailLoop::resumeFromStored(File& f, const sink::StoredFile& prev) {
  // Born at another time: the inode was freed and given to a new file.
  if (prev.birth != 0 && f.identity.birth != 0 && prev.birth != f.identity.birth) return false;
  const bool same_birth = prev.birth != 0 && prev.birth == f.identity.birth;
  auto head = tail::hashPrefix(f.fd.get(), prev.fingerprint_len);
  const bool same_head = head && *head && **head == prev.fingerprint;
  // Without a birth time: other first bytes under the same path are the same log truncated
  // and written again; under another path, a new file that got a freed inode. A fingerprint
  // of a few bytes (an empty or tiny file) proves nothing under another path.
  if (!same_birth && prev.path != f.path &&
      (!same_head || prev.fingerprint_len < tail::kCheckBytes)) {
    return false;
  }
  f.id = prev.id;
  f.pos.offset = prev.offset;
  f.pos.line_no = prev.line_no;
  f.check_hash = prev.check_hash;
  f.check_len = prev.check_len;
  f.checked_offset = prev.offset;
  bool rewritten = !same_head || f.size < prev.offset;
  if (!rewritten && prev.check_len > 0) {
    auto before = tail::hashRange(f.fd.get(), prev.offset - prev.check_len, prev.check_len);
    rewritten = !before || !*before || **before != prev.check_hash;
  }
  if (rewritten) {
    // Truncated or rewritten while we were away. What we had not read may survive in a
    // copy (copytruncate); what the file holds now is read from 0.
    const tail::Identity now = f.identity;
    f.identity.fingerprint = prev.fingerprint;
    f.identity.fingerprint_len = prev.fingerprint_len;
    recoverFromCopy(f);
    f.identity = now;
    f.pos = {};
    f.checked_offset = -1;
    f.truncations_added = 1;
    counters_.truncations++;
    metrics_.truncated[static_cast<std::size_t>(f.source)].inc();
  }
  return true;
}

void TailLoop::seenUnderPath(File& f, const std::string& path) {
  auto mapped = by_path_.find(path);
  if (mapped != by_path_.end() && mapped->second == &f) {
    enqueue(f);
    return;
  }
  if (mapped != by_path_.end()) detach(*mapped->second, "rotated");
  if (f.detached) {
    // Renamed away and back under a name that matches: the same file, followed again.
    f.detached = false;
    f.state = "active";
    f.path = path;
  } else if (auto old = sys::stat(f.path);
             old && static_cast<std::uint64_t>(old->st_ino) == f.identity.inode &&
             static_cast<std::uint64_t>(old->st_dev) == f.identity.dev) {
    f.aliases.push_back(path);  // both names exist: a second link to one file, read once
  } else {
    if (auto it = by_path_.find(f.path); it != by_path_.end() && it->second == &f)
      by_path_.erase(it);
    f.path = path;  // a rename we did not see
  }
  by_path_[path] = &f;
  markDirty(f);
  enqueue(f);
}

void TailLoop::recoverRotatedWhileDown() {
  for (auto it = stored_.begin(); it != stored_.end();) {
    const sink::StoredFile& s = it->second;
    if (s.state != "active" && s.state != "rotated") {
      ++it;  // finished with before: nothing left to look for
      continue;
    }
    const std::string dir = s.path.substr(0, s.path.rfind('/'));
    std::string found;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      auto st = sys::lstat(entry.path().string());
      if (!st || !S_ISREG(st->st_mode)) continue;
      if (static_cast<std::uint64_t>(st->st_dev) == s.dev &&
          static_cast<std::uint64_t>(st->st_ino) == s.inode) {
        found = entry.path().string();
        break;
      }
    }
    const int source = sourceIndex(s.source);
    if (source < 0) {
      ++it;
      continue;
    }
    if (found.empty()) {
      // The file itself is gone, but a copytruncate copy of it may hold what we had not
      // committed (copied, then the original deleted or rotated away while we were down).
      it = finishFromCopy(s, source) ? stored_.erase(it) : std::next(it);
      continue;
    }
    auto fd = sys::openRead(found);
    auto id = fd ? tail::identify(fd->get(), static_cast<std::uint32_t>(config_.fingerprint_bytes))
                 : sys::Result<tail::Identity>(tl::unexpected(fd.error()));
    auto st = fd ? sys::fstat(fd->get()) : sys::Result<struct stat>(tl::unexpected(fd.error()));
    if (!fd || !id || !st) {
      ++it;
      continue;
    }
    auto f = std::make_unique<File>();
    f->source = source;
    f->path = found;
    f->fd = std::move(*fd);
    f->identity = *id;
    f->size = st->st_size;
    if (!resumeFromStored(*f, s)) {
      // Its inode now belongs to another file: ours is gone, but may live on in a copy.
      it = finishFromCopy(s, source) ? stored_.erase(it) : std::next(it);
      continue;
    }
    if (found == s.path) {
      obs::log::info("finishing rotated file {}", found);
    } else {
      obs::log::info("{} was rotated to {} while sqtail was down; finishing it", s.path, found);
    }
    f->detached = true;
    f->state = "rotated";
    f->close_at = Clock::now() + config_.rotate_wait;
    File& ref = *f;
    track(std::move(f));
    ref.detached = true;  // track() maps its path so that its writes are still seen
    it = stored_.erase(it);
  }
}

int TailLoop::sourceIndex(std::string_view name) const {
  for (std::size_t i = 0; i < config_.sources.size(); ++i) {
    if (config_.sources[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

bool TailLoop::finishFromCopy(const sink::StoredFile& s, int source) {
  auto f = std::make_unique<File>();
  f->id = s.id;
  f->source = source;
  f->path = s.path;
  f->identity = tail::Identity{s.dev, s.inode, s.fingerprint, s.fingerprint_len, s.birth};
  f->pos.offset = s.offset;
  f->pos.line_no = s.line_no;
  f->size = s.size;
  f->check_hash = s.check_hash;
  f->check_len = s.check_len;
  f->checked_offset = s.offset;
  f->state = "gone";
  const std::int64_t before = f->pos.offset;
  recoverFromCopy(*f);
  if (f->pos.offset == before) return false;  // no copy, or nothing more in it
  // Keep it just long enough to seal its checkpoint with the rows read from the copy.
  File& ref = *f;
  f->closed = true;
  files_[f->id] = std::move(f);
  markDirty(ref);
  closing_.push_back(ref.id);
  return true;
}

void TailLoop::track(std::unique_ptr<File> file) {
  File& f = *file;
  by_path_[f.path] = &f;
  for (const auto& alias : f.aliases) by_path_[alias] = &f;
  by_inode_[{f.identity.dev, f.identity.inode}] = &f;
  counters_.files_tracked++;
  metrics_.files_tracked[static_cast<std::size_t>(f.source)].inc();
  counters_.backlog_bytes += std::max<std::int64_t>(0, f.size - f.pos.offset);
  files_[f.id] = std::move(file);
  markDirty(f);
  enqueue(f);
}

void TailLoop::checkpointStoredAs(const sink::StoredFile& s, std::string_view state) {
  batch_.files.push_back(sink::FileCheckpoint{
      s.id, s.source, s.path, s.dev, s.inode, s.birth, s.fingerprint, s.fingerprint_len,
      s.check_hash, s.check_len, s.offset, s.line_no, s.size, state, 0, 0, 0, 0});
}

void TailLoop::enqueue(File& f) {
  if (f.queued || f.closed) return;
  f.queued = true;
  ready_.push_back(&f);
}

// Long enough to gather a logger's line-by-line writes into one read, short next to
// flush_interval (commits wait for the batch deadline anyway).
constexpr auto kCoalesceWindow = std::chrono::milliseconds(50);

void TailLoop::defer(File& f, Clock::time_point seen) {
  if (f.seen_at == Clock::time_point{}) f.seen_at = seen;
  if (f.queued || f.pending || f.closed) return;
  f.pending = true;
  pending_.push_back(&f);
  if (coalesce_at_ == Clock::time_point{}) {
    coalesce_at_ =
        Clock::now() + std::min<Clock::duration>(kCoalesceWindow, config_.flush_interval / 4);
  }
}

void TailLoop::releasePending() {
  for (File* f : pending_) {
    f->pending = false;
    enqueue(*f);
  }
  pending_.clear();
  coalesce_at_ = {};
  if (!inotify_armed_) {
    // What was written meanwhile has waited a window already: read it now too.
    armInotify(true);
    drainInotify();
  }
}

void TailLoop::armInotify(bool armed) {
  if (!inotify_ || inotify_armed_ == armed) return;
  // Removed, not modified to an empty mask: a registered descriptor's every event still
  // wakes the waiting thread (to find nothing and sleep again) on the kernels tried.
  if (armed && !addToEpoll(epoll_.get(), inotify_->fd())) {
    // Without it nothing would say that a file was written: find changes by rescanning.
    obs::log::warn("epoll_ctl: {}; polling every {} ms", strerror(errno),
                   config_.poll_interval.count());
    polling_ = true;
    if (metrics_.health != nullptr) metrics_.health->setPolling(true);
    return;
  }
  if (!armed) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, inotify_->fd(), nullptr);
  inotify_armed_ = armed;
  if (!armed) disarmed_at_ = Clock::now();
}

void TailLoop::drainInotify() {
  // Events queued while disarmed are taken as reported when the window opened.
  const bool backlog = disarmed_at_ != Clock::time_point{};
  std::size_t events = 0;
  inotify_->drain([&](const watch::Event& ev) {
    ++events;
    onInotify(ev);
  });
  if (backlog && events > kMaxBacklogEvents)
    stay_armed_until_ = Clock::now() + kStayArmedAfterBigBacklog;
  // A MOVED_FROM without its MOVED_TO left the watched tree.
  moved_from_.clear();
  untracked_moves_.clear();
  disarmed_at_ = {};
  if (backlog) {
    for (File* f : pending_) {
      f->pending = false;
      enqueue(*f);
    }
    pending_.clear();
    coalesce_at_ = {};
  } else if (coalesce_at_ != Clock::time_point{} && Clock::now() >= stay_armed_until_) {
    // Files wait for the window to close: until then, more writes need not wake us.
    armInotify(false);
  }
}

void TailLoop::markDirty(File& f) {
  if (f.dirty) return;
  f.dirty = true;
  dirty_.push_back(&f);
  if (batch_deadline_ == Clock::time_point{})
    batch_deadline_ = Clock::now() + config_.flush_interval;
}

void TailLoop::unmapPaths(File& f) {
  for (const std::string* p : {&f.path}) {
    if (auto it = by_path_.find(*p); it != by_path_.end() && it->second == &f) by_path_.erase(it);
  }
  for (const auto& alias : f.aliases) {
    if (auto it = by_path_.find(alias); it != by_path_.end() && it->second == &f)
      by_path_.erase(it);
  }
  f.aliases.clear();
}

void TailLoop::detach(File& f, std::string_view state) {
  if (f.detached) return;
  f.detached = true;
  f.state = state;
  f.close_at = Clock::now() + config_.rotate_wait;
  if (state == "deleted") {
    f.deleted_bytes = f.size;
    metrics_.deleted_bytes.add(static_cast<double>(f.size));
  }
  unmapPaths(f);
  markDirty(f);
  enqueue(f);
}

void TailLoop::closeFile(File& f) {
  if (f.pending) {
    pending_.erase(std::remove(pending_.begin(), pending_.end(), &f), pending_.end());
    f.pending = false;
  }
  refreshCheckHash(f);  // the last chance: the checkpoint sealed after this needs it
  f.fd.reset();
  f.closed = true;
  fileWorks(f.path, false);
  unmapPaths(f);
  by_inode_.erase({f.identity.dev, f.identity.inode});
  counters_.files_tracked--;
  metrics_.files_tracked[static_cast<std::size_t>(f.source)].dec();
  // Counted at close: a file renamed away and back is one rotation at most.
  if (f.state == "rotated") metrics_.rotated[static_cast<std::size_t>(f.source)].inc();
  metrics_.deleted_bytes.add(-static_cast<double>(f.deleted_bytes));
  f.deleted_bytes = 0;
  markDirty(f);
  closing_.push_back(f.id);
}

void TailLoop::drainAndMaybeClose(File& f, Clock::time_point now) {
  // A detached file whose writer may still hold it: read what came since, and close only
  // once it has been quiet for rotate_wait.
  const std::int64_t before = f.pos.offset;
  const std::int64_t size_before = f.size;
  if (finishing()) {
    while (readTurn(f)) {
    }
  } else if (readTurn(f)) {
    enqueue(f);  // more than a turn: read with the others, within the budget; judged after
    return;
  }
  if (failing_.count(f.path) != 0) {
    f.close_at = now + config_.rotate_wait;  // a read failed: it is retried, not given up
    return;
  }
  if (f.pos.offset != before || f.size != size_before) {
    f.close_at = now + config_.rotate_wait;
    return;
  }
  closeFile(f);
}

void TailLoop::refreshCheckHash(File& f) {
  if (f.checked_offset == f.pos.offset) return;
  // A hash of other bytes than those before the offset would read as a rewrite later.
  f.check_len = 0;
  if (!f.fd.valid()) return;
  const auto len =
      static_cast<std::uint32_t>(std::min<std::int64_t>(tail::kCheckBytes, f.pos.offset));
  auto h = tail::hashRange(f.fd.get(), f.pos.offset - len, len);
  if (!h || !*h) return;
  f.check_hash = **h;
  f.check_len = len;
  f.checked_offset = f.pos.offset;
}

void TailLoop::recoverFromCopy(File& f) {
  // Evidence that a file is our copy: our first bytes, and our last bytes before the offset
  // where we stopped. Without the second (nothing read yet, or no hash), any file would do.
  if (f.pos.offset == 0 || f.check_len == 0 || f.checked_offset != f.pos.offset) return;
  const std::string dir = f.path.substr(0, f.path.rfind('/'));
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string candidate = entry.path().string();
    if (candidate == f.path) continue;
    auto st = sys::lstat(candidate);
    if (!st || !S_ISREG(st->st_mode)) continue;
    if (static_cast<std::uint64_t>(st->st_ino) == f.identity.inode || st->st_size < f.pos.offset) {
      continue;
    }
    auto fd = sys::openRead(candidate);
    if (!fd) continue;
    // The copy starts with our bytes and has a line boundary where we stopped reading.
    auto head = tail::hashPrefix(fd->get(), f.identity.fingerprint_len);
    if (!head || !*head || **head != f.identity.fingerprint) continue;
    auto before = tail::hashRange(fd->get(), f.pos.offset - f.check_len, f.check_len);
    if (!before || !*before || **before != f.check_hash) continue;
    const std::int64_t from = f.pos.offset;
    while (true) {
      auto turn = reader_.readTurn(fd->get(), f.pos,
                                   [&](const tail::LineReader::Line& line) { onLine(f, line); });
      if (!turn || !turn->more) break;
    }
    counters_.copy_recoveries++;
    obs::log::info("{} was truncated; read {} bytes it lost from its copy {}", f.path,
                   f.pos.offset - from, candidate);
    return;
  }
}

void TailLoop::fileFailed(const std::string& path, int source, bool read, const sys::Error& error) {
  if (source >= 0 && static_cast<std::size_t>(source) < metrics_.open_errors.size()) {
    (read ? metrics_.read_errors : metrics_.open_errors)[static_cast<std::size_t>(source)].inc();
  }
  if (!failing_.insert(path).second) return;  // said when it started failing
  obs::log::warn("{}: {}; trying again every {} ms", path, error.message(),
                 config_.poll_interval.count());
  metrics_.files_failing.set(static_cast<double>(failing_.size()));
  if (metrics_.health != nullptr) metrics_.health->setFailingFiles(failing_.size());
}

void TailLoop::fileWorks(const std::string& path, bool say) {
  if (failing_.empty() || failing_.erase(path) == 0) return;
  if (say) obs::log::info("{}: can be opened and read again", path);
  metrics_.files_failing.set(static_cast<double>(failing_.size()));
  if (metrics_.health != nullptr) metrics_.health->setFailingFiles(failing_.size());
}

void TailLoop::retryOpen(const std::string& path, int source, bool initial,
                         const sys::Error& error) {
  fileFailed(path, source, false, error);
  retry_open_.insert_or_assign(path, RetryOpen{source, initial});
}

void TailLoop::retryRead(File& f, const sys::Error& error) {
  fileFailed(f.path, f.source, true, error);
  if (std::find(retry_read_.begin(), retry_read_.end(), f.id) == retry_read_.end()) {
    retry_read_.push_back(f.id);
  }
}

void TailLoop::runRetries() {
  auto opens = std::exchange(retry_open_, {});
  for (const auto& [path, r] : opens) {
    // Still a file of that source (a reload may have changed the globs), and not tracked yet.
    if (r.source < static_cast<int>(config_.sources.size()) &&
        discovery_->sourceOf(path) == r.source && by_path_.find(path) == by_path_.end()) {
      openFile(path, r.source, r.initial);
    } else {
      fileWorks(path, false);  // no longer ours to open
    }
  }
  for (const std::int64_t id : std::exchange(retry_read_, {})) {
    if (auto it = files_.find(id); it != files_.end() && !it->second->closed) {
      enqueue(*it->second);
    }
  }
}

bool TailLoop::readTurn(File& f) {
  auto st = sys::fstat(f.fd.get());
  if (!st) {
    retryRead(f, st.error());
    return false;
  }
  const std::int64_t size = st->st_size;
  bool rewritten = size < f.pos.offset;
  if (!rewritten && size != f.size && f.check_len > 0 && f.checked_offset == f.pos.offset) {
    // It changed: make sure it grew rather than being truncated and refilled past our offset.
    auto before = tail::hashRange(f.fd.get(), f.pos.offset - f.check_len, f.check_len);
    rewritten = before && (!*before || **before != f.check_hash);
  }
  if (rewritten) {
    // Truncated in place (copytruncate). What we had not read yet is gone from this file,
    // but may survive in the copy; then the file starts over from 0 with new content.
    recoverFromCopy(f);
    f.pos = {};
    f.checked_offset = -1;
    f.check_len = 0;
    f.identity.fingerprint_len = 0;
    f.truncations_added++;
    f.state = "active";
    counters_.truncations++;
    metrics_.truncated[static_cast<std::size_t>(f.source)].inc();
    markDirty(f);
  }
  if (size != f.size) {
    f.size = size;
    markDirty(f);
  }
  if (f.identity.fingerprint_len<config_.fingerprint_bytes&& static_cast<std::uint64_t>(size)> f
          .identity.fingerprint_len) {
    // A young file: let its fingerprint grow with it (its first bytes never change).
    if (auto id =
            tail::identify(f.fd.get(), static_cast<std::uint32_t>(config_.fingerprint_bytes))) {
      f.identity.fingerprint = id->fingerprint;
      f.identity.fingerprint_len = id->fingerprint_len;
      markDirty(f);
    }
  }
  if (size <= f.pos.offset && !f.pos.skipping) {
    f.seen_at = {};  // a write already read (its event came late): nothing is waiting
    return false;
  }

  const std::int64_t before = f.pos.offset;
  // The write that woke us is waiting until its file is read to the end: every turn until
  // then counts from when it was seen.
  turn_seen_at_ = f.seen_at;
  auto turn = reader_.readTurn(f.fd.get(), f.pos,
                               [&](const tail::LineReader::Line& line) { onLine(f, line); });
  if (!turn) {
    retryRead(f, turn.error());
    return false;
  }
  if (!turn->more) f.seen_at = {};
  fileWorks(f.path);
  if (f.pos.offset != before) {
    markDirty(f);
    if (once_) counters_.backlog_bytes -= f.pos.offset - before;
    if (turn->tail_len > 0) {
      f.check_hash = turn->tail_hash;
      f.check_len = turn->tail_len;
      f.checked_offset = f.pos.offset;
    }
  }
  return turn->more;
}

void TailLoop::onLine(File& f, const tail::LineReader::Line& line) {
  counters_.lines_read++;
  counters_.bytes_read += line.length;
  metrics_.lines_read[static_cast<std::size_t>(f.source)].inc();
  metrics_.bytes_read[static_cast<std::size_t>(f.source)].add(
      static_cast<std::uint64_t>(line.length));
  if (batch_.first_read == Clock::time_point{}) batch_.first_read = Clock::now();
  const auto added = records_->add(batch_, RecordBuilder::FileRef{f.id, f.source, f.path}, line);
  switch (added.kind) {
    case RecordBuilder::Added::Kind::kEmpty:
      counters_.empty_lines++;
      break;
    case RecordBuilder::Added::Kind::kReject:
      counters_.rejects++;
      metrics_.rejects[static_cast<std::size_t>(added.reason)].inc();
      f.rejects_added++;
      break;
    case RecordBuilder::Added::Kind::kEvent:
      f.lines_added++;
      f.last_event_ts = std::max(f.last_event_ts, added.ts_ms);
      if (added.high_priority) {
        // Committed within priority_flush of its write: seal early enough for a commit in
        // progress ahead of it and its own (each as long as recent ones took) to finish in
        // time, with a tenth of priority_flush to spare for wake-ups and scheduling.
        const auto commit = std::chrono::microseconds(counters_.commit_us_recent.load());
        const auto seen = turn_seen_at_ == Clock::time_point{} ? Clock::now() : turn_seen_at_;
        const auto flush = config_.routing.priority_flush;
        const auto due = seen + flush - flush / 10 - 2 * commit;
        if (batch_deadline_ == Clock::time_point{} || due < batch_deadline_) batch_deadline_ = due;
      }
      break;
  }
}

void TailLoop::seal() {
  for (File* f : dirty_) {
    refreshCheckHash(*f);
    batch_.files.push_back(sink::FileCheckpoint{
        f->id, config_.sources[static_cast<std::size_t>(f->source)].name, f->path, f->identity.dev,
        f->identity.inode, f->identity.birth, f->identity.fingerprint, f->identity.fingerprint_len,
        f->check_hash, f->check_len, f->pos.offset, f->pos.line_no, f->size, f->state,
        f->lines_added, f->rejects_added, f->truncations_added, f->last_event_ts});
    f->dirty = false;
    f->lines_added = f->rejects_added = f->truncations_added = f->last_event_ts = 0;
  }
  dirty_.clear();
  records_->sealRollups(batch_);
  for (std::size_t i = 0; i < metrics_.stack_hits.size(); ++i) {
    // The cache counts from its start (a reload starts a new one): publish the growth.
    const auto st = records_->stackStats(i);
    metrics_.stack_hits[i].set(stack_hits_base_[i] + st.hits);
    metrics_.stack_misses[i].set(stack_misses_base_[i] + st.misses);
  }
  reportGauges();
  for (auto id : closing_) files_.erase(id);
  closing_.clear();
  batch_deadline_ = {};
  if (batch_.empty()) return;
  handoff_.push(std::move(batch_));
  batch_ = sink::Batch{};
}

void TailLoop::reportGauges() {
  if (inotify_) metrics_.inotify_watches.set(static_cast<double>(inotify_->watchCount()));
  metrics_.buffered.set(static_cast<double>(handoff_.used() + batch_.memoryBytes()));
  const auto now = Clock::now();
  if (metrics_.health != nullptr && now >= next_lag_report_) {
    // At most once a second: a scan of every file. Sizes are as of each file's last turn.
    std::int64_t lag = 0;
    for (const auto& [id, f] : files_) lag = std::max(lag, f->size - f->pos.offset);
    metrics_.health->setMaxFileLag(static_cast<std::uint64_t>(lag));
    next_lag_report_ = now + std::chrono::seconds(1);
  }
}

bool TailLoop::budgetAllowsRead() const {
  // A turn adds at most about two copies of a quantum to the arena (the raw line, fields and
  // file paths), and a row per line: counted at one per 24 bytes, the shortest lines a JSON
  // logger writes. Vectors that must grow double, so that growth is counted whole.
  const std::size_t quantum =
      std::max<std::size_t>(config_.read_chunk_bytes, config_.max_line_bytes);
  return handoff_.used() + batch_.memoryBytesAfter(2 * quantum, config_.read_chunk_bytes / 24) <=
         config_.max_buffer_bytes;
}

int TailLoop::timeoutMs(Clock::time_point now) const {
  Clock::time_point next = Clock::time_point::max();
  if (batch_deadline_ != Clock::time_point{}) next = batch_deadline_;
  for (const auto& [id, f] : files_) {
    if (f->detached && !f->closed) next = std::min(next, f->close_at);
  }
  if (polling_ || retriesDue()) next = std::min(next, next_poll_);
  if (coalesce_at_ != Clock::time_point{}) next = std::min(next, coalesce_at_);
  if (next == Clock::time_point::max()) return -1;
  if (next <= now) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
  return static_cast<int>(std::min<std::int64_t>(ms, INT_MAX));
}

void TailLoop::onInotify(const watch::Event& ev) {
  if (ev.mask & IN_Q_OVERFLOW) {
    // Events were lost: reconcile everything against the file system.
    counters_.inotify_overflows++;
    metrics_.inotify_overflows.inc();
    obs::log::warn("inotify queue overflowed; rescanning every file");
    rescan_pending_ = true;
    return;
  }
  if (ev.mask & IN_IGNORED) {
    // The directory is gone (or unmounted); if it comes back, a rescan finds it.
    inotify_->forget(ev.wd);
    rescan_pending_ = true;
    return;
  }
  const std::string* dir = inotify_->dirOf(ev.wd);
  if (dir == nullptr || ev.name.empty()) return;
  std::string path = *dir == "/" ? "/" + std::string(ev.name) : *dir + "/" + std::string(ev.name);

  if (ev.mask & IN_ISDIR) {
    if (ev.mask & (IN_CREATE | IN_MOVED_TO)) {
      discovery_->scanDir(path, [&](const std::string& p, int src) { openFile(p, src, false); });
    }
    return;
  }
  if (ev.mask & IN_MODIFY) {
    if (auto it = by_path_.find(path); it != by_path_.end()) {
      File& f = *it->second;
      if (f.detached) f.close_at = Clock::now() + config_.rotate_wait;
      defer(f, disarmed_at_ != Clock::time_point{} ? disarmed_at_ : Clock::now());
    }
  }
  // inotify names paths, not files: by the time an event is read, the name may belong to a
  // newer file. A MOVED_FROM or DELETE about the file that holds the name now is stale.
  auto stillHere = [&](const File& f) {
    auto st = sys::stat(path);
    return st && static_cast<std::uint64_t>(st->st_ino) == f.identity.inode &&
           static_cast<std::uint64_t>(st->st_dev) == f.identity.dev;
  };
  if (ev.mask & IN_MOVED_FROM) {
    auto it = by_path_.find(path);
    if (it != by_path_.end() && stillHere(*it->second)) it = by_path_.end();
    if (it != by_path_.end()) {
      File& f = *it->second;
      moved_from_[ev.cookie] = &f;
      detach(f, "rotated");
    } else if (int src = discovery_->sourceOf(path); src >= 0) {
      // A matching file renamed away before we handled its creation (a fast rotation):
      // follow it under its new name all the same.
      untracked_moves_[ev.cookie] = src;
    }
  }
  if (ev.mask & IN_MOVED_TO) {
    if (auto it = untracked_moves_.find(ev.cookie); it != untracked_moves_.end()) {
      const int src = it->second;
      untracked_moves_.erase(it);
      if (discovery_->sourceOf(path) < 0) {
        openFile(path, src, false);
        if (auto f = by_path_.find(path); f != by_path_.end()) {
          File& file = *f->second;
          detach(file, "rotated");
          by_path_[path] = &file;  // its late writes are still seen
        }
        return;
      }
    }
    if (auto it = moved_from_.find(ev.cookie); it != moved_from_.end()) {
      File& f = *it->second;
      moved_from_.erase(it);
      if (f.closed) return;
      if (discovery_->sourceOf(path) >= 0) {
        seenUnderPath(f, path);  // renamed to a name that still matches: still followed
      } else {
        // Renamed out of the globs (app.jsonl -> app.jsonl.1): keep seeing its writes
        // under the new name until rotate_wait has passed.
        f.path = path;
        by_path_[path] = &f;
        markDirty(f);
      }
      return;
    }
  }
  if (ev.mask & (IN_CREATE | IN_MOVED_TO)) {
    int src = discovery_->sourceOf(path);
    if (src >= 0) openFile(path, src, false);
  }
  if (ev.mask & IN_DELETE) {
    if (auto it = by_path_.find(path); it != by_path_.end() && !stillHere(*it->second)) {
      detach(*it->second, "deleted");
    }
  }
}

void TailLoop::rescan() {
  // Safety net (overflow, polling): any file we hold whose path now names another inode
  // was rotated; everything gets a read turn; new files are picked up.
  std::vector<File*> held;
  for (auto& [id, f] : files_) {
    if (!f->closed) held.push_back(f.get());
  }
  for (File* f : held) {
    if (f->detached) {
      enqueue(*f);
      continue;
    }
    auto st = sys::stat(f->path);
    if (!st || static_cast<std::uint64_t>(st->st_ino) != f->identity.inode ||
        static_cast<std::uint64_t>(st->st_dev) != f->identity.dev) {
      detach(*f, st ? "rotated" : "deleted");
    }
    enqueue(*f);
  }
  discovery_->scanAll([&](const std::string& p, int src) { openFile(p, src, false); });
}

void TailLoop::run() {
  if (!once_) {
    inotify_ = std::make_unique<watch::Inotify>();
    if (!inotify_->ok()) {
      obs::log::warn("inotify unavailable ({}); polling every {} ms", strerror(errno),
                     config_.poll_interval.count());
      inotify_.reset();
      polling_ = true;
    }
  }
  buildSources();
  discovery_->scanAll([&](const std::string& p, int src) { openFile(p, src, true); });
  recoverRotatedWhileDown();
  // Checkpoints whose file was not found: record that they are gone (they are kept, so a
  // file that comes back with the same identity still resumes).
  for (auto& [key, s] : stored_) {
    if (s.state == "active") {
      checkpointStoredAs(s, "gone");
      s.state = "gone";
    }
  }
  if (discovery_->watchFailures() > 0) polling_ = true;
  if (polling_) {
    metrics_.polling_fallbacks.inc();
    if (metrics_.health != nullptr) metrics_.health->setPolling(true);
  }
  next_poll_ = Clock::now() + config_.poll_interval;

  addToEpoll(epoll_.get(), stop_.get());
  addToEpoll(epoll_.get(), handoff_.wakeFd());
  if (inotify_) addToEpoll(epoll_.get(), inotify_->fd());

  epoll_event events[8];
  for (;;) {
    // Read while there is work and memory for it; one bounded turn per file, round-robin.
    bool paused = false;
    for (int turns = 0; !ready_.empty() && turns < 64; ++turns) {
      if (!budgetAllowsRead()) {
        paused = true;
        if (paused_since_ == Clock::time_point{}) paused_since_ = Clock::now();
        counters_.backpressure_waits++;
        if (!batch_.empty() || !dirty_.empty()) seal();  // let the writer catch up
        break;
      }
      if (paused_since_ != Clock::time_point{}) {
        metrics_.backpressure_us.add(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - paused_since_)
                .count()));
        paused_since_ = {};
      }
      File* f = ready_.front();
      ready_.pop_front();
      f->queued = false;
      if (readTurn(*f)) enqueue(*f);
      if (batch_.events.size() + batch_.rejects.size() >= config_.batch_max_rows ||
          static_cast<std::uint64_t>(batch_.input_bytes) >= config_.batch_max_bytes) {
        seal();
      }
    }
    auto now = Clock::now();
    if (coalesce_at_ != Clock::time_point{} && (now >= coalesce_at_ || finishing())) {
      releasePending();
      continue;  // read them now
    }
    for (auto& [id, f] : files_) {
      if (f->detached && !f->closed && !f->queued && (now >= f->close_at || finishing())) {
        drainAndMaybeClose(*f, finishing() ? now - config_.rotate_wait : now);
        if (finishing() && !f->closed) closeFile(*f);
      }
    }
    if (finishing() && ready_.empty() && !paused) {
      seal();
      break;
    }
    if (batch_deadline_ != Clock::time_point{} && now >= batch_deadline_) seal();

    const int timeout = (!ready_.empty() && !paused) ? 0 : timeoutMs(Clock::now());
    int n = epoll_wait(epoll_.get(), events, 8, timeout);
    if (n < 0 && errno != EINTR) {
      obs::log::error("epoll_wait: {}", strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == stop_.get()) {
        std::uint64_t v;
        [[maybe_unused]] auto r = sys::readSome(stop_.get(), &v, sizeof v);
        std::optional<config::Config> next;
        {
          std::lock_guard lock(reload_mu_);
          next.swap(pending_reload_);
        }
        if (next) applyReload(std::move(*next));
        if (snapshot_requested_.exchange(false)) {
          seal();  // the positions handed over are those of the batches pushed so far
          std::lock_guard lock(snapshot_mu_);
          if (pending_snapshot_) {
            serveSnapshot(*pending_snapshot_);
            pending_snapshot_.reset();
          }
        }
        if (drain_requested_ && !draining_) {
          // Everything that is in the files now gets read before we stop.
          draining_ = true;
          rescan();
        } else if (stop_requested_ && !drain_requested_) {
          stopping_ = true;
        }
      } else if (fd == handoff_.wakeFd()) {
        handoff_.clearWake();
      } else if (inotify_ && fd == inotify_->fd()) {
        drainInotify();
      }
    }
    if (stopping_) {
      seal();
      break;
    }
    if (retriesDue() && !polling_ && Clock::now() >= next_poll_) {
      runRetries();
      next_poll_ = Clock::now() + config_.poll_interval;
    }
    if (rescan_pending_ || (polling_ && Clock::now() >= next_poll_)) {
      retry_open_.clear();  // a rescan opens every file and reads every file
      retry_read_.clear();
      rescan_pending_ = false;
      rescan();
      next_poll_ = Clock::now() + config_.poll_interval;
    }
  }
  {
    // Every batch is sealed: a snapshot now holds the final positions.
    seal();  // after an error exit too: the positions are those of the batches pushed
    std::lock_guard lock(snapshot_mu_);
    exited_ = true;
    if (pending_snapshot_) {
      serveSnapshot(*pending_snapshot_);
      pending_snapshot_.reset();
    }
  }
  handoff_.close();
}

}  // namespace sqtail::app
