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
  std::string down_code;    // netns_deleted, netdev_deleted, reset_failed (metric label)
  std::string down_reason;  // for `show ports` and the log
  std::map<std::string, uint64_t> down_events;  // by code, since start
  uint64_t recreated = 0;                       // times the port came back
};

// Descriptors per rx queue. net_tap keeps one mbuf posted per descriptor, so every rx queue holds
// this many mbufs of its worker's pool at all times.
inline constexpr uint16_t kRxRingSize = 512;
// net_rtap with LRO posts buffers for 64 KB super-frames: 256 of them per queue hold 16 MB.
inline constexpr uint16_t kRtapRxRingSize = 256;
inline constexpr uint16_t kTxRingSize = 512;

// Queue pairs a port gets: one tx queue per worker plus the primary's; net_tap needs as many rx
// queues as tx queues.
uint16_t port_queue_count(const config::PortConfig& port, int nb_workers);

// The mbufs each worker's pool needs: the rx descriptors of its queues, plus room for frames in
// flight and the per-lcore cache. Never less than `[daemon] mbufs_per_worker`.
unsigned mbufs_needed_per_worker(const config::Config& cfg);

// Owned by one thread (the datapath actor), which alone adds, removes and re-tags ports. Other
// threads (metrics, FDB service, control) read the port list with lock() held; the owner takes
// the same lock while it changes the list or closes a port, so a reader never sees a port that
// is half gone.
class PortManager {
 public:
  PortManager(const config::Config& cfg, DatapathMemory& mem);
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

  std::unique_lock<std::mutex> lock() const { return std::unique_lock(mu_); }
  // The owner may read without the lock; any other thread must hold lock().
  const std::vector<PortRuntime>& ports() const { return ports_; }
  const PortRuntime* find(const std::string& name) const;
  uint16_t primary_tx_queue() const { return static_cast<uint16_t>(nb_workers_); }
  // Fault injection (tests): every probe from now on first sleeps `hang`, as a probe stuck on a
  // slow kernel or a silent worker would.
  void set_fault_probe_hang(std::chrono::milliseconds hang) { fault_probe_hang_ = hang; }
  bool all_rtap() const {
    for (const PortRuntime& p : ports_)
      if (p.cfg.driver != "rtap") return false;
    return true;
  }

 private:
  PortRuntime make_runtime(const std::string& switch_name, const config::PortConfig& port) const;
  std::string bring_up(PortRuntime& port);
  std::string create_port(PortRuntime& port);
  static constexpr int kProbeAttempts = 4;
  int probe_with_workers(const std::string& device, const std::string& devargs) const;
  static int remove_with_workers(const std::string& device);
  std::string configure_and_start(PortRuntime& port);
  std::string attach_netdev(PortRuntime& port);
  std::string attach_vm_side(PortRuntime& port);
  PortRuntime* find_mutable(const std::string& name);
  void destroy_port(PortRuntime& port);

  const config::Config cfg_;  // as started: the switches (reload cannot change them)
  DatapathMemory& mem_;
  int nb_workers_;
  mutable std::mutex mu_;
  std::vector<PortRuntime> ports_;
  std::chrono::milliseconds fault_probe_hang_{0};
};

}  // namespace vs
