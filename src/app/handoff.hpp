// Owns the bounded hand-off of batches from the tail thread to the writer thread and the
// memory budget (max_buffer_bytes) they share. push/close: tail thread only;
// pop/release: writer thread only. Lock order: only mu_ exists.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>

#include "sink/batch.hpp"
#include "sys/sys.hpp"

namespace sqtail::app {

class Handoff {
 public:
  Handoff();

  // Readable (eventfd) whenever the writer has released memory: the tail thread polls it.
  int wakeFd() const { return wake_.get(); }
  void clearWake();

  void push(sink::Batch&& batch);
  void close();  // no more batches; pop() returns false once the queue is empty

  // Blocks until a batch or close(). The batch's memory stays counted until release().
  bool pop(sink::Batch& out, std::size_t& charged);
  // Same; while no batch comes, calls idle() about once a second (without the lock held).
  template <typename Idle>
  bool pop(sink::Batch& out, std::size_t& charged, Idle&& idle) {
    while (!popFor(out, charged, std::chrono::seconds(1))) {
      if (isClosedAndEmpty()) return false;
      idle();
    }
    return true;
  }
  void release(std::size_t bytes);

  std::size_t used() const;
  bool isClosedAndEmpty() const;
  std::size_t queued() const;

 private:
  // False on timeout or when closed and empty.
  bool popFor(sink::Batch& out, std::size_t& charged, std::chrono::milliseconds timeout);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<sink::Batch, std::size_t>> queue_;
  std::size_t used_ = 0;
  bool closed_ = false;
  sys::Fd wake_;
};

}  // namespace sqtail::app
