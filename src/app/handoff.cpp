#include "app/handoff.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cassert>

namespace sqtail::app {

Handoff::Handoff(int consumers)
    : consumers_(static_cast<std::size_t>(consumers)),
      wake_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

Handoff::~Handoff() {
  std::vector<std::deque<Delivery>> queues;
  {
    std::lock_guard lock(mu_);
    for (auto& q : consumers_) queues.push_back(std::move(q.queue));
  }
}

void Handoff::clearWake() {
  std::uint64_t v;
  [[maybe_unused]] auto n = sys::readSome(wake_.get(), &v, sizeof v);
}

void Handoff::push(sink::Batch&& batch) {
  const std::size_t bytes = batch.memoryBytes();
  // Released by whichever consumer drops it last, outside mu_ (release() takes it).
  std::shared_ptr<const sink::Batch> shared(new sink::Batch(std::move(batch)),
                                            [this, bytes](const sink::Batch* b) {
                                              delete b;
                                              release(bytes);
                                            });
  std::vector<const Observer*> skipped;
  {
    std::lock_guard lock(mu_);
    used_ += bytes;
    const std::uint64_t seq = ++pushed_;
    for (auto& q : consumers_) {
      if (q.behind) {
        if (q.observer) skipped.push_back(&q.observer);
        continue;
      }
      q.queue.push_back(Delivery{shared, seq, bytes});
      q.queued_bytes += bytes;
    }
  }
  cv_.notify_all();
  for (const Observer* o : skipped) (*o)(*shared);
}

void Handoff::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool Handoff::takeLocked(Consumer& q, Delivery& out) {
  if (q.queue.empty()) return false;
  out = std::move(q.queue.front());
  q.queue.pop_front();
  q.queued_bytes -= out.bytes;
  return true;
}

bool Handoff::pop(int c, Delivery& out) {
  std::unique_lock lock(mu_);
  auto& q = consumers_[static_cast<std::size_t>(c)];
  cv_.wait(lock, [&] { return !q.queue.empty() || closed_; });
  return takeLocked(q, out);
}

bool Handoff::popFor(int c, Delivery& out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  auto& q = consumers_[static_cast<std::size_t>(c)];
  if (!cv_.wait_for(lock, timeout, [&] { return !q.queue.empty() || closed_; })) return false;
  return takeLocked(q, out);
}

bool Handoff::isClosedAndEmpty(int c) const {
  std::lock_guard lock(mu_);
  return closed_ && consumers_[static_cast<std::size_t>(c)].queue.empty();
}

bool Handoff::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

void Handoff::release(std::size_t bytes) {
  {
    std::lock_guard lock(mu_);
    used_ -= bytes;
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = sys::writeSome(wake_.get(), &one, sizeof one);
}

std::size_t Handoff::used() const {
  std::lock_guard lock(mu_);
  return used_;
}

std::size_t Handoff::queued(int c) const {
  std::lock_guard lock(mu_);
  return consumers_[static_cast<std::size_t>(c)].queue.size();
}

std::size_t Handoff::queuedBytes(int c) const {
  std::lock_guard lock(mu_);
  return consumers_[static_cast<std::size_t>(c)].queued_bytes;
}

void Handoff::setObserver(int c, Observer observer) {
  std::lock_guard lock(mu_);
  consumers_[static_cast<std::size_t>(c)].observer = std::move(observer);
}

void Handoff::setBehind(int c) {
  std::deque<Delivery> dropped;
  const Observer* observer = nullptr;
  {
    std::lock_guard lock(mu_);
    auto& q = consumers_[static_cast<std::size_t>(c)];
    q.behind = true;
    dropped.swap(q.queue);
    q.queued_bytes = 0;
    if (q.observer) observer = &q.observer;
  }
  // Shown, then freed, without the lock: freeing the last copy takes it.
  for (const auto& d : dropped) {
    if (observer != nullptr) (*observer)(*d.batch);
  }
}

bool Handoff::behind(int c) const {
  std::lock_guard lock(mu_);
  return consumers_[static_cast<std::size_t>(c)].behind;
}

std::uint64_t Handoff::resume(int c) {
  std::lock_guard lock(mu_);
  consumers_[static_cast<std::size_t>(c)].behind = false;
  return pushed_;
}

void Handoff::committed(int c, std::uint64_t seq) {
  {
    std::lock_guard lock(mu_);
    auto& q = consumers_[static_cast<std::size_t>(c)];
    assert(seq >= q.committed);
    q.committed = seq;
  }
  cv_.notify_all();
}

void Handoff::waitCommitted(int c, std::uint64_t seq) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return consumers_[static_cast<std::size_t>(c)].committed >= seq; });
}

void Handoff::waitFor(int c, std::chrono::milliseconds d, std::size_t limit) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [&] {
    return closed_ || consumers_[static_cast<std::size_t>(c)].queued_bytes > limit;
  });
}

}  // namespace sqtail::app
