// sqtail: tails JSONL logs into a SQLite stats DB, exactly once. See README.md.
#include <exception>

#include <fmt/core.h>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  try {
    return sqtail::cli::main(argc, argv);
  } catch (const std::exception& e) {
    // The one catch at the edge: anything here is a bug or an environment we cannot run in.
    fmt::print(stderr, "sqtail: fatal: {}\n", e.what());
    return 70;
  }
}
