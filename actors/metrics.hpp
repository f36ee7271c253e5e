// The Prometheus exporter: reads the workers' counter blocks, the drivers' port statistics and
// the supervisor's worker states at scrape time, without stopping anything.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace prometheus {
class Collectable;
class Exposer;
}  // namespace prometheus

namespace vs {

class DatapathMemory;
class PortManager;
struct ReloadStats;
class WorkerSupervisor;

class MetricsExporter {
 public:
  MetricsExporter(const DatapathMemory& mem, const PortManager& ports,
                  const WorkerSupervisor& supervisor);
  ~MetricsExporter();

  // More metrics from another part of the daemon (e.g. the FDB service); call before start().
  void add_collectable(std::shared_ptr<prometheus::Collectable> extra);
  // The config actor's reload outcomes; call before start().
  void set_reload_stats(const ReloadStats* stats);

  // Binds `listen` ("127.0.0.1:9464"). Returns an empty string or why it could not.
  std::string start(const std::string& listen);

  // The exposition text, as a scrape would return it (for tests and `vswitchctl`).
  std::string render() const;

 private:
  class Collector;
  std::shared_ptr<Collector> collector_;
  std::vector<std::shared_ptr<prometheus::Collectable>> extras_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace vs
