#include "daemon/netns.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "daemon/command.hpp"

namespace vs {
namespace {

NetnsError run_ip(const std::vector<std::string>& argv) {
  CommandResult r = run_command(argv);
  if (r.ok()) return {};
  return {"`" + join_command(argv) + "` failed: " + r.output};
}

std::vector<std::string> ip_in(const std::string& netns) {
  if (netns.empty()) return {"ip"};
  return {"ip", "-n", netns};
}

NetnsError configure_link(const std::string& ifname, const std::string& netns,
                          const std::vector<std::string>& addresses) {
  for (const std::string& cidr : addresses) {
    auto argv = ip_in(netns);
    bool v6 = cidr.find(':') != std::string::npos;
    // nodad: the address is usable at once, so the first ping is not lost to IPv6 DAD.
    argv.insert(argv.end(), {"addr", "replace", cidr, "dev", ifname});
    if (v6) argv.push_back("nodad");
    if (auto err = run_ip(argv)) return err;
  }
  auto up = ip_in(netns);
  up.insert(up.end(), {"link", "set", "dev", ifname, "up"});
  return run_ip(up);
}

std::atomic<bool> creation_allowed{true};

}  // namespace

void netns_allow_creation(bool allowed) {
  creation_allowed = allowed;
}
bool netns_creation_allowed() {
  return creation_allowed;
}

bool netns_exists(const std::string& name) {
  struct stat st;
  return stat(("/run/netns/" + name).c_str(), &st) == 0;
}

uint64_t netns_inode(const std::string& name) {
  constexpr unsigned long kNsfsMagic = 0x6e736673;  // NSFS_MAGIC
  const std::string path = "/run/netns/" + name;
  struct statfs fs;
  struct stat st;
  if (statfs(path.c_str(), &fs) != 0 || static_cast<unsigned long>(fs.f_type) != kNsfsMagic)
    return 0;
  if (stat(path.c_str(), &st) != 0) return 0;
  return st.st_ino;
}

NetnsError netns_ensure(const std::string& name, bool& created) {
  created = false;
  if (netns_exists(name)) return {};
  if (!creation_allowed) {
    return {"namespace " + name + " does not exist, and this vswitchd does not create namespaces " +
            "(--no-create-netns: under vswitchd.service its mounts are private). Fix: `ip netns " +
            "add " + name + "`"};
  }
  if (auto err = run_ip({"ip", "netns", "add", name})) return err;
  created = true;
  // The loopback of a new namespace is down; bring it up as a VM's would be.
  return run_ip({"ip", "-n", name, "link", "set", "dev", "lo", "up"});
}

NetnsError netns_delete(const std::string& name) {
  return run_ip({"ip", "netns", "del", name});
}

NetnsError netns_attach_link(const std::string& ifname, const std::string& netns, int mtu,
                             const std::vector<std::string>& addresses) {
  if (auto err = run_ip({"ip", "link", "set", "dev", ifname, "netns", netns})) return err;
  if (auto err =
          run_ip({"ip", "-n", netns, "link", "set", "dev", ifname, "mtu", std::to_string(mtu)}))
    return err;
  return configure_link(ifname, netns, addresses);
}

NetnsError netns_detach_link(const std::string& ifname, const std::string& netns) {
  return run_ip(
      {"ip", "-n", netns, "link", "set", "dev", ifname, "netns", std::to_string(getpid())});
}

NetnsError netns_configure_link(const std::string& ifname, const std::string& netns,
                                const std::vector<std::string>& addresses) {
  return configure_link(ifname, netns, addresses);
}

NetnsError link_configure_here(const std::string& ifname,
                               const std::vector<std::string>& addresses) {
  return configure_link(ifname, "", addresses);
}

NetnsError link_join_bridge(const std::string& ifname, const std::string& netns,
                            const std::string& bridge) {
  const std::string where = netns.empty() ? "vswitchd's namespace" : "namespace " + netns;
  auto show = ip_in(netns);
  show.insert(show.end(), {"link", "show", "dev", bridge, "type", "bridge"});
  CommandResult r = run_command(show);
  if (!r.ok() || r.output.empty()) {
    return {"uplink: no bridge " + bridge + " in " + where +
            (r.ok() ? " (a link of that name exists, but it is not a bridge)" : "") +
            ". Fix: create it first (`ip" + (netns.empty() ? "" : " -n " + netns) + " link add " +
            bridge +
            " type bridge`, with its VXLAN device: docs/evpn.md), or "
            "fix uplink.bridge"};
  }
  // The host's own IPv6 must not talk on the uplink (router solicitations, MLD): the netdev is
  // a bridge port and carries the VMs' frames only.
  auto nov6 = ip_in(netns);
  nov6.insert(nov6.end(), {"link", "set", "dev", ifname, "addrgenmode", "none"});
  if (auto err = run_ip(nov6)) return err;
  auto join = ip_in(netns);
  join.insert(join.end(), {"link", "set", "dev", ifname, "master", bridge, "up"});
  return run_ip(join);
}

std::optional<bool> netdev_running_in(const std::string& netns, const std::string& ifname) {
  int fd = -1;
  std::thread t([&] {  // setns() on a thread of its own: this one stays where it is
    int nsfd = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) return;
    if (setns(nsfd, CLONE_NEWNET) == 0) fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    close(nsfd);
  });
  t.join();
  if (fd < 0) return std::nullopt;
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname.c_str());
  const int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
  close(fd);
  if (rc != 0) return std::nullopt;
  return (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
}

}  // namespace vs
