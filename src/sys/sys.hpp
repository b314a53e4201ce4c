// Owns every system call sqtail makes on files and descriptors, with its EINTR rule:
// retried everywhere except close(). Any thread may call these; they hold no state. Each one
// asks sys/fault.hpp first, so that tests can make it fail (SQTAIL_FAULTS); a new wrapper
// calls fault::check() (or checkFd()) with its op before the system call too.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

namespace sqtail::sys {

// An errno value with the call that failed, e.g. {"open logs/a.jsonl", ENOENT}.
struct Error {
  std::string what;
  int code = 0;
  std::string message() const;  // "open logs/a.jsonl: No such file or directory"
};

template <typename T>
using Result = tl::expected<T, Error>;

// An owned descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  void reset();  // close() is not retried on EINTR: on Linux the fd is gone either way

 private:
  int fd_ = -1;
};

// open(2) with O_CLOEXEC added.
Result<Fd> open(const std::string& path, int flags, mode_t mode = 0);
Result<Fd> openRead(const std::string& path);  // O_RDONLY; follows symlinks
// O_WRONLY | O_CREAT | O_APPEND: a file that is only ever appended to.
Result<Fd> openAppend(const std::string& path, mode_t mode = 0644);
Result<struct stat> fstat(int fd);
Result<struct stat> stat(const std::string& path);   // follows symlinks
Result<struct stat> lstat(const std::string& path);  // does not
// One read(2): the bytes read, 0 at end of file. EAGAIN is an error like the others.
Result<std::size_t> readSome(int fd, void* buf, std::size_t len);
// pread until `len` bytes or EOF; returns the bytes read (short only at EOF).
Result<std::size_t> preadFull(int fd, char* buf, std::size_t len, std::int64_t offset);
// One write(2): the bytes written (for an eventfd or a pipe, where a write is whole or fails).
Result<std::size_t> writeSome(int fd, const void* buf, std::size_t len);
// write all of `len` bytes (retrying partial writes and EINTR).
Result<void> writeAll(int fd, const char* buf, std::size_t len);
// pwrite all of `len` bytes at `offset`.
Result<void> pwriteAll(int fd, const char* buf, std::size_t len, std::int64_t offset);
Result<void> fsync(int fd);
Result<void> fdatasync(int fd);
// syncfs(2): everything dirty on fd's file system, one journal commit (fault op: fsync).
// Reports write-back errors since Linux 5.8.
Result<void> syncfs(int fd);
Result<void> ftruncate(int fd, std::int64_t length);
// truncate(2) by path (fault op: truncate); follows symlinks.
Result<void> truncate(const std::string& path, std::int64_t length);
// mkdir -p: every missing directory of `path` with `mode`. An existing directory is fine; an
// existing non-directory fails with ENOTDIR naming it. Fault op: open (mkdir creates).
Result<void> mkdirs(const std::string& path, mode_t mode);
Result<void> unlink(const std::string& path);

struct DirEntry {
  std::string name;
  unsigned char type;  // d_type: DT_REG, DT_DIR, DT_LNK, ... or DT_UNKNOWN
};
// The entries of a directory, without "." and "..", in the order the file system gives.
Result<std::vector<DirEntry>> listDir(const std::string& path);

// inotify_add_watch(2): the watch descriptor.
Result<int> inotifyAddWatch(int inotify_fd, const std::string& path, std::uint32_t mask);

}  // namespace sqtail::sys
