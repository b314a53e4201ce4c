#include "obs/http_config.hpp"

#include <string>
#include <string_view>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace sqtail::obs {
namespace {

// Parses a whole document and hands its [http] table to parseHttpConfig, as the loader does.
tl::expected<HttpConfig, std::string> parse(std::string_view toml) {
  toml::table root = toml::parse(toml, std::string_view("t.toml"));
  const toml::table* http = root["http"].as_table();
  if (http == nullptr) {
    ADD_FAILURE() << "no [http] table in:\n" << toml;
    return tl::make_unexpected(std::string("no table"));
  }
  return parseHttpConfig(*http, "t.toml");
}

std::string errorOf(std::string_view toml) {
  auto parsed = parse(toml);
  if (parsed) {
    ADD_FAILURE() << "expected an error for:\n" << toml;
    return {};
  }
  return parsed.error();
}

TEST(HttpConfig, ListenAloneTakesTheDefaults) {
  auto config = parse("[http]\nlisten = \"127.0.0.1:9099\"\n");
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(*config, HttpConfig{});
}

TEST(HttpConfig, EveryKey) {
  auto config = parse(R"(
[http]
listen = "[::1]:0"
allow_remote = false
lag_threshold = "16MiB"
)");
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->host, "::1");
  EXPECT_EQ(config->port, 0);
  EXPECT_FALSE(config->allow_remote);
  EXPECT_EQ(config->lag_threshold, 16u << 20);
}

TEST(HttpConfig, LagThresholdForms) {
  auto bytes = parse("[http]\nlisten = \"localhost:1\"\nlag_threshold = 4096\n");
  ASSERT_TRUE(bytes) << bytes.error();
  EXPECT_EQ(bytes->lag_threshold, 4096u);
  auto spaced = parse("[http]\nlisten = \"localhost:1\"\nlag_threshold = \"2 GB\"\n");
  ASSERT_TRUE(spaced) << spaced.error();
  EXPECT_EQ(spaced->lag_threshold, 2'000'000'000u);
}

TEST(HttpConfig, RemoteNeedsAllowRemote) {
  EXPECT_EQ(errorOf("[http]\nlisten = \"0.0.0.0:9099\"\n"),
            "t.toml:2: key 'http.listen': \"0.0.0.0\" is not a loopback address; /metrics and "
            "/health have no authentication, so serving other hosts needs allow_remote = true");
  EXPECT_NE(errorOf("[http]\nlisten = \"[::]:9099\"\n").find("allow_remote = true"),
            std::string::npos);
  EXPECT_NE(errorOf("[http]\nlisten = \"metrics.example.com:9099\"\nallow_remote = false\n")
                .find("not a loopback address"),
            std::string::npos);
  // The order of the keys does not matter.
  auto after = parse("[http]\nlisten = \"0.0.0.0:9099\"\nallow_remote = true\n");
  ASSERT_TRUE(after) << after.error();
  EXPECT_TRUE(after->allow_remote);
  auto before = parse("[http]\nallow_remote = true\nlisten = \"10.1.2.3:9099\"\n");
  ASSERT_TRUE(before) << before.error();
  EXPECT_EQ(before->host, "10.1.2.3");
}

TEST(HttpConfig, ListenIsRequired) {
  EXPECT_EQ(errorOf("db = \"x.db\"\n[http]\nlag_threshold = \"1MiB\"\n"),
            "t.toml:2: key 'http.listen': missing (the address to serve /metrics and /health on, "
            "like \"127.0.0.1:9099\")");
}

TEST(HttpConfig, BadListenForms) {
  auto listenError = [](std::string_view listen) {
    return errorOf(fmt::format("[http]\nlisten = \"{}\"\n", listen));
  };
  EXPECT_EQ(listenError("9099"),
            "t.toml:2: key 'http.listen': \"9099\": expected host:port, like \"127.0.0.1:9099\"");
  EXPECT_NE(listenError("::1:9099").find("write an IPv6 address in brackets"), std::string::npos);
  EXPECT_NE(listenError(":9099").find("the host is missing"), std::string::npos);
  EXPECT_NE(listenError("127.0.0.1:65536").find("from 0 to 65535, got 65536"), std::string::npos);
  EXPECT_NE(listenError("127.0.0.1:http").find("from 0 to 65535, got \"http\""), std::string::npos);
  EXPECT_NE(listenError("127.0.0.1:").find("from 0 to 65535"), std::string::npos);
  EXPECT_NE(listenError("127.0.0.1:-1").find("from 0 to 65535"), std::string::npos);
  EXPECT_NE(listenError("[::1]9099").find("[IPv6 address]:port"), std::string::npos);
  EXPECT_NE(listenError("[localhost]:9099").find("is not an IPv6 address"), std::string::npos);
  EXPECT_NE(listenError("bad_host!:9099").find("neither an IP address nor a host name"),
            std::string::npos);
}

TEST(HttpConfig, WrongTypesAndValues) {
  EXPECT_EQ(errorOf("[http]\nlisten = 9099\n"),
            "t.toml:2: key 'http.listen': expected a string like \"127.0.0.1:9099\", got an "
            "integer");
  EXPECT_EQ(errorOf("[http]\nlisten = \"localhost:1\"\nallow_remote = \"yes\"\n"),
            "t.toml:3: key 'http.allow_remote': expected a boolean, got a string");
  EXPECT_NE(errorOf("[http]\nlisten = \"localhost:1\"\nlag_threshold = \"64 parsecs\"\n")
                .find("t.toml:3: key 'http.lag_threshold': \"64 parsecs\": unknown unit"),
            std::string::npos);
  EXPECT_EQ(errorOf("[http]\nlisten = \"localhost:1\"\nlag_threshold = -1\n"),
            "t.toml:3: key 'http.lag_threshold': a size cannot be negative, got -1");
  EXPECT_EQ(errorOf("[http]\nlisten = \"localhost:1\"\nlag_threshold = \"0MiB\"\n"),
            "t.toml:3: key 'http.lag_threshold': must be greater than zero");
  EXPECT_NE(
      errorOf("[http]\nlisten = \"localhost:1\"\nlag_threshold = 1.5\n").find("expected a size"),
      std::string::npos);
  EXPECT_NE(errorOf("[http]\nlisten = \"localhost:1\"\nlag_threshold = \"99999999999TiB\"\n")
                .find("too large"),
            std::string::npos);
}

TEST(HttpConfig, UnknownKey) {
  EXPECT_EQ(errorOf("[http]\nlisten = \"localhost:1\"\nport = 9099\n"),
            "t.toml:3: unknown key 'http.port' (expected one of: listen, allow_remote, "
            "lag_threshold)");
}

TEST(HttpConfig, EveryErrorInLineOrder) {
  EXPECT_EQ(
      errorOf(R"([http]
lag_threshold = "lots"
allow_remote = 1
listen = "nowhere"
)"),
      "t.toml:2: key 'http.lag_threshold': expected a size like \"64MiB\", \"1GiB\", "
      "\"500MB\" or an integer number of bytes, got \"lots\"\n"
      "t.toml:3: key 'http.allow_remote': expected a boolean, got an integer\n"
      "t.toml:4: key 'http.listen': \"nowhere\": expected host:port, like \"127.0.0.1:9099\"");
}

TEST(HttpConfig, ProblemsAsDataForTheConfigLoader) {
  toml::table root = toml::parse("[http]\nport = 1\n", std::string_view("t.toml"));
  auto read = readHttpTable(*root["http"].as_table());
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(),
            (std::vector<HttpConfigProblem>{
                {1,
                 "key 'http.listen': missing (the address to serve /metrics and /health on, "
                 "like \"127.0.0.1:9099\")"},
                {2,
                 "unknown key 'http.port' (expected one of: listen, allow_remote, "
                 "lag_threshold)"}}));
}

TEST(ParseListen, Forms) {
  EXPECT_EQ(parseListen("127.0.0.1:9099"), (ListenAddress{"127.0.0.1", 9099}));
  EXPECT_EQ(parseListen("localhost:0"), (ListenAddress{"localhost", 0}));
  EXPECT_EQ(parseListen("[::1]:65535"), (ListenAddress{"::1", 65535}));
  EXPECT_EQ(parseListen("[::]:80"), (ListenAddress{"::", 80}));
  EXPECT_EQ(parseListen("metrics-1.internal:9099"), (ListenAddress{"metrics-1.internal", 9099}));
}

TEST(IsLoopback, OnlyAddressesThisHostReaches) {
  EXPECT_TRUE(isLoopback("127.0.0.1"));
  EXPECT_TRUE(isLoopback("127.1.2.3"));
  EXPECT_TRUE(isLoopback("::1"));
  EXPECT_TRUE(isLoopback("::ffff:127.0.0.1"));
  EXPECT_TRUE(isLoopback("localhost"));
  EXPECT_TRUE(isLoopback("LocalHost"));
  EXPECT_FALSE(isLoopback("0.0.0.0"));
  EXPECT_FALSE(isLoopback("::"));
  EXPECT_FALSE(isLoopback("128.0.0.1"));
  EXPECT_FALSE(isLoopback("::ffff:10.0.0.1"));
  EXPECT_FALSE(isLoopback("localhost.example.com"));
  EXPECT_FALSE(isLoopback("192.168.1.10"));
}

}  // namespace
}  // namespace sqtail::obs
