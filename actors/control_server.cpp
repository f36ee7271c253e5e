#include "actors/control_server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

namespace vs {
namespace {

std::string error_line(const std::string& msg) {
  return nlohmann::json{{"ok", false}, {"error", msg}}.dump(
             -1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace

ControlServer::ControlServer(std::string path, Handler handler)
    : path_(std::move(path)), handler_(std::move(handler)) {}

ControlServer::~ControlServer() {
  stop();
}

std::string ControlServer::start() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(addr.sun_path)) return "control socket path too long: " + path_;
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return std::string("control socket: ") + std::strerror(errno);
  // A socket file left by a daemon that died: nothing listens on it any more (the pid file and
  // the EAL's lock on the file prefix already keep two daemons apart).
  unlink(path_.c_str());
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      chmod(path_.c_str(), 0600) != 0 || listen(listen_fd_, 8) != 0) {
    std::string err = "cannot listen on the control socket " + path_ + ": " + std::strerror(errno) +
                      " (is [daemon] control_socket in a writable directory?)";
    close(listen_fd_);
    listen_fd_ = -1;
    return err;
  }
  stop_fd_ = eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this] { run(); });
  return {};
}

void ControlServer::stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof(one)) < 0) std::perror("vswitchd: control server stop");
  thread_.join();
  close(stop_fd_);
  close(listen_fd_);
  unlink(path_.c_str());
  listen_fd_ = stop_fd_ = -1;
}

void ControlServer::run() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    serve_one(fd);
    close(fd);
  }
}

void ControlServer::serve_one(int fd) {
  // The socket's mode already keeps others out; check the peer anyway (defence in depth).
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != 0) {
    write_all(fd, error_line("permission denied: only root may control vswitchd"));
    return;
  }
  timeval tv{5, 0};  // a client that connects and says nothing does not hold the socket
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string line;
  char buf[4096];
  while (line.find('\n') == std::string::npos && line.size() <= kMaxControlRequest) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    line.append(buf, static_cast<std::size_t>(n));
  }
  if (auto nl = line.find('\n'); nl != std::string::npos) line.resize(nl);
  std::string error;
  auto request = parse_control_request(line, error);
  if (!request) {
    write_all(fd, error_line("bad request: " + error));
    return;
  }
  try {
    write_all(fd, handler_(*request) + "\n");
  } catch (const std::exception& e) {
    write_all(fd, error_line(std::string("internal error: ") + e.what()));
  }
}

}  // namespace vs
