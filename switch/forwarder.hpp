// The L2 forwarding of one worker: VLAN classification, MAC learning (reported to the FDB
// service), FDB lookup, flooding within the VLAN, tag push/pop per egress port, MTU checks, and
// one tx burst per egress port. Every frame is either sent or counted as a drop with its reason.
#pragma once
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <memory>
#include <unordered_map>
#include <vector>

#include "shm/counters.hpp"
#include "shm/fdb.hpp"
#include "shm/rate_shares.hpp"
#include "shm/topology.hpp"
#include "switch/capture_tap.hpp"
#include "switch/flood.hpp"
#include "switch/l2.hpp"
#include "switch/mirror.hpp"
#include "switch/rate.hpp"

namespace vs {

class TunnelIo;

static_assert(RTE_MAX_ETHPORTS <= kMaxPortIds,
              "the counter blocks index DPDK port ids: raise kMaxPortIds to this DPDK build's "
              "RTE_MAX_ETHPORTS");

struct RxAssignment {
  uint16_t port_id;
  uint16_t queue;
  uint16_t switch_index;
  uint16_t polled = 1;  // how many of this port's rx queues the worker polls (policy shares)
};

// Everything the loop needs, rebuilt from a topology snapshot.
struct WorkerPlan {
  uint64_t generation = 0;
  uint16_t tx_queue = 0;
  std::vector<RxAssignment> rx;
  std::vector<SwitchPorts> switches;
  std::unique_ptr<TopologyTable> table = std::make_unique<TopologyTable>();
  int16_t entry_of_port[RTE_MAX_ETHPORTS];  // DPDK port id -> index in table->ports, -1 if none
};

// Takes a snapshot of the published table and derives the worker's plan from it.
bool build_plan(const SharedTopology& shared, int worker_id, WorkerPlan& plan);

class Forwarder {
 public:
  Forwarder(WorkerCounterBlock& counters, const FdbTable& fdb, rte_ring* learn_ring,
            rte_mempool* pool);

  // Polls every assigned queue once; returns the number of frames received.
  unsigned poll_once(const WorkerPlan& plan);

  // Called from poll_once, after a queue that received frames, when `period_ns` passed since
  // the last call: a pass over hundreds of queues that all flood (256 ports coming up at once)
  // can take longer than the stall deadline, and the worker is busy, not stalled.
  using BeatFn = void (*)(void* ctx, uint64_t now_ns);
  void set_beat(BeatFn fn, void* ctx, uint64_t period_ns) {
    beat_fn_ = fn;
    beat_ctx_ = ctx;
    beat_period_ns_ = period_ns;
  }
  void note_beat(uint64_t now_ns) { last_beat_ns_ = now_ns; }
  // Called after each round of tx bursts (a rx burst's frames, all ports): the worker flushes
  // net_rtap's deferred writes there, one system call for a flood to every port.
  using FlushFn = int (*)();
  void set_after_flush(FlushFn fn) { after_flush_ = fn; }
  // Packet capture: frames are copied to the armed captures as they are received and sent.
  void set_capture(CaptureTaps* taps) { taps_ = taps; }
  // VXLAN tunnel ports (switch/tunnel_io.hpp): their rx queues and tx bursts go through these
  // sockets instead of an ethdev.
  void set_tunnels(TunnelIo* tunnels) { tunnels_ = tunnels; }
  // Rate limits: this worker's shares of each port's rates, rebalanced by vswitchd
  // (shm/rate_shares.hpp). Without them (or before vswitchd published one) the fixed split.
  void set_rate_shares(const RateShares* shares, int worker_id) {
    shares_ = shares;
    worker_id_ = worker_id;
  }

 private:
  enum Format : uint8_t { kUntagged = 0, kTagged = 1, kFormats = 2 };
  struct Egress {
    uint16_t port;
    Format format;
  };

  void dispatch(const WorkerPlan& plan, const PortEntry& in, rte_mbuf* m);
  void learn(const WorkerPlan& plan, uint16_t sw, uint16_t ingress, MacAddr src, uint16_t vlan);
  uint16_t receive(const RxAssignment& rx, rte_mbuf** pkts);
  // Adds `port` to the egress list if it carries `vlan` and the frame fits its MTU.
  bool add_egress(const WorkerPlan& plan, uint16_t port, uint16_t vlan, uint32_t l3_len, bool tso,
                  bool count_refusal);
  rte_mbuf* make_variant(rte_mbuf* m, const EthInfo& eth, uint16_t vlan, Format want);
  void drop(uint16_t port, DropReason reason, rte_mbuf* m);
  void enqueue(uint16_t port, rte_mbuf* m, uint16_t vtep = 0);
  void flush(uint16_t tx_queue);

  WorkerCounterBlock& counters_;
  BeatFn beat_fn_ = nullptr;
  void* beat_ctx_ = nullptr;
  uint64_t beat_period_ns_ = 0;
  uint64_t last_beat_ns_ = 0;
  CaptureTaps* taps_ = nullptr;
  TunnelIo* tunnels_ = nullptr;
  // The remote VTEP each frame of the rx burst came from (a tunnel port's), 0 otherwise, and
  // that of the frame being dispatched.
  uint16_t rx_vteps_[kBurstSize] = {};
  uint16_t ingress_vtep_ = 0;
  FlushFn after_flush_ = nullptr;
  const FdbTable& fdb_;
  rte_ring* learn_ring_;
  rte_mempool* pool_;
  uint64_t now_ns_ = 0;
  uint32_t now_s_ = 0;

  Mirrors mirrors_;  // SPAN copies (switch/mirror.hpp)
  // Storm control: the buckets of each port whose rx queues this worker polls, by DPDK port id,
  // and those of the queue being dispatched (nullptr: its port has no storm control).
  bool storm_passes(const PortEntry& in, StormKind kind);
  std::unordered_map<uint16_t, StormQueue> storm_;
  StormQueue* storm_queue_ = nullptr;
  // Rate limits: outbound (received from the port) by the port whose queue is being
  // dispatched, inbound (sent to it) by egress port; each this worker's share (switch/rate.hpp).
  bool inbound_passes(const WorkerPlan& plan, uint16_t port, const rte_mbuf* m);
  std::unordered_map<uint16_t, Policer> police_out_, police_in_;
  const RateShares* shares_ = nullptr;
  int worker_id_ = 0;
  Egress egress_[RTE_MAX_ETHPORTS];
  bool from_isolated_ = false;  // the frame being dispatched came from an isolated port
  uint16_t egress_count_ = 0;

  struct TxBuffer {
    uint16_t count = 0;
    rte_mbuf* pkts[kBurstSize];
    uint16_t vteps[kBurstSize];  // a tunnel port's remote VTEP per frame (0: every one)
  };
  TxBuffer tx_[RTE_MAX_ETHPORTS];
  uint16_t pending_[RTE_MAX_ETHPORTS];
  uint16_t pending_count_ = 0;

  // Recently reported learn events, so a MAC is not reported again for every frame until the
  // FDB service has applied it.
  struct RecentLearn {
    uint64_t key = 0;
    uint16_t sw = 0xffff;
    uint16_t port = 0;
    uint16_t vtep = 0;
    uint64_t at_ns = 0;
  };
  static constexpr unsigned kRecentSlots = 1024;
  RecentLearn recent_[kRecentSlots];
};

}  // namespace vs
