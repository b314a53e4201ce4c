// Owns fault injection: SQTAIL_FAULTS, read once at start, makes chosen system calls (and
// SQLite's own file I/O) fail the way a full disk, a bad disk, a signal or a descriptor limit
// would, so that tests exercise the error paths of the real binary. Any thread may call check().
//
// SQTAIL_FAULTS is a comma-separated list of rules; a rule is OP:EFFECT[:OPTION]...
//
//   OP      open               sys::open, openRead, openAppend; mkdirs (mkdir creates)
//           read               pread / read on a descriptor (log files, inotify, eventfds)
//           write              write / pwrite on a descriptor
//           fsync              fsync, fdatasync, syncfs
//           truncate           ftruncate, truncate
//           stat               stat, lstat, fstat
//           opendir            listing a directory
//           unlink             unlink
//           inotify_add_watch  watching a directory
//           sqlite_write       SQLite writing its database, -wal or -shm (through the fault VFS)
//           sqlite_sync        SQLite syncing one of them
//           *                  every OP above except the sqlite_ ones
//   EFFECT  an errno name (ENOSPC, EIO, EINTR, EMFILE, EACCES, ...): the call fails with it,
//           without being made. For sqlite_*: ENOSPC and EDQUOT give SQLITE_FULL, any other
//           errno SQLITE_IOERR_WRITE or SQLITE_IOERR_FSYNC, as SQLite's unix VFS reports them.
//           EINTR: the call is interrupted before it starts and sys/ retries it (for real: a
//           retry is not checked again), so `*:EINTR` interrupts every call once and
//           everything must still work.
//           short (read, write only): the call is made for half the bytes asked (at least 1).
//   OPTION  after=N   let the first N calls the rule matches through (default 0)
//           count=N   fail at most N calls, then never again (default: no limit)
//           p=F       fail each matching call with probability F, 0 to 1 (default 1). The draw
//                     is a hash of the rule and the call's number: the same calls fail each run
//                     when the calls come in the same order.
//           path=S    only calls whose path contains S. A call on a descriptor is matched by
//                     the path /proc/self/fd names (`anon_inode:[eventfd]` for an eventfd):
//                     a read or write rule without path= also fails the threads' wake-ups.
//
// Rules are tried in order and the first that fails a call decides; a call only counts for
// the rules tried. Example:
//   SQTAIL_FAULTS='sqlite_write:ENOSPC:after=10:count=30,open:EMFILE:p=0.1:path=/logs/,read:short'
//
// Cost when SQTAIL_FAULTS is unset: one relaxed load and a predicted branch per call.
// A malformed SQTAIL_FAULTS stops the program at start with a message and exit status 2.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace sqtail::sys::fault {

enum class Op : std::uint8_t {
  kOpen,
  kRead,
  kWrite,
  kFsync,
  kTruncate,
  kStat,
  kOpendir,
  kUnlink,
  kInotifyAddWatch,
  kSqliteWrite,
  kSqliteSync,
  kAny,  // in a rule only: every op before kSqliteWrite
};

std::string_view opName(Op op);

// check()'s answer when the call is to be made with fewer bytes.
inline constexpr int kShort = -1;

struct Rule {
  Op op = Op::kAny;
  int effect = 0;  // an errno value, or kShort
  std::uint64_t after = 0;
  std::uint64_t count = UINT64_MAX;
  double p = 1;
  std::string path;  // empty: any path
  friend bool operator==(const Rule&, const Rule&) = default;
};

// The rules of one SQTAIL_FAULTS value, or what is wrong with it (naming the rule).
tl::expected<std::vector<Rule>, std::string> parse(std::string_view spec);

// Replaces the active rules (an empty spec turns injection off) and resets their counters.
// Only while no other thread makes system calls: at start (done for SQTAIL_FAULTS before
// main) and in tests.
tl::expected<void, std::string> configure(std::string_view spec);
void reset();

// True when an active rule names a sqlite_ op (the fault VFS is needed).
bool wantsSqlite();
// Calls failed (or shortened) so far by the active rules, all ops together.
std::uint64_t injected();

namespace detail {
extern std::atomic<bool> active;
int decide(Op op, const char* path, int fd);
}  // namespace detail

// 0: make the call. An errno value: fail it with that errno, without making it. kShort: make
// it with fewer bytes. `path` may be null when the call has none.
inline int check(Op op, const char* path) {
  if (!detail::active.load(std::memory_order_relaxed)) [[likely]] {
    return 0;
  }
  return detail::decide(op, path, -1);
}
// The same for a call on a descriptor (its path is looked up only if a rule asks for one).
inline int checkFd(Op op, int fd) {
  if (!detail::active.load(std::memory_order_relaxed)) [[likely]] {
    return 0;
  }
  return detail::decide(op, nullptr, fd);
}

}  // namespace sqtail::sys::fault
