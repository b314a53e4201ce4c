// Invariant 1, exactly once: writers append to 8 files (whole lines and lines split across
// writes) while sqtail is SIGKILLed at random moments and restarted. Afterwards every
// complete line written is in `events` exactly once, with its offset and its bytes.
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "harness.hpp"

namespace sqtail::test {
namespace {

struct WrittenLine {
  std::int64_t offset;
  std::string text;  // without '\n'
};

class Writers {
 public:
  Writers(const TempDir& dir, int files, std::uint64_t seed) : rng_(seed) {
    for (int i = 0; i < files; ++i) paths_.push_back(dir / fmt::format("logs/app-{}.jsonl", i));
    model_.resize(paths_.size());
    pending_.resize(paths_.size());
    sizes_.resize(paths_.size(), 0);
    std::filesystem::create_directories(dir / "logs");
  }

  void start() {
    thread_ = std::thread([this] {
      while (!stop_) {
        step();
        std::this_thread::sleep_for(std::chrono::microseconds(300));  // pacing, not waiting
      }
    });
  }

  // Stops writing and completes every half-written line.
  void finish() {
    stop_ = true;
    thread_.join();
    for (std::size_t f = 0; f < paths_.size(); ++f) {
      if (!pending_[f].empty()) write(f, pending_[f]), pending_[f].clear();
    }
  }

  const std::vector<std::string>& paths() const { return paths_; }
  const std::vector<std::vector<WrittenLine>>& model() const { return model_; }

 private:
  void write(std::size_t f, const std::string& bytes) {
    appendText(paths_[f], bytes);
    sizes_[f] += static_cast<std::int64_t>(bytes.size());
  }

  void step() {
    const std::size_t f = rng_() % paths_.size();
    std::string out;
    if (!pending_[f].empty()) {
      out = pending_[f];
      pending_[f].clear();
    }
    const int n = 1 + static_cast<int>(rng_() % 20);
    std::int64_t offset = sizes_[f] + static_cast<std::int64_t>(out.size());
    for (int i = 0; i < n; ++i) {
      std::string line =
          jsonLine(fmt::format("f{}", f), seq_++, (rng_() % 10 == 0) ? "error" : "info");
      model_[f].push_back({offset, line.substr(0, line.size() - 1)});
      offset += static_cast<std::int64_t>(line.size());
      out += line;
    }
    // Sometimes the last line goes out in two writes: sqtail must never ship its first half.
    if (rng_() % 3 == 0) {
      const std::size_t cut = out.size() - 1 - rng_() % 40;
      pending_[f] = out.substr(cut);
      out.resize(cut);
    }
    write(f, out);
  }

  std::mt19937_64 rng_;
  std::vector<std::string> paths_;
  std::vector<std::vector<WrittenLine>> model_;
  std::vector<std::string> pending_;
  std::vector<std::int64_t> sizes_;
  std::int64_t seq_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

int iterations() {
  const char* env = std::getenv("SQTAIL_CRASH_ITERATIONS");
  return env != nullptr ? std::atoi(env) : 20;
}

TEST(Crash, KillNineAtRandomMomentsLosesAndDuplicatesNothing) {
  TempDir dir;
  const std::uint64_t seed = testSeed();
  SCOPED_TRACE(fmt::format("seed {} (rerun with SQTAIL_SEED={})", seed, seed));
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
  // Small batches: many commits, so kills land before, inside and after transactions.
  writeText(dir / "sqtail.toml",
            "db = \"s.db\"\nflush_interval = \"50ms\"\nbatch_max_rows = 300\n"
            "[[source]]\nname = \"app\"\npaths = [\"logs/*.jsonl\"]\n");
  Writers writers(dir, 8, seed);
  writers.start();
  int kills_after_commit = 0;
  for (int i = 0; i < iterations(); ++i) {
    auto p = Process::start({"run", "--config", "sqtail.toml"}, dir.path(), dir.path());
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 400));  // random moment
    p.signal(SIGKILL);
    auto st = p.wait(10s);
    ASSERT_TRUE(st.has_value());
    if (*st != 128 + SIGKILL) FAIL() << "sqtail exited by itself: " << p.stderrText();
    Db db(dir / "s.db");
    if (db.scalar("SELECT count(*) FROM events") > 0) ++kills_after_commit;
  }
  writers.finish();
  // Drain what is left, as a restart would.
  ASSERT_EQ(runSqtail({"run", "--once", "--config", "sqtail.toml"}, dir.path()), 0);
  EXPECT_GT(kills_after_commit, 0) << "no kill landed after a commit: the test proved nothing";

  Db db(dir / "s.db");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM rejects"), 0);
  std::int64_t expected_total = 0;
  for (std::size_t f = 0; f < writers.paths().size(); ++f) {
    const auto& want = writers.model()[f];
    expected_total += static_cast<std::int64_t>(want.size());
    auto got = db.rows(
        fmt::format("SELECT e.offset, e.raw FROM events e JOIN files fl ON fl.id = e.file_id "
                    "WHERE fl.path = '{}' ORDER BY e.id",
                    writers.paths()[f]));
    ASSERT_EQ(got.size(), want.size()) << writers.paths()[f];
    for (std::size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i][0], std::to_string(want[i].offset)) << writers.paths()[f] << " line " << i;
      ASSERT_EQ(got[i][1], want[i].text) << writers.paths()[f] << " line " << i;
    }
  }
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), expected_total);
  EXPECT_EQ(db.scalar("SELECT sum(lines) FROM stats_minute"), expected_total);
}

}  // namespace
}  // namespace sqtail::test
