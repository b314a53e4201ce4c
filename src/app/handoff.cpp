#include "app/handoff.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

namespace sqtail::app {

Handoff::Handoff() : wake_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

void Handoff::clearWake() {
  std::uint64_t v;
  [[maybe_unused]] auto n = sys::readSome(wake_.get(), &v, sizeof v);
}

void Handoff::push(sink::Batch&& batch) {
  const std::size_t bytes = batch.memoryBytes();
  {
    std::lock_guard lock(mu_);
    used_ += bytes;
    queue_.emplace_back(std::move(batch), bytes);
  }
  cv_.notify_one();
}

void Handoff::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_one();
}

bool Handoff::pop(sink::Batch& out, std::size_t& charged) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
  if (queue_.empty()) return false;
  out = std::move(queue_.front().first);
  charged = queue_.front().second;
  queue_.pop_front();
  return true;
}

bool Handoff::popFor(sink::Batch& out, std::size_t& charged, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || closed_; })) return false;
  if (queue_.empty()) return false;
  out = std::move(queue_.front().first);
  charged = queue_.front().second;
  queue_.pop_front();
  return true;
}

bool Handoff::isClosedAndEmpty() const {
  std::lock_guard lock(mu_);
  return closed_ && queue_.empty();
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

std::size_t Handoff::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

}  // namespace sqtail::app
