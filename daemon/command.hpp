// Runs a helper program (iproute2's `ip`) without a shell and captures what it printed.
#pragma once
#include <string>
#include <vector>

namespace vs {

struct CommandResult {
  int exit_code = -1;  // -1: could not start or killed by a signal
  std::string output;  // stdout and stderr together, trimmed
  bool ok() const { return exit_code == 0; }
};

CommandResult run_command(const std::vector<std::string>& argv);

// "ip netns add vm1" style rendering for error messages.
std::string join_command(const std::vector<std::string>& argv);

}  // namespace vs
