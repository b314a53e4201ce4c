// httplib 0.11 (Debian 12) reads request lines and headers without any bound on their size or
// number, and its accept loop can only be stopped racily. So the accept loop is ours, and each
// connection is handed to httplib's request handling through a Stream that caps the bytes a
// client may send and the time a connection may take. System calls retry on EINTR, except
// close().
#include "obs/http_server.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>
#include <httplib.h>

#include "obs/json_string.hpp"

namespace sqtail::obs {
namespace {

using Clock = std::chrono::steady_clock;

// Bounds. The endpoint answers two small GETs: everything else is cut short.
constexpr auto kConnectionDeadline = std::chrono::seconds(3);  // whole request and response
// After the response, what the client still sends (a body we never read) is read and dropped
// for this long, at most kMaxRequestBytes: closing with unread bytes would send a reset, which
// can destroy the response before the client reads it.
constexpr auto kDrainTime = std::chrono::seconds(1);
constexpr std::size_t kMaxRequestBytes = 16 * 1024;  // request line, headers and body together
constexpr std::size_t kMaxBodyBytes = 4096;          // GETs have none; larger ones get 413
// Connections waiting while one is served. The kernel refuses (or drops) the rest, so there
// is no queue of ours to grow.
constexpr int kBacklog = 8;

constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";

template <typename Call>
auto retryOnEintr(Call call) {
  for (;;) {
    auto r = call();
    if (r >= 0 || errno != EINTR) return r;
  }
}

// One accepted connection as httplib sees it: reads stop after kMaxRequestBytes, and every
// read and write waits at most until the connection's deadline.
class BoundedStream final : public httplib::Stream {
 public:
  BoundedStream(int fd, Clock::time_point deadline) : fd_(fd), deadline_(deadline) {}

  bool is_readable() const override { return pos_ < len_ || waitFor(POLLIN); }
  bool is_writable() const override { return waitFor(POLLOUT); }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ == len_) {
      // httplib reads request lines a byte at a time: buffer, or it is a syscall per byte.
      const std::size_t room = std::min(sizeof buf_, budget_);
      if (room == 0 || !waitFor(POLLIN)) return -1;
      const ssize_t n = retryOnEintr([&] { return ::recv(fd_, buf_, room, 0); });
      if (n <= 0) return n;
      budget_ -= static_cast<std::size_t>(n);
      pos_ = 0;
      len_ = static_cast<std::size_t>(n);
    }
    const std::size_t take = std::min(size, len_ - pos_);
    std::memcpy(ptr, buf_ + pos_, take);
    pos_ += take;
    return static_cast<ssize_t>(take);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!waitFor(POLLOUT)) return -1;
    // MSG_NOSIGNAL: a client that went away is EPIPE here, not SIGPIPE for the process.
    return retryOnEintr([&] { return ::send(fd_, ptr, size, MSG_NOSIGNAL); });
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address(::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address(::getsockname, ip, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  bool waitFor(short events) const {
    for (;;) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, events, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR) continue;
      return r > 0;  // POLLHUP and POLLERR too: the read or write that follows reports them
    }
  }

  template <typename Get>
  void address(Get get, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (get(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    char host[NI_MAXHOST];
    char serv[NI_MAXSERV];
    if (::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                      NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
      return;
    }
    ip = host;
    port = std::atoi(serv);
  }

  int fd_;
  Clock::time_point deadline_;
  std::size_t budget_ = kMaxRequestBytes;
  char buf_[4096];
  std::size_t pos_ = 0;
  std::size_t len_ = 0;
};

bool wantsStrict(const httplib::Request& req) {
  if (!req.has_param("strict")) return false;
  const std::string value = req.get_param_value("strict");
  return value != "0" && value != "false";
}

std::string displayAddress(const HttpConfig& config) {
  return config.host.find(':') != std::string::npos
             ? fmt::format("[{}]:{}", config.host, config.port)
             : fmt::format("{}:{}", config.host, config.port);
}

// The first address of `config.host` that binds; its port (the chosen one when 0) in `port`.
tl::expected<sys::Fd, std::string> listenOn(const HttpConfig& config, int& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(config.port);
  if (int rc = ::getaddrinfo(config.host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return tl::make_unexpected(
        fmt::format("cannot listen on {}: {}", displayAddress(config), ::gai_strerror(rc)));
  }
  int error = 0;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    sys::Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) {
      error = errno;
      continue;
    }
    // SO_REUSEADDR lets a restart bind while old connections sit in TIME_WAIT. Not
    // SO_REUSEPORT: that would let a second process share the port and hide the clash.
    const int yes = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), kBacklog) != 0) {
      error = errno;
      continue;
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len);
    port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    ::freeaddrinfo(found);
    return fd;
  }
  ::freeaddrinfo(found);
  return tl::make_unexpected(
      fmt::format("cannot listen on {}: {}", displayAddress(config), std::strerror(error)));
}

}  // namespace

// Side effect to know about: httplib::Server's constructor sets SIGPIPE to SIG_IGN for the
// whole process (checked on 0.11.4), so a run with the endpoint gets EPIPE, not SIGPIPE,
// wherever it writes to a closed pipe or socket.
class HttpServer::Endpoint final : public httplib::Server {
 public:
  Endpoint(Registry& registry, const Health& health, HealthPolicy policy) {
    set_payload_max_length(kMaxBodyBytes);
    // Checked before routing, so that other methods and paths never have a body read.
    set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      if (req.path != "/metrics" && req.path != "/health") {
        res.status = 404;
        res.set_content("not found: try /metrics or /health\n", "text/plain");
        return HandlerResponse::Handled;
      }
      if (req.method != "GET" && req.method != "HEAD") {
        res.status = 405;
        res.set_header("Allow", "GET, HEAD");
        res.set_content("method not allowed: use GET\n", "text/plain");
        return HandlerResponse::Handled;
      }
      return HandlerResponse::Unhandled;
    });
    Get("/metrics", [&registry](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      res.set_content(registry.scrape(), kMetricsType);
    });
    Get("/health", [&health, policy](const httplib::Request& req, httplib::Response& res) {
      const HealthReport report = health.evaluate(policy);
      // Degraded is still 200 by default: the process works and an operator should look. A
      // probe that acts on it (restart, stop routing) asks with ?strict.
      res.status = !report.ok && wantsStrict(req) ? 503 : 200;
      res.set_header("Cache-Control", "no-store");
      res.set_content(healthJson(report), "application/json");
    });
  }

  // One request per connection (the response says Connection: close): with one thread, an
  // idle kept-alive connection would make the next client, a health probe perhaps, wait.
  // False when no request could be read (client gone, too slow, too large).
  bool serve(httplib::Stream& stream) {
    bool closed = false;
    return process_request(stream, true, closed, nullptr);
  }
};

std::string healthJson(const HealthReport& report) {
  std::string out =
      report.ok ? R"({"status":"ok","reasons":[)" : R"({"status":"degraded","reasons":[)";
  for (std::size_t i = 0; i < report.reasons.size(); ++i) {
    if (i > 0) out += ',';
    obs::appendJsonString(out, report.reasons[i]);
  }
  out += "]}\n";
  return out;
}

HttpServer::HttpServer(std::unique_ptr<Endpoint> endpoint) : endpoint_(std::move(endpoint)) {}

HttpServer::~HttpServer() { stop(); }

tl::expected<std::unique_ptr<HttpServer>, std::string> HttpServer::start(const HttpConfig& config,
                                                                         Registry& registry,
                                                                         const Health& health) {
  HealthPolicy policy;
  policy.lag_threshold = config.lag_threshold;
  std::unique_ptr<HttpServer> self(
      new HttpServer(std::make_unique<Endpoint>(registry, health, policy)));
  self->stop_ = sys::Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!self->stop_) {
    return tl::make_unexpected(
        fmt::format("cannot start the HTTP server: eventfd: {}", std::strerror(errno)));
  }
  auto listening = listenOn(config, self->port_);
  if (!listening) return tl::make_unexpected(std::move(listening.error()));
  self->listen_ = std::move(*listening);
  // Signals belong to the main thread, which waits for SIGINT and SIGTERM: the server thread
  // starts with every signal blocked, whatever the caller's mask.
  sigset_t all;
  sigset_t before;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &before);
  self->thread_ = std::thread([server = self.get()] { server->serve(); });
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  return self;
}

void HttpServer::serve() {
  pollfd fds[2] = {{listen_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
  for (;;) {
    // Sleeps until a client connects or stop(): nothing runs while nobody asks.
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fmt::print(stderr, "sqtail: warning: HTTP server stopped: poll: {}\n", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    sys::Fd conn(
        retryOnEintr([&] { return ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC); }));
    if (!conn) {
      // Out of descriptors: the pending connection stays and poll() would spin; wait a bit.
      if (errno == EMFILE || errno == ENFILE) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      continue;  // ECONNABORTED and the like: that client is gone
    }
    BoundedStream stream(conn.get(), Clock::now() + kConnectionDeadline);
    const bool answered = endpoint_->serve(stream);
    ::shutdown(conn.get(), SHUT_WR);  // FIN after the response
    if (answered) {
      BoundedStream rest(conn.get(), Clock::now() + kDrainTime);
      char scratch[4096];
      while (rest.read(scratch, sizeof scratch) > 0) {
      }
    }
  }
}

void HttpServer::stop() {
  if (!thread_.joinable()) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = sys::writeSome(stop_.get(), &one, sizeof one);
  thread_.join();
  listen_.reset();
}

}  // namespace sqtail::obs
