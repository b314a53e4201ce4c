// Owns a throwaway PostgreSQL server for tests: initdb into a temp dir, postgres listening on a
// Unix socket in that dir and on a free loopback port, run as an unprivileged user when the
// test runs as root (postgres refuses root). Call from one thread; stop() before the test ends
// is optional (the destructor stops it and removes the dir).
#pragma once

#include <memory>
#include <string>

#include <tl/expected.hpp>

namespace sqtail::testing {

class PgServer {
 public:
  struct Options {
    bool fsync = true;  // off: faster, and still safe against a crash of postgres alone
  };

  // A running server, or why there is none (no PostgreSQL installed, no unprivileged user,
  // initdb or start failed: the reason includes the server's log). Tests skip with it.
  static tl::expected<std::unique_ptr<PgServer>, std::string> launch(Options options);
  static tl::expected<std::unique_ptr<PgServer>, std::string> launch() { return launch({}); }
  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  // Over the Unix socket, as the superuser `sqtail`, database `postgres`.
  std::string conninfo() const;
  // The same server over TCP on 127.0.0.1.
  std::string tcpConninfo() const;
  int port() const { return port_; }

  // Fast shutdown (clients are disconnected), data kept; start() brings it back on the same
  // port and socket. crash() is an immediate shutdown: recovery runs on the next start().
  tl::expected<void, std::string> stop();
  tl::expected<void, std::string> start();
  tl::expected<void, std::string> crash();
  bool running() const { return running_; }

  // The last bytes of the server's log, for failure messages.
  std::string logTail(std::size_t bytes = 4000) const;

 private:
  PgServer() = default;
  tl::expected<void, std::string> pgCtl(const std::string& action, const std::string& mode);

  std::string bindir_;
  std::string dir_;  // the temp dir: data/, sock/, log
  int port_ = 0;
  unsigned uid_ = 0, gid_ = 0;
  bool drop_ = false;  // run the server's programs as uid_/gid_
  bool running_ = false;
  Options options_;
};

}  // namespace sqtail::testing
