#include "netns.hpp"

#include "eal_env.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <thread>

namespace vstest {

NetnsVm::NetnsVm(std::string name) : name_(std::move(name)) {
  run("ip netns del " + name_ + " 2>/dev/null");
  if (run("ip netns add " + name_) != 0)
    throw std::runtime_error("ip netns add " + name_ + " failed");
  sh("ip link set lo up");
}

NetnsVm::~NetnsVm() {
  run("ip netns del " + name_ + " 2>/dev/null");
}

int NetnsVm::sh(const std::string& cmd) const {
  return run("ip netns exec " + name_ + " sh -c '" + cmd + "'");
}

std::string NetnsVm::out(const std::string& cmd) const {
  return vstest::out("ip netns exec " + name_ + " sh -c '" + cmd + "'");
}

void NetnsVm::adopt(const std::string& ifname) const {
  run("ip link set " + ifname + " netns " + name_);
}

void NetnsVm::configure(const std::string& ifname, unsigned mtu, const std::string& cidr,
                        bool up) const {
  sh("ip link set " + ifname + " mtu " + std::to_string(mtu));
  if (!cidr.empty()) sh("ip addr add " + cidr + " dev " + ifname);
  if (up) sh("ip link set " + ifname + " up");
}

int NetnsVm::in(const std::function<int()>& f) const {
  int rc = -1;
  std::thread t([&] {
    int nsfd = open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
      rc = -errno;
    } else {
      rc = f();
    }
    if (nsfd >= 0) close(nsfd);
  });
  t.join();
  return rc;
}

PacketSocket::PacketSocket(const std::string& ifname, const NetnsVm* ns, bool vnet_hdr) {
  auto open_it = [&]() -> int {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) return -1;
    int one = 1;
    if (vnet_hdr) setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one));
    int big = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
    ifindex_ = static_cast<int>(if_nametoindex(ifname.c_str()));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex_;
    if (ifindex_ == 0 || bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) < 0) {
      close(fd);
      return -1;
    }
    return fd;
  };
  fd_ = ns ? ns->in(open_it) : open_it();
}

PacketSocket::~PacketSocket() {
  if (fd_ >= 0) close(fd_);
}

int PacketSocket::send(const void* frame, size_t len) {
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex_;
  sll.sll_halen = 6;
  return static_cast<int>(
      sendto(fd_, frame, len, 0, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)));
}

int PacketSocket::recv(void* buf, size_t cap, int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return -1;
  // Only frames the interface receives or sends count; PACKET_OUTGOING is our own send().
  sockaddr_ll from{};
  socklen_t fl = sizeof(from);
  ssize_t n = recvfrom(fd_, buf, cap, MSG_TRUNC, reinterpret_cast<sockaddr*>(&from), &fl);
  return static_cast<int>(n);
}

}  // namespace vstest
