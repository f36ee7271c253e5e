#include "actors/metrics.hpp"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>
#include <rte_ethdev.h>

#include "actors/datapath_memory.hpp"
#include "actors/port_manager.hpp"
#include "actors/supervisor.hpp"
#include "switch/counters.hpp"

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

void add_sample(MetricFamily& fam, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (fam.type == MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  fam.metric.push_back(std::move(m));
}

}  // namespace

class MetricsExporter::Collector : public prometheus::Collectable {
 public:
  Collector(const DatapathMemory& mem, const PortManager& ports, const WorkerSupervisor& sup)
      : mem_(mem), ports_(ports), sup_(sup) {}

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> out;
    auto info = family("vswitch_build_info", "Build of the running vswitchd (value is 1).",
                       MetricType::Gauge);
    add_sample(info, {{"version", VSWITCH_VERSION}}, 1);
    out.push_back(std::move(info));
    collect_worker_port_counters(out);
    collect_driver_stats(out);
    collect_workers(out);
    return out;
  }

 private:
  void collect_worker_port_counters(std::vector<MetricFamily>& out) const {
    auto rx_p = family("vswitch_port_rx_packets_total",
                       "Frames received from the port, by the worker that polled them.",
                       MetricType::Counter);
    auto rx_b = family("vswitch_port_rx_bytes_total", "Bytes received from the port.",
                       MetricType::Counter);
    auto tx_p = family("vswitch_port_tx_packets_total",
                       "Frames the port's tx queue accepted, by the worker that sent them.",
                       MetricType::Counter);
    auto tx_b = family("vswitch_port_tx_bytes_total", "Bytes sent to the port.",
                       MetricType::Counter);
    auto drops = family("vswitch_port_drops_total",
                        "Frames dropped by the switch, by ingress (runt, no_destination) or "
                        "egress (tx_full) port and reason.",
                        MetricType::Counter);
    for (int w = 0; w < mem_.nb_workers(); ++w) {
      const WorkerCounterBlock& c = mem_.counters(w);
      for (const PortRuntime& p : ports_.ports()) {
        if (!p.started) continue;
        const PortCounters& pc = c.ports[p.port_id];
        Labels l{{"switch", p.switch_name}, {"port", p.cfg.name}, {"worker", std::to_string(w)}};
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

  void collect_driver_stats(std::vector<MetricFamily>& out) const {
    auto drv = family("vswitch_port_driver_drops_total",
                      "Frames the port's driver dropped or failed, by reason: rx_nombuf (no mbuf "
                      "for a received frame), rx_error, tx_error, rx_missed (kernel queue full).",
                      MetricType::Counter);
    auto queues = family("vswitch_port_queues", "Queues of the port (rx = tx).",
                         MetricType::Gauge);
    auto mtu = family("vswitch_port_mtu_bytes", "MTU of the port.", MetricType::Gauge);
    for (const PortRuntime& p : ports_.ports()) {
      if (!p.started) continue;
      Labels l{{"switch", p.switch_name}, {"port", p.cfg.name}};
      add_sample(queues, l, p.nb_queues);
      add_sample(mtu, l, p.cfg.mtu);
      rte_eth_stats st{};
      if (rte_eth_stats_get(p.port_id, &st) != 0) continue;
      const std::pair<const char*, uint64_t> reasons[] = {{"rx_nombuf", st.rx_nombuf},
                                                          {"rx_error", st.ierrors},
                                                          {"tx_error", st.oerrors},
                                                          {"rx_missed", st.imissed}};
      for (auto& [reason, value] : reasons) {
        Labels lr = l;
        lr.push_back({"reason", reason});
        add_sample(drv, lr, static_cast<double>(value));
      }
    }
    for (auto* f : {&drv, &queues, &mtu}) out.push_back(std::move(*f));
  }

  void collect_workers(std::vector<MetricFamily>& out) const {
    auto up = family("vswitch_worker_up", "1 if the worker process runs and forwards.",
                     MetricType::Gauge);
    auto failed = family("vswitch_worker_failed",
                         "1 if the supervisor gave up on the worker.", MetricType::Gauge);
    auto restarts = family("vswitch_worker_restarts_total",
                           "Times the supervisor restarted the worker.", MetricType::Counter);
    auto loops = family("vswitch_worker_poll_loops_total", "Poll loop iterations.",
                        MetricType::Counter);
    auto busy = family("vswitch_worker_busy_loops_total",
                       "Poll loop iterations that received frames.", MetricType::Counter);
    auto sleeps = family("vswitch_worker_idle_sleeps_total",
                         "Times the worker slept because all its queues were empty.",
                         MetricType::Counter);
    for (const WorkerStatus& s : sup_.status()) {
      const WorkerCounterBlock& c = mem_.counters(s.id);
      bool forwarding = s.running && c.state.load(std::memory_order_acquire) ==
                                         static_cast<uint32_t>(WorkerState::kRunning);
      Labels l{{"worker", std::to_string(s.id)}};
      add_sample(up, l, forwarding ? 1 : 0);
      add_sample(failed, l, s.failed ? 1 : 0);
      add_sample(restarts, l, static_cast<double>(s.restarts));
      add_sample(loops, l, static_cast<double>(c.loops.get()));
      add_sample(busy, l, static_cast<double>(c.busy_loops.get()));
      add_sample(sleeps, l, static_cast<double>(c.idle_sleeps.get()));
    }
    for (auto* f : {&up, &failed, &restarts, &loops, &busy, &sleeps}) out.push_back(std::move(*f));
  }

  const DatapathMemory& mem_;
  const PortManager& ports_;
  const WorkerSupervisor& sup_;
};

MetricsExporter::MetricsExporter(const DatapathMemory& mem, const PortManager& ports,
                                 const WorkerSupervisor& supervisor)
    : collector_(std::make_shared<Collector>(mem, ports, supervisor)) {}

MetricsExporter::~MetricsExporter() = default;

std::string MetricsExporter::start(const std::string& listen) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    return "cannot serve metrics on " + listen + " (" + e.what() +
           "): is the address in use? Set [daemon] metrics_listen to a free address.";
  }
  exposer_->RegisterCollectable(collector_);
  return {};
}

std::string MetricsExporter::render() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(collector_->Collect());
}

}  // namespace vs
