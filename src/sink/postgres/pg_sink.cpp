#include "sink/postgres/pg_sink.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>

#include <fmt/core.h>

#include "sink/postgres/copy_text.hpp"
#include "sink/postgres/pg_schema.hpp"

namespace sqtail::sink {

namespace {

// COPY data goes out in pieces of about this size: big enough that libpq's per-call cost
// vanishes, small enough that a 20,000-row batch is never held twice in memory.
constexpr std::size_t kCopyChunk = 1 << 20;

constexpr const char* kNowMs = "(extract(epoch FROM now()) * 1000)::bigint";

std::string expand(std::string_view sql, std::string_view schema, std::string_view host = {}) {
  std::string out;
  out.reserve(sql.size() + 64);
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] == '{' && i + 2 < sql.size() && sql[i + 2] == '}') {
      if (sql[i + 1] == 's') {
        out += schema;
        i += 2;
        continue;
      }
      if (sql[i + 1] == 'h') {
        out += host;
        i += 2;
        continue;
      }
    }
    out += sql[i];
  }
  return out;
}

PgError withContext(PgError e, std::string_view what) {
  e.message = fmt::format("{}: {}", what, e.message);
  return e;
}

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  // splitmix64 finalizer over the running hash: enough to tell one batch from the next.
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

// What identifies a batch across a retry: where it leaves each file and how many rows it has.
std::uint64_t batchDigest(const Batch& b) {
  std::uint64_t h = mix(0, b.events.size());
  h = mix(h, b.rejects.size());
  h = mix(h, b.usage.size());
  h = mix(h, b.rollups.size());
  for (const auto& f : b.files) {
    for (std::uint64_t v :
         {f.dev, f.inode, f.birth, static_cast<std::uint64_t>(f.offset),
          static_cast<std::uint64_t>(f.line_no), static_cast<std::uint64_t>(f.file_id)}) {
      h = mix(h, v);
    }
  }
  return h;
}

std::string escapedText(std::string_view s) {
  CopyTextWriter w;
  w.text(s);
  return std::move(w.buffer());
}

std::string hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

bool validPgSchemaName(std::string_view schema) {
  if (schema.empty() || schema.size() > 63) return false;
  if (schema.front() >= '0' && schema.front() <= '9') return false;
  return std::all_of(schema.begin(), schema.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

tl::expected<PgConnection, PgError> openPgForReports(std::string_view conninfo,
                                                     std::string_view schema) {
  if (!validPgSchemaName(schema)) {
    return tl::unexpected(
        PgError{"", fmt::format("schema '{}': use letters, digits and '_'", schema)});
  }
  auto conn = PgConnection::open(conninfo, "sqtail-report");
  if (!conn) return tl::unexpected(conn.error());
  if (auto r = conn->setReadOnly(); !r) return tl::unexpected(r.error());
  auto found = conn->query("SELECT to_regclass($1) IS NOT NULL",
                           {conn->identifier(schema) + ".sqtail_schema_version"});
  if (!found) return tl::unexpected(found.error());
  if (found->text(0, 0) != "t") {
    return tl::unexpected(PgError{
        "42P01", fmt::format("no sqtail tables in schema '{}' of {} (has a host shipped yet?)",
                             schema, redactConninfo(conninfo))});
  }
  return std::move(*conn);
}

PgBackoff::PgBackoff(std::chrono::milliseconds first, std::chrono::milliseconds cap)
    : first_(first),
      cap_(cap),
      rng_(static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
           static_cast<std::uint64_t>(::getpid())) {}

std::chrono::milliseconds PgBackoff::next() {
  auto d = first_;
  for (int i = 0; i < attempt_ && d < cap_; ++i) d *= 2;
  d = std::min(d, cap_);
  ++attempt_;
  rng_ = mix(rng_, 1);
  const auto half = d.count() / 2;
  return std::chrono::milliseconds(
      half + static_cast<std::int64_t>(rng_ % static_cast<std::uint64_t>(half + 1)));
}

tl::expected<void, PgError> migratePg(PgConnection& conn, std::string_view schema) {
  const std::string s = conn.identifier(schema);
  const std::string version_table = s + ".sqtail_schema_version";
  auto readVersion = [&]() -> tl::expected<int, PgError> {
    auto r = conn.exec("SELECT coalesce(max(version), 0) FROM " + version_table);
    if (!r) return tl::unexpected(r.error());
    return static_cast<int>(r->int64(0, 0));
  };
  auto tooNew = [&](int version) {
    return PgError{"", fmt::format("the PostgreSQL schema {} has version {}, newer than this "
                                   "sqtail knows ({}); use a newer sqtail",
                                   schema, version, kPgSchemaVersion)};
  };
  // Up to date: no lock and no DDL, so that a role without CREATE can write to a schema an
  // administrator set up.
  auto exists = conn.query("SELECT to_regclass($1) IS NOT NULL", {version_table});
  if (!exists) return tl::unexpected(withContext(exists.error(), "reading the schema version"));
  if (exists->text(0, 0) == "t") {
    auto v = readVersion();
    if (!v) return tl::unexpected(withContext(v.error(), "reading the schema version"));
    if (*v == kPgSchemaVersion) return {};
    if (*v > kPgSchemaVersion) return tl::unexpected(tooNew(*v));
  }

  int step = 0;
  auto fail = [&](PgError e) -> tl::expected<void, PgError> {
    if (conn.ok()) (void)conn.exec("ROLLBACK");
    return tl::unexpected(
        withContext(std::move(e),
                    fmt::format("migrating the PostgreSQL schema {} to version {}", schema, step)));
  };
  // Hosts that start together queue here; the first migrates, the others find it done.
  const std::string lock = fmt::format("BEGIN; SELECT pg_advisory_xact_lock(hashtext({}))",
                                       conn.literal("sqtail migrate " + std::string(schema)));
  if (auto r = conn.exec(lock); !r) return fail(r.error());
  if (auto r = conn.exec(fmt::format("CREATE SCHEMA IF NOT EXISTS {0}; CREATE TABLE IF NOT "
                                     "EXISTS {1}(version integer NOT NULL)",
                                     s, version_table));
      !r) {
    return fail(r.error());
  }
  auto v = readVersion();
  if (!v) return fail(v.error());
  if (*v > kPgSchemaVersion) {
    (void)conn.exec("ROLLBACK");
    return tl::unexpected(tooNew(*v));
  }
  for (step = *v + 1; step <= kPgSchemaVersion; ++step) {
    if (auto r = conn.exec(expand(kPgMigrations[static_cast<std::size_t>(step - 1)], s)); !r) {
      return fail(r.error());
    }
  }
  step = kPgSchemaVersion;
  if (auto r = conn.exec(fmt::format("DELETE FROM {0}; INSERT INTO {0} VALUES ({1}); COMMIT",
                                     version_table, kPgSchemaVersion));
      !r) {
    return fail(r.error());
  }
  return {};
}

// SQL text fixed for the life of the sink (schema and host are known at connect()).
struct PgSink::Sql {
  std::string schema, host_literal, host_escaped;
  std::string copy_events, copy_rejects, merge_rollups, merge_usage, merge_checkpoints;
};

PgSink::PgSink(PgSettings settings, std::unique_ptr<Sql> sql)
    : settings_(std::move(settings)), sql_(std::move(sql)) {}

PgSink::~PgSink() = default;

tl::expected<std::unique_ptr<PgSink>, PgError> PgSink::connect(const PgSettings& settings) {
  PgSettings s = settings;
  if (s.host_id.empty()) s.host_id = hostname();
  if (!validPgSchemaName(s.schema)) {
    return tl::unexpected(PgError{
        "",
        fmt::format("schema '{}': use letters, digits and '_' (not first), at most 63", s.schema)});
  }
  std::unique_ptr<PgSink> sink(new PgSink(std::move(s), std::make_unique<Sql>()));
  if (auto r = sink->open(); !r) return tl::unexpected(r.error());
  return sink;
}

tl::expected<void, PgError> PgSink::open() {
  auto c = PgConnection::open(settings_.conninfo, "sqtail");
  if (!c) return tl::unexpected(c.error());
  conn_.emplace(std::move(*c));
  auto fail = [&](PgError e) -> tl::expected<void, PgError> {
    conn_.reset();
    return tl::unexpected(std::move(e));
  };
  if (auto r = migratePg(*conn_, settings_.schema); !r) return fail(r.error());

  Sql& q = *sql_;
  q.schema = conn_->identifier(settings_.schema);
  q.host_literal = conn_->literal(settings_.host_id);
  q.host_escaped = escapedText(settings_.host_id);
  q.copy_events = expand(kPgCopyEvents, q.schema);
  q.copy_rejects = expand(kPgCopyRejects, q.schema);
  q.merge_rollups = expand(kPgMergeRollups, q.schema, q.host_literal);
  q.merge_usage = expand(kPgMergeUsage, q.schema, q.host_literal);
  q.merge_checkpoints = expand(kPgMergeCheckpoints, q.schema, q.host_literal);

  if (auto r = conn_->exec(std::string(kPgStagingTables)); !r) {
    return fail(withContext(r.error(), "creating the staging tables"));
  }
  if (auto r = conn_->exec(fmt::format(
          "INSERT INTO {0}.sqtail_hosts(host_id, first_seen, last_seen) VALUES ({1}, {2}, {2}) "
          "ON CONFLICT (host_id) DO NOTHING",
          q.schema, q.host_literal, kNowMs));
      !r) {
    return fail(withContext(r.error(), "registering the host"));
  }
  if (auto r = readHostState(); !r) return fail(r.error());
  return {};
}

tl::expected<void, PgError> PgSink::readHostState() {
  auto r = conn_->exec(
      fmt::format("SELECT commit_seq, batch_digest FROM {}.sqtail_hosts WHERE host_id = {}",
                  sql_->schema, sql_->host_literal));
  if (!r) return tl::unexpected(withContext(r.error(), "reading the host's commit sequence"));
  if (r->rows() != 1) return tl::unexpected(PgError{"", "the host's row in sqtail_hosts is gone"});
  const std::int64_t seq = r->int64(0, 0);
  const std::int64_t digest = r->int64(0, 1);
  if (in_doubt_ && seq == in_doubt_->seq && digest == in_doubt_->digest) {
    landed_digest_ = digest;  // the lost COMMIT went through: its retry must not write again
  }
  in_doubt_.reset();
  commit_seq_ = seq;
  return {};
}

bool PgSink::connected() const { return conn_ && conn_->ok(); }

tl::expected<void, PgError> PgSink::reconnect() {
  conn_.reset();
  counters_.reconnects++;
  return open();
}

tl::expected<std::vector<PgCheckpoint>, PgError> PgSink::loadCheckpoints() {
  if (!connected()) return tl::unexpected(PgError{"08003", "not connected to PostgreSQL"});
  // The writer re-reads from here: a batch that landed unseen is in these offsets already.
  if (in_doubt_ || landed_digest_) {
    if (auto r = readHostState(); !r) return tl::unexpected(r.error());
    landed_digest_.reset();
  }
  auto r = conn_->query(
      fmt::format("SELECT dev, inode, birth, fingerprint, path, \"offset\", line_no, file_id, "
                  "source, fingerprint_len, check_hash, check_len, size, state "
                  "FROM {}.sqtail_checkpoints WHERE host_id = $1 ORDER BY file_id",
                  sql_->schema),
      {settings_.host_id});
  if (!r) return tl::unexpected(withContext(r.error(), "loading checkpoints"));
  std::vector<PgCheckpoint> out;
  out.reserve(static_cast<std::size_t>(r->rows()));
  for (int i = 0; i < r->rows(); ++i) {
    auto u64 = [&](int c) { return static_cast<std::uint64_t>(r->int64(i, c)); };
    out.push_back(PgCheckpoint{
        u64(0), u64(1), u64(2), u64(3), std::string(r->text(i, 4)), r->int64(i, 5), r->int64(i, 6),
        r->int64(i, 7), std::string(r->text(i, 8)), static_cast<std::uint32_t>(r->int64(i, 9)),
        u64(10), static_cast<std::uint32_t>(r->int64(i, 11)), r->int64(i, 12),
        std::string(r->text(i, 13))});
  }
  return out;
}

tl::expected<void, PgError> PgSink::commit(const Batch& batch) {
  if (!connected()) return tl::unexpected(PgError{"08003", "not connected to PostgreSQL"});
  const auto digest = static_cast<std::int64_t>(batchDigest(batch));
  if (landed_digest_) {
    const bool same = *landed_digest_ == digest;
    landed_digest_.reset();
    if (same) {
      counters_.commits++;
      return {};
    }
  }
  if (batch.empty() && batch.rollups.empty() && batch.usage.empty()) return {};
  auto r = commitOnce(batch, digest);
  if (!r) {
    counters_.failures++;
    if (conn_ && conn_->ok() && conn_->inTransaction()) (void)conn_->exec("ROLLBACK");
  }
  return r;
}

tl::expected<void, PgError> PgSink::copyAll(const std::string& copy_sql, std::string& data) {
  if (auto r = conn_->copyBegin(copy_sql); !r) return r;
  counters_.copy_bytes += data.size();
  if (auto r = conn_->copyPut(data); !r) return r;
  data.clear();
  if (auto r = conn_->copyEnd(); !r) return tl::unexpected(r.error());
  return {};
}

tl::expected<void, PgError> PgSink::commitOnce(const Batch& batch, std::int64_t digest) {
  const Sql& q = *sql_;
  const std::int64_t seq = commit_seq_ + 1;
  // The host's row is the lock and the witness: one writer per host_id, and after a lost
  // COMMIT reply its commit_seq says whether the batch landed.
  auto begin = conn_->exec(fmt::format(
      "BEGIN; UPDATE {0}.sqtail_hosts SET commit_seq = {1}, batch_digest = {2}, last_seen = {3} "
      "WHERE host_id = {4} AND commit_seq = {5}",
      q.schema, seq, digest, kNowMs, q.host_literal, commit_seq_));
  if (!begin) return tl::unexpected(withContext(begin.error(), "begin"));
  if (begin->affected() != 1) {
    return tl::unexpected(
        PgError{"", fmt::format("another sqtail is committing as host_id '{}' (its commit sequence "
                                "moved past {}): give each host its own host_id",
                                settings_.host_id, commit_seq_)});
  }

  CopyTextWriter w;
  std::uint64_t rows = 0;

  // Paths by file id: every file with lines in the batch has its checkpoint in batch.files.
  std::unordered_map<std::int64_t, std::string> paths;
  for (const auto& f : batch.files) paths[f.file_id] = escapedText(f.path);
  auto pathOf = [&](std::int64_t file_id) -> std::string_view {
    auto it = paths.find(file_id);
    return it != paths.end() ? std::string_view(it->second) : std::string_view();
  };
  auto textOrNull = [&](Slice s) {
    if (s.null()) {
      w.null();
    } else {
      w.text(batch.view(s));
    }
  };

  // Events stream out in chunks while they are encoded.
  bool copying = false;
  for (const auto& e : batch.events) {
    if (!routedToPostgres(e)) continue;
    if (!copying) {
      if (auto r = conn_->copyBegin(q.copy_events); !r) {
        return tl::unexpected(withContext(r.error(), "COPY events"));
      }
      copying = true;
    }
    w.escaped(q.host_escaped);
    w.int64(e.file_id);
    w.escaped(pathOf(e.file_id));
    w.int64(e.offset);
    w.int64(e.line_no);
    if (e.has_ts) {
      w.int64(e.ts_ms);
    } else {
      w.null();
    }
    textOrNull(e.level);
    textOrNull(e.category);
    textOrNull(e.message);
    textOrNull(e.raw);
    w.endRow();
    ++rows;
    if (w.size() >= kCopyChunk) {
      counters_.copy_bytes += w.size();
      if (auto r = conn_->copyPut(w.buffer()); !r) {
        return tl::unexpected(withContext(r.error(), "COPY events"));
      }
      w.clear();
    }
  }
  if (copying) {
    counters_.copy_bytes += w.size();
    if (auto r = conn_->copyPut(w.buffer()); !r) {
      return tl::unexpected(withContext(r.error(), "COPY events"));
    }
    w.clear();
    if (auto r = conn_->copyEnd(); !r) {
      return tl::unexpected(withContext(r.error(), "COPY events"));
    }
  }

  if (!batch.rejects.empty()) {
    for (const auto& j : batch.rejects) {
      w.escaped(q.host_escaped);
      w.int64(j.file_id);
      w.escaped(pathOf(j.file_id));
      w.int64(j.offset);
      w.int64(j.line_no);
      w.text(j.reason);
      w.int64(j.length);
      if (j.snippet.null()) {
        w.null();
      } else {
        w.bytea(batch.view(j.snippet));
      }
      w.endRow();
      ++rows;
    }
    if (auto r = copyAll(q.copy_rejects, w.buffer()); !r) {
      return tl::unexpected(withContext(r.error(), "COPY rejects"));
    }
  }

  std::string merge;
  if (!batch.rollups.empty()) {
    // ON CONFLICT may touch a row once per statement: one staged row per key.
    std::map<std::tuple<std::int64_t, std::string_view, std::string_view, std::string_view>,
             std::pair<std::int64_t, std::int64_t>>
        sums;
    for (const auto& r : batch.rollups) {
      auto& s = sums[{r.minute, r.source, r.category, r.level}];
      s.first += r.lines;
      s.second += r.bytes;
    }
    for (const auto& [k, v] : sums) {
      w.int64(std::get<0>(k));
      w.text(std::get<1>(k));
      w.text(std::get<2>(k));
      w.text(std::get<3>(k));
      w.int64(v.first);
      w.int64(v.second);
      w.endRow();
    }
    if (auto r = copyAll(std::string(kPgCopyRollups), w.buffer()); !r) {
      return tl::unexpected(withContext(r.error(), "COPY stats_minute"));
    }
    merge += q.merge_rollups;
  }

  if (!batch.usage.empty()) {
    // Two copies of one entry in a batch: the one that would win in the table goes in.
    std::vector<std::string> keys;
    keys.reserve(batch.usage.size());
    std::unordered_map<std::string_view, std::size_t> winner;
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < batch.usage.size(); ++i) {
      const auto& u = batch.usage[i];
      const std::string_view k = batch.view(u.dedup_key);
      keys.push_back(k.empty() ? fmt::format("pos:{}:{}:{}", u.file_id, u.offset, u.ts_ms)
                               : std::string(k));
    }
    for (std::size_t i = 0; i < batch.usage.size(); ++i) {
      auto [it, added] = winner.try_emplace(keys[i], i);
      if (added) {
        order.push_back(i);
        continue;
      }
      const auto& old = batch.usage[it->second];
      const auto& now = batch.usage[i];
      if (now.sidechain < old.sidechain ||
          (now.sidechain == old.sidechain && now.total > old.total)) {
        *std::find(order.begin(), order.end(), it->second) = i;
        it->second = i;
      }
    }
    for (std::size_t i : order) {
      const auto& u = batch.usage[i];
      w.text(keys[i]);
      w.int64(u.file_id);
      w.int64(u.offset);
      w.int64(u.ts_ms);
      w.text(batch.view(u.project));
      w.text(batch.view(u.session));
      w.text(batch.view(u.model));
      w.int64(u.input);
      w.int64(u.output);
      w.int64(u.cache_creation_5m);
      w.int64(u.cache_creation_1h);
      w.int64(u.cache_read);
      if (u.cost_record) {
        w.float64(*u.cost_record);
      } else {
        w.null();
      }
      w.float64(u.cost_calc);
      w.boolean(u.sidechain);
      w.int64(u.total);
      w.endRow();
    }
    if (auto r = copyAll(std::string(kPgCopyUsage), w.buffer()); !r) {
      return tl::unexpected(withContext(r.error(), "COPY usage"));
    }
    merge += q.merge_usage;
  }

  if (!batch.files.empty()) {
    // One staged row per identity: the last state, the counters of all.
    struct Merged {
      const FileCheckpoint* last;
      std::int64_t lines, rejects, truncations, last_event_ts;
    };
    std::map<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>, Merged> files;
    std::vector<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>> order;
    for (const auto& f : batch.files) {
      auto key = std::tuple{f.dev, f.inode, f.birth};
      auto [it, added] = files.try_emplace(key, Merged{&f, 0, 0, 0, 0});
      if (added) order.push_back(key);
      Merged& m = it->second;
      m.last = &f;
      m.lines += f.lines_added;
      m.rejects += f.rejects_added;
      m.truncations += f.truncations_added;
      m.last_event_ts = std::max(m.last_event_ts, f.last_event_ts);
    }
    for (const auto& key : order) {
      const Merged& m = files.at(key);
      const FileCheckpoint& f = *m.last;
      w.int64(static_cast<std::int64_t>(f.dev));
      w.int64(static_cast<std::int64_t>(f.inode));
      w.int64(static_cast<std::int64_t>(f.birth));
      w.int64(static_cast<std::int64_t>(f.fingerprint));
      w.int64(f.fingerprint_len);
      w.int64(static_cast<std::int64_t>(f.check_hash));
      w.int64(f.check_len);
      w.int64(f.file_id);
      w.text(f.source);
      w.text(f.path);
      w.int64(f.offset);
      w.int64(f.line_no);
      w.int64(f.size);
      w.text(f.state);
      w.int64(m.lines);
      w.int64(m.rejects);
      w.int64(m.truncations);
      if (m.last_event_ts != 0) {
        w.int64(m.last_event_ts);
      } else {
        w.null();
      }
      w.endRow();
    }
    if (auto r = copyAll(std::string(kPgCopyCheckpoints), w.buffer()); !r) {
      return tl::unexpected(withContext(r.error(), "COPY checkpoints"));
    }
    merge += q.merge_checkpoints;
  }

  merge += "COMMIT";
  auto done = conn_->exec(merge);
  if (!done || lose_commit_reply_) {
    if (done) {  // the test seam: COMMIT went through, pretend its reply was lost
      lose_commit_reply_ = false;
      conn_.reset();
    }
    if (!connected()) {
      // The connection broke with COMMIT in flight: whether it landed, only the database
      // knows. reconnect() asks (readHostState), and a retry of this batch then writes nothing.
      in_doubt_ = InDoubt{seq, digest};
      return tl::unexpected(done ? PgError{"08006", "commit: connection lost"}
                                 : withContext(done.error(), "commit"));
    }
    return tl::unexpected(withContext(done.error(), "commit"));
  }
  commit_seq_ = seq;
  counters_.commits++;
  counters_.rows += rows;
  return {};
}

}  // namespace sqtail::sink
