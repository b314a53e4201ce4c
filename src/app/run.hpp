// Owns a whole `sqtail run`: opens the DB, starts the tail and writer threads, turns
// SIGINT/SIGTERM into a clean stop, and reports progress. Call from the main thread.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "config/config.hpp"

namespace sqtail::app {

struct RunOptions {
  bool once = false;      // read every file to its end, commit, exit
  bool progress = false;  // draw a progress line on stderr (--once on a terminal)
  // Builds the configuration again (the file, then the command line) for SIGHUP; empty when
  // there is no file to reload.
  std::function<tl::expected<config::Config, std::string>()> reload;
  // Sidecar: start this command as a child, forward SIGINT/SIGTERM/SIGHUP to it, and when it
  // exits, drain, commit and exit with its status.
  std::vector<std::string> child;
  pid_t follow_pid = 0;  // the same for a process we did not start (exit 0 when it is gone)
};

// Returns the process exit code.
int run(const config::Config& config, const RunOptions& options);

}  // namespace sqtail::app
