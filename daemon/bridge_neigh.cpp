// AF_BRIDGE neighbour messages over NETLINK_ROUTE: the decoder, the request encoders and the
// socket (bridge_neigh.hpp says who uses them). Every read from a received buffer goes through
// load<T>() (memcpy): the buffer's alignment is the caller's, and its contents are not trusted.
#include "daemon/bridge_neigh.hpp"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

namespace vs {
namespace {

constexpr std::size_t kMacLen = 6;
constexpr std::size_t kAlignTo = 4;  // NLMSG_ALIGNTO and RTA_ALIGNTO
// A dump datagram is at most 32 KB (the kernel caps its dump skbs there); twice that leaves room
// for a kernel that raises the cap, and a datagram larger still is reported as truncated.
constexpr std::size_t kReceiveBufferSize = 64 * 1024;
constexpr int kSocketBufferBytes = 8 * 1024 * 1024;

std::size_t align4(std::size_t n) {
  return (n + kAlignTo - 1) & ~(kAlignTo - 1);
}

template <typename T>
T load(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(value));
  return value;
}

uint64_t fold_mac(const uint8_t* bytes) {
  uint64_t mac = 0;
  for (std::size_t i = 0; i < kMacLen; ++i) mac = (mac << 8) | bytes[i];
  return mac;
}

// The attributes we read, each only at its exact size: a different size is another encoding
// (NDA_DST of 16 bytes is IPv6) or garbage, and either way not what the field means.
void apply_attribute(uint16_t type, const uint8_t* payload, std::size_t size, BridgeNeigh& neigh,
                     bool& has_lladdr) {
  switch (type) {
    // A repeated NDA_LLADDR or NDA_DST (the kernel sends none) replaces the earlier one whole.
    case NDA_LLADDR:
      has_lladdr = size == kMacLen;
      neigh.mac = has_lladdr ? fold_mac(payload) : 0;
      break;
    case NDA_DST:
      neigh.has_dst = size == sizeof(uint32_t);
      neigh.dst = neigh.has_dst ? load<uint32_t>(payload) : 0;
      break;
    case NDA_VLAN:
      if (size != sizeof(uint16_t)) break;
      neigh.has_vlan = true;
      neigh.vlan = load<uint16_t>(payload);
      break;
    case NDA_VNI:
      if (size != sizeof(uint32_t)) break;
      neigh.has_vni = true;
      neigh.vni = load<uint32_t>(payload);
      break;
    case NDA_MASTER:
      if (size != sizeof(uint32_t)) break;
      neigh.has_master = true;
      neigh.master = load<int32_t>(payload);
      break;
    default:
      break;
  }
}

// Walks the attributes after the ndmsg. False if one is malformed (shorter than its own header,
// or longer than what is left of the message): the whole message is then skipped.
bool apply_attributes(const uint8_t* p, std::size_t size, BridgeNeigh& neigh, bool& has_lladdr) {
  std::size_t offset = 0;
  while (size - offset >= sizeof(rtattr)) {
    const auto attr = load<rtattr>(p + offset);
    if (attr.rta_len < sizeof(rtattr) || attr.rta_len > size - offset) return false;
    apply_attribute(attr.rta_type & NLA_TYPE_MASK, p + offset + sizeof(rtattr),
                    attr.rta_len - sizeof(rtattr), neigh, has_lladdr);
    offset += std::min(align4(attr.rta_len), size - offset);
  }
  return true;
}

// One RTM_NEWNEIGH/RTM_DELNEIGH body (ndmsg + attributes): true and `neigh` filled if it is an
// AF_BRIDGE entry with a 6-byte NDA_LLADDR.
bool decode_neigh(uint16_t type, const uint8_t* body, std::size_t size, BridgeNeigh& neigh) {
  if (size < sizeof(ndmsg)) return false;
  const auto ndm = load<ndmsg>(body);
  if (ndm.ndm_family != AF_BRIDGE) return false;
  neigh.added = type == RTM_NEWNEIGH;
  neigh.ifindex = ndm.ndm_ifindex;
  neigh.state = ndm.ndm_state;
  neigh.flags = ndm.ndm_flags;
  const std::size_t attrs_at = NLMSG_ALIGN(sizeof(ndmsg));
  bool has_lladdr = false;
  if (!apply_attributes(body + attrs_at, size - attrs_at, neigh, has_lladdr)) return false;
  return has_lladdr;
}

// The errno of an NLMSG_ERROR, made positive. The kernel sends -errno; INT_MIN, which has no
// positive counterpart, and a positive value can only come from a corrupted buffer.
int positive_errno(int32_t raw) {
  if (raw == INT_MIN) return INT_MAX;
  return raw < 0 ? -raw : raw;
}

struct ParseOutcome {
  NetlinkParse result;
  std::size_t acks = 0;  // NLMSG_ERROR with error 0: NeighSocket::drain counts them
};

// Handles one framed message. False when parsing must stop (DONE, an error, a malformed error).
bool handle_message(const nlmsghdr& hdr, const uint8_t* body, std::size_t size,
                    const std::function<void(const BridgeNeigh&)>& fn, ParseOutcome& outcome) {
  NetlinkParse& result = outcome.result;
  switch (hdr.nlmsg_type) {
    case NLMSG_DONE:
      result.status = NetlinkStatus::kDone;
      return false;
    case NLMSG_ERROR: {
      if (size < sizeof(int32_t)) {
        result.status = NetlinkStatus::kMalformed;
        return false;
      }
      const auto raw = load<int32_t>(body);
      if (raw == 0) {
        ++outcome.acks;
        return true;
      }
      result.status = NetlinkStatus::kError;
      result.error = positive_errno(raw);
      // The kernel answers with the request's own nlmsg_seq (and echoes the request after the
      // error code, which we need not read).
      result.error_seq = hdr.nlmsg_seq;
      return false;
    }
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH: {
      BridgeNeigh neigh;
      if (decode_neigh(hdr.nlmsg_type, body, size, neigh)) {
        ++result.neighbours;
        fn(neigh);
      }
      return true;
    }
    default:
      return true;
  }
}

ParseOutcome parse_buffer(const uint8_t* buf, std::size_t len,
                          const std::function<void(const BridgeNeigh&)>& fn) {
  ParseOutcome outcome;
  std::size_t offset = 0;
  while (offset < len) {
    if (len - offset < sizeof(nlmsghdr)) {
      outcome.result.status = NetlinkStatus::kMalformed;
      break;
    }
    const auto hdr = load<nlmsghdr>(buf + offset);
    if (hdr.nlmsg_len < sizeof(nlmsghdr) || hdr.nlmsg_len > len - offset) {
      outcome.result.status = NetlinkStatus::kMalformed;
      break;
    }
    const uint8_t* body = buf + offset + NLMSG_HDRLEN;
    if (!handle_message(hdr, body, hdr.nlmsg_len - NLMSG_HDRLEN, fn, outcome)) break;
    // The last message of a datagram may lack its padding.
    offset += std::min(align4(hdr.nlmsg_len), len - offset);
  }
  return outcome;
}

// Builds one netlink message at the end of `out`: the header first, its nlmsg_len written last.
class MessageWriter {
 public:
  MessageWriter(std::vector<uint8_t>& out, uint16_t type, uint16_t flags, uint32_t seq)
      : out_(out) {
    out_.resize(align4(out_.size()), 0);  // a message starts aligned, whatever came before
    start_ = out_.size();
    nlmsghdr hdr{};
    hdr.nlmsg_type = type;
    hdr.nlmsg_flags = flags;
    hdr.nlmsg_seq = seq;
    put(&hdr, sizeof(hdr));
  }
  ~MessageWriter() {
    const auto length = static_cast<uint32_t>(out_.size() - start_);
    std::memcpy(out_.data() + start_ + offsetof(nlmsghdr, nlmsg_len), &length, sizeof(length));
  }
  MessageWriter(const MessageWriter&) = delete;
  MessageWriter& operator=(const MessageWriter&) = delete;

  // Appends bytes, zero-padded to the next 4-byte boundary.
  void put(const void* data, std::size_t size) {
    const std::size_t at = out_.size();
    out_.resize(at + align4(size), 0);
    std::memcpy(out_.data() + at, data, size);
  }
  void attribute(uint16_t type, const void* data, std::size_t size) {
    rtattr attr{};
    attr.rta_len = static_cast<unsigned short>(sizeof(rtattr) + size);
    attr.rta_type = type;
    put(&attr, sizeof(attr));
    put(data, size);
  }

 private:
  std::vector<uint8_t>& out_;
  std::size_t start_ = 0;
};

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

std::string set_receive_buffer(int fd) {
  const int bytes = kSocketBufferBytes;
  // SO_RCVBUFFORCE passes net.core.rmem_max (root only); SO_RCVBUF is capped by it.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) == 0) return "";
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) == 0) return "";
  return errno_text("setsockopt(SO_RCVBUF)");
}

std::string bind_and_subscribe(int fd, bool subscribe) {
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;  // nl_pid 0: the kernel picks our port id
  if (bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0)
    return errno_text("bind(AF_NETLINK)");
  if (!subscribe) return "";
  const int group = RTNLGRP_NEIGH;
  if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) != 0)
    return errno_text("setsockopt(NETLINK_ADD_MEMBERSHIP, RTNLGRP_NEIGH)");
  return "";
}

void wait_readable(int fd, int wait_ms) {
  pollfd p{fd, POLLIN, 0};
  // An EINTR or a timeout needs no handling: the reads that follow find what there is.
  (void)poll(&p, 1, wait_ms);
}

void note_failure(NeighSocket::Drained& drained, const std::string& what) {
  if (drained.failure.empty()) drained.failure = what;  // the first says most
}

void absorb(const uint8_t* buf, std::size_t len, const std::function<void(const BridgeNeigh&)>& fn,
            NeighSocket::Drained& drained) {
  const ParseOutcome outcome = parse_buffer(buf, len, fn);
  drained.acks += outcome.acks;
  switch (outcome.result.status) {
    case NetlinkStatus::kDone:
      drained.dump_done = true;
      break;
    case NetlinkStatus::kError:
      drained.errors.emplace_back(outcome.result.error_seq, outcome.result.error);
      break;
    case NetlinkStatus::kMalformed:
      note_failure(drained, "malformed netlink datagram of " + std::to_string(len) + " bytes");
      break;
    case NetlinkStatus::kMore:
      break;
  }
}

}  // namespace

NetlinkParse parse_bridge_neighs(const uint8_t* buf, std::size_t len,
                                 const std::function<void(const BridgeNeigh&)>& fn) {
  return parse_buffer(buf, len, fn).result;
}

void append_bridge_neigh_request(bool add, int ifindex, uint64_t mac, uint16_t state, uint32_t seq,
                                 std::vector<uint8_t>& out) {
  const uint16_t type = add ? RTM_NEWNEIGH : RTM_DELNEIGH;
  uint16_t flags = NLM_F_REQUEST | NLM_F_ACK;
  if (add) flags |= NLM_F_CREATE | NLM_F_REPLACE;
  MessageWriter message(out, type, flags, seq);
  ndmsg ndm{};
  ndm.ndm_family = AF_BRIDGE;
  ndm.ndm_ifindex = ifindex;
  ndm.ndm_state = state;
  // NTF_MASTER: the entry goes to the bridge the port is in, not to the port's own FDB (self).
  ndm.ndm_flags = NTF_MASTER;
  message.put(&ndm, sizeof(ndm));
  uint8_t lladdr[kMacLen];
  for (std::size_t i = 0; i < kMacLen; ++i)
    lladdr[i] = static_cast<uint8_t>(mac >> (8 * (kMacLen - 1 - i)));
  message.attribute(NDA_LLADDR, lladdr, sizeof(lladdr));
}

void append_bridge_neigh_dump(uint32_t seq, std::vector<uint8_t>& out) {
  MessageWriter message(out, RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, seq);
  // Exactly an ndmsg and no attribute: the kernel's (non-strict) FDB dump then filters nothing.
  ndmsg ndm{};
  ndm.ndm_family = AF_BRIDGE;
  message.put(&ndm, sizeof(ndm));
}

NeighSocket::~NeighSocket() {
  if (fd_ >= 0) close(fd_);
}

std::string NeighSocket::open(bool subscribe) {
  if (fd_ >= 0) return "the netlink socket is already open";
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0) return errno_text("socket(AF_NETLINK, NETLINK_ROUTE)");
  std::string error = set_receive_buffer(fd);
  if (error.empty()) error = bind_and_subscribe(fd, subscribe);
  if (!error.empty()) {
    close(fd);
    return error;
  }
  fd_ = fd;
  return "";
}

std::string NeighSocket::send(const std::vector<uint8_t>& msgs) {
  if (fd_ < 0) return "the netlink socket is not open";
  if (msgs.empty()) return "";
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = sendto(fd_, msgs.data(), msgs.size(), 0, reinterpret_cast<const sockaddr*>(&kernel),
                  sizeof(kernel));
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return errno_text("sendto(netlink)");
  if (static_cast<std::size_t>(sent) != msgs.size())
    return "sendto(netlink): " + std::to_string(sent) + " of " + std::to_string(msgs.size()) +
           " bytes sent";
  return "";
}

NeighSocket::Drained NeighSocket::drain(const std::function<void(const BridgeNeigh&)>& fn,
                                        int wait_ms) {
  Drained drained;
  if (fd_ < 0) {
    drained.failure = "the netlink socket is not open";
    return drained;
  }
  if (wait_ms > 0) wait_readable(fd_, wait_ms);
  std::vector<uint8_t> buffer(kReceiveBufferSize);
  for (;;) {
    sockaddr_nl from{};
    socklen_t from_len = sizeof(from);
    // MSG_TRUNC: the datagram's real length, so that one larger than the buffer is noticed.
    const ssize_t n = recvfrom(fd_, buffer.data(), buffer.size(), MSG_TRUNC | MSG_DONTWAIT,
                               reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {  // reported once; what is still queued follows
        drained.overrun = true;
        continue;
      }
      note_failure(drained, errno_text("recv(netlink)"));
      break;
    }
    if (from.nl_pid != 0) continue;  // only the kernel speaks for the FDB
    if (static_cast<std::size_t>(n) > buffer.size()) {
      note_failure(drained, "truncated netlink datagram of " + std::to_string(n) + " bytes");
      continue;
    }
    absorb(buffer.data(), static_cast<std::size_t>(n), fn, drained);
  }
  return drained;
}

std::string mac_text(uint64_t mac) {
  char text[18];
  std::snprintf(
      text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x",
      static_cast<unsigned>((mac >> 40) & 0xff), static_cast<unsigned>((mac >> 32) & 0xff),
      static_cast<unsigned>((mac >> 24) & 0xff), static_cast<unsigned>((mac >> 16) & 0xff),
      static_cast<unsigned>((mac >> 8) & 0xff), static_cast<unsigned>(mac & 0xff));
  return text;
}

}  // namespace vs
