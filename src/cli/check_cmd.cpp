// `sqtail check`: what `sqtail run` would do with these arguments, without doing it. Errors
// exactly as the loader gives them; then the resolved settings, each source with the files it
// matches now, and what the extractor makes of a sample line.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <span>

#include <ctime>
#include <filesystem>
#include <functional>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/check.hpp"
#include "cli/command.hpp"
#include "cli/config_flags.hpp"
#include "config/presets.hpp"
#include "parse/extractor.hpp"
#include "parse/field_reader.hpp"
#include "route/router.hpp"
#include "sink/files/path_template.hpp"
#include "usage/usage.hpp"
#include "watch/discovery.hpp"

namespace sqtail::cli {

std::string durationText(std::int64_t ms) {
  constexpr std::pair<std::int64_t, const char*> kUnits[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}};
  for (const auto& [per, unit] : kUnits) {
    if (ms > 0 && ms % per == 0) return fmt::format("{}{}", ms / per, unit);
  }
  return fmt::format("{}ms", ms);
}

std::string sizeText(std::uint64_t bytes) {
  constexpr std::pair<std::uint64_t, const char*> kUnits[] = {
      {1ull << 40, "TiB"}, {1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}};
  for (const auto& [per, unit] : kUnits) {
    if (bytes > 0 && bytes % per == 0) return fmt::format("{}{}", bytes / per, unit);
  }
  return std::to_string(bytes);
}

std::string tomlString(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04X}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + '"';
}

namespace {

std::string tomlList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += tomlString(items[i]);
  }
  return out + "]";
}

std::string listenText(const obs::HttpConfig& http) {
  return http.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", http.host, http.port)
                                                  : fmt::format("{}:{}", http.host, http.port);
}

std::string matchText(const config::RouteMatch& m) {
  using Op = config::RouteMatch::Op;
  switch (m.op) {
    case Op::kEquals:
      return tomlString(m.values.front());
    case Op::kOneOf:
      return m.values.size() == 1 ? fmt::format("{{ in = {} }}", tomlList(m.values))
                                  : tomlList(m.values);
    case Op::kPrefix:
      return fmt::format("{{ prefix = {} }}", tomlString(m.values.front()));
    case Op::kRegex:
      return fmt::format("{{ regex = {} }}", tomlString(m.values.front()));
  }
  return "";
}

std::string routingToml(const config::Config& c) {
  std::string out = "\n[routing]\n";
  out += fmt::format("default = {}\n", tomlList(c.routing.default_to));
  out += fmt::format("priority_flush = {}\n",
                     tomlString(durationText(c.routing.priority_flush.count())));
  out += fmt::format("default_priority = {}\n", c.routing.default_priority);
  out += "[routing.priorities]\n";
  for (const auto& [level, priority] : c.routing.level_priority) {
    out += fmt::format("{} = {}\n", tomlString(level), priority);
  }
  for (const auto& f : c.file_sinks) {
    out += fmt::format("\n[sink.files.{}]\n", f.name);
    out += fmt::format("dir = {}\npath = {}\ntimezone = {}\n", tomlString(f.dir),
                       tomlString(f.path), tomlString(f.timezone));
    out += fmt::format("max_open_files = {}\nhandle_idle = {}\nsync = {}\n", f.max_open_files,
                       tomlString(durationText(f.handle_idle.count())), f.sync ? "true" : "false");
  }
  if (c.postgres) {
    out += "\n[sink.postgres]\n";
    // A conninfo may hold a password: never printed.
    if (c.postgres->conninfo.find("password") != std::string::npos ||
        c.postgres->conninfo.find('@') != std::string::npos) {
      out += "# conninfo: set (not shown: it may hold a password)\n";
    } else {
      out += fmt::format("conninfo = {}\n", tomlString(c.postgres->conninfo));
    }
    if (!c.postgres->host_id.empty()) {
      out += fmt::format("host_id = {}\n", tomlString(c.postgres->host_id));
    }
    out += fmt::format("schema = {}\n", tomlString(c.postgres->schema));
  }
  for (const auto& r : c.routes) {
    out += "\n[[route]]\n";
    out += fmt::format("name = {}\nto = {}\ncontinue = {}\n", tomlString(r.name), tomlList(r.to),
                       r.cont ? "true" : "false");
    if (r.priority) out += fmt::format("priority = {}\n", *r.priority);
    if (!r.match.empty()) {
      out += "[route.match]\n";
      for (const auto& m : r.match) {
        std::string_view field = m.pointer;
        if (m.field == config::RouteMatch::Field::kLevel) field = "level";
        if (m.field == config::RouteMatch::Field::kCategory) field = "category";
        if (m.field == config::RouteMatch::Field::kSource) field = "source";
        out += fmt::format("{} = {}\n", tomlString(field), matchText(m));
      }
    }
  }
  return out;
}

}  // namespace

std::string resolvedToml(const config::Config& c,
                         const std::function<std::string(std::size_t)>& after_source) {
  std::string out;
  auto key = [&](std::string_view name, const std::string& value) {
    out += fmt::format("{} = {}\n", name, value);
  };
  const auto boolean = [](bool b) { return std::string(b ? "true" : "false"); };
  key("db", tomlString(c.db.string()));
  key("store_raw", boolean(c.store_raw));
  key("flush_interval", tomlString(durationText(c.flush_interval.count())));
  key("batch_max_rows", std::to_string(c.batch_max_rows));
  key("batch_max_bytes", tomlString(sizeText(c.batch_max_bytes)));
  key("max_buffer_bytes", tomlString(sizeText(c.max_buffer_bytes)));
  key("max_line_bytes", tomlString(sizeText(c.max_line_bytes)));
  key("read_chunk_bytes", tomlString(sizeText(c.read_chunk_bytes)));
  key("fingerprint_bytes", std::to_string(c.fingerprint_bytes));
  key("rotate_wait", tomlString(durationText(c.rotate_wait.count())));
  key("poll_interval", tomlString(durationText(c.poll_interval.count())));
  key("follow_symlinks", boolean(c.follow_symlinks));
  if (c.pricing.empty()) {
    out += "# pricing: built in (conf/pricing.toml)\n";
  } else {
    key("pricing", tomlString(c.pricing.string()));
  }
  if (c.http) {
    out += "\n[http]\n";
    key("listen", tomlString(listenText(*c.http)));
    key("allow_remote", boolean(c.http->allow_remote));
    key("lag_threshold", tomlString(sizeText(c.http->lag_threshold)));
  } else {
    out += "# [http]: off (no /metrics, no /health)\n";
  }
  for (const config::Source& s : c.sources) {
    out += "\n[[source]]\n";
    key("name", tomlString(s.name));
    key("paths", tomlList(s.paths));
    key("exclude", tomlList(s.exclude));
    key("read_from", tomlString(s.read_from == config::ReadFrom::kTail ? "tail" : "head"));
    if (!s.usage.empty()) key("usage", tomlString(s.usage));
    if (!s.category_from_stack.empty()) {
      key("category_from_stack", tomlString(s.category_from_stack));
      key("stack_skip", tomlList(s.stack_skip));
      key("stack_cache", std::to_string(s.stack_cache));
    }
    if (after_source) out += after_source(static_cast<std::size_t>(&s - c.sources.data()));
    out += "[source.fields]\n";
    key("ts", tomlList(s.fields.ts));
    key("level", tomlList(s.fields.level));
    key("category", tomlList(s.fields.category));
    key("message", tomlList(s.fields.message));
  }
  out += routingToml(c);
  return out;
}

namespace {

struct CheckFlags : ConfigFlags {
  std::string line;
  bool all_files = false, has_line = false;
};

constexpr std::size_t kFilesShown = 20;

std::string isoWithMillis(std::int64_t ms) {
  const std::int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms - secs * 1000);
}

std::string shown(const std::optional<std::string_view>& v) {
  return v ? tomlString(*v) : std::string("(none)");
}

// Where the record goes: the routes it matches, each destination (a file sink with the path
// it would be written to) and its priority.
std::string routeText(const config::Config& cfg, const config::Source& source,
                      std::string_view text, const parse::Fields& fields) {
  route::Router router(cfg);
  std::vector<std::string> pointers = router.pointers();
  std::vector<sink::PathTemplate> templates;
  std::vector<std::size_t> first;
  for (const auto& f : cfg.file_sinks) {
    auto zone = sink::TimeZone::load(f.timezone);
    auto tmpl = zone ? sink::PathTemplate::parse(f.path, *zone)
                     : tl::expected<sink::PathTemplate, std::string>(tl::unexpect, zone.error());
    if (!tmpl) return fmt::format("#     routes    (sink.files.{}: {})\n", f.name, tmpl.error());
    first.push_back(pointers.size());
    pointers.insert(pointers.end(), tmpl->pointers().begin(), tmpl->pointers().end());
    templates.push_back(std::move(*tmpl));
  }
  parse::FieldReader reader(pointers);
  const auto& values = reader.read(text);
  const route::Decision d =
      router.explain(route::RecordView{fields.level, fields.category, source.name, &values});
  std::vector<std::string> names;
  for (int i : d.routes) names.push_back(cfg.routes[static_cast<std::size_t>(i)].name);
  std::string out = fmt::format("#     routes    {}\n",
                                names.empty() ? std::string("(none matched: routing.default)")
                                              : fmt::format("{}", fmt::join(names, ", ")));
  for (int b = 0; b < 64; ++b) {
    if ((d.to & route::bit(b)) == 0) continue;
    std::string dest = router.destinationName(b);
    if (b >= route::kFirstFileBit) {
      const auto i = static_cast<std::size_t>(b - route::kFirstFileBit);
      const auto own = std::span<const std::optional<std::string_view>>(values).subspan(
          first[i], templates[i].pointers().size());
      std::string path;
      const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      char host[256] = {};
      gethostname(host, sizeof host - 1);
      templates[i].render(
          sink::PathTemplate::Values{fields.ts_ms, now, source.name, host,
                                     fields.level.value_or(""), fields.category.value_or(""), own},
          path);
      dest += fmt::format(" ({})", (std::filesystem::path(cfg.file_sinks[i].dir) / path).string());
    }
    out += fmt::format("#     to        {}\n", dest);
  }
  out += fmt::format("#     priority  {}{}\n", d.priority,
                     d.priority > router.defaultPriority()
                         ? fmt::format(" (committed within priority_flush, {})",
                                       durationText(cfg.routing.priority_flush.count()))
                         : std::string());
  return out;
}

// Returns false when the line is rejected.
bool checkLine(const config::Config& cfg, const std::vector<config::Source>& sources,
               std::string_view line, const usage::Pricing& pricing, std::string& out) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  out += fmt::format("\n# --line {}\n", tomlString(line));
  // The extractors read kPadding bytes past the line, as they do in the tailer's buffers.
  std::string padded(line);
  padded.append(parse::kPadding, '\0');
  const std::string_view text(padded.data(), line.size());
  bool accepted = true;
  for (const config::Source& s : sources) {
    if (line.size() > cfg.max_line_bytes) {
      out += fmt::format("#   source '{}': rejected: {} ({} bytes, max_line_bytes {})\n", s.name,
                         parse::reasonName(parse::RejectReason::kLineTooLong), line.size(),
                         cfg.max_line_bytes);
      accepted = false;
      continue;
    }
    parse::Extractor extractor(s.fields);
    auto fields = extractor.extract(text);
    if (!fields) {
      out += fmt::format("#   source '{}': rejected: {} (a row in the rejects table)\n", s.name,
                         parse::reasonName(fields.error()));
      accepted = false;
      continue;
    }
    out += fmt::format("#   source '{}': accepted\n", s.name);
    out += fmt::format(
        "#     ts        {}\n",
        fields->ts_ms ? fmt::format("{} ({} ms)", isoWithMillis(*fields->ts_ms), *fields->ts_ms)
                      : std::string("(none: the time it is read)"));
    out += fmt::format("#     level     {}\n", shown(fields->level));
    out += fmt::format("#     category  {}\n", shown(fields->category));
    out += fmt::format("#     message   {}\n", shown(fields->message));
    out += routeText(cfg, s, text, *fields);
    if (!s.usage.empty()) {
      usage::Extractor agent(pricing);
      if (auto e = agent.extract(text, "")) {
        out += fmt::format(
            "#     usage     model {}, input {}, output {}, cache writes {} (5m) {} (1h), "
            "cache reads {}, cost ${:.6f}{}\n",
            e->model.empty() ? "(none)" : tomlString(e->model), e->input, e->output,
            e->cache_creation_5m, e->cache_creation_1h, e->cache_read,
            e->cost_record.value_or(e->cost_calc), e->cost_record ? " (costUSD)" : "");
      } else {
        out += "#     usage     (not a usage entry)\n";
      }
    }
  }
  return accepted;
}

int runCheck(const CheckFlags& o) {
  auto cfg = o.resolve();
  if (!cfg) {
    fmt::print(stderr, "sqtail: {}\n", cfg.error());
    return 2;
  }
  usage::Pricing pricing = usage::builtinPricing();
  if (!cfg->pricing.empty()) {
    auto loaded = usage::loadPricing(cfg->pricing);
    if (!loaded) {
      fmt::print(stderr, "sqtail: {}\n", loaded.error());
      return 2;
    }
    pricing = std::move(*loaded);
  }

  std::string out =
      fmt::format("# {}: valid\n", o.config_path.empty() ? "command line" : o.config_path);
  // The files each source matches now, found as `run` finds them at start-up (first matching
  // source wins), but with nothing watched.
  std::vector<std::vector<std::string>> matched(cfg->sources.size());
  watch::Discovery discovery(cfg->sources, std::filesystem::current_path().string(), nullptr);
  discovery.scanAll([&](const std::string& path, int source) {
    matched[static_cast<std::size_t>(source)].push_back(path);
  });

  out += resolvedToml(*cfg, [&](std::size_t i) {
    const auto& files = matched[i];
    if (files.empty()) {
      return std::string(
          "# warning: matches no file now (new files are picked up when they appear)\n");
    }
    std::string text = fmt::format("# {} file{} match{} now:\n", files.size(),
                                   files.size() == 1 ? "" : "s", files.size() == 1 ? "es" : "");
    const std::size_t n = o.all_files ? files.size() : std::min(files.size(), kFilesShown);
    for (std::size_t f = 0; f < n; ++f) text += fmt::format("#   {}\n", files[f]);
    if (n < files.size()) text += fmt::format("#   ... {} more (--all-files)\n", files.size() - n);
    return text;
  });

  int status = 0;
  if (o.has_line) {
    // Without a source, the line is read with the default field map.
    std::vector<config::Source> sources = cfg->sources;
    if (sources.empty()) {
      sources.emplace_back();
      sources.back().name = "default";
    }
    if (!checkLine(*cfg, sources, o.line, pricing, out)) status = 1;
  }
  std::cout << out << std::flush;

  const auto db_dir =
      cfg->db.parent_path().empty() ? std::filesystem::path(".") : cfg->db.parent_path();
  struct stat st {};
  if (::stat(db_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    fmt::print(stderr, "sqtail: warning: the directory of db {} does not exist\n",
               tomlString(cfg->db.string()));
  }
  if (cfg->sources.empty()) {
    fmt::print(stderr,
               "sqtail: nothing to tail: give path patterns or a [[source]] in the config\n");
    return 2;
  }
  return status;
}

}  // namespace

void addCheckCommand(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "check",
      "Validate a config; show the resolved settings, the files each source matches "
      "now, and what a sample line gives");
  auto o = std::make_shared<CheckFlags>();
  o->addTo(cmd);
  auto* line =
      cmd->add_option("--line", o->line, "A sample JSONL line to run through the extractor");
  cmd->add_flag("--all-files", o->all_files,
                fmt::format("List every matching file (default: the first {})", kFilesShown));
  cmd->callback([&action, o, line] {
    o->has_line = line->count() > 0;
    action = [o] { return runCheck(*o); };
  });
}

}  // namespace sqtail::cli
