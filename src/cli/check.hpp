// Owns what `sqtail check` prints: a resolved config written back as TOML (which loads into
// the same Config) and what the extractors make of a sample line. Pure; any thread may call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace sqtail::cli {

// Every setting of `config` with its value, defaults included, as a TOML document that
// config::loadString reads back into an equal Config. `after_source(i)`, when given, adds
// comment lines after the keys of source i (before its [source.fields]).
std::string resolvedToml(const config::Config& config,
                         const std::function<std::string(std::size_t)>& after_source = {});

// "250ms", "1s", "5m": the largest unit that states `ms` exactly.
std::string durationText(std::int64_t ms);
// "4MiB", "1024": the largest binary unit that states `bytes` exactly.
std::string sizeText(std::uint64_t bytes);
// A TOML basic string, quoted and escaped.
std::string tomlString(std::string_view text);

}  // namespace sqtail::cli
