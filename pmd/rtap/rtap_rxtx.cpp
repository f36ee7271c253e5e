// net_rtap data path: one io_uring per rx queue, and one per thread for all the tx queues it
// sends on (TxEngine in rtap.hpp), all process-private.
//
// Rx reads only what the TAP holds (RxRing in rtap.hpp): a burst posts RWF_NOWAIT reads and a
// one-shot poll, and the reads complete inside that submit. A read's buffer is an mbuf from the
// queue's pool, whose headroom takes the vnet header so the frame lands at the usual data
// offset, followed by tail segments when one mbuf cannot hold the largest frame the kernel may
// hand over: from a large-buffer pool when the application gives one (rx_mempools), so a 64 KB
// super-frame is two segments, else more mbufs of the same pool. Tail segments a frame leaves
// unused stay in the slot for its next read, until the queue runs empty.
//
// Tx writes the vnet header and the frame with one WRITE (header prepended in the headroom of a
// private, single-segment mbuf) or one WRITEV (header in the slot's own memory, then the
// segments), so shared, indirect and chained mbufs are never written to. Completions are reaped
// on every burst, before and after submitting: a TAP write completes during submission, so
// mbufs return to their pool within the burst that sent them. A write's user_data names its
// ring and slot, since the thread's other queues share the CQ.
#include "rtap.hpp"
#include "rte_pmd_rtap.h"

#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

namespace rtap {
namespace {

constexpr uint64_t kCancelId = ~0ULL;
constexpr uint64_t kPollId = ~1ULL;
constexpr uint32_t kHdr = sizeof(VnetHdr);

inline unsigned size_bucket(uint32_t len) {
  if (len <= 64) return 0;
  if (len <= 127) return 1;
  if (len <= 255) return 2;
  if (len <= 511) return 3;
  if (len <= 1023) return 4;
  if (len <= 1518) return 5;
  return 6;
}

// ---- rx ----------------------------------------------------------------------------------------

// Points the slot's iovecs at its chain: the head starts kHdr bytes before the data offset.
void slot_iov(RxSlot* s) {
  rte_mbuf* m = s->head;
  s->iov[0].iov_base = rte_pktmbuf_mtod_offset(m, char*, -static_cast<int>(kHdr));
  s->iov[0].iov_len = kHdr + rte_pktmbuf_tailroom(m);
  unsigned i = 1;
  for (m = m->next; m != nullptr; m = m->next, i++) {
    s->iov[i].iov_base = m->buf_addr;
    s->iov[i].iov_len = m->buf_len;
  }
  s->nseg = static_cast<uint16_t>(i);
}

// Gives the slot a whole chain for its next read: a head, then the tail segments it lacks in
// front of its spare ones. False (nothing taken) when a pool is empty.
bool slot_arm(const rtap_rxq* q, RxRing* r, RxSlot* s) {
  const unsigned need = r->seg_per_slot - 1u - s->nspare;
  rte_mbuf* segs[kMaxSegs];
  if (need > 0 && rte_pktmbuf_alloc_bulk(q->tail_mp, segs, need) != 0) return false;
  rte_mbuf* head = rte_pktmbuf_alloc(q->mp);
  if (unlikely(head == nullptr)) {
    for (unsigned i = 0; i < need; i++) rte_pktmbuf_free_seg(segs[i]);
    return false;
  }
  for (unsigned i = 0; i < need; i++) {
    segs[i]->data_off = 0;
    segs[i]->next = (i + 1 < need) ? segs[i + 1] : s->spare;
  }
  head->next = need > 0 ? segs[0] : s->spare;
  if (s->spare != nullptr) r->spare_slots--;
  s->head = head;
  s->spare = nullptr;
  s->nspare = 0;
  slot_iov(s);
  return true;
}

// Every buffer of an idle slot back to its pool.
void slot_release(RxRing* r, RxSlot* s) {
  if (s->head != nullptr) rte_pktmbuf_free(s->head);
  if (s->spare != nullptr) {
    rte_pktmbuf_free(s->spare);
    r->spare_slots--;
  }
  s->head = s->spare = nullptr;
  s->nspare = 0;
}

io_uring_sqe* get_sqe(io_uring* ring) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe == nullptr) {
    io_uring_submit(ring);
    sqe = io_uring_get_sqe(ring);
  }
  return sqe;
}

// A read that never waits: it completes in the submit, with a frame or -EAGAIN.
bool post_read(RxRing* r, uint16_t id, int fd) {
  RxSlot* s = &r->slots[id];
  io_uring_sqe* sqe = get_sqe(&r->ring);
  if (sqe == nullptr) return false;
  if (s->nseg == 1)
    io_uring_prep_read(sqe, fd, s->iov[0].iov_base, static_cast<unsigned>(s->iov[0].iov_len), 0);
  else
    io_uring_prep_readv(sqe, fd, s->iov, s->nseg, 0);
  sqe->rw_flags = RWF_NOWAIT;
  io_uring_sqe_set_data64(sqe, id);
  s->posted = true;
  r->posted++;
  return true;
}

bool arm_poll(RxRing* r, int fd) {
  io_uring_sqe* sqe = get_sqe(&r->ring);
  if (sqe == nullptr) return false;
  io_uring_prep_poll_add(sqe, fd, POLLIN);
  io_uring_sqe_set_data64(sqe, kPollId);
  r->poll_armed = true;
  return true;
}

// Translates the vnet header into mbuf metadata. Returns false for a header we cannot honour.
bool rx_offload(rtap_rxq* q, rte_mbuf* m, const VnetHdr* h) {
  if (h->flags & kVnetNeedsCsum) {
    // The L4 checksum field holds the pseudo-header sum only; the data itself is intact.
    m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;
    q->xs.csum_partial++;
  } else if (h->flags & kVnetDataValid) {
    m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_GOOD;
    q->xs.csum_good++;
  }
  switch (h->gso_type & ~kGsoEcn) {
    case kGsoNone:
      return true;
    case kGsoTcpv4:
    case kGsoTcpv6:
      if (h->gso_size == 0) return false;
      m->ol_flags |= RTE_MBUF_F_RX_LRO;
      m->tso_segsz = h->gso_size;
      q->xs.lro_packets++;
      return true;
    default:  // UDP fragmentation/segmentation is never enabled with TUNSETOFFLOAD
      return false;
  }
}

// Turns a completed read into a packet, or nullptr (empty queue, error, drop). The slot keeps
// the tail segments the frame did not use; a failed read's chain goes back to the pools.
rte_mbuf* rx_complete(rtap_rxq* q, RxRing* r, RxSlot* s, int res) {
  if (unlikely(res < 0)) {
    if (res != -ECANCELED && res != -EAGAIN) {
      q->xs.read_errors++;
      q->st.errors++;
    }
    slot_release(r, s);
    return nullptr;
  }
  if (unlikely(static_cast<uint32_t>(res) < kHdr + RTE_ETHER_HDR_LEN)) {
    q->xs.runt++;
    q->st.errors++;
    slot_release(r, s);
    return nullptr;
  }
  // The TAP returns the frame's full length even when it copied less: that is how a frame
  // larger than the buffer shows itself. It is dropped and counted, never delivered cut.
  if (unlikely(static_cast<uint32_t>(res) > r->capacity)) {
    q->xs.truncated++;
    q->st.errors++;
    slot_release(r, s);
    return nullptr;
  }
  uint32_t frame = static_cast<uint32_t>(res) - kHdr;

  // How many segments the frame used.
  rte_mbuf* m = s->head;
  uint32_t left = frame;
  unsigned used = 0;
  rte_mbuf* last = nullptr;
  for (rte_mbuf* seg = m; seg != nullptr && left > 0; seg = seg->next) {
    uint32_t room = (used == 0) ? rte_pktmbuf_tailroom(seg) : seg->buf_len;
    uint32_t take = RTE_MIN(left, room);
    seg->data_len = static_cast<uint16_t>(take);
    left -= take;
    used++;
    last = seg;
  }
  s->head = nullptr;
  s->spare = last->next;
  s->nspare = static_cast<uint16_t>(s->nseg - used);
  if (s->spare != nullptr) r->spare_slots++;
  last->next = nullptr;
  m->nb_segs = static_cast<uint16_t>(used);
  m->pkt_len = frame;
  m->port = q->port_id;
  m->ol_flags = 0;
  m->packet_type = 0;

  const auto* h = rte_pktmbuf_mtod_offset(m, const VnetHdr*, -static_cast<int>(kHdr));
  if (unlikely(!rx_offload(q, m, h))) {
    q->xs.bad_vnet_hdr++;
    q->st.errors++;
    rte_pktmbuf_free(m);
    return nullptr;
  }
  if (used > 1) q->xs.multiseg++;
  count_dst(q->xs, m);
  q->xs.size[size_bucket(frame)]++;
  q->st.packets++;
  q->st.bytes += frame;
  return m;
}

// ---- tx ----------------------------------------------------------------------------------------

// Pseudo-header sum (not inverted) over the addresses, protocol and the L4 length, the value
// Linux expects in the checksum field of a CHECKSUM_PARTIAL / GSO packet.
uint16_t pseudo_sum(const uint8_t* l3, bool v6, uint32_t l4len, uint8_t proto) {
  uint32_t sum;
  if (v6) {
    const auto* ip = reinterpret_cast<const rte_ipv6_hdr*>(l3);
    sum = __rte_raw_cksum(ip->src_addr, 32, 0);
  } else {
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(l3);
    sum = __rte_raw_cksum(&ip->src_addr, 8, 0);
  }
  uint32_t tail[2] = {rte_cpu_to_be_32(l4len), rte_cpu_to_be_32(proto)};
  sum = __rte_raw_cksum(tail, sizeof(tail), sum);
  return __rte_raw_cksum_reduce(sum);
}

// Fills the vnet header for m. Headers that must change (TSO lengths and pseudo-header, IPv4
// header checksum) are copied behind the vnet header in slot->hdr and fixed there, so the
// packet's own data is never written. Returns the number of packet bytes copied, or -1.
int tx_offload(rtap_txq* q, rte_mbuf* m, TxSlot* slot) {
  auto* h = reinterpret_cast<VnetHdr*>(slot->hdr);
  memset(h, 0, sizeof(*h));
  uint64_t ol = m->ol_flags;
  if ((ol & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_IP_CKSUM)) == 0)
    return 0;
  if (ol & RTE_MBUF_F_TX_TUNNEL_MASK) return -1;  // no tunnel GSO/csum through a TAP here

  const uint32_t l3off = m->l2_len;
  const uint32_t l4off = l3off + m->l3_len;
  const bool v6 = (ol & RTE_MBUF_F_TX_IPV6) != 0;
  int copied = 0;

  if (ol & RTE_MBUF_F_TX_TCP_SEG) {
    uint32_t hlen = l4off + m->l4_len;
    if (m->tso_segsz == 0 || m->l4_len < sizeof(rte_tcp_hdr) || m->l3_len == 0 ||
        hlen > kTxHdrRoom - kHdr || hlen >= m->pkt_len || m->pkt_len - l3off > 65535)
      return -1;
    uint8_t* p = slot->hdr + kHdr;
    const void* src = rte_pktmbuf_read(m, 0, hlen, p);
    if (src != p) rte_memcpy(p, src, hlen);
    // Linux segments the super-frame from these headers: lengths must describe the whole
    // frame, and the TCP field must hold the pseudo-header sum *with* the L4 length (the DPDK
    // convention leaves the length out for TSO; the virtio PMD makes the same fix-up).
    if (v6) {
      auto* ip = reinterpret_cast<rte_ipv6_hdr*>(p + l3off);
      ip->payload_len =
          rte_cpu_to_be_16(static_cast<uint16_t>(m->pkt_len - l3off - sizeof(rte_ipv6_hdr)));
    } else {
      auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p + l3off);
      ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(m->pkt_len - l3off));
      ip->hdr_checksum = 0;
      ip->hdr_checksum = rte_ipv4_cksum(ip);
    }
    auto* th = reinterpret_cast<rte_tcp_hdr*>(p + l4off);
    th->cksum = pseudo_sum(p + l3off, v6, m->pkt_len - l4off, IPPROTO_TCP);
    h->gso_type = v6 ? kGsoTcpv6 : kGsoTcpv4;
    h->gso_size = m->tso_segsz;
    h->hdr_len = static_cast<uint16_t>(hlen);
    h->flags = kVnetNeedsCsum;
    h->csum_start = static_cast<uint16_t>(l4off);
    h->csum_offset = offsetof(rte_tcp_hdr, cksum);
    q->xs.tso_packets++;
    return static_cast<int>(hlen);
  }

  if (ol & RTE_MBUF_F_TX_IP_CKSUM) {
    // A TAP has no IPv4 header checksum offload: compute it on a private copy.
    if (v6 || m->l3_len < sizeof(rte_ipv4_hdr) || l4off > kTxHdrRoom - kHdr || l4off > m->pkt_len)
      return -1;
    uint8_t* p = slot->hdr + kHdr;
    const void* src = rte_pktmbuf_read(m, 0, l4off, p);
    if (src != p) rte_memcpy(p, src, l4off);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p + l3off);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    copied = static_cast<int>(l4off);
  }
  switch (ol & RTE_MBUF_F_TX_L4_MASK) {
    case RTE_MBUF_F_TX_TCP_CKSUM:
      h->csum_offset = offsetof(rte_tcp_hdr, cksum);
      break;
    case RTE_MBUF_F_TX_UDP_CKSUM:
      h->csum_offset = offsetof(rte_udp_hdr, dgram_cksum);
      break;
    case 0:
      return copied;
    default:  // SCTP's CRC32c is not an Internet checksum: the kernel cannot complete it
      return -1;
  }
  if (l4off + h->csum_offset + 2 > m->pkt_len) return -1;
  h->flags = kVnetNeedsCsum;
  h->csum_start = static_cast<uint16_t>(l4off);
  q->xs.csum_offload++;
  return copied;
}

// A write's user_data: its ring and slot. User-space pointers fit in 48 bits on every 64-bit
// target DPDK supports, and slot ids in 16.
static_assert(kMaxRing <= 65536);
inline uint64_t tx_user_data(const TxRing* r, uint16_t id) {
  return (static_cast<uint64_t>(reinterpret_cast<uintptr_t>(r)) << 16) | id;
}

// Every completion in the engine's CQ, whatever queue of this thread it belongs to.
void tx_reap(TxEngine* e) {
  unsigned head, seen = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&e->ring, head, cqe) {
    seen++;
    auto* r = reinterpret_cast<TxRing*>(static_cast<uintptr_t>(cqe->user_data >> 16));
    const uint16_t id = static_cast<uint16_t>(cqe->user_data & 0xffff);
    TxSlot* s = &r->slots[id];
    if (rtap_txq* q = r->q) {
      if (unlikely(cqe->res < 0)) {
        q->xs.write_errors++;
        q->st.errors++;
      } else {
        q->st.packets++;
        q->st.bytes += s->len;
        q->xs.size[size_bucket(s->len)]++;
      }
    }
    rte_pktmbuf_free(s->m);
    s->m = nullptr;
    r->free_ids[r->nb_free] = id;
    __atomic_store_n(&r->nb_free, static_cast<uint16_t>(r->nb_free + 1), __ATOMIC_RELEASE);
  }
  if (seen) io_uring_cq_advance(&e->ring, seen);
}

// Submits every write queued in the engine (deferred ones of all the thread's queues too) and
// reaps what completed: a TAP write completes inside the submit. Returns io_uring_submit's.
int tx_submit(TxEngine* e) {
  const int rc = io_uring_submit(&e->ring);
  e->pending = 0;
  tx_reap(e);
  return rc;
}

// This thread's engine, made at its first tx burst (nullptr if the kernel refused: the burst
// sends nothing and the next one tries again). A ring of 256 entries is 7 pages, well within
// RLIMIT_MEMLOCK for a process without CAP_IPC_LOCK (kernel 6.x charges rings to it).
constexpr unsigned kEngineEntries = 256;
struct EngineHolder {
  TxEngine* e = nullptr;
  bool failed_logged = false;
  ~EngineHolder() {
    if (e == nullptr) return;
    io_uring_queue_exit(&e->ring);
    delete e;
    e = nullptr;
  }
};
thread_local EngineHolder t_engine;

TxEngine* this_thread_engine() {
  if (likely(t_engine.e != nullptr)) return t_engine.e;
  auto* e = new (std::nothrow) TxEngine;
  if (e == nullptr) return nullptr;
  const int rc = io_uring_queue_init(kEngineEntries, &e->ring, 0);
  if (rc < 0) {
    delete e;
    if (!t_engine.failed_logged) {  // once per thread: the only log of a burst
      t_engine.failed_logged = true;
      PMD_LOG(ERR,
              "cannot set up this thread's tx io_uring: %s; tx bursts send nothing until "
              "it can (ENOMEM: RLIMIT_MEMLOCK, or keep CAP_IPC_LOCK)",
              strerror(-rc));
    }
    return nullptr;
  }
  t_engine.e = e;
  return e;
}

}  // namespace

// ---- burst functions
// -----------------------------------------------------------------------------

namespace {

// Reaps completions into pkts from index nb; returns the new count. A poll's completion says
// the queue is readable; a read's -EAGAIN says it is empty.
uint16_t rx_reap(rtap_rxq* q, RxRing* r, rte_mbuf** pkts, uint16_t nb, uint16_t nb_pkts) {
  unsigned head, seen = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&r->ring, head, cqe) {
    if (nb >= nb_pkts) break;
    seen++;
    const uint64_t id = cqe->user_data;
    if (id == kPollId) {
      r->poll_armed = false;
      r->readable = true;  // POLLIN, or an error that the next read will report
      continue;
    }
    if (id >= r->nb_slots) continue;  // a cancel's own completion
    RxSlot* s = &r->slots[id];
    s->posted = false;
    r->posted--;
    if (cqe->res == -EAGAIN) r->readable = false;
    if (rte_mbuf* m = rx_complete(q, r, s, cqe->res)) pkts[nb++] = m;
    r->idle_ids[r->nb_idle++] = static_cast<uint16_t>(id);
  }
  if (seen) io_uring_cq_advance(&r->ring, seen);
  return nb;
}

// The queue ran empty: the spare segments its slots kept go back to the pools, so an idle queue
// holds no buffer. The slots used last are on top of the stack.
void release_spares(RxRing* r) {
  for (unsigned i = r->nb_idle; i-- > 0 && r->spare_slots > 0;) {
    RxSlot* s = &r->slots[r->idle_ids[i]];
    if (s->spare != nullptr) slot_release(r, s);
  }
}

uint16_t rx_active(rtap_rxq* q, RxRing* r, int fd, rte_mbuf** pkts, uint16_t nb_pkts) {
  // Task work waiting for this thread (COOP_TASKRUN: the poll's completion is posted by it):
  // run it now, one system call, only when there is some.
  if (IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_TASKRUN) io_uring_get_events(&r->ring);
  uint16_t nb = rx_reap(q, r, pkts, 0, nb_pkts);
  if (!r->readable || nb >= nb_pkts) {
    if (unlikely(!r->poll_armed && !r->readable) && arm_poll(r, fd)) io_uring_submit(&r->ring);
    return nb;
  }
  // Never more reads than the burst has room for: every one completes in the submit.
  const unsigned want = RTE_MIN(static_cast<unsigned>(r->window), nb_pkts - nb);
  unsigned posted = 0;
  while (posted < want && r->nb_idle > 0) {
    const uint16_t id = r->idle_ids[r->nb_idle - 1];
    RxSlot* s = &r->slots[id];
    if (s->head == nullptr && unlikely(!slot_arm(q, r, s))) {
      // The frame waits in the kernel (counted there as rx_missed if its queue overflows).
      q->xs.no_mbuf++;
      rte_eth_devices[q->port_id].data->rx_mbuf_alloc_failed++;
      break;
    }
    if (!post_read(r, id, fd)) break;
    r->nb_idle--;
    posted++;
  }
  // After the reads, so that it completes at once if they left frames behind.
  if (!r->poll_armed) arm_poll(r, fd);
  io_uring_submit(&r->ring);
  const uint16_t before = nb;
  nb = rx_reap(q, r, pkts, nb, nb_pkts);
  r->window = static_cast<uint16_t>(RTE_MIN(static_cast<unsigned>(r->nb_slots),
                                            RTE_MAX(2u * (nb - before), unsigned{kRxMinReads})));
  if (!r->readable && r->spare_slots > 0) release_spares(r);
  return nb;
}

// Marks the queue busy (odd) for the duration of a burst; see quiesce() in rtap_mp.cpp. The
// mark is a sequentially consistent store (one locked instruction per burst) so that either
// this burst sees `closing`, or the closing thread sees the mark and waits.
struct BusyMark {
  uint32_t* busy;
  explicit BusyMark(uint32_t* b) : busy(b) { __atomic_store_n(busy, *busy + 1, __ATOMIC_SEQ_CST); }
  ~BusyMark() { __atomic_store_n(busy, *busy + 1, __ATOMIC_RELEASE); }
};

}  // namespace

// The burst functions make no system call but the io_uring submit (io_uring_enter), never wait,
// never allocate memory (but mbufs from the queue's pool), never log. A queue that is not ready
// in this process (not claimed, buffers not posted, fds of an older generation, rings being
// rebuilt) returns 0, counts the call in the queue's not_ready xstat and asks for housekeeping,
// which claims, posts and re-syncs (rte_pmd_rtap_housekeeping, or the driver's alarm).
uint16_t rx_burst(void* queue, rte_mbuf** pkts, uint16_t nb_pkts) {
  auto* q = static_cast<rtap_rxq*>(queue);
  if (unlikely(q == nullptr)) return 0;  // a secondary polling a queue not set up (yet)
  rte_eth_dev* dev = &rte_eth_devices[q->port_id];
  rtap_process* proc = proc_of(dev);
  if (unlikely(proc == nullptr)) return 0;
  BusyMark mark(&proc->rx_busy[q->qid].v);
  if (unlikely(__atomic_load_n(&proc->closing, __ATOMIC_SEQ_CST))) return 0;
  if (unlikely(__atomic_load_n(&proc->held, __ATOMIC_SEQ_CST))) {
    __atomic_fetch_add(&q->xs.not_ready, 1, __ATOMIC_RELAXED);
    return 0;
  }
  // Frames a re-sync took out of this process's reads come first.
  if (unlikely(proc->carry_pending)) {
    uint16_t n = take_carry(proc, q->qid, pkts, nb_pkts);
    if (n > 0) return n;
  }
  RxRing* r = proc->rx[q->qid];
  if (unlikely(r == nullptr || !is_claimed(r) || r->draining || stale(dev))) {
    if (r != nullptr && r->draining) return take_carry(proc, q->qid, pkts, nb_pkts);
    __atomic_fetch_add(&q->xs.not_ready, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&proc->rx_wanted[q->qid], true, __ATOMIC_RELAXED);
    return 0;
  }
  return rx_active(q, r, proc->fds[q->qid], pkts, nb_pkts);
}

namespace {
uint16_t tx_active(rtap_txq* q, TxRing* r, int fd, rte_mbuf** pkts, uint16_t nb_pkts);
}

uint16_t tx_burst(void* queue, rte_mbuf** pkts, uint16_t nb_pkts) {
  auto* q = static_cast<rtap_txq*>(queue);
  if (unlikely(q == nullptr)) return 0;
  rte_eth_dev* dev = &rte_eth_devices[q->port_id];
  rtap_process* proc = proc_of(dev);
  if (unlikely(proc == nullptr)) return 0;
  BusyMark mark(&proc->tx_busy[q->qid].v);
  if (unlikely(__atomic_load_n(&proc->closing, __ATOMIC_SEQ_CST))) return 0;
  TxRing* r = proc->tx[q->qid];
  if (unlikely(__atomic_load_n(&proc->held, __ATOMIC_SEQ_CST) || r == nullptr || !is_claimed(r) ||
               stale(dev))) {
    // A tx queue needs nothing but its claim: a free one is taken here, so that an application
    // can send at once after start. Anything else waits for housekeeping.
    const bool ready = !__atomic_load_n(&proc->held, __ATOMIC_SEQ_CST) && r != nullptr &&
                       !stale(dev) && dev->data->dev_started &&
                       claim_if_free(&shared_of(dev)->tx_owner[q->qid]);
    if (!ready) {
      __atomic_fetch_add(&q->xs.not_ready, 1, __ATOMIC_RELAXED);
      __atomic_store_n(&proc->tx_wanted[q->qid], true, __ATOMIC_RELAXED);
      return 0;
    }
    set_claimed(r, true);
  }
  return tx_active(q, r, proc->fds[q->qid], pkts, nb_pkts);
}

namespace {

uint16_t tx_active(rtap_txq* q, TxRing* r, int fd, rte_mbuf** pkts, uint16_t nb_pkts) {
  TxEngine* e = this_thread_engine();
  if (unlikely(e == nullptr)) {
    q->xs.ring_full++;
    return 0;
  }
  if (unlikely(r->engine != e)) {
    // First burst, or the queue moved to this thread: only once its writes are all reaped.
    if (__atomic_load_n(&r->nb_free, __ATOMIC_ACQUIRE) != r->nb_slots) {
      q->xs.ring_full++;
      return 0;
    }
    r->engine = e;
  }
  r->q = q;
  tx_reap(e);
  uint16_t i;
  unsigned queued = 0;
  for (i = 0; i < nb_pkts; i++) {
    rte_mbuf* m = pkts[i];
    if (unlikely(r->nb_free == 0)) {
      q->xs.ring_full++;
      break;
    }
    // Every check that can drop the packet runs before an SQE is taken (upstream defect 6).
    if (unlikely(m->nb_segs > kMaxSegs)) {
      q->xs.too_many_segs++;
      q->st.errors++;
      rte_pktmbuf_free(m);
      continue;
    }
    uint16_t id = r->free_ids[r->nb_free - 1];
    TxSlot* s = &r->slots[id];
    int copied = tx_offload(q, m, s);
    if (unlikely(copied < 0)) {
      q->xs.bad_offload++;
      q->st.errors++;
      rte_pktmbuf_free(m);
      continue;
    }
    io_uring_sqe* sqe = io_uring_get_sqe(&e->ring);
    if (unlikely(sqe == nullptr)) {  // the engine is full: send what is queued
      tx_submit(e);
      queued = 0;
      sqe = io_uring_get_sqe(&e->ring);
    }
    if (unlikely(sqe == nullptr)) {
      q->xs.ring_full++;
      break;
    }
    r->nb_free--;
    count_dst(q->xs, m);
    s->m = m;
    s->len = m->pkt_len;
    if (copied == 0 && m->nb_segs == 1 && RTE_MBUF_DIRECT(m) && rte_mbuf_refcnt_read(m) == 1 &&
        rte_pktmbuf_headroom(m) >= kHdr) {
      // Private single-segment mbuf: one WRITE with the header in its headroom.
      char* p = rte_pktmbuf_prepend(m, kHdr);
      memcpy(p, s->hdr, kHdr);
      io_uring_prep_write(sqe, fd, p, m->data_len, 0);
    } else {
      s->iov[0].iov_base = s->hdr;
      s->iov[0].iov_len = kHdr + static_cast<unsigned>(copied);
      unsigned n = 1;
      uint32_t skip = static_cast<uint32_t>(copied);
      for (rte_mbuf* seg = m; seg != nullptr; seg = seg->next) {
        uint32_t len = seg->data_len;
        if (skip >= len) {
          skip -= len;
          continue;
        }
        s->iov[n].iov_base = rte_pktmbuf_mtod_offset(seg, char*, skip);
        s->iov[n].iov_len = len - skip;
        skip = 0;
        n++;
      }
      io_uring_prep_writev(sqe, fd, s->iov, n, 0);
      q->xs.hdr_copied++;
      if (m->nb_segs > 1) q->xs.multiseg++;
    }
    io_uring_sqe_set_data64(sqe, tx_user_data(r, id));
    queued++;
  }
  if (queued && e->defer) {
    e->pending += queued;  // rte_pmd_rtap_tx_flush() submits them with the thread's others
  } else if (queued) {
    tx_submit(e);
  }
  return i;
}

}  // namespace

int tx_done_cleanup(void* queue, uint32_t) {
  auto* q = static_cast<rtap_txq*>(queue);
  rtap_process* proc = proc_of(&rte_eth_devices[q->port_id]);
  TxRing* r = proc != nullptr ? proc->tx[q->qid] : nullptr;
  if (r == nullptr || !is_claimed(r) || r->engine == nullptr || r->engine != t_engine.e) return 0;
  uint16_t before = r->nb_free;
  tx_reap(r->engine);
  return r->nb_free - before;
}

uint16_t tx_prepare(void* queue, rte_mbuf** pkts, uint16_t nb_pkts) {
  (void)queue;
  for (uint16_t i = 0; i < nb_pkts; i++) {
    rte_mbuf* m = pkts[i];
    uint64_t ol = m->ol_flags;
    if (m->nb_segs > kMaxSegs) {
      rte_errno = EINVAL;
      return i;
    }
    if ((ol & RTE_MBUF_F_TX_TUNNEL_MASK) ||
        (ol & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_SCTP_CKSUM ||
        ((ol & RTE_MBUF_F_TX_TCP_SEG) && m->tso_segsz == 0)) {
      rte_errno = ENOTSUP;
      return i;
    }
  }
  return nb_pkts;
}

// ---- ring lifecycle (control path)
// ---------------------------------------------------------------

// Anonymous zero pages, faulted in only when first touched. Every process sets up every queue
// of every port and polls a few: memory written up front (calloc's memset, a loop over the
// slots) was 10-14% of a worker's start-up at 64-250 ports, and resident memory for queues it
// never uses.
static void* map_zeroed(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}
static void unmap_zeroed(void* p, size_t bytes) {
  if (p != nullptr) munmap(p, bytes);
}
static size_t rx_iov_bytes(uint16_t nb_desc) {
  return static_cast<size_t>(nb_desc) * kMaxSegs * sizeof(iovec);
}
static size_t tx_slots_bytes(uint16_t nb_desc) {
  return sizeof(TxSlot) * nb_desc;
}

int rx_ring_create(RxRing* r, uint16_t nb_desc, bool want_efd) {
  // COOP_TASKRUN|TASKRUN_FLAG, not SINGLE_ISSUER|DEFER_TASKRUN: see docs/rtap.md ("io_uring
  // choices"; rings are set up and cancelled from the control thread, and a deferred ring would
  // cost a system call on every idle poll). With COOP_TASKRUN, the poll completing on a frame
  // that another CPU's sender queued no longer interrupts the polling thread with an IPI (it
  // cost the sender ~6 µs and the frame ~11 µs in this VM); the kernel sets IORING_SQ_TASKRUN
  // instead, and the next burst sees it and runs the task work (rx_burst). A thread asleep
  // (epoll, rx interrupts) is still woken. RTAP_COOP_TASKRUN=0 (diagnostics): a plain ring.
  static const bool coop = [] {
    const char* v = getenv("RTAP_COOP_TASKRUN");
    return v == nullptr || strcmp(v, "0") != 0;
  }();
  io_uring_params params{};
  if (coop) params.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  int rc = io_uring_queue_init_params(nb_desc, &r->ring, &params);
  if (rc == -EINVAL && coop) {  // a kernel before 5.19
    params = io_uring_params{};
    rc = io_uring_queue_init_params(nb_desc, &r->ring, &params);
  }
  if (rc < 0) return rc;
  r->ring_ok = true;
  r->nb_slots = nb_desc;
  r->slots = static_cast<RxSlot*>(calloc(nb_desc, sizeof(RxSlot)));
  r->iov_mem = static_cast<iovec*>(map_zeroed(rx_iov_bytes(nb_desc)));
  r->idle_ids = static_cast<uint16_t*>(calloc(nb_desc, sizeof(uint16_t)));
  if (r->slots == nullptr || r->iov_mem == nullptr || r->idle_ids == nullptr) return -ENOMEM;
  for (unsigned i = 0; i < nb_desc; i++) r->slots[i].iov = r->iov_mem + i * kMaxSegs;
  if (want_efd) {
    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->efd < 0) return -errno;
    rc = io_uring_register_eventfd(&r->ring, r->efd);
    if (rc < 0) return rc;
    io_uring_cq_eventfd_toggle(&r->ring, false);  // signalled only between intr enable/disable
    r->efd_written = true;                        // the first enable drains it
  }
  return 0;
}

int rx_ring_layout(RxRing* r, const rtap_rxq* q, uint32_t frame_max) {
  const uint32_t head_len = rte_pktmbuf_data_room_size(q->mp);
  const uint32_t tail_len = rte_pktmbuf_data_room_size(q->tail_mp);
  if (head_len <= RTE_PKTMBUF_HEADROOM + RTE_ETHER_HDR_LEN || tail_len == 0) return -EINVAL;
  const uint32_t head_room = kHdr + head_len - RTE_PKTMBUF_HEADROOM;
  const uint32_t need = kHdr + frame_max;
  uint32_t nseg = 1;
  if (need > head_room) nseg += (need - head_room + tail_len - 1) / tail_len;
  if (nseg > kMaxSegs) return -E2BIG;
  r->seg_per_slot = static_cast<uint16_t>(nseg);
  r->capacity = head_room + (nseg - 1) * tail_len;
  return 0;
}

int rx_ring_prepare(RxRing* r, const rtap_rxq* q, uint32_t frame_max) {
  const uint16_t old_segs = r->seg_per_slot;
  int rc = rx_ring_layout(r, q, frame_max);
  if (rc == 0 && r->seg_per_slot != old_segs) rx_ring_free_buffers(r);  // MTU or LRO changed
  return rc;
}

void rx_ring_free_buffers(RxRing* r) {
  if (r->slots == nullptr) return;
  for (unsigned i = 0; i < r->nb_slots; i++)
    if (!r->slots[i].posted) slot_release(r, &r->slots[i]);
}

int rx_ring_start(RxRing* r, int fd) {
  r->nb_idle = 0;
  for (unsigned i = r->nb_slots; i-- > 0;)
    if (!r->slots[i].posted) r->idle_ids[r->nb_idle++] = static_cast<uint16_t>(i);
  r->window = kRxMinReads;
  r->readable = false;
  if (!r->poll_armed && !arm_poll(r, fd)) return -EBUSY;
  int rc = io_uring_submit(&r->ring);
  return rc < 0 ? rc : 0;
}

void rx_ring_cancel(RxRing* r, rtap_rxq* q, std::vector<rte_mbuf*>* keep) {
  if (!r->ring_ok || (r->posted == 0 && !r->poll_armed && io_uring_cq_ready(&r->ring) == 0)) return;
  if (r->posted > 0 || r->poll_armed) {
    if (io_uring_sqe* sqe = get_sqe(&r->ring)) {
      io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY);
      io_uring_sqe_set_data64(sqe, kCancelId);
    }
  }
  io_uring_submit(&r->ring);
  // Every read and the poll come back, cancelled or completed (a frame is dropped, or kept).
  // Each CQE is consumed exactly once, so nothing can be freed twice (upstream defect 7).
  for (int tries = 0; tries < 20; tries++) {
    io_uring_cqe* cqe;
    if (r->posted > 0 || r->poll_armed) {
      __kernel_timespec ts{0, 100 * 1000 * 1000};
      if (io_uring_wait_cqe_timeout(&r->ring, &cqe, &ts) < 0) continue;
    }
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&r->ring, head, cqe) {
      seen++;
      const uint64_t id = cqe->user_data;
      if (id == kPollId) r->poll_armed = false;
      if (id >= r->nb_slots) continue;
      RxSlot* s = &r->slots[id];
      s->posted = false;
      r->posted--;
      if (keep != nullptr && q != nullptr && cqe->res > 0) {
        if (rte_mbuf* m = rx_complete(q, r, s, cqe->res)) keep->push_back(m);
      } else {
        slot_release(r, s);
      }
      r->idle_ids[r->nb_idle++] = static_cast<uint16_t>(id);
    }
    io_uring_cq_advance(&r->ring, seen);
    if (r->posted == 0 && !r->poll_armed) break;
  }
  if (r->posted > 0)
    PMD_LOG(ERR, "%u rx reads did not come back; their mbufs are leaked", r->posted);
  r->readable = false;
}

void rx_ring_destroy(RxRing* r) {
  rx_ring_cancel(r);
  rx_ring_free_buffers(r);
  if (r->ring_ok) io_uring_queue_exit(&r->ring);
  if (r->efd >= 0) close(r->efd);
  free(r->slots);
  unmap_zeroed(r->iov_mem, rx_iov_bytes(r->nb_slots));
  free(r->idle_ids);
  delete r;
}

int tx_ring_create(TxRing* r, uint16_t nb_desc) {
  r->nb_slots = nb_desc;
  // Process-private, like everything the ring points at; zero pages (map_zeroed), touched only
  // when a slot is first used: the free stack hands out slot 0 first and takes slots back LIFO.
  r->slots = static_cast<TxSlot*>(map_zeroed(tx_slots_bytes(nb_desc)));
  r->free_ids = static_cast<uint16_t*>(calloc(nb_desc, sizeof(uint16_t)));
  if (r->slots == nullptr || r->free_ids == nullptr) return -ENOMEM;
  for (unsigned i = 0; i < nb_desc; i++) r->free_ids[i] = static_cast<uint16_t>(nb_desc - 1 - i);
  r->nb_free = nb_desc;
  return 0;
}

bool tx_ring_drain(TxRing* r) {
  if (r->free_ids == nullptr) return true;
  r->q = nullptr;  // the queue may be going away: completions from here on are not counted
  for (int tries = 0; tries < 2000; tries++) {
    if (__atomic_load_n(&r->nb_free, __ATOMIC_ACQUIRE) == r->nb_slots) return true;
    if (r->engine != nullptr && r->engine == t_engine.e) {
      io_uring_submit(&r->engine->ring);  // our own writes, deferred ones too: reap them here
      r->engine->pending = 0;
      io_uring_get_events(&r->engine->ring);
      tx_reap(r->engine);
    } else {
      usleep(1000);  // another thread's writes: its next burst reaps them
    }
  }
  PMD_LOG(ERR, "%u tx writes did not complete in 2 s", r->nb_slots - r->nb_free);
  return false;
}

void tx_ring_destroy(TxRing* r) {
  if (!tx_ring_drain(r)) return;  // leaked: a late completion names it
  unmap_zeroed(r->slots, tx_slots_bytes(r->nb_slots));
  free(r->free_ids);
  delete r;
}

}  // namespace rtap

void rte_pmd_rtap_tx_defer(int on) {
  if (!on) {  // a thread that never sent has no engine, and needs none to send at once
    rte_pmd_rtap_tx_flush();
    if (rtap::t_engine.e != nullptr) rtap::t_engine.e->defer = false;
  } else if (rtap::TxEngine* e = rtap::this_thread_engine()) {
    e->defer = true;
  }
}

int rte_pmd_rtap_tx_flush(void) {
  rtap::TxEngine* e = rtap::t_engine.e;
  if (e == nullptr || e->pending == 0) return 0;
  return rtap::tx_submit(e);
}
