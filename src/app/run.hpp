// Owns a whole `sqtail run`: opens the DB, starts the tail and writer threads, turns
// SIGINT/SIGTERM into a clean stop, and reports progress. Call from the main thread.
#pragma once

#include "config/config.hpp"

namespace sqtail::app {

struct RunOptions {
  bool once = false;      // read every file to its end, commit, exit
  bool progress = false;  // draw a progress line on stderr (--once on a terminal)
};

// Returns the process exit code.
int run(const config::Config& config, const RunOptions& options);

}  // namespace sqtail::app
