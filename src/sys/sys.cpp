#include "sys/sys.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sys/fault.hpp"

namespace sqtail::sys {

namespace {

using fault::Op;

tl::unexpected<Error> fail(std::string what, int code) {
  return tl::unexpected(Error{std::move(what), code});
}

// The length to ask for: all of it, or less when a fault shortens the call.
std::size_t shortened(std::size_t len, int fault) {
  return fault == fault::kShort && len > 1 ? len / 2 : len;
}

// Runs `call` (returning -1 and errno on failure) until it is not interrupted, failing it
// first with the injected errno if the fault seam says so. Returns the call's result or -1.
template <typename Call>
auto retried(int fault, Call&& call) -> decltype(call()) {
  if (fault > 0) {
    errno = fault;
    if (fault != EINTR) return -1;
  }
  decltype(call()) r;
  do {
    r = call();
  } while (r < 0 && errno == EINTR);
  return r;
}

}  // namespace

std::string Error::message() const { return what + ": " + std::strerror(code); }

void Fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<Fd> open(const std::string& path, int flags, mode_t mode) {
  const int fd = retried(fault::check(Op::kOpen, path.c_str()),
                         [&] { return ::open(path.c_str(), flags | O_CLOEXEC, mode); });
  if (fd < 0) return fail("open " + path, errno);
  return Fd(fd);
}

Result<Fd> openRead(const std::string& path) { return open(path, O_RDONLY); }

Result<Fd> openAppend(const std::string& path, mode_t mode) {
  return open(path, O_WRONLY | O_CREAT | O_APPEND, mode);
}

Result<struct stat> fstat(int fd) {
  struct stat st {};
  if (retried(fault::checkFd(Op::kStat, fd), [&] { return ::fstat(fd, &st); }) != 0) {
    return fail("fstat", errno);
  }
  return st;
}

Result<struct stat> stat(const std::string& path) {
  struct stat st {};
  if (retried(fault::check(Op::kStat, path.c_str()), [&] { return ::stat(path.c_str(), &st); }) !=
      0) {
    return fail("stat " + path, errno);
  }
  return st;
}

Result<struct stat> lstat(const std::string& path) {
  struct stat st {};
  if (retried(fault::check(Op::kStat, path.c_str()), [&] { return ::lstat(path.c_str(), &st); }) !=
      0) {
    return fail("lstat " + path, errno);
  }
  return st;
}

Result<std::size_t> readSome(int fd, void* buf, std::size_t len) {
  const int f = fault::checkFd(Op::kRead, fd);
  const ssize_t n = retried(f, [&] { return ::read(fd, buf, shortened(len, f)); });
  if (n < 0) return fail("read", errno);
  return static_cast<std::size_t>(n);
}

Result<std::size_t> preadFull(int fd, char* buf, std::size_t len, std::int64_t offset) {
  std::size_t done = 0;
  while (done < len) {
    const int f = fault::checkFd(Op::kRead, fd);
    const ssize_t n = retried(f, [&] {
      return ::pread(fd, buf + done, shortened(len - done, f), static_cast<off_t>(offset + done));
    });
    if (n < 0) return fail("pread", errno);
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

Result<std::size_t> writeSome(int fd, const void* buf, std::size_t len) {
  const int f = fault::checkFd(Op::kWrite, fd);
  const ssize_t n = retried(f, [&] { return ::write(fd, buf, shortened(len, f)); });
  if (n < 0) return fail("write", errno);
  return static_cast<std::size_t>(n);
}

Result<void> writeAll(int fd, const char* buf, std::size_t len) {
  std::size_t done = 0;
  while (done < len) {
    const int f = fault::checkFd(Op::kWrite, fd);
    const ssize_t n = retried(f, [&] { return ::write(fd, buf + done, shortened(len - done, f)); });
    if (n < 0) return fail("write", errno);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Result<void> pwriteAll(int fd, const char* buf, std::size_t len, std::int64_t offset) {
  std::size_t done = 0;
  while (done < len) {
    const int f = fault::checkFd(Op::kWrite, fd);
    const ssize_t n = retried(f, [&] {
      return ::pwrite(fd, buf + done, shortened(len - done, f), static_cast<off_t>(offset + done));
    });
    if (n < 0) return fail("pwrite", errno);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Result<void> fsync(int fd) {
  if (retried(fault::checkFd(Op::kFsync, fd), [&] { return ::fsync(fd); }) != 0) {
    return fail("fsync", errno);
  }
  return {};
}

Result<void> fdatasync(int fd) {
  if (retried(fault::checkFd(Op::kFsync, fd), [&] { return ::fdatasync(fd); }) != 0) {
    return fail("fdatasync", errno);
  }
  return {};
}

Result<void> syncfs(int fd) {
  if (retried(fault::checkFd(Op::kFsync, fd), [&] { return ::syncfs(fd); }) != 0) {
    return fail("syncfs", errno);
  }
  return {};
}

Result<void> ftruncate(int fd, std::int64_t length) {
  if (retried(fault::checkFd(Op::kTruncate, fd),
              [&] { return ::ftruncate(fd, static_cast<off_t>(length)); }) != 0) {
    return fail("ftruncate", errno);
  }
  return {};
}

Result<void> truncate(const std::string& path, std::int64_t length) {
  if (retried(fault::check(Op::kTruncate, path.c_str()),
              [&] { return ::truncate(path.c_str(), static_cast<off_t>(length)); }) != 0) {
    return fail("truncate " + path, errno);
  }
  return {};
}

Result<void> mkdirs(const std::string& path, mode_t mode) {
  // Forward one component at a time: parents that exist cost one EEXIST each, and a
  // component that is a file is reported by name.
  std::string prefix;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    pos = slash + 1;
    prefix.assign(path, 0, slash);
    if (prefix.empty() || prefix.back() == '/') continue;
    if (retried(fault::check(Op::kOpen, prefix.c_str()),
                [&] { return ::mkdir(prefix.c_str(), mode); }) == 0) {
      continue;
    }
    if (errno != EEXIST) return fail("mkdir " + prefix, errno);
    auto st = stat(prefix);
    if (!st) return tl::unexpected(st.error());
    if (!S_ISDIR(st->st_mode)) return fail("mkdir " + prefix, ENOTDIR);
  }
  return {};
}

Result<void> unlink(const std::string& path) {
  if (retried(fault::check(Op::kUnlink, path.c_str()), [&] { return ::unlink(path.c_str()); }) !=
      0) {
    return fail("unlink " + path, errno);
  }
  return {};
}

Result<std::vector<DirEntry>> listDir(const std::string& path) {
  DIR* d = nullptr;
  const int f = fault::check(Op::kOpendir, path.c_str());
  if (f > 0 && f != EINTR) return fail("opendir " + path, f);
  // opendir() is open(2) and fstat(2) underneath: retried like them.
  do {
    d = ::opendir(path.c_str());
  } while (d == nullptr && errno == EINTR);
  if (d == nullptr) return fail("opendir " + path, errno);
  std::vector<DirEntry> entries;
  // readdir() is thread-safe on a DIR of its own (glibc); readdir_r() is deprecated.
  while (const dirent* e = ::readdir(d)) {  // NOLINT(concurrency-mt-unsafe)
    const std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    entries.push_back(DirEntry{std::string(name), e->d_type});
  }
  ::closedir(d);
  return entries;
}

Result<int> inotifyAddWatch(int inotify_fd, const std::string& path, std::uint32_t mask) {
  const int wd = retried(fault::check(Op::kInotifyAddWatch, path.c_str()),
                         [&] { return ::inotify_add_watch(inotify_fd, path.c_str(), mask); });
  if (wd < 0) return fail("inotify_add_watch " + path, errno);
  return wd;
}

}  // namespace sqtail::sys
