// rtap_mp_peer: a DPDK secondary process that polls net_rtap queues, for the multi-process tests.
//
//   rtap_mp_peer <EAL args, with --proc-type=secondary> -- [--rxq all|Q,Q,...] [--txq Q]
//                [--standby] [--exit-after-ms MS]
//
// Every rtap port it sees (hotplugged ones included) gets the same treatment: claim the listed rx
// queues (and tx queue), poll them, count frames per queue and check the per-flow sequence
// numbers of test frames (payload at offset 42: 'R' 'M' flow:be16 seq:be32). With --txq it sends
// every frame back out of that tx queue of the same port; without, it frees them.
// --standby retries a refused claim every millisecond (takeover of a queue whose owner dies);
// without it a refused claim is fatal (exit 3). Exits cleanly (rte_eal_cleanup) on SIGTERM, after
// --exit-after-ms, or with 4 when the primary is gone.
//
// Output, one line per event, for the test to parse (t = CLOCK_MONOTONIC ns):
//   ready pid=P
//   standby port=NAME q=Q owner=PID        (first refused claim, --standby)
//   claimed port=NAME q=Q t=T call_us=C since_refused_us=R  (the claim call took C µs; R µs since
//                                         the last refused claim, -1 if none)
//   first port=NAME q=Q t=T                (first frame on a queue after its claim)
//   gone port=NAME                         (the port was removed)
//   final port=NAME q=Q rx=N gaps=G        (per claimed queue, at exit)
//   sent port=NAME tx=N                    (with --txq, at exit)
#include <ethdev_driver.h>  // rte_eth_devices: queue counts without a dev_info call per poll
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "rte_pmd_rtap.h"

namespace {

volatile sig_atomic_t g_stop = 0;

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct Options {
  bool all_rx = false;
  std::vector<uint16_t> rxq;
  int txq = -1;
  bool standby = false;
  int64_t exit_after_ms = -1;
};

struct QueueState {
  bool claimed = false;
  bool first_seen = false;
  bool standby_said = false;
  int64_t last_refused = 0;  // when the last claim was refused (--standby)
  uint64_t rx = 0, gaps = 0;
};

struct PortState {
  std::string name;
  std::map<uint16_t, QueueState> q;
  bool tx_claimed = false;
  uint64_t tx = 0;
  int64_t next_try = 0;
  std::map<uint16_t, uint32_t> last_seq;  // per flow
};

bool parse(int argc, char** argv, Options* o) {
  for (int i = 0; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--rxq") {
      std::string v = next();
      if (v == "all") {
        o->all_rx = true;
        continue;
      }
      for (char* tok = strtok(v.data(), ","); tok; tok = strtok(nullptr, ","))
        o->rxq.push_back(static_cast<uint16_t>(atoi(tok)));
    } else if (a == "--txq") {
      o->txq = atoi(next());
    } else if (a == "--standby") {
      o->standby = true;
    } else if (a == "--exit-after-ms") {
      o->exit_after_ms = atoll(next());
    } else {
      fprintf(stderr, "rtap_mp_peer: unknown option %s\n", a.c_str());
      return false;
    }
  }
  return true;
}

void check_sequence(PortState& ps, QueueState& qs, const rte_mbuf* m) {
  uint8_t b[8];
  const auto* p = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 42, 8, b));
  if (p == nullptr || p[0] != 'R' || p[1] != 'M') return;
  uint16_t flow = static_cast<uint16_t>(p[2] << 8 | p[3]);
  uint32_t seq = static_cast<uint32_t>(p[4]) << 24 | p[5] << 16 | p[6] << 8 | p[7];
  auto it = ps.last_seq.find(flow);
  if (it != ps.last_seq.end() && seq != it->second + 1) qs.gaps++;
  ps.last_seq[flow] = seq;
}

// Claims what the options ask for on one port; false when a refused claim is fatal.
bool claim_port(uint16_t port, PortState& ps, const Options& o) {
  const uint16_t nq = rte_eth_devices[port].data->nb_rx_queues;
  std::vector<uint16_t> want = o.rxq;
  if (o.all_rx)
    for (uint16_t q = 0; q < nq; q++) want.push_back(q);
  for (uint16_t q : want) {
    if (q >= nq || ps.q[q].claimed) continue;
    const int64_t t0 = now_ns();
    int rc = rte_pmd_rtap_queue_claim(port, q, RTE_PMD_RTAP_RX);
    const int64_t t1 = now_ns();
    if (rc == -EBUSY) ps.q[q].last_refused = t1;
    if (rc == 0) {
      ps.q[q].claimed = true;
      printf("claimed port=%s q=%u t=%lld call_us=%lld since_refused_us=%lld\n", ps.name.c_str(), q,
             (long long)t1, (long long)(t1 - t0) / 1000,
             ps.q[q].last_refused ? (long long)(t1 - ps.q[q].last_refused) / 1000 : -1LL);
    } else if (rc == -EBUSY && o.standby) {
      if (!ps.q[q].standby_said) {
        pid_t owner = 0;
        rte_pmd_rtap_queue_owner(port, q, RTE_PMD_RTAP_RX, &owner);
        printf("standby port=%s q=%u owner=%d\n", ps.name.c_str(), q, (int)owner);
        ps.q[q].standby_said = true;
      }
    } else if (rc == -EBUSY) {
      printf("refused port=%s q=%u rc=%d\n", ps.name.c_str(), q, rc);
      return false;
    }
  }
  if (o.txq >= 0 && !ps.tx_claimed && o.txq < rte_eth_devices[port].data->nb_tx_queues) {
    int rc = rte_pmd_rtap_queue_claim(port, static_cast<uint16_t>(o.txq), RTE_PMD_RTAP_TX);
    if (rc == 0) ps.tx_claimed = true;
    if (rc == -EBUSY && !o.standby) return false;
  }
  return true;
}

unsigned poll_port(uint16_t port, PortState& ps, const Options& o) {
  unsigned total = 0;
  const uint16_t nq = rte_eth_devices[port].data->nb_rx_queues;
  for (auto& [q, qs] : ps.q) {
    if (!qs.claimed || q >= nq) continue;
    rte_mbuf* b[64];
    uint16_t n = rte_eth_rx_burst(port, q, b, 64);
    if (n == 0) continue;
    if (!qs.first_seen) {
      qs.first_seen = true;
      printf("first port=%s q=%u t=%lld\n", ps.name.c_str(), q, (long long)now_ns());
    }
    for (uint16_t i = 0; i < n; i++) check_sequence(ps, qs, b[i]);
    qs.rx += n;
    total += n;
    uint16_t sent = 0;
    if (o.txq >= 0 && ps.tx_claimed)
      sent = rte_eth_tx_burst(port, static_cast<uint16_t>(o.txq), b, n);
    ps.tx += sent;
    for (uint16_t i = sent; i < n; i++) rte_pktmbuf_free(b[i]);
  }
  return total;
}

void report(const std::map<uint16_t, PortState>& ports) {
  for (const auto& [id, ps] : ports) {
    for (const auto& [q, qs] : ps.q)
      if (qs.claimed)
        printf("final port=%s q=%u rx=%llu gaps=%llu\n", ps.name.c_str(), q,
               (unsigned long long)qs.rx, (unsigned long long)qs.gaps);
    if (ps.tx_claimed) printf("sent port=%s tx=%llu\n", ps.name.c_str(), (unsigned long long)ps.tx);
  }
}

// How this process got its ports' queue fds: in the one exchange at start, or a request each.
void print_fd_sources() {
  uint64_t in_bulk = 0, per_port = 0;
  rte_pmd_rtap_fd_sources(&in_bulk, &per_port);
  printf("fds in_bulk=%llu per_port=%llu\n", (unsigned long long)in_bulk,
         (unsigned long long)per_port);
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  signal(SIGTERM, [](int) { g_stop = 1; });
  signal(SIGINT, [](int) { g_stop = 1; });
  int used = rte_eal_init(argc, argv);
  if (used < 0) {
    fprintf(stderr, "rtap_mp_peer: EAL init failed: %s\n", rte_strerror(rte_errno));
    return 2;
  }
  Options o;
  if (!parse(argc - used - 1, argv + used + 1, &o)) return 2;
  printf("ready pid=%d\n", (int)getpid());
  print_fd_sources();
  std::map<uint16_t, PortState> ports;
  const int64_t start = now_ns();
  int64_t next_alive_check = 0;
  int rc = 0;
  while (!g_stop) {
    const int64_t now = now_ns();
    if (o.exit_after_ms >= 0 && now - start > o.exit_after_ms * 1000000) break;
    if (now >= next_alive_check) {
      next_alive_check = now + 100000000;
      if (!rte_eal_primary_proc_alive(nullptr)) {
        printf("primary gone\n");
        rc = 4;
        break;
      }
    }
    for (auto it = ports.begin(); it != ports.end();) {
      if (!rte_eth_dev_is_valid_port(it->first)) {
        printf("gone port=%s\n", it->second.name.c_str());
        it = ports.erase(it);
      } else {
        ++it;
      }
    }
    unsigned got = 0;
    uint16_t port;
    RTE_ETH_FOREACH_DEV(port) {
      PortState& ps = ports[port];
      if (ps.name.empty()) ps.name = rte_eth_devices[port].data->name;
      if (now >= ps.next_try) {
        ps.next_try = now + (o.standby ? 1000000 : 20000000);
        if (!claim_port(port, ps, o)) {
          rc = 3;
          g_stop = 1;
          break;
        }
      }
      got += poll_port(port, ps, o);
    }
    if (got == 0) usleep(20);
  }
  report(ports);
  print_fd_sources();
  fflush(stdout);
  rte_eal_cleanup();
  return rc;
}
