#include "switch/worker.hpp"

#include <ethdev_driver.h>
#include <fcntl.h>
#include <poll.h>
#include <rte_eal.h>
#include <rte_eal_memconfig.h>
#include <rte_epoll.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>
#include <rte_memzone.h>
#include <rte_ring.h>
#include <rte_service_component.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "rte_pmd_rtap.h"
#include "shm/capture.hpp"
#include "shm/counters.hpp"
#include "shm/fdb.hpp"
#include "shm/shm_names.hpp"
#include "shm/topology.hpp"
#include "switch/forwarder.hpp"
#include "switch/privileges.hpp"
#include "switch/schedstat.hpp"
#include "switch/tunnel_io.hpp"

namespace vs {
namespace {

std::atomic<bool> g_stop{false};
// The worker's parent when it started: vswitchd's supervisor (or a shell, started by hand).
pid_t g_parent = 0;
std::atomic<bool> g_fault_spin{false};  // --fault-spin: SIGUSR1 came

void on_stop_signal(int) {
  // A SIGTERM once the parent has gone is the death signal (PR_SET_PDEATHSIG) of a primary that
  // died: no DPDK lock and no queue is worth keeping for it. Leave at once from wherever the
  // worker is (inside rte_eal_init, or waiting up to 5 s on a multi-process request to the dead
  // primary), not at the loop's next check: a worker killed 26 ms into a reload outlived its
  // primary by 3 s that way. Async-signal-safe: getppid, write, _exit.
  if (g_parent != 0 && getppid() != g_parent) {
    static const char kMsg[] = "vswitch-worker: the primary is gone (death signal), exiting\n";
    if (write(STDERR_FILENO, kMsg, sizeof kMsg - 1) < 0) {
      // nothing to do: the exit below is what matters
    }
    _exit(kWorkerExitPrimaryGone);
  }
  g_stop.store(true, std::memory_order_relaxed);
}

void on_fault_spin_signal(int) {
  g_fault_spin.store(true, std::memory_order_relaxed);
}

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

struct WorkerArgs {
  int worker_id = -1;
  pid_t replace = 0;         // --replace PID: take over from this running worker (graceful upgrade)
  bool fault_crash = false;  // --fault-crash: abort once attached (crash-loop tests)
  bool fault_stale_locks = false;  // --fault-stale-locks: die holding DPDK locks once attached
  bool fault_spin = false;  // --fault-spin: on SIGUSR1, spin forever in the loop, never polling
  unsigned fault_hold_lent_ms = 0;  // --fault-hold-lent-ms N: hold moved rx queues N ms
  // --attached-fd N: closed once rte_eal_init has returned, which tells vswitchd that this
  // process has its device list (daemon/hotplug_gate.hpp).
  int attached_fd = -1;
};

// `argv` is what the EAL left: the program name, then our options.
bool parse_worker_args(int argc, char** argv, WorkerArgs& a) {
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    char* end = nullptr;
    if (std::strcmp(argv[i], "--worker-id") == 0 && has_value) {
      long id = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || id < 0 || id >= kMaxWorkers) return false;
      a.worker_id = static_cast<int>(id);
    } else if (std::strcmp(argv[i], "--replace") == 0 && has_value) {
      long pid = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || pid <= 0) return false;
      a.replace = static_cast<pid_t>(pid);
    } else if (std::strcmp(argv[i], "--attached-fd") == 0 && has_value) {
      long fd = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || fd < 3 || fd > 1024) return false;
      a.attached_fd = static_cast<int>(fd);
    } else if (std::strcmp(argv[i], "--") == 0) {
      continue;
    } else if (std::strcmp(argv[i], "--fault-crash") == 0) {
      a.fault_crash = true;
    } else if (std::strcmp(argv[i], "--fault-stale-locks") == 0) {
      a.fault_stale_locks = true;
    } else if (std::strcmp(argv[i], "--fault-spin") == 0) {
      a.fault_spin = true;
    } else if (std::strcmp(argv[i], "--fault-hold-lent-ms") == 0 && has_value) {
      long ms = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || ms < 0 || ms > 60000) return false;
      a.fault_hold_lent_ms = static_cast<unsigned>(ms);
    } else {
      return false;
    }
  }
  return a.worker_id >= 0;
}

// Graceful replacement: the new worker is attached and ready; ask the old one to stop and wait
// until it has (it releases its queues as it exits), then forward on the same identity. The
// queues are unpolled only for the old worker's exit, not for an EAL start-up.
bool take_over_from(int worker_id, pid_t old, const WorkerCounterBlock& counters) {
  if (counters.pid.load(std::memory_order_acquire) != old) {
    std::fprintf(stderr, "vswitch-worker %d: pid %d is not this worker's current process\n",
                 worker_id, old);
    return false;
  }
  int fd = static_cast<int>(syscall(SYS_pidfd_open, old, 0));
  if (fd < 0) return errno == ESRCH;  // already gone: nothing to wait for
  const uint64_t t0 = now_ns();
  syscall(SYS_pidfd_send_signal, fd, SIGTERM, nullptr, 0);
  // It has let go of its queues when it says it stopped (or when it is gone).
  pollfd p{fd, POLLIN, 0};
  bool done = false;
  for (int ms = 0; ms < 2000 && !done; ++ms) {
    done = poll(&p, 1, 1) > 0 || counters.state.load(std::memory_order_acquire) ==
                                     static_cast<uint32_t>(WorkerState::kStopped);
  }
  if (!done) {
    std::fprintf(stderr, "vswitch-worker %d: pid %d ignored SIGTERM for 2 s, killing it\n",
                 worker_id, old);
    syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
    poll(&p, 1, 2000);
  }
  close(fd);
  std::printf("vswitch-worker %d: took over from pid %d in %.1f ms\n", worker_id, old,
              static_cast<double>(now_ns() - t0) / 1e6);
  return true;
}

// Adaptive polling. Busy polling would hold a core at 100% on a host whose cores belong to the
// VMs, so an idle worker sleeps between polls, longer the longer it has been idle: it busy-polls
// for the first kBusyPollNs after its last frame (a round trip's answer arrives well within
// that), then sleeps kShortSleepNs between polls, and after kDeepIdleNs of silence kLongSleepNs
// (at most that much latency for the first frame after a long silence). A worker whose queues
// are all net_rtap sleeps in epoll on their rx interrupts instead (RxInterrupts below).
constexpr uint64_t kBusyPollNs = 200 * 1000;
constexpr uint64_t kDeepIdleNs = 100 * 1000 * 1000;
constexpr long kShortSleepNs = 50 * 1000;
constexpr long kLongSleepNs = 1000 * 1000;
constexpr uint64_t kHousekeepingNs = kHeartbeatPeriodNs;  // the heartbeat comes with it

// Giving the core away while busy polling (issue #22). The traffic's endpoints (a container's
// sockets, a VM's vCPU) often share the worker's core. A frame the worker writes to a TAP wakes
// its receiver on the worker's core, and the scheduler need not preempt the worker for it
// (EEVDF may let the running task go on to its deadline): the receiver then waits until the
// busy-poll window ends and the worker sleeps in epoll, ~200 µs later (traced: sockperf's
// round trip p99 223 µs with both endpoints on the worker's core; bench/results/2026-12-07-rtt.md).
// So after a poll that forwarded frames the worker yields: a cheap no-op when it is alone on
// its core, and otherwise the woken receiver runs now.
// VSWITCH_WORKER_YIELD (diagnostics, for A/B runs): 0 never, 1 after a poll that forwarded
// (default), 2 also on every empty busy poll.
int yield_mode() {
  const char* v = std::getenv("VSWITCH_WORKER_YIELD");
  if (v == nullptr || *v == '\0') return 1;
  return std::atoi(v);
}
// VSWITCH_WORKER_BUSY_POLL_US (diagnostics, for A/B runs): the busy-poll window, default
// kBusyPollNs.
uint64_t busy_poll_window_ns() {
  const char* v = std::getenv("VSWITCH_WORKER_BUSY_POLL_US");
  if (v == nullptr || *v == '\0') return kBusyPollNs;
  return std::strtoull(v, nullptr, 10) * 1000;
}

// The worker's heartbeat and loop phase in its counter block (shm/counters.hpp): vswitchd
// kills a worker whose last beat is older than [daemon] worker_stall_ms, and logs the phase.
class Heartbeat {
 public:
  explicit Heartbeat(WorkerCounterBlock& c)
      : c_(c), schedstat_(open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC)) {}
  ~Heartbeat() {
    if (schedstat_ >= 0) close(schedstat_);
  }
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;
  void beat(uint64_t now) {
    const uint64_t waited = run_delay_ns(schedstat_);
    if (last_ != 0) {
      const uint64_t gap = now - last_;
      const uint64_t own = gap - std::min(gap, waited - std::min(waited, last_waited_));
      if (gap > c_.heartbeat_max_gap_ns.load(std::memory_order_relaxed))
        c_.heartbeat_max_gap_ns.store(gap, std::memory_order_relaxed);
      if (own > c_.heartbeat_max_stall_ns.load(std::memory_order_relaxed))
        c_.heartbeat_max_stall_ns.store(own, std::memory_order_relaxed);
    }
    last_ = now;
    last_waited_ = waited;
    c_.heartbeat_run_delay_ns.store(waited, std::memory_order_relaxed);
    c_.heartbeat_ns.store(now, std::memory_order_release);
    c_.heartbeat.add(1);
  }
  void phase(WorkerPhase p) { c_.phase.store(static_cast<uint32_t>(p), std::memory_order_relaxed); }

 private:
  WorkerCounterBlock& c_;
  int schedstat_;
  uint64_t last_ = 0;  // 0: no beat yet in this process (the first one starts a new series)
  uint64_t last_waited_ = 0;
};

// --fault-spin: a livelock, as a bug that loops would make it: no poll, no beat, and SIGTERM
// does not end it (the handler only sets the stop flag). Only a SIGKILL does.
[[noreturn]] void spin_forever(int worker_id) {
  std::fprintf(stderr, "vswitch-worker %d: --fault-spin: spinning forever without polling\n",
               worker_id);
  std::fflush(stderr);
  for (;;) asm volatile("" ::: "memory");
}

struct SharedObjects {
  const SharedTopology* topology = nullptr;
  WorkerCounterBlock* counters = nullptr;
  const FdbTable* fdb = nullptr;
  rte_ring* learn_ring = nullptr;
  rte_mempool* pool = nullptr;
  SharedCapture* capture = nullptr;
  const RateShares* rate_shares = nullptr;
  const VtepTable* vteps = nullptr;
};

// A pool records its mempool driver as an index into the process's own ops table, which the
// drivers' constructors fill in link order. vswitchd made its pools with the default ops; if this
// process's table has another driver at that index, the two binaries were linked against
// different DPDKs and every get/put would go through the wrong driver. "" if they agree.
std::string pool_ops_mismatch(const rte_mempool* pool) {
  const char* expected = rte_mbuf_best_mempool_ops();
  const char* mine = rte_mempool_get_ops(pool->ops_index)->name;
  if (std::strcmp(mine, expected) == 0) return {};
  return std::string("mempool driver mismatch on pool ") + pool->name +
         ": vswitchd made it with '" + expected + "', which is '" + mine +
         "' in this process: vswitchd and vswitch-worker were linked against different DPDK "
         "builds. Fix: rebuild both from one tree (scripts/build.sh)";
}

// Looks up what the primary created for this worker. Returns an empty string or what is wrong.
std::string find_shared_objects(int worker_id, SharedObjects& shm) {
  const rte_memzone* topo = rte_memzone_lookup(kTopologyZone);
  const rte_memzone* ctr = rte_memzone_lookup(counter_zone_name(worker_id).c_str());
  const rte_memzone* fdb = rte_memzone_lookup(kFdbZone);
  const rte_memzone* cap = rte_memzone_lookup(kCaptureZone);
  const rte_memzone* shares = rte_memzone_lookup(kRateSharesZone);
  const rte_memzone* vteps = rte_memzone_lookup(kVtepZone);
  shm.learn_ring = rte_ring_lookup(learn_ring_name(worker_id).c_str());
  shm.pool = rte_mempool_lookup(worker_pool_name(worker_id).c_str());
  if (!topo || !ctr || !fdb || !cap || !shares || !vteps || !shm.learn_ring || !shm.pool)
    return "the primary's shared tables are missing (is this worker id configured?)";
  shm.topology = static_cast<const SharedTopology*>(topo->addr);
  shm.counters = static_cast<WorkerCounterBlock*>(ctr->addr);
  shm.fdb = static_cast<const FdbTable*>(fdb->addr);
  shm.capture = static_cast<SharedCapture*>(cap->addr);
  shm.rate_shares = static_cast<const RateShares*>(shares->addr);
  shm.vteps = static_cast<const VtepTable*>(vteps->addr);
  if (shm.topology->magic != kTopologyMagic || shm.topology->layout_version != kLayoutVersion ||
      shm.counters->magic != kCounterBlockMagic || shm.fdb->magic != kFdbMagic ||
      shm.capture->magic != kCaptureMagic || shm.capture->layout_version != kCaptureLayoutVersion ||
      shm.rate_shares->magic != kRateSharesMagic || shm.vteps->magic != kVtepMagic)
    return "shared layout mismatch: vswitchd and vswitch-worker come from different builds";
  if (static_cast<uint32_t>(worker_id) >= shm.capture->nb_workers)
    return "no capture rings for this worker id (is this worker id configured?)";
  std::string wrong = pool_ops_mismatch(shm.pool);
  const rte_mempool* large = rte_mempool_lookup(large_pool_name(worker_id).c_str());
  if (wrong.empty() && large != nullptr) wrong = pool_ops_mismatch(large);
  return wrong;
}

bool is_rtap(uint16_t port_id) {
  if (is_tunnel_port_id(port_id)) return false;  // no ethdev (and none of its log lines)
  rte_eth_dev_info info{};
  return rte_eth_dev_info_get(port_id, &info) == 0 && info.driver_name != nullptr &&
         std::strcmp(info.driver_name, "net_rtap") == 0;
}

// ethdev fills a secondary's fast-path table (rte_eth_fp_ops) once, when the port is probed. A
// port vswitchd adds at run time is probed here (hotplug sync) before vswitchd configures it, so
// its queue arrays were still NULL then and rx_burst would dereference NULL. net_rtap refreshes
// its own ports when they are configured; this covers the other drivers (net_tap).
void refresh_fast_path(const WorkerPlan& plan) {
  for (uint16_t i = 0; i < plan.table->nb_ports; ++i) {
    const uint16_t port = plan.table->ports[i].dpdk_port_id;
    if (!rte_eth_dev_is_valid_port(port)) continue;
    const rte_eth_dev& dev = rte_eth_devices[port];
    struct rte_eth_fp_ops& fp = rte_eth_fp_ops[port];
    if (dev.data->rx_queues != nullptr) fp.rxq.data = dev.data->rx_queues;
    if (dev.data->tx_queues != nullptr) fp.txq.data = dev.data->tx_queues;
  }
}

// False (and says which) if a port of the table is not attached in this process: its probe
// failed here (seen under heavy load: the primary did not answer the driver's request for the
// queue fds in time). Polling or sending on it would drop every frame without a counter, so the
// worker must not run like that: it exits, and vswitchd starts a new process.
bool ports_attached(int worker_id, const WorkerPlan& plan) {
  const TopologyTable& t = *plan.table;
  for (uint16_t i = 0; i < t.nb_ports; ++i) {
    if (is_tunnel(t.ports[i]) || rte_eth_dev_is_valid_port(t.ports[i].dpdk_port_id)) continue;
    std::fprintf(stderr,
                 "vswitch-worker %d: port %s (DPDK port %u) is not attached in this process: its "
                 "probe failed (see the lines above); exiting, vswitchd starts a new process\n",
                 worker_id, t.ports[i].name, t.ports[i].dpdk_port_id);
    return false;
  }
  return true;
}

// net_rtap queues belong to one process at a time: claim this worker's rx queues and tx queue
// at once, so a queue still held by a live process is reported now (the burst would otherwise
// retry quietly), and a dead predecessor's queues are taken over before the first poll.
// False if an rx queue is still held by another live process: claim_released_rtap_queues
// takes it once that process lets go.
bool claim_rtap_queues(int worker_id, const WorkerPlan& plan) {
  bool all = true;
  const TopologyTable& t = *plan.table;
  for (uint16_t i = 0; i < t.nb_ports; ++i) {
    const uint16_t port = t.ports[i].dpdk_port_id;
    if (!is_rtap(port)) continue;
    int rc = rte_pmd_rtap_queue_claim(port, plan.tx_queue, RTE_PMD_RTAP_TX);
    if (rc < 0)
      std::fprintf(stderr, "vswitch-worker %d: port %s tx queue %u: %s\n", worker_id,
                   t.ports[i].name, plan.tx_queue, rte_strerror(-rc));
  }
  for (const RxAssignment& rx : plan.rx) {
    if (!is_rtap(rx.port_id)) continue;
    int rc = rte_pmd_rtap_queue_claim(rx.port_id, rx.queue, RTE_PMD_RTAP_RX);
    if (rc < 0)
      std::fprintf(stderr, "vswitch-worker %d: port %u rx queue %u: %s\n", worker_id, rx.port_id,
                   rx.queue, rte_strerror(-rc));
    all = all && rc == 0;
  }
  return all;
}

// The rx queues claim_rtap_queues found held by another live process: a queue lent to another
// worker while this one restarted, which that worker gives back at its next housekeeping tick.
// Each one that is free now is claimed (quietly: the owner is checked first). True once every
// rx queue of the plan is this process's. A worker asleep on rx interrupts must poll after
// this: a queue it did not own had no poll armed, so no frame on it would wake the worker.
bool claim_released_rtap_queues(const WorkerPlan& plan) {
  const pid_t self = getpid();
  bool all = true;
  for (const RxAssignment& rx : plan.rx) {
    if (!is_rtap(rx.port_id)) continue;
    pid_t owner = 0;
    if (rte_pmd_rtap_queue_owner(rx.port_id, rx.queue, RTE_PMD_RTAP_RX, &owner) < 0 ||
        owner == self)
      continue;
    all = all && owner == 0 && rte_pmd_rtap_queue_claim(rx.port_id, rx.queue, RTE_PMD_RTAP_RX) == 0;
  }
  return all;
}

// net_rtap's housekeeping (rte_pmd_rtap.h), off the burst functions: a port the primary
// re-configured is re-synced, and queues that were not ready (after a start, a re-sync, or a
// refused claim or an empty pool) are claimed and get their buffers. True if a port's rings
// were rebuilt: their rx interrupt eventfds are new.
bool rtap_housekeeping(const WorkerPlan& plan) {
  bool rebuilt = false;
  for (uint16_t i = 0; i < plan.table->nb_ports; ++i) {
    const uint16_t port = plan.table->ports[i].dpdk_port_id;
    if (is_rtap(port) && rte_pmd_rtap_housekeeping(port) > 0) rebuilt = true;
  }
  return rebuilt;
}

// Rx queues the new table gives to another worker: let go of them now, so the new poller's
// claim succeeds at once (a claim held by a live process is never taken over).
void release_moved_queues(const std::vector<RxAssignment>& before, const WorkerPlan& plan) {
  for (const RxAssignment& old : before) {
    bool kept = false;
    for (const RxAssignment& rx : plan.rx)
      kept = kept || (rx.port_id == old.port_id && rx.queue == old.queue);
    if (!kept && is_rtap(old.port_id))
      rte_pmd_rtap_queue_release(old.port_id, old.queue, RTE_PMD_RTAP_RX);
  }
}

// Rx queues the new table (`next`) gives to another worker: stop reading them, forward the frames
// their reads had already completed (by the table they arrived under, `plan`), then let go of
// them. Releasing at once would drop those frames uncounted; this way a queue that moves between
// workers (lent at a crash, given back once the worker forwards again) loses nothing, as in a
// replacement: frames arriving meanwhile wait in the kernel's TAP queue for the new poller.
void hand_over_moved_queues(Forwarder& forwarder, WorkerPlan& plan, const WorkerPlan& next,
                            unsigned fault_hold_ms) {
  std::vector<RxAssignment> moved;
  for (const RxAssignment& old : plan.rx) {
    bool kept = false;
    for (const RxAssignment& rx : next.rx)
      kept = kept || (rx.port_id == old.port_id && rx.queue == old.queue);
    if (kept || !is_rtap(old.port_id)) continue;
    rte_pmd_rtap_queue_stop_reading(old.port_id, old.queue);
    moved.push_back(old);
  }
  if (moved.empty()) return;
  plan.rx = moved;  // the old table's ports are all still open: vswitchd waits for us
  for (int round = 0; round < 8 && forwarder.poll_once(plan) > 0; ++round) {
  }
  if (fault_hold_ms) {  // --fault-hold-lent-ms: the new owner's first claim meets a live holder
    std::fprintf(stderr, "vswitch-worker: --fault-hold-lent-ms: holding %zu rx queue(s) %u ms\n",
                 moved.size(), fault_hold_ms);
    timespec ts{static_cast<time_t>(fault_hold_ms / 1000),
                static_cast<long>(fault_hold_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !g_stop.load()) {
    }
  }
  for (const RxAssignment& rx : moved)
    rte_pmd_rtap_queue_release(rx.port_id, rx.queue, RTE_PMD_RTAP_RX);
}

// Rx interrupts of the worker's queues, when every one of them has them (net_rtap with
// intr_conf.rxq): after kBusyPollNs without a frame the worker arms them, polls once more (a
// frame that completed meanwhile wakes nothing), and sleeps in epoll until a frame or the
// housekeeping tick. Frames are then polled as usual; the interrupts stay off while polling.
// A tunnel port's socket sits in the same epoll, level-triggered: nothing to arm, a datagram
// waiting wakes the wait.
class RxInterrupts {
 public:
  ~RxInterrupts() { remove(); }
  void setup(const WorkerPlan& plan, const TunnelIo& tunnels) {
    remove();
    for (const RxAssignment& rx : plan.rx) {
      if (is_tunnel_port_id(rx.port_id)) {
        if (!add_socket(tunnels.fd(rx.port_id))) {
          remove();
          return;
        }
        continue;
      }
      if (!is_rtap(rx.port_id) ||
          rte_eth_dev_rx_intr_ctl_q(rx.port_id, rx.queue, RTE_EPOLL_PER_THREAD, RTE_INTR_EVENT_ADD,
                                    nullptr) != 0) {
        remove();
        return;
      }
      queues_.push_back(rx);
    }
    usable_ = !queues_.empty() || !sockets_.empty();
  }
  bool usable() const { return usable_; }
  void arm() {
    for (const RxAssignment& rx : queues_) rte_eth_dev_rx_intr_enable(rx.port_id, rx.queue);
  }
  void disarm() {
    for (const RxAssignment& rx : queues_) rte_eth_dev_rx_intr_disable(rx.port_id, rx.queue);
  }
  // The number of queues that fired, 0 when the timeout passed with none.
  int wait(int timeout_ms) {
    rte_epoll_event ev[8];
    // Interruptible: a SIGTERM (stop, or a replacement taking over) ends the sleep at once.
    return rte_epoll_wait_interruptible(RTE_EPOLL_PER_THREAD, ev, 8, timeout_ms);
  }

 private:
  void remove() {
    for (const RxAssignment& rx : queues_)
      rte_eth_dev_rx_intr_ctl_q(rx.port_id, rx.queue, RTE_EPOLL_PER_THREAD, RTE_INTR_EVENT_DEL,
                                nullptr);
    queues_.clear();
    for (auto& ev : sockets_) rte_epoll_ctl(RTE_EPOLL_PER_THREAD, EPOLL_CTL_DEL, ev->fd, ev.get());
    sockets_.clear();
    usable_ = false;
  }
  bool add_socket(int fd) {
    if (fd < 0) return true;  // no socket (it failed to open, and said why): nothing to wait on
    auto ev = std::make_unique<rte_epoll_event>();
    ev->epdata.event = EPOLLIN;  // level-triggered
    if (rte_epoll_ctl(RTE_EPOLL_PER_THREAD, EPOLL_CTL_ADD, fd, ev.get()) != 0) return false;
    sockets_.push_back(std::move(ev));
    return true;
  }
  std::vector<RxAssignment> queues_;
  std::vector<std::unique_ptr<rte_epoll_event>> sockets_;  // epoll keeps a pointer to each
  bool usable_ = false;
};

uint64_t thread_cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ULL + static_cast<uint64_t>(t.tv_nsec);
}

// The main thread's time waiting for a CPU so far (run_delay), ns.
uint64_t thread_run_delay_ns() {
  const int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  const uint64_t v = run_delay_ns(fd);
  if (fd >= 0) close(fd);
  return v;
}

// When each start-up step ended (CLOCK_MONOTONIC ns), for the "forwarding … after start" line:
// worker start-up has a goal (≤ 50 ms, issue #21) and this says which step to make faster.
struct StartupClock {
  uint64_t started = 0;                          // main entered
  uint64_t cpu_started = 0, waited_started = 0;  // the main thread's CPU and run delay then
  uint64_t eal = 0;     // rte_eal_init returned: attached to the primary, ports probed
  uint64_t shared = 0;  // shared objects found, predecessor taken over
  uint64_t ports = 0;   // plan built, every port checked attached
  uint64_t queues = 0;  // rtap queues claimed, their rings given buffers
};

// The fault-injection flags the loop acts on (WorkerArgs; off in production).
struct LoopFaults {
  bool spin = false;          // --fault-spin
  unsigned hold_lent_ms = 0;  // --fault-hold-lent-ms
};

int forward_until_stopped(int worker_id, const SharedObjects& shm, StartupClock& clock,
                          const LoopFaults& fault) {
  const SharedTopology& topo = *shm.topology;
  WorkerCounterBlock& counters = *shm.counters;
  Heartbeat hb(counters);
  WorkerPlan plan;
  if (!build_plan(topo, worker_id, plan)) {
    std::fprintf(stderr, "vswitch-worker %d: the primary has not published its port table\n",
                 worker_id);
    return kWorkerExitAttach;
  }
  if (!ports_attached(worker_id, plan)) return kWorkerExitAttach;
  counters.topology_generation.store(plan.generation, std::memory_order_release);
  refresh_fast_path(plan);
  clock.ports = now_ns();
  bool claims_pending = !claim_rtap_queues(worker_id, plan);
  rtap_housekeeping(plan);  // from here on the worker does it, not the driver's alarm
  clock.queues = now_ns();
  auto tunnels = std::make_unique<TunnelIo>(counters, shm.pool, worker_id, shm.vteps);
  tunnels->sync(*plan.table);
  RxInterrupts irq;
  irq.setup(plan, *tunnels);
  auto forwarder = std::make_unique<Forwarder>(counters, *shm.fdb, shm.learn_ring, shm.pool);
  forwarder->set_tunnels(tunnels.get());
  forwarder->set_beat([](void* h, uint64_t t) { static_cast<Heartbeat*>(h)->beat(t); }, &hb,
                      kHeartbeatPeriodNs);
  CaptureTaps taps(shm.capture, worker_id);
  forwarder->set_capture(&taps);
  // One io_uring submit for all the writes of a rx burst's frames, whatever ports they go to
  // (a flood to 255 TAPs was 255 system calls). VSWITCH_TX_DEFER=0: a submit per port (A/B).
  if (const char* v = getenv("VSWITCH_TX_DEFER"); v == nullptr || strcmp(v, "0") != 0) {
    rte_pmd_rtap_tx_defer(1);
    forwarder->set_after_flush(rte_pmd_rtap_tx_flush);
  }
  forwarder->set_rate_shares(shm.rate_shares, worker_id);
  const pid_t parent = getppid();
  // Ready: from this beat on, vswitchd judges the heartbeat (not before: attach and set-up).
  hb.phase(WorkerPhase::kPolling);
  hb.beat(now_ns());
  counters.state.store(static_cast<uint32_t>(WorkerState::kRunning), std::memory_order_release);
  const auto ms = [](uint64_t from, uint64_t to) { return static_cast<double>(to - from) / 1e6; };
  // On a busy host the start-up waits for a CPU as much as it works: say how much of each.
  const uint64_t cpu = thread_cpu_ns() - clock.cpu_started;
  const uint64_t waited = thread_run_delay_ns() - clock.waited_started;
  std::printf(
      "vswitch-worker %d: forwarding %.0f ms after start (EAL init %.1f, shared objects %.1f, "
      "ports %.1f, queues %.1f ms; main thread on a CPU %.1f ms, waiting for one %.1f ms), "
      "%zu rx queues, tx queue %u\n",
      worker_id, ms(clock.started, now_ns()), ms(clock.started, clock.eal),
      ms(clock.eal, clock.shared), ms(clock.shared, clock.ports), ms(clock.ports, clock.queues),
      static_cast<double>(cpu) / 1e6, static_cast<double>(waited) / 1e6, plan.rx.size(),
      plan.tx_queue);
  std::fflush(stdout);

  const int yield = yield_mode();
  const uint64_t busy_poll_ns = busy_poll_window_ns();
  uint64_t loop_start = now_ns();  // time of the previous iteration's end (busy/idle split)
  uint64_t last_frame = loop_start;
  uint64_t next_housekeeping = loop_start + kHousekeepingNs;
  // Asleep on rx interrupts, which stay armed across housekeeping ticks that found no frame:
  // at 256 ports every tick used to disarm, poll and re-arm 500 queues (1500 driver calls, 20
  // times a second). A frame that comes meanwhile signals its queue's eventfd, so the next
  // wait returns at once. Not while a queue of the plan is still another process's (a lent
  // queue coming back): it has no poll armed, so only polling takes it (claims_pending below).
  bool irq_armed = false;
  while (!g_stop.load(std::memory_order_relaxed)) {
    unsigned got = 0;
    if (!irq_armed) {
      hb.phase(WorkerPhase::kPolling);
      got = forwarder->poll_once(plan);
      if (fault.spin && g_fault_spin.load(std::memory_order_relaxed)) spin_forever(worker_id);
      counters.loops.add(1);
    }
    if (got) {
      counters.busy_loops.add(1);
      last_frame = loop_start;
      if (yield >= 1) sched_yield();
    } else if (yield >= 2 && loop_start - last_frame < busy_poll_ns) {
      sched_yield();
    } else if (loop_start - last_frame >= busy_poll_ns && irq.usable()) {
      // The wait ends by the housekeeping tick at the latest: an idle worker beats too.
      hb.phase(WorkerPhase::kIdleSleep);
      counters.idle_sleeps.add(1);
      if (!irq_armed) {
        irq.arm();
        // A frame that completed before the arm signals nothing: poll once more.
        irq_armed = forwarder->poll_once(plan) == 0;
      }
      if (irq_armed && irq.wait(kHousekeepingNs / 1000000) != 0) irq_armed = false;
      if (!irq_armed) irq.disarm();
    } else if (loop_start - last_frame >= busy_poll_ns) {
      hb.phase(WorkerPhase::kIdleSleep);
      counters.idle_sleeps.add(1);
      timespec ts{0, loop_start - last_frame >= kDeepIdleNs ? kLongSleepNs : kShortSleepNs};
      nanosleep(&ts, nullptr);
    }
    uint64_t now = now_ns();
    (got ? counters.busy_ns : counters.idle_ns).add(now - loop_start);
    loop_start = now;
    if (now < next_housekeeping) continue;
    next_housekeeping = now + kHousekeepingNs;
    hb.phase(WorkerPhase::kHousekeeping);
    hb.beat(now);
    forwarder->note_beat(now);
    // The parent check is free and catches a supervisor's death at once; the EAL check (a lock
    // probe on the primary's config file) also covers workers started by hand.
    if (getppid() != parent || !rte_eal_primary_proc_alive(nullptr)) {
      std::fprintf(stderr, "vswitch-worker %d: the primary is gone, exiting\n", worker_id);
      return kWorkerExitPrimaryGone;
    }
    if (topo.generation.load(std::memory_order_acquire) != plan.generation) {
      if (irq_armed) irq.disarm();
      irq_armed = false;
      hb.phase(WorkerPhase::kHandOver);  // not judged until it beats again (below)
      WorkerPlan next;
      if (!build_plan(topo, worker_id, next)) continue;
      if (!ports_attached(worker_id, next)) return kWorkerExitAttach;
      hand_over_moved_queues(*forwarder, plan, next, fault.hold_lent_ms);
      plan = std::move(next);
      refresh_fast_path(plan);
      claims_pending = !claim_rtap_queues(worker_id, plan);
      tunnels->sync(*plan.table);
      irq.setup(plan, *tunnels);
      counters.topology_generation.store(plan.generation, std::memory_order_release);
      hb.beat(now_ns());
    }
    tunnels->count_drops();
    if (rtap_housekeeping(plan)) {  // rings rebuilt: new eventfds, none of them armed
      irq_armed = false;
      irq.setup(plan, *tunnels);
    }
    if (claims_pending) {  // a lent queue coming back: poll, so its frames wake us from now on
      claims_pending = !claim_released_rtap_queues(plan);
      if (irq_armed) irq.disarm();
      irq_armed = false;
    }
  }
  hb.phase(WorkerPhase::kStopping);
  // Forward what the queues had already read (a replacement takes over the rest from the
  // kernel), then let go of them before the (slower) EAL clean-up, so a replacement waiting for
  // them (take_over_from) starts polling now.
  for (const RxAssignment& rx : plan.rx)
    if (is_rtap(rx.port_id)) rte_pmd_rtap_queue_stop_reading(rx.port_id, rx.queue);
  for (int round = 0; round < 8 && forwarder->poll_once(plan) > 0; ++round) {
  }
  tunnels->count_drops();
  release_moved_queues(plan.rx, WorkerPlan{});
  for (uint16_t i = 0; i < plan.table->nb_ports; ++i) {
    const uint16_t port = plan.table->ports[i].dpdk_port_id;
    if (is_rtap(port)) rte_pmd_rtap_queue_release(port, plan.tx_queue, RTE_PMD_RTAP_TX);
  }
  counters.state.store(static_cast<uint32_t>(WorkerState::kStopped), std::memory_order_release);
  return kWorkerExitOk;
}

}  // namespace

// rte_eal_init allocates the service-core tables (155,904 bytes in two blocks) from the heap
// that all processes share, and only rte_eal_cleanup frees them. A worker that is killed, or that
// _exits after a hand-over, never gets there: each worker lifetime leaked them into vswitchd's
// heap, which grew by a hugepage (and an fd) about every 13 lifetimes. Workers run no DPDK
// service, so give the tables back at once; rte_eal_cleanup then skips them.
static void release_service_tables() {
  rte_service_finalize();
}

int run_worker(int argc, char** argv) {
  StartupClock clock;
  clock.started = now_ns();
  clock.cpu_started = thread_cpu_ns();
  clock.waited_started = thread_run_delay_ns();
  // The supervisor also sets this before exec; repeat it in case the worker is started by hand.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  g_parent = getppid();
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  int eal_args = rte_eal_init(argc, argv);
  clock.eal = now_ns();
  if (eal_args < 0) {
    std::fprintf(stderr,
                 "vswitch-worker: cannot attach to the primary (%s). Is vswitchd running with the "
                 "same --file-prefix?\n",
                 rte_strerror(rte_errno));
    return kWorkerExitAttach;
  }
  WorkerArgs args;
  if (!parse_worker_args(argc - eal_args, argv + eal_args, args)) {
    std::fprintf(stderr,
                 "vswitch-worker: usage: vswitch-worker <EAL args> -- --worker-id N "
                 "[--replace PID] [--attached-fd N] [--fault-crash] [--fault-stale-locks] "
                 "[--fault-spin] [--fault-hold-lent-ms N]\n");
    rte_eal_cleanup();
    return kWorkerExitUsage;
  }
  if (args.attached_fd >= 0) close(args.attached_fd);
  const int worker_id = args.worker_id;
  if (rte_eal_process_type() != RTE_PROC_SECONDARY) {
    std::fprintf(stderr, "vswitch-worker: must run as a DPDK secondary (--proc-type=secondary)\n");
    rte_eal_cleanup();
    return kWorkerExitUsage;
  }
  release_service_tables();
  // Until here a SIGKILL leaves the service tables allocated in the shared heap (docs/control.md):
  // the line lets a test bound that leak by the processes that died before it.
  std::fprintf(stderr, "vswitch-worker %d: attached as pid %d\n", worker_id,
               static_cast<int>(getpid()));
  if (g_stop.load(std::memory_order_relaxed)) {
    // Asked to stop while attaching (the supervisor stops a replacement this way, rather than
    // with SIGKILL, which could leave a DPDK lock of rte_eal_init held): leave before taking any
    // queue.
    std::fflush(nullptr);
    _exit(kWorkerExitOk);
  }
  SharedObjects shm;
  std::string missing = find_shared_objects(worker_id, shm);
  int rc = kWorkerExitAttach;
  if (!missing.empty()) {
    std::fprintf(stderr, "vswitch-worker %d: %s\n", worker_id, missing.c_str());
  } else {
    // Attached: from here on nothing needs a capability (switch/privileges.hpp).
    if (std::string err = drop_all_capabilities(); !err.empty())
      std::fprintf(stderr, "vswitch-worker %d: runs with its capabilities: %s\n", worker_id,
                   err.c_str());
    if (args.replace && !take_over_from(worker_id, args.replace, *shm.counters)) {
      rte_eal_cleanup();
      return kWorkerExitAttach;
    }
    if (args.fault_crash) {
      std::fprintf(stderr, "vswitch-worker %d: --fault-crash: aborting\n", worker_id);
      std::abort();
    }
    if (args.fault_stale_locks) {
      // As a worker SIGKILLed inside DPDK calls would: vswitchd must release them
      // (daemon/dpdk_locks.hpp), or the next worker hangs in rte_eal_init and vswitchd at stop.
      std::fprintf(stderr, "vswitch-worker %d: --fault-stale-locks: dying holding DPDK locks\n",
                   worker_id);
      rte_mcfg_mem_write_lock();
      rte_mcfg_tailq_read_lock();
      raise(SIGKILL);
    }
    if (args.fault_spin) {
      struct sigaction spin {};
      spin.sa_handler = on_fault_spin_signal;
      sigaction(SIGUSR1, &spin, nullptr);
      std::fprintf(stderr, "vswitch-worker %d: --fault-spin: SIGUSR1 makes it spin forever\n",
                   worker_id);
    }
    // This process owns the block from here: a fresh beat and "starting" first, then the pid, so
    // vswitchd never judges it by its predecessor's last beat; it is judged once it forwards.
    shm.counters->state.store(static_cast<uint32_t>(WorkerState::kStarting),
                              std::memory_order_relaxed);
    shm.counters->phase.store(static_cast<uint32_t>(WorkerPhase::kStarting),
                              std::memory_order_relaxed);
    shm.counters->heartbeat_ns.store(now_ns(), std::memory_order_relaxed);
    shm.counters->pid.store(getpid(), std::memory_order_release);
    clock.shared = now_ns();
    rc = forward_until_stopped(worker_id, shm, clock,
                               LoopFaults{args.fault_spin, args.fault_hold_lent_ms});
    // After a clean stop the state is already written, and a replacement may own the block
    // by now: write nothing more to it.
    if (rc != kWorkerExitOk)
      shm.counters->state.store(static_cast<uint32_t>(WorkerState::kStopped),
                                std::memory_order_release);
  }
  if (rc == kWorkerExitOk || rc == kWorkerExitPrimaryGone) {
    // A clean stop has released every queue and written its last counter. The EAL's clean-up
    // adds nothing the exit does not do for a secondary (the primary drops our stale
    // multi-process socket), and in a soak with port hot-plug running concurrently it was seen
    // to hang past the supervisor's 2 s grace. So leave now. The same when the primary died:
    // killed during a reload, it left our EAL thread waiting (5 s) on a hot-plug request to it,
    // and the clean-up waited for that thread (a worker still alive 1 s after the primary).
    std::fflush(nullptr);
    _exit(rc);
  }
  rte_eal_cleanup();
  return rc;
}

}  // namespace vs
