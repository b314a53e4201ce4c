#include "sys/sys.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sqtail::sys {

std::string Error::message() const { return what + ": " + std::strerror(code); }

void Fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<Fd> openRead(const std::string& path) {
  for (;;) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) return Fd(fd);
    if (errno != EINTR) return tl::unexpected(Error{"open " + path, errno});
  }
}

Result<struct stat> fstat(int fd) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return tl::unexpected(Error{"fstat", errno});
  return st;
}

Result<struct stat> stat(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return tl::unexpected(Error{"stat " + path, errno});
  return st;
}

Result<struct stat> lstat(const std::string& path) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) return tl::unexpected(Error{"lstat " + path, errno});
  return st;
}

Result<std::size_t> preadFull(int fd, char* buf, std::size_t len, std::int64_t offset) {
  std::size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, buf + done, len - done, static_cast<off_t>(offset + done));
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      return tl::unexpected(Error{"pread", errno});
    }
  }
  return done;
}

Result<void> writeAll(int fd, const char* buf, std::size_t len) {
  std::size_t done = 0;
  while (done < len) {
    ssize_t n = ::write(fd, buf + done, len - done);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
    } else if (errno != EINTR) {
      return tl::unexpected(Error{"write", errno});
    }
  }
  return {};
}

}  // namespace sqtail::sys
