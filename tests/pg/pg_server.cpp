#include "pg_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace sqtail::testing {

namespace {

namespace fs = std::filesystem;

constexpr const char* kTestUser = "sqtail-test";

// The newest PostgreSQL of Debian's layout (<libdir>/postgresql/<major>/bin), or
// $SQTAIL_PG_BINDIR.
std::string findBindir() {
  if (const char* env = std::getenv("SQTAIL_PG_BINDIR"); env != nullptr && *env != '\0') {
    return fs::exists(fs::path(env) / "postgres") ? env : "";
  }
  std::vector<std::pair<int, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const fs::path bin = entry.path() / "bin";
    if (!fs::exists(bin / "postgres") || !fs::exists(bin / "initdb") ||
        !fs::exists(bin / "pg_ctl")) {
      continue;
    }
    found.emplace_back(std::atoi(entry.path().filename().c_str()), bin.string());
  }
  if (found.empty()) return {};
  std::sort(found.begin(), found.end());
  return found.back().second;
}

// Runs argv[0] (a full path) and waits; as uid/gid when `drop`. Output goes to `log`.
tl::expected<void, std::string> run(const std::vector<std::string>& argv, bool drop, unsigned uid,
                                    unsigned gid, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The environment is prepared before fork: the child only makes system calls.
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view kv(*e);
    // Locale variables naming a locale this machine lacks make initdb fail; libpq variables
    // would point pg_ctl's readiness check at another server.
    if (kv.starts_with("LC_") || kv.starts_with("LANG") || kv.starts_with("PG")) continue;
    env_store.emplace_back(kv);
  }
  env_store.emplace_back("LC_ALL=C");
  std::vector<char*> env;
  for (auto& e : env_store) env.push_back(e.data());
  env.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) return tl::unexpected(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    if (drop) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) _exit(126);
    }
    ::execve(args[0], args.data(), env.data());
    _exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  std::ostringstream why;
  why << argv[0] << " exited with "
      << (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return tl::unexpected(why.str());
}

int freeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// The unprivileged user to run postgres as when we are root: sqtail-test, created if missing.
tl::expected<std::pair<unsigned, unsigned>, std::string> testUser() {
  if (const passwd* pw = ::getpwnam(kTestUser)) return std::pair{pw->pw_uid, pw->pw_gid};
  // useradd is in Debian's passwd package (essential); a second test process racing us to it
  // fails with "already exists", which the lookup below forgives.
  for (const char* useradd : {"/usr/sbin/useradd", "/sbin/useradd"}) {
    if (::access(useradd, X_OK) != 0) continue;
    (void)run({useradd, "--system", "--user-group", "--no-create-home", "--home-dir",
               "/nonexistent", "--shell", "/usr/sbin/nologin", kTestUser},
              false, 0, 0, "/dev/null");
    break;
  }
  if (const passwd* pw = ::getpwnam(kTestUser)) return std::pair{pw->pw_uid, pw->pw_gid};
  if (const passwd* pw = ::getpwnam("nobody")) return std::pair{pw->pw_uid, pw->pw_gid};
  return tl::unexpected(std::string("running as root, and neither could user ") + kTestUser +
                        " be created nor does 'nobody' exist: postgres refuses to run as root");
}

}  // namespace

tl::expected<std::unique_ptr<PgServer>, std::string> PgServer::launch(Options options) {
  std::unique_ptr<PgServer> s(new PgServer());
  s->options_ = options;
  s->bindir_ = findBindir();
  if (s->bindir_.empty()) {
    return tl::unexpected(
        std::string("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres; "
                    "scripts/deps --test installs postgresql; or set SQTAIL_PG_BINDIR)"));
  }
  if (::geteuid() == 0) {
    auto user = testUser();
    if (!user) return tl::unexpected(user.error());
    s->drop_ = true;
    s->uid_ = user->first;
    s->gid_ = user->second;
  }
  // Short (a socket path has at most 107 bytes), and searchable by the server's user: $TMPDIR
  // may be a private dir of root's.
  const char* tmp = std::getenv("TMPDIR");
  const bool use_tmpdir = tmp != nullptr && *tmp != '\0' && std::strlen(tmp) < 60 && !s->drop_;
  std::string base = use_tmpdir ? tmp : "/tmp";
  std::string templ = base + "/sqtail-pg-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    return tl::unexpected("mkdtemp " + templ + ": " + std::strerror(errno));
  }
  s->dir_ = templ;
  if (s->drop_) {
    if (::chown(s->dir_.c_str(), s->uid_, s->gid_) != 0) {
      return tl::unexpected("chown " + s->dir_ + ": " + std::strerror(errno));
    }
  }
  const std::string sock = s->dir_ + "/sock";
  if (::mkdir(sock.c_str(), 0700) != 0 ||
      (s->drop_ && ::chown(sock.c_str(), s->uid_, s->gid_) != 0)) {
    return tl::unexpected("mkdir " + sock + ": " + std::strerror(errno));
  }
  const std::string log = s->dir_ + "/log";
  if (int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644); fd >= 0) {
    if (s->drop_ && ::fchown(fd, s->uid_, s->gid_) != 0) {
      ::close(fd);
      return tl::unexpected("chown " + log + ": " + std::strerror(errno));
    }
    ::close(fd);
  }
  if (auto r = run({s->bindir_ + "/initdb", "-D", s->dir_ + "/data", "-U", "sqtail", "-A", "trust",
                    "-E", "UTF8", "--no-locale", "--no-sync"},
                   s->drop_, s->uid_, s->gid_, log);
      !r) {
    return tl::unexpected("initdb failed (" + r.error() + "):\n" + s->logTail());
  }
  s->port_ = freeLoopbackPort();
  if (s->port_ == 0) return tl::unexpected(std::string("no free loopback port"));
  if (auto r = s->start(); !r) return tl::unexpected(r.error());
  return s;
}

PgServer::~PgServer() {
  if (running_) (void)pgCtl("stop", "fast");
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string PgServer::conninfo() const {
  return "host=" + dir_ + "/sock port=" + std::to_string(port_) + " user=sqtail dbname=postgres";
}

std::string PgServer::tcpConninfo() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=sqtail dbname=postgres";
}

tl::expected<void, std::string> PgServer::pgCtl(const std::string& action,
                                                const std::string& mode) {
  std::vector<std::string> argv = {bindir_ + "/pg_ctl", "-D", dir_ + "/data", "-w", "-t", "60"};
  if (action == "start") {
    const std::string opts = "-k " + dir_ + "/sock -p " + std::to_string(port_) +
                             " -c listen_addresses=127.0.0.1 -c max_connections=40" +
                             (options_.fsync ? "" : " -c fsync=off -c full_page_writes=off");
    argv.insert(argv.end(), {"-l", dir_ + "/log", "-o", opts});
  } else {
    argv.insert(argv.end(), {"-m", mode});
  }
  argv.push_back(action);
  auto r = run(argv, drop_, uid_, gid_, dir_ + "/ctl.log");
  if (!r) return tl::unexpected("pg_ctl " + action + " failed (" + r.error() + "):\n" + logTail());
  return {};
}

tl::expected<void, std::string> PgServer::start() {
  if (running_) return {};
  auto r = pgCtl("start", "");
  if (r) running_ = true;
  return r;
}

tl::expected<void, std::string> PgServer::stop() {
  if (!running_) return {};
  auto r = pgCtl("stop", "fast");
  if (r) running_ = false;
  return r;
}

tl::expected<void, std::string> PgServer::crash() {
  if (!running_) return {};
  auto r = pgCtl("stop", "immediate");
  if (r) running_ = false;
  return r;
}

std::string PgServer::logTail(std::size_t bytes) const {
  std::string out;
  for (const char* name : {"/log", "/ctl.log"}) {
    std::ifstream in(dir_ + name, std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (all.size() > bytes) all.erase(0, all.size() - bytes);
    out += all;
  }
  return out;
}

}  // namespace sqtail::testing
