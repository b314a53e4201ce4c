// Owns the bounded hand-off of batches from the tail thread to the writer thread and the
// memory budget (max_buffer_bytes) they share. push/close: tail thread only;
// pop/release: writer thread only. Lock order: only mu_ exists.
#pragma once

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
  void release(std::size_t bytes);

  std::size_t used() const;
  std::size_t queued() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<sink::Batch, std::size_t>> queue_;
  std::size_t used_ = 0;
  bool closed_ = false;
  sys::Fd wake_;
};

}  // namespace sqtail::app
