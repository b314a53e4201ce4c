// sqtail: tails JSONL logs into a SQLite stats DB, exactly once. See README.md.
#include <signal.h>

#include <cstring>
#include <exception>

#include <fmt/core.h>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "run") == 0) {
    // Before anything else: a SIGTERM during start-up must wait for the clean stop path
    // (app::run takes it with sigtimedwait), not kill the process by its default action.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigprocmask(SIG_BLOCK, &sigs, nullptr);
  }
  try {
    return sqtail::cli::main(argc, argv);
  } catch (const std::exception& e) {
    // The one catch at the edge: anything here is a bug or an environment we cannot run in.
    fmt::print(stderr, "sqtail: fatal: {}\n", e.what());
    return 70;
  }
}
