#include "switch/forwarder.hpp"

#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_ring_elem.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "shm/learn.hpp"
#include "switch/policy.hpp"
#include "switch/tunnel_io.hpp"

namespace vs {
namespace {

// A MAC reported to the FDB service is not reported again for this long (same port).
constexpr uint64_t kLearnQuietNs = 20 * 1000 * 1000;

bool mac_is_broadcast(MacAddr mac) {
  return mac == 0xffffffffffffull;
}

void now(uint64_t& ns, uint32_t& s) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  s = static_cast<uint32_t>(ts.tv_sec);
}

}  // namespace

// A frame the kernel left unfinished for an offload-capable reader (a GSO super-frame from LRO,
// or a checksum it left partial) goes out with the same request, so the kernel behind the
// egress TAP finishes it: segmenting and checksumming never happen in the switch. This is what
// carries TSO from VM to VM. Only TCP/UDP over IPv4 or over IPv6 without extension headers can
// be expressed; anything else keeps no request (the kernel only leaves those two kinds).
static void request_offload_like_rx(rte_mbuf* m, const EthInfo& eth) {
  const uint64_t rx = m->ol_flags;
  const bool lro = rx & RTE_MBUF_F_RX_LRO;
  const bool partial = (rx & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_NONE;
  if (!lro && !partial) return;
  const uint32_t l2 = eth.tagged ? 18 : 14;
  uint8_t buf[60];
  uint64_t tx = 0;
  uint32_t l3 = 0;
  uint8_t proto = 0;
  if (eth.ethertype == RTE_ETHER_TYPE_IPV4) {
    const auto* ip = static_cast<const rte_ipv4_hdr*>(rte_pktmbuf_read(m, l2, 20, buf));
    if (ip == nullptr) return;
    l3 = rte_ipv4_hdr_len(ip);
    proto = ip->next_proto_id;
    tx = RTE_MBUF_F_TX_IPV4;
  } else if (eth.ethertype == RTE_ETHER_TYPE_IPV6) {
    const auto* ip = static_cast<const rte_ipv6_hdr*>(rte_pktmbuf_read(m, l2, 40, buf));
    if (ip == nullptr) return;
    l3 = 40;
    proto = ip->proto;
    tx = RTE_MBUF_F_TX_IPV6;
  } else {
    return;
  }
  if (proto == IPPROTO_TCP) {
    const auto* th = static_cast<const uint8_t*>(rte_pktmbuf_read(m, l2 + l3 + 12, 1, buf));
    if (th == nullptr) return;
    m->l4_len = static_cast<uint64_t>((*th >> 4) * 4);
    tx |= RTE_MBUF_F_TX_TCP_CKSUM | (lro ? RTE_MBUF_F_TX_TCP_SEG : 0);
  } else if (proto == IPPROTO_UDP && !lro) {
    m->l4_len = 8;
    tx |= RTE_MBUF_F_TX_UDP_CKSUM;
  } else {
    return;
  }
  m->l2_len = l2;
  m->l3_len = l3;
  m->ol_flags |= tx;  // tso_segsz came from the vnet header with RX_LRO
}

// The port's anti-spoofing policy on a frame it sent (switch/policy.hpp), on a window of its
// first bytes (no copy for a frame in one segment).
static DropReason check_policy(const WorkerPlan& plan, const PortEntry& in, rte_mbuf* m,
                               const EthInfo& eth) {
  uint8_t buf[kPolicyWindow];
  const uint32_t len = std::min<uint32_t>(kPolicyWindow, rte_pktmbuf_pkt_len(m));
  const auto* data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, len, buf));
  if (data == nullptr) return DropReason::kRunt;
  const PortPolicy& policy = plan.table->policies[plan.entry_of_port[in.dpdk_port_id]];
  return policy_check(policy, eth, data, len);
}

bool build_plan(const SharedTopology& shared, int worker_id, WorkerPlan& plan) {
  TopologyTable& table = *plan.table;
  uint64_t gen = topology_snapshot(shared, table);
  if (gen == 0) return false;
  plan.generation = gen;
  plan.tx_queue = static_cast<uint16_t>(worker_id);
  plan.rx.clear();
  plan.switches.assign(kMaxSwitches, SwitchPorts{});
  group_ports_by_switch(table, plan.switches);
  std::memset(plan.entry_of_port, 0xff, sizeof(plan.entry_of_port));
  for (uint16_t i = 0; i < table.nb_ports; ++i) {
    const PortEntry& p = table.ports[i];
    if (p.dpdk_port_id < RTE_MAX_ETHPORTS)
      plan.entry_of_port[p.dpdk_port_id] = static_cast<int16_t>(i);
    for (uint16_t q = 0; q < p.nb_rx_queues && q < kMaxQueuesPerPort; ++q) {
      if (p.rxq_owner[q] == worker_id) plan.rx.push_back({p.dpdk_port_id, q, p.switch_index});
    }
  }
  for (RxAssignment& a : plan.rx)
    a.polled = static_cast<uint16_t>(
        std::count_if(plan.rx.begin(), plan.rx.end(),
                      [&a](const RxAssignment& b) { return b.port_id == a.port_id; }));
  return true;
}

Forwarder::Forwarder(WorkerCounterBlock& counters, const FdbTable& fdb, rte_ring* learn_ring,
                     rte_mempool* pool)
    : counters_(counters), fdb_(fdb), learn_ring_(learn_ring), pool_(pool), mirrors_(counters) {}

unsigned Forwarder::poll_once(const WorkerPlan& plan) {
  unsigned total = 0;
  if (taps_ != nullptr) taps_->refresh();
  for (const RxAssignment& rx : plan.rx) {
    // The queue being polled, for the log line of a stall (the worker's loop phase is kPolling).
    counters_.phase_port.store(rx.port_id, std::memory_order_relaxed);
    counters_.phase_queue.store(rx.queue, std::memory_order_relaxed);
    rte_mbuf* pkts[kBurstSize];
    const uint16_t n = receive(rx, pkts);
    counters_.rx_bursts[rx_burst_bucket(n)].add(1);
    if (n == 0) continue;
    total += n;
    if (taps_ != nullptr && taps_->armed()) taps_->tap(rx.port_id, rx.queue, kCaptureIn, pkts, n);
    now(now_ns_, now_s_);
    const PortEntry& in = plan.table->ports[plan.entry_of_port[rx.port_id]];
    PortCounters& pc = counters_.ports[rx.port_id];
    // Counted before dispatch, which hands each frame on (tx buffer, free) or changes it (a VLAN
    // tag pushed or popped on a copy): the bytes are the frame's as the port delivered it.
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n; ++i) bytes += rte_pktmbuf_pkt_len(pkts[i]);
    pc.rx_packets.add(n);
    pc.rx_bytes.add(bytes);
    storm_queue_ = nullptr;
    if (in.storm_set != 0) {
      storm_queue_ = &storm_[rx.port_id];
      storm_queue_->configure(in.storm_set, in.storm_fps, rx.polled, in.nb_rx_queues);
    }
    Policer* police = nullptr;
    if (const auto& r = in.rate[kOutbound]; r.average_Bps != 0) {
      police = &police_out_[rx.port_id];
      if (const uint32_t share = rate_share(shares_, rx.port_id, kOutbound, worker_id_))
        police->configure(r.average_Bps, r.peak_Bps, r.burst_bytes, share, kShareOne);
      else
        police->configure(r.average_Bps, r.peak_Bps, r.burst_bytes, rx.polled, in.nb_rx_queues);
    }
    for (uint16_t i = 0; i < n; ++i) {
      ingress_vtep_ = rx_vteps_[i];
      if (police != nullptr && !police->allow(now_ns_, rte_pktmbuf_pkt_len(pkts[i])))
        drop(rx.port_id, DropReason::kPolice, pkts[i]);
      else
        dispatch(plan, in, pkts[i]);
    }
    flush(plan.tx_queue);
    // now_ns_ was read for this queue above: no second clock read per busy queue.
    if (beat_fn_ != nullptr && now_ns_ - last_beat_ns_ >= beat_period_ns_) {
      last_beat_ns_ = now_ns_;
      beat_fn_(beat_ctx_, now_ns_);
    }
  }
  return total;
}

// A burst of one rx queue: an ethdev's, or a tunnel port's socket (which also says the remote
// VTEP of each frame).
uint16_t Forwarder::receive(const RxAssignment& rx, rte_mbuf** pkts) {
  if (!is_tunnel_port_id(rx.port_id)) {
    const uint16_t n = rte_eth_rx_burst(rx.port_id, rx.queue, pkts, kBurstSize);
    std::fill(rx_vteps_, rx_vteps_ + n, 0);
    return n;
  }
  return tunnels_ ? tunnels_->receive(rx.port_id, pkts, rx_vteps_, kBurstSize) : 0;
}

// A frame of `kind` from `in` within its queue's storm-control share (or not limited).
bool Forwarder::storm_passes(const PortEntry& in, StormKind kind) {
  if (storm_queue_ == nullptr) return true;
  const int k = static_cast<int>(kind);
  if (storm_queue_->allow(k, now_ns_)) return true;
  static_assert(static_cast<int>(DropReason::kStormMulticast) ==
                    static_cast<int>(DropReason::kStormBroadcast) + 1 &&
                static_cast<int>(DropReason::kStormUnknownUnicast) ==
                    static_cast<int>(DropReason::kStormBroadcast) + 2);
  counters_.ports[in.dpdk_port_id].drops[static_cast<int>(DropReason::kStormBroadcast) + k].add(1);
  return false;
}

// A frame to `port` within this worker's share of the port's inbound rate (or not limited).
// Every worker sends to every port on its own tx queue: each gets the share vswitchd gave it,
// or until then 1/workers of the rate.
bool Forwarder::inbound_passes(const WorkerPlan& plan, uint16_t port, const rte_mbuf* m) {
  const PortEntry& out = plan.table->ports[plan.entry_of_port[port]];
  const PortEntry::Rate& r = out.rate[kInbound];
  if (r.average_Bps == 0) return true;
  Policer& p = police_in_[port];
  if (const uint32_t share = rate_share(shares_, port, kInbound, worker_id_))
    p.configure(r.average_Bps, r.peak_Bps, r.burst_bytes, share, kShareOne);
  else
    p.configure(r.average_Bps, r.peak_Bps, r.burst_bytes, 1,
                std::max<uint16_t>(1, plan.table->nb_workers));
  return p.allow(now_ns_, rte_pktmbuf_pkt_len(m));
}

void Forwarder::drop(uint16_t port, DropReason reason, rte_mbuf* m) {
  counters_.ports[port].drops[static_cast<int>(reason)].add(1);
  if (m) rte_pktmbuf_free(m);
}

void Forwarder::learn(const WorkerPlan& plan, uint16_t sw, uint16_t ingress, MacAddr src,
                      uint16_t vlan) {
  uint64_t key = fdb_key(src, vlan);
  FdbHit hit;
  bool found = fdb_lookup(fdb_, sw, key, hit);
  uint32_t aging = plan.table->fdb_aging_s[sw] ? plan.table->fdb_aging_s[sw] : 300;
  bool stale = found && (now_s_ - hit.refreshed_s) * 4 >= aging;
  const uint16_t vtep = ingress_vtep_;
  if (found && hit.port_id == ingress && hit.vtep == vtep && !stale) return;
  RecentLearn& r = recent_[(key ^ (key >> 17) ^ sw) & (kRecentSlots - 1)];
  if (r.key == key && r.sw == sw && r.port == ingress && r.vtep == vtep &&
      now_ns_ - r.at_ns < kLearnQuietNs)
    return;
  r = {key, sw, ingress, vtep, now_ns_};
  LearnEvent ev{key, sw, ingress, vtep, 0};
  if (rte_ring_sp_enqueue_elem(learn_ring_, &ev, sizeof(ev)) == 0)
    counters_.learn_events.add(1);
  else
    counters_.learn_dropped.add(1);
}

bool Forwarder::add_egress(const WorkerPlan& plan, uint16_t port, uint16_t vlan, uint32_t l3_len,
                           bool tso, bool count_refusal) {
  int16_t idx = port < RTE_MAX_ETHPORTS ? plan.entry_of_port[port] : -1;
  if (idx < 0) return false;
  const PortEntry& out = plan.table->ports[idx];
  if (is_mirror_output(out)) return false;               // it sends mirrored frames only
  if (from_isolated_ && is_isolated(out)) return false;  // isolated ports never meet
  EgressTag tag = egress_tag(out, vlan);
  if (tag == EgressTag::kRefused) {
    if (count_refusal) drop(port, DropReason::kVlanNotAllowed, nullptr);
    return false;
  }
  // TSO super-frames pass: the kernel behind the port segments them to its MTU.
  if (l3_len > out.mtu && !tso) {
    drop(port, DropReason::kMtuExceeded, nullptr);
    return false;
  }
  egress_[egress_count_++] = {port, tag == EgressTag::kTagged ? kTagged : kUntagged};
  return true;
}

void Forwarder::dispatch(const WorkerPlan& plan, const PortEntry& in, rte_mbuf* m) {
  const uint16_t ingress = in.dpdk_port_id;
  const uint16_t sw = in.switch_index;
  // A mirror's output takes no part in forwarding: what it sends is dropped, never learned.
  if (is_mirror_output(in)) return drop(ingress, DropReason::kMirrorOutput, m);
  uint8_t head[18];
  const uint8_t* hdr = static_cast<const uint8_t*>(
      rte_pktmbuf_read(m, 0, std::min<uint32_t>(sizeof(head), rte_pktmbuf_pkt_len(m)), head));
  EthInfo eth;
  DropReason bad = hdr ? parse_ethernet(hdr, rte_pktmbuf_pkt_len(m), eth) : DropReason::kRunt;
  uint16_t vlan = 0;
  if (bad == DropReason::kCount) bad = ingress_vlan(in, eth, vlan);
  if (bad != DropReason::kCount) return drop(ingress, bad, m);
  request_offload_like_rx(m, eth);
  mirrors_.begin_frame();
  mirrors_.ingress(*plan.table, sw, ingress, vlan, m);
  // After the mirrors, which show what the port sent, spoofed or not; before learning, so that a
  // spoofed MAC never moves another port's FDB entry.
  if (in.flags & kPortFiltered) {
    if (DropReason why = check_policy(plan, in, m, eth); why != DropReason::kCount)
      return drop(ingress, why, m);
  }
  from_isolated_ = is_isolated(in);

  if (!mac_is_multicast(eth.src) && !(in.flags & kPortNoLearn))
    learn(plan, sw, ingress, eth.src, vlan);

  const uint32_t l3_len = rte_pktmbuf_pkt_len(m) - (eth.tagged ? 18 : 14);
  const bool tso = m->ol_flags & RTE_MBUF_F_TX_TCP_SEG;
  egress_count_ = 0;
  uint16_t unicast_vtep = 0;  // a known unicast to a tunnel port: the remote VTEP (0: all)
  // Storm control, after learning (a storming host is still where it is): group destinations
  // here, unknown unicast once the FDB missed.
  if (mac_is_multicast(eth.dst) &&
      !storm_passes(in, mac_is_broadcast(eth.dst) ? StormKind::kBroadcast : StormKind::kMulticast))
    return rte_pktmbuf_free(m);
  FdbHit hit;
  // A MAC last seen on a port that became a mirror output is flooded for (never sent there).
  if (!mac_is_multicast(eth.dst) && fdb_lookup(fdb_, sw, fdb_key(eth.dst, vlan), hit) &&
      !mirror_output_port(*plan.table, plan.entry_of_port, hit.port_id)) {
    if (hit.port_id == ingress) return drop(ingress, DropReason::kLoopToIngress, m);
    const int16_t to = hit.port_id < RTE_MAX_ETHPORTS ? plan.entry_of_port[hit.port_id] : -1;
    if (from_isolated_ && to >= 0 && is_isolated(plan.table->ports[to]))
      return drop(ingress, DropReason::kIsolated, m);
    if (!add_egress(plan, hit.port_id, vlan, l3_len, tso, true)) return rte_pktmbuf_free(m);
    unicast_vtep = hit.vtep;
  } else {
    if (!mac_is_multicast(eth.dst) && !storm_passes(in, StormKind::kUnknownUnicast))
      return rte_pktmbuf_free(m);
    const SwitchPorts& ports = plan.switches[sw];
    for (uint16_t i = 0; i < ports.count; ++i) {
      if (ports.port_ids[i] != ingress)
        add_egress(plan, ports.port_ids[i], vlan, l3_len, tso, false);
    }
    if (egress_count_ == 0) return drop(ingress, DropReason::kNoDestination, m);
  }

  // The frame as received serves the egress ports that want its format; the other format is one
  // copy with the tag pushed or popped. Each egress holds one reference.
  const Format have = !eth.tagged ? kUntagged : (eth.vid == vlan ? kTagged : kFormats);
  uint16_t uses[kFormats] = {0, 0};
  for (uint16_t i = 0; i < egress_count_; ++i) ++uses[egress_[i].format];
  rte_mbuf* variant[kFormats] = {nullptr, nullptr};
  for (int f = 0; f < kFormats; ++f) {
    if (!uses[f]) continue;
    variant[f] = f == have ? m : make_variant(m, eth, vlan, static_cast<Format>(f));
    if (variant[f] && uses[f] > 1)
      rte_mbuf_refcnt_update(variant[f], static_cast<int16_t>(uses[f] - 1));
  }
  if (have == kFormats || !uses[have]) rte_pktmbuf_free(m);  // only copies go out
  for (uint16_t i = 0; i < egress_count_; ++i) {
    rte_mbuf* out = variant[egress_[i].format];
    if (out && !inbound_passes(plan, egress_[i].port, out)) {
      drop(egress_[i].port, DropReason::kPoliceInbound, out);
    } else if (out) {
      mirrors_.egress(*plan.table, sw, egress_[i].port, vlan, out);
      enqueue(egress_[i].port, out, unicast_vtep);
    } else
      drop(egress_[i].port, DropReason::kNoMbuf, nullptr);
  }
}

rte_mbuf* Forwarder::make_variant(rte_mbuf* m, const EthInfo& eth, uint16_t vlan, Format want) {
  rte_mbuf* c = rte_pktmbuf_copy(m, pool_, 0, UINT32_MAX);
  if (!c) return nullptr;
  int rc = 0;
  if (want == kTagged && eth.tagged) {  // priority tag: rewrite the VLAN id in place
    uint8_t* tci = rte_pktmbuf_mtod_offset(c, uint8_t*, 14);
    uint16_t v = static_cast<uint16_t>((eth.tci & 0xf000) | vlan);
    tci[0] = static_cast<uint8_t>(v >> 8);
    tci[1] = static_cast<uint8_t>(v);
  } else if (want == kTagged) {
    c->vlan_tci = vlan;
    rc = rte_vlan_insert(&c);
    if (rc == 0 && (c->ol_flags & (RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG))) c->l2_len += 4;
  } else {
    rc = rte_vlan_strip(c);
    c->ol_flags &= ~(RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED);
    if (c->l2_len >= 4) c->l2_len -= 4;
  }
  if (rc != 0) {
    rte_pktmbuf_free(c);
    return nullptr;
  }
  return c;
}

void Forwarder::enqueue(uint16_t port, rte_mbuf* m, uint16_t vtep) {
  TxBuffer& buf = tx_[port];
  if (buf.count == 0) pending_[pending_count_++] = port;
  buf.vteps[buf.count] = vtep;
  buf.pkts[buf.count++] = m;
}

void Forwarder::flush(uint16_t tx_queue) {
  for (uint16_t i = 0; i < pending_count_; ++i) {
    uint16_t port = pending_[i];
    TxBuffer& buf = tx_[port];
    // The bytes are summed before the hand-over: an accepted mbuf is the driver's, which may
    // complete and free it within the burst (net_rtap does), or prepend its own header to it.
    // What the driver refused is still ours: its bytes come off again.
    uint64_t bytes = 0;
    for (uint16_t k = 0; k < buf.count; ++k) bytes += rte_pktmbuf_pkt_len(buf.pkts[k]);
    // Copied as handed to the driver: like tcpdump on a netdev, a frame the driver then refuses
    // (counted as tx_full) is in the capture too.
    if (taps_ != nullptr && taps_->armed())
      taps_->tap(port, tx_queue, kCaptureOut, buf.pkts, buf.count);
    PortCounters& out = counters_.ports[port];
    if (is_tunnel_port_id(port)) {  // datagrams: one per remote VTEP (and TSO segment)
      if (tunnels_ != nullptr) {
        out.tx_packets.add(tunnels_->send(port, buf.pkts, buf.vteps, buf.count, bytes));
        out.tx_bytes.add(bytes);
      } else {
        out.drops[static_cast<int>(DropReason::kVxlanSendFailed)].add(buf.count);
        rte_pktmbuf_free_bulk(buf.pkts, buf.count);
      }
      buf.count = 0;
      continue;
    }
    uint16_t sent = rte_eth_tx_burst(port, tx_queue, buf.pkts, buf.count);
    if (sent < buf.count) {
      for (uint16_t k = sent; k < buf.count; ++k) bytes -= rte_pktmbuf_pkt_len(buf.pkts[k]);
      out.drops[static_cast<int>(DropReason::kTxFull)].add(buf.count - sent);
      rte_pktmbuf_free_bulk(buf.pkts + sent, buf.count - sent);
    }
    out.tx_packets.add(sent);
    out.tx_bytes.add(bytes);
    buf.count = 0;
  }
  pending_count_ = 0;
  mirrors_.flush(tx_queue);
  if (after_flush_ != nullptr) after_flush_();
}

}  // namespace vs
