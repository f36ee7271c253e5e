// Learn events: a worker saw source MAC `key` on `port_id` of switch `switch_index`. Each worker
// pushes them into its own single-producer ring; the FDB service (the FDB's only writer) drains
// all rings and applies them. A full ring loses the event (counted), never a frame.
#pragma once
#include <cstdint>

namespace vs {

// The worker that owns the ring wo (rte_ring single producer), the FDB service ro (single
// consumer).
struct LearnEvent {
  uint64_t key;  // fdb_key(mac, vlan)
  uint16_t switch_index;
  uint16_t port_id;
  uint16_t vtep =
      0;  // received from a tunnel port: the remote VTEP it came from (index + 1), else 0
  uint16_t reserved = 0;
};
static_assert(sizeof(LearnEvent) == 16);

inline constexpr unsigned kLearnRingSize = 4096;  // events per worker ring (power of two)

}  // namespace vs
