#include "daemon/metrics.hpp"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_memzone.h>

#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>

#include "daemon/datapath_memory.hpp"
#include "daemon/port_manager.hpp"
#include "daemon/reload_stats.hpp"
#include "daemon/supervisor.hpp"
#include "shm/counters.hpp"
#include "shm/shm_names.hpp"
#include "shm/topology.hpp"

#ifndef VSWITCH_VERSION
#define VSWITCH_VERSION "unknown"
#endif

namespace vs {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

MetricFamily family(const char* name, const char* help, MetricType type) {
  return MetricFamily{name, help, type, {}};
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Set while the binary loads, before main(): close enough to the process start for a gauge.
const double g_process_start = unix_now();

// Link state of netdevs that live in other network namespaces. DPDK's net_tap asks the kernel
// with an ioctl on a socket of vswitchd's own namespace, so once the port's netdev has moved into
// a VM's namespace it always reads "down". This makes a datagram socket in the namespace with a
// short-lived thread that joins it (setns affects only the calling thread), asks SIOCGIFFLAGS
// through it (up = IFF_UP and IFF_RUNNING, net_tap's own rule) and closes it: a socket kept would
// keep the namespace alive after `ip netns del` (docs/vms.md, "What vswitchd holds").
void add_sample(MetricFamily& fam, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (fam.type == MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  fam.metric.push_back(std::move(m));
}

// What a scrape shows of the ports: the started ports of every switch's snapshot (asked of the
// switch actors by message, daemon/switch_snapshots.hpp). `taken` is the oldest switch's.
using PortSnap = PortSnapshot;
struct PortsSnapshot {
  std::vector<PortSnap> ports;
  std::chrono::steady_clock::time_point taken;
};

// A scrape waits this long for the switch actors; a switch that has not answered by then (busy
// in a port change) is shown by its last snapshot (vswitch_port_stats_age_seconds).
constexpr auto kFreshSnapshotWait = std::chrono::milliseconds(250);

}  // namespace

class MetricsExporter::Collector : public prometheus::Collectable {
 public:
  Collector(const DatapathMemory& mem, PortsFetch fetch, const WorkerSupervisor& sup)
      : mem_(mem), fetch_(std::move(fetch)), sup_(sup), config_applied_(unix_now()) {
    if (const rte_memzone* mz = rte_memzone_lookup(kTopologyZone))
      topology_ = static_cast<const SharedTopology*>(mz->addr);
  }

  std::vector<MetricFamily> Collect() const override {
    const auto snap = ports_snapshot();
    std::vector<MetricFamily> out;
    auto info = family("vswitch_build_info", "Build of the running vswitchd (value is 1).",
                       MetricType::Gauge);
    add_sample(info, {{"version", VSWITCH_VERSION}}, 1);
    out.push_back(std::move(info));
    collect_daemon(out);
    collect_snapshot_age(*snap, out);
    collect_worker_port_counters(*snap, out);
    collect_driver_stats(*snap, out);
    collect_workers(out);
    return out;
  }

  // The servers' connection counters (control socket, metrics endpoint).
  static void collect_server(const std::string& name, const ServerCounters& c,
                             std::vector<MetricFamily>& out) {
    // One family with its single sample per counter, in this order.
    auto one = [&name, &out](const char* suffix, const std::string& help, MetricType type,
                             const auto& value) {
      MetricFamily fam{"vswitch_" + name + "_" + suffix, help, type, {}};
      add_sample(fam, {}, static_cast<double>(value.load()));
      out.push_back(std::move(fam));
    };
    const std::string what = name == "control" ? "control socket" : "metrics endpoint";
    one("connections", "Connections open on the " + what + ".", MetricType::Gauge, c.open);
    one("connections_limit", "The cap on connections open at once on the " + what + ".",
        MetricType::Gauge, c.limit);
    one("connections_accepted_total", "Connections accepted on the " + what + ".",
        MetricType::Counter, c.accepted);
    one("connections_at_cap_total",
        "Connections that arrived at the " + what +
            " with every slot taken (each either evicted an idle one or was refused).",
        MetricType::Counter, c.at_cap);
    one("connections_refused_total",
        "Connections refused at the cap of the " + what +
            ": every open one had a request being answered.",
        MetricType::Counter, c.refused);
    one("connections_evicted_total",
        "Connections closed at the cap of the " + what +
            " to make room: the oldest one that had not sent its request yet.",
        MetricType::Counter, c.evicted);
    one("connections_timed_out_total",
        "Connections closed on the " + what +
            " because the request did not arrive whole in time, or the reply was not read in "
            "time.",
        MetricType::Counter, c.timed_out);
    one("requests_oversized_total",
        "Requests refused on the " + what + " for being larger than the limit.",
        MetricType::Counter, c.oversized);
  }

 private:
  void collect_daemon(std::vector<MetricFamily>& out) const {
    auto start =
        family("vswitch_start_time_seconds",
               "Start time of vswitchd since the Unix epoch, in seconds.", MetricType::Gauge);
    add_sample(start, {}, g_process_start);
    const ReloadStats* r = reload_;
    auto ok_ts = family("vswitch_config_last_reload_success_timestamp_seconds",
                        "Time the configuration was last applied successfully (at start, by "
                        "SIGHUP, vswitchctl reload or port add/del), since the Unix epoch.",
                        MetricType::Gauge);
    add_sample(ok_ts, {}, r ? r->last_success_unix.load() : config_applied_);
    auto ok = family("vswitch_config_last_reload_successful",
                     "1 if the last configuration load or reload was applied, 0 if it was "
                     "refused and the previous configuration stays.",
                     MetricType::Gauge);
    add_sample(ok, {}, !r || r->last_ok.load() ? 1 : 0);
    auto failures =
        family("vswitch_config_reload_failures_total",
               "Configuration changes refused since start (invalid, needing a restart, or "
               "failed to apply); the running configuration stayed each time.",
               MetricType::Counter);
    add_sample(failures, {}, r ? static_cast<double>(r->failed.load()) : 0);
    auto reloads = family("vswitch_config_reloads_total",
                          "Configuration changes applied since start.", MetricType::Counter);
    add_sample(reloads, {}, r ? static_cast<double>(r->succeeded.load()) : 0);
    auto duration =
        family("vswitch_config_last_reload_duration_seconds",
               "How long the last applied configuration change took.", MetricType::Gauge);
    add_sample(duration, {}, r ? r->last_duration_s.load() : 0);
    out.push_back(std::move(reloads));
    out.push_back(std::move(duration));
    for (auto* f : {&start, &ok_ts, &ok, &failures}) out.push_back(std::move(*f));
    collect_heap(out);
  }

  // DPDK's malloc heap, shared by vswitchd and its workers. It only grows (by whole hugepages),
  // so a slow rise of the allocated bytes across worker restarts is a leak.
  static void collect_heap(std::vector<MetricFamily>& out) {
    uint64_t heap = 0, allocated = 0;
    for (unsigned i = 0; i < rte_socket_count(); ++i) {
      rte_malloc_socket_stats st{};
      if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &st) != 0) continue;
      heap += st.heap_totalsz_bytes;
      allocated += st.heap_allocsz_bytes;
    }
    auto size = family("vswitch_dpdk_heap_bytes",
                       "Size of DPDK's malloc heap (hugepage memory it has mapped), all sockets.",
                       MetricType::Gauge);
    add_sample(size, {}, static_cast<double>(heap));
    auto used = family("vswitch_dpdk_heap_allocated_bytes",
                       "Bytes allocated from DPDK's malloc heap (memzones, pools, driver "
                       "state) by vswitchd and its workers, all sockets.",
                       MetricType::Gauge);
    add_sample(used, {}, static_cast<double>(allocated));
    out.push_back(std::move(size));
    out.push_back(std::move(used));
  }

  void collect_snapshot_age(const PortsSnapshot& snap, std::vector<MetricFamily>& out) const {
    auto age = family("vswitch_port_stats_age_seconds",
                      "Age of the oldest switch's port list and driver statistics this scrape "
                      "shows: each switch actor reads its own, and one busy in a port change "
                      "answers late (normally < 0.01; -1: never read).",
                      MetricType::Gauge);
    add_sample(
        age, {},
        snap.taken.time_since_epoch().count() == 0
            ? -1
            : std::chrono::duration<double>(std::chrono::steady_clock::now() - snap.taken).count());
    out.push_back(std::move(age));
    auto stale = family("vswitch_port_stats_stale_scrapes_total",
                        "Switches whose port statistics a scrape showed from an older snapshot: "
                        "their switch actor did not answer within 250 ms (busy in a port change).",
                        MetricType::Counter);
    add_sample(stale, {}, static_cast<double>(stale_scrapes_.load()));
    out.push_back(std::move(stale));
  }

  void collect_worker_port_counters(const PortsSnapshot& snap,
                                    std::vector<MetricFamily>& out) const {
    auto rx_p = family("vswitch_port_rx_packets_total",
                       "Frames received from the port, by the worker that polled them.",
                       MetricType::Counter);
    auto rx_b =
        family("vswitch_port_rx_bytes_total", "Bytes received from the port.", MetricType::Counter);
    auto tx_p = family("vswitch_port_tx_packets_total",
                       "Frames the port's tx queue accepted, by the worker that sent them.",
                       MetricType::Counter);
    auto tx_b =
        family("vswitch_port_tx_bytes_total", "Bytes sent to the port.", MetricType::Counter);
    auto drops =
        family("vswitch_port_drops_total",
               "Frames dropped by the switch, by reason, on the port that refused them: "
               "the ingress port (runt, bad_vlan, no_destination, loop_to_ingress, "
               "vlan_not_allowed, mirror_output) or the egress port (tx_full, mtu_exceeded, "
               "no_mbuf, vlan_not_allowed); the port policy's on the ingress port (spoofed_mac, "
               "spoofed_ip, spoofed_arp, spoofed_nd, dhcp_server, router_advert, isolated); rate "
               "limits' and storm control's (police and storm_broadcast, "
               "storm_multicast, storm_unknown_unicast on the ingress port, police_inbound on "
               "the egress port); a VXLAN port's (vxlan_malformed, vxlan_unknown_vni, "
               "vxlan_unknown_vtep, vxlan_rx_overflow received; vxlan_oversize, vxlan_no_vtep, "
               "vxlan_send_failed sent).",
               MetricType::Counter);
    for (int w = 0; w < mem_.nb_workers(); ++w) {
      const WorkerCounterBlock& c = mem_.counters(w);
      for (const PortSnap& p : snap.ports) {
        const PortCounters& pc = c.ports[p.port_id];
        Labels l{{"switch", p.switch_name}, {"port", p.name}, {"worker", std::to_string(w)}};
        add_sample(rx_p, l, static_cast<double>(pc.rx_packets.get()));
        add_sample(rx_b, l, static_cast<double>(pc.rx_bytes.get()));
        add_sample(tx_p, l, static_cast<double>(pc.tx_packets.get()));
        add_sample(tx_b, l, static_cast<double>(pc.tx_bytes.get()));
        for (int r = 0; r < kDropReasonCount; ++r) {
          Labels lr = l;
          lr.push_back({"reason", std::string(drop_reason_name(static_cast<DropReason>(r)))});
          add_sample(drops, lr, static_cast<double>(pc.drops[r].get()));
        }
      }
    }
    for (auto* f : {&rx_p, &rx_b, &tx_p, &tx_b, &drops}) out.push_back(std::move(*f));
  }

  void collect_driver_stats(const PortsSnapshot& snap, std::vector<MetricFamily>& out) const {
    auto drv = family("vswitch_port_driver_drops_total",
                      "Frames the port's driver dropped or failed, by reason: rx_nombuf (no mbuf "
                      "to read a frame into: net_tap drops it, net_rtap leaves it in the kernel), "
                      "rx_error, tx_error, rx_missed (kernel queue full).",
                      MetricType::Counter);
    auto queues = family("vswitch_port_queues", "Queues of the port (rx = tx).", MetricType::Gauge);
    auto mtu = family("vswitch_port_mtu_bytes", "MTU of the port.", MetricType::Gauge);
    auto rate_limit = family("vswitch_port_rate_limit_bytes_per_second",
                             "The port's rate limit (inbound: to the VM, outbound: from it), "
                             "average and peak, in bytes per second; absent without a limit.",
                             MetricType::Gauge);
    auto share_ratio = family("vswitch_port_rate_share_ratio",
                              "Each worker's share of the port's rate limit (0-1), moved every "
                              "100 ms to where the traffic is (docs/operations.md); absent "
                              "without a limit and until the first period.",
                              MetricType::Gauge);
    auto storm = family("vswitch_port_storm_control_limit",
                        "The port's storm control rate, frames per second, by kind (broadcast, "
                        "multicast, unknown_unicast); absent for a kind without limit.",
                        MetricType::Gauge);
    auto link = family("vswitch_port_link_up",
                       "1 if the driver reports the port's link up, 0 if down.", MetricType::Gauge);
    auto q_rx_p = family("vswitch_port_queue_rx_packets_total",
                         "Frames received on the port's rx queue, as the driver counts them (the "
                         "first 16 queues of a port).",
                         MetricType::Counter);
    auto q_rx_b = family("vswitch_port_queue_rx_bytes_total",
                         "Bytes received on the port's rx queue, as the driver counts them.",
                         MetricType::Counter);
    auto q_tx_p = family("vswitch_port_queue_tx_packets_total",
                         "Frames sent on the port's tx queue, as the driver counts them (tx queue "
                         "N belongs to worker N; the last one to vswitchd).",
                         MetricType::Counter);
    auto q_tx_b = family("vswitch_port_queue_tx_bytes_total",
                         "Bytes sent on the port's tx queue, as the driver counts them.",
                         MetricType::Counter);
    auto owner =
        family("vswitch_port_rx_queue_info",
               "The worker that polls each rx queue of a port (value is 1).", MetricType::Gauge);
    // The table the workers poll by, copied from shared memory (on the heap: it is ~15 KB and
    // this runs on a web server thread with a small stack). No copy, no queue owners.
    auto table = std::make_unique<TopologyTable>();
    if (!topology_ || topology_snapshot(*topology_, *table) == 0) table->nb_ports = 0;
    for (const PortSnap& p : snap.ports) {
      Labels l{{"switch", p.switch_name}, {"port", p.name}};
      add_sample(queues, l, p.nb_queues);
      add_sample(mtu, l, p.mtu);
      for (const auto& [kind, fps] :
           {std::pair{"broadcast", p.storm.broadcast}, std::pair{"multicast", p.storm.multicast},
            std::pair{"unknown_unicast", p.storm.unknown_unicast}}) {
        Labels lk = l;
        lk.push_back({"kind", kind});
        if (fps >= 0) add_sample(storm, lk, fps);
      }
      for (const auto& [dir, bw, dir_index] : {std::tuple{"inbound", &p.inbound, kInbound},
                                               std::tuple{"outbound", &p.outbound, kOutbound}}) {
        for (const auto& [kind, kbps] :
             {std::pair{"average", bw->average}, std::pair{"peak", bw->peak}}) {
          Labels ld = l;
          ld.push_back({"direction", dir});
          ld.push_back({"kind", kind});
          if (kbps > 0) add_sample(rate_limit, ld, 1000.0 * kbps);
        }
        if (bw->average <= 0) continue;
        for (int w = 0; w < mem_.nb_workers(); ++w) {
          const uint32_t share = rate_share(&mem_.rate_shares(), p.port_id, dir_index, w);
          if (share == 0) continue;
          Labels lw = l;
          lw.push_back({"direction", dir});
          lw.push_back({"worker", std::to_string(w)});
          add_sample(share_ratio, lw, static_cast<double>(share) / kShareOne);
        }
      }
      for (uint16_t i = 0; i < table->nb_ports; ++i) {
        const PortEntry& e = table->ports[i];
        if (e.dpdk_port_id != p.port_id) continue;
        for (uint16_t q = 0; q < e.nb_rx_queues && q < kMaxQueuesPerPort; ++q) {
          if (e.rxq_owner[q] == kNoWorker) continue;
          Labels lq = l;
          lq.push_back({"queue", std::to_string(q)});
          lq.push_back({"worker", std::to_string(e.rxq_owner[q])});
          add_sample(owner, lq, 1);
        }
      }
      if (p.link_up) add_sample(link, l, *p.link_up ? 1 : 0);
      if (!p.stats_ok) continue;
      const rte_eth_stats& st = p.stats;
      const std::pair<const char*, uint64_t> reasons[] = {{"rx_nombuf", st.rx_nombuf},
                                                          {"rx_error", st.ierrors},
                                                          {"tx_error", st.oerrors},
                                                          {"rx_missed", st.imissed}};
      for (auto& [reason, value] : reasons) {
        Labels lr = l;
        lr.push_back({"reason", reason});
        add_sample(drv, lr, static_cast<double>(value));
      }
      const int nq = std::min<int>(p.nb_queues, RTE_ETHDEV_QUEUE_STAT_CNTRS);
      for (int q = 0; q < nq; ++q) {
        Labels lq = l;
        lq.push_back({"queue", std::to_string(q)});
        add_sample(q_rx_p, lq, static_cast<double>(st.q_ipackets[q]));
        add_sample(q_rx_b, lq, static_cast<double>(st.q_ibytes[q]));
        add_sample(q_tx_p, lq, static_cast<double>(st.q_opackets[q]));
        add_sample(q_tx_b, lq, static_cast<double>(st.q_obytes[q]));
      }
    }
    for (auto* f : {&drv, &queues, &mtu, &storm, &rate_limit, &share_ratio, &link, &q_rx_p, &q_rx_b,
                    &q_tx_p, &q_tx_b, &owner})
      out.push_back(std::move(*f));
  }

  void collect_workers(std::vector<MetricFamily>& out) const {
    auto up = family("vswitch_worker_up", "1 if the worker process runs and forwards.",
                     MetricType::Gauge);
    auto failed = family("vswitch_worker_failed", "1 if the supervisor gave up on the worker.",
                         MetricType::Gauge);
    auto restarts = family("vswitch_worker_restarts_total",
                           "Times the supervisor restarted the worker.", MetricType::Counter);
    auto stalls = family("vswitch_worker_stalls_total",
                         "Processes of the worker killed because their heartbeat stopped for "
                         "[daemon] worker_stall_ms (hung, livelocked or stopped).",
                         MetricType::Counter);
    auto max_gap = family("vswitch_worker_heartbeat_max_gap_seconds",
                          "Longest time between two heartbeats of the worker's processes since "
                          "vswitchd started: kind=\"own\" less the time waited for a CPU in it "
                          "(the margin against worker_stall_ms), kind=\"wall\" with it.",
                          MetricType::Gauge);
    auto loops =
        family("vswitch_worker_poll_loops_total", "Poll loop iterations.", MetricType::Counter);
    auto busy = family("vswitch_worker_busy_loops_total",
                       "Poll loop iterations that received frames.", MetricType::Counter);
    auto sleeps =
        family("vswitch_worker_idle_sleeps_total",
               "Times the worker slept because all its queues were empty.", MetricType::Counter);
    auto busy_s = family("vswitch_worker_busy_seconds_total",
                         "Time the worker's poll loop spent in iterations that received frames.",
                         MetricType::Counter);
    auto idle_s = family("vswitch_worker_idle_seconds_total",
                         "Time the worker's poll loop spent in iterations that received nothing "
                         "(idle sleeps included).",
                         MetricType::Counter);
    auto bursts = family("vswitch_worker_rx_burst_packets",
                         "Frames returned by each rx burst call of the worker (empty polls in "
                         "le=\"0\").",
                         MetricType::Histogram);
    auto learn =
        family("vswitch_worker_learn_events_total",
               "Source MACs the worker sent to the FDB service to learn.", MetricType::Counter);
    auto learn_lost =
        family("vswitch_worker_learn_dropped_total",
               "Learn events lost because the worker's learn ring was full.", MetricType::Counter);
    for (const WorkerStatus& s : sup_.status()) {
      const WorkerCounterBlock& c = mem_.counters(s.id);
      bool forwarding = s.running && c.state.load(std::memory_order_acquire) ==
                                         static_cast<uint32_t>(WorkerState::kRunning);
      Labels l{{"worker", std::to_string(s.id)}};
      add_sample(up, l, forwarding ? 1 : 0);
      add_sample(failed, l, s.failed ? 1 : 0);
      add_sample(restarts, l, static_cast<double>(s.restarts));
      add_sample(stalls, l, static_cast<double>(s.stalls));
      Labels lg = l;
      lg.push_back({"kind", "own"});
      add_sample(max_gap, lg, static_cast<double>(c.heartbeat_max_stall_ns.load()) / 1e9);
      lg.back().value = "wall";
      add_sample(max_gap, lg, static_cast<double>(c.heartbeat_max_gap_ns.load()) / 1e9);
      add_sample(loops, l, static_cast<double>(c.loops.get()));
      add_sample(busy, l, static_cast<double>(c.busy_loops.get()));
      add_sample(sleeps, l, static_cast<double>(c.idle_sleeps.get()));
      add_sample(busy_s, l, static_cast<double>(c.busy_ns.get()) / 1e9);
      add_sample(idle_s, l, static_cast<double>(c.idle_ns.get()) / 1e9);
      bursts.metric.push_back(burst_histogram(c, l));
      add_sample(learn, l, static_cast<double>(c.learn_events.get()));
      add_sample(learn_lost, l, static_cast<double>(c.learn_dropped.get()));
    }
    auto mbufs_free = family("vswitch_worker_mbufs_free",
                             "Free mbufs in the worker's pool (the rest are in flight, cached per "
                             "lcore, or posted as net_tap rx buffers).",
                             MetricType::Gauge);
    auto mbufs =
        family("vswitch_worker_mbufs", "Size of the worker's mbuf pool.", MetricType::Gauge);
    auto large_free = family("vswitch_worker_large_buffers_free",
                             "Free buffers in the worker's large-buffer pool (net_rtap reads the "
                             "part of a frame beyond 2 KB into one).",
                             MetricType::Gauge);
    auto large = family("vswitch_worker_large_buffers",
                        "Size of the worker's large-buffer pool (64 KB each).", MetricType::Gauge);
    for (int w = 0; w < mem_.nb_workers(); ++w) {
      Labels l{{"worker", std::to_string(w)}};
      add_sample(mbufs_free, l, rte_mempool_avail_count(mem_.pool(w)));
      add_sample(mbufs, l, mem_.pool(w)->size);
      add_sample(large_free, l, rte_mempool_avail_count(mem_.large_pool(w)));
      add_sample(large, l, mem_.large_pool(w)->size);
    }
    for (auto* f :
         {&up, &failed, &restarts, &stalls, &max_gap, &loops, &busy, &sleeps, &busy_s, &idle_s,
          &bursts, &learn, &learn_lost, &mbufs_free, &mbufs, &large_free, &large})
      out.push_back(std::move(*f));
  }

  // The rx burst histogram from the per-bucket counters; its sum is the frames the worker
  // received (read from the port counters a moment later, so it may run a burst ahead).
  static ClientMetric burst_histogram(const WorkerCounterBlock& c, Labels labels) {
    ClientMetric m;
    m.label = std::move(labels);
    uint64_t cumulative = 0;
    for (int b = 0; b < kRxBurstBuckets; ++b) {
      cumulative += c.rx_bursts[b].get();
      m.histogram.bucket.push_back({cumulative, static_cast<double>(kRxBurstBucketBound[b])});
    }
    m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
    m.histogram.sample_count = cumulative;
    uint64_t frames = 0;
    for (const PortCounters& pc : c.ports) frames += pc.rx_packets.get();
    m.histogram.sample_sum = static_cast<double>(frames);
    return m;
  }

  // Every switch's ports, each as fresh as its switch actor answered within kFreshSnapshotWait.
  std::shared_ptr<const PortsSnapshot> ports_snapshot() const {
    auto snap = std::make_shared<PortsSnapshot>();
    bool first = true;
    for (SwitchSnapshot& sw : fetch_(kFreshSnapshotWait)) {
      if (sw.stale) stale_scrapes_.fetch_add(1, std::memory_order_relaxed);
      if (first || sw.taken < snap->taken) snap->taken = sw.taken;
      first = false;
      for (PortSnapshot& p : sw.ports)
        if (p.started) snap->ports.push_back(std::move(p));
    }
    return snap;
  }

  mutable std::atomic<uint64_t> stale_scrapes_{0};

  const DatapathMemory& mem_;
  const PortsFetch fetch_;
  const WorkerSupervisor& sup_;
  const double config_applied_;
  const SharedTopology* topology_ = nullptr;  // the port/queue table the workers read
  const ReloadStats* reload_ = nullptr;

 public:
  void set_reload_stats(const ReloadStats* r) { reload_ = r; }
};

MetricsExporter::MetricsExporter(const DatapathMemory& mem, PortsFetch fetch,
                                 const WorkerSupervisor& supervisor)
    : collector_(std::make_shared<Collector>(mem, std::move(fetch), supervisor)) {}

MetricsExporter::~MetricsExporter() {
  stop();  // no scrape runs while the collectors go
}

std::string MetricsExporter::start(const std::string& listen, ServerLimits limits, int threads,
                                   std::map<std::string, std::string> basic_auth_users) {
  // DPDK's net_tap has the kernel signal vswitchd (a real-time signal, F_SETSIG on its rx queue
  // fds) whenever frames reach a TAP queue. The server's threads inherit this thread's signal
  // mask: block the real-time signals and SIGIO while creating them, so those signals go to
  // other threads and never interrupt a scrape.
  sigset_t sigio, old_mask;
  sigemptyset(&sigio);
  sigaddset(&sigio, SIGIO);
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig) sigaddset(&sigio, sig);
  pthread_sigmask(SIG_BLOCK, &sigio, &old_mask);
  http_ = std::make_unique<MetricsHttpServer>(limits, threads, [this] { return render(); });
  http_->set_basic_auth(std::move(basic_auth_users));
  servers_.emplace_back("metrics", &http_->counters());
  std::string err = http_->start(listen);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return err;
}

void MetricsExporter::stop() {
  if (http_) http_->stop();
}

void MetricsExporter::add_server(const std::string& name, const ServerCounters* counters) {
  servers_.emplace_back(name, counters);
}

void MetricsExporter::set_reload_stats(const ReloadStats* stats) {
  collector_->set_reload_stats(stats);
}

void MetricsExporter::add_collectable(std::shared_ptr<prometheus::Collectable> extra) {
  extras_.push_back(std::move(extra));
}

std::string MetricsExporter::render() const {
  prometheus::TextSerializer serializer;
  auto families = collector_->Collect();
  for (const auto& extra : extras_) {
    auto more = extra->Collect();
    families.insert(families.end(), more.begin(), more.end());
  }
  for (const auto& [name, counters] : servers_)
    Collector::collect_server(name, *counters, families);
  if (http_) {
    MetricFamily unauth{"vswitch_metrics_requests_unauthorized_total",
                        "Scrapes answered 401: no or wrong credentials ([daemon] "
                        "metrics_basic_auth_users).",
                        MetricType::Counter,
                        {}};
    add_sample(unauth, {}, static_cast<double>(http_->unauthorized()));
    families.push_back(std::move(unauth));
  }
  return serializer.Serialize(families);
}

}  // namespace vs
