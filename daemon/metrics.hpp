// The Prometheus exporter: reads the workers' counter blocks, the drivers' port statistics and
// the supervisor's worker states at scrape time, without stopping anything.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/messages.hpp"
#include "daemon/metrics_http.hpp"

namespace prometheus {
class Collectable;
}  // namespace prometheus

namespace vs {

class DatapathMemory;
struct ReloadStats;
class WorkerSupervisor;

// Every switch's port snapshot, waiting at most the given time (SwitchSnapshots::fetch).
using PortsFetch = std::function<std::vector<SwitchSnapshot>(std::chrono::milliseconds)>;

class MetricsExporter {
 public:
  MetricsExporter(const DatapathMemory& mem, PortsFetch fetch, const WorkerSupervisor& supervisor);
  ~MetricsExporter();

  // More metrics from another part of the daemon (e.g. the FDB service); call before start().
  void add_collectable(std::shared_ptr<prometheus::Collectable> extra);
  // The config actor's reload outcomes; call before start().
  void set_reload_stats(const ReloadStats* stats);

  // A management server's connection counters, exported as vswitch_<name>_connections... ;
  // call before start().
  void add_server(const std::string& name, const ServerCounters* counters);

  // Binds `listen` ("127.0.0.1:9464") and serves GET /metrics over HTTP/1.1 with one I/O thread
  // (bounded_server.hpp: request deadline, header size limit, connection cap) and `threads`
  // threads that render scrapes. Returns an empty string or why it could not.
  // `basic_auth_users` (user -> bcrypt hash), if not empty, must log in to scrape.
  std::string start(const std::string& listen, ServerLimits limits, int threads,
                    std::map<std::string, std::string> basic_auth_users = {});
  // Stops serving (before the servers given to add_server go away).
  void stop();

  // The exposition text, as a scrape would return it (for tests and `vswitchctl`).
  std::string render() const;

 private:
  class Collector;
  std::shared_ptr<Collector> collector_;
  std::vector<std::shared_ptr<prometheus::Collectable>> extras_;
  std::vector<std::pair<std::string, const ServerCounters*>> servers_;
  std::unique_ptr<MetricsHttpServer> http_;
};

}  // namespace vs
