#include "daemon/control_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

namespace vs {
namespace {

std::string error_line(const std::string& msg) {
  return nlohmann::json{{"ok", false}, {"error", msg}}.dump(
             -1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

}  // namespace

std::string control_refusal(BoundedServer::Refusal why, const std::string& detail,
                            const ServerLimits& limits) {
  using R = BoundedServer::Refusal;
  const std::string cap = std::to_string(limits.max_clients);
  switch (why) {
    case R::kAtCap:
      return error_line("busy: " + cap +
                        " control clients are connected, each with a request being answered "
                        "([daemon] control_max_clients); try again when they are done");
    case R::kEvicted:
      return error_line("closed: " + cap +
                        " control clients were connected ([daemon] control_max_clients) and this "
                        "one, the oldest, had sent no request yet; a newer client took its place");
    case R::kTimeout:
      return error_line("timed out: no complete request line within " +
                        std::to_string(limits.request_timeout.count()) +
                        " ms ([daemon] control_request_timeout_ms)");
    case R::kTooLarge:
      return error_line("bad request: the request is larger than the limit of " +
                        std::to_string(limits.max_request / 1024) +
                        " KiB; the connection is closed");
    case R::kBadRequest:
      return error_line("bad request: " + detail);
  }
  return error_line(detail);
}

std::ptrdiff_t control_frame(std::string_view buf, bool eof, std::string& /*error*/) {
  if (auto nl = buf.find('\n'); nl != std::string_view::npos)
    return static_cast<std::ptrdiff_t>(nl + 1);
  // A client that shuts down its side after a request without a newline still gets an answer.
  if (eof && !buf.empty()) return static_cast<std::ptrdiff_t>(buf.size());
  return 0;
}

ControlServer::ControlServer(std::string path, ServerLimits limits, Handler handler, Taker taker)
    : path_(std::move(path)) {
  limits.max_request = kMaxControlRequest + 1;  // the line and its newline
  BoundedServer::Protocol p;
  p.frame = control_frame;
  p.refusal = [limits](BoundedServer::Refusal why, const std::string& detail) {
    ServerLimits shown = limits;
    shown.max_request = kMaxControlRequest;
    return control_refusal(why, detail, shown);
  };
  p.admit = [](int fd) -> std::string {
    // The socket's mode already keeps others out; check the peer anyway (defence in depth).
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != 0)
      return error_line("permission denied: only root may control vswitchd");
    return {};
  };
  p.take = [taker = std::move(taker)](const std::string& line, int fd, std::vector<int>& fds) {
    if (!taker || line.find("\"capture\"") == std::string::npos) return false;
    std::string error;
    auto request = parse_control_request(line, error);
    if (!request || request->cmd != ControlRequest::Cmd::kCapture) return false;
    taker(*request, fd, std::move(fds));
    return true;
  };
  p.handle = [handler = std::move(handler)](std::string line, BoundedServer::Reply reply) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    std::string error;
    auto request = parse_control_request(line, error);
    if (!request) {
      reply(error_line("bad request: " + error));
      return;
    }
    try {
      handler(*request, [reply](std::string r) { reply(std::move(r) + "\n"); });
    } catch (const std::exception& e) {
      reply(error_line(std::string("internal error: ") + e.what()));
    }
  };
  server_ = std::make_unique<BoundedServer>("control socket", limits, std::move(p));
}

ControlServer::~ControlServer() {
  stop();
}

std::string ControlServer::start() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(addr.sun_path)) return "control socket path too long: " + path_;
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("control socket: ") + std::strerror(errno);
  // A socket file left by a daemon that died: nothing listens on it any more (the pid file and
  // the EAL's lock on the file prefix already keep two daemons apart).
  unlink(path_.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      chmod(path_.c_str(), 0600) != 0 || listen(fd, SOMAXCONN) != 0) {
    std::string err = "cannot listen on the control socket " + path_ + ": " + std::strerror(errno) +
                      " (is [daemon] control_socket in a writable directory?)";
    close(fd);
    return err;
  }
  std::string err = server_->start(fd);
  started_ = err.empty();
  return err;
}

void ControlServer::stop() {
  if (!started_) return;
  started_ = false;
  server_->stop();
  unlink(path_.c_str());
}

}  // namespace vs
