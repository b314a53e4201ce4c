// Owns the hand-off of sealed batches from the tail thread to the sinks' writer threads (one
// queue per consumer: 0 is the SQLite writer, 1 the PostgreSQL writer) and the memory budget
// (max_buffer_bytes) they share: a batch stays charged until every consumer that got it has
// dropped it. push/close: tail thread only; pop/committed/setBehind: consumer c's thread;
// resume: whichever thread may not race a push (the tail thread, or anyone after close).
// Lock order: only mu_ exists; a batch is never freed with it held (freeing takes it).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "sink/batch.hpp"
#include "sys/sys.hpp"

namespace sqtail::app {

// One batch as a consumer gets it. Dropping `batch` (the last copy) releases its memory.
struct Delivery {
  std::shared_ptr<const sink::Batch> batch;
  std::uint64_t seq = 0;  // 1, 2, ... in push order
  std::size_t bytes = 0;  // charged to the budget
};

class Handoff {
 public:
  explicit Handoff(int consumers = 1);
  ~Handoff();  // frees what is still queued while the budget it is charged to exists

  // Readable (eventfd) whenever memory was released: the tail thread polls it.
  int wakeFd() const { return wake_.get(); }
  void clearWake();

  // To every consumer that is not behind.
  void push(sink::Batch&& batch);
  void close();  // no more batches; pop() returns false once a queue is empty

  // Blocks until a batch for consumer c or close().
  bool pop(int c, Delivery& out);
  // Same; while no batch comes, calls idle() about once a second (without the lock held).
  template <typename Idle>
  bool pop(int c, Delivery& out, Idle&& idle) {
    while (!popFor(c, out, std::chrono::seconds(1))) {
      if (isClosedAndEmpty(c)) return false;
      idle();
    }
    return true;
  }

  std::size_t used() const;
  bool closed() const;
  bool isClosedAndEmpty(int c) const;
  std::size_t queued(int c) const;
  std::size_t queuedBytes(int c) const;

  // A consumer that fell behind: its queue is dropped (each dropped batch is shown to the
  // observer first) and it gets no batch until resume(). The observer also sees each batch
  // pushed meanwhile, on the tail thread. Set observers before the threads start.
  using Observer = std::function<void(const sink::Batch&)>;
  void setObserver(int c, Observer observer);
  void setBehind(int c);
  bool behind(int c) const;
  // Delivery to c starts again with the next push; returns the seq of the last batch pushed.
  std::uint64_t resume(int c);

  // Consumer c committed every batch up to seq. waitCommitted blocks until it has.
  void committed(int c, std::uint64_t seq);
  void waitCommitted(int c, std::uint64_t seq);
  // Blocks for up to `d`, less once the hand-off is closed or consumer c's queue holds more
  // than `limit` bytes.
  void waitFor(int c, std::chrono::milliseconds d, std::size_t limit);

 private:
  struct Consumer {
    std::deque<Delivery> queue;
    std::size_t queued_bytes = 0;
    bool behind = false;
    std::uint64_t committed = 0;
    Observer observer;
  };
  // False on timeout or when closed and empty.
  bool popFor(int c, Delivery& out, std::chrono::milliseconds timeout);
  bool takeLocked(Consumer& q, Delivery& out);
  void release(std::size_t bytes);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Consumer> consumers_;
  std::size_t used_ = 0;
  std::uint64_t pushed_ = 0;
  bool closed_ = false;
  sys::Fd wake_;
};

}  // namespace sqtail::app
