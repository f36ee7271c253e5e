#include "daemon/fdb_service.hpp"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <rte_ether.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <time.h>

#include <chrono>

#include "daemon/datapath_memory.hpp"
#include "daemon/port_manager.hpp"
#include "switch/l2.hpp"

namespace vs {
namespace {

constexpr auto kDrainPeriod = std::chrono::milliseconds(1);
constexpr auto kIdleDrainPeriod = std::chrono::milliseconds(10);
constexpr unsigned kDrainBurst = 256;

MacAddr parse_mac(const std::string& s) {
  rte_ether_addr a;
  if (rte_ether_unformat_addr(s.c_str(), &a) != 0) return 0;
  return mac_from_bytes(a.addr_bytes);
}

// One family per field of a stats struct, one sample per row (a switch, an EVPN port).
template <class Stats>
struct StatFamily {
  const char* name;
  const char* help;
  prometheus::MetricType type;
  std::atomic<uint64_t> Stats::*field;
};

template <class Stats, std::size_t N, class Each>
void add_families(const StatFamily<Stats> (&fams)[N], std::size_t rows, Each&& row,
                  std::vector<prometheus::MetricFamily>& out) {
  for (const StatFamily<Stats>& f : fams) {
    prometheus::MetricFamily fam{f.name, f.help, f.type, {}};
    for (std::size_t i = 0; i < rows; ++i) {
      prometheus::ClientMetric m;
      const Stats* stats = row(i, m.label);
      const double v = static_cast<double>((stats->*f.field).load(std::memory_order_relaxed));
      if (f.type == prometheus::MetricType::Counter)
        m.counter.value = v;
      else
        m.gauge.value = v;
      fam.metric.push_back(std::move(m));
    }
    out.push_back(std::move(fam));
  }
}

class FdbCollector : public prometheus::Collectable {
 public:
  FdbCollector(const FdbWriter& writer, const config::Config& cfg, const EvpnFeed& evpn,
               std::mutex& mu)
      : writer_(writer), cfg_(cfg), evpn_(evpn), mu_(mu) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    const StatFamily<FdbSwitchStats> fams[] = {
        {"vswitch_fdb_entries", "MAC entries in the switch's FDB (learned and static).",
         MetricType::Gauge, &FdbSwitchStats::entries},
        {"vswitch_fdb_learned_total", "MACs learned.", MetricType::Counter,
         &FdbSwitchStats::learned},
        {"vswitch_fdb_moved_total", "Learned MACs that moved to another port (station moves).",
         MetricType::Counter, &FdbSwitchStats::moved},
        {"vswitch_fdb_aged_total", "Learned MACs forgotten after fdb_aging_s unseen.",
         MetricType::Counter, &FdbSwitchStats::aged},
        {"vswitch_fdb_overflow_total",
         "MACs not learned because the FDB was full (fdb_max_entries or table space).",
         MetricType::Counter, &FdbSwitchStats::overflow},
        {"vswitch_fdb_port_limit_total",
         "MACs not learned because the port reached mac_limit_per_port.", MetricType::Counter,
         &FdbSwitchStats::port_limit},
        {"vswitch_fdb_static_conflicts_total",
         "Frames whose source MAC is a static entry of another port.", MetricType::Counter,
         &FdbSwitchStats::static_conflict},
    };
    std::vector<prometheus::MetricFamily> out;
    add_families(
        fams, cfg_.switches.size(),
        [this](std::size_t sw, std::vector<prometheus::ClientMetric::Label>& labels) {
          labels = {{"switch", cfg_.switches[sw].name}};
          return &writer_.stats(static_cast<uint16_t>(sw));
        },
        out);
    prometheus::MetricFamily max{
        "vswitch_fdb_max_entries", "The FDB bound (fdb_max_entries).", MetricType::Gauge, {}};
    for (const auto& sw : cfg_.switches) {
      prometheus::ClientMetric m;
      m.label = {{"switch", sw.name}};
      m.gauge.value = sw.fdb_max_entries;
      max.metric.push_back(std::move(m));
    }
    out.push_back(std::move(max));
    evpn_families(out);
    return out;
  }

 private:
  // The EVPN feed of each EVPN tunnel port (docs/evpn.md, docs/monitoring.md).
  void evpn_families(std::vector<prometheus::MetricFamily>& out) const {
    using prometheus::MetricType;
    const StatFamily<EvpnStats> fams[] = {
        {"vswitch_evpn_remote_macs", "Remote MACs that EVPN (zebra) placed behind the port.",
         MetricType::Gauge, &EvpnStats::remote_macs},
        {"vswitch_evpn_vteps", "Remote VTEPs the port knows (slots in use).", MetricType::Gauge,
         &EvpnStats::vteps},
        {"vswitch_evpn_flood_vteps", "VTEPs in the port's flood list (EVPN type-3 routes).",
         MetricType::Gauge, &EvpnStats::flood_vteps},
        {"vswitch_evpn_local_macs", "Local MACs pushed to the shadow bridge for zebra.",
         MetricType::Gauge, &EvpnStats::local_macs},
        {"vswitch_evpn_no_vtep_slot_total",
         "Remote MACs or flood VTEPs refused: all the port's VTEP slots (32) were in use.",
         MetricType::Counter, &EvpnStats::no_vtep_slot},
        {"vswitch_evpn_not_stored_total",
         "Remote MACs the FDB refused (full, or a static entry holds the MAC).",
         MetricType::Counter, &EvpnStats::not_stored},
        {"vswitch_evpn_push_errors_total", "Local MAC pushes the kernel refused.",
         MetricType::Counter, &EvpnStats::push_errors},
        {"vswitch_evpn_resyncs_total", "Full dumps of the kernel's FDB after the first.",
         MetricType::Counter, &EvpnStats::resyncs},
    };
    std::lock_guard lock(mu_);  // the feed's list of ports changes under the writer's lock
    const std::vector<EvpnFeed::Row> rows = evpn_.rows();
    if (rows.empty()) return;  // no EVPN port: no family
    add_families(
        fams, rows.size(),
        [&rows](std::size_t i, std::vector<prometheus::ClientMetric::Label>& labels) {
          labels = {{"port", rows[i].name}, {"vni", std::to_string(rows[i].vni)}};
          return rows[i].stats;
        },
        out);
  }

  const FdbWriter& writer_;
  const config::Config& cfg_;
  const EvpnFeed& evpn_;
  std::mutex& mu_;
};

}  // namespace

uint32_t fdb_now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint32_t>(ts.tv_sec);
}

FdbService::FdbService(DatapathMemory& mem, const config::Config& cfg, const PortDirectory& ports)
    : mem_(mem), cfg_(cfg), ports_(ports) {
  std::vector<FdbLimits> limits;
  for (const auto& sw : cfg.switches) {
    limits.push_back({static_cast<uint32_t>(sw.fdb_max_entries),
                      static_cast<uint32_t>(sw.mac_limit_per_port),
                      static_cast<uint32_t>(sw.fdb_aging_s)});
  }
  writer_ = std::make_unique<FdbWriter>(mem.fdb(), std::move(limits));
  evpn_ = std::make_unique<EvpnFeed>(*writer_, mem.fdb(), mem.vteps());
  writer_->set_observer([this](uint16_t sw, uint64_t key, uint16_t port_id) {
    evpn_->fdb_changed(sw, key, port_id);
  });
  collector_ = std::make_shared<FdbCollector>(*writer_, cfg_, *evpn_, drain_mu_);
}

FdbService::~FdbService() {
  stop();
}

std::string FdbService::start() {
  uint32_t now = fdb_now_s();
  for (std::size_t sw = 0; sw < cfg_.switches.size(); ++sw) {
    for (const config::StaticFdbEntry& e : cfg_.switches[sw].fdb) {
      const int port_id = ports_.port_id(e.port);
      if (port_id < 0) continue;  // the validator guarantees the port exists
      if (!writer_->add_static(static_cast<uint16_t>(sw),
                               fdb_key(parse_mac(e.mac), static_cast<uint16_t>(e.vlan)),
                               static_cast<uint16_t>(port_id), now)) {
        return "switch " + cfg_.switches[sw].name + ": no room for static FDB entry " + e.mac +
               "; raise fdb_max_entries";
      }
    }
  }
  std::vector<EvpnTunnel> tunnels;
  ports_.for_each([&tunnels](const PortRuntime& p) {
    if (p.started && p.cfg.is_vxlan() && p.cfg.vxlan.evpn) tunnels.push_back(evpn_tunnel(p));
  });
  for (const EvpnTunnel& t : tunnels)
    if (std::string err = evpn_attach(t); !err.empty()) return "port " + t.name + ": " + err;
  thread_ = std::thread([this] { run(); });
  return {};
}

std::string FdbService::evpn_attach(const EvpnTunnel& t) {
  std::lock_guard lock(drain_mu_);
  return evpn_->attach(t, fdb_now_s());
}

void FdbService::evpn_detach(uint16_t port_id) {
  std::lock_guard lock(drain_mu_);
  evpn_->detach(port_id);
}

void FdbService::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::size_t FdbService::drain_once() {
  std::lock_guard lock(drain_mu_);
  uint32_t now = fdb_now_s();
  std::size_t total = 0;
  LearnEvent events[kDrainBurst];
  for (int w = 0; w < mem_.nb_workers(); ++w) {
    rte_ring* ring = mem_.learn_ring(w);
    unsigned n;
    // Bounded per round so one flooding worker cannot starve the others' events.
    for (int round = 0; round < 8; ++round) {
      n = rte_ring_sc_dequeue_burst_elem(ring, events, sizeof(LearnEvent), kDrainBurst, nullptr);
      for (unsigned i = 0; i < n; ++i) writer_->apply(events[i], now);
      total += n;
      if (n < kDrainBurst) break;
    }
  }
  return total;
}

void FdbService::run() {
  uint32_t last_age = fdb_now_s();
  unsigned idle_rounds = 0;
  while (!stop_.load(std::memory_order_relaxed)) {
    // Every millisecond while MACs are being learned; every 10 ms once the rings stay empty, so
    // an idle switch does not wake the primary a thousand times a second.
    if (drain_once() > 0) {
      idle_rounds = 0;
    } else {
      std::this_thread::sleep_for(++idle_rounds > 100 ? kIdleDrainPeriod : kDrainPeriod);
    }
    uint32_t now = fdb_now_s();
    std::lock_guard lock(drain_mu_);
    if (now != last_age) {
      writer_->age(now);
      last_age = now;
    }
    evpn_->poll(now);
  }
}

void FdbService::reset_learn_ring(int worker) {
  std::lock_guard lock(drain_mu_);
  rte_ring_reset(mem_.learn_ring(worker));
}

std::size_t FdbService::flush_learned(int switch_index, int port_id, int vlan) {
  std::lock_guard lock(drain_mu_);
  return writer_->flush_learned(switch_index, port_id, vlan);
}

std::vector<FdbService::Entry> FdbService::entries() const {
  std::lock_guard lock(drain_mu_);  // no slot changes while we read
  std::vector<Entry> out;
  const FdbTable& t = mem_.fdb();
  const uint32_t now = fdb_now_s();
  for (uint32_t b = 0; b <= t.bucket_mask; ++b) {
    for (const FdbSlot& s : t.buckets[b].slots) {
      if (!(s.flags & kFdbValid)) continue;
      out.push_back({s.switch_index, fdb_key_vlan(s.key), fdb_key_mac(s.key), s.port_id,
                     (s.flags & kFdbStatic) != 0, now - s.refreshed_s, s.vtep,
                     (s.flags & kFdbRemote) != 0, evpn_->vtep_address(s.port_id, s.vtep)});
    }
  }
  return out;
}

std::shared_ptr<prometheus::Collectable> FdbService::collector() const {
  return collector_;
}

}  // namespace vs
