// vswitchctl capture: asks vswitchd to capture frames of some ports into a pcapng output that
// this process opens and passes to it (SCM_RIGHTS), so vswitchd writes the file or the pipe
// directly. Ctrl-C ends the capture; vswitchd's summary (frames captured, copies dropped)
// goes to stderr.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vs {

struct CaptureCommand {
  nlohmann::json request;  // the control request, without the fd
  std::string output;      // "-" for stdout, else a file to create
  bool output_given = false;
};

// Parses the words after "capture": PORT... [--direction in|out|both] [--count N]
// [--duration S] [--snaplen N] [-w|--write FILE|-] [--] [FILTER...]. Empty with `error` on bad
// usage.
std::optional<CaptureCommand> parse_capture_command(const std::vector<std::string>& words,
                                                    std::string& error);

// Runs the capture on the control socket `fd` (connected). Returns vswitchctl's exit code.
int run_capture(int fd, const CaptureCommand& cmd, bool as_json);

}  // namespace vs
