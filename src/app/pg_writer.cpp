#include "app/pg_writer.hpp"

#include <algorithm>
#include <condition_variable>
#include <limits>
#include <optional>
#include <set>
#include <thread>

#include <fmt/core.h>

#include "app/record_builder.hpp"
#include "obs/log.hpp"
#include "parse/extractor.hpp"
#include "tail/identity.hpp"
#include "tail/line_reader.hpp"

namespace sqtail::app {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A writer that cannot commit after the tail is done stops trying after this long: what it
// lacks is read from the files on the next start. --once, whose job is to finish, waits more.
constexpr auto kExitBudget = 1s;
constexpr auto kExitBudgetOnce = 10s;
// A refusal that is not transient (permissions, a constraint, a newer schema) needs a person:
// retried this often meanwhile.
constexpr auto kSlowRetry = 30s;

std::string humanBytes(std::int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

}  // namespace

PgWriter::PgWriter(const config::Config& config, const usage::Pricing& pricing, Handoff& handoff,
                   RequestSnapshot request_snapshot, SinkMetrics metrics, Options options)
    : pricing_(pricing),
      handoff_(handoff),
      request_snapshot_(std::move(request_snapshot)),
      metrics_(std::move(metrics)),
      options_(std::move(options)),
      backoff_(250ms, 5s),
      pressure_bytes_(config.max_buffer_bytes / 2) {
  settings_ = sink::PgSettings{config.postgres->conninfo, config.postgres->host_id,
                               config.postgres->schema};
  for (const auto& s : options_.known) {
    Known k;
    k.checkpoint = sink::FileCheckpoint{s.id,
                                        s.source,
                                        s.path,
                                        s.dev,
                                        s.inode,
                                        s.birth,
                                        s.fingerprint,
                                        s.fingerprint_len,
                                        s.check_hash,
                                        s.check_len,
                                        s.offset,
                                        s.line_no,
                                        s.size,
                                        {},
                                        0,
                                        0,
                                        0,
                                        0};
    k.state = s.state;
    k.first_offset = s.offset;
    k.first_line_no = s.line_no;
    known_.insert_or_assign(Key{s.dev, s.inode, s.birth}, std::move(k));
  }
  options_.known.clear();
  handoff_.setObserver(options_.consumer, [this](const sink::Batch& b) { note(b); });
  handoff_.setBehind(options_.consumer);
}

PgWriter::~PgWriter() = default;

void PgWriter::note(const sink::Batch& batch) {
  std::lock_guard lock(notes_mu_);
  for (const auto& f : batch.files) {
    auto [it, added] = notes_.try_emplace(Key{f.dev, f.inode, f.birth});
    Known& n = it->second;
    if (added) {
      n.first_offset = f.offset;
      n.first_line_no = f.line_no;
    }
    n.checkpoint = f;
    n.checkpoint.state = {};
    n.state = std::string(f.state);
  }
}

void PgWriter::run() {
  for (;;) {
    if (!sink_ || !sink_->connected()) {
      if (behind_ && handoff_.closed() && !options_.finish_at_exit) break;
      if (!connect()) {
        if (exitDue()) break;
        continue;
      }
    }
    if (behind_) {
      if (handoff_.closed() && !options_.finish_at_exit) break;
      catchUp();
      if (behind_ && exitDue()) break;
      continue;
    }
    Delivery d;
    if (!handoff_.pop(options_.consumer, d)) break;
    commitLive(d);
    if (behind_ && exitDue()) break;
  }
  if (behind_) {
    obs::log::warn(
        "PostgreSQL is behind at exit: the next start sends it what it lacks, from the files");
  }
}

bool PgWriter::connect() {
  tl::expected<void, sink::PgError> r;
  if (sink_) {
    r = sink_->reconnect();
  } else if (auto s = sink::PgSink::connect(settings_)) {
    sink_ = std::move(*s);
  } else {
    r = tl::unexpected(s.error());
  }
  if (!r) {
    failed(r.error(), "connecting");
    pause(r.error());
    return false;
  }
  backoff_.reset();
  obs::log::info("PostgreSQL: connected to {} as host_id '{}'",
                 sink::redactConninfo(settings_.conninfo), sink_->hostId());
  return true;
}

void PgWriter::commitLive(Delivery& d) {
  // PostgreSQL's checkpoints never pass SQLite's: after a crash the tail resumes from SQLite's,
  // and what PostgreSQL lacks up to there it reads itself (catchUp).
  handoff_.waitCommitted(options_.follows, d.seq);
  for (;;) {
    sink::PgError error;
    if (sink_->connected()) {
      const auto started = Clock::now();
      auto r = sink_->commit(*d.batch);
      if (r) {
        succeeded(*d.batch, started);
        d = Delivery{};
        return;
      }
      error = r.error();
      failed(error, "committing");
    } else if (auto r = sink_->reconnect(); r) {
      backoff_.reset();
      continue;
    } else {
      error = r.error();
      failed(error, "reconnecting");
    }
    auto tooMuch = [&] {
      return handoff_.queuedBytes(options_.consumer) + d.bytes > pressure_bytes_;
    };
    if (!exitDue() && !tooMuch()) pause(error);
    if (exitDue() || tooMuch()) {
      fallBehind(d.batch.get(), true);
      d = Delivery{};
      return;
    }
  }
}

void PgWriter::fallBehind(const sink::Batch* in_hand, bool failing) {
  if (in_hand != nullptr) note(*in_hand);
  const std::size_t queued = handoff_.queuedBytes(options_.consumer);
  handoff_.setBehind(options_.consumer);
  behind_ = true;
  if (failing && !handoff_.closed()) {
    obs::log::warn(
        "PostgreSQL cannot commit and {} wait for it: falling behind so that the other sinks "
        "go on; the files are the buffer, and what it missed is read from them again once it "
        "commits",
        humanBytes(static_cast<std::int64_t>(queued)));
  }
}

void PgWriter::catchUp() {
  auto loaded = sink_->loadCheckpoints();
  if (!loaded) {
    failed(loaded.error(), "loading checkpoints");
    pause(loaded.error());
    return;
  }
  auto pg = std::make_shared<std::map<Key, sink::PgCheckpoint>>();
  for (auto& c : *loaded) pg->insert_or_assign(Key{c.dev, c.inode, c.birth}, std::move(c));

  // The tail's positions, with delivery to this writer resumed right after them. The state
  // outlives this call: the tail thread may still be leaving the callback when we go on.
  struct Handover {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<TailSnapshot> snapshot;
    std::uint64_t seq = 0;
  };
  auto handover = std::make_shared<Handover>();
  TailLoop::SnapshotFilter lagging = [pg](const tail::Identity& id, std::int64_t offset) {
    auto it = pg->find(Key{id.dev, id.inode, id.birth});
    return it == pg->end() ? offset > 0 : it->second.offset != offset;
  };
  request_snapshot_(lagging, [handover, this](TailSnapshot snap) {
    const std::uint64_t seq = handoff_.resume(options_.consumer);
    std::lock_guard lock(handover->mu);
    handover->seq = seq;
    handover->snapshot = std::move(snap);
    handover->cv.notify_one();
  });
  {
    std::unique_lock lock(handover->mu);
    handover->cv.wait(lock, [&] { return handover->snapshot.has_value(); });
  }
  behind_ = false;
  const TailSnapshot& snap = *handover->snapshot;

  std::map<Key, Known> notes;
  {
    std::lock_guard lock(notes_mu_);
    notes.swap(notes_);
  }
  for (auto& [k, n] : notes) {
    auto [it, added] = known_.try_emplace(k, n);
    if (!added) {
      const auto first = it->second.first_offset, first_line = it->second.first_line_no;
      it->second = std::move(n);
      it->second.first_offset = first;
      it->second.first_line_no = first_line;
    }
  }
  // The positions are SQLite's once it has committed the batches pushed before them.
  handoff_.waitCommitted(options_.follows, handover->seq);

  // Tracked files are read below; the rest of known_ are files closed meanwhile.
  std::map<Key, std::pair<std::int64_t, std::int64_t>> first_seen;
  for (const auto& f : snap.files) {
    const Key k{f.identity.dev, f.identity.inode, f.identity.birth};
    if (auto it = known_.find(k); it != known_.end()) {
      first_seen[k] = {it->second.first_offset, it->second.first_line_no};
      known_.erase(it);
    }
  }
  Outcome o = shipLost(*pg);
  if (o == Outcome::kDone) o = readBehind(snap, *pg, first_seen);
  if (o != Outcome::kDone && !behind_) fallBehind(nullptr, false);
}

PgWriter::Outcome PgWriter::shipLost(const std::map<Key, sink::PgCheckpoint>& pg) {
  sink::Batch b;
  std::int64_t bytes = 0;
  std::vector<std::string> named;
  for (const auto& [k, n] : known_) {
    std::int64_t have = 0;
    if (auto it = pg.find(k); it != pg.end()) have = it->second.offset;
    if (n.checkpoint.offset <= have) continue;
    bytes += n.checkpoint.offset - have;
    if (named.size() < 5) {
      named.push_back(
          fmt::format("{} ({})", n.checkpoint.path, humanBytes(n.checkpoint.offset - have)));
    }
    // PostgreSQL's checkpoint moves past them: they are reported once.
    sink::FileCheckpoint c = n.checkpoint;
    c.state = n.state;
    c.lines_added = c.rejects_added = c.truncations_added = c.last_event_ts = 0;
    b.files.push_back(c);
  }
  if (b.files.empty()) {
    known_.clear();
    return Outcome::kDone;
  }
  std::string list;
  for (const auto& s : named) list += (list.empty() ? "" : ", ") + s;
  if (b.files.size() > named.size())
    list += fmt::format(" and {} more", b.files.size() - named.size());
  obs::log::warn(
      "PostgreSQL will not get {} of {} file{} closed before it caught up (their lines are in "
      "the other sinks): {}",
      humanBytes(bytes), b.files.size(), b.files.size() == 1 ? "" : "s", list);
  const Outcome o = commitCatchUp(b);
  if (o != Outcome::kFailed) known_.clear();
  return o;
}

PgWriter::Outcome PgWriter::readBehind(
    const TailSnapshot& snap, const std::map<Key, sink::PgCheckpoint>& pg,
    const std::map<Key, std::pair<std::int64_t, std::int64_t>>& first_seen) {
  RecordBuilder builder(snap.config, pricing_, /*with_outputs=*/false, sink::kToPostgres);
  tail::LineReader reader(snap.config.read_chunk_bytes, snap.config.max_line_bytes,
                          parse::kPadding);
  sink::Batch b;
  std::int64_t files = 0, bytes = 0;
  auto full = [&] {
    return b.events.size() + b.rejects.size() >= snap.config.batch_max_rows ||
           static_cast<std::uint64_t>(b.input_bytes) >= snap.config.batch_max_bytes;
  };
  for (const auto& f : snap.files) {
    const Key k{f.identity.dev, f.identity.inode, f.identity.birth};
    const auto found = pg.find(k);
    if (found == pg.end() ? f.offset == 0 : found->second.offset == f.offset) continue;
    int fd = f.fd.get();
    sys::Fd opened;
    if (fd < 0) {
      // No copy of the tail's descriptor (EMFILE): the file under its path, if it is still it.
      auto o = sys::openRead(f.path);
      auto st = o ? sys::fstat(o->get()) : sys::Result<struct stat>(tl::unexpected(o.error()));
      if (st && static_cast<std::uint64_t>(st->st_dev) == f.identity.dev &&
          static_cast<std::uint64_t>(st->st_ino) == f.identity.inode) {
        opened = std::move(*o);
        fd = opened.get();
      }
    }
    tail::ReadPosition pos;
    std::int64_t truncations = 0;
    if (found != pg.end()) {
      const sink::PgCheckpoint& p = found->second;
      bool same = fd >= 0;
      if (same && p.fingerprint_len > 0) {
        auto h = tail::hashPrefix(fd, p.fingerprint_len);
        same = h && *h && **h == p.fingerprint;
      }
      if (same && p.check_len > 0) {
        auto h = tail::hashRange(fd, p.offset - p.check_len, p.check_len);
        same = h && *h && **h == p.check_hash;
      }
      if (same && p.offset > f.offset) {
        obs::log::warn(
            "{}: PostgreSQL has more of it than the SQLite database (was the database "
            "replaced?); its lines may reach PostgreSQL twice",
            f.path);
        continue;
      }
      if (same) {
        pos.offset = p.offset;
        pos.line_no = p.line_no;
      } else if (fd >= 0) {
        truncations = 1;
        obs::log::info("{} was rewritten since PostgreSQL's checkpoint: sending it from the start",
                       f.path);
      }
    } else if (snap.config.sources[static_cast<std::size_t>(f.source)].read_from ==
               config::ReadFrom::kTail) {
      // read_from = "tail": from where sqtail started it, not from its beginning.
      if (auto it = first_seen.find(k); it != first_seen.end() && it->second.first <= f.offset) {
        pos.offset = it->second.first;
        pos.line_no = it->second.second;
      } else {
        pos.offset = f.offset;
        pos.line_no = f.line_no;
      }
    }
    const std::int64_t end = f.offset;
    if (pos.offset >= end) continue;
    if (fd < 0) {
      obs::log::warn("PostgreSQL will not get {} of {}: it cannot be read any more",
                     humanBytes(end - pos.offset), f.path);
      continue;
    }
    ++files;
    bytes += end - pos.offset;
    const std::string& source = snap.config.sources[static_cast<std::size_t>(f.source)].name;
    std::int64_t lines = 0, rejects = 0, last_ts = 0;
    auto checkpoint = [&] {
      sink::FileCheckpoint c{f.id,
                             source,
                             f.path,
                             f.identity.dev,
                             f.identity.inode,
                             f.identity.birth,
                             f.identity.fingerprint,
                             f.identity.fingerprint_len,
                             0,
                             0,
                             pos.offset,
                             pos.line_no,
                             f.size,
                             f.state,
                             lines,
                             rejects,
                             truncations,
                             last_ts};
      const auto len =
          static_cast<std::uint32_t>(std::min<std::int64_t>(tail::kCheckBytes, pos.offset));
      if (auto h = tail::hashRange(fd, pos.offset - len, len); h && *h) {
        c.check_hash = **h;
        c.check_len = len;
      }
      b.files.push_back(std::move(c));
      lines = rejects = truncations = last_ts = 0;
    };
    while (pos.offset < end) {
      auto turn = reader.readTurn(fd, pos, [&](const tail::LineReader::Line& line) {
        if (line.offset >= end) return;  // the live batches start there
        const auto added = builder.add(b, RecordBuilder::FileRef{f.id, f.source, f.path}, line);
        if (added.kind == RecordBuilder::Added::Kind::kReject) ++rejects;
        if (added.kind == RecordBuilder::Added::Kind::kEvent) {
          ++lines;
          last_ts = std::max(last_ts, added.ts_ms);
        }
      });
      if (!turn) {
        obs::log::warn("PostgreSQL will not get {} of {}: {}", humanBytes(end - pos.offset), f.path,
                       turn.error().message());
        break;
      }
      if (pos.offset >= end) {
        pos = tail::ReadPosition{};  // past `end` in this turn: back to it
        pos.offset = end;
        pos.line_no = f.line_no;
        break;
      }
      if (turn->bytes_consumed == 0 && !turn->more) {
        obs::log::warn("PostgreSQL will not get {} of {}: the file is shorter now",
                       humanBytes(end - pos.offset), f.path);
        break;
      }
      if (full()) {
        checkpoint();
        builder.sealRollups(b);
        if (const Outcome o = commitCatchUp(b); o != Outcome::kDone) return o;
      }
    }
    checkpoint();
    if (full()) {
      builder.sealRollups(b);
      if (const Outcome o = commitCatchUp(b); o != Outcome::kDone) return o;
    }
  }
  builder.sealRollups(b);
  if (const Outcome o = commitCatchUp(b); o != Outcome::kDone) return o;
  if (files > 0) {
    obs::log::info("PostgreSQL caught up: {} from {} file{} read again", humanBytes(bytes), files,
                   files == 1 ? "" : "s");
  }
  return Outcome::kDone;
}

PgWriter::Outcome PgWriter::commitCatchUp(sink::Batch& b) {
  if (b.empty() && b.rollups.empty() && b.usage.empty()) return Outcome::kDone;
  const auto started = Clock::now();
  auto r = sink_->commit(b);
  if (!r) {
    failed(r.error(), "catching up");
    b = sink::Batch{};
    fallBehind(nullptr, false);
    pause(r.error());
    return Outcome::kFailed;
  }
  succeeded(b, started);
  b = sink::Batch{};
  if (handoff_.closed() && !options_.finish_at_exit) {
    fallBehind(nullptr, false);  // a stop does not wait for a catch-up: the next start goes on
    return Outcome::kRestart;
  }
  if (handoff_.queuedBytes(options_.consumer) > pressure_bytes_) {
    // New batches come faster than the catch-up: another round, from further on.
    fallBehind(nullptr, false);
    return Outcome::kRestart;
  }
  return Outcome::kDone;
}

void PgWriter::succeeded(const sink::Batch& batch, Clock::time_point started) {
  const auto done = Clock::now();
  const sink::PgCounters& c = sink_->counters();
  const std::uint64_t rows = c.rows - rows_seen_;
  metrics_.records.add(rows);
  metrics_.batches.add(c.commits - commits_seen_);
  rows_seen_ = c.rows;
  commits_seen_ = c.commits;
  metrics_.duration.observe(std::chrono::duration<double>(done - started).count());
  metrics_.rows.observe(static_cast<double>(rows));
  if (batch.first_read != Clock::time_point{}) {
    metrics_.lag.observe(std::chrono::duration<double>(done - batch.first_read).count());
  }
  if (metrics_.health != nullptr) metrics_.health->commitSucceeded();
  if (failures_ > 0) {
    obs::log::info("PostgreSQL: committing again after {} failed attempts", failures_);
    failures_ = 0;
    last_logged_.clear();
  }
}

void PgWriter::failed(const sink::PgError& error, std::string_view doing) {
  ++failures_;
  metrics_.failures.inc();
  if (metrics_.health != nullptr) metrics_.health->commitFailed();
  // Error texts name the server redacted (redactConninfo), never a password. libpq's span
  // lines: one line here.
  std::string text;
  for (std::size_t i = 0; i < error.message.size(); ++i) {
    if (error.message[i] != '\n') {
      text += error.message[i];
      continue;
    }
    while (i + 1 < error.message.size() &&
           (error.message[i + 1] == '\t' || error.message[i + 1] == ' '))
      ++i;
    text += ' ';
  }
  const auto now = Clock::now();
  if (text == last_logged_ && now - last_log_ < 60s) return;
  last_logged_ = text;
  last_log_ = now;
  const std::string_view hint = error.transient() ? "" : " (this will not pass by itself)";
  // One line per kind: the log folds repeats of one format within its window.
  if (doing == "connecting") {
    obs::log::warn("PostgreSQL: cannot connect: {}{}; retrying", text, hint);
  } else {
    obs::log::warn("PostgreSQL: {} failed: {}{}; retrying", doing, text, hint);
  }
}

void PgWriter::pause(const sink::PgError& error) {
  auto d = backoff_.next();
  if (!error.transient()) d = std::max<std::chrono::milliseconds>(d, kSlowRetry);
  if (handoff_.closed()) {
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(d, 250ms));
    return;
  }
  handoff_.waitFor(options_.consumer, d,
                   behind_ ? std::numeric_limits<std::size_t>::max() : pressure_bytes_);
}

bool PgWriter::exitDue() {
  if (!handoff_.closed()) return false;
  const auto now = Clock::now();
  if (closed_at_ == Clock::time_point{}) closed_at_ = now;
  return now - closed_at_ >= (options_.finish_at_exit ? kExitBudgetOnce : kExitBudget);
}

}  // namespace sqtail::app
