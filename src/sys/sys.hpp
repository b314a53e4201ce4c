// Owns every system call sqtail makes on files and descriptors, with its EINTR rule:
// retried everywhere except close(). Any thread may call these; they hold no state.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

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

Result<Fd> openRead(const std::string& path);  // O_RDONLY | O_CLOEXEC | O_NOFOLLOW off
Result<struct stat> fstat(int fd);
Result<struct stat> stat(const std::string& path);   // follows symlinks
Result<struct stat> lstat(const std::string& path);  // does not
// pread until `len` bytes or EOF; returns the bytes read (short only at EOF).
Result<std::size_t> preadFull(int fd, char* buf, std::size_t len, std::int64_t offset);
// write all of `len` bytes (retrying partial writes and EINTR).
Result<void> writeAll(int fd, const char* buf, std::size_t len);

}  // namespace sqtail::sys
