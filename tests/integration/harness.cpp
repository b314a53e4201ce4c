#include "harness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/core.h>
#include <gtest/gtest.h>

extern char** environ;

namespace sqtail::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sqtail-it-XXXXXX").string();
  char* made = mkdtemp(tmpl.data());
  if (made == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = made;
}

TempDir::~TempDir() {
  if (std::getenv("SQTAIL_KEEP_TMP") != nullptr) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string binary() {
  const char* bin = std::getenv("SQTAIL_BIN");
  return bin != nullptr ? bin : "sqtail";
}

Process Process::start(const std::vector<std::string>& args, const std::string& cwd,
                       const std::string& log_dir) {
  static int counter = 0;
  Process p;
  p.out_path_ = fmt::format("{}/sqtail-{}.out", log_dir, ++counter);
  const std::string& out_path = p.out_path_;
  p.err_path_ = fmt::format("{}/sqtail-{}.err", log_dir, counter);
  std::vector<std::string> argv_s = {binary()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, p.err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  int rc = posix_spawn(&p.pid_, argv_s[0].c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error(fmt::format("posix_spawn {}: {}", argv_s[0], strerror(rc)));
  return p;
}

Process::Process(Process&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      out_path_(std::move(o.out_path_)),
      err_path_(std::move(o.err_path_)),
      status_(o.status_) {}

Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    pid_ = std::exchange(o.pid_, -1);
    out_path_ = std::move(o.out_path_);
    err_path_ = std::move(o.err_path_);
    status_ = o.status_;
  }
  return *this;
}

Process::~Process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void Process::signal(int sig) const { ::kill(pid_, sig); }

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

bool Process::running() { return !wait(0ms).has_value(); }

std::string Process::stderrText() const { return readFile(err_path_); }

int runSqtail(const std::vector<std::string>& args, const std::string& cwd,
              std::chrono::milliseconds timeout, std::string* err) {
  auto p = Process::start(args, cwd, cwd);
  auto st = p.wait(timeout);
  if (err != nullptr) *err = p.stderrText();
  if (!st) {
    ADD_FAILURE() << "sqtail did not finish in time: " << p.stderrText();
    return -1;
  }
  return *st;
}

bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

Db::Db(const std::string& path) : path_(path) {}

bool Db::open() {
  if (db_ != nullptr) return true;
  // Not there yet (sqtail is starting): the caller is waiting for a condition anyway.
  if (fileSize(path_) <= 0) return false;
  if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db_);
    db_ = nullptr;
    return false;
  }
  sqlite3_busy_timeout(db_, 5000);
  return true;
}

Db::~Db() { sqlite3_close(db_); }

std::vector<std::vector<std::string>> Db::rows(const std::string& sql) {
  std::vector<std::vector<std::string>> out;
  if (!open()) return out;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    // A DB that sqtail has not created yet reads as empty.
    sqlite3_finalize(st);
    return out;
  }
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
      row.emplace_back(t != nullptr
                           ? std::string(t, static_cast<std::size_t>(sqlite3_column_bytes(st, c)))
                           : std::string("NULL"));
    }
    out.push_back(std::move(row));
  }
  sqlite3_finalize(st);
  return out;
}

std::int64_t Db::scalar(const std::string& sql) {
  auto r = rows(sql);
  if (r.empty() || r[0].empty() || r[0][0] == "NULL") return 0;
  return std::stoll(r[0][0]);
}

void appendText(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
}

void writeText(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string jsonLine(const std::string& tag, std::int64_t seq, const std::string& level,
                     const std::string& category) {
  return fmt::format(
      R"({{"ts":"2026-11-22T10:{:02}:{:02}.{:03}Z","level":"{}","category":"{}","message":"{} line {}","seq":{}}})"
      "\n",
      (seq / 60) % 60, seq % 60, seq % 1000, level, category, tag, seq, seq);
}

std::int64_t fileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool handlesSigterm(pid_t pid) {
  // The main thread shows SIGTERM unblocked while it waits in sigtimedwait (the kernel lifts
  // the waited set during the wait); the workers it started after blocking show it blocked.
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
    std::ifstream status(task.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("SigBlk:", 0) == 0 &&
          ((std::stoull(line.substr(7), nullptr, 16) >> (SIGTERM - 1)) & 1)) {
        return true;
      }
    }
  }
  return false;
}

std::uint64_t testSeed() {
  const char* env = std::getenv("SQTAIL_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : std::random_device{}();
}

std::int64_t bytesReadBy(pid_t pid) {
  std::ifstream io(fmt::format("/proc/{}/io", pid));
  std::string key;
  std::int64_t value = 0;
  while (io >> key >> value) {
    if (key == "rchar:") return value;
  }
  return 0;
}

}  // namespace sqtail::test

namespace sqtail::test {

int httpPort(const Process& p, std::chrono::milliseconds timeout) {
  int port = 0;
  const bool said = waitFor(
      [&] {
        std::smatch m;
        const std::string err = p.stderrText();
        if (!std::regex_search(err, m, std::regex("on 127\\.0\\.0\\.1:([0-9]+)"))) return false;
        port = std::stoi(m[1]);
        return true;
      },
      timeout);
  if (!said) ADD_FAILURE() << "sqtail did not say where it listens: " << p.stderrText();
  return port;
}

double metricSample(const std::string& exposition, const std::string& metric) {
  const std::string text = "\n" + exposition;
  const auto pos = text.find("\n" + metric + " ");
  if (pos == std::string::npos) return -1;
  return std::stod(text.substr(pos + metric.size() + 2));
}

}  // namespace sqtail::test
