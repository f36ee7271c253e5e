// The shared objects the primary creates for the workers before it starts them: the port/queue
// table, the FDB, and per worker a counter block, a learn-event ring and an mbuf pool (each
// worker's rx queues draw from its own pool, so a dead worker's mbufs never starve the others).
#pragma once
#include <rte_mempool.h>
#include <rte_ring.h>

#include <cstdint>
#include <string>
#include <vector>

#include "shm/capture.hpp"
#include "shm/counters.hpp"
#include "shm/fdb.hpp"
#include "shm/rate_shares.hpp"
#include "shm/topology.hpp"
#include "shm/vtep.hpp"

namespace vs {

// Hugepage memory, in MB, that the primary reserves at start for these objects, for the ports
// (which may be added at run time, up to RTE_MAX_ETHPORTS) and for what the EAL and the workers'
// attach allocate. The heap never grows after start (daemon/eal.cpp says why), so this is
// generous: a pool that does not fit fails at start, with the figure in the message.
unsigned hugepage_memory_mb(int nb_workers, unsigned mbufs_per_worker, uint32_t fdb_entries);

// Each worker also has a pool of large buffers: net_rtap reads a frame into a 2 KB head from the
// worker's pool and, when it is longer, into one large buffer behind it, so a 64 KB GSO
// super-frame is 2 segments. net_rtap takes buffers only for the reads of a burst (docs/rtap.md,
// "Rx buffers"): an idle port holds none, and these sizes do not grow with the ports.
inline constexpr uint16_t kLargeBufferRoom = 63552;  // 65557-byte frame + vnet header - 2 KB head
inline constexpr unsigned kLargeBuffersPerWorker = 511;  // 32 MB: 8 queues at a full window
inline constexpr unsigned kLargeBufferCache = 128;       // the worker's lcore cache of them

// The capture service's mbufs (vswitchd only): a captured frame is put into pcapng form in them
// on its way to the capture's output (daemon/capture_service.hpp).
// One mbuf holds a whole frame and its block (librte_pcapng appends its options to the last
// segment, which must have room): a capture keeps kCaptureSnaplenMax bytes of a frame at most.
inline constexpr const char* kCapturePoolName = "vs_capture_pool";
inline constexpr uint16_t kCapturePoolRoom = UINT16_MAX;
inline constexpr unsigned kCapturePoolMbufs = 40 * kMaxCaptures;  // a batch of 32 each, and more

class DatapathMemory {
 public:
  // Returns an empty string or what failed, with the fix.
  std::string create(int nb_workers, unsigned mbufs_per_worker, uint32_t fdb_entries);
  void destroy();

  SharedTopology& topology() { return *topology_; }
  WorkerCounterBlock& counters(int worker) { return *counters_.at(worker); }
  const WorkerCounterBlock& counters(int worker) const { return *counters_.at(worker); }
  rte_mempool* pool(int worker) const { return pools_.at(worker); }
  rte_mempool* large_pool(int worker) const { return large_pools_.at(worker); }
  // Puts what one lcore's caches hold of the worker's pools back into them.
  void flush_cache(int worker, unsigned lcore);
  // After a worker died: every mbuf of its pools back to free, including those it had posted as
  // rx buffers or had in flight (a SIGKILL returns none of them). Only valid when no one else
  // holds the pool's mbufs: true when the worker's queues are all net_rtap (its rx buffers are
  // process-private to the worker), false with net_tap (its rx rings live in shared memory).
  struct Reclaimed {
    unsigned mbufs = 0;       // recovered
    bool ring_reset = false;  // the pool's ring was left half-moved (killed inside a get or put)
  };
  Reclaimed reclaim_pool(int worker);
  rte_ring* learn_ring(int worker) const { return rings_.at(worker); }
  FdbTable& fdb() { return *fdb_; }
  VtepTable& vteps() { return *vteps_; }
  SharedCapture& capture() { return *capture_; }
  RateShares& rate_shares() { return *rate_shares_; }
  const RateShares& rate_shares() const { return *rate_shares_; }
  rte_mempool* capture_pool() const { return capture_pool_; }
  int nb_workers() const { return static_cast<int>(pools_.size()); }

 private:
  SharedTopology* topology_ = nullptr;
  std::vector<WorkerCounterBlock*> counters_;
  std::vector<rte_mempool*> pools_;
  std::vector<rte_mempool*> large_pools_;
  std::vector<rte_ring*> rings_;
  FdbTable* fdb_ = nullptr;
  VtepTable* vteps_ = nullptr;
  SharedCapture* capture_ = nullptr;
  RateShares* rate_shares_ = nullptr;
  rte_mempool* capture_pool_ = nullptr;
};

// Whether a ring (one of DPDK's default MP/MC or SP/SC ones) has an end whose head is ahead of
// its tail. Transient while a process is inside an enqueue or dequeue; for good if that process
// was killed there, and then every later producer (or consumer) of the ring spins.
bool ring_left_half_moved(const rte_ring* r);

}  // namespace vs
