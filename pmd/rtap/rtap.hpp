// net_rtap: a DPDK poll-mode driver for Linux TAP interfaces with io_uring on the queue fds.
//
// Memory is split the way every multi-process DPDK driver must split it:
//  - dev_private (rtap_shared) and the queue structs (rtap_rxq, rtap_txq) live in hugepage memory
//    that every process of the application sees: configuration and counters only;
//  - rtap_process (dev->process_private) is ordinary heap memory of one process: fds, netlink
//    sockets, io_uring instances and their slot tables. Nothing in it may be reached through
//    shared memory, because fds and ring mappings mean something only in the process that made
//    them.
#pragma once

#include <ethdev_driver.h>
#include <liburing.h>
#include <net/if.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include <sched.h>
#include <sys/uio.h>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace rtap {

inline constexpr unsigned kMaxQueues = 64;  // queue pairs per port (kernel allows 256; see docs)
inline constexpr uint16_t kDefaultBurst = 64;
inline constexpr uint16_t kDefaultRing = 1024;
inline constexpr uint16_t kMinRing = 32;
inline constexpr uint16_t kMaxRing = 4096;
inline constexpr unsigned kMaxSegs = 64;     // iovecs per packet (rx chain or tx chain)
inline constexpr uint16_t kRxMinReads = 2;   // reads a burst tries on a queue that woke up
inline constexpr unsigned kTxHdrRoom = 256;  // vnet header + copied L2..L4 headers for TSO
inline constexpr uint32_t kMaxFrame = 65535 + RTE_ETHER_HDR_LEN + 8;  // GSO super-frame bound

// The 12-byte virtio-net header (virtio 1.0 "v1" layout, i.e. with num_buffers). Declared here
// because <linux/virtio_net.h> does not compile as C++ (a member named `class`).
struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
  uint16_t num_buffers;
};
static_assert(sizeof(VnetHdr) == 12);
static_assert(RTE_PKTMBUF_HEADROOM >= sizeof(VnetHdr),
              "the rx path reads the header into the headroom");
inline constexpr uint8_t kVnetNeedsCsum = 1, kVnetDataValid = 2;
// Counts a frame by its destination MAC.
template <class X>
inline void count_dst(X& xs, const rte_mbuf* m) {
  const auto* d = rte_pktmbuf_mtod(m, const rte_ether_addr*);
  if (rte_is_broadcast_ether_addr(d))
    xs.broadcast++;
  else if (rte_is_multicast_ether_addr(d))
    xs.multicast++;
  else
    xs.unicast++;
}
inline constexpr uint8_t kGsoNone = 0, kGsoTcpv4 = 1, kGsoUdp = 3, kGsoTcpv6 = 4, kGsoEcn = 0x80;

// ---- shared (hugepage) state -------------------------------------------------------------------

// Per-queue extended counters. One writer: the lcore that polls the queue.
struct RxXstats {
  uint64_t no_mbuf;       // no buffer for a read: the read waits, its frame stays in the kernel
  uint64_t truncated;     // frame larger than the posted buffer (never delivered cut)
  uint64_t runt;          // shorter than vnet header + Ethernet header
  uint64_t read_errors;   // the read itself failed (res < 0)
  uint64_t bad_vnet_hdr;  // header the driver cannot honour (unknown GSO type...)
  uint64_t lro_packets;
  uint64_t csum_good;     // DATA_VALID from the kernel
  uint64_t csum_partial;  // NEEDS_CSUM from the kernel (delivered as L4_CKSUM_NONE)
  uint64_t multiseg;
  uint64_t unicast, multicast, broadcast;
  uint64_t size[7];  // 64, 65-127, 128-255, 256-511, 512-1023, 1024-1518, >1518
  // Burst calls that returned 0 because the queue was not ready in the calling process (not
  // claimed yet, buffers not posted, fds to re-sync): see rte_pmd_rtap_housekeeping(). Any
  // process may add to it (atomically), since the caller need not own the queue.
  uint64_t not_ready;
};
struct TxXstats {
  uint64_t ring_full;      // burst stopped early: no free slot even after reaping completions
  uint64_t too_many_segs;  // chain longer than kMaxSegs: dropped
  uint64_t bad_offload;    // offload request the driver cannot express: dropped
  uint64_t write_errors;   // the kernel rejected the write (res < 0)
  uint64_t tso_packets;
  uint64_t csum_offload;
  uint64_t multiseg;
  uint64_t hdr_copied;  // header could not go into the mbuf headroom (shared, indirect, chain)
  uint64_t unicast, multicast, broadcast;
  uint64_t size[7];
  uint64_t not_ready;  // as RxXstats::not_ready
};

struct QueueStats {
  uint64_t packets, bytes, errors;
};

struct rtap_rxq {
  uint16_t port_id, qid;
  uint16_t nb_desc;
  rte_mempool* mp;  // heads: the first segment of every read, its headroom holds the vnet header
  rte_mempool* tail_mp;  // the rest of a read's buffer (the same pool, or a large-buffer one)
  uint64_t offloads;
  QueueStats st;
  RxXstats xs;
};

struct rtap_txq {
  uint16_t port_id, qid;
  uint16_t nb_desc;
  uint64_t offloads;
  QueueStats st;
  TxXstats xs;
};

// Queue ownership (docs/rtap.md, "Multi-process"): one process polls an rx queue and one process
// transmits on a tx queue at a time, because the queue's counters have one writer and the rx
// reads posted by a process take the frames. 0 = free, else the owner's claim_token(): pid in the
// high half, low 32 bits of its start time (clock ticks since boot) in the low half, so a reused
// pid is not mistaken for the owner. Written with compare-and-swap by any process.
using ClaimWord = uint64_t;

struct rtap_shared {
  char ifname[IF_NAMESIZE];  // the kernel name (after %d expansion)
  char netns[64];            // empty: the caller's namespace
  int ifindex;               // in that namespace
  bool persist;
  uint16_t max_queues;  // from queues=
  rte_ether_addr mac;
  uint64_t imissed_base;  // kernel tx_dropped at the last stats_reset
  uint64_t ierr_base;
  uint32_t features;     // TUNGETFEATURES
  unsigned tun_offload;  // last TUNSETOFFLOAD value
  // Bumped by the primary whenever the queue fds or queue set-up change (configure, queue
  // set-up, start, stop); a secondary whose fds are of an older generation re-syncs.
  uint32_t generation;
  uint16_t nb_fds;  // queue fds the primary holds (= configured queue pairs)
  ClaimWord rx_owner[kMaxQueues];
  ClaimWord tx_owner[kMaxQueues];
};

// ---- process-private state ---------------------------------------------------------------------

struct RxSlot {
  rte_mbuf* head;   // chain of a read in flight (head from rtap_rxq::mp, then tail segments)
  rte_mbuf* spare;  // tail segments a frame left unused, linked; the slot's next read reuses them
  uint16_t nspare;
  uint16_t nseg;
  bool posted;
  iovec* iov;  // kMaxSegs entries, stable while the read is in flight
};

// Rx reads only what is there (docs/rtap.md, "Rx buffers"). A burst on a queue known to be
// readable posts a window of RWF_NOWAIT reads, then a one-shot POLLIN poll, in one submit: the
// reads complete inside that submit (a frame, or -EAGAIN once the queue is empty), and the poll
// either completes at once (more is waiting) or stays armed and is what wakes the queue later.
// So buffers are held only for the length of a burst: an idle queue holds none, and a worker's
// pool is sized by what its bursts take, not by its ports.
struct RxRing {
  io_uring ring;
  bool ring_ok = false;
  int efd = -1;  // eventfd registered on the ring for rx interrupts
  // The CQ tail when efd was last drained, and whether we wrote efd since: only a completion
  // (the tail moves) or our own write can have signalled it, so an idle queue is not read.
  unsigned efd_drained_tail = 0;
  bool efd_written = true;
  RxSlot* slots = nullptr;
  iovec* iov_mem = nullptr;
  uint16_t nb_slots = 0;
  uint16_t posted = 0;           // reads whose completion was not reaped yet
  uint16_t* idle_ids = nullptr;  // stack of slots without a read
  uint16_t nb_idle = 0;
  uint16_t spare_slots = 0;  // idle slots that hold spare segments (freed when the queue empties)
  uint16_t window = 0;       // reads the next burst posts: twice the frames the last one read
  bool poll_armed = false;   // a POLLIN poll is in flight
  bool readable = false;     // the last read found a frame, or the poll fired: try reading
  uint32_t capacity = 0;     // bytes one slot holds, vnet header included
  uint16_t seg_per_slot = 0;
  // This process owns the queue and its buffers are posted. Set (release) by housekeeping or a
  // claim, possibly on another thread than the one that polls; the burst reads it (acquire).
  bool claimed = false;
  bool draining = false;  // rte_pmd_rtap_queue_stop_reading: no new reads, bursts return the
                          // frames that had completed (kept in the process's carry)
};

struct TxSlot {
  rte_mbuf* m;
  uint32_t len;  // frame bytes (without the vnet header), for the byte counter
  alignas(16) uint8_t hdr[kTxHdrRoom];
  iovec iov[kMaxSegs + 2];
};

// The io_uring a thread's tx bursts submit to, one per thread for all the tx queues it sends on
// (docs/rtap.md, "Tx: one io_uring per thread"). A ring per tx queue made every process set up
// 750 io_uring instances at 250 ports x 3 queue pairs, a third of a worker's start-up, for
// queues it mostly never sends on. A TAP write completes inside the submit, so a burst reaps
// its own writes; a completion of another queue's write (never seen, but possible if the
// kernel ever completes one later) is counted on that queue when any burst of the thread reaps.
struct TxEngine {
  io_uring ring;
  bool defer = false;    // rte_pmd_rtap_tx_defer(): bursts queue their writes, a flush submits
  unsigned pending = 0;  // writes queued and not submitted yet
};

struct TxRing {
  TxSlot* slots = nullptr;
  uint16_t* free_ids = nullptr;  // stack of free slot indices
  uint16_t nb_free = 0;          // written by the thread whose engine reaps its writes
  uint16_t nb_slots = 0;
  bool claimed = false;  // as RxRing::claimed
  // While writes are in flight (nb_free < nb_slots): the engine they were submitted to. A
  // burst from another thread waits until they are reaped (counted as ring_full).
  TxEngine* engine = nullptr;
  rtap_txq* q = nullptr;  // where completions are counted; nullptr while draining
};

// Odd while a burst runs on the queue in this process: see quiesce() in rtap_mp.cpp. One cache
// line each, since different lcores poll different queues.
struct alignas(64) BusyWord {
  uint32_t v = 0;
};

struct rtap_process {
  int keep_fd = -1;  // keeps the interface, detached from traffic
  int nl_fd = -1;    // rtnetlink, opened in the interface's namespace
  int ns_fd = -1;    // /run/netns/NAME, or -1
  int lsc_fd = -1;   // RTMGRP_LINK socket while LSC is on
  rte_intr_handle* lsc_intr = nullptr;
  rte_intr_handle* rx_intr = nullptr;
  std::mutex nl_lock;  // control calls may come from any thread
  // Guards fds[] and nb_fds in the primary: its rte_mp thread hands them to secondaries.
  std::mutex fds_lock;
  bool secondary = false;
  bool alarm_counted = false;  // this port counts in the driver's alarm (probe succeeded)
  bool sync_counted = false;   // this port counts in the secondary's sync-action registration
  uint32_t generation = 0;     // of the fds this process holds (secondary)
  bool closing = false;        // the port is being removed: bursts return 0 at once
  bool held = false;           // housekeeping rebuilds the rings: bursts return 0 meanwhile
  // Housekeeping, claims, releases and the primary's queue set-up of this port in this process
  // (never taken by a burst): the driver's alarm and the application may both do them.
  std::recursive_mutex hk_lock;
  // A burst found the queue not ready: housekeeping claims and activates it.
  bool rx_wanted[kMaxQueues] = {}, tx_wanted[kMaxQueues] = {};
  // Failed tries to post an rx queue's buffers in a row, and when the streak began (timer
  // cycles): logged when it starts and when it ends.
  uint32_t post_failures[kMaxQueues] = {};
  uint64_t post_fail_since[kMaxQueues] = {};
  BusyWord rx_busy[kMaxQueues], tx_busy[kMaxQueues];
  uint16_t nb_fds = 0;
  // Frames a secondary's re-sync took out of its reads; the next bursts deliver them first.
  bool carry_pending = false;
  std::vector<rte_mbuf*> carry[kMaxQueues];
  pid_t busy_logged[2][kMaxQueues] = {};  // last owner named in a refused-claim message
  int fds[kMaxQueues];
  RxRing* rx[kMaxQueues];
  TxRing* tx[kMaxQueues];
  rtap_process() {
    for (unsigned i = 0; i < kMaxQueues; i++) {
      fds[i] = -1;
      rx[i] = nullptr;
      tx[i] = nullptr;
    }
  }
};

template <class Ring>
inline bool is_claimed(const Ring* r) {
  return __atomic_load_n(&r->claimed, __ATOMIC_ACQUIRE);
}
template <class Ring>
inline void set_claimed(Ring* r, bool v) {
  __atomic_store_n(&r->claimed, v, __ATOMIC_RELEASE);
}

inline rtap_process* proc_of(const rte_eth_dev* dev) {
  return static_cast<rtap_process*>(dev->process_private);
}
inline rtap_shared* shared_of(const rte_eth_dev* dev) {
  return static_cast<rtap_shared*>(dev->data->dev_private);
}

// Runs f() on a short-lived thread that has joined the namespace ns_fd. Sockets and tun fds keep
// the namespace they were opened in, so only their creation needs it; the caller's threads never
// change namespace.
template <class F>
int in_netns(int ns_fd, F&& f) {
  if (ns_fd < 0) return f();
  int rc = 0;
  std::thread t([&] {
    if (setns(ns_fd, CLONE_NEWNET) < 0)
      rc = -errno;
    else
      rc = f();
  });
  t.join();
  return rc;
}

// ---- rtap_netlink.cpp
// ----------------------------------------------------------------------------

struct LinkInfo {
  int ifindex = 0;
  unsigned flags = 0;
  unsigned mtu = 0;
  rte_ether_addr mac{};
  char name[IF_NAMESIZE] = {};
  char kind[16] = {};  // IFLA_INFO_KIND, "tun" for a TAP
  uint64_t rx_dropped = 0, tx_dropped = 0, rx_packets = 0, tx_packets = 0;
};

int nl_open(unsigned groups);                                           // fd or -errno
int nl_get_link(int fd, int ifindex, const char* name, LinkInfo* out);  // 0 or -errno
int nl_set_flags(int fd, int ifindex, unsigned flags, unsigned change);
int nl_set_mtu(int fd, int ifindex, unsigned mtu);
int nl_set_mac(int fd, int ifindex, const rte_ether_addr* mac);
// Parses what an RTMGRP_LINK socket delivers; calls back for each message about ifindex.
// Returns the number of messages read, -errno on error.
int nl_read_link_events(int fd, int ifindex, void (*cb)(void* arg, bool deleted, const LinkInfo&),
                        void* arg);

// ---- rtap_mp.cpp: queue ownership and multi-process support ------------------------------------

// Housekeeping of one port in this process (rte_pmd_rtap_housekeeping, or the driver's alarm in
// a process that never calls it): re-sync stale fds, claim and activate the queues this process
// owns or its bursts asked for. 1 if the rings were rebuilt, 0, or -errno.
int housekeeping(rte_eth_dev* dev);
void alarm_port_added();   // probe: the driver's alarm runs while this process has rtap ports
void alarm_close_begin();  // close: cancels the alarm, waiting for a running callback
void alarm_close_end(bool counted);  // close done: re-arms it if rtap ports remain
bool stale(const rte_eth_dev* dev);  // a secondary's fds are of an older generation
void cache_token();  // probe: this process's claim identity (reads /proc once), for:
// The burst's only claim: a free claim word (or ours) becomes ours with one compare-and-swap.
// Anything else (a word another process holds: is it alive?) is left to housekeeping.
bool claim_if_free(ClaimWord* word);
int rxq_activate(rte_eth_dev* dev, uint16_t qid, bool verbose);
void rxq_deactivate(rte_eth_dev* dev, uint16_t qid, bool keep_frames = false);
uint16_t take_carry(rtap_process* p, uint16_t qid, rte_mbuf** pkts, uint16_t n);
void drop_carry(rtap_process* p);
int txq_activate(rte_eth_dev* dev, uint16_t qid, bool verbose);
void txq_deactivate(rte_eth_dev* dev, uint16_t qid);
void deactivate_all(rte_eth_dev* dev);
void bump_generation(rte_eth_dev* dev);  // primary: after any change of fds or queues
int mp_primary_register();               // on each probe in the primary; counted
void mp_primary_unregister();            // on each close in the primary
int secondary_attach(rte_eth_dev* dev);  // probe in a secondary: netlink, fds, rings
int secondary_sync(rte_eth_dev* dev);    // fresh fds and rings after a generation change
void secondary_close(rte_eth_dev* dev);  // only this process's fds, rings and claims
void retire_process(rtap_process* p);    // rtap_ethdev.cpp: freed at process exit
int create_rings(rte_eth_dev* dev);      // per-process rings for every set-up queue
uint32_t rx_frame_max(const rte_eth_dev* dev);
int rxq_intr_enable_all(rte_eth_dev* dev);
void rxq_intr_disable_all(rte_eth_dev* dev);

// ---- rtap_fd_channel.cpp: every port's queue fds to a starting secondary in one exchange ------

// Held by the primary while it reads or frees a port's rtap_process from a thread other than
// the control thread's: the fd channel and the rte_mp fd action against close.
std::mutex& primary_ports_lock();
int fd_channel_start();  // primary, first port: listen in the runtime directory
void fd_channel_stop();  // primary, last port closed
// Secondary: the port's fds from the exchange made at its first attach; 0, or -ENOENT (then ask
// over rte_mp, and count it with fd_channel_count_request).
int fd_channel_take(rte_eth_dev* dev);
void fd_channel_count_request();
void fd_channel_purge();  // fds of ports this process never attached, once they are stale

// ---- rtap_rxtx.cpp
// -------------------------------------------------------------------------------

uint16_t rx_burst(void* q, rte_mbuf** pkts, uint16_t n);
uint16_t tx_burst(void* q, rte_mbuf** pkts, uint16_t n);
uint16_t tx_prepare(void* q, rte_mbuf** pkts, uint16_t n);
int tx_done_cleanup(void* q, uint32_t free_cnt);  // reaps completed writes now

int rx_ring_create(RxRing* r, uint16_t nb_desc, bool want_efd);
// Segments per slot for the largest frame, from the queue's pools; no allocation.
int rx_ring_layout(RxRing* r, const rtap_rxq* q, uint32_t frame_max);
// As rx_ring_layout, and drops buffers that no longer fit (MTU or LRO changed).
int rx_ring_prepare(RxRing* r, const rtap_rxq* q, uint32_t frame_max);
void rx_ring_free_buffers(RxRing* r);  // after cancel: mbufs back to their pools
int rx_ring_start(RxRing* r, int fd);  // claim or start: arm the poll (no buffers taken)
// Stop: reads and the poll back. With keep, frames that had completed are delivered into *keep
// (counted on q) instead of dropped.
void rx_ring_cancel(RxRing* r, rtap_rxq* q = nullptr, std::vector<rte_mbuf*>* keep = nullptr);
void rx_ring_destroy(RxRing* r);                  // release: frees everything
int tx_ring_create(TxRing* r, uint16_t nb_desc);  // slots only: the io_uring is the thread's
// Waits (2 s at most) until no write of the ring is in flight, reaping them itself when they
// were submitted from this thread; false if some are still in flight (the ring must then be
// leaked, not freed: a completion would name it).
bool tx_ring_drain(TxRing* r);
void tx_ring_destroy(TxRing* r);

}  // namespace rtap

extern int rtap_logtype;
#define PMD_LOG(level, fmt, ...) \
  rte_log(RTE_LOG_##level, rtap_logtype, "%s(): " fmt "\n", __func__, ##__VA_ARGS__)
