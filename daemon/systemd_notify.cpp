#include "daemon/systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace vs {
namespace {

std::string take_env(const char* name) {
  const char* v = std::getenv(name);
  std::string out = v != nullptr ? v : "";
  unsetenv(name);
  return out;
}

// A positive decimal number, or 0.
unsigned long long parse_positive(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 19)
    return 0;
  return std::strtoull(s.c_str(), nullptr, 10);
}

}  // namespace

SystemdNotify SystemdNotify::from_environment(std::string& error) {
  SystemdNotify n;
  const std::string socket = take_env("NOTIFY_SOCKET");
  const std::string usec = take_env("WATCHDOG_USEC");
  const std::string pid = take_env("WATCHDOG_PID");
  if (socket.empty()) return n;
  if ((socket[0] != '/' && socket[0] != '@') || socket.size() >= sizeof(sockaddr_un::sun_path)) {
    error = "NOTIFY_SOCKET=" + socket +
            " is not a socket path or an @abstract name shorter than 108 bytes, so systemd is "
            "not told when vswitchd is ready. Fix: let systemd set it (Type=notify), or unset it";
    return n;
  }
  n.fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (n.fd_ < 0) {
    error = std::string("cannot open a socket for systemd's notifications: ") + strerror(errno);
    return n;
  }
  n.address_ = socket;
  if (n.address_[0] == '@') n.address_[0] = '\0';
  const unsigned long long watchdog_usec = parse_positive(usec);
  if (!usec.empty() && watchdog_usec == 0)
    error =
        "WATCHDOG_USEC=" + usec + " is not a positive number of microseconds; no watchdog pings";
  const bool for_us =
      pid.empty() || parse_positive(pid) == static_cast<unsigned long long>(getpid());
  if (watchdog_usec > 0 && for_us)
    n.watchdog_period_ = std::chrono::microseconds(watchdog_usec / 2);
  return n;
}

SystemdNotify::SystemdNotify(SystemdNotify&& other) noexcept
    : fd_(other.fd_),
      address_(std::move(other.address_)),
      watchdog_period_(other.watchdog_period_) {
  other.fd_ = -1;
}

SystemdNotify& SystemdNotify::operator=(SystemdNotify&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    address_ = std::move(other.address_);
    watchdog_period_ = other.watchdog_period_;
    other.fd_ = -1;
  }
  return *this;
}

SystemdNotify::~SystemdNotify() {
  if (fd_ >= 0) close(fd_);
}

bool SystemdNotify::send(std::string_view state, std::string_view status) const {
  if (fd_ < 0) return false;
  std::string msg(state);
  if (!status.empty()) {
    std::string line(status.substr(0, kMaxStatus));
    std::replace(line.begin(), line.end(), '\n', ' ');
    msg += (msg.empty() ? "STATUS=" : "\nSTATUS=") + line;
  }
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, address_.data(), address_.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size() +
                                          (address_[0] == '\0' ? 0 : 1));
  ssize_t n;
  do {
    n = sendto(fd_, msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa), len);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(msg.size());
}

}  // namespace vs
