#include "parse/stack_category.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <list>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace sqtail::parse {
namespace {

const std::vector<std::string> kDefaultSkip = StackCategoryOptions{}.skip;

template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::string out;
  (out.append(parts), ...);
  return out;
}

std::optional<std::string> category(const std::string& stack,
                                    const std::vector<std::string>& skip = kDefaultSkip) {
  const auto name = categoryFromStack(stack, skip);
  if (!name) return std::nullopt;
  return std::string(*name);
}

std::optional<std::string> copy(std::optional<std::string_view> view) {
  if (!view) return std::nullopt;
  return std::string(*view);
}

// A typical Node stack: message, a few library frames, application frames, runtime frames.
std::string nodeStack(const std::string& message, const std::string& app_file, int line) {
  return "Error: " + message +
         "\n"
         "    at Parser.fail (/app/node_modules/pg-protocol/dist/parser.js:283:98)\n"
         "    at Parser.handlePacket (/app/node_modules/pg-protocol/dist/parser.js:122:29)\n"
         "    at Socket.<anonymous> (/app/node_modules/pg/lib/connection.js:117:12)\n"
         "    at async Promise.all (index 0)\n"
         "    at async Store.load (/app/src/" +
         app_file + ".js:" + std::to_string(line) +
         ":17)\n"
         "    at async Engine.tick (/app/src/engine/loop.js:88:5)\n"
         "    at async Engine.run (/app/src/engine/loop.js:41:7)\n"
         "    at async main (/app/src/main.js:12:3)\n"
         "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)\n"
         "    at node:internal/main/run_main_module:23:47";
}

// ---------------------------------------------------------------------------------------------
// Formats

TEST(StackCategoryFormats, NodeNamedFrame) {
  EXPECT_EQ(category("Error: boom\n    at fn (/app/src/engine/loop.js:12:5)"), "loop");
}

TEST(StackCategoryFormats, NodeBareFrame) {
  EXPECT_EQ(category("Error: boom\n    at /app/src/x.js:1:2"), "x");
}

TEST(StackCategoryFormats, NodeSkipsFramesWithoutAFile) {
  EXPECT_EQ(category("Error: boom\n"
                     "    at async Promise.all (index 0)\n"
                     "    at Array.map (<anonymous>)\n"
                     "    at JSON.parse (native)\n"
                     "    at Object.<anonymous> (/app/src/db/pool.ts:7:3)"),
            "pool");
}

TEST(StackCategoryFormats, NodeTypicalStackSkipsLibraryAndRuntimeFrames) {
  EXPECT_EQ(category(nodeStack("relation \"users\" does not exist", "store/users", 10)), "users");
}

TEST(StackCategoryFormats, NodeRuntimeFramesAreSkipped) {
  EXPECT_EQ(category("Error: x\n"
                     "    at process.processTicksAndRejections (node:internal/process/"
                     "task_queues:95:5)\n"
                     "    at Module._compile (internal/modules/cjs/loader.js:999:30)\n"
                     "    at eval (eval at <anonymous> (/app/src/a.js:1:1), <anonymous>:1:1)\n"
                     "    at run (/app/src/b.mjs:3:4)"),
            "b");
}

TEST(StackCategoryFormats, NodeLocationsOfOtherShapes) {
  EXPECT_EQ(category("    at fn (file:///app/src/esm/entry.mjs:1:2)"), "entry");
  EXPECT_EQ(category("    at fn (C:\\app\\src\\win.js:1:2)"), "win");
  EXPECT_EQ(category("    at fn (https://cdn.example/app/bundle.min.js?v=3:1:2)"), "bundle.min");
  EXPECT_EQ(category("    at fn (webpack:///./src/widgets/button.tsx:4:9)"), "button");
  EXPECT_EQ(category("    at Page (/app/(shop)/cart/page.js:5:6)"), "page");
  EXPECT_EQ(category("    at /app/(shop)/cart/list.js:5:6"), "list");
  EXPECT_EQ(category("    at new Store (/app/src/store.js:5:6)"), "store");
  EXPECT_EQ(category("    at Store.get [as fetch] (/app/src/store.js:5:6)"), "store");
  EXPECT_EQ(category("Error: x\r\n    at fn (/app/src/crlf.js:1:2)\r\n"), "crlf");
}

TEST(StackCategoryFormats, Python) {
  const std::string trace =
      "Traceback (most recent call last):\n"
      "  File \"/app/main.py\", line 40, in <module>\n"
      "    main()\n"
      "  File \"/app/engine/loop.py\", line 12, in run\n"
      "    self.step()\n"
      "  File \"/usr/lib/python3/dist-packages/requests/api.py\", line 59, in request\n"
      "    return session.request(method=method, url=url, **kwargs)\n"
      "  File \"/venv/lib/python3.11/site-packages/urllib3/connection.py\", line 174, in conn\n"
      "    raise NewConnectionError(self, msg)\n"
      "urllib3.exceptions.NewConnectionError: Failed to establish a new connection\n";
  // Python lists the innermost call last: the last application frame decides.
  EXPECT_EQ(category(trace), "loop");
  EXPECT_EQ(category("  File \"<string>\", line 1, in <module>\n"
                     "  File \"<frozen importlib._bootstrap>\", line 1, in _find"),
            std::nullopt);
}

TEST(StackCategoryFormats, JavaAndKotlin) {
  EXPECT_EQ(category("java.lang.IllegalStateException: boom\n"
                     "\tat com.acme.engine.Loop.run(Loop.java:42)\n"
                     "\tat com.acme.Main.main(Main.java:7)"),
            "Loop");
  EXPECT_EQ(category("\tat com.acme.engine.LoopKt.run(Loop.kt:42)"), "Loop");
  EXPECT_EQ(category("\tat com.acme.engine.Loop$Worker.run(Unknown Source)"), "Loop");
  EXPECT_EQ(category("\tat com.acme.engine.Loop.tick(Native Method)"), "Loop");
  EXPECT_EQ(category("\tat a.b.c.Obf.x(SourceFile:12)"), "Obf");
  EXPECT_EQ(category("\tat app//com.acme.engine.Loop.lambda$run$0(Loop.java:42)"), "Loop");
  EXPECT_EQ(category("\tat com.acme.engine.Loop.run(Loop.java:42) ~[app.jar:1.2.3]"), "Loop");
  EXPECT_EQ(category("\tat java.base/java.lang.Thread.run(Thread.java:833)"), "Thread");
}

TEST(StackCategoryFormats, JavaFrameworkFramesCanBeSkipped) {
  const std::string trace =
      "java.lang.NullPointerException\n"
      "\tat java.base/java.util.Objects.requireNonNull(Objects.java:209)\n"
      "\tat org.springframework.util.Assert.notNull(Assert.java:201)\n"
      "\tat com.acme.billing.Invoice.total(Invoice.java:88)";
  EXPECT_EQ(category(trace), "Objects");  // not skipped by the default list
  std::vector<std::string> skip = kDefaultSkip;
  skip.push_back("java.");
  skip.push_back("org.springframework.");
  EXPECT_EQ(category(trace, skip), "Invoice");
}

TEST(StackCategoryFormats, Go) {
  EXPECT_EQ(category("goroutine 1 [running]:\n"
                     "main.run(...)\n"
                     "\t/app/engine/loop.go:42 +0x1d\n"
                     "main.main()\n"
                     "\t/app/main.go:10 +0x25\n"
                     "exit status 2"),
            "loop");
  // zap's format: no arguments, no pc offset.
  EXPECT_EQ(category("github.com/acme/svc/store.(*DB).Get\n"
                     "\t/src/vendor/github.com/lib/pq/conn.go:120\n"
                     "\t/src/store/db.go:77"),
            "db");
}

TEST(StackCategoryFormats, Ruby) {
  EXPECT_EQ(category("/app/lib/engine/loop.rb:12:in `run'"), "loop");
  EXPECT_EQ(category("/app/vendor/bundle/ruby/3.2.0/gems/pg-1.5/lib/pg.rb:3:in `exec': "
                     "boom (PG::Error)\n"
                     "\tfrom /app/app/models/user.rb:12:in `block in save'\n"
                     "\tfrom /app/app/models/base.rb:3:in `save'"),
            "user");
  EXPECT_EQ(category("/app/lib/engine/runner.rb:12:in 'Engine::Runner#run'"), "runner");
}

TEST(StackCategoryFormats, NothingUsable) {
  EXPECT_EQ(category(""), std::nullopt);
  EXPECT_EQ(category("just a message"), std::nullopt);
  EXPECT_EQ(category("Error: boom\n    at async Promise.all (index 0)"), std::nullopt);
  EXPECT_EQ(category("at \nat\n File \"x\nFile \"\", line \n"), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// Skip rules

TEST(StackCategorySkip, OnlyVendorFramesGiveNothing) {
  EXPECT_EQ(category("Error: x\n"
                     "    at a (/app/node_modules/x/a.js:1:2)\n"
                     "    at b (/app/node_modules/y/b.js:1:2)\n"
                     "    at node:internal/main/run_main_module:23:47"),
            std::nullopt);
  EXPECT_EQ(category("  File \"/venv/lib/site-packages/a/b.py\", line 1, in f"), std::nullopt);
  EXPECT_EQ(category("\t/app/vendor/github.com/a/b.go:1 +0x1"), std::nullopt);
}

TEST(StackCategorySkip, CustomListsDecide) {
  const std::string stack =
      "Error: x\n    at a (/app/src/engine/loop.js:1:2)\n    at b (/app/src/db/pool.js:3:4)";
  EXPECT_EQ(category(stack), "loop");
  EXPECT_EQ(category(stack, {"/engine/"}), "pool");
  EXPECT_EQ(category(stack, {}), "loop");
  EXPECT_EQ(category(stack, {""}), "loop");  // an empty entry would match everything: ignored
  EXPECT_EQ(category("    at a (/app/node_modules/x/a.js:1:2)", {}), "a");
}

TEST(StackCategorySkip, UnsafeNamesDoNotDecide) {
  EXPECT_EQ(category("    at a (/app/..:1:2)\n"
                     "    at b (/app/.hidden.js:1:2)\n"
                     "    at c (/app/my file.js:1:2)\n"
                     "    at d (/app/caf\xc3\xa9.js:1:2)\n"
                     "    at e (/app/ok-name_1.js:1:2)"),
            "ok-name_1");
}

// ---------------------------------------------------------------------------------------------
// Hostile input

void expectSafe(const std::optional<std::string>& name) {
  if (!name) return;
  EXPECT_FALSE(name->empty());
  EXPECT_LE(name->size(), kMaxStackCategoryBytes);
  for (char c : *name) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')
        << *name;
  }
  EXPECT_NE(*name, "..");
}

TEST(StackCategoryHostile, LongNamesAreCut) {
  const std::string base(300, 'm');
  const auto name = category("    at f (/app/" + base + ".js:1:2)");
  ASSERT_TRUE(name);
  EXPECT_EQ(*name, std::string(kMaxStackCategoryBytes, 'm'));
  StackCategory cache({});
  EXPECT_EQ(copy(cache.categoryOf("    at f (/app/" + base + ".js:1:2)")), name);
  EXPECT_EQ(copy(cache.categoryOf("    at f (/app/" + base + ".js:1:2)")), name);  // hit
}

TEST(StackCategoryHostile, NoNewline) {
  EXPECT_EQ(category("    at f (/app/src/one.js:1:2)"), "one");
  EXPECT_EQ(category("Error: a message with no frames and no newline ( ) :12:5"), std::nullopt);
}

TEST(StackCategoryHostile, OneMegabyteOfGarbage) {
  std::mt19937 rng(7);
  const std::string alphabet = "abc/.:()[] \t\n0123456789at File\"+x`'";
  std::string garbage(1 << 20, ' ');
  for (char& c : garbage) c = alphabet[rng() % alphabet.size()];
  expectSafe(category(garbage));
  StackCategory cache({});
  expectSafe(copy(cache.categoryOf(garbage)));
  expectSafe(copy(cache.categoryOf(garbage)));
  EXPECT_EQ(cache.stats().hits, 1u);

  // One line of 1 MB, parentheses only: the matching walks it once.
  std::string parens = "at f " + std::string(1 << 19, '(') + std::string(1 << 19, ')');
  EXPECT_EQ(category(parens), std::nullopt);
}

TEST(StackCategoryHostile, NulFreeBinaryBytes) {
  std::mt19937 rng(11);
  StackCategory cache({.cache_size = 8});
  for (int round = 0; round < 200; ++round) {
    std::string bytes(1 + rng() % 4096, '\0');
    for (char& c : bytes) c = static_cast<char>(1 + rng() % 255);
    if (round % 2 == 0) bytes += "\n    at f (/app/src/after.js:1:2)";
    const auto name = category(bytes);
    expectSafe(name);
    EXPECT_EQ(copy(cache.categoryOf(bytes)), name);
  }
}

// ---------------------------------------------------------------------------------------------
// The cache

std::string numbered(int i) {
  return "Error: x\n    at f (/app/src/m" + std::to_string(i) + ".js:1:2)";
}

TEST(StackCategoryCache, HitsDoNotChangeResults) {
  StackCategory cache({});
  EXPECT_EQ(copy(cache.categoryOf(numbered(1))), "m1");
  EXPECT_EQ(copy(cache.categoryOf(numbered(1))), "m1");
  EXPECT_EQ(copy(cache.categoryOf("no frames")), std::nullopt);
  EXPECT_EQ(copy(cache.categoryOf("no frames")), std::nullopt);  // negative results are cached
  const auto stats = cache.stats();
  EXPECT_EQ(stats.hits, 2u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.evictions, 0u);
  EXPECT_EQ(stats.size, 2u);
}

TEST(StackCategoryCache, EvictsLeastRecentlyUsed) {
  StackCategory cache({.cache_size = 3});
  cache.categoryOf(numbered(1));
  cache.categoryOf(numbered(2));
  cache.categoryOf(numbered(3));  // LRU order, oldest first: 1 2 3
  cache.categoryOf(numbered(1));  // hit: 2 3 1
  EXPECT_EQ(cache.stats().evictions, 0u);
  EXPECT_EQ(copy(cache.categoryOf(numbered(4))), "m4");  // evicts 2: 3 1 4
  auto stats = cache.stats();
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_EQ(stats.size, 3u);
  cache.categoryOf(numbered(3));  // hit: 1 4 3
  cache.categoryOf(numbered(1));  // hit: 4 3 1
  EXPECT_EQ(cache.stats().hits, 3u);
  EXPECT_EQ(copy(cache.categoryOf(numbered(2))), "m2");  // miss, evicts 4: 3 1 2
  EXPECT_EQ(cache.stats().misses, 5u);
  cache.categoryOf(numbered(3));  // hit
  EXPECT_EQ(cache.stats().hits, 4u);
  cache.categoryOf(numbered(4));  // miss
  stats = cache.stats();
  EXPECT_EQ(stats.misses, 6u);
  EXPECT_EQ(stats.evictions, 3u);
  EXPECT_EQ(stats.size, 3u);
}

TEST(StackCategoryCache, MatchesAReferenceLru) {
  // Random traffic against a textbook LRU: every call must agree on hit or miss, and the
  // results must agree with the uncached parse.
  for (std::size_t capacity : {1u, 2u, 7u, 50u, 64u}) {
    StackCategory cache({.cache_size = capacity});
    std::list<int> order;  // most recent first
    std::map<int, std::list<int>::iterator> where;
    std::mt19937 rng(static_cast<unsigned>(capacity));
    std::uint64_t hits = 0;
    for (int call = 0; call < 20000; ++call) {
      const int key = static_cast<int>(rng() % 200);
      if (auto it = where.find(key); it != where.end()) {
        ++hits;
        order.erase(it->second);
      } else if (order.size() == capacity) {
        where.erase(order.back());
        order.pop_back();
      }
      order.push_front(key);
      where[key] = order.begin();
      ASSERT_EQ(copy(cache.categoryOf(numbered(key))), "m" + std::to_string(key));
      ASSERT_EQ(cache.stats().hits, hits) << "capacity " << capacity << " call " << call;
    }
    EXPECT_EQ(cache.stats().size, capacity);
  }
}

TEST(StackCategoryCache, SizeStaysBounded) {
  StackCategory cache({.cache_size = 4096});
  for (int i = 0; i < 10000; ++i) cache.categoryOf(numbered(i));
  auto stats = cache.stats();
  EXPECT_EQ(stats.size, 4096u);
  EXPECT_EQ(stats.evictions, 10000u - 4096u);
  for (int i = 10000 - 4096; i < 10000; ++i) {
    EXPECT_EQ(copy(cache.categoryOf(numbered(i))), "m" + std::to_string(i));
  }
  EXPECT_EQ(cache.stats().hits, 4096u);
}

TEST(StackCategoryCache, ZeroSizeDisablesCaching) {
  StackCategory cache({.cache_size = 0});
  EXPECT_EQ(copy(cache.categoryOf(numbered(1))), "m1");
  EXPECT_EQ(copy(cache.categoryOf(numbered(1))), "m1");
  const auto stats = cache.stats();
  EXPECT_EQ(stats.hits, 0u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.size, 0u);
}

TEST(StackCategoryCache, MessagesOutsideTheFramesShareAnEntry) {
  StackCategory cache({});
  EXPECT_EQ(copy(cache.categoryOf(nodeStack("user 4711 not found", "store/users", 10))), "users");
  EXPECT_EQ(copy(cache.categoryOf(nodeStack("user 815 not found", "store/users", 10))), "users");
  EXPECT_EQ(copy(cache.categoryOf("Traceback (most recent call last):\n"
                                  "  File \"/app/engine/loop.py\", line 12, in run\n"
                                  "KeyError: 'a'")),
            "loop");
  EXPECT_EQ(copy(cache.categoryOf("Traceback (most recent call last):\n"
                                  "  File \"/app/engine/loop.py\", line 12, in run\n"
                                  "KeyError: 'bb'")),
            "loop");
  EXPECT_EQ(cache.stats().hits, 2u);
}

TEST(StackCategoryCache, FramesOutsideTheIndentedLinesKeepTheirOwnEntries) {
  // Ruby's first line is a frame and holds the message: such stacks are keyed as a whole.
  StackCategory cache({});
  const std::string callers = "\n\tfrom /app/app/models/base.rb:3:in `save'";
  EXPECT_EQ(copy(cache.categoryOf("/app/lib/a.rb:1:in `x': boom (E)" + callers)), "a");
  EXPECT_EQ(copy(cache.categoryOf("/app/lib/b.rb:1:in `x': boom (E)" + callers)), "b");
  // A frame after the last indented line.
  EXPECT_EQ(copy(cache.categoryOf("E\n    at async Promise.all (index 0)\nat /app/c.js:1:2")), "c");
  EXPECT_EQ(copy(cache.categoryOf("E\n    at async Promise.all (index 0)\nat /app/d.js:1:2")), "d");
  EXPECT_EQ(cache.stats().hits, 0u);
}

// ---------------------------------------------------------------------------------------------
// Realistic logs: repeated stacks with a Zipf-like popularity.

struct Corpus {
  std::vector<std::string> stacks;  // distinct stacks, most popular first
};

Corpus makeCorpus(std::mt19937& rng) {
  const std::vector<std::string> modules = {"engine/loop",     "engine/scheduler", "db/pool",
                                            "db/users",        "http/router",      "http/auth",
                                            "billing/invoice", "billing/tax",      "queue/worker",
                                            "cache/redis",     "search/index",     "mail/sender"};
  Corpus corpus;
  for (int i = 0; i < 300; ++i) {
    const std::string& mod = modules[rng() % modules.size()];
    const std::string line = std::to_string(1 + rng() % 400);
    std::string stack;
    switch (i % 5) {
      case 0:
      case 1:
        stack = concat("    at Parser.fail (/app/node_modules/pg-protocol/dist/parser.js:283:98)\n",
                       "    at async ", mod, " (/app/src/", mod, ".js:", line, ":17)\n",
                       "    at async Engine.tick (/app/src/engine/loop.js:88:5)\n",
                       "    at process.processTicksAndRejections (node:internal/process/"
                       "task_queues:95:5)");
        break;
      case 2:
        stack = concat(
            "\tat org.postgresql.core.v3.QueryExecutorImpl.execute(QueryExecutorImpl.java:356)\n",
            "\tat com.acme.", mod.substr(0, mod.find('/')), ".Svc", std::to_string(i),
            ".run(Svc.java:", line, ")\n\tat com.acme.Main.main(Main.java:7)");
        break;
      case 3:
        stack = concat("  File \"/app/", mod, ".py\", line ", line, ", in run\n    self.step()\n",
                       "  File \"/venv/lib/python3.11/site-packages/requests/api.py\", line 59, "
                       "in req\n    return session.request(method=method, url=url)");
        break;
      case 4:
        stack = concat("main.run(...)\n\t/app/", mod, ".go:", line,
                       " +0x1d\nmain.main()\n\t/app/main.go:10 +0x25");
        break;
    }
    corpus.stacks.push_back(stack);
  }
  return corpus;
}

// One error record's stack: the message (which carries ids) plus a stack from the corpus.
std::string record(const Corpus& corpus, std::size_t rank, std::mt19937& rng) {
  const std::string& stack = corpus.stacks[rank];
  const std::string id = std::to_string(rng() % 100000);
  if (stack.starts_with("  File")) {  // Python: message after the frames
    return "Traceback (most recent call last):\n" + stack + "\nTimeoutError: request " + id;
  }
  if (stack.starts_with("main.")) return "goroutine " + id + " [running]:\n" + stack;
  return "Error: user " + id + " not found\n" + stack;
}

double hitRate(std::size_t cache_size, std::uint64_t* checked) {
  std::mt19937 rng(42);
  const Corpus corpus = makeCorpus(rng);
  std::vector<double> weights;
  for (std::size_t r = 0; r < corpus.stacks.size(); ++r) weights.push_back(1.0 / (r + 1));
  std::discrete_distribution<std::size_t> zipf(weights.begin(), weights.end());

  StackCategory cache({.cache_size = cache_size});
  for (int i = 0; i < 100000; ++i) {
    std::string stack;
    if (rng() % 100 == 0) {  // 1 %: a stack seen once (a unique line number in its first frame)
      stack = "Error: once\n    at f (/app/src/rare.js:" + std::to_string(100000 + i) + ":1)";
    } else {
      stack = record(corpus, zipf(rng), rng);
    }
    const auto cached = copy(cache.categoryOf(stack));
    if (i % 97 == 0) {  // the cache answers what the parser answers
      EXPECT_EQ(cached, category(stack));
      ++*checked;
    }
  }
  const auto stats = cache.stats();
  EXPECT_EQ(stats.hits + stats.misses, 100000u);
  return static_cast<double>(stats.hits) / static_cast<double>(stats.hits + stats.misses);
}

TEST(StackCategoryRealistic, HitRateAbove80Percent) {
  std::uint64_t checked = 0;
  const double rate = hitRate(4096, &checked);
  std::printf(
      "[ info ] hit rate, 100000 records, ~300 stacks (Zipf) + 1%% unique, "
      "cache_size 4096: %.2f %%\n",
      100 * rate);
  EXPECT_GT(rate, 0.80);
  EXPECT_GT(checked, 1000u);
}

TEST(StackCategoryRealistic, SmallCacheIsInformational) {
  std::uint64_t checked = 0;
  const double rate = hitRate(64, &checked);
  std::printf("[ info ] hit rate, same records, cache_size 64: %.2f %%\n", 100 * rate);
}

// ---------------------------------------------------------------------------------------------
// Speed, printed only (tests assert behaviour, not timings).

TEST(StackCategorySpeed, NanosecondsPerCall) {
  using Clock = std::chrono::steady_clock;
  const std::string stack = nodeStack("relation \"users\" does not exist", "store/users", 10);
  constexpr int kCalls = 200000;

  StackCategory cache({});
  cache.categoryOf(stack);
  std::size_t sink = 0;
  auto start = Clock::now();
  for (int i = 0; i < kCalls; ++i) sink += cache.categoryOf(stack)->size();
  const double hit_ns =
      std::chrono::duration<double, std::nano>(Clock::now() - start).count() / kCalls;

  // Misses: more distinct stacks (of the same shape) than the cache holds, cycled.
  std::vector<std::string> distinct;
  distinct.reserve(8192);
  for (int i = 0; i < 8192; ++i) distinct.push_back(nodeStack("x", "store/users", 10 + i));
  StackCategory small({.cache_size = 4096});
  start = Clock::now();
  for (int i = 0; i < kCalls; ++i) sink += small.categoryOf(distinct[i % distinct.size()])->size();
  const double miss_ns =
      std::chrono::duration<double, std::nano>(Clock::now() - start).count() / kCalls;
  EXPECT_EQ(small.stats().hits, 0u);

  start = Clock::now();
  for (int i = 0; i < kCalls; ++i) sink += categoryFromStack(stack, kDefaultSkip)->size();
  const double parse_ns =
      std::chrono::duration<double, std::nano>(Clock::now() - start).count() / kCalls;

  std::printf(
      "[ info ] 10-frame Node stack (%zu bytes): hit %.0f ns/call, miss %.0f ns/call, "
      "uncached parse %.0f ns/call (sink %zu)\n",
      stack.size(), hit_ns, miss_ns, parse_ns, sink % 10);
}

}  // namespace
}  // namespace sqtail::parse
