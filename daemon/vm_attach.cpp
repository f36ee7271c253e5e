#include "daemon/vm_attach.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "daemon/command.hpp"

namespace vs {
namespace {

// The tc filter priority of our redirects: detach deletes exactly these, and attach replaces a
// stale one left on a persistent VM TAP by a daemon that was killed.
constexpr const char* kRedirectPref = "49";

NetnsError run(const std::vector<std::string>& argv, const std::string& fix = {}) {
  CommandResult r = run_command(argv);
  if (r.ok()) return {};
  std::string msg = "`" + join_command(argv) + "` failed: " + r.output;
  if (!fix.empty()) msg += "; " + fix;
  return {msg};
}

bool link_exists(const std::string& ifname) {
  struct stat st;
  return stat(("/sys/class/net/" + ifname).c_str(), &st) == 0;
}

std::string read_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The macvtap's lower device is `port` when sysfs links them (lower_<port> under the macvtap).
bool macvtap_on(const std::string& macvtap, const std::string& port) {
  return link_exists(macvtap + "/lower_" + port);
}

NetnsError attach_macvtap(const config::PortConfig& port, VmAttachment& vm) {
  vm.mode = "macvtap";
  vm.netdev = port.vm_macvtap;
  if (link_exists(vm.netdev) && !macvtap_on(vm.netdev, port.name)) {
    return {"netdev " + vm.netdev + " exists and is not a macvtap on " + port.name +
            ": remove it (`ip link del " + vm.netdev + "`) or pick another vm.macvtap name"};
  }
  // A persistent port (rtap persist) keeps its macvtap across a daemon restart: reuse it.
  if (!link_exists(vm.netdev)) {
    // passthru: the guest owns the netdev's whole traffic, whatever MAC it uses.
    if (auto err = run({"ip", "link", "add", "link", port.name, "name", vm.netdev, "type",
                        "macvtap", "mode", "passthru"},
                       "the kernel needs CONFIG_MACVTAP"))
      return err;
  }
  vm.made_link = true;
  if (auto err = keep_host_stack_off(vm.netdev)) return err;
  if (auto err = run({"ip", "link", "set", "dev", vm.netdev, "up"})) return err;
  std::string error;
  vm.device = macvtap_device(vm.netdev, error);
  if (vm.device.empty()) return {error};
  return {};
}

// One direction of the pair: every frame arriving on `from` leaves through `to`.
NetnsError redirect(const std::string& from, const std::string& to) {
  // A netdev may already have an ingress qdisc (DPDK's net_tap adds one for rte_flow); its
  // ingress hook takes our filter as well, so a refused clsact is not an error.
  run_command({"tc", "qdisc", "add", "dev", from, "clsact"});
  run_command({"tc", "filter", "del", "dev", from, "ingress", "pref", kRedirectPref});
  const std::vector<std::string> head = {"tc",      "filter", "add",         "dev",      from,
                                         "ingress", "pref",   kRedirectPref, "protocol", "all"};
  const std::vector<std::string> action = {"action", "mirred", "egress", "redirect", "dev", to};
  std::vector<std::string> matchall = head;
  matchall.push_back("matchall");
  matchall.insert(matchall.end(), action.begin(), action.end());
  if (run_command(matchall).ok()) return {};
  // Kernels without the matchall classifier (CONFIG_NET_CLS_MATCHALL): u32 matching any 4 bytes
  // at offset 0 catches every frame too.
  std::vector<std::string> u32 = head;
  u32.insert(u32.end(), {"u32", "match", "u32", "0", "0"});
  u32.insert(u32.end(), action.begin(), action.end());
  return run(u32,
             "the kernel needs CONFIG_NET_CLS_ACT, CONFIG_NET_ACT_MIRRED and "
             "CONFIG_NET_CLS_MATCHALL or CONFIG_NET_CLS_U32");
}

NetnsError attach_tap(const config::PortConfig& port, VmAttachment& vm) {
  vm.mode = "tap";
  vm.netdev = port.vm_tap;
  if (!link_exists(vm.netdev)) {
    // Persistent, so that QEMU (ifname=, script=no) or libvirt (managed='no') can open it later.
    if (auto err = run({"ip", "tuntap", "add", "dev", vm.netdev, "mode", "tap"})) return err;
    vm.made_link = true;
    if (auto err = keep_host_stack_off(vm.netdev)) return err;
  }
  if (auto err =
          run({"ip", "link", "set", "dev", vm.netdev, "mtu", std::to_string(port.mtu), "up"}))
    return err;
  vm.redirects = true;  // set before: a half-installed pair is removed by detach_vm
  if (auto err = redirect(port.name, vm.netdev)) return err;
  return redirect(vm.netdev, port.name);
}

}  // namespace

NetnsError keep_host_stack_off(const std::string& ifname) {
  const std::string path = "/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6";
  struct stat st;
  if (stat("/proc/sys/net/ipv6", &st) != 0) return {};  // a kernel without IPv6: nothing to do
  std::ofstream out(path);
  out << "1\n";
  out.close();
  if (!out) return {"cannot write 1 to " + path + " (the host's IPv6 would talk on a VM's wire)"};
  return {};
}

std::string macvtap_device(const std::string& macvtap, std::string& error) {
  const std::string ifindex = read_line("/sys/class/net/" + macvtap + "/ifindex");
  const std::string dev =
      read_line("/sys/class/net/" + macvtap + "/macvtap/tap" + ifindex + "/dev");
  const std::string path = "/dev/tap" + ifindex;
  unsigned major_nr = 0, minor_nr = 0;
  if (ifindex.empty() || std::sscanf(dev.c_str(), "%u:%u", &major_nr, &minor_nr) != 2) {
    error = "macvtap " + macvtap + " has no tap device in /sys/class/net/" + macvtap + "/macvtap";
    return {};
  }
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(major_nr, minor_nr)) return path;
    error = path + " exists but is not macvtap " + macvtap + "'s device (" + dev + ")";
    return {};
  }
  // Without devtmpfs or udev nobody made the node: make it, root-only like devtmpfs does.
  if (mknod(path.c_str(), S_IFCHR | 0600, makedev(major_nr, minor_nr)) != 0) {
    error = "cannot create " + path + " (" + dev + ") for macvtap " + macvtap;
    return {};
  }
  return path;
}

NetnsError attach_vm(const config::PortConfig& port, VmAttachment& out) {
  out = VmAttachment{};
  if (port.vm_macvtap.empty() && port.vm_tap.empty()) return {};
  NetnsError err = port.vm_macvtap.empty() ? attach_tap(port, out) : attach_macvtap(port, out);
  if (err) {
    const std::string what = "vm " + out.mode + " " + out.netdev + ": ";
    detach_vm(port, out);
    return {what + err.message};
  }
  return {};
}

NetnsError detach_vm(const config::PortConfig& port, VmAttachment& vm) {
  NetnsError first;
  auto keep = [&first](NetnsError e) {
    if (e && !first) first = std::move(e);
  };
  if (vm.redirects) {
    for (const std::string& dev : {port.name, vm.netdev})
      if (link_exists(dev))
        keep(run({"tc", "filter", "del", "dev", dev, "ingress", "pref", kRedirectPref}));
    vm.redirects = false;
  }
  // A macvtap goes with its port whoever made it (the contract: removing the port removes
  // the macvtap); a VM's TAP only if we made it.
  if (vm.made_link && link_exists(vm.netdev)) keep(run({"ip", "link", "del", "dev", vm.netdev}));
  vm = VmAttachment{};
  return first;
}

}  // namespace vs
