// rtnetlink control of the TAP's netdev, keyed by ifindex. Names can change and the netdev can
// live in another namespace; the socket is opened in the netdev's namespace and the ifindex
// stays valid there, so every request is addressed by ifindex and nothing goes by name.
#include "rtap.hpp"

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace rtap {
namespace {

std::atomic<uint32_t> g_seq{1};

struct Req {
  nlmsghdr nh;
  ifinfomsg ifi;
  char attrs[256];
};

void add_attr(Req* r, uint16_t type, const void* data, size_t len) {
  auto* rta = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(r) + NLMSG_ALIGN(r->nh.nlmsg_len));
  rta->rta_type = type;
  rta->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
  memcpy(RTA_DATA(rta), data, len);
  r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

void init_req(Req* r, uint16_t type, uint16_t flags, int ifindex) {
  memset(r, 0, sizeof(*r));
  r->nh.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  r->nh.nlmsg_type = type;
  r->nh.nlmsg_flags = NLM_F_REQUEST | flags;
  r->nh.nlmsg_seq = g_seq.fetch_add(1);
  r->ifi.ifi_family = AF_UNSPEC;
  r->ifi.ifi_index = ifindex;
}

void parse_link(const nlmsghdr* nh, LinkInfo* out) {
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(nh));
  out->ifindex = ifi->ifi_index;
  out->flags = ifi->ifi_flags;
  int len = static_cast<int>(nh->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof(*ifi)));
  for (auto* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    switch (a->rta_type) {
      case IFLA_MTU:
        memcpy(&out->mtu, RTA_DATA(a), sizeof(out->mtu));
        break;
      case IFLA_ADDRESS:
        if (RTA_PAYLOAD(a) == RTE_ETHER_ADDR_LEN)
          memcpy(&out->mac, RTA_DATA(a), RTE_ETHER_ADDR_LEN);
        break;
      case IFLA_IFNAME:
        snprintf(out->name, sizeof(out->name), "%s", static_cast<const char*>(RTA_DATA(a)));
        break;
      case IFLA_STATS64: {
        rtnl_link_stats64 s;
        memset(&s, 0, sizeof(s));
        memcpy(&s, RTA_DATA(a), std::min<size_t>(sizeof(s), RTA_PAYLOAD(a)));
        out->rx_dropped = s.rx_dropped;
        out->tx_dropped = s.tx_dropped;
        out->rx_packets = s.rx_packets;
        out->tx_packets = s.tx_packets;
        break;
      }
      case IFLA_LINKINFO: {
        int l2 = static_cast<int>(RTA_PAYLOAD(a));
        for (auto* b = static_cast<rtattr*>(RTA_DATA(a)); RTA_OK(b, l2); b = RTA_NEXT(b, l2))
          if (b->rta_type == IFLA_INFO_KIND)
            snprintf(out->kind, sizeof(out->kind), "%s", static_cast<const char*>(RTA_DATA(b)));
        break;
      }
      default:
        break;
    }
  }
}

// Sends one request and reads until its answer: an ACK/error, or (for GETLINK) the link message.
int transact(int fd, Req* r, LinkInfo* out) {
  if (send(fd, r, r->nh.nlmsg_len, 0) < 0) return -errno;
  alignas(nlmsghdr) char buf[16384];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    int len = static_cast<int>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_seq != r->nh.nlmsg_seq) continue;  // a stale answer to an abandoned request
      if (nh->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(nh));
        return e->error;  // 0 is the ACK
      }
      if (nh->nlmsg_type == RTM_NEWLINK && out != nullptr) {
        parse_link(nh, out);
        return 0;
      }
    }
  }
}

}  // namespace

int nl_open(unsigned groups) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = groups;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  // A control request must not hang the caller if the kernel never answers.
  timeval tv{2, 0};
  if (groups == 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

int nl_get_link(int fd, int ifindex, const char* name, LinkInfo* out) {
  Req r;
  init_req(&r, RTM_GETLINK, 0, ifindex);
  if (ifindex == 0 && name != nullptr) add_attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
  *out = LinkInfo{};
  return transact(fd, &r, out);
}

int nl_set_flags(int fd, int ifindex, unsigned flags, unsigned change) {
  Req r;
  init_req(&r, RTM_NEWLINK, NLM_F_ACK, ifindex);
  r.ifi.ifi_flags = flags;
  r.ifi.ifi_change = change;
  return transact(fd, &r, nullptr);
}

int nl_set_mtu(int fd, int ifindex, unsigned mtu) {
  Req r;
  init_req(&r, RTM_NEWLINK, NLM_F_ACK, ifindex);
  add_attr(&r, IFLA_MTU, &mtu, sizeof(mtu));
  return transact(fd, &r, nullptr);
}

int nl_set_mac(int fd, int ifindex, const rte_ether_addr* mac) {
  Req r;
  init_req(&r, RTM_NEWLINK, NLM_F_ACK, ifindex);
  add_attr(&r, IFLA_ADDRESS, mac->addr_bytes, RTE_ETHER_ADDR_LEN);
  return transact(fd, &r, nullptr);
}

int nl_read_link_events(int fd, int ifindex, void (*cb)(void*, bool, const LinkInfo&), void* arg) {
  alignas(nlmsghdr) char buf[16384];
  int count = 0;
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return count;
      // ENOBUFS: events were lost; the caller re-reads the link state anyway.
      return errno == ENOBUFS ? count : -errno;
    }
    int len = static_cast<int>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_type != RTM_NEWLINK && nh->nlmsg_type != RTM_DELLINK) continue;
      LinkInfo li;
      parse_link(nh, &li);
      if (li.ifindex != ifindex) continue;
      count++;
      cb(arg, nh->nlmsg_type == RTM_DELLINK, li);
    }
  }
}

}  // namespace rtap
