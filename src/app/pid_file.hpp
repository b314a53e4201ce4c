// Owns the pid file next to the database (<db>.pid): one running sqtail per database (two
// would store every line twice), and how `sqtail reload` finds the running one.
// Main thread only.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

#include <tl/expected.hpp>

#include "sys/sys.hpp"

namespace sqtail::app {

class PidFile {
 public:
  // Locks <db>.pid (flock, released by the kernel even after kill -9) and writes our pid.
  static tl::expected<PidFile, std::string> acquire(const std::filesystem::path& db);
  // The pid of the sqtail holding the lock on <db>.pid, if one is running.
  static std::optional<pid_t> running(const std::filesystem::path& db);

  PidFile(PidFile&&) = default;
  PidFile& operator=(PidFile&&) = default;
  ~PidFile();

 private:
  PidFile(sys::Fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  sys::Fd fd_;
  std::string path_;
};

}  // namespace sqtail::app
