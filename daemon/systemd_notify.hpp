// systemd's notify protocol (sd_notify(3)), spoken without libsystemd: each state change is one
// datagram of "KEY=VALUE" lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an
// abstract name written with a leading '@'). vswitchd sends:
// - READY=1 once every port is up and every worker forwards;
// - RELOADING=1, then READY=1, around a reload (SIGHUP or `vswitchctl reload`), either outcome;
// - STOPPING=1 when it begins to stop;
// - WATCHDOG=1 every half $WATCHDOG_USEC while the actors answer (actors/watchdog_actor.hpp).
// Most messages also carry a STATUS= line, which `systemctl status` shows.
#pragma once
#include <chrono>
#include <string>
#include <string_view>

namespace vs {

class SystemdNotify {
 public:
  // Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID and removes them from the environment:
  // the workers and the commands vswitchd runs must not speak for it. Without $NOTIFY_SOCKET (not
  // started by systemd), every send is a no-op. `error` says what was wrong with the variables.
  static SystemdNotify from_environment(std::string& error);

  SystemdNotify() = default;
  SystemdNotify(const SystemdNotify&) = delete;
  SystemdNotify& operator=(const SystemdNotify&) = delete;
  SystemdNotify(SystemdNotify&& other) noexcept;
  SystemdNotify& operator=(SystemdNotify&& other) noexcept;
  ~SystemdNotify();

  bool enabled() const { return fd_ >= 0; }
  // How often to send WATCHDOG=1 (half of $WATCHDOG_USEC); zero if no watchdog is asked for, or
  // it is meant for another process ($WATCHDOG_PID).
  std::chrono::microseconds watchdog_period() const { return watchdog_period_; }
  // Sends `state` ("READY=1", or "" for none) and, if given, `status` as its STATUS= line,
  // made one line of at most kMaxStatus bytes (a newline would end the line and start a bogus
  // key). Thread-safe; false if the datagram was not sent.
  bool send(std::string_view state, std::string_view status = {}) const;
  static constexpr size_t kMaxStatus = 400;

 private:
  int fd_ = -1;
  std::string address_;  // sockaddr_un.sun_path bytes ('\0' first for an abstract name)
  std::chrono::microseconds watchdog_period_{0};
};

}  // namespace vs
