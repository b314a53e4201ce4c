#include "obs/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "text_format.hpp"

namespace sqtail::obs {
namespace {

using namespace std::chrono_literals;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    addProcessCollector(registry_);
    HttpConfig config;
    config.port = 0;  // any free port
    config.lag_threshold = 1000;
    auto started = HttpServer::start(config, registry_, health_);
    ASSERT_TRUE(started) << started.error();
    server_ = std::move(*started);
    ASSERT_GT(server_->port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(10s);
  }

  httplib::Result get(const std::string& path) {
    auto res = client_->Get(path);
    EXPECT_TRUE(res) << path << ": " << httplib::to_string(res.error());
    return res;
  }

  Registry registry_;
  Health health_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpServerTest, MetricsIsValidPrometheusText) {
  registry_.counter(MetricId::kLinesRead, {"app"}).add(7);
  registry_.histogram(MetricId::kBatchRows, {"sqlite"}).observe(150);
  auto res = get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  auto parsed = testing::parseText(res->body);
  ASSERT_TRUE(parsed) << parsed.error() << "\n" << res->body;
  EXPECT_EQ(parsed->types.size(), kMetricCount);
  ASSERT_EQ(parsed->find("sqtail_lines_read_total", {{"source", "app"}}).size(), 1u);
  EXPECT_EQ(parsed->find("sqtail_lines_read_total", {{"source", "app"}})[0].value, 7);
  EXPECT_EQ(parsed->find("sqtail_batch_rows_bucket", {{"sink", "sqlite"}, {"le", "100"}})[0].value,
            0);
  EXPECT_EQ(parsed->find("sqtail_batch_rows_bucket", {{"sink", "sqlite"}, {"le", "1000"}})[0].value,
            1);
  EXPECT_EQ(parsed->find("sqtail_build_info").size(), 1u);
  EXPECT_GT(parsed->find("sqtail_process_resident_memory_bytes")[0].value, 0);
}

TEST_F(HttpServerTest, HealthOk) {
  auto res = get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(res->body, "{\"status\":\"ok\",\"reasons\":[]}\n");
  auto strict = get("/health?strict");
  ASSERT_TRUE(strict);
  EXPECT_EQ(strict->status, 200);
}

TEST_F(HttpServerTest, PollingIsDegradedAndStrictMakesIt503) {
  health_.setPolling(true);
  const std::string degraded =
      "{\"status\":\"degraded\",\"reasons\":[\"watching by polling: inotify is unavailable or "
      "its watch limit is reached\"]}\n";
  auto res = get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, degraded);
  auto strict = get("/health?strict");
  ASSERT_TRUE(strict);
  EXPECT_EQ(strict->status, 503);
  EXPECT_EQ(strict->body, degraded);
  auto explicit_strict = get("/health?strict=1");
  ASSERT_TRUE(explicit_strict);
  EXPECT_EQ(explicit_strict->status, 503);
  auto not_strict = get("/health?strict=0");
  ASSERT_TRUE(not_strict);
  EXPECT_EQ(not_strict->status, 200);
  health_.setPolling(false);
  auto back = get("/health?strict");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, 200);
}

TEST_F(HttpServerTest, FilesThatCannotBeReadAreDegradedAndCounted) {
  health_.setFailingFiles(1);
  auto one = get("/health");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->body,
            "{\"status\":\"degraded\",\"reasons\":[\"1 log file cannot be opened or read "
            "(tried again every poll_interval)\"]}\n");
  health_.setFailingFiles(3);
  auto three = get("/health");
  ASSERT_TRUE(three);
  EXPECT_NE(three->body.find("3 log files cannot"), std::string::npos) << three->body;
  health_.setFailingFiles(0);
  auto back = get("/health?strict");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, 200);
}

TEST_F(HttpServerTest, FailingSinkAndLaggingFileAreDegraded) {
  SinkHealth& sink = health_.addSink("sqlite");
  sink.commitFailed();
  health_.setMaxFileLag(2048);
  auto res = get("/health?strict");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body,
            "{\"status\":\"degraded\",\"reasons\":[\"sink 'sqlite' is failing: a commit failed "
            "0s ago\",\"a file is 2.0 KiB behind (lag_threshold 1000 B)\"]}\n");
}

TEST_F(HttpServerTest, OtherPathsAre404) {
  for (const char* path : {"/", "/metricsx", "/health/", "/metrics/", "/favicon.ico", "/../etc"}) {
    auto res = get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 404) << path;
  }
  auto post = client_->Post("/nowhere", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);
}

TEST_F(HttpServerTest, OtherMethodsAre405) {
  for (const char* path : {"/metrics", "/health"}) {
    auto post = client_->Post(path, "{}", "application/json");
    ASSERT_TRUE(post);
    EXPECT_EQ(post->status, 405) << path;
    EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD");
    auto put = client_->Put(path, "{}", "application/json");
    ASSERT_TRUE(put);
    EXPECT_EQ(put->status, 405) << path;
    auto del = client_->Delete(path);
    ASSERT_TRUE(del);
    EXPECT_EQ(del->status, 405) << path;
    auto patch = client_->Patch(path, "{}", "application/json");
    ASSERT_TRUE(patch);
    EXPECT_EQ(patch->status, 405) << path;
    auto options = client_->Options(path);
    ASSERT_TRUE(options);
    EXPECT_EQ(options->status, 405) << path;
  }
}

TEST_F(HttpServerTest, HeadIsGetWithoutTheBody) {
  auto res = client_->Head("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(res->body.empty());
}

TEST_F(HttpServerTest, OversizedRequestsAreCutOff) {
  // Request line, headers and body may come to 16 KiB; past that the connection is closed
  // without an answer.
  httplib::Headers headers;
  for (int i = 0; i < 64; ++i)
    headers.emplace(fmt::format("X-Filler-{}", i), std::string(1000, 'x'));
  auto big = client_->Get("/metrics", headers);
  EXPECT_FALSE(big && big->status == 200);
  // A body on a method we refuse is not read, yet the client still gets its answer.
  auto post = client_->Post("/metrics", std::string(64 * 1024, 'x'), "text/plain");
  ASSERT_TRUE(post) << httplib::to_string(post.error());
  EXPECT_EQ(post->status, 405);
  // And the server goes on answering.
  auto health = get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(HttpServerTest, ASilentConnectionDoesNotHoldTheEndpoint) {
  // One thread serves one connection at a time: a client that connects and says nothing is
  // dropped at its deadline (3 s), then the next one is served.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(server_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  auto res = get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  char byte = 0;
  EXPECT_EQ(::read(fd, &byte, 1), 0);  // the server closed the silent one
  ::close(fd);
}

TEST_F(HttpServerTest, ManyRequestsInARow) {
  for (int i = 0; i < 200; ++i) {
    auto res = get(i % 2 ? "/metrics" : "/health");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
  }
}

TEST_F(HttpServerTest, PortInUseIsAnError) {
  HttpConfig config;
  config.port = static_cast<std::uint16_t>(server_->port());
  auto second = HttpServer::start(config, registry_, health_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(),
            fmt::format("cannot listen on 127.0.0.1:{}: Address already in use", server_->port()));
}

TEST_F(HttpServerTest, StopIsIdempotentAndFreesThePort) {
  const int port = server_->port();
  server_->stop();
  server_->stop();
  httplib::Client after("127.0.0.1", port);
  after.set_connection_timeout(1s);
  EXPECT_FALSE(after.Get("/health"));
  server_.reset();
}

TEST(HttpServer, StopRightAfterStart) {
  Registry registry;
  Health health;
  HttpConfig config;
  config.port = 0;
  for (int i = 0; i < 20; ++i) {
    auto started = HttpServer::start(config, registry, health);
    ASSERT_TRUE(started) << started.error();
    (*started)->stop();
  }
}

TEST(HttpServer, ListensOnIpv6Loopback) {
  Registry registry;
  Health health;
  HttpConfig config;
  config.host = "::1";
  config.port = 0;
  auto started = HttpServer::start(config, registry, health);
  if (!started) GTEST_SKIP() << "no IPv6 loopback here: " << started.error();
  httplib::Client client("::1", (*started)->port());
  auto res = client.Get("/health");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
}

TEST(Health, FailureWindowWithAFakeClock) {
  Health health;
  SinkHealth& sink = health.addSink("sqlite");
  HealthPolicy policy;
  policy.failure_window = 60s;
  const auto t0 = Health::Clock::time_point(1000h);
  EXPECT_TRUE(health.evaluate(policy, t0).ok);
  sink.commitFailed(t0);
  EXPECT_FALSE(health.evaluate(policy, t0 + 59s).ok);
  EXPECT_EQ(health.evaluate(policy, t0 + 59s).reasons.at(0),
            "sink 'sqlite' is failing: a commit failed 59s ago");
  EXPECT_TRUE(health.evaluate(policy, t0 + 60s).ok);
}

TEST(Health, LagThresholdIsExclusive) {
  Health health;
  HealthPolicy policy;
  policy.lag_threshold = 64ull << 20;
  health.setMaxFileLag(64ull << 20);
  EXPECT_TRUE(health.evaluate(policy).ok);
  health.setMaxFileLag((64ull << 20) + 1);
  const auto report = health.evaluate(policy);
  ASSERT_FALSE(report.ok);
  EXPECT_EQ(report.reasons.at(0), "a file is 64.0 MiB behind (lag_threshold 64.0 MiB)");
}

TEST(HealthJson, EscapesReasons) {
  HealthReport report{false, {"sink 'a\"b\\c'\n", std::string("ctl\x01", 4)}};
  EXPECT_EQ(healthJson(report),
            "{\"status\":\"degraded\",\"reasons\":[\"sink 'a\\\"b\\\\c'\\n\",\"ctl\\u0001\"]}\n");
}

}  // namespace
}  // namespace sqtail::obs
