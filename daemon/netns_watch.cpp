#include "daemon/netns_watch.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "daemon/port_manager.hpp"

namespace vs {
namespace {

class PortStateCollector : public prometheus::Collectable {
 public:
  explicit PortStateCollector(const PortDirectory& ports) : ports_(ports) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    prometheus::MetricFamily up{"vswitch_port_up",
                                "1 while the port forwards; 0 while it is down because its netdev "
                                "or namespace went away (the reason is in vswitch_port_down_total "
                                "and `vswitchctl show ports`).",
                                MetricType::Gauge,
                                {}};
    prometheus::MetricFamily down{
        "vswitch_port_down_total",
        "Times the port went down, by reason: netns_deleted, "
        "netns_missing (at start), netdev_deleted, reset (vswitchctl port reset), reset_failed.",
        MetricType::Counter,
        {}};
    prometheus::MetricFamily back{"vswitch_port_recreated_total",
                                  "Times a port that was down was created again (its namespace "
                                  "came back, port reset, reload).",
                                  MetricType::Counter,
                                  {}};
    ports_.for_each([&](const PortRuntime& p) {
      const std::vector<prometheus::ClientMetric::Label> labels{{"switch", p.switch_name},
                                                                {"port", p.cfg.name}};
      prometheus::ClientMetric m;
      m.label = labels;
      m.gauge.value = p.down ? 0 : 1;
      up.metric.push_back(m);
      prometheus::ClientMetric r;
      r.label = labels;
      r.counter.value = static_cast<double>(p.recreated);
      back.metric.push_back(std::move(r));
      for (const auto& [code, n] : p.down_events) {
        prometheus::ClientMetric d;
        d.label = labels;
        d.label.push_back({"reason", code});
        d.counter.value = static_cast<double>(n);
        down.metric.push_back(std::move(d));
      }
    });
    return {std::move(up), std::move(down), std::move(back)};
  }

 private:
  const PortDirectory& ports_;
};

}  // namespace

std::shared_ptr<prometheus::Collectable> port_state_collector(const PortDirectory& ports) {
  return std::make_shared<PortStateCollector>(ports);
}

NetnsWatcher::NetnsWatcher(Handlers h, std::string dir) : h_(std::move(h)), dir_(std::move(dir)) {}

NetnsWatcher::~NetnsWatcher() {
  stop();
}

bool NetnsWatcher::add_watch() {
  // `ip netns add` creates the directory too; making it first lets the watch start before the
  // first namespace exists.
  mkdir(dir_.c_str(), 0755);
  watch_ = inotify_add_watch(inotify_fd_, dir_.c_str(),
                             IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |
                                 IN_MOVE_SELF | IN_ONLYDIR);
  return watch_ >= 0;
}

std::string NetnsWatcher::start() {
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) return std::string("inotify_init1: ") + std::strerror(errno);
  if (!add_watch()) return "cannot watch " + dir_ + ": " + std::strerror(errno);
  netlink_fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (netlink_fd_ < 0) return std::string("rtnetlink socket: ") + std::strerror(errno);
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK;
  if (bind(netlink_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    return std::string("rtnetlink bind: ") + std::strerror(errno);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) return std::string("eventfd: ") + std::strerror(errno);
  thread_ = std::thread([this] { run(); });
  return {};
}

void NetnsWatcher::stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    if (write(stop_fd_, &one, sizeof(one)) < 0) std::perror("vswitchd: netns watcher stop");
    thread_.join();
  }
  for (int* fd : {&inotify_fd_, &netlink_fd_, &stop_fd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

void NetnsWatcher::run() {
  for (;;) {
    pollfd fds[3] = {{stop_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}, {netlink_fd_, POLLIN, 0}};
    int n = poll(fds, 3, watch_ < 0 ? 1000 : -1);
    if (n < 0 && errno != EINTR) {
      std::perror("vswitchd: netns watcher: poll");
      return;
    }
    if (fds[0].revents) return;
    if (fds[1].revents) read_inotify();
    if (fds[2].revents) read_netlink();
    if (watch_ < 0 && add_watch())
      std::printf("vswitchd: %s is back: watching its namespaces again\n", dir_.c_str());
  }
}

void NetnsWatcher::read_inotify() {
  alignas(inotify_event) char buf[4096];
  for (;;) {
    ssize_t len = read(inotify_fd_, buf, sizeof(buf));
    if (len <= 0) return;
    for (char* p = buf; p < buf + len;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
        if (watch_ >= 0) inotify_rm_watch(inotify_fd_, watch_);
        watch_ = -1;
        std::fprintf(stderr,
                     "vswitchd: %s was removed: namespaces are not watched until it is back\n",
                     dir_.c_str());
        continue;
      }
      if (ev->len == 0 || (ev->mask & IN_ISDIR)) continue;
      const std::string name(ev->name);
      if (ev->mask & (IN_CREATE | IN_MOVED_TO)) h_.netns(name, true);
      if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) h_.netns(name, false);
    }
  }
}

void NetnsWatcher::read_netlink() {
  alignas(nlmsghdr) char buf[16384];
  for (;;) {
    ssize_t len = recv(netlink_fd_, buf, sizeof(buf), 0);
    if (len < 0 && errno == ENOBUFS) {
      // Events were lost: every switch actor re-checks its ports when told "any netdev".
      h_.link_deleted("");
      continue;
    }
    if (len <= 0) return;
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nh, static_cast<unsigned>(len));
         nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_type != RTM_DELLINK) continue;
      auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(nh));
      int attrlen = static_cast<int>(nh->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof(*ifi)));
      for (auto* rta = IFLA_RTA(ifi); RTA_OK(rta, attrlen); rta = RTA_NEXT(rta, attrlen)) {
        if (rta->rta_type != IFLA_IFNAME) continue;
        h_.link_deleted(
            std::string(static_cast<const char*>(RTA_DATA(rta)),
                        strnlen(static_cast<const char*>(RTA_DATA(rta)), RTA_PAYLOAD(rta))));
      }
    }
  }
}

}  // namespace vs
