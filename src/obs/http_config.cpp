#include "obs/http_config.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "config/toml_type.hpp"

namespace sqtail::obs {
namespace {

using Line = std::uint32_t;

constexpr std::string_view kListenForm = R"("127.0.0.1:9099")";
constexpr std::string_view kSizeForms = R"("64MiB", "1GiB", "500MB" or an integer number of bytes)";

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};
// The units of config::parseSize. That parser is not reachable from here (the config loader
// links this module, not the reverse), so the few lines are repeated; keep the two in step.
constexpr Unit kSizeUnits[] = {
    {"B", 1},
    {"kB", 1000},
    {"KB", 1000},
    {"MB", 1000 * 1000},
    {"GB", 1000 * 1000 * 1000},
    {"TB", 1000ull * 1000 * 1000 * 1000},
    {"KiB", 1ull << 10},
    {"MiB", 1ull << 20},
    {"GiB", 1ull << 30},
    {"TiB", 1ull << 40},
};

bool isDigit(char c) { return c >= '0' && c <= '9'; }

bool isHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c) || c == '-' || c == '.';
}

std::optional<in_addr> ipv4(std::string_view host) {
  in_addr addr{};
  if (inet_pton(AF_INET, std::string(host).c_str(), &addr) != 1) return std::nullopt;
  return addr;
}

std::optional<in6_addr> ipv6(std::string_view host) {
  in6_addr addr{};
  if (inet_pton(AF_INET6, std::string(host).c_str(), &addr) != 1) return std::nullopt;
  return addr;
}

tl::expected<std::uint64_t, std::string> parseSize(std::string_view text) {
  std::size_t pos = 0;
  std::uint64_t number = 0;
  while (pos < text.size() && isDigit(text[pos])) {
    const auto digit = static_cast<std::uint64_t>(text[pos] - '0');
    if (number > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
      return tl::make_unexpected(fmt::format("{:?}: the size is too large", text));
    }
    number = number * 10 + digit;
    ++pos;
  }
  if (pos == 0) {
    return tl::make_unexpected(fmt::format("expected a size like {}, got {:?}", kSizeForms, text));
  }
  while (pos < text.size() && text[pos] == ' ') ++pos;
  std::string_view unit = text.substr(pos);
  if (unit.empty()) unit = "B";
  const auto* found = std::find_if(std::begin(kSizeUnits), std::end(kSizeUnits),
                                   [&](const Unit& u) { return u.name == unit; });
  if (found == std::end(kSizeUnits)) {
    return tl::make_unexpected(fmt::format(
        "{:?}: unknown unit {:?}, use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB", text, unit));
  }
  if (number > std::numeric_limits<std::uint64_t>::max() / found->factor) {
    return tl::make_unexpected(fmt::format("{:?}: the size is too large", text));
  }
  return number * found->factor;
}

class HttpLoader {
 public:
  tl::expected<HttpConfig, std::vector<HttpConfigProblem>> load(const toml::table& http) {
    HttpConfig config;
    std::optional<Line> listen_line;
    for (auto&& [key, node] : http) {
      const std::string_view name = key.str();
      if (name == "listen") {
        listen_line = node.source().begin.line;
        readListen(node, config);
      } else if (name == "allow_remote") {
        if (const auto* value = node.as_boolean()) {
          config.allow_remote = value->get();
        } else {
          wrongType(node, "http.allow_remote", "a boolean");
        }
      } else if (name == "lag_threshold") {
        readLagThreshold(node, config);
      } else {
        error(key.source().begin.line,
              fmt::format("unknown key 'http.{}' (expected one of: listen, allow_remote, "
                          "lag_threshold)",
                          name));
      }
    }
    if (!listen_line) {
      error(http.source().begin.line,
            fmt::format("key 'http.listen': missing (the address to serve /metrics and /health "
                        "on, like {})",
                        kListenForm));
    } else if (listen_ok_ && !config.allow_remote && !isLoopback(config.host)) {
      // Checked after the loop: allow_remote may come after listen.
      error(*listen_line,
            fmt::format("key 'http.listen': {:?} is not a loopback address; /metrics and /health "
                        "have no authentication, so serving other hosts needs allow_remote = true",
                        config.host));
    }
    if (!errors_.empty()) {
      std::stable_sort(errors_.begin(), errors_.end(),
                       [](const auto& a, const auto& b) { return a.line < b.line; });
      return tl::make_unexpected(std::move(errors_));
    }
    return config;
  }

 private:
  void error(Line line, std::string text) {
    errors_.push_back(HttpConfigProblem{line, std::move(text)});
  }

  void wrongType(const toml::node& node, std::string_view key, std::string_view expected) {
    error(node.source().begin.line, fmt::format("key '{}': expected {}, got {}", key, expected,
                                                config::typeName(node.type())));
  }

  void readListen(const toml::node& node, HttpConfig& config) {
    const auto* text = node.as_string();
    if (text == nullptr) {
      wrongType(node, "http.listen", fmt::format("a string like {}", kListenForm));
      return;
    }
    auto address = parseListen(text->get());
    if (!address) {
      error(node.source().begin.line, fmt::format("key 'http.listen': {}", address.error()));
      return;
    }
    config.host = std::move(address->host);
    config.port = address->port;
    listen_ok_ = true;
  }

  void readLagThreshold(const toml::node& node, HttpConfig& config) {
    std::uint64_t size = 0;
    if (const auto* text = node.as_string()) {
      auto parsed = parseSize(text->get());
      if (!parsed) {
        error(node.source().begin.line,
              fmt::format("key 'http.lag_threshold': {}", parsed.error()));
        return;
      }
      size = *parsed;
    } else if (const auto* bytes = node.as_integer()) {
      if (bytes->get() < 0) {
        error(node.source().begin.line,
              fmt::format("key 'http.lag_threshold': a size cannot be negative, got {}",
                          bytes->get()));
        return;
      }
      size = static_cast<std::uint64_t>(bytes->get());
    } else {
      wrongType(node, "http.lag_threshold", fmt::format("a size (a string like {})", kSizeForms));
      return;
    }
    if (size == 0) {
      error(node.source().begin.line, "key 'http.lag_threshold': must be greater than zero");
      return;
    }
    config.lag_threshold = size;
  }

  std::vector<HttpConfigProblem> errors_;
  bool listen_ok_ = false;
};

}  // namespace

tl::expected<HttpConfig, std::vector<HttpConfigProblem>> readHttpTable(const toml::table& http) {
  return HttpLoader{}.load(http);
}

tl::expected<HttpConfig, std::string> parseHttpConfig(const toml::table& http,
                                                      std::string_view origin) {
  auto config = readHttpTable(http);
  if (config) return std::move(*config);
  std::string joined;
  for (const HttpConfigProblem& problem : config.error()) {
    if (!joined.empty()) joined += '\n';
    joined += fmt::format("{}:{}: {}", origin, problem.line, problem.text);
  }
  return tl::make_unexpected(std::move(joined));
}

tl::expected<ListenAddress, std::string> parseListen(std::string_view text) {
  auto fail = [&](std::string_view why) {
    return tl::make_unexpected(fmt::format("{:?}: {}", text, why));
  };
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail(R"(expected "[IPv6 address]:port", like "[::1]:9099")");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!ipv6(host)) return fail(fmt::format("{:?} is not an IPv6 address", host));
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return fail(fmt::format("expected host:port, like {}", kListenForm));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return fail(R"(write an IPv6 address in brackets, like "[::1]:9099")");
    }
    if (host.empty()) {
      return fail(fmt::format(
          R"(the host is missing: give one, like {} ("0.0.0.0" serves every interface))",
          kListenForm));
    }
    if (!ipv4(host) && (host.front() == '-' || host.front() == '.' ||
                        !std::all_of(host.begin(), host.end(), isHostNameChar))) {
      return fail(fmt::format("{:?} is neither an IP address nor a host name", host));
    }
  }
  if (port.empty() || !std::all_of(port.begin(), port.end(), isDigit) || port.size() > 5) {
    return fail(fmt::format("the port must be a number from 0 to 65535, got {:?}", port));
  }
  unsigned value = 0;
  for (char c : port) value = value * 10 + static_cast<unsigned>(c - '0');
  if (value > 65535) {
    return fail(fmt::format("the port must be a number from 0 to 65535, got {}", value));
  }
  return ListenAddress{std::string(host), static_cast<std::uint16_t>(value)};
}

bool isLoopback(std::string_view host) {
  std::string lower(host);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  if (lower == "localhost" || lower == "localhost.") return true;
  if (auto v4 = ipv4(host)) return (ntohl(v4->s_addr) >> 24) == 127;
  if (auto v6 = ipv6(host)) {
    if (IN6_IS_ADDR_LOOPBACK(&*v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&*v6) && v6->s6_addr[12] == 127;
  }
  return false;
}

}  // namespace sqtail::obs
