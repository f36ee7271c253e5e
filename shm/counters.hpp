// Per-worker counter blocks. One block per worker id, in a memzone created by the primary so that
// it outlives the worker: a restarted worker continues the same counters, and they stay monotonic.
//
// Writer: the worker with that id, and only while it runs.  Reader: the primary (metrics).
// Each counter is a 64-bit atomic updated with relaxed load+store (no locked instruction: there is
// one writer), so a reader never sees a torn value and never stops the writer.
#pragma once
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shm/limits.hpp"

namespace vs {

// Why a frame was dropped by us (the kernel's own drops are read from the TAPs).
enum class DropReason : uint8_t {
  kRunt,            // shorter than an Ethernet header (or a VLAN tag cut short)
  kNoDestination,   // no other port of the switch carries the frame's VLAN
  kTxFull,          // the egress tx queue did not accept it
  kVlanNotAllowed,  // the ingress port does not carry the frame's VLAN (or untagged, no native)
  kBadVlan,         // VLAN id 4095 (reserved)
  kLoopToIngress,   // the destination MAC was learned on the ingress port
  kMtuExceeded,     // larger than the egress port's MTU and not a TSO super-frame
  kNoMbuf,          // no mbuf for a copy with a different VLAN tag
  kMirrorOutput,    // received from a mirror's output port (it takes no part in forwarding)
  // Per-port policy (switch/policy.hpp), version 7.
  kSpoofedMac,    // source MAC not in the port's allowed_macs
  kSpoofedIp,     // IPv4/IPv6 source not in the port's allowed_ips
  kSpoofedArp,    // ARP sender MAC or IP not the port's
  kSpoofedNd,     // neighbour discovery for an address or MAC not the port's
  kDhcpServer,    // a DHCP(v6) server reply from a port with block_dhcp_server
  kRouterAdvert,  // an ICMPv6 router advertisement from a port with block_ra
  kIsolated,      // known unicast from an isolated port to another isolated port
  // Storm control (version 8): over the port's rate of that kind of frame (PortEntry::storm_fps).
  kStormBroadcast,
  kStormMulticast,
  kStormUnknownUnicast,
  // Rate limits (version 8): over the outbound rate of the port (received from it), over the
  // inbound rate of the egress port (policed too: docs/operations.md says why).
  kPolice,
  kPoliceInbound,
  // VXLAN tunnel ports (version 9), counted on the tunnel port. Received: a datagram that is not
  // a VXLAN frame we understand (switch/tunnel.hpp), another VNI than the port's, from a VTEP
  // that is not one of the port's remotes, or lost in a full socket receive buffer (the kernel's
  // count of the socket's drops, SO_MEMINFO). Sent: a destination VTEP the port no longer has,
  // a frame the underlay refused as larger than its path MTU (EMSGSIZE: never fragmented), or
  // another send error of the underlay (no route, ...).
  kVxlanMalformed,
  kVxlanUnknownVni,
  kVxlanUnknownVtep,
  kVxlanRxOverflow,
  kVxlanNoVtep,
  kVxlanOversize,
  kVxlanSendFailed,
  kCount
};
inline constexpr int kDropReasonCount = static_cast<int>(DropReason::kCount);
std::string_view drop_reason_name(DropReason reason);  // label value, e.g. "tx_full"

enum class WorkerState : uint32_t { kStarting = 0, kRunning = 1, kStopped = 2 };

// What a worker's loop was doing when it last said so (WorkerCounterBlock::phase), for the log
// line of a stalled worker. Version 4.
enum class WorkerPhase : uint32_t {
  kStarting = 0,      // attaching, taking over from an old process, claiming its queues
  kPolling = 1,       // rx burst and forwarding of one queue (phase_port, phase_queue)
  kIdleSleep = 2,     // sleeping on rx interrupts or a timer, bounded by the housekeeping tick
  kHousekeeping = 3,  // primary check, port table change
  kHandOver = 4,      // handing moved queues over to another worker
  kStopping = 5,      // stop asked: draining and releasing its queues
};
std::string_view worker_phase_name(WorkerPhase phase);  // "polling", ...

class Counter {
 public:
  void add(uint64_t n) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return value_.load(std::memory_order_relaxed); }
  void reset() { value_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// One mirror's copies (a slot of TopologyTable::mirrors), version 6: sent = accepted by the
// output port's tx queue; drops = copies lost (tx queue full, no mbuf). The frames themselves are
// never lost for a copy.
struct MirrorCounters {
  Counter packets, bytes, drops;
};

struct PortCounters {
  Counter rx_packets, rx_bytes;  // received from this port by this worker
  Counter tx_packets, tx_bytes;  // accepted by this port's tx queue of this worker
  Counter drops[kDropReasonCount];
};

// Frames per rx burst call, as a histogram: bucket i counts the calls that returned at most
// kRxBurstBucketBound[i] frames and more than the previous bound (empty polls land in bucket 0).
// The exporter makes the Prometheus histogram (cumulative buckets) from these at scrape time.
inline constexpr int kRxBurstBuckets = 7;
inline constexpr unsigned kRxBurstBucketBound[kRxBurstBuckets] = {0, 1, 2, 4, 8, 16, 32};
static_assert(kRxBurstBucketBound[kRxBurstBuckets - 1] >= kBurstSize,
              "the last rx burst bucket must hold a full burst");

// The bucket of a burst of n frames (n <= kBurstSize): 0 -> 0, 1 -> 1, 2 -> 2, 3..4 -> 3,
// 5..8 -> 4, 9..16 -> 5, 17..32 -> 6. Branch-free apart from the n == 0 test.
constexpr int rx_burst_bucket(unsigned n) {
  return n == 0 ? 0 : static_cast<int>(std::bit_width(n - 1)) + 1;
}

// Layout version in the low 16 bits: bump it whenever WorkerCounterBlock or PortCounters change,
// so a worker from another build refuses the block instead of writing the wrong fields.
inline constexpr uint64_t kCounterBlockMagic = 0x76736374724b0009;  // "vsctrK" + version 9

// The heartbeat period of a worker: it beats at every housekeeping tick, and every sleep of its
// loop ends by then (rx interrupt waits included), so an idle worker beats as often as a busy one.
inline constexpr uint64_t kHeartbeatPeriodNs = 50 * 1000 * 1000;

// Fields: the worker wo (while it runs), vswitchd ro, unless a field says otherwise.
struct WorkerCounterBlock {
  uint64_t magic;  // vswitchd wo (at creation), the worker ro (refuses another layout)
  // WorkerState. The worker wo while it runs; vswitchd wo `stopped` once the process has ended
  // (the clean-up after a crash, when no process writes the block). The supervisor ro.
  std::atomic<uint32_t> state;
  std::atomic<int32_t> pid;  // the worker's pid, written by the worker at start
  Counter heartbeat;         // bumped by the worker every kHeartbeatPeriodNs (housekeeping)
  Counter loops;             // poll loop iterations
  Counter busy_loops;        // iterations that received at least one frame
  Counter idle_sleeps;       // times the worker slept because it was idle
  // Wall-clock time of the poll loop (CLOCK_MONOTONIC, ns), split by whether an iteration
  // received frames (busy) or not (idle, including the idle sleeps). Version 2.
  Counter busy_ns;
  Counter idle_ns;
  Counter rx_bursts[kRxBurstBuckets];  // rx burst calls by frames returned (see above). Version 2.
  Counter learn_events;                // learn events pushed to the FDB service
  Counter learn_dropped;               // learn events lost because the worker's learn ring was full
  // The generation of the port table the worker polls by (written when it adopts one): the
  // primary closes a removed port only after every running worker has moved past it. Version 3.
  // The switch actors ro.
  std::atomic<uint64_t> topology_generation;
  // Liveness, version 4. Writer: the worker, in its loop. Reader: the supervisor (stall
  // deadline, [daemon] worker_stall_ms) and `vswitchctl show workers`.
  // CLOCK_MONOTONIC (ns, the same clock in every process) of its last beat; written (release)
  // before `pid` at start, so a supervisor that sees the new pid sees a fresh beat.
  std::atomic<uint64_t> heartbeat_ns;
  // The time the worker's thread had spent waiting for a CPU (run queue, from
  // /proc/thread-self/schedstat) at its last beat, written before heartbeat_ns: the deadline
  // counts only time in which the worker could have run, so an overloaded host (seen: a CPU's
  // run queue delaying a pinned thread by 938 ms) does not make a busy worker "stalled".
  std::atomic<uint64_t> heartbeat_run_delay_ns;
  // The longest gap between two beats of any process of this worker since vswitchd started
  // (ns; a process's first beat starts a new series), and the longest such gap less the time
  // waited for a CPU in it: the second one is what the deadline is compared with (the margin).
  std::atomic<uint64_t> heartbeat_max_gap_ns;
  std::atomic<uint64_t> heartbeat_max_stall_ns;
  std::atomic<uint32_t> phase;          // WorkerPhase of the loop
  std::atomic<uint16_t> phase_port;     // DPDK port id of the rx queue being polled (kPolling)
  std::atomic<uint16_t> phase_queue;    // that rx queue
  MirrorCounters mirrors[kMaxMirrors];  // by mirror slot (TopologyTable::mirrors). Version 6.
  PortCounters ports[kMaxPortIds];      // indexed by DPDK port id
};

static_assert(sizeof(Counter) == 8 && std::atomic<uint64_t>::is_always_lock_free);
static_assert(offsetof(WorkerCounterBlock, heartbeat) == 16);
static_assert(offsetof(WorkerCounterBlock, busy_ns) == 48);
static_assert(offsetof(WorkerCounterBlock, rx_bursts) == 64);
static_assert(offsetof(WorkerCounterBlock, ports) >= 64 + 8 * kRxBurstBuckets);
static_assert(std::atomic<uint32_t>::is_always_lock_free &&
              std::atomic<uint16_t>::is_always_lock_free);
static_assert(offsetof(WorkerCounterBlock, heartbeat_ns) % 8 == 0);
static_assert(offsetof(WorkerCounterBlock, ports) % 8 == 0);
static_assert(sizeof(WorkerCounterBlock) ==
              offsetof(WorkerCounterBlock, ports) + sizeof(PortCounters) * kMaxPortIds);

}  // namespace vs
