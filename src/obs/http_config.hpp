// Owns the [http] settings: where /metrics and /health listen, who may reach them, and when
// /health degrades. Parsed on the main thread by the config loader; read-only afterwards.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>
#include <tl/expected.hpp>

namespace sqtail::obs {

struct HttpConfig {
  std::string host = "127.0.0.1";  // an IP literal (IPv6 without brackets) or a host name
  std::uint16_t port = 9099;       // 0: any free port (tests); the server reports the bound one
  bool allow_remote = false;       // needed for any host that is not loopback
  std::uint64_t lag_threshold = 64ull << 20;  // a file further behind degrades /health

  friend bool operator==(const HttpConfig&, const HttpConfig&) = default;
};

struct ListenAddress {
  std::string host;  // IPv6 without its brackets
  std::uint16_t port = 0;

  friend bool operator==(const ListenAddress&, const ListenAddress&) = default;
};

// One problem in the [http] table: its line and the message without the file name, for the
// config loader to sort in with its own ("key 'http.listen': missing (...)").
struct HttpConfigProblem {
  std::uint32_t line = 0;
  std::string text;

  friend bool operator==(const HttpConfigProblem&, const HttpConfigProblem&) = default;
};

// Reads the body of an [http] table: listen (required: the endpoint is off unless
// configured), allow_remote, lag_threshold. Every problem is reported, one per line, in
// line order, as "origin:line: key 'http.listen': ...", like the config loader's messages.
tl::expected<HttpConfig, std::string> parseHttpConfig(const toml::table& http,
                                                      std::string_view origin);
// The same, with the problems as data, in line order.
tl::expected<HttpConfig, std::vector<HttpConfigProblem>> readHttpTable(const toml::table& http);

// "127.0.0.1:9099", "localhost:9099", "[::1]:9099", "0.0.0.0:0" (port 0: any free port).
tl::expected<ListenAddress, std::string> parseListen(std::string_view text);
// True for 127.0.0.0/8, ::1, ::ffff:127.x.y.z and "localhost": addresses only this host reaches.
bool isLoopback(std::string_view host);

}  // namespace sqtail::obs
