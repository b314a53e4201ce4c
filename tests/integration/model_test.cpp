// The randomized model test (issue 3): random sequences of appends (whole and half lines),
// rename rotations, copytruncates, deletions, recreations (inode reuse), kill -9 and
// restarts, against a model of every complete line written. After each sequence drains,
// the DB must hold every required line exactly once, optional lines at most once, nothing
// else, and each file's lines in file order.
//
// A line is required when sqtail could know it: it is in a file that still matches the
// globs, or in a rotated/copied file whose identity sqtail had committed before the
// rotation. Lines of deleted files, or of files rotated away before sqtail ever recorded
// them, are optional: no tailer can read what it never saw.
//
// CI runs the fixed seeds 1..N (SQTAIL_MODEL_SEQUENCES, default 200); `scripts/test --long`
// runs 10,000 random seeds and prints the seed of a failure (replay: SQTAIL_MODEL_SEED=S).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <xxhash.h>

#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "harness.hpp"

namespace sqtail::test {
namespace {

namespace fs = std::filesystem;

constexpr int kSlots = 3;

struct Instance {
  std::vector<std::int64_t> seqs;  // complete lines, in write order
  bool optional = false;
};

class Model {
 public:
  Model(const TempDir& dir, std::uint64_t seed) : dir_(dir), rng_(seed), db_(dir / "s.db") {
    fs::create_directories(dir_ / "logs");
    writeText(dir_ / "c.toml",
              "db = \"s.db\"\nflush_interval = \"20ms\"\nbatch_max_rows = 40\n"
              "rotate_wait = \"200ms\"\n[[source]]\nname = \"m\"\npaths = [\"logs/*.jsonl\"]\n");
  }

  std::string trace() const {
    std::string t;
    for (const auto& op : trace_) t += op + "\n";
    return t;
  }

  void run(int ops) {
    for (int i = 0; i < ops; ++i) step();
    finish();
  }

  void verify() {
    // Every line sqtail stored, per instance, in commit order.
    std::map<std::int64_t, int> count;
    std::map<int, std::vector<std::int64_t>> order;
    for (const auto& row : db_.rows("SELECT raw FROM events ORDER BY id")) {
      const auto pos = row[0].find("\"seq\":");
      ASSERT_NE(pos, std::string::npos) << "a row that was never written: " << row[0];
      const std::int64_t seq = std::stoll(row[0].substr(pos + 6));
      ASSERT_TRUE(owner_.count(seq)) << "seq " << seq << " was never completed: " << row[0];
      ++count[seq];
      order[owner_[seq]].push_back(seq);
    }
    EXPECT_EQ(db_.scalar("SELECT count(*) FROM rejects"), 0) << "a partial line was shipped";
    for (std::size_t i = 0; i < instances_.size(); ++i) {
      const Instance& in = instances_[i];
      for (auto seq : in.seqs) {
        if (in.optional) {
          ASSERT_LE(count[seq], 1)
              << "duplicate of optional line " << seq << " (instance " << i << ")";
        } else {
          ASSERT_EQ(count[seq], 1) << "required line " << seq << " of instance " << i;
        }
      }
      const auto& got = order[static_cast<int>(i)];
      ASSERT_TRUE(std::is_sorted(got.begin(), got.end())) << "instance " << i << " out of order";
    }
  }

 private:
  struct Slot {
    int instance = -1;
    std::string pending;  // the second half of a line written halfway
    std::int64_t pending_seq = -1;
  };

  std::string slotPath(int s) const { return dir_ / fmt::format("logs/f{}.jsonl", s); }

  int newInstance() {
    instances_.push_back({});
    return static_cast<int>(instances_.size()) - 1;
  }

  void complete(int instance, std::int64_t seq) {
    instances_[static_cast<std::size_t>(instance)].seqs.push_back(seq);
    owner_[seq] = instance;
  }

  std::string line(std::int64_t seq) {
    return fmt::format(R"({{"level":"info","category":"model","message":"{}","seq":{}}})"
                       "\n",
                       std::string(rng_() % 60, 'm'), seq);
  }

  void appendWhole(int s) {
    Slot& slot = slots_[s];
    if (slot.instance < 0) slot.instance = newInstance();
    std::string out;
    if (!slot.pending.empty()) {
      out += slot.pending;
      complete(slot.instance, slot.pending_seq);
      slot.pending.clear();
    }
    const int n = 1 + static_cast<int>(rng_() % 8);
    trace_.push_back(fmt::format("append f{} +{} (seq {}..{}) instance {}", s, n, next_seq_,
                                 next_seq_ + n - 1, slot.instance));
    for (int i = 0; i < n; ++i) {
      const auto seq = next_seq_++;
      out += line(seq);
      complete(slot.instance, seq);
    }
    appendText(slotPath(s), out);
  }

  void appendHalf(int s) {
    Slot& slot = slots_[s];
    if (!slot.pending.empty()) return;
    if (slot.instance < 0) slot.instance = newInstance();
    slot.pending_seq = next_seq_++;
    trace_.push_back(
        fmt::format("half f{} seq {} instance {}", s, slot.pending_seq, slot.instance));
    std::string l = line(slot.pending_seq);
    const std::size_t cut = 1 + rng_() % (l.size() - 2);
    appendText(slotPath(s), l.substr(0, cut));
    slot.pending = l.substr(cut);
  }

  void finishHalf(int s) {
    Slot& slot = slots_[s];
    if (slot.pending.empty()) return;
    trace_.push_back(fmt::format("finish f{} seq {}", s, slot.pending_seq));
    appendText(slotPath(s), slot.pending);
    complete(slot.instance, slot.pending_seq);
    slot.pending.clear();
  }

  // Did sqtail durably know this file (its inode and first bytes) before it moved away?
  // For a copy, it must also have committed some of it: the bytes before its offset are
  // what proves which file is the copy (README: Rotation and delivery).
  bool committedIdentity(const std::string& path, bool with_progress = false) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return false;
    const std::string content = readFile(path);
    for (const auto& row : db_.rows(
             fmt::format("SELECT fingerprint, fingerprint_len, offset FROM files WHERE inode = {}",
                         st.st_ino))) {
      const auto len = std::stoull(row[1]);
      if (with_progress && std::stoll(row[2]) == 0) continue;
      if (len > content.size()) continue;
      if (static_cast<std::int64_t>(XXH64(content.data(), len, 0)) == std::stoll(row[0]))
        return true;
    }
    return false;
  }

  void rotate(int s) {
    Slot& slot = slots_[s];
    if (slot.instance < 0 || !slot.pending.empty()) return;
    const std::string to = dir_ / fmt::format("logs/f{}.jsonl.r{}", s, next_name_++);
    if (!committedIdentity(slotPath(s)))
      instances_[static_cast<std::size_t>(slot.instance)].optional = true;
    trace_.push_back(fmt::format(
        "rotate f{} -> {} instance {}{}", s, to.substr(to.rfind('/') + 1), slot.instance,
        instances_[static_cast<std::size_t>(slot.instance)].optional ? " (optional)" : ""));
    fs::rename(slotPath(s), to);
    extra_[to] = slot.instance;
    slot.instance = -1;
  }

  void copytruncate(int s) {
    Slot& slot = slots_[s];
    if (slot.instance < 0 || !slot.pending.empty()) return;
    const std::string copy = dir_ / fmt::format("logs/f{}.jsonl.c{}", s, next_name_++);
    if (!committedIdentity(slotPath(s), true))
      instances_[static_cast<std::size_t>(slot.instance)].optional = true;
    trace_.push_back(fmt::format(
        "copytruncate f{} -> {} instance {}{}", s, copy.substr(copy.rfind('/') + 1), slot.instance,
        instances_[static_cast<std::size_t>(slot.instance)].optional ? " (optional)" : ""));
    fs::copy_file(slotPath(s), copy);
    fs::resize_file(slotPath(s), 0);
    extra_[copy] = slot.instance;
    slot.instance = newInstance();  // the same file starts over
  }

  void deleteExtra() {
    if (extra_.empty()) return;
    auto it = std::next(extra_.begin(), static_cast<long>(rng_() % extra_.size()));
    instances_[static_cast<std::size_t>(it->second)].optional = true;
    trace_.push_back(fmt::format("delete {} instance {}",
                                 it->first.substr(it->first.rfind('/') + 1), it->second));
    fs::remove(it->first);
    extra_.erase(it);
  }

  void deleteActive(int s) {
    Slot& slot = slots_[s];
    if (slot.instance < 0 || !slot.pending.empty()) return;
    instances_[static_cast<std::size_t>(slot.instance)].optional = true;
    trace_.push_back(fmt::format("delete f{} instance {}", s, slot.instance));
    fs::remove(slotPath(s));  // the next append recreates it, often on the same inode
    slot.instance = -1;
  }

  void kill() {
    if (!sqtail_) return;
    trace_.push_back("kill -9");
    sqtail_->signal(SIGKILL);
    sqtail_->wait(10s);
    sqtail_.reset();
  }

  void start() {
    if (sqtail_) return;
    trace_.push_back("start");
    sqtail_.emplace(Process::start({"run", "-c", "c.toml"}, dir_.path(), dir_.path()));
  }

  void step() {
    const int s = static_cast<int>(rng_() % kSlots);
    const int r = static_cast<int>(rng_() % 100);
    if (r < 28)
      appendWhole(s);
    else if (r < 36)
      appendHalf(s);
    else if (r < 44)
      finishHalf(s);
    else if (r < 52)
      rotate(s);
    else if (r < 58)
      copytruncate(s);
    else if (r < 62)
      deleteExtra();
    else if (r < 65)
      deleteActive(s);
    else if (r < 73)
      kill();
    else if (r < 84)
      start();
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(1 + rng_() % 25));  // schedule
  }

  void finish() {
    for (int s = 0; s < kSlots; ++s) finishHalf(s);
    if (sqtail_) {
      ASSERT_TRUE(waitFor([&] { return handlesSigterm(sqtail_->pid()); }, 10s))
          << "exited by itself: " << sqtail_->wait(0ms).value_or(-1) << " "
          << sqtail_->stderrText();
      sqtail_->signal(SIGTERM);
      ASSERT_EQ(sqtail_->wait(10s), 0) << sqtail_->stderrText();
      sqtail_.reset();
    }
    std::string err;
    ASSERT_EQ(runSqtail({"run", "--once", "-c", "c.toml"}, dir_.path(), 60s, &err), 0) << err;
    const auto rows = db_.scalar("SELECT count(*) FROM events");
    ASSERT_EQ(runSqtail({"run", "--once", "-c", "c.toml"}, dir_.path(), 60s, &err), 0) << err;
    ASSERT_EQ(db_.scalar("SELECT count(*) FROM events"), rows) << "a second start read again";
  }

  const TempDir& dir_;
  std::mt19937_64 rng_;
  Db db_;
  Slot slots_[kSlots];
  std::vector<Instance> instances_;
  std::map<std::int64_t, int> owner_;  // seq -> instance, for completed lines
  std::map<std::string, int> extra_;   // rotated files and copies on disk -> instance
  std::int64_t next_seq_ = 0;
  int next_name_ = 1;
  std::optional<Process> sqtail_;
  std::vector<std::string> trace_;
};

TEST(Model, RandomSequencesOfFileOperationsAndCrashes) {
  const char* one = std::getenv("SQTAIL_MODEL_SEED");
  const char* n_env = std::getenv("SQTAIL_MODEL_SEQUENCES");
  const bool random_seeds = std::getenv("SQTAIL_MODEL_RANDOM") != nullptr;
  const int sequences = one != nullptr ? 1 : (n_env != nullptr ? std::atoi(n_env) : 200);
  std::random_device rd;
  for (int i = 0; i < sequences; ++i) {
    const std::uint64_t seed = one != nullptr ? std::strtoull(one, nullptr, 10)
                               : random_seeds ? rd()
                                              : static_cast<std::uint64_t>(i + 1);
    SCOPED_TRACE(fmt::format("seed {} (replay: SQTAIL_MODEL_SEED={})", seed, seed));
    TempDir dir;
    Model model(dir, seed);
    model.run(40);
    if (HasFatalFailure()) return;
    model.verify();
    if (HasFailure()) {
      fmt::print(stderr, "model test failed with seed {}; operations:\n{}", seed, model.trace());
      return;
    }
  }
}

}  // namespace
}  // namespace sqtail::test
