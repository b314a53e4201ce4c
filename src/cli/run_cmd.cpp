#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/core.h>

#include "app/pid_file.hpp"
#include "app/run.hpp"
#include "cli/command.hpp"
#include "cli/config_flags.hpp"
#include "config/config.hpp"

namespace sqtail::cli {

namespace {

struct RunFlags : ConfigFlags {
  bool once = false, progress = false, no_progress = false;
  pid_t follow_pid = 0;
};

int runWith(const RunFlags& o, std::vector<std::string> child) {
  auto cfg = o.resolve();
  if (!cfg) {
    fmt::print(stderr, "sqtail: {}\n", cfg.error());
    return 2;
  }
  app::RunOptions ro;
  ro.once = o.once;
  ro.progress = !o.no_progress && (o.progress || (o.once && isatty(STDERR_FILENO)));
  if (!o.config_path.empty()) ro.reload = [o] { return o.resolve(); };
  ro.child = std::move(child);
  ro.follow_pid = o.follow_pid;
  if (o.once && (!ro.child.empty() || ro.follow_pid > 0)) {
    fmt::print(stderr, "sqtail: --once reads to the end and exits; it does not follow a process\n");
    return 2;
  }
  return app::run(*cfg, ro);
}

}  // namespace

void addRunCommand(CLI::App& app, Action& action, std::vector<std::string> child) {
  auto* run = app.add_subcommand("run", "Tail files into the DB (until SIGINT/SIGTERM, or --once)");
  auto o = std::make_shared<RunFlags>();
  o->addTo(run);
  run->add_flag("--once", o->once, "Read every file to its end, commit, exit");
  run->add_flag("--progress", o->progress,
                "Draw a progress line (default with --once on a terminal)");
  run->add_flag("--no-progress", o->no_progress, "Never draw a progress line");
  run->add_option("--follow-pid", o->follow_pid,
                  "Drain, commit and exit when this process has exited");
  run->callback([&action, o, child = std::move(child)] {
    action = [o, child] { return runWith(*o, child); };
  });
}

void addReloadCommand(CLI::App& app, Action& action) {
  auto* cmd =
      app.add_subcommand("reload", "Make the sqtail running on a database re-read its config");
  auto db = std::make_shared<std::string>("sqtail.db");
  cmd->add_option("--db", *db, "The database the running sqtail writes");
  cmd->callback([&action, db] {
    action = [db] {
      auto pid = app::PidFile::running(*db);
      if (!pid) {
        fmt::print(stderr, "sqtail: no sqtail is running on {}\n", *db);
        return 1;
      }
      if (::kill(*pid, SIGHUP) != 0) {
        fmt::print(stderr, "sqtail: cannot signal pid {}: {}\n", *pid, std::strerror(errno));
        return 1;
      }
      fmt::print("sent SIGHUP to sqtail (pid {}); it logs whether the new config was taken\n",
                 *pid);
      return 0;
    };
  });
}

}  // namespace sqtail::cli
