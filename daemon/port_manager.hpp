// Creates, starts, stops and removes the switch's DPDK ports, as the config describes them.
// The primary owns every port; workers only attach to them.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "daemon/evpn_feed.hpp"
#include "daemon/evpn_shadow.hpp"
#include "daemon/vm_attach.hpp"
#include "shm/topology.hpp"

namespace vs {

class DatapathMemory;

struct PortRuntime {
  config::PortConfig cfg;
  std::string switch_name;
  uint16_t switch_index = 0;
  uint16_t port_id = 0;
  uint16_t nb_queues = 0;   // rx == tx for both drivers for now
  std::string device_name;  // the DPDK vdev name, e.g. net_tap_vm1
  bool created = false;
  bool started = false;
  bool netns_created = false;  // we made the namespace, so we remove it
  bool in_netns = false;       // the netdev currently lives in cfg.netns
  bool hidden = false;         // being removed: left out of the published table
  VmAttachment vm;             // the VM's macvtap or paired TAP, if the port has a vm table
  uint64_t netns_ino = 0;      // the namespace the netdev went into (its nsfs inode), or 0
  // Down: the port's netdev or namespace went away (or a reset failed). The DPDK device is
  // closed, the port is out of the published table; the entry stays so that the port can be
  // re-created when its namespace comes back, on `port reset` or on reload.
  bool down = false;
  std::string down_code;    // netns_deleted, netns_missing, netdev_deleted, reset_failed (label)
  std::string down_reason;  // for `show ports` and the log
  std::map<std::string, uint64_t> down_events;  // by code, since start
  uint64_t recreated = 0;                       // times the port came back
  EvpnShadow shadow;  // an EVPN tunnel's shadow devices (zebra's side), while started
};

// An EVPN tunnel port, as the EVPN feed follows it.
EvpnTunnel evpn_tunnel(const PortRuntime& port);

// Descriptors per rx queue. net_tap keeps one mbuf posted per descriptor, so every rx queue holds
// this many mbufs of its worker's pool at all times.
inline constexpr uint16_t kRxRingSize = 512;
// net_rtap: reads a burst may post per queue (it holds no buffer between bursts).
inline constexpr uint16_t kRtapRxRingSize = 64;  // = the bursts of switch/forwarder.cpp
inline constexpr uint16_t kTxRingSize = 512;
// net_rtap's writes complete inside the burst's submit: at most a burst is in flight. Each slot
// is 1.3 KB of heap in every process that attaches, so a smaller ring saves 0.5 MB per queue.
inline constexpr uint16_t kRtapTxRingSize = 128;

// Queue pairs a port gets: one tx queue per worker plus the primary's; net_tap needs as many rx
// queues as tx queues.
// Held across rte_dev_probe / rte_dev_remove / rte_eth_dev_close (see PortManager).
std::unique_lock<std::mutex> device_list_lock();

uint16_t port_queue_count(const config::PortConfig& port, int nb_workers);

// The mbufs each worker's pool needs: the rx descriptors of its queues, plus room for frames in
// flight and the per-lcore cache. Never less than `[daemon] mbufs_per_worker`.
unsigned mbufs_needed_per_worker(const config::Config& cfg);

// The ports of one switch (or of every switch, `switch_index` -1: tests and tools). Owned by one
// thread (that switch's actor), which alone adds, removes and re-tags them, and alone calls the
// driver for them (statistics included). Other threads (the topology actor, the FDB service, the
// supervisor's clean-up) read the port list with lock() held; the owner takes the same lock while
// it changes the list, never across a driver call, so a reader never sees a port that is half
// gone and never waits on a driver.
//
// DPDK's calls that change the device list (rte_dev_probe, rte_dev_remove, closing a port) are
// not thread-safe: the switches' owners serialize them on one process-wide lock
// (device_list_lock()), so one switch's slow probe delays another switch's port changes, never
// its show, metrics or forwarding.
class PortManager {
 public:
  PortManager(const config::Config& cfg, DatapathMemory& mem, int switch_index = -1);
  ~PortManager();

  // Creates and starts every port of the config; on failure undoes what it did and returns why.
  std::string create_all();
  void destroy_all();

  // Reload: one port at a time. add_port leaves nothing behind when it fails.
  std::string add_port(const std::string& switch_name, const config::PortConfig& port);
  bool remove_port(const std::string& name);
  // Only the VLAN settings change; the new table must be published to take effect.
  bool retag_port(const config::PortConfig& port);
  // Leaves the port out of the next published table (the first step of removing it).
  bool hide_port(const std::string& name);
  // Marks the port down with a reason (visible at once), then closes its DPDK device; the entry
  // stays. `netdev_gone`: the netdev went away with its namespace, so nothing is moved back and
  // the namespace is not ours to delete any more. Call after hide_port and the table's publish.
  bool mark_down(const std::string& name, const std::string& code, const std::string& reason);
  void close_down_port(const std::string& name, bool netdev_gone);
  // Re-creates a down port in place; "" or why not (then it stays down, with that reason).
  std::string revive(const std::string& name);

  // The port/queue table to publish: every rx queue of every port gets an active worker (round
  // robin over the workers not given up; a multi-queue TAP hashes flows over all its queues, so
  // an unpolled queue would lose frames). An empty `active` means every worker.
  // Reads the list: the owner, or another thread with lock() held.
  void topology(const std::vector<bool>& active, TopologyTable& out) const;
  // The same, for several managers (the switches): the table's header, then each one's ports
  // under its lock.
  static void build_topology(const std::vector<const PortManager*>& managers,
                             const std::vector<bool>& active, TopologyTable& out);

  std::unique_lock<std::mutex> lock() const { return std::unique_lock(mu_); }
  // The owner may read without the lock; any other thread must hold lock().
  const std::vector<PortRuntime>& ports() const { return ports_; }
  const PortRuntime* find(const std::string& name) const;
  int switch_index() const { return switch_index_; }
  uint16_t primary_tx_queue() const { return static_cast<uint16_t>(nb_workers_); }
  // Fault injection (tests): every probe from now on first sleeps `hang`, as a probe stuck on a
  // slow kernel or a silent worker would.
  void set_fault_probe_hang(std::chrono::milliseconds hang) { fault_probe_hang_ = hang; }
  // Where EVPN tunnel ports started from now on are announced (the FDB service's feed), or
  // nullptr (before it starts, after it stops). Set while no port changes.
  void set_evpn_sink(EvpnSink* sink) { evpn_sink_ = sink; }
  // No port keeps rx buffers posted (net_rtap and tunnel ports take them per burst).
  bool all_rtap() const {
    for (const PortRuntime& p : ports_)
      if (p.cfg.driver != "rtap" && !p.cfg.is_vxlan()) return false;
    return true;
  }

 private:
  PortRuntime make_runtime(const std::string& switch_name, const config::PortConfig& port) const;
  std::string bring_up(PortRuntime& port);
  bool waits_for_netns(PortRuntime& port);
  std::string create_port(PortRuntime& port);
  std::string start_tunnel(PortRuntime& port);
  static constexpr int kProbeAttempts = 4;
  int probe_with_workers(const std::string& device, const std::string& devargs) const;
  static int remove_with_workers(const std::string& device);
  std::string configure_and_start(PortRuntime& port);
  std::string attach_netdev(PortRuntime& port);
  std::string attach_vm_side(PortRuntime& port);
  PortRuntime* find_mutable(const std::string& name);
  void topology_header(TopologyTable& t) const;  // cleared, then the switches and workers
  void append_topology(const std::vector<bool>& active, std::size_t& spill, TopologyTable& t) const;
  void destroy_port(PortRuntime& port);

  const config::Config cfg_;  // as started: the switches (reload cannot change them)
  DatapathMemory& mem_;
  int nb_workers_;
  int switch_index_;
  mutable std::mutex mu_;
  std::vector<PortRuntime> ports_;
  std::chrono::milliseconds fault_probe_hang_{0};
  EvpnSink* evpn_sink_ = nullptr;
};

// Every switch's ports, for the threads that only read them (FDB service, supervisor's clean-up,
// metrics, control): each switch's list under its own lock, one switch at a time, never across
// a driver call.
class PortDirectory {
 public:
  PortDirectory() = default;
  explicit PortDirectory(std::vector<const PortManager*> managers)
      : managers_(std::move(managers)) {}

  template <class F>
  void for_each(F&& f) const {
    for (const PortManager* m : managers_) {
      auto guard = m->lock();
      for (const PortRuntime& p : m->ports()) f(p);
    }
  }
  int port_id(const std::string& name) const;   // -1 if no port has that name
  std::string name_of(uint16_t port_id) const;  // "" if no port has that id
  bool all_rtap() const;
  std::size_t size() const;
  const std::vector<const PortManager*>& managers() const { return managers_; }

 private:
  std::vector<const PortManager*> managers_;
};

}  // namespace vs
