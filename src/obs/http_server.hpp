// Owns the HTTP endpoint: GET /metrics (Prometheus text) and GET /health (JSON), served on
// one thread of its own, one connection at a time. start() and stop() from one thread (the
// main thread); the server thread only scrapes the registry and reads the health facts.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include <tl/expected.hpp>

#include "obs/health.hpp"
#include "obs/http_config.hpp"
#include "obs/registry.hpp"
#include "sys/sys.hpp"

namespace sqtail::obs {

class HttpServer {
 public:
  // Binds and listens on the calling thread, so a taken port or a bad address is an error
  // here; then serves on its own thread until stop(). `registry` and `health` must outlive
  // the server.
  static tl::expected<std::unique_ptr<HttpServer>, std::string> start(const HttpConfig& config,
                                                                      Registry& registry,
                                                                      const Health& health);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port: the one the kernel chose when the config said 0.
  int port() const { return port_; }
  // Stops accepting and joins the thread. A connection being served finishes first, within
  // its deadline (3 s). Idempotent.
  void stop();

 private:
  class Endpoint;  // httplib's request parsing, routing and response writing

  explicit HttpServer(std::unique_ptr<Endpoint> endpoint);
  void serve();  // the server thread

  std::unique_ptr<Endpoint> endpoint_;
  sys::Fd listen_;
  sys::Fd stop_;  // eventfd: readable once stop() is called
  std::thread thread_;
  int port_ = 0;
};

// The /health body: {"status":"ok"|"degraded","reasons":[...]}.
std::string healthJson(const HealthReport& report);

}  // namespace sqtail::obs
