// The FDB service: the single writer of the shared FDB. It drains every worker's learn ring,
// applies the events under the configured bounds, installs the static entries and ages entries.
// Runs on its own thread in the primary (the fdb actor of the design, before CAF arrives).
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "daemon/evpn_feed.hpp"
#include "switch/fdb_writer.hpp"

namespace prometheus {
class Collectable;
}

namespace vs {

class DatapathMemory;
class PortDirectory;

class FdbService : public EvpnSink {
 public:
  FdbService(DatapathMemory& mem, const config::Config& cfg, const PortDirectory& ports);
  ~FdbService() override;

  // Installs the static entries, starts the EVPN feed of the EVPN tunnel ports already started,
  // and starts the thread. Returns an empty string or why not.
  std::string start();
  void stop();

  // A dead worker may have left a half-written event in its ring: empty it (the worker is dead,
  // and the service holds the drain lock, so neither end is using the ring).
  void reset_learn_ring(int worker);

  std::shared_ptr<prometheus::Collectable> collector() const;

  // Any thread: these take the writer's (process-local) lock, so the service stays the single
  // writer of the shared table.
  std::size_t flush_learned(int switch_index, int port_id, int vlan);
  struct Entry {
    uint16_t switch_index;
    uint16_t vlan;
    uint64_t mac;
    uint16_t port_id;
    bool is_static;
    uint32_t age_s;
    uint16_t vtep = 0;       // behind a tunnel port: its remote VTEP (index + 1 into its remotes)
    bool is_remote = false;  // placed by the EVPN feed
    uint32_t vtep_addr = 0;  // an EVPN port's VTEP (network order), 0 if not one
  };
  std::vector<Entry> entries() const;

  // EvpnSink, any thread (the port managers): under the writer's lock.
  std::string evpn_attach(const EvpnTunnel& t) override;
  void evpn_detach(uint16_t port_id) override;

 private:
  void run();
  std::size_t drain_once();

  DatapathMemory& mem_;
  const config::Config& cfg_;
  const PortDirectory& ports_;
  std::unique_ptr<FdbWriter> writer_;
  std::unique_ptr<EvpnFeed> evpn_;
  mutable std::mutex drain_mu_;  // process-local: orders draining against ring resets
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::shared_ptr<prometheus::Collectable> collector_;
};

// Monotonic seconds, the FDB's clock in every process.
uint32_t fdb_now_s();

}  // namespace vs
