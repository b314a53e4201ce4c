// Test harness for integration tests: temp dirs, the real sqtail binary as a child process,
// the real SQLite file read through a second connection, and waiting on conditions.
#pragma once

#include <sqlite3.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sqtail::test {

using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir();
  ~TempDir();  // removed unless SQTAIL_KEEP_TMP is set
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// The sqtail binary under test (SQTAIL_BIN, set by meson).
std::string binary();

class Process {
 public:
  // Starts `binary() args...` in `cwd`; stdout/stderr go to files in `log_dir`.
  static Process start(const std::vector<std::string>& args, const std::string& cwd,
                       const std::string& log_dir);
  Process(Process&& o) noexcept;
  Process& operator=(Process&& o) noexcept;
  ~Process();  // SIGKILLs a child still running

  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  // Exit status (or 128+signal), or nullopt if still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running();
  std::string stderrText() const;
  const std::string& stdoutPath() const { return out_path_; }

 private:
  Process() = default;
  pid_t pid_ = -1;
  std::string out_path_;
  std::string err_path_;
  std::optional<int> status_;
};

// Runs sqtail to completion; returns its exit code (fails the test after `timeout`).
int runSqtail(const std::vector<std::string>& args, const std::string& cwd,
              std::chrono::milliseconds timeout = 60s, std::string* err = nullptr);

// Polls `cond` every 10 ms until true or `timeout`.
bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

// A read-only connection to the DB under test, opened on first use once the file exists.
class Db {
 public:
  explicit Db(const std::string& path);
  ~Db();
  std::int64_t scalar(const std::string& sql);  // first column of the first row, 0 if none
  std::vector<std::vector<std::string>> rows(const std::string& sql);

 private:
  bool open();
  std::string path_;
  sqlite3* db_ = nullptr;
};

void appendText(const std::string& path, const std::string& text);
void writeText(const std::string& path, const std::string& text);
// A JSONL line (with '\n') whose content identifies it: {"ts":...,"level":...,"seq":n,...}.
std::string jsonLine(const std::string& tag, std::int64_t seq, const std::string& level = "info",
                     const std::string& category = "engine");
std::int64_t fileSize(const std::string& path);
std::string readFile(const std::string& path);
// The port of a `[http] listen = "127.0.0.1:0"` endpoint, from sqtail's start-up log line;
// 0 (and a test failure) if it does not say within `timeout`.
int httpPort(const Process& p, std::chrono::milliseconds timeout = 20s);
// The value of one sample in a /metrics text, e.g. metric = sqtail_lines_read_total{source="s"};
// -1 when absent.
double metricSample(const std::string& exposition, const std::string& metric);
// True once sqtail takes SIGTERM on its clean stop path (its threads block it).
bool handlesSigterm(pid_t pid);
// Bytes the process has read so far (rchar of /proc/PID/io), 0 if unknown.
std::int64_t bytesReadBy(pid_t pid);
// The seed of a randomized test: SQTAIL_SEED when set, else a fresh one. Callers print it
// (SCOPED_TRACE) so that a failure can be rerun.
std::uint64_t testSeed();

}  // namespace sqtail::test
