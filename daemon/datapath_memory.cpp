#include "daemon/datapath_memory.hpp"

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <rte_memzone.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "shm/learn.hpp"
#include "shm/shm_names.hpp"

namespace vs {
namespace {

void* reserve_zone(const std::string& name, size_t size, std::string& err) {
  const rte_memzone* mz = rte_memzone_reserve(name.c_str(), size, SOCKET_ID_ANY, 0);
  if (!mz) {
    err = "cannot reserve shared memory '" + name + "' (" + std::to_string(size) +
          " bytes): " + rte_strerror(rte_errno) + ". Reserve more hugepages (scripts/setup.sh).";
    return nullptr;
  }
  std::memset(mz->addr, 0, size);
  return mz->addr;
}

// Empties a pool's common store, with no live user left: a ring-backed pool by resetting its
// ring (true if it was left half-moved), any other by dequeuing all.
bool empty_pool_store(rte_mempool* mp) {
  if (std::strncmp(rte_mempool_get_ops(mp->ops_index)->name, "ring_", 5) == 0) {
    // A worker SIGKILLed inside a bulk get or put, between moving one end's head and its tail,
    // leaves that tail behind for good: a dequeue here would spin, on the supervisor's thread,
    // waiting for it. With no live user, resetting the ring's indices is safe and empties it.
    auto* ring = static_cast<rte_ring*>(mp->pool_data);
    const bool half_moved = ring_left_half_moved(ring);
    rte_ring_reset(ring);
    return half_moved;
  }
  void* obj = nullptr;
  while (rte_mempool_ops_dequeue_bulk(mp, &obj, 1) == 0) {
  }
  return false;
}

}  // namespace

bool ring_left_half_moved(const rte_ring* r) {
  return r->prod.head != r->prod.tail || r->cons.head != r->cons.tail;
}

unsigned hugepage_memory_mb(int nb_workers, unsigned mbufs_per_worker, uint32_t fdb_entries) {
  // An mbuf of a pool: the mempool object header (a cache line), struct rte_mbuf and the default
  // buffer, with room for the trailer padding that spreads objects over memory channels.
  const std::size_t mbuf_bytes = 64 + sizeof(rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE + 128;
  // Per pool besides its mbufs: the ring of free objects (a power of two, 8 bytes a slot) and the
  // pool header with a cache for every possible lcore (about 1 MB with RTE_MAX_LCORE 128).
  std::size_t ring_slots = 1;
  while (ring_slots <= mbufs_per_worker) ring_slots <<= 1;
  const std::size_t pool_overhead =
      ring_slots * 8 + RTE_MAX_LCORE * sizeof(rte_mempool_cache) + (1u << 20);
  const std::size_t large_bytes = 64 + sizeof(rte_mbuf) + kLargeBufferRoom + 128;
  std::size_t large_slots = 1;
  while (large_slots <= kLargeBuffersPerWorker) large_slots <<= 1;
  const std::size_t large_pool = kLargeBuffersPerWorker * large_bytes + large_slots * 8 +
                                 RTE_MAX_LCORE * sizeof(rte_mempool_cache) + (1u << 20);
  const std::size_t per_worker = mbufs_per_worker * mbuf_bytes + pool_overhead + large_pool +
                                 sizeof(WorkerCounterBlock) + kLearnRingSize * sizeof(LearnEvent) +
                                 (64u << 10);
  // The EAL's own allocations, every port's private data and queues, the workers' per-process
  // data of each port, and the heap's element headers and alignment.
  const std::size_t fixed = (64u << 20) + sizeof(SharedTopology) + sizeof(RateShares) +
                            sizeof(VtepTable) + capture_zone_size(nb_workers) +
                            kCapturePoolMbufs * (64 + sizeof(rte_mbuf) + kCapturePoolRoom + 128);
  const std::size_t total =
      static_cast<std::size_t>(nb_workers) * per_worker + fdb_table_bytes(fdb_entries) + fixed;
  return static_cast<unsigned>((total + (1u << 20) - 1) >> 20);
}

std::string DatapathMemory::create(int nb_workers, unsigned mbufs_per_worker,
                                   uint32_t fdb_entries) {
  std::string err;
  void* topo = reserve_zone(kTopologyZone, sizeof(SharedTopology), err);
  if (!topo) return err;
  topology_ = new (topo) SharedTopology;
  topology_init(*topology_);
  void* fdb = reserve_zone(kFdbZone, fdb_table_bytes(fdb_entries), err);
  if (!fdb) return err;
  fdb_ = static_cast<FdbTable*>(fdb);
  fdb_table_init(*fdb_, fdb_entries);
  void* vteps = reserve_zone(kVtepZone, sizeof(VtepTable), err);
  if (!vteps) return err;
  vteps_ = new (vteps) VtepTable;
  vtep_table_init(*vteps_);
  void* shares = reserve_zone(kRateSharesZone, sizeof(RateShares), err);
  if (!shares) return err;
  rate_shares_ = new (shares) RateShares;
  rate_shares_init(*rate_shares_);
  void* cap = reserve_zone(kCaptureZone, capture_zone_size(nb_workers), err);
  if (!cap) return err;
  capture_ = static_cast<SharedCapture*>(cap);
  capture_init(*capture_, nb_workers);
  capture_pool_ = rte_pktmbuf_pool_create(kCapturePoolName, kCapturePoolMbufs, 0, 0,
                                          kCapturePoolRoom, rte_socket_id());
  if (!capture_pool_)
    return std::string("cannot create the capture pool: ") + rte_strerror(rte_errno) +
           ". Reserve more hugepages.";
  for (int w = 0; w < nb_workers; ++w) {
    void* block = reserve_zone(counter_zone_name(w), sizeof(WorkerCounterBlock), err);
    if (!block) return err;
    auto* counters = new (block) WorkerCounterBlock;
    counters->magic = kCounterBlockMagic;
    counters_.push_back(counters);
    // The lcore cache may not exceed two thirds of the pool (a fault-injection pool is tiny).
    const unsigned cache = std::min(256u, mbufs_per_worker * 2 / 3);
    rte_mempool* mp = rte_pktmbuf_pool_create(worker_pool_name(w).c_str(), mbufs_per_worker, cache,
                                              0, RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
    if (!mp) {
      return "cannot create the mbuf pool of worker " + std::to_string(w) + " (" +
             std::to_string(mbufs_per_worker) + " mbufs): " + rte_strerror(rte_errno) +
             ". Lower [daemon] mbufs_per_worker or reserve more hugepages.";
    }
    pools_.push_back(mp);
    // The worker is the one user of its large pool, so its lcore cache takes nothing from
    // anyone. A cache that holds a burst's worth of super-frames keeps their buffers last in,
    // first out, warm in the CPU's caches; with 16, a 4-stream TCP burst cycled through the
    // pool's ring, first in first out, all 32 MB of it. 128 instead of 16: worker CPU per Gbit
    // -7% at 4 streams, 1 stream unchanged (bench/results/2026-12-07-vm-large-cache-ab.md).
    rte_mempool* large =
        rte_pktmbuf_pool_create(large_pool_name(w).c_str(), kLargeBuffersPerWorker,
                                kLargeBufferCache, 0, kLargeBufferRoom, rte_socket_id());
    if (!large) {
      return "cannot create the large-buffer pool of worker " + std::to_string(w) + " (" +
             std::to_string(kLargeBuffersPerWorker) + " x " + std::to_string(kLargeBufferRoom) +
             " bytes): " + rte_strerror(rte_errno) + ". Reserve more hugepages.";
    }
    large_pools_.push_back(large);
    rte_ring* ring =
        rte_ring_create_elem(learn_ring_name(w).c_str(), sizeof(LearnEvent), kLearnRingSize,
                             rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!ring) {
      return "cannot create the learn ring of worker " + std::to_string(w) + ": " +
             rte_strerror(rte_errno);
    }
    rings_.push_back(ring);
  }
  return {};
}

void DatapathMemory::destroy() {
  for (rte_ring* r : rings_) rte_ring_free(r);
  rings_.clear();
  if (fdb_) rte_memzone_free(rte_memzone_lookup(kFdbZone));
  fdb_ = nullptr;
  if (vteps_) rte_memzone_free(rte_memzone_lookup(kVtepZone));
  vteps_ = nullptr;
  if (rate_shares_) rte_memzone_free(rte_memzone_lookup(kRateSharesZone));
  rate_shares_ = nullptr;
  if (capture_) rte_memzone_free(rte_memzone_lookup(kCaptureZone));
  capture_ = nullptr;
  if (capture_pool_) rte_mempool_free(capture_pool_);
  capture_pool_ = nullptr;
  for (rte_mempool* mp : pools_) rte_mempool_free(mp);
  pools_.clear();
  for (rte_mempool* mp : large_pools_) rte_mempool_free(mp);
  large_pools_.clear();
  for (int w = 0; w < static_cast<int>(counters_.size()); ++w)
    rte_memzone_free(rte_memzone_lookup(counter_zone_name(w).c_str()));
  counters_.clear();
  if (topology_) rte_memzone_free(rte_memzone_lookup(kTopologyZone));
  topology_ = nullptr;
}

namespace {

DatapathMemory::Reclaimed reclaim(rte_mempool* mp) {
  const unsigned before = rte_mempool_avail_count(mp);
  // Empty the pool's common store (bypassing every lcore cache), then put every object back,
  // re-initialised: the dead worker's view of the pool is gone with it.
  // Every lcore's cache, not only the dead process's: mbufs of this pool freed by a worker that
  // polled one of its queues for a while sit in that worker's cache and are put back below too.
  // (No live process takes from this pool now: the caller guarantees it.)
  for (unsigned id = 0; id < RTE_MAX_LCORE; ++id)
    if (rte_mempool_cache* cache = rte_mempool_default_cache(mp, id)) cache->len = 0;
  DatapathMemory::Reclaimed out;
  out.ring_reset = empty_pool_store(mp);
  rte_mempool_obj_iter(
      mp,
      [](rte_mempool* m, void*, void* obj, unsigned idx) {
        rte_pktmbuf_init(m, nullptr, obj, idx);
        rte_mempool_ops_enqueue_bulk(m, &obj, 1);
      },
      nullptr);
  const unsigned after = rte_mempool_avail_count(mp);
  out.mbufs = after > before ? after - before : 0;
  return out;
}

}  // namespace

DatapathMemory::Reclaimed DatapathMemory::reclaim_pool(int worker) {
  Reclaimed out = reclaim(pools_.at(worker));
  const Reclaimed large = reclaim(large_pools_.at(worker));
  out.mbufs += large.mbufs;
  out.ring_reset = out.ring_reset || large.ring_reset;
  return out;
}

void DatapathMemory::flush_cache(int worker, unsigned lcore) {
  for (rte_mempool* mp : {pools_.at(worker), large_pools_.at(worker)})
    if (rte_mempool_cache* cache = rte_mempool_default_cache(mp, lcore))
      rte_mempool_cache_flush(cache, mp);
}

}  // namespace vs
