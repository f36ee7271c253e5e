// The notify protocol's sender (daemon/systemd_notify.hpp) against a socket of the test's own.
#include "daemon/systemd_notify.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "tests/lib/notify_listener.hpp"

namespace vs {
namespace {

std::string socket_path(const char* tag) {
  return "/tmp/vs-notify-" + std::to_string(getpid()) + "-" + tag;
}

SystemdNotify from_env(const std::string& socket, const char* usec, const char* pid,
                       std::string* error = nullptr) {
  setenv("NOTIFY_SOCKET", socket.c_str(), 1);
  if (usec != nullptr) setenv("WATCHDOG_USEC", usec, 1);
  if (pid != nullptr) setenv("WATCHDOG_PID", pid, 1);
  std::string err;
  SystemdNotify n = SystemdNotify::from_environment(err);
  if (error != nullptr) *error = err;
  return n;
}

TEST(SystemdNotify, WithoutNotifySocketNothingIsSent) {
  unsetenv("NOTIFY_SOCKET");
  std::string err;
  SystemdNotify n = SystemdNotify::from_environment(err);
  EXPECT_FALSE(n.enabled());
  EXPECT_FALSE(n.send("READY=1"));
  EXPECT_EQ(n.watchdog_period().count(), 0);
  EXPECT_EQ(err, "");
}

TEST(SystemdNotify, SendsToAPathAndTakesTheVariablesOutOfTheEnvironment) {
  const std::string path = socket_path("path");
  test::NotifyListener l(path);
  ASSERT_TRUE(l.ok());
  SystemdNotify n = from_env(path, "3000000", nullptr);
  // A worker or an `ip` that vswitchd starts must not speak for it.
  EXPECT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr);
  EXPECT_EQ(std::getenv("WATCHDOG_USEC"), nullptr);
  ASSERT_TRUE(n.enabled());
  EXPECT_EQ(n.watchdog_period().count(), 1500000);  // half of WATCHDOG_USEC
  EXPECT_TRUE(n.send("READY=1\nSTATUS=Forwarding"));
  pid_t sender = 0;
  EXPECT_EQ(l.next(1000, &sender), "READY=1\nSTATUS=Forwarding");
  EXPECT_EQ(sender, getpid());
}

TEST(SystemdNotify, StatusIsOneLineOfBoundedLength) {
  const std::string path = socket_path("status");
  test::NotifyListener l(path);
  SystemdNotify n = from_env(path, nullptr, nullptr);
  EXPECT_TRUE(n.send("READY=1", "refused:\n  --> vswitch.toml\nBOGUS=1"));
  EXPECT_EQ(l.next(), "READY=1\nSTATUS=refused:   --> vswitch.toml BOGUS=1");
  EXPECT_TRUE(n.send("", std::string(1000, 'x')));
  EXPECT_EQ(l.next(), "STATUS=" + std::string(SystemdNotify::kMaxStatus, 'x'));
}

TEST(SystemdNotify, SendsToAnAbstractSocket) {
  const std::string name = "@" + socket_path("abstract").substr(1);
  test::NotifyListener l(name);
  ASSERT_TRUE(l.ok());
  SystemdNotify n = from_env(name, nullptr, nullptr);
  EXPECT_TRUE(n.send("STOPPING=1"));
  EXPECT_EQ(l.next(), "STOPPING=1");
}

TEST(SystemdNotify, AWatchdogForAnotherPidIsNotOurs) {
  const std::string path = socket_path("pid");
  test::NotifyListener l(path);
  SystemdNotify other = from_env(path, "1000000", "1");
  EXPECT_TRUE(other.enabled());
  EXPECT_EQ(other.watchdog_period().count(), 0);
  SystemdNotify ours = from_env(path, "1000000", std::to_string(getpid()).c_str());
  EXPECT_EQ(ours.watchdog_period().count(), 500000);
}

TEST(SystemdNotify, BadVariablesAreNamedNotFatal) {
  std::string err;
  SystemdNotify relative = from_env("notify.sock", nullptr, nullptr, &err);
  EXPECT_FALSE(relative.enabled());
  EXPECT_NE(err.find("NOTIFY_SOCKET=notify.sock"), std::string::npos) << err;
  const std::string path = socket_path("usec");
  test::NotifyListener l(path);
  SystemdNotify bad_usec = from_env(path, "soon", nullptr, &err);
  EXPECT_TRUE(bad_usec.enabled());
  EXPECT_EQ(bad_usec.watchdog_period().count(), 0);
  EXPECT_NE(err.find("WATCHDOG_USEC=soon"), std::string::npos) << err;
}

TEST(SystemdNotify, ANoListenerSocketIsNotAnError) {
  SystemdNotify n = from_env(socket_path("nobody"), nullptr, nullptr);
  EXPECT_TRUE(n.enabled());
  EXPECT_FALSE(n.send("READY=1"));  // systemd went away: best effort, nothing breaks
}

}  // namespace
}  // namespace vs
