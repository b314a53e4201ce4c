// How a TOML value's type is named in a config error ("expected a string, got an array").
// Header-only: the [http] loader in obs/ uses it too, and obs/ does not link config/.
#pragma once

#include <string_view>

#include <toml++/toml.h>

namespace sqtail::config {

inline std::string_view typeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

}  // namespace sqtail::config
