// `sqtail top` on the real binary: inside a real terminal (a detached tmux session, 80x24) it
// shows a running sqtail's source with a non-zero rate, quits on `q` or SIGTERM and leaves
// the terminal as it found it; without a terminal it prints plain blocks; with no endpoint,
// or an unreachable one, it reads the DB.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "harness.hpp"

extern char** environ;

namespace sqtail::test {
namespace {

// Runs argv to completion and returns its exit status and stdout.
std::pair<int, std::string> capture(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {-1, ""};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  std::string out;
  if (rc == 0) {
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  }
  ::close(fds[0]);
  if (rc != 0) return {-1, ""};
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

bool haveTmux() { return capture({"tmux", "-V"}).first == 0; }

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// A tmux server of the test's own (its socket in the test's directory, no user config), so
// that the test neither sees nor disturbs anyone's sessions; killed with the test.
class Tmux {
 public:
  explicit Tmux(const std::string& dir) : socket_(dir + "/tmux.sock") {}
  ~Tmux() { run({"kill-server"}); }

  std::pair<int, std::string> run(std::vector<std::string> args) const {
    args.insert(args.begin(), {"tmux", "-f", "/dev/null", "-S", socket_});
    return capture(args);
  }
  std::string screen() const { return run({"capture-pane", "-p", "-t", "top"}).second; }

 private:
  std::string socket_;
};

std::string lines(const std::string& tag, int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i) s += jsonLine(tag, i);
  return s;
}

// The lines/s cell of the row of `source` on a screen of `sqtail top`, "" without that row.
std::string linesPerSecond(const std::string& screen, const std::string& source) {
  std::istringstream in(screen);
  for (std::string line; std::getline(in, line);) {
    std::istringstream cells(line);
    std::string name, files, rate;
    if (cells >> name >> files >> rate && name == source) return rate;
  }
  return "";
}

bool nonZeroRate(const std::string& rate) { return !rate.empty() && rate != "0" && rate != "-"; }

// A running sqtail with its endpoint on a free port, and a writer appending to its one file.
class TopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    writeText(dir_ / "c.toml",
              "db = \"s.db\"\nflush_interval = \"100ms\"\n[http]\n"
              "listen = \"127.0.0.1:0\"\n[[source]]\nname = \"websvc\"\n"
              "paths = [\"l/*.jsonl\"]\n");
    writeText(dir_ / "l/a.jsonl", lines("a", 0, 100) + "oops\n");
    sqtail_ = Process::start({"run", "-c", "c.toml"}, dir_.path(), dir_.path());
    port_ = httpPort(*sqtail_);
    ASSERT_NE(port_, 0);
    Db db(dir_ / "s.db");
    ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 100; }, 10s));
  }

  void TearDown() override {
    stopWriting();
    if (sqtail_) {
      sqtail_->signal(SIGTERM);
      EXPECT_EQ(sqtail_->wait(10s), 0);
    }
  }

  // A load generator, not a wait: the view needs lines arriving while it looks.
  void startWriting() {
    writer_ = std::thread([this] {
      for (int i = 0; !stop_; i += 20) {
        appendText(dir_ / "l/a.jsonl", lines("w", i, i + 20));
        std::this_thread::sleep_for(20ms);
      }
    });
  }
  void stopWriting() {
    stop_ = true;
    if (writer_.joinable()) writer_.join();
  }

  std::string http() const { return fmt::format("127.0.0.1:{}", port_); }

  // Starts `sqtail top ARGS` in an 80x24 tmux pane; when it exits, the shell writes its exit
  // status and the terminal settings it left behind.
  void startInTmux(Tmux& tmux, const std::vector<std::string>& args) {
    std::string cmd = quoted(binary()) + " top";
    for (const auto& a : args) cmd += " " + quoted(a);
    cmd += "; echo $? > status.tmp; stty -a > stty.txt; mv status.tmp status; exec sleep 600";
    auto [rc, out] = tmux.run(
        {"new-session", "-d", "-s", "top", "-x", "80", "-y", "24", "-c", dir_.path(), cmd});
    ASSERT_EQ(rc, 0) << out;
  }

  // The pane's terminal settings, read from the outside while `top` runs.
  std::optional<termios> paneTermios(Tmux& tmux) {
    auto [rc, tty] = tmux.run({"display-message", "-p", "-t", "top", "#{pane_tty}"});
    if (rc != 0) return std::nullopt;
    tty.erase(tty.find_last_not_of('\n') + 1);
    const int fd = ::open(tty.c_str(), O_RDONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    termios t{};
    const bool ok = ::tcgetattr(fd, &t) == 0;
    ::close(fd);
    return ok ? std::optional<termios>(t) : std::nullopt;
  }

  // Waits for the shell around `top` to report; returns the exit status and the stty output.
  std::pair<std::optional<int>, std::string> finished() {
    if (!waitFor([&] { return fileSize(dir_ / "status") > 0; }, 15s)) return {std::nullopt, ""};
    return {std::stoi(readFile(dir_ / "status")), readFile(dir_ / "stty.txt")};
  }

  TempDir dir_;
  std::optional<Process> sqtail_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread writer_;
};

const std::regex kCanonical("(^|\\s)icanon(\\s|$)");
const std::regex kEcho("(^|\\s)echo(\\s|$)");

TEST_F(TopTest, ShowsTheSourceRateInA80x24TerminalAndQuitsOnQ) {
  if (!haveTmux()) GTEST_SKIP() << "tmux is not installed (scripts/deps --test installs it)";
  startWriting();
  Tmux tmux(dir_.path());
  startInTmux(tmux, {"--http", http(), "--db", "s.db"});
  std::string screen;
  ASSERT_TRUE(waitFor(
      [&] {
        screen = tmux.screen();
        return nonZeroRate(linesPerSecond(screen, "websvc"));
      },
      15s))
      << screen;
  EXPECT_NE(screen.find("SINK"), std::string::npos) << screen;
  EXPECT_NE(screen.find("l/a.jsonl"), std::string::npos) << "the busiest files, from the DB\n"
                                                         << screen;
  EXPECT_NE(screen.find("(q quits)"), std::string::npos) << screen;
  // While it runs, the keyboard is raw: no line buffering, no echo.
  auto raw = paneTermios(tmux);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->c_lflag & (ICANON | ECHO), 0u);

  ASSERT_EQ(tmux.run({"send-keys", "-t", "top", "q"}).first, 0);
  auto [status, stty] = finished();
  ASSERT_TRUE(status) << "top did not quit on q:\n" << tmux.screen();
  EXPECT_EQ(*status, 0);
  EXPECT_TRUE(std::regex_search(stty, kCanonical)) << stty;
  EXPECT_TRUE(std::regex_search(stty, kEcho)) << stty;
}

TEST_F(TopTest, SigtermRestoresTheTerminal) {
  if (!haveTmux()) GTEST_SKIP() << "tmux is not installed (scripts/deps --test installs it)";
  Tmux tmux(dir_.path());
  startInTmux(tmux, {"--http", http()});
  ASSERT_TRUE(waitFor([&] { return !linesPerSecond(tmux.screen(), "websvc").empty(); }, 15s))
      << tmux.screen();
  ASSERT_TRUE(waitFor(
      [&] {
        auto t = paneTermios(tmux);
        return t && (t->c_lflag & ICANON) == 0;
      },
      5s));
  // The pane's shell runs top as its child.
  auto [rc, shell] = tmux.run({"display-message", "-p", "-t", "top", "#{pane_pid}"});
  ASSERT_EQ(rc, 0);
  const std::string pid = std::to_string(std::stoi(shell));
  const std::string children = readFile("/proc/" + pid + "/task/" + pid + "/children");
  ASSERT_FALSE(children.empty());
  ASSERT_EQ(::kill(std::stoi(children), SIGTERM), 0);
  auto [status, stty] = finished();
  ASSERT_TRUE(status) << tmux.screen();
  EXPECT_EQ(*status, 128 + SIGTERM);
  EXPECT_TRUE(std::regex_search(stty, kCanonical)) << stty;
  EXPECT_TRUE(std::regex_search(stty, kEcho)) << stty;
}

TEST_F(TopTest, WithoutATerminalPrintsPlainBlocks) {
  startWriting();
  auto once = Process::start({"top", "--once", "--http", http(), "--interval", "300ms"},
                             dir_.path(), dir_.path());
  ASSERT_EQ(once.wait(10s), 0) << once.stderrText();
  const std::string out = readFile(once.stdoutPath());
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << "no escapes without a terminal";
  EXPECT_TRUE(nonZeroRate(linesPerSecond(out, "websvc"))) << out;
  EXPECT_NE(out.find("invalid_json 1"), std::string::npos) << out;

  // Without --once: one block per interval until stopped.
  auto periodic =
      Process::start({"top", "--http", http(), "--interval", "200ms"}, dir_.path(), dir_.path());
  ASSERT_TRUE(waitFor(
      [&] {
        const std::string text = readFile(periodic.stdoutPath());
        std::size_t blocks = 0;
        for (auto at = text.find("sqtail top"); at != std::string::npos;
             at = text.find("sqtail top", at + 1)) {
          ++blocks;
        }
        return blocks >= 3;
      },
      10s))
      << readFile(periodic.stdoutPath());
  periodic.signal(SIGTERM);
  EXPECT_TRUE(periodic.wait(5s));
}

TEST_F(TopTest, ReadsTheDbWhenTheEndpointIsMissingOrUnreachable) {
  auto db_only = Process::start({"top", "--once", "--db", "s.db"}, dir_.path(), dir_.path());
  ASSERT_EQ(db_only.wait(10s), 0) << db_only.stderrText();
  std::string out = readFile(db_only.stdoutPath());
  EXPECT_FALSE(linesPerSecond(out, "websvc").empty()) << out;
  EXPECT_NE(out.find("l/a.jsonl"), std::string::npos) << out;

  // Port 1: nothing listens there; the view says so and shows the DB.
  auto fallback = Process::start({"top", "--once", "--http", "127.0.0.1:1", "--db", "s.db"},
                                 dir_.path(), dir_.path());
  ASSERT_EQ(fallback.wait(10s), 0) << fallback.stderrText();
  out = readFile(fallback.stdoutPath());
  EXPECT_NE(out.find("showing the DB"), std::string::npos) << out;
  EXPECT_FALSE(linesPerSecond(out, "websvc").empty()) << out;

  // Neither: nothing to show is an error.
  auto nothing = Process::start({"top", "--once", "--http", "127.0.0.1:1", "--db", "none.db"},
                                dir_.path(), dir_.path());
  EXPECT_EQ(nothing.wait(10s), 1);
}

}  // namespace
}  // namespace sqtail::test
