#include "actors/ctl.hpp"

#include <cstdio>
#include <cstring>
#include <string>

#include "config/config.hpp"

#ifndef VSWITCH_VERSION
#define VSWITCH_VERSION "unknown"
#endif

namespace vs {
namespace {

constexpr const char* kHelp =
    "usage: vswitchctl COMMAND\n"
    "\n"
    "commands:\n"
    "  config check FILE   validate a configuration file without a daemon; prints every error\n"
    "                      with its file, line and a caret; exit 0 if valid, 2 if not\n"
    "  version             print the version\n"
    "  help                this text\n";

int config_check(const char* path) {
  config::LoadResult r = config::load_config_file(path);
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", config::format_errors(r).c_str());
    std::fprintf(stderr, "%s: %zu error%s\n", path, r.errors.size(),
                 r.errors.size() == 1 ? "" : "s");
    return 2;
  }
  std::printf("%s: valid (%zu switch%s, %zu port%s, %d worker%s)\n", path,
              r.config->switches.size(), r.config->switches.size() == 1 ? "" : "es",
              r.config->port_count(), r.config->port_count() == 1 ? "" : "s",
              r.config->daemon.workers, r.config->daemon.workers == 1 ? "" : "s");
  return 0;
}

}  // namespace

int run_ctl(int argc, char** argv) {
  if (argc >= 2 && (!std::strcmp(argv[1], "help") || !std::strcmp(argv[1], "--help"))) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (argc == 2 && (!std::strcmp(argv[1], "version") || !std::strcmp(argv[1], "--version"))) {
    std::printf("vswitchctl %s\n", VSWITCH_VERSION);
    return 0;
  }
  if (argc == 4 && !std::strcmp(argv[1], "config") && !std::strcmp(argv[2], "check"))
    return config_check(argv[3]);
  std::fputs(kHelp, stderr);
  return 64;
}

}  // namespace vs
