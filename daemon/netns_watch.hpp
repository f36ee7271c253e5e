// Watches for what ports live in going away or coming back: named network namespaces appearing
// and disappearing under /run/netns (inotify), and netdevs deleted from vswitchd's own namespace
// (rtnetlink RTM_DELLINK). The thread only turns events into calls of the given functions, which
// send messages to the switch actors, which decide; the watcher decides nothing.
//
// It holds no namespace: inotify watches the /run/netns directory, not the namespaces mounted in
// it, and the netlink socket is one of vswitchd's own namespace.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace prometheus {
class Collectable;
}

namespace vs {

class PortDirectory;

// vswitch_port_up, vswitch_port_down_total{reason}, vswitch_port_recreated_total: the state the
// switch actors keep per port (docs/monitoring.md).
std::shared_ptr<prometheus::Collectable> port_state_collector(const PortDirectory& ports);

class NetnsWatcher {
 public:
  struct Handlers {
    std::function<void(const std::string& netns, bool present)> netns;  // created / deleted
    std::function<void(const std::string& ifname)> link_deleted;        // in our namespace
  };
  explicit NetnsWatcher(Handlers h, std::string dir = "/run/netns");
  ~NetnsWatcher();
  NetnsWatcher(const NetnsWatcher&) = delete;
  NetnsWatcher& operator=(const NetnsWatcher&) = delete;

  // "" or why the watch could not be set up.
  std::string start();
  void stop();

 private:
  void run();
  bool add_watch();
  void read_inotify();
  void read_netlink();

  Handlers h_;
  std::string dir_;
  int inotify_fd_ = -1;
  int watch_ = -1;
  int netlink_fd_ = -1;
  int stop_fd_ = -1;
  std::thread thread_;
};

}  // namespace vs
