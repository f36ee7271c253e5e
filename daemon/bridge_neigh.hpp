// The netlink side of the EVPN feed (docs/evpn.md): AF_BRIDGE neighbour messages, that is the
// kernel bridge FDB and a VXLAN device's FDB, as zebra writes them on a shadow VXLAN device
// (remote MACs with NDA_DST = the remote VTEP; all-zero MACs = the VNI's flood list) and as we
// write local MACs onto the shadow bridge for zebra to advertise.
//
// - parse_bridge_neighs decodes one datagram read from a NETLINK_ROUTE socket. It is fed bytes
//   from the kernel only, but is written (and fuzzed) as if they were hostile: no read outside the
//   buffer, no unaligned access.
// - append_bridge_neigh_request / append_bridge_neigh_dump encode requests into a byte vector,
//   so that a batch of them goes to the kernel in one sendto.
// - NeighSocket is the socket itself. It is owned and used by one thread (the FDB service's feed);
//   it stays in the network namespace it was opened in, whichever thread uses it afterwards.
//
// No DPDK, no CAF: libc, Linux headers and the STL only, so the unit tests and the fuzz target
// link it alone.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace vs {

// One AF_BRIDGE neighbour (FDB entry) message: RTM_NEWNEIGH or RTM_DELNEIGH.
struct BridgeNeigh {
  bool added = false;  // RTM_NEWNEIGH: true; RTM_DELNEIGH: false
  int ifindex = 0;     // ndm_ifindex
  uint64_t mac =
      0;  // NDA_LLADDR folded big-endian in the low 48 bits: 02:00:00:00:00:01 -> 0x020000000001
  uint16_t state = 0;     // ndm_state (NUD_*)
  uint8_t flags = 0;      // ndm_flags (NTF_*)
  bool has_dst = false;   // NDA_DST present and 4 bytes (IPv4)
  uint32_t dst = 0;       // NDA_DST, network byte order
  bool has_vlan = false;  // NDA_VLAN present (and 2 bytes)
  uint16_t vlan = 0;
  bool has_vni = false;  // NDA_VNI present (and 4 bytes)
  uint32_t vni = 0;
  bool has_master = false;  // NDA_MASTER present (and 4 bytes)
  int master = 0;
};

enum class NetlinkStatus { kMore, kDone, kError, kMalformed };

struct NetlinkParse {
  // kMore: the buffer ended after a whole message, with no DONE and no error.
  // kDone: NLMSG_DONE seen.
  // kError: an NLMSG_ERROR with error != 0 seen (error, error_seq set).
  // kMalformed: a message length that runs past the buffer or is shorter than its header, or an
  //   NLMSG_ERROR too short to hold its error code (parsing stops there).
  NetlinkStatus status = NetlinkStatus::kMore;
  int error = 0;               // the (positive) errno of the NLMSG_ERROR
  uint32_t error_seq = 0;      // nlmsg_seq of the request that failed
  std::size_t neighbours = 0;  // fn calls made
};

// Parses one buffer as read from a NETLINK_ROUTE socket (several messages, NLMSG_ALIGN'ed). Calls
// fn for every RTM_NEWNEIGH/RTM_DELNEIGH whose ndm_family is AF_BRIDGE and whose NDA_LLADDR is
// exactly 6 bytes; skips every other message, every unknown attribute, and an NLMSG_ERROR with
// error 0 (an ACK). Stops at NLMSG_DONE, at the first NLMSG_ERROR with error != 0 (reporting it),
// or at malformed framing. A neighbour message whose own contents are bad (shorter than its
// ndmsg, or an attribute whose rta_len is below 4 or runs past the message) is skipped whole and
// parsing goes on with the next message: its framing, which says where the next one starts, is
// sound. An NDA_VLAN, NDA_VNI or NDA_MASTER of the wrong size is ignored (as if absent); a
// repeated NDA_LLADDR or NDA_DST replaces the earlier one (an NDA_DST of 16 bytes after one of 4:
// has_dst false, dst 0).
NetlinkParse parse_bridge_neighs(const uint8_t* buf, std::size_t len,
                                 const std::function<void(const BridgeNeigh&)>& fn);

// Appends one request: RTM_NEWNEIGH (NLM_F_REQUEST|NLM_F_ACK|NLM_F_CREATE|NLM_F_REPLACE) when
// add, else RTM_DELNEIGH (NLM_F_REQUEST|NLM_F_ACK); ndm_family AF_BRIDGE, ndm_ifindex, ndm_flags
// NTF_MASTER, ndm_state `state` (for a delete too), NDA_LLADDR = mac; seq as nlmsg_seq.
void append_bridge_neigh_request(bool add, int ifindex, uint64_t mac, uint16_t state, uint32_t seq,
                                 std::vector<uint8_t>& out);

// Appends an RTM_GETNEIGH dump request (NLM_F_REQUEST|NLM_F_DUMP) for AF_BRIDGE: every FDB entry
// of the namespace, bridge ports' and VXLAN devices' alike (callers filter by ifindex).
void append_bridge_neigh_dump(uint32_t seq, std::vector<uint8_t>& out);

// A NETLINK_ROUTE socket for the above, owned by one thread. SOCK_CLOEXEC|SOCK_NONBLOCK.
class NeighSocket {
 public:
  NeighSocket() = default;
  ~NeighSocket();  // closes
  NeighSocket(const NeighSocket&) = delete;
  NeighSocket& operator=(const NeighSocket&) = delete;

  // Opens the socket in the caller's network namespace; with subscribe, joins RTNLGRP_NEIGH.
  // Receive buffer: SO_RCVBUFFORCE 8 MB, falling back to SO_RCVBUF. "" or why not.
  std::string open(bool subscribe);
  int fd() const { return fd_; }

  // Sends the requests in `msgs` (one sendto to the kernel; the buffer may hold several
  // messages; the kernel refuses one above its send buffer, about 200 KB). "" or why not.
  std::string send(const std::vector<uint8_t>& msgs);

  struct Drained {
    bool overrun = false;    // recv failed with ENOBUFS: notifications were lost; dump again
    bool dump_done = false;  // an NLMSG_DONE was read
    std::vector<std::pair<uint32_t, int>> errors;  // (seq, errno) of every NLMSG_ERROR != 0
    std::size_t acks = 0;                          // NLMSG_ERROR with error 0 read
    std::string failure;  // a recv error other than EAGAIN/ENOBUFS/EINTR, a truncated or a
                          // malformed datagram: what happened
  };
  // Reads everything queued without blocking (recv until EAGAIN) — or, with wait_ms > 0, first
  // waits up to wait_ms for something to read — and parses it, calling fn per neighbour. Reading
  // goes on after an error message, a truncated or a malformed datagram, so that a dump's
  // NLMSG_DONE and the ACKs of the same batch are still read; only a failing recv stops it.
  Drained drain(const std::function<void(const BridgeNeigh&)>& fn, int wait_ms = 0);

 private:
  int fd_ = -1;
};

// "02:00:00:00:00:01" for 0x020000000001.
std::string mac_text(uint64_t mac);

}  // namespace vs
