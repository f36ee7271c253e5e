#include "ctl/capture_client.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vs {
namespace {

using nlohmann::json;

volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int) {
  g_interrupted = 1;
}

bool to_count(const std::string& s, uint64_t max, uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || s[0] == '-' || *end != '\0' || errno != 0 || v > max) return false;
  out = v;
  return true;
}

bool send_with_fd(int sock, const std::string& line, int fd) {
  iovec iov{const_cast<char*>(line.data()), line.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(sock, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(line.size());
}

// The next line from vswitchd; on Ctrl-C, tells it once to end the capture (shutdown) and reads
// on. Empty when the connection ends first.
std::string read_line(int sock, std::string& buf, bool& asked_to_stop) {
  for (;;) {
    if (auto nl = buf.find('\n'); nl != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      return line;
    }
    if (g_interrupted && !asked_to_stop) {
      shutdown(sock, SHUT_WR);
      asked_to_stop = true;
    }
    char chunk[4096];
    ssize_t n = recv(sock, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return {};
    buf.append(chunk, static_cast<std::size_t>(n));
  }
}

}  // namespace

std::optional<CaptureCommand> parse_capture_command(const std::vector<std::string>& words,
                                                    std::string& error) {
  CaptureCommand cmd;
  json ports = json::array();
  std::size_t i = 0;
  for (; i < words.size() && !words[i].empty() && words[i][0] != '-'; ++i) {
    std::size_t start = 0;
    const std::string& w = words[i];
    while (start <= w.size()) {  // "vm1,vm2" as well as "vm1 vm2"
      std::size_t comma = w.find(',', start);
      std::string name = w.substr(start, comma - start);
      if (!name.empty()) ports.push_back(name);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (ports.empty()) {
    error = "capture needs at least one port: vswitchctl capture PORT... [options] [FILTER]";
    return std::nullopt;
  }
  json r{{"cmd", "capture"}, {"ports", ports}};
  for (; i < words.size() && !words[i].empty() && words[i][0] == '-'; ++i) {
    const std::string& w = words[i];
    if (w == "--") {
      ++i;
      break;
    }
    if (i + 1 >= words.size()) {
      error = w + " needs a value";
      return std::nullopt;
    }
    const std::string& v = words[++i];
    uint64_t n = 0;
    if (w == "--direction") {
      if (v != "in" && v != "out" && v != "both") {
        error = "--direction must be in, out or both";
        return std::nullopt;
      }
      r["direction"] = v;
    } else if (w == "--count" || w == "-c") {
      if (!to_count(v, UINT32_MAX, n) || n == 0) {
        error = "--count needs a number of frames (1 or more)";
        return std::nullopt;
      }
      r["count"] = n;
    } else if (w == "--duration") {
      char* end = nullptr;
      const double s = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(s > 0) || s > 86400.0 * 365) {
        error = "--duration needs seconds (e.g. 10 or 0.5)";
        return std::nullopt;
      }
      r["duration_ms"] = static_cast<uint64_t>(std::ceil(s * 1000));
    } else if (w == "--snaplen" || w == "-s") {
      if (!to_count(v, 262144, n) || n == 0) {
        error = "--snaplen needs a number of bytes (1 to 262144)";
        return std::nullopt;
      }
      r["snaplen"] = n;
    } else if (w == "-w" || w == "--write") {
      cmd.output = v;
      cmd.output_given = true;
    } else {
      error = "unknown capture option " + w +
              " (a filter goes after the options, or after --: vswitchctl capture vm1 -- icmp)";
      return std::nullopt;
    }
  }
  std::string filter;
  for (; i < words.size(); ++i) filter += (filter.empty() ? "" : " ") + words[i];
  if (!filter.empty()) r["filter"] = filter;
  cmd.request = std::move(r);
  return cmd;
}

int run_capture(int sock, const CaptureCommand& cmd, bool as_json) {
  int out = STDOUT_FILENO;
  const bool to_stdout = !cmd.output_given || cmd.output == "-";
  if (to_stdout && isatty(STDOUT_FILENO)) {
    std::fprintf(stderr,
                 "vswitchctl: a capture is pcapng, not text: write it to a file (-w FILE) or a "
                 "pipe (-w - | tshark -r -)\n");
    return 64;
  }
  if (!to_stdout) {
    out = open(cmd.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
      std::fprintf(stderr, "vswitchctl: cannot create %s: %s\n", cmd.output.c_str(),
                   std::strerror(errno));
      return 1;
    }
  }
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;  // no SA_RESTART: recv returns, and the capture is ended
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  const bool sent = send_with_fd(sock, cmd.request.dump() + "\n", out);
  if (!to_stdout) close(out);  // vswitchd has its own reference now
  if (!sent) {
    std::fprintf(stderr, "vswitchctl: cannot send the request: %s\n", std::strerror(errno));
    return 3;
  }
  std::string buf;
  bool asked_to_stop = false;
  json first = json::parse(read_line(sock, buf, asked_to_stop), nullptr, false);
  if (first.is_discarded() || !first.is_object()) {
    std::fprintf(stderr, "vswitchctl: vswitchd closed the connection without an answer\n");
    return 1;
  }
  if (!first.value("ok", false)) {
    std::fprintf(stderr, "vswitchctl: %s\n", first.value("error", std::string("refused")).c_str());
    return 1;
  }
  if (as_json) {
    std::fprintf(stderr, "%s\n", first.dump().c_str());
  } else {
    std::string ports;
    for (const auto& p : first["ports"])
      ports += (ports.empty() ? "" : ", ") + p.get<std::string>();
    const std::string filter = first.value("filter", std::string());
    std::fprintf(stderr, "vswitchctl: capturing on %s%s%s, %u bytes per frame; Ctrl-C ends it\n",
                 ports.c_str(), filter.empty() ? "" : ", filter: ", filter.c_str(),
                 first.value("snaplen", 0u));
  }
  json done = json::parse(read_line(sock, buf, asked_to_stop), nullptr, false);
  if (done.is_discarded() || !done.is_object() || !done.value("done", false)) {
    std::fprintf(stderr, "vswitchctl: vswitchd ended the capture without a summary\n");
    return 1;
  }
  if (as_json) {
    std::fprintf(stderr, "%s\n", done.dump().c_str());
  } else {
    std::fprintf(stderr, "vswitchctl: %llu frames captured, %llu dropped (%s)\n",
                 static_cast<unsigned long long>(done.value("captured", 0ull)),
                 static_cast<unsigned long long>(done.value("dropped", 0ull)),
                 done.value("reason", std::string()).c_str());
  }
  const std::string reason = done.value("reason", std::string());
  return reason.rfind("output closed", 0) == 0 && !asked_to_stop ? 1 : 0;
}

}  // namespace vs
