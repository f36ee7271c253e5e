// net_rtap across processes: queue ownership, fd passing, re-sync. See docs/rtap.md
// ("Multi-process") for the protocol in prose.
//
// Who writes what:
//  - rtap_shared::rx_owner/tx_owner: any process, by compare-and-swap (claim, release, takeover
//    of a dead owner's claim);
//  - rtap_shared::generation, nb_fds: the primary only (control thread);
//  - rtap_process (fds, rings): its own process; in the primary the rte_mp thread reads fds[]
//    under fds_lock to answer a secondary.
#include <rte_alarm.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_string_fns.h>

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>

#include "rtap.hpp"
#include "rte_pmd_rtap.h"

namespace rtap {

bool is_rtap_port(const rte_eth_dev* dev);  // rtap_ethdev.cpp

namespace {

constexpr const char* kFdAction = "net_rtap_fds";     // secondary -> primary: queue fds
constexpr const char* kSyncAction = "net_rtap_sync";  // primary -> secondaries: re-read queues
// As long as the EAL's own multi-process requests wait (5 s): a secondary starting on a loaded
// machine saw the primary answer after more than 2 s, and then had no port.
constexpr int kFdRequestTimeoutS = 5;

struct FdRequest {
  char port[RTE_ETH_NAME_MAX_LEN];
  uint16_t first;  // index of the first fd wanted; the reply carries up to RTE_MP_MAX_FD_NUM
};
struct FdReply {
  int32_t err;  // 0 or -errno
  uint32_t generation;
  uint16_t total;  // fds the port has
  uint16_t first;
  uint16_t count;  // fds in this message
};
struct SyncNote {
  char port[RTE_ETH_NAME_MAX_LEN];
};
static_assert(sizeof(FdRequest) <= RTE_MP_MAX_PARAM_LEN && sizeof(FdReply) <= RTE_MP_MAX_PARAM_LEN);

// ---- claims ----------------------------------------------------------------------------------

// Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), 0 if the
// process is gone or a zombie: a SIGKILLed owner that its parent has not reaped yet is dead.
uint64_t process_start(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* p = strrchr(buf, ')');  // the command name may hold spaces and parentheses
  if (p == nullptr || p[1] != ' ') return 0;
  char state = p[2];
  if (state == 'Z' || state == 'X' || state == 'x') return 0;
  p += 2;
  for (int field = 3; field < 22; field++) {  // p is at field 3 (state)
    p = strchr(p, ' ');
    if (p == nullptr) return 0;
    p++;
  }
  return strtoull(p, nullptr, 10);
}

ClaimWord token_of(pid_t pid, uint64_t start) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(pid)) << 32) | (start & 0xffffffffu);
}

pid_t pid_of(ClaimWord w) {
  return static_cast<pid_t>(w >> 32);
}

std::atomic<ClaimWord> cached_token{0};

// A forked child has its own identity: the token is forgotten in the child, not checked with a
// getpid() per call (the housekeeping asks for it for every queue, 100 times a second).
void forget_token_in_child() {
  cached_token.store(0, std::memory_order_relaxed);
}

ClaimWord self_token() {
  ClaimWord t = cached_token.load(std::memory_order_relaxed);
  if (t != 0) return t;
  static const bool registered = pthread_atfork(nullptr, nullptr, forget_token_in_child) == 0;
  (void)registered;
  const pid_t pid = getpid();
  t = token_of(pid, process_start(pid));
  cached_token.store(t, std::memory_order_relaxed);
  return t;
}

bool owner_alive(ClaimWord w) {
  uint64_t start = process_start(pid_of(w));
  return start != 0 && (start & 0xffffffffu) == (w & 0xffffffffu);
}

// 0, or -EBUSY with the owner's pid in *owner.
int claim(ClaimWord* word, pid_t* owner) {
  std::atomic_ref<ClaimWord> a(*word);
  const ClaimWord me = self_token();
  ClaimWord cur = a.load();
  for (;;) {
    if (cur == me) return 0;
    if (cur != 0 && owner_alive(cur)) {
      *owner = pid_of(cur);
      return -EBUSY;
    }
    if (a.compare_exchange_weak(cur, me)) return 0;  // free, or its owner is dead: take it
  }
}

void unclaim(ClaimWord* word) {
  ClaimWord me = self_token();
  std::atomic_ref<ClaimWord>(*word).compare_exchange_strong(me, 0);
}

// ---- fast-path pointers in a secondary ----------------------------------------------------------

// ethdev fills a secondary's rte_eth_fp_ops once, at probe, from the shared queue arrays, which
// do not exist yet for a port the primary configures after a secondary attached (hotplug).
void refresh_fast_path(rte_eth_dev* dev) {
  struct rte_eth_fp_ops* fpo = &rte_eth_fp_ops[dev->data->port_id];
  if (dev->data->rx_queues != nullptr) fpo->rxq.data = dev->data->rx_queues;
  if (dev->data->tx_queues != nullptr) fpo->txq.data = dev->data->tx_queues;
}

rte_eth_dev* rtap_by_name(const char* name) {
  rte_eth_dev* dev = rte_eth_dev_allocated(name);
  return dev != nullptr && is_rtap_port(dev) ? dev : nullptr;
}

int sync_action(const rte_mp_msg* msg, const void*) {
  if (msg->len_param != sizeof(SyncNote)) return 0;
  SyncNote n;
  memcpy(&n, msg->param, sizeof(n));
  n.port[sizeof(n.port) - 1] = '\0';
  if (rte_eth_dev* dev = rtap_by_name(n.port)) refresh_fast_path(dev);
  return 0;
}

// ---- the primary's side -------------------------------------------------------------------------

std::atomic<int> primary_ports{0};
std::atomic<int> secondary_ports{0};

int fd_action(const rte_mp_msg* msg, const void* peer) {
  FdRequest req{};
  FdReply rep{};
  rte_mp_msg out{};
  rte_strscpy(out.name, kFdAction, sizeof(out.name));
  if (msg->len_param == sizeof(req)) {
    memcpy(&req, msg->param, sizeof(req));
    req.port[sizeof(req.port) - 1] = '\0';
    rep.first = req.first;
    std::lock_guard<std::mutex> ports(primary_ports_lock());
    rte_eth_dev* dev = rtap_by_name(req.port);
    rtap_process* p = dev != nullptr ? proc_of(dev) : nullptr;
    if (p == nullptr) {
      rep.err = -ENODEV;
    } else {
      std::lock_guard<std::mutex> g(p->fds_lock);
      rep.generation = __atomic_load_n(&shared_of(dev)->generation, __ATOMIC_ACQUIRE);
      rep.total = p->nb_fds;
      for (unsigned i = req.first; i < p->nb_fds && rep.count < RTE_MP_MAX_FD_NUM; i++)
        out.fds[rep.count++] = p->fds[i];
    }
  } else {
    rep.err = -EINVAL;
  }
  out.num_fds = rep.count;
  out.len_param = sizeof(rep);
  memcpy(out.param, &rep, sizeof(rep));
  // The fds are duplicated into the requester by SCM_RIGHTS: ours stay open.
  return rte_mp_reply(&out, static_cast<const char*>(peer));
}

void notify_secondaries(rte_eth_dev* dev) {
  rte_mp_msg m{};
  rte_strscpy(m.name, kSyncAction, sizeof(m.name));
  SyncNote n{};
  rte_strscpy(n.port, dev->data->name, sizeof(n.port));
  m.len_param = sizeof(n);
  memcpy(m.param, &n, sizeof(n));
  rte_mp_sendmsg(&m);  // best effort: housekeeping and the claim call re-sync on their own
}

// ---- the secondary's side -----------------------------------------------------------------------

void close_fds(rtap_process* p) {
  for (unsigned i = 0; i < kMaxQueues; i++) {
    if (p->fds[i] >= 0) close(p->fds[i]);
    p->fds[i] = -1;
  }
  p->nb_fds = 0;
}

// The port's queue fds from the primary: from the exchange of the process's first attach
// (rtap_fd_channel.cpp), else by asking for them, RTE_MP_MAX_FD_NUM per message.
int fetch_fds(rte_eth_dev* dev) {
  rtap_process* p = proc_of(dev);
  const char* name = dev->data->name;
  close_fds(p);
  if (fd_channel_take(dev) == 0) return 0;
  fd_channel_count_request();
  for (int attempt = 0; attempt < 3; attempt++) {
    close_fds(p);
    uint32_t generation = 0;
    uint16_t total = 0, got = 0;
    bool changed = false;
    do {
      rte_mp_msg req{};
      rte_strscpy(req.name, kFdAction, sizeof(req.name));
      FdRequest r{};
      rte_strscpy(r.port, name, sizeof(r.port));
      r.first = got;
      req.len_param = sizeof(r);
      memcpy(req.param, &r, sizeof(r));
      struct rte_mp_reply reply {};
      timespec ts{kFdRequestTimeoutS, 0};
      int rc = rte_mp_request_sync(&req, &reply, &ts);
      if (rc < 0 || reply.nb_received != 1) {
        PMD_LOG(ERR,
                "%s: asked the primary for queue fds and got %d replies (expected exactly 1, "
                "%s); is the primary alive and does it run net_rtap?",
                name, rc < 0 ? 0 : reply.nb_received, rc < 0 ? strerror(rte_errno) : "");
        free(reply.msgs);
        close_fds(p);
        return -EIO;
      }
      rte_mp_msg* m = &reply.msgs[0];
      FdReply rep{};
      bool ok = m->len_param == sizeof(rep);
      if (ok) memcpy(&rep, m->param, sizeof(rep));
      ok = ok && rep.err == 0 && rep.count == m->num_fds && rep.first == got &&
           rep.total <= kMaxQueues && got + rep.count <= rep.total;
      if (ok && got > 0 && (rep.generation != generation || rep.total != total)) changed = true;
      for (int i = 0; i < m->num_fds; i++) {
        if (ok && !changed)
          p->fds[got + i] = m->fds[i];
        else
          close(m->fds[i]);
      }
      const int num_fds = m->num_fds;
      free(reply.msgs);
      if (!ok) {
        PMD_LOG(ERR, "%s: bad fd reply from the primary (error %d, %d fds at %u of %u)", name,
                rep.err, num_fds, rep.first, rep.total);
        close_fds(p);
        return rep.err != 0 ? rep.err : -EPROTO;
      }
      if (changed) break;
      generation = rep.generation;
      total = rep.total;
      got = static_cast<uint16_t>(got + rep.count);
      if (rep.count == 0 && got < total) changed = true;  // the port shrank meanwhile
    } while (!changed && got < total);
    if (changed) continue;  // the primary re-configured between two chunks: start over
    p->nb_fds = total;
    p->generation = generation;
    return 0;
  }
  PMD_LOG(ERR, "%s: the primary kept re-configuring the port while fds were fetched", name);
  close_fds(p);
  return -EAGAIN;
}

void destroy_rings(rtap_process* p) {
  for (unsigned i = 0; i < kMaxQueues; i++) {
    if (p->rx[i] != nullptr) rx_ring_destroy(p->rx[i]);
    if (p->tx[i] != nullptr) tx_ring_destroy(p->tx[i]);
    p->rx[i] = nullptr;
    p->tx[i] = nullptr;
  }
}

// Waits until no burst of this process runs on the port (hot-unplug, or a re-sync from another
// thread, while an lcore polls): a burst marks its queue busy (an odd count, sequentially
// consistent) before it tests `closing` and `held`, and the caller set one of them (also
// sequentially consistent) before this reads the marks, so either the burst returns at once or
// this waits for its mark to move. The process struct itself is never freed while the process
// runs (retire_process), since a late burst may still read `closing`.
void wait_for_bursts(rtap_process* p) {
  for (unsigned i = 0; i < kMaxQueues; i++) {
    for (uint32_t* busy : {&p->rx_busy[i].v, &p->tx_busy[i].v}) {
      uint32_t b = __atomic_load_n(busy, __ATOMIC_SEQ_CST);
      for (int spin = 0; (b & 1) && spin < 10000; spin++) {
        usleep(100);
        if (__atomic_load_n(busy, __ATOMIC_ACQUIRE) != b) break;
      }
    }
  }
}

void quiesce(rtap_process* p) {
  __atomic_store_n(&p->closing, true, __ATOMIC_SEQ_CST);
  wait_for_bursts(p);
}

bool is_mine(const ClaimWord* word) {
  ClaimWord w = __atomic_load_n(word, __ATOMIC_ACQUIRE);
  return w != 0 && w == self_token();
}

}  // namespace

// ---- activation ---------------------------------------------------------------------------------

// Claims the queue's rx or tx word for this process. A refusal names the owner, once per owner.
static int claim_queue(rte_eth_dev* dev, bool rx, uint16_t qid, bool verbose) {
  rtap_shared* sh = shared_of(dev);
  pid_t owner = 0;
  int rc = claim(rx ? &sh->rx_owner[qid] : &sh->tx_owner[qid], &owner);
  if (rc == 0) return 0;
  pid_t& logged = proc_of(dev)->busy_logged[rx ? 0 : 1][qid];
  if (verbose && logged != owner) {
    if (rx)
      PMD_LOG(ERR, "%s: rx queue %u is polled by process %d; fix: release it there or stop it",
              dev->data->name, qid, static_cast<int>(owner));
    else
      PMD_LOG(ERR, "%s: tx queue %u is used by process %d; fix: give each process its own tx queue",
              dev->data->name, qid, static_cast<int>(owner));
  }
  logged = owner;
  return rc;
}

int rxq_activate(rte_eth_dev* dev, uint16_t qid, bool verbose) {
  rtap_process* p = proc_of(dev);
  RxRing* r = p->rx[qid];
  auto* q = static_cast<rtap_rxq*>(dev->data->rx_queues[qid]);
  if (r == nullptr || q == nullptr || p->fds[qid] < 0) {
    if (verbose) PMD_LOG(ERR, "%s: rx queue %u is not set up", dev->data->name, qid);
    return -EINVAL;
  }
  if (is_claimed(r)) return 0;
  int rc = claim_queue(dev, true, qid, verbose);
  if (rc < 0) return rc;
  if (!dev->data->dev_started) return 0;  // owned; armed at housekeeping after start
  rc = rx_ring_prepare(r, q, rx_frame_max(dev));
  rc = rc ?: rx_ring_start(r, p->fds[qid]);
  if (rc < 0) {
    // Logged once per streak of failures (here, and when it ends below), tried again at every
    // housekeeping. Unread, the queue's frames overflow in the kernel (rx_missed).
    if (p->post_failures[qid]++ == 0) {
      p->post_fail_since[qid] = rte_get_timer_cycles();
      PMD_LOG(ERR, "%s: rx queue %u: cannot arm its poll: %s; tried again at every housekeeping",
              dev->data->name, qid, strerror(-rc));
    }
    rx_ring_cancel(r);
    rx_ring_free_buffers(r);
    return rc;
  }
  if (p->post_failures[qid] > 0) {
    const double ms = static_cast<double>(rte_get_timer_cycles() - p->post_fail_since[qid]) * 1e3 /
                      static_cast<double>(rte_get_timer_hz());
    PMD_LOG(NOTICE, "%s: rx queue %u: armed after %u failed tries over %.0f ms", dev->data->name,
            qid, p->post_failures[qid], ms);
    p->post_failures[qid] = 0;
  }
  set_claimed(r, true);
  return 0;
}

void rxq_deactivate(rte_eth_dev* dev, uint16_t qid, bool keep_frames) {
  rtap_process* p = proc_of(dev);
  if (RxRing* r = p->rx[qid]) {
    set_claimed(r, false);
    r->draining = false;
    auto* q = static_cast<rtap_rxq*>(dev->data->rx_queues ? dev->data->rx_queues[qid] : nullptr);
    rx_ring_cancel(r, q, keep_frames ? &p->carry[qid] : nullptr);
    rx_ring_free_buffers(r);
    if (!p->carry[qid].empty()) p->carry_pending = true;
  }
}

uint16_t take_carry(rtap_process* p, uint16_t qid, rte_mbuf** pkts, uint16_t n) {
  std::vector<rte_mbuf*>& c = p->carry[qid];
  uint16_t k = static_cast<uint16_t>(std::min<size_t>(n, c.size()));
  std::copy(c.begin(), c.begin() + k, pkts);
  c.erase(c.begin(), c.begin() + k);
  bool any = false;
  for (auto& v : p->carry) any = any || !v.empty();
  p->carry_pending = any;
  return k;
}

void drop_carry(rtap_process* p) {
  for (auto& v : p->carry) {
    for (rte_mbuf* m : v) rte_pktmbuf_free(m);
    v.clear();
  }
  p->carry_pending = false;
}

int txq_activate(rte_eth_dev* dev, uint16_t qid, bool verbose) {
  rtap_process* p = proc_of(dev);
  TxRing* r = p->tx[qid];
  if (r == nullptr || dev->data->tx_queues[qid] == nullptr || p->fds[qid] < 0) {
    if (verbose) PMD_LOG(ERR, "%s: tx queue %u is not set up", dev->data->name, qid);
    return -EINVAL;
  }
  if (is_claimed(r)) return 0;
  int rc = claim_queue(dev, false, qid, verbose);
  if (rc < 0) return rc;
  if (!dev->data->dev_started) return 0;
  set_claimed(r, true);
  return 0;
}

void txq_deactivate(rte_eth_dev* dev, uint16_t qid) {
  rtap_process* p = proc_of(dev);
  if (TxRing* r = p->tx[qid]) {
    set_claimed(r, false);
    tx_ring_drain(r);
  }
}

// Buffers back and writes completed; the claims stay (ownership outlives stop/start).
void deactivate_all(rte_eth_dev* dev) {
  for (uint16_t i = 0; i < kMaxQueues; i++) {
    rxq_deactivate(dev, i);
    txq_deactivate(dev, i);
  }
}

bool stale(const rte_eth_dev* dev) {
  const rtap_process* p = proc_of(dev);
  return p->secondary &&
         __atomic_load_n(&shared_of(dev)->generation, __ATOMIC_ACQUIRE) != p->generation;
}

// ---- housekeeping -------------------------------------------------------------------------------

void cache_token() {
  self_token();
}

bool claim_if_free(ClaimWord* word) {
  const ClaimWord me = cached_token.load(std::memory_order_relaxed);
  if (me == 0) return false;
  ClaimWord cur = 0;
  return __atomic_compare_exchange_n(word, &cur, me, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ||
         cur == me;
}

namespace {

// Rebuilds a secondary's rings with fresh fds while its bursts return 0 (`held`): they may run
// on other threads than this one.
int resync(rte_eth_dev* dev) {
  rtap_process* p = proc_of(dev);
  __atomic_store_n(&p->held, true, __ATOMIC_SEQ_CST);
  wait_for_bursts(p);
  int rc = secondary_sync(dev);
  __atomic_store_n(&p->held, false, __ATOMIC_RELEASE);
  return rc;
}

}  // namespace

namespace {
// Counts what housekeeping found to do in this process: queues it owns (it polls them, and a
// re-sync must follow a re-configuration at once), queues it activated, re-syncs. The alarm
// backs off only while this stays the same: in a process that polls no queue (a primary such as
// vswitchd).
std::atomic<uint64_t> hk_work{0};
}  // namespace

int housekeeping(rte_eth_dev* dev) {
  rtap_process* p = proc_of(dev);
  if (p == nullptr) return -ENODEV;
  if (p->secondary) fd_channel_purge();
  std::lock_guard<std::recursive_mutex> g(p->hk_lock);
  if (__atomic_load_n(&p->closing, __ATOMIC_ACQUIRE)) return 0;
  // Never re-sync while the primary is re-configuring (the port is stopped then): the shared
  // queue structs may be changing under us. Its dev_start bumps the generation again.
  if (!dev->data->dev_started) return 0;
  int ret = 0;
  if (stale(dev)) {
    int rc = resync(dev);
    if (rc < 0) return rc;
    ret = 1;
    hk_work.fetch_add(1, std::memory_order_relaxed);
  }
  // The queues this process owns (their claim survives a stop/start or a re-sync, the buffers
  // do not) and those its bursts found not ready.
  rtap_shared* sh = shared_of(dev);
  for (uint16_t i = 0; i < dev->data->nb_rx_queues && i < kMaxQueues; i++) {
    RxRing* r = p->rx[i];
    if (r != nullptr && is_claimed(r)) hk_work.fetch_add(1, std::memory_order_relaxed);
    if (r == nullptr || is_claimed(r) || r->draining) continue;
    // A burst's request is used up by one try: a process that stopped polling the queue does
    // not keep trying to take it.
    if (!__atomic_exchange_n(&p->rx_wanted[i], false, __ATOMIC_RELAXED) &&
        !is_mine(&sh->rx_owner[i]))
      continue;
    rxq_activate(dev, i, true);
    hk_work.fetch_add(1, std::memory_order_relaxed);
  }
  for (uint16_t i = 0; i < dev->data->nb_tx_queues && i < kMaxQueues; i++) {
    TxRing* r = p->tx[i];
    if (r != nullptr && is_claimed(r)) hk_work.fetch_add(1, std::memory_order_relaxed);
    if (r == nullptr || is_claimed(r)) continue;
    if (!__atomic_exchange_n(&p->tx_wanted[i], false, __ATOMIC_RELAXED) &&
        !is_mine(&sh->tx_owner[i]))
      continue;
    txq_activate(dev, i, true);
    hk_work.fetch_add(1, std::memory_order_relaxed);
  }
  return ret;
}

// ---- the driver's alarm
// ---------------------------------------------------------------------------

// In a process that never calls rte_pmd_rtap_housekeeping() (any DPDK application that loads the
// driver, with -d or linked), the driver does the housekeeping itself, from an EAL alarm on the
// interrupt thread, every kAlarmUs while the process has rtap ports. The first call of
// rte_pmd_rtap_housekeeping() ends it: the application does it from then on.
// A pass that finds nothing to do (no queue owned, none to activate, no re-sync) doubles the
// period, up to kAlarmMaxUs: a process that polls no queue (vswitchd, the primary) spent 1.4% of
// a core on 10 ms passes over 256 idle ports. A burst that finds its queue not ready is then
// served within kAlarmMaxUs, and the period is back to kAlarmUs after a pass that did something.
// A process that owns queues keeps 10 ms: its re-sync after a re-configuration must not wait.
namespace {

constexpr uint64_t kAlarmUs = 10 * 1000;
constexpr uint64_t kAlarmMaxUs = 160 * 1000;
uint64_t alarm_period_us = kAlarmUs;  // the alarm callback's own (one callback at a time)
std::atomic<int> alarm_ports{0};
std::atomic<bool> app_driven{false};

void alarm_cb(void*) {
  if (app_driven.load()) return;  // not re-armed
  const uint64_t work_before = hk_work.load(std::memory_order_relaxed);
  for (uint16_t port = 0; port < RTE_MAX_ETHPORTS; port++) {
    rte_eth_dev* dev = &rte_eth_devices[port];
    if (dev->state == RTE_ETH_DEV_ATTACHED && is_rtap_port(dev) && proc_of(dev) != nullptr)
      housekeeping(dev);
  }
  alarm_period_us = hk_work.load(std::memory_order_relaxed) != work_before
                        ? kAlarmUs
                        : std::min(alarm_period_us * 2, kAlarmMaxUs);
  if (alarm_ports.load() > 0 && !app_driven.load()) {
    if (rte_eal_alarm_set(alarm_period_us, alarm_cb, nullptr) < 0)
      PMD_LOG(ERR,
              "cannot re-arm the housekeeping alarm: %s; queues are claimed and re-synced "
              "only by rte_pmd_rtap_housekeeping() now",
              strerror(rte_errno));
  }
}

void alarm_arm() {
  if (alarm_ports.load() > 0 && !app_driven.load()) rte_eal_alarm_set(kAlarmUs, alarm_cb, nullptr);
}

// Cancels the alarm, waiting for a callback that runs on another thread to finish (it may be
// in the housekeeping of the port being closed).
void alarm_pause() {
  rte_eal_alarm_cancel(alarm_cb, reinterpret_cast<void*>(-1));
}

}  // namespace

void alarm_port_added() {
  if (alarm_ports.fetch_add(1) == 0) alarm_arm();
}

void alarm_close_begin() {
  alarm_pause();
}

void alarm_close_end(bool counted) {
  if (counted) alarm_ports.fetch_sub(1);
  alarm_arm();
}

// ---- generation and messages --------------------------------------------------------------------

void bump_generation(rte_eth_dev* dev) {
  rtap_shared* sh = shared_of(dev);
  {
    std::lock_guard<std::mutex> g(proc_of(dev)->fds_lock);
    sh->nb_fds = proc_of(dev)->nb_fds;
    __atomic_fetch_add(&sh->generation, 1, __ATOMIC_RELEASE);
  }
  if (rte_eal_process_type() == RTE_PROC_PRIMARY && dev->data->rx_queues != nullptr)
    notify_secondaries(dev);
}

int mp_primary_register() {
  if (primary_ports.fetch_add(1) > 0) return 0;
  int rc = rte_mp_action_register(kFdAction, fd_action);
  if (rc < 0 && rte_errno != EEXIST) {
    primary_ports.fetch_sub(1);
    PMD_LOG(ERR, "cannot register the %s multi-process action: %s", kFdAction, strerror(rte_errno));
    return -rte_errno;
  }
  fd_channel_start();  // optional: without it, secondaries ask over rte_mp (it logs why)
  return 0;
}

void mp_primary_unregister() {
  if (primary_ports.fetch_sub(1) == 1) {
    fd_channel_stop();
    rte_mp_action_unregister(kFdAction);
  }
}

int create_rings(rte_eth_dev* dev) {
  rtap_process* p = proc_of(dev);
  const bool want_efd = dev->data->dev_conf.intr_conf.rxq != 0;
  for (uint16_t i = 0; i < dev->data->nb_rx_queues && i < kMaxQueues; i++) {
    auto* q = static_cast<rtap_rxq*>(dev->data->rx_queues[i]);
    if (q == nullptr || p->rx[i] != nullptr) continue;
    auto* r = new RxRing;
    int rc = rx_ring_create(r, q->nb_desc, want_efd);
    rc = rc ?: rx_ring_layout(r, q, rx_frame_max(dev));
    if (rc < 0) {
      rx_ring_destroy(r);
      PMD_LOG(ERR, "%s: rx queue %u: %s", dev->data->name, i, strerror(-rc));
      return rc;
    }
    p->rx[i] = r;
  }
  for (uint16_t i = 0; i < dev->data->nb_tx_queues && i < kMaxQueues; i++) {
    auto* q = static_cast<rtap_txq*>(dev->data->tx_queues[i]);
    if (q == nullptr || p->tx[i] != nullptr) continue;
    auto* r = new TxRing;
    int rc = tx_ring_create(r, q->nb_desc);
    if (rc < 0) {
      tx_ring_destroy(r);
      PMD_LOG(ERR, "%s: tx queue %u: %s", dev->data->name, i, strerror(-rc));
      return rc;
    }
    p->tx[i] = r;
  }
  return 0;
}

int secondary_sync(rte_eth_dev* dev) {
  rtap_process* p = proc_of(dev);
  // Frames that completed into our reads since the primary restarted the port are delivered
  // after the re-sync, not dropped: the kernel already counted them as sent to us.
  for (uint16_t i = 0; i < kMaxQueues; i++) {
    rxq_deactivate(dev, i, true);
    txq_deactivate(dev, i);
  }
  rxq_intr_disable_all(dev);
  destroy_rings(p);
  int rc = fetch_fds(dev);
  if (rc < 0) return rc;
  refresh_fast_path(dev);
  rc = create_rings(dev);
  if (rc == 0 && dev->data->dev_started && dev->data->dev_conf.intr_conf.rxq)
    rc = rxq_intr_enable_all(dev);
  if (rc < 0) {
    destroy_rings(p);
    p->generation = 0;  // try again later
  }
  return rc;
}

int secondary_attach(rte_eth_dev* dev) {
  const char* name = dev->data->name;
  if (!rte_eal_primary_proc_alive(nullptr)) {
    PMD_LOG(ERR, "%s: no primary process is running; fix: start the primary first", name);
    return -ENODEV;
  }
  rtap_process* p = proc_of(dev);
  const rtap_shared* sh = shared_of(dev);
  if (sh->netns[0] != '\0') {
    std::string path = std::string("/run/netns/") + sh->netns;
    p->ns_fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (p->ns_fd < 0) {
      int e = errno;
      PMD_LOG(ERR, "%s: network namespace %s: %s", name, path.c_str(), strerror(e));
      return -e;
    }
  }
  // The rtnetlink socket is opened at the first control call (nl_call).
  p->sync_counted = true;
  if (secondary_ports.fetch_add(1) == 0) {
    if (rte_mp_action_register(kSyncAction, sync_action) < 0 && rte_errno != EEXIST)
      PMD_LOG(WARNING, "%s: cannot register %s: %s (re-sync happens at the next burst)", name,
              kSyncAction, strerror(rte_errno));
  }
  return secondary_sync(dev);
}

void secondary_close(rte_eth_dev* dev) {
  rtap_process* p = proc_of(dev);
  quiesce(p);
  for (uint16_t i = 0; i < kMaxQueues; i++) {
    if (p->rx[i] != nullptr && is_claimed(p->rx[i])) rxq_deactivate(dev, i);
    if (p->tx[i] != nullptr && is_claimed(p->tx[i])) txq_deactivate(dev, i);
    unclaim(&shared_of(dev)->rx_owner[i]);
    unclaim(&shared_of(dev)->tx_owner[i]);
  }
  rxq_intr_disable_all(dev);
  destroy_rings(p);
  drop_carry(p);
  close_fds(p);
  if (p->sync_counted && secondary_ports.fetch_sub(1) == 1) rte_mp_action_unregister(kSyncAction);
  p->sync_counted = false;
}

}  // namespace rtap

// ---- public API ---------------------------------------------------------------------------------

namespace {

rte_eth_dev* api_dev(uint16_t port_id) {
  if (!rte_eth_dev_is_valid_port(port_id)) return nullptr;
  rte_eth_dev* dev = &rte_eth_devices[port_id];
  if (!rtap::is_rtap_port(dev) || dev->process_private == nullptr) return nullptr;
  return dev;
}

}  // namespace

int rte_pmd_rtap_housekeeping(uint16_t port_id) {
  rte_eth_dev* dev = api_dev(port_id);
  if (dev == nullptr) return -ENODEV;
  rtap::app_driven.store(true);
  if (rtap::proc_of(dev)->secondary) rtap::refresh_fast_path(dev);
  return rtap::housekeeping(dev);
}

int rte_pmd_rtap_sync(uint16_t port_id) {
  rte_eth_dev* dev = api_dev(port_id);
  if (dev == nullptr) return -ENODEV;
  if (!rtap::proc_of(dev)->secondary) return 0;
  std::lock_guard<std::recursive_mutex> g(rtap::proc_of(dev)->hk_lock);
  rtap::refresh_fast_path(dev);
  if (!dev->data->dev_started) return 0;  // see housekeeping(): the next start re-syncs
  return rtap::stale(dev) ? rtap::resync(dev) : 0;
}

int rte_pmd_rtap_queue_claim(uint16_t port_id, uint16_t queue_id, unsigned dirs) {
  rte_eth_dev* dev = api_dev(port_id);
  if (dev == nullptr) return -ENODEV;
  std::lock_guard<std::recursive_mutex> g(rtap::proc_of(dev)->hk_lock);
  int rc = rte_pmd_rtap_sync(port_id);
  if (rc < 0) return rc;
  if (queue_id >= dev->data->nb_rx_queues || queue_id >= rtap::kMaxQueues) {
    PMD_LOG(ERR, "%s: no queue %u (the port has %u)", dev->data->name, queue_id,
            dev->data->nb_rx_queues);
    return -EINVAL;
  }
  if (!dev->data->dev_started || rtap::stale(dev)) {
    // Ownership only: this process's rings for the queue may not exist yet. The poll is armed
    // by the housekeeping once the port runs.
    if ((dirs & RTE_PMD_RTAP_RX) && rtap::claim_queue(dev, true, queue_id, true) < 0) return -EBUSY;
    if ((dirs & RTE_PMD_RTAP_TX) && rtap::claim_queue(dev, false, queue_id, true) < 0) {
      if (dirs & RTE_PMD_RTAP_RX) rtap::unclaim(&rtap::shared_of(dev)->rx_owner[queue_id]);
      return -EBUSY;
    }
    return 0;
  }
  if (dirs & RTE_PMD_RTAP_RX) {
    rc = rtap::rxq_activate(dev, queue_id, true);
    if (rc < 0) return rc;
  }
  if (dirs & RTE_PMD_RTAP_TX) {
    rc = rtap::txq_activate(dev, queue_id, true);
    if (rc < 0) {
      if (dirs & RTE_PMD_RTAP_RX) rte_pmd_rtap_queue_release(port_id, queue_id, RTE_PMD_RTAP_RX);
      return rc;
    }
  }
  return 0;
}

int rte_pmd_rtap_queue_release(uint16_t port_id, uint16_t queue_id, unsigned dirs) {
  rte_eth_dev* dev = api_dev(port_id);
  if (dev == nullptr) return -ENODEV;
  if (queue_id >= rtap::kMaxQueues) return -EINVAL;
  rtap::rtap_shared* sh = rtap::shared_of(dev);
  rtap::rtap_process* p = rtap::proc_of(dev);
  std::lock_guard<std::recursive_mutex> g(p->hk_lock);
  if (dirs & RTE_PMD_RTAP_RX) {
    __atomic_store_n(&p->rx_wanted[queue_id], false, __ATOMIC_RELAXED);
    rtap::rxq_deactivate(dev, queue_id);
    rtap::unclaim(&sh->rx_owner[queue_id]);
    for (rte_mbuf* m : rtap::proc_of(dev)->carry[queue_id]) rte_pktmbuf_free(m);
    rtap::proc_of(dev)->carry[queue_id].clear();
  }
  if (dirs & RTE_PMD_RTAP_TX) {
    __atomic_store_n(&p->tx_wanted[queue_id], false, __ATOMIC_RELAXED);
    rtap::txq_deactivate(dev, queue_id);
    rtap::unclaim(&sh->tx_owner[queue_id]);
  }
  return 0;
}

int rte_pmd_rtap_queue_stop_reading(uint16_t port_id, uint16_t queue_id) {
  rte_eth_dev* dev = api_dev(port_id);
  if (dev == nullptr) return -ENODEV;
  if (queue_id >= rtap::kMaxQueues) return -EINVAL;
  rtap::rtap_process* p = rtap::proc_of(dev);
  std::lock_guard<std::recursive_mutex> g(p->hk_lock);
  rtap::RxRing* r = p->rx[queue_id];
  if (r == nullptr || !rtap::is_claimed(r)) return 0;
  auto* q =
      static_cast<rtap::rtap_rxq*>(dev->data->rx_queues ? dev->data->rx_queues[queue_id] : nullptr);
  rtap::rx_ring_cancel(r, q, &p->carry[queue_id]);
  r->draining = true;
  if (!p->carry[queue_id].empty()) p->carry_pending = true;
  return static_cast<int>(p->carry[queue_id].size());
}

int rte_pmd_rtap_queue_owner(uint16_t port_id, uint16_t queue_id, unsigned dir, pid_t* pid) {
  rte_eth_dev* dev = api_dev(port_id);
  if (dev == nullptr) return -ENODEV;
  if (queue_id >= rtap::kMaxQueues || pid == nullptr) return -EINVAL;
  rtap::rtap_shared* sh = rtap::shared_of(dev);
  rtap::ClaimWord* w = dir == RTE_PMD_RTAP_TX ? &sh->tx_owner[queue_id] : &sh->rx_owner[queue_id];
  rtap::ClaimWord v = std::atomic_ref<rtap::ClaimWord>(*w).load();
  *pid = v != 0 && rtap::owner_alive(v) ? rtap::pid_of(v) : 0;
  return 0;
}
