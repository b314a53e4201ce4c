#include "app/pid_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/core.h>

namespace sqtail::app {

namespace {
std::string pidPath(const std::filesystem::path& db) { return db.string() + ".pid"; }

std::optional<pid_t> readPid(int fd) {
  char buf[32] = {};
  auto n = sys::preadFull(fd, buf, sizeof buf - 1, 0);
  if (!n || *n == 0) return std::nullopt;
  const long pid = std::strtol(buf, nullptr, 10);
  return pid > 0 ? std::optional<pid_t>(static_cast<pid_t>(pid)) : std::nullopt;
}
}  // namespace

tl::expected<PidFile, std::string> PidFile::acquire(const std::filesystem::path& db) {
  const std::string path = pidPath(db);
  auto opened = sys::open(path, O_RDWR | O_CREAT, 0644);
  if (!opened) return tl::unexpected(fmt::format("cannot {}", opened.error().message()));
  sys::Fd fd = std::move(*opened);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    const auto other = readPid(fd.get());
    return tl::unexpected(fmt::format(
        "another sqtail{} is already running on {} (its lock is {}); one sqtail per database",
        other ? fmt::format(" (pid {})", *other) : "", db.string(), path));
  }
  const std::string pid = fmt::format("{}\n", ::getpid());
  auto written = sys::ftruncate(fd.get(), 0).and_then([&] {
    return sys::pwriteAll(fd.get(), pid.data(), pid.size(), 0);
  });
  if (!written) {
    return tl::unexpected(fmt::format("cannot write {}: {}", path, written.error().message()));
  }
  return PidFile(std::move(fd), path);
}

std::optional<pid_t> PidFile::running(const std::filesystem::path& db) {
  auto opened = sys::openRead(pidPath(db));
  if (!opened) return std::nullopt;
  const sys::Fd& fd = *opened;
  // Locked means alive: a stale file from a killed sqtail is not locked by anyone.
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return std::nullopt;
  return readPid(fd.get());
}

PidFile::~PidFile() {
  if (fd_) {
    [[maybe_unused]] auto r = sys::unlink(path_);
  }
}

}  // namespace sqtail::app
