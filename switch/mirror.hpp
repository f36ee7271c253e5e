// Port mirroring (SPAN) in a worker: the frames of a mirror's sources (ports and/or VLANs, as
// received by the switch and/or as sent by it) are copied to the mirror's output port, as they
// were on the source's wire. A copy shares the frame's mbuf (a reference, as flooding does), so
// it costs no mbuf and no memcpy; a frame goes at most once to each output, however many
// mirrors select it. The copies wait in a buffer per output and are sent after the forwarded
// frames; a copy the output's tx queue refuses is counted as the mirror's drop, never the frame.
//
// The mirror table comes from the published topology (shm/topology.hpp, TopologyTable::mirrors);
// the counters go to this worker's block (shm/counters.hpp, WorkerCounterBlock::mirrors).
#pragma once
#include <rte_mbuf.h>

#include "shm/counters.hpp"
#include "shm/topology.hpp"

namespace vs {

class Mirrors {
 public:
  explicit Mirrors(WorkerCounterBlock& counters) : counters_(counters) {}

  // A new frame: no output has had it yet.
  void begin_frame() { served_count_ = 0; }
  // The frame `m` as received from port `port` of switch `sw`, classified into `vlan`.
  void ingress(const TopologyTable& t, uint16_t sw, uint16_t port, uint16_t vlan, rte_mbuf* m) {
    if (t.nb_mirrors != 0) select(t, kMirrorIn, sw, port, vlan, m);
  }
  // The frame `m` as it is about to be sent to `port` (its VLAN tag pushed or popped already).
  void egress(const TopologyTable& t, uint16_t sw, uint16_t port, uint16_t vlan, rte_mbuf* m) {
    if (t.nb_mirrors != 0) select(t, kMirrorOut, sw, port, vlan, m);
  }
  // Sends the copies gathered since the last flush, on this worker's tx queue of each output.
  void flush(uint16_t tx_queue);

 private:
  void select(const TopologyTable& t, uint8_t direction, uint16_t sw, uint16_t port, uint16_t vlan,
              rte_mbuf* m);
  void copy(uint16_t slot, uint16_t output, rte_mbuf* m);

  struct OutputBuffer {
    uint16_t port = 0;
    uint16_t count = 0;
    uint8_t slot[kBurstSize];  // the mirror each copy is counted for
    rte_mbuf* pkts[kBurstSize];
  };

  WorkerCounterBlock& counters_;
  OutputBuffer out_[kMaxMirrors];  // one per output port in use since the last flush
  uint16_t out_count_ = 0;
  uint16_t served_[kMaxMirrors];  // outputs the current frame went to
  uint16_t served_count_ = 0;
};

// True if DPDK port `port` is a mirror's output in `t` (`entry_of_port`: WorkerPlan's index).
inline bool mirror_output_port(const TopologyTable& t, const int16_t* entry_of_port,
                               uint16_t port) {
  const int16_t idx = port < kMaxPortIds ? entry_of_port[port] : -1;
  return idx >= 0 && is_mirror_output(t.ports[idx]);
}

}  // namespace vs
