#include "switch/tunnel_io.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sock_diag.h>
#include <netinet/udp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "switch/tunnel.hpp"

namespace vs {
namespace {

constexpr unsigned kMaxRxSegs = 33;       // a 64 KB inner frame in 2 KB mbufs, and one more
constexpr unsigned kMaxTxMessages = 256;  // datagrams per sendmmsg
// Their iovecs together: a flood of a whole gathered chain (header + kMaxFrameSegs) to every
// VTEP fits in one batch.
constexpr unsigned kMaxTxIovecs = 4096;
constexpr std::size_t kScratchBytes = 256 * 1024;  // finished (segmented) frames of one batch
constexpr unsigned kMaxFrameSegs = 64;             // an mbuf chain's segments, gathered
constexpr int kSocketBufferBytes = 4 * 1024 * 1024;
// UDP GSO (UDP_SEGMENT): datagrams per send (the kernel's UDP_MAX_SEGMENTS, 64 before 6.x) and
// the payload of one send (an IP datagram's 64 KB less the headers).
constexpr unsigned kMaxGsoSegments = 64;
constexpr uint32_t kMaxGsoPayload = 65535 - 20 - 8;

void set_buffer(int fd, int force_opt, int opt) {
  const int bytes = kSocketBufferBytes;
  // The FORCE variants pass net.core.[rw]mem_max, with CAP_NET_ADMIN; without it, the limit.
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)) != 0)
    setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
}

// A worker's socket of the tunnel: SO_REUSEPORT with the other workers' sockets, never
// fragmenting (IP_PMTUDISC_DO), non-blocking. -1 and errno on failure.
int open_socket(const TunnelEntry& t) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  const int pmtu = IP_PMTUDISC_DO;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(t.udp_port);
  addr.sin_addr.s_addr = t.local_addr;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
      setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu)) != 0 ||
      bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF);
  set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF);
  return fd;
}

DropReason send_error_reason(int err, bool gso) {
  // A GSO message whose segments no longer fit the path MTU fails with EINVAL.
  if (err == EMSGSIZE || (gso && err == EINVAL)) return DropReason::kVxlanOversize;
  if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) return DropReason::kTxFull;
  return DropReason::kVxlanSendFailed;
}

OffloadRequest offload_of(const rte_mbuf* m) {
  OffloadRequest r;
  r.tso = m->ol_flags & RTE_MBUF_F_TX_TCP_SEG;
  const uint64_t l4 = m->ol_flags & RTE_MBUF_F_TX_L4_MASK;
  r.l4_csum_partial = !r.tso && (l4 == RTE_MBUF_F_TX_TCP_CKSUM || l4 == RTE_MBUF_F_TX_UDP_CKSUM);
  r.l2_len = static_cast<uint16_t>(m->l2_len);
  r.l3_len = static_cast<uint16_t>(m->l3_len);
  r.l4_len = static_cast<uint16_t>(m->l4_len);
  r.mss = static_cast<uint16_t>(m->tso_segsz);
  return r;
}

}  // namespace

struct TunnelIo::Port {
  uint16_t port_id = 0;
  char name[kPortNameSize] = {};
  TunnelEntry tunnel{};
  // The remote VTEPs by slot (FdbSlot::vtep - 1; 0 = a free slot) and the flood list: the static
  // remotes, or a copy of the port's VtepSet when EVPN feeds it (refreshed when its seq moves).
  uint32_t vteps[kMaxVteps] = {};
  uint32_t flood_list[kMaxVteps] = {};
  unsigned nb_flood = 0;
  const VtepSet* fed = nullptr;
  uint32_t fed_seq = 1;  // odd: never a published seq, so the first refresh reads the set
  uint16_t mtu = 0;      // the inner frames' L3 MTU (PortEntry::mtu)
  int fd = -1;
  uint8_t header[kVxlanHeaderLen];  // this port's VXLAN header, sent before every inner frame
  bool send_error_logged = false;
  // Receive: each of a burst's messages has its header scratch and its posted mbufs.
  unsigned segs_per_msg = 1;
  rte_mbuf* posted[kBurstSize][kMaxRxSegs] = {};
  uint8_t rx_header[kBurstSize][kVxlanHeaderLen];
  sockaddr_in rx_from[kBurstSize];
  uint32_t overflows = 0;  // the socket's drops (SK_MEMINFO_DROPS) counted so far

  // Send: one batch of datagrams, built then handed to sendmmsg.
  mmsghdr msgs[kMaxTxMessages];
  iovec iov[kMaxTxIovecs];
  sockaddr_in to[kMaxTxMessages];
  uint32_t inner_len[kMaxTxMessages];  // the inner frames' bytes of each message
  uint16_t datagrams[kMaxTxMessages];  // the datagrams each message is (UDP GSO: several)
  alignas(cmsghdr) uint8_t control[kMaxTxMessages][CMSG_SPACE(sizeof(uint16_t))];
  unsigned nb_msgs = 0, nb_iov = 0;
  uint8_t scratch[kScratchBytes];
  std::size_t scratch_used = 0;
  rte_mbuf* held[kBurstSize];  // sent zero-copy: freed once the batch is sent
  unsigned nb_held = 0;

  ~Port() {
    for (auto& msg : posted)
      for (rte_mbuf*& m : msg)
        if (m) rte_pktmbuf_free(m);
    if (fd >= 0) close(fd);
  }
  int16_t vtep_of(uint32_t addr) const {
    for (int i = 0; i < kMaxVteps; ++i)
      if (vteps[i] == addr && addr != 0) return static_cast<int16_t>(i + 1);
    return 0;
  }
  void set_vteps(const uint32_t (&addrs)[kMaxVteps], uint32_t flood) {
    nb_flood = 0;
    for (int i = 0; i < kMaxVteps; ++i) {
      vteps[i] = addrs[i];
      if (addrs[i] != 0 && (flood >> i & 1)) flood_list[nb_flood++] = addrs[i];
    }
  }
  // An EVPN-fed port: takes the VTEPs the FDB service published since the last look.
  void refresh() {
    uint32_t addrs[kMaxVteps], flood;
    if (fed != nullptr && vtep_set_read(*fed, fed_seq, addrs, flood)) set_vteps(addrs, flood);
  }
};

TunnelIo::TunnelIo(WorkerCounterBlock& counters, rte_mempool* pool, int worker_id,
                   const VtepTable* vteps)
    : counters_(counters), pool_(pool), worker_id_(worker_id), vteps_(vteps) {}

TunnelIo::~TunnelIo() = default;

TunnelIo::Port* TunnelIo::find(uint16_t port_id) const {
  for (const auto& p : ports_)
    if (p->port_id == port_id) return p.get();
  return nullptr;
}

int TunnelIo::fd(uint16_t port_id) const {
  const Port* p = find(port_id);
  return p ? p->fd : -1;
}

void TunnelIo::sync(const TopologyTable& table) {
  count_drops();  // first: the ports moved to the new list below leave null entries behind
  std::vector<std::unique_ptr<Port>> next;
  const unsigned room = rte_pktmbuf_data_room_size(pool_) - RTE_PKTMBUF_HEADROOM;
  for (uint16_t i = 0; i < table.nb_ports; ++i) {
    const PortEntry& e = table.ports[i];
    if (!is_tunnel(e)) continue;
    const TunnelEntry& t = table.tunnels[i];
    auto same = std::find_if(ports_.begin(), ports_.end(), [&](const auto& p) {
      return p && p->port_id == e.dpdk_port_id && p->mtu == e.mtu &&
             std::memcmp(&p->tunnel, &t, sizeof(t)) == 0;
    });
    if (same != ports_.end()) {
      next.push_back(std::move(*same));
      continue;
    }
    auto p = std::make_unique<Port>();
    p->port_id = e.dpdk_port_id;
    std::memcpy(p->name, e.name, sizeof(p->name));
    p->tunnel = t;
    if (t.evpn && vteps_ != nullptr) {
      p->fed = &vtep_set(*vteps_, e.dpdk_port_id);
      p->refresh();
    } else {
      uint32_t addrs[kMaxVteps] = {};
      for (unsigned r = 0; r < t.nb_remotes && r < kMaxVteps; ++r) addrs[r] = t.remotes[r];
      p->set_vteps(addrs, t.nb_remotes >= 32 ? ~0u : (1u << t.nb_remotes) - 1);
    }
    p->mtu = e.mtu;
    vxlan_write(p->header, t.vni);
    // The largest inner frame: the MTU, its Ethernet header and a VLAN tag.
    p->segs_per_msg = std::min<unsigned>(kMaxRxSegs, (e.mtu + 18u + room - 1) / room);
    p->fd = open_socket(t);
    if (p->fd < 0)
      std::fprintf(stderr,
                   "vswitch-worker %d: port %s: cannot open its VXLAN socket on %s:%u: %s (is "
                   "another socket bound there, e.g. a kernel vxlan device with that dstport?); "
                   "the port receives nothing and counts what it should send as "
                   "vxlan_send_failed\n",
                   worker_id_, p->name, ipv4_text(t.local_addr).c_str(), t.udp_port,
                   std::strerror(errno));
    next.push_back(std::move(p));
  }
  ports_ = std::move(next);  // the ports left behind close their sockets
}

// The datagrams each socket's kernel side dropped since the last call: its receive buffer was
// full (the worker did not read fast enough, or was stopped). SO_MEMINFO, not SO_RXQ_OVFL: that
// one reports the count only with a datagram queued after the drops, which may never come.
void TunnelIo::count_drops() {
  for (const auto& p : ports_) {
    uint32_t info[SK_MEMINFO_VARS] = {};
    socklen_t len = sizeof(info);
    if (p->fd < 0 || getsockopt(p->fd, SOL_SOCKET, SO_MEMINFO, info, &len) != 0 ||
        len <= SK_MEMINFO_DROPS * sizeof(uint32_t))
      continue;
    const uint32_t total = info[SK_MEMINFO_DROPS];
    if (total != p->overflows)
      counters_.ports[p->port_id].drops[static_cast<int>(DropReason::kVxlanRxOverflow)].add(
          total - p->overflows);
    p->overflows = total;
  }
}

uint16_t TunnelIo::receive(uint16_t port_id, rte_mbuf** pkts, uint16_t* vteps, uint16_t max) {
  Port* p = find(port_id);
  if (p == nullptr || p->fd < 0) return 0;
  p->refresh();
  const unsigned want = std::min<unsigned>(max, kBurstSize);
  mmsghdr msgs[kBurstSize];
  iovec iov[kBurstSize][1 + kMaxRxSegs];
  unsigned ready = 0;
  for (; ready < want; ++ready) {  // post buffers for each message, as far as the pool allows
    bool full = true;
    for (unsigned s = 0; s < p->segs_per_msg && full; ++s) {
      if (p->posted[ready][s] == nullptr) p->posted[ready][s] = rte_pktmbuf_alloc(pool_);
      full = p->posted[ready][s] != nullptr;
    }
    if (!full) break;
    iov[ready][0] = {p->rx_header[ready], kVxlanHeaderLen};
    for (unsigned s = 0; s < p->segs_per_msg; ++s) {
      rte_mbuf* m = p->posted[ready][s];
      iov[ready][1 + s] = {rte_pktmbuf_mtod(m, void*), rte_pktmbuf_tailroom(m)};
    }
    msghdr& h = msgs[ready].msg_hdr;
    h = msghdr{};
    h.msg_name = &p->rx_from[ready];
    h.msg_namelen = sizeof(sockaddr_in);
    h.msg_iov = iov[ready];
    h.msg_iovlen = 1 + p->segs_per_msg;
  }
  // An empty pool: the datagrams wait in the socket (what overflows it is counted below).
  if (ready == 0) return 0;
  const int got = recvmmsg(p->fd, msgs, ready, MSG_DONTWAIT, nullptr);
  uint16_t n = 0;
  for (int i = 0; i < got; ++i) {
    const uint32_t len = msgs[i].msg_len;
    DropReason why = DropReason::kCount;
    uint32_t vni = 0;
    int16_t vtep = 0;
    if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
      why = DropReason::kMtuExceeded;  // an inner frame larger than the port's MTU
    else if (vxlan_parse(p->rx_header[i], len, vni) != VxlanCheck::kOk)
      why = DropReason::kVxlanMalformed;
    else if (vni != p->tunnel.vni)
      why = DropReason::kVxlanUnknownVni;
    else if ((vtep = p->vtep_of(p->rx_from[i].sin_addr.s_addr)) == 0)
      why = DropReason::kVxlanUnknownVtep;
    if (why != DropReason::kCount) {  // its buffers stay posted for the next datagram
      counters_.ports[port_id].drops[static_cast<int>(why)].add(1);
      continue;
    }
    // Chain the buffers the inner frame filled; the others stay posted.
    uint32_t left = len - static_cast<uint32_t>(kVxlanHeaderLen);
    rte_mbuf* head = p->posted[i][0];
    rte_mbuf* last = nullptr;
    uint16_t segs = 0;
    for (unsigned s = 0; s < p->segs_per_msg && left > 0; ++s) {
      rte_mbuf* m = p->posted[i][s];
      p->posted[i][s] = nullptr;
      m->data_len = static_cast<uint16_t>(std::min<uint32_t>(left, rte_pktmbuf_tailroom(m)));
      left -= m->data_len;
      if (last) last->next = m;
      last = m;
      ++segs;
    }
    head->nb_segs = segs;
    head->pkt_len = len - static_cast<uint32_t>(kVxlanHeaderLen);
    head->port = port_id;
    head->ol_flags = 0;  // checksums complete (the sender finished them), nothing to offload
    pkts[n] = head;
    vteps[n] = static_cast<uint16_t>(vtep);
    ++n;
  }
  return coalesce(pkts, vteps, n);
}

namespace {

// A frame that may start or extend a run: one segment, a TCP segment as tcp_segment_of says.
bool as_segment(rte_mbuf* m, TcpSegment& seg) {
  return m->nb_segs == 1 && tcp_segment_of(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, seg);
}

}  // namespace

// Software GRO over one burst (switch/tunnel.hpp): each run of a flow's segments from one VTEP
// becomes one mbuf chain, the first frame's headers rewritten and the others' stripped, flagged
// as an LRO super-frame with a partial checksum, as net_rtap flags what the kernel coalesced:
// the forwarder then asks the egress TAP for GSO, and the VM's kernel takes it whole.
uint16_t TunnelIo::coalesce(rte_mbuf** pkts, uint16_t* vteps, uint16_t n) {
  uint16_t out = 0;
  for (uint16_t i = 0; i < n;) {
    rte_mbuf* head = pkts[i];
    TcpSegment first, last, next;
    uint16_t j = i + 1;
    uint32_t payload = 0;
    if (as_segment(head, first)) {
      const uint8_t* first_hdr = rte_pktmbuf_mtod(head, const uint8_t*);
      last = first;
      payload = first.payload;
      while (j < n && vteps[j] == vteps[i] && as_segment(pkts[j], next) &&
             tcp_segment_continues(first_hdr, first, payload, last,
                                   rte_pktmbuf_mtod(pkts[j], const uint8_t*), next)) {
        payload += next.payload;
        last = next;
        ++j;
      }
    }
    if (j - i >= 2) {
      tcp_merge_headers(rte_pktmbuf_mtod(head, uint8_t*), first, payload, last.psh);
      for (uint16_t k = i + 1; k < j; ++k) {
        rte_pktmbuf_adj(pkts[k], static_cast<uint16_t>(first.hdr_len));
        rte_pktmbuf_chain(head, pkts[k]);  // at most a burst: within kMaxSegs of net_rtap
      }
      head->ol_flags = RTE_MBUF_F_RX_LRO | RTE_MBUF_F_RX_L4_CKSUM_NONE;
      head->tso_segsz = static_cast<uint16_t>(first.payload);
    }
    pkts[out] = head;
    vteps[out] = vteps[i];
    ++out;
    i = j;
  }
  return out;
}

namespace {

// Adds one message to the port's batch: the iovecs given, to `addr`; with `gso_size`, a run of
// `datagrams` datagrams of that size (the last one may be shorter) that the kernel cuts apart.
// False if the batch has no room for it (the caller sends the batch and tries again).
template <class Port>
bool add_message(Port& p, uint32_t addr, const iovec* iov, unsigned nb_iov, uint32_t inner_len,
                 uint16_t gso_size = 0, uint16_t datagrams = 1) {
  if (p.nb_msgs == kMaxTxMessages || p.nb_iov + nb_iov > kMaxTxIovecs) return false;
  sockaddr_in& to = p.to[p.nb_msgs];
  to = sockaddr_in{};
  to.sin_family = AF_INET;
  to.sin_port = htons(p.tunnel.udp_port);
  to.sin_addr.s_addr = addr;
  std::copy(iov, iov + nb_iov, p.iov + p.nb_iov);
  msghdr& h = p.msgs[p.nb_msgs].msg_hdr;
  h = msghdr{};
  h.msg_name = &to;
  h.msg_namelen = sizeof(to);
  h.msg_iov = p.iov + p.nb_iov;
  h.msg_iovlen = nb_iov;
  p.inner_len[p.nb_msgs] = inner_len;
  p.datagrams[p.nb_msgs] = datagrams;
  if (gso_size != 0) {
    h.msg_control = p.control[p.nb_msgs];
    h.msg_controllen = sizeof(p.control[p.nb_msgs]);
    cmsghdr* c = CMSG_FIRSTHDR(&h);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    std::memcpy(CMSG_DATA(c), &gso_size, sizeof(gso_size));
  }
  p.nb_iov += nb_iov;
  ++p.nb_msgs;
  return true;
}

}  // namespace

// Sends the batch: every datagram is sent or counted by the reason the underlay gave.
void TunnelIo::send_batch(Port& p, uint16_t& sent, uint64_t& bytes) {
  unsigned off = 0;
  while (off < p.nb_msgs) {
    const int r = sendmmsg(p.fd, p.msgs + off, p.nb_msgs - off, MSG_DONTWAIT);
    if (r > 0) {
      for (unsigned k = off; k < off + static_cast<unsigned>(r); ++k) {
        bytes += p.inner_len[k];
        sent = static_cast<uint16_t>(sent + p.datagrams[k]);
      }
      off += static_cast<unsigned>(r);
      continue;
    }
    const int err = errno;
    if (err == EINTR) continue;
    const bool gso = p.msgs[off].msg_hdr.msg_controllen != 0;
    counters_.ports[p.port_id].drops[static_cast<int>(send_error_reason(err, gso))].add(
        p.datagrams[off]);
    if (!p.send_error_logged && err != EAGAIN && err != EWOULDBLOCK) {
      p.send_error_logged = true;  // once per socket: the counter says how often
      std::fprintf(
          stderr, "vswitch-worker %d: port %s: the underlay refused a datagram to %s: %s\n",
          worker_id_, p.name, ipv4_text(p.to[off].sin_addr.s_addr).c_str(), std::strerror(err));
    }
    ++off;
  }
  if (p.nb_held) rte_pktmbuf_free_bulk(p.held, p.nb_held);
  p.nb_msgs = p.nb_iov = p.nb_held = 0;
  p.scratch_used = 0;
}

// A frame nothing has to finish: its segments go out as they are, behind the port's header.
bool TunnelIo::add_zero_copy(Port& p, rte_mbuf* m, const uint32_t* dests, unsigned nb_dests) {
  iovec iov[1 + kMaxFrameSegs];
  unsigned n = 0;
  iov[n++] = {p.header, kVxlanHeaderLen};
  for (rte_mbuf* s = m; s != nullptr; s = s->next) {
    if (n == 1 + kMaxFrameSegs) return false;
    iov[n++] = {rte_pktmbuf_mtod(s, void*), s->data_len};
  }
  if (p.nb_msgs + nb_dests > kMaxTxMessages || p.nb_iov + n * nb_dests > kMaxTxIovecs ||
      p.nb_held == kBurstSize)
    return false;
  for (unsigned d = 0; d < nb_dests; ++d) add_message(p, dests[d], iov, n, rte_pktmbuf_pkt_len(m));
  p.held[p.nb_held++] = m;
  return true;
}

namespace {

// Frames of the scratch that go out as one UDP GSO message: contiguous, all `seg` bytes but a
// shorter last one (TSO's segments are), within the kernel's limits.
struct GsoRun {
  uint32_t offset = 0, len = 0;
  uint16_t seg = 0, count = 0;
  bool closed = false;  // a shorter frame ended it
};

unsigned gso_runs(const TunnelFrame* frames, unsigned nframes, GsoRun* runs) {
  unsigned n = 0;
  for (unsigned f = 0; f < nframes; ++f) {
    const TunnelFrame& fr = frames[f];
    GsoRun* last = n ? &runs[n - 1] : nullptr;
    if (last && !last->closed && fr.offset == last->offset + last->len && fr.len <= last->seg &&
        last->count < kMaxGsoSegments && last->len + fr.len <= kMaxGsoPayload) {
      last->len += fr.len;
      ++last->count;
      last->closed = fr.len < last->seg;
      continue;
    }
    runs[n++] = {fr.offset, fr.len, static_cast<uint16_t>(fr.len), 1, false};
  }
  return n;
}

}  // namespace

// A TSO super-frame or a partial checksum: finished into the scratch, then sent from there, a
// TSO frame's segments as UDP GSO messages: the kernel cuts them apart as late as it can (over a
// veth, not at all: the receiving stack does), so its stack runs once per 64 KB, not per 1.5 KB.
FinishResult TunnelIo::add_finished(Port& p, rte_mbuf* m, const uint32_t* dests,
                                    unsigned nb_dests) {
  FrameSegment segs[kMaxFrameSegs];
  unsigned nsegs = 0;
  for (rte_mbuf* s = m; s != nullptr; s = s->next) {
    if (nsegs == kMaxFrameSegs) return FinishResult::kMalformed;
    segs[nsegs++] = {rte_pktmbuf_mtod(s, const uint8_t*), s->data_len};
  }
  TunnelFrame frames[kMaxTxMessages];
  const unsigned max_frames = (kMaxTxMessages - p.nb_msgs) / nb_dests;
  unsigned nframes = 0;
  const FinishResult r =
      tunnel_finish(segs, nsegs, offload_of(m), p.tunnel.vni, p.mtu, p.scratch + p.scratch_used,
                    kScratchBytes - p.scratch_used, frames,
                    std::min<unsigned>(max_frames, kMaxTxMessages), nframes);
  if (r != FinishResult::kOk) return r;
  GsoRun runs[kMaxTxMessages];
  const unsigned nruns = gso_runs(frames, nframes, runs);
  if (p.nb_msgs + nruns * nb_dests > kMaxTxMessages || p.nb_iov + nruns * nb_dests > kMaxTxIovecs)
    return FinishResult::kNoRoom;
  for (unsigned k = 0; k < nruns; ++k) {
    const GsoRun& run = runs[k];
    const iovec iov{p.scratch + p.scratch_used + run.offset, run.len};
    const uint16_t gso = run.count > 1 ? run.seg : 0;
    for (unsigned d = 0; d < nb_dests; ++d)
      add_message(p, dests[d], &iov, 1, run.len - run.count * uint32_t{kVxlanHeaderLen}, gso,
                  run.count);
  }
  if (nframes) p.scratch_used += frames[nframes - 1].offset + frames[nframes - 1].len;
  rte_pktmbuf_free(m);
  return FinishResult::kOk;
}

uint16_t TunnelIo::send(uint16_t port_id, rte_mbuf** pkts, const uint16_t* vteps, uint16_t count,
                        uint64_t& bytes) {
  bytes = 0;
  uint16_t sent = 0;
  PortCounters& pc = counters_.ports[port_id];
  const auto drop = [&pc](DropReason why, rte_mbuf* m) {
    pc.drops[static_cast<int>(why)].add(1);
    rte_pktmbuf_free(m);
  };
  Port* p = find(port_id);
  if (p != nullptr) p->refresh();  // after the FDB lookups that named the VTEPs (docs: vtep.hpp)
  for (uint16_t i = 0; i < count; ++i) {
    rte_mbuf* m = pkts[i];
    if (p == nullptr || p->fd < 0) {
      drop(DropReason::kVxlanSendFailed, m);
      continue;
    }
    // The remote VTEP the FDB named, or every one (flood: head-end replication).
    uint32_t one = 0;
    const uint32_t* dests = p->flood_list;
    unsigned nb_dests = p->nb_flood;
    if (vteps[i] != 0) {
      // A slot the FDB named but the VTEPs no longer have (the port's remotes changed since).
      if (vteps[i] > kMaxVteps || p->vteps[vteps[i] - 1] == 0) {
        drop(DropReason::kVxlanNoVtep, m);
        continue;
      }
      one = p->vteps[vteps[i] - 1];
      dests = &one;
      nb_dests = 1;
    }
    if (nb_dests == 0) {
      drop(DropReason::kVxlanNoVtep, m);
      continue;
    }
    const bool finish = tunnel_needs_finish(offload_of(m));
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!finish) {
        if (add_zero_copy(*p, m, dests, nb_dests)) break;
        if (attempt == 1) drop(DropReason::kVxlanSendFailed, m);  // more segments than we gather
      } else {
        const FinishResult r = add_finished(*p, m, dests, nb_dests);
        if (r == FinishResult::kOk) break;
        if (r == FinishResult::kTooBig) {
          drop(DropReason::kMtuExceeded, m);
          break;
        }
        if (r == FinishResult::kMalformed || attempt == 1) {
          drop(DropReason::kVxlanMalformed, m);
          break;
        }
      }
      send_batch(*p, sent, bytes);  // no room left in the batch: send it, then try again
    }
  }
  if (p != nullptr && p->nb_msgs) send_batch(*p, sent, bytes);
  return sent;
}

}  // namespace vs
