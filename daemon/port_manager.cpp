#include "daemon/port_manager.hpp"

#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "daemon/datapath_memory.hpp"
#include "daemon/hotplug_gate.hpp"
#include "daemon/netns.hpp"
#include "daemon/tunnel_port.hpp"
#include "switch/policy.hpp"

namespace vs {
namespace {

// DPDK 22.11's net_tap passes a secondary all rx and tx queue fds in one rte_mp message, which
// carries at most RTE_MP_MAX_FD_NUM (8) fds: so at most 4 queue pairs per port. net_rtap fetches
// them in chunks; its own limit is 64 queue pairs.
constexpr int kTapMaxQueuesMultiProcess = RTE_MP_MAX_FD_NUM / 2;
constexpr int kRtapMaxQueues = 64;

bool is_rtap(const PortRuntime& port) {
  return port.cfg.driver == "rtap";
}

std::string port_error(const PortRuntime& port, const std::string& what) {
  return "port " + port.cfg.name + " (switch " + port.switch_name + "): " + what;
}

}  // namespace

uint16_t port_queue_count(const config::PortConfig& port, int nb_workers) {
  // A tunnel's "queue" w is worker w's UDP socket.
  if (port.is_vxlan()) return static_cast<uint16_t>(nb_workers);
  return static_cast<uint16_t>(std::max(port.queues, nb_workers + 1));
}

// mbufs one rx queue keeps posted: net_tap one per descriptor; net_rtap none, since it takes
// buffers only for the reads of a burst (counted in the frames in flight below).
unsigned rx_queue_mbufs(const config::PortConfig& port) {
  return port.driver == "rtap" || port.is_vxlan() ? 0 : kRxRingSize;
}

unsigned mbufs_needed_per_worker(const config::Config& cfg) {
  const int workers = cfg.daemon.workers;
  std::vector<unsigned> posted(static_cast<size_t>(workers), 0);
  for (const auto& sw : cfg.switches)
    for (const auto& p : sw.ports)
      for (uint16_t q = 0; q < port_queue_count(p, workers); ++q)
        posted[q % workers] += rx_queue_mbufs(p);
  unsigned most = *std::max_element(posted.begin(), posted.end());
  // In flight: one rx burst flooded to every port's tx buffer, plus the lcore cache (256).
  unsigned needed = most + 2048;
  return std::max(needed, static_cast<unsigned>(cfg.daemon.mbufs_per_worker));
}

namespace {

// How long a device change waits for workers in rte_eal_init (daemon/hotplug_gate.hpp): a
// worker's EAL start-up takes 10-20 ms, up to a second on a loaded machine or under ASan.
constexpr std::chrono::milliseconds kAttachWait{5000};

void log_attach_overlap(const std::string& device) {
  std::fprintf(stderr,
               "vswitchd: %s: a worker has been starting for %lld ms; changing the device "
               "anyway (if that worker keeps the device, `vswitchctl worker restart` clears it)\n",
               device.c_str(), static_cast<long long>(kAttachWait.count()));
}

}  // namespace

std::unique_lock<std::mutex> device_list_lock() {
  static std::mutex mu;
  return std::unique_lock(mu);
}

PortManager::PortManager(const config::Config& cfg, DatapathMemory& mem, int switch_index)
    : cfg_(cfg), mem_(mem), nb_workers_(cfg.daemon.workers), switch_index_(switch_index) {
  for (std::size_t i = 0; i < cfg.switches.size(); ++i) {
    if (switch_index >= 0 && static_cast<int>(i) != switch_index) continue;
    for (const auto& p : cfg.switches[i].ports)
      ports_.push_back(make_runtime(cfg.switches[i].name, p));
  }
}

PortManager::~PortManager() {
  destroy_all();
}

PortRuntime PortManager::make_runtime(const std::string& switch_name,
                                      const config::PortConfig& port) const {
  PortRuntime rt;
  rt.cfg = port;
  rt.switch_name = switch_name;
  for (std::size_t i = 0; i < cfg_.switches.size(); ++i)
    if (cfg_.switches[i].name == switch_name) rt.switch_index = static_cast<uint16_t>(i);
  rt.nb_queues = port_queue_count(port, nb_workers_);
  return rt;
}

std::string PortManager::bring_up(PortRuntime& port) {
  if (port.cfg.is_vxlan()) return start_tunnel(port);
  std::string err = create_port(port);
  if (err.empty()) err = configure_and_start(port);
  if (err.empty()) err = attach_netdev(port);
  if (err.empty()) err = attach_vm_side(port);
  if (err.empty() && !port.cfg.uplink_bridge.empty()) {
    if (auto e = link_join_bridge(port.cfg.name, port.cfg.netns, port.cfg.uplink_bridge))
      err = port_error(port, e.message);
  }
  if (err.empty() && !port.cfg.netns.empty()) port.netns_ino = netns_inode(port.cfg.netns);
  return err;
}

std::string PortManager::create_all() {
  for (PortRuntime& port : ports_) {
    if (waits_for_netns(port)) continue;
    if (std::string err = bring_up(port); !err.empty()) {
      destroy_all();
      return err;
    }
  }
  return {};
}

// A port whose namespace does not exist yet, when vswitchd may not create it (vswitchd.service):
// the daemon starts with the port down, and the namespace watch brings it up once the VM's
// manager has made the namespace, so the boot order of vswitchd and the VMs does not matter.
bool PortManager::waits_for_netns(PortRuntime& port) {
  if (port.cfg.netns.empty() || netns_creation_allowed() || netns_inode(port.cfg.netns) != 0)
    return false;
  port.down = true;
  port.down_code = "netns_missing";
  port.down_reason = "namespace " + port.cfg.netns +
                     " does not exist yet; the port comes up when it does (`ip netns add " +
                     port.cfg.netns + "`)";
  ++port.down_events[port.down_code];
  std::fprintf(stderr, "vswitchd: port %s down: %s\n", port.cfg.name.c_str(),
               port.down_reason.c_str());
  return true;
}

std::string PortManager::add_port(const std::string& switch_name, const config::PortConfig& cfg) {
  if (find(cfg.name)) return "port " + cfg.name + " exists already";
  PortRuntime port = make_runtime(switch_name, cfg);
  if (std::string err = bring_up(port); !err.empty()) {
    destroy_port(port);
    return err;
  }
  auto guard = lock();
  ports_.push_back(std::move(port));
  return {};
}

bool PortManager::remove_port(const std::string& name) {
  // Out of the list under the lock, closed without it: DPDK's hot-unplug waits for every worker
  // (seconds when one does not answer), and the readers (show, metrics, FDB, the supervisor's
  // clean-up) must not wait with it. They no longer see the port once it is out of the list.
  PortRuntime gone;
  {
    auto guard = lock();
    auto it = std::find_if(ports_.begin(), ports_.end(),
                           [&name](const PortRuntime& p) { return p.cfg.name == name; });
    if (it == ports_.end()) return false;
    gone = std::move(*it);
    ports_.erase(it);
  }
  destroy_port(gone);
  return true;
}

bool PortManager::retag_port(const config::PortConfig& cfg) {
  auto guard = lock();
  for (PortRuntime& p : ports_) {
    if (p.cfg.name != cfg.name) continue;
    p.cfg = cfg;
    return true;
  }
  return false;
}

bool PortManager::hide_port(const std::string& name) {
  auto guard = lock();
  for (PortRuntime& p : ports_) {
    if (p.cfg.name != name) continue;
    p.hidden = true;
    return true;
  }
  return false;
}

PortRuntime* PortManager::find_mutable(const std::string& name) {
  for (PortRuntime& p : ports_)
    if (p.cfg.name == name) return &p;
  return nullptr;
}

bool PortManager::mark_down(const std::string& name, const std::string& code,
                            const std::string& reason) {
  auto guard = lock();
  PortRuntime* p = find_mutable(name);
  if (!p) return false;
  p->down = true;
  p->down_code = code;
  p->down_reason = reason;
  ++p->down_events[code];
  return true;
}

void PortManager::close_down_port(const std::string& name, bool netdev_gone) {
  // Readers skip a port that is not started: once it is marked so (under the lock), the slow part
  // (DPDK's hot-unplug, which waits for every worker) runs without the lock, so a scrape or the
  // FDB service is not held up while a port closes. Only this thread changes the list.
  PortRuntime closing;
  bool owned = false;
  {
    auto guard = lock();
    PortRuntime* p = find_mutable(name);
    if (!p) return;
    closing = *p;
    owned = p->netns_created;
    p->started = false;
    p->created = false;
    p->vm = VmAttachment{};
    p->in_netns = false;
    p->netns_created = false;
    p->netns_ino = 0;
  }
  // The netdev went with its namespace: there is nothing to move back, and the namespace (gone,
  // or a new one of that name made by someone else) is not ours to delete any more. On a reset
  // the namespace stays for the port to be re-created in.
  if (netdev_gone) closing.in_netns = false;
  closing.netns_created = false;
  destroy_port(closing);
  auto guard = lock();
  if (PortRuntime* p = find_mutable(name)) {
    p->netns_created = owned && !netdev_gone;
    p->hidden = false;  // not started: left out of the table until it is re-created
  }
}

std::string PortManager::revive(const std::string& name) {
  PortRuntime copy;
  {
    auto guard = lock();
    const PortRuntime* p = find(name);
    if (!p) return "no port named " + name;
    if (!p->down) return {};
    copy = *p;
  }
  std::string err;
  if (!copy.cfg.netns.empty() && netns_inode(copy.cfg.netns) == 0)
    err = port_error(copy, "namespace " + copy.cfg.netns +
                               " does not exist (is its container stopped?); the port comes "
                               "back by itself when the namespace is created again (`ip netns "
                               "add " +
                               copy.cfg.netns + "`)");
  const bool owned = copy.netns_created;
  if (err.empty()) err = bring_up(copy);
  copy.netns_created = copy.netns_created || owned;
  auto guard = lock();
  PortRuntime* p = find_mutable(name);
  if (!p) {
    destroy_port(copy);
    return "port " + name + " was removed meanwhile";
  }
  if (!err.empty()) {
    copy.netns_created = false;  // the namespace stays (not ours to delete here)
    destroy_port(copy);          // leaves nothing half made
    p->down_code = "reset_failed";
    p->down_reason = err;
    ++p->down_events["reset_failed"];
    return err;
  }
  copy.down = false;
  copy.down_code.clear();
  copy.down_reason.clear();
  copy.hidden = false;
  ++copy.recreated;
  *p = std::move(copy);
  return {};
}

const PortRuntime* PortManager::find(const std::string& name) const {
  for (const PortRuntime& p : ports_)
    if (p.cfg.name == name) return &p;
  return nullptr;
}

std::string PortManager::create_port(PortRuntime& port) {
  if (is_rtap(port) && port.nb_queues > kRtapMaxQueues) {
    return port_error(port, "driver \"rtap\" supports at most " + std::to_string(kRtapMaxQueues) +
                                " queues (queues and workers+1 are " +
                                std::to_string(port.nb_queues) + ")");
  }
  if (!is_rtap(port) && port.nb_queues > kTapMaxQueuesMultiProcess) {
    return port_error(port, "driver \"tap\" supports at most " +
                                std::to_string(kTapMaxQueuesMultiProcess) +
                                " queues with workers (queues and workers+1 are " +
                                std::to_string(port.nb_queues) +
                                "); lower queues/workers or use driver = \"rtap\"");
  }
  if (rte_eth_dev_count_avail() >= RTE_MAX_ETHPORTS) {
    return port_error(port, "DPDK's port limit (RTE_MAX_ETHPORTS = " +
                                std::to_string(RTE_MAX_ETHPORTS) + ") is reached");
  }
  port.device_name = (is_rtap(port) ? "net_rtap_" : "net_tap_") + port.cfg.name;
  std::string devargs = port.device_name + ",iface=" + port.cfg.name;
  if (!port.cfg.mac.empty()) devargs += ",mac=" + port.cfg.mac;
  if (is_rtap(port)) {
    devargs += ",queues=" + std::to_string(port.nb_queues);
    if (port.cfg.persist) devargs += ",persist";
    // net_rtap makes the TAP inside the VM's namespace and controls it there by ifindex.
    if (!port.cfg.netns.empty()) {
      if (auto err = netns_ensure(port.cfg.netns, port.netns_created))
        return port_error(port, err.message);
      devargs += ",netns=" + port.cfg.netns;
    }
  }
  int rc = probe_with_workers(port.device_name, devargs);
  if (rc < 0) {
    return port_error(port, "cannot create the TAP (" + devargs + "): " + rte_strerror(-rc) +
                                (rc == -ENOMSG || rc == -EIO
                                     ? ". A worker did not answer DPDK's hotplug request (a "
                                       "worker crashing or starting over and over?): see "
                                       "`vswitchctl show workers`, then try again"
                                     : ". Is the interface name already taken? (`ip link show " +
                                           port.cfg.name + "`)"));
  }
  port.created = true;
  if (rte_eth_dev_get_port_by_name(port.device_name.c_str(), &port.port_id) != 0)
    return port_error(port, "DPDK created the device but has no port for it");
  if (port.port_id >= kFirstTunnelPortId)
    return port_error(port, "DPDK gave it port id " + std::to_string(port.port_id) +
                                ", which is reserved for VXLAN ports (at most " +
                                std::to_string(kFirstTunnelPortId) + " DPDK ports)");
  return {};
}

// A VXLAN port: the underlay checked and an id taken; the workers open their sockets when the
// port appears in their table.
std::string PortManager::start_tunnel(PortRuntime& port) {
  if (std::string err = check_underlay(port.cfg.vxlan, port.cfg.mtu); !err.empty())
    return port_error(port, err);
  const int id = acquire_tunnel_id();
  if (id < 0)
    return port_error(port, "at most " + std::to_string(kMaxTunnelPorts) +
                                " VXLAN ports per daemon; remove one first");
  port.port_id = static_cast<uint16_t>(id);  // held while the port is started
  port.device_name = "vxlan";
  if (port.cfg.vxlan.evpn) {
    std::string err = make_evpn_shadow(port.cfg.vxlan, port.shadow);
    if (err.empty() && evpn_sink_ != nullptr) {
      err = evpn_sink_->evpn_attach(evpn_tunnel(port));
      if (!err.empty()) remove_evpn_shadow(port.shadow);
    }
    if (!err.empty()) {
      release_tunnel_id(port.port_id);
      return port_error(port, err);
    }
  }
  port.started = true;
  return {};
}

EvpnTunnel evpn_tunnel(const PortRuntime& port) {
  EvpnTunnel t;
  t.name = port.cfg.name;
  t.port_id = port.port_id;
  t.switch_index = port.switch_index;
  t.vlan = static_cast<uint16_t>(port.cfg.vlan);
  t.vni = static_cast<uint32_t>(port.cfg.vxlan.vni);
  t.vxlan_ifindex = port.shadow.vxlan_ifindex;
  t.port_ifindex = port.shadow.port_ifindex;
  return t;
}

// rte_dev_probe in the primary attaches the device in every worker too (DPDK's hotplug sync) and
// rolls back when one of them does not answer: a worker killed or starting during the request.
// The rollback's own detach request can fail the same way and leave the device in our vdev list
// without a port, and every later probe of the name would then fail (seen in the soak, where
// workers die every second). So: clear our leftover and try again, a few times.
int PortManager::probe_with_workers(const std::string& device, const std::string& devargs) const {
  auto serialized = device_list_lock();
  if (fault_probe_hang_.count() > 0) {
    std::printf("vswitchd: fault injection: the probe of %s hangs %lld ms\n", device.c_str(),
                static_cast<long long>(fault_probe_hang_.count()));
    std::this_thread::sleep_for(fault_probe_hang_);
  }
  HotplugGate::Change change(HotplugGate::instance(), kAttachWait);
  if (!change.waited_enough()) log_attach_overlap(device);
  int rc = 0;
  for (int attempt = 0; attempt < kProbeAttempts; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));
    rte_vdev_uninit(device.c_str());  // -ENOENT unless a failed attempt left it: not an error
    rc = rte_dev_probe(devargs.c_str());
    uint16_t id;
    if (rc >= 0 && rte_eth_dev_get_port_by_name(device.c_str(), &id) == 0) return rc;
    if (rc >= 0) rc = -ENODEV;  // a stale device without its port: clear it and retry
    if (rc != -ENOMSG && rc != -EIO && rc != -ENODEV) return rc;
    std::fprintf(stderr, "vswitchd: creating %s: %s, attempt %d of %d\n", device.c_str(),
                 rte_strerror(-rc), attempt + 1, kProbeAttempts);
  }
  rte_vdev_uninit(device.c_str());
  return rc;
}

// The same hotplug sync on removal: the primary asks every worker to detach the device first. A
// worker killed while the request is out (its socket still there, no answer: a 5 s timeout) fails
// it, and DPDK rolls back by attaching the device again in the workers that had detached it.
// Closing the port in the primary only would leave those workers holding a device the primary no
// longer has, and a new port of that name would then fail to attach in them (seen: a worker
// exiting at the next port add). The dead worker's socket is gone by the next try, so: try again.
int PortManager::remove_with_workers(const std::string& device) {
  int rc = 0;
  for (int attempt = 0; attempt < kProbeAttempts; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));
    rc = rte_eal_hotplug_remove("vdev", device.c_str());
    if (rc == 0 || (rc != -ENOMSG && rc != -EIO)) return rc;  // -ENOMSG: a worker did not answer
    std::fprintf(stderr, "vswitchd: removing %s: %s, attempt %d of %d\n", device.c_str(),
                 rte_strerror(-rc), attempt + 1, kProbeAttempts);
  }
  return rc;
}

std::string PortManager::configure_and_start(PortRuntime& port) {
  rte_eth_conf conf;
  std::memset(&conf, 0, sizeof(conf));
  rte_eth_dev_info caps{};
  if (is_rtap(port) && rte_eth_dev_info_get(port.port_id, &caps) == 0) {
    // Offloads through the virtio-net header: GSO super-frames and partial checksums cross the
    // switch untouched, and the kernel behind the egress TAP finishes them (forwarder.cpp).
    conf.rxmode.offloads =
        caps.rx_offload_capa &
        (RTE_ETH_RX_OFFLOAD_TCP_LRO | RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
    conf.txmode.offloads =
        caps.tx_offload_capa & (RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
                                RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_MULTI_SEGS);
    // Rx interrupts: an idle worker sleeps in epoll on its queues instead of polling.
    conf.intr_conf.rxq = 1;
  }
  int rc = rte_eth_dev_configure(port.port_id, port.nb_queues, port.nb_queues, &conf);
  if (rc < 0) return port_error(port, std::string("configure failed: ") + rte_strerror(-rc));
  for (uint16_t q = 0; q < port.nb_queues; ++q) {
    // The rx queue draws from the pools of the worker that polls it: net_rtap reads a frame into
    // a head from the mbuf pool and, past 2 KB, into one large buffer behind it.
    rte_mempool* pool = mem_.pool(q % nb_workers_);
    rte_mempool* pools[2] = {pool, mem_.large_pool(q % nb_workers_)};
    rte_eth_rxconf rxconf{};
    if (is_rtap(port)) {
      rxconf.rx_mempools = pools;
      rxconf.rx_nmempool = 2;
    }
    rc = rte_eth_rx_queue_setup(port.port_id, q, is_rtap(port) ? kRtapRxRingSize : kRxRingSize,
                                rte_eth_dev_socket_id(port.port_id),
                                is_rtap(port) ? &rxconf : nullptr, is_rtap(port) ? nullptr : pool);
    if (rc < 0) {
      return port_error(port, "rx queue " + std::to_string(q) +
                                  " setup failed: " + rte_strerror(-rc) + " (mbuf pool of worker " +
                                  std::to_string(q % nb_workers_) + ": " +
                                  std::to_string(rte_mempool_avail_count(pool)) + " free)");
    }
    rc = rte_eth_tx_queue_setup(port.port_id, q, is_rtap(port) ? kRtapTxRingSize : kTxRingSize,
                                rte_eth_dev_socket_id(port.port_id), nullptr);
    if (rc < 0) {
      return port_error(port, "tx queue " + std::to_string(q) +
                                  " setup failed: " + rte_strerror(-rc) +
                                  " (net_tap allocates a pool per queue here: are hugepages "
                                  "exhausted? See HugePages_Free in /proc/meminfo)");
    }
  }
  rte_eth_dev_info info{};
  if (rte_eth_dev_info_get(port.port_id, &info) == 0) {
    // ethdev checks the frame (MTU + L2 overhead) against max_rx_pktlen as well as max_mtu.
    uint32_t overhead = (info.max_mtu != UINT16_MAX && info.max_rx_pktlen > info.max_mtu)
                            ? info.max_rx_pktlen - info.max_mtu
                            : RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
    uint32_t max_mtu = std::min<uint32_t>(info.max_mtu, info.max_rx_pktlen - overhead);
    if (static_cast<uint32_t>(port.cfg.mtu) > max_mtu || port.cfg.mtu < info.min_mtu) {
      return port_error(port, "mtu " + std::to_string(port.cfg.mtu) + " is outside what driver \"" +
                                  port.cfg.driver + "\" supports (" + std::to_string(info.min_mtu) +
                                  ".." + std::to_string(max_mtu) + "); change the port's mtu");
    }
  }
  rc = rte_eth_dev_set_mtu(port.port_id, static_cast<uint16_t>(port.cfg.mtu));
  if (rc < 0)
    return port_error(port,
                      "MTU " + std::to_string(port.cfg.mtu) + " refused: " + rte_strerror(-rc));
  rc = rte_eth_dev_start(port.port_id);
  if (rc < 0) return port_error(port, std::string("start failed: ") + rte_strerror(-rc));
  port.started = true;
  return {};
}

std::string PortManager::attach_netdev(PortRuntime& port) {
  if (is_rtap(port) && !port.cfg.netns.empty()) {
    if (auto err = netns_configure_link(port.cfg.name, port.cfg.netns, port.cfg.addresses))
      return port_error(port, err.message);
    return {};
  }
  if (port.cfg.netns.empty()) {
    if (!port.cfg.vm_macvtap.empty() || !port.cfg.vm_tap.empty()) {
      if (auto err = keep_host_stack_off(port.cfg.name)) return port_error(port, err.message);
    }
    if (auto err = link_configure_here(port.cfg.name, port.cfg.addresses))
      return port_error(port, err.message);
    return {};
  }
  if (auto err = netns_ensure(port.cfg.netns, port.netns_created))
    return port_error(port, err.message);
  if (auto err = netns_attach_link(port.cfg.name, port.cfg.netns, port.cfg.mtu, port.cfg.addresses))
    return port_error(port, err.message);
  port.in_netns = true;
  return {};
}

std::string PortManager::attach_vm_side(PortRuntime& port) {
  if (auto err = attach_vm(port.cfg, port.vm)) return port_error(port, err.message);
  return {};
}

void PortManager::destroy_port(PortRuntime& port) {
  // The VM side first: a macvtap or a redirect must not outlive the netdev it hangs on.
  if (port.vm) {
    if (auto err = detach_vm(port.cfg, port.vm))
      std::fprintf(stderr, "vswitchd: %s\n", port_error(port, err.message).c_str());
  }
  // net_tap controls its netdev by name in our namespace: bring it home before stopping it.
  if (port.in_netns) {
    if (auto err = netns_detach_link(port.cfg.name, port.cfg.netns))
      std::fprintf(stderr, "vswitchd: %s\n", port_error(port, err.message).c_str());
    port.in_netns = false;
  }
  if (port.started && port.cfg.is_vxlan()) {
    if (port.shadow.made()) {
      if (evpn_sink_ != nullptr) evpn_sink_->evpn_detach(port.port_id);
      remove_evpn_shadow(port.shadow);
    }
    release_tunnel_id(port.port_id);
  } else if (port.started)
    rte_eth_dev_stop(port.port_id);
  port.started = false;
  if (port.created) {
    // Removing the vdev closes the port (the TAP goes away with its last fd) and frees it.
    auto serialized = device_list_lock();
    HotplugGate::Change change(HotplugGate::instance(), kAttachWait);
    if (!change.waited_enough()) log_attach_overlap(port.device_name);
    if (remove_with_workers(port.device_name) != 0) rte_eth_dev_close(port.port_id);
  }
  port.created = false;
  if (port.netns_created) {
    if (auto err = netns_delete(port.cfg.netns))
      std::fprintf(stderr, "vswitchd: %s\n", port_error(port, err.message).c_str());
    port.netns_created = false;
  }
}

void PortManager::destroy_all() {
  // Out of the list under the lock, closed without it (as remove_port).
  std::vector<PortRuntime> closing;
  {
    auto guard = lock();
    closing.swap(ports_);
  }
  for (auto it = closing.rbegin(); it != closing.rend(); ++it) destroy_port(*it);
}

namespace {
bool is_active(const std::vector<bool>& active, int w) {
  return active.empty() || (static_cast<size_t>(w) < active.size() && active[w]);
}
}  // namespace

void PortManager::topology(const std::vector<bool>& active, TopologyTable& t) const {
  topology_header(t);
  std::size_t spill = 0;
  append_topology(active, spill, t);
}

void PortManager::build_topology(const std::vector<const PortManager*>& managers,
                                 const std::vector<bool>& active, TopologyTable& t) {
  if (managers.empty()) {
    std::memset(&t, 0, sizeof(t));
    return;
  }
  managers.front()->topology_header(t);
  std::size_t spill = 0;  // queues of inactive workers given out so far, across the switches
  for (const PortManager* m : managers) {
    auto guard = m->lock();  // its owner may change the list meanwhile
    m->append_topology(active, spill, t);
  }
}

void PortManager::topology_header(TopologyTable& t) const {
  std::memset(&t, 0, sizeof(t));
  t.nb_workers = static_cast<uint16_t>(nb_workers_);
  t.nb_switches = static_cast<uint16_t>(cfg_.switches.size());
  t.primary_tx_queue = primary_tx_queue();
  for (std::size_t sw = 0; sw < cfg_.switches.size() && sw < kMaxSwitches; ++sw)
    t.fdb_aging_s[sw] = static_cast<uint32_t>(cfg_.switches[sw].fdb_aging_s);
}

// The port's anti-spoofing and isolation, from its validated config (the validator keeps the
// lists within the table's sizes).
static void security_entry(const config::PortSecurityConfig& sec, PortEntry& e, PortPolicy& p) {
  std::memset(&p, 0, sizeof(p));
  for (const std::string& mac : sec.allowed_macs) policy_add_mac(p, mac);
  for (const std::string& ip : sec.allowed_ips) policy_add_prefix(p, ip);
  p.flags = static_cast<uint8_t>((sec.block_dhcp_server ? kPolicyBlockDhcpServer : 0) |
                                 (sec.block_ra ? kPolicyBlockRa : 0));
  if (policy_active(p)) e.flags |= kPortFiltered;
  if (sec.isolated) e.flags |= kPortIsolated;
}
namespace {
// Storm control limits into the port's table entry (PortEntry::storm_*).
void storm_entry(const config::StormControl& sc, PortEntry& e) {
  const int fps[kStormKinds] = {sc.broadcast, sc.multicast, sc.unknown_unicast};
  for (int k = 0; k < kStormKinds; ++k) {
    if (fps[k] < 0) continue;
    e.storm_set |= static_cast<uint8_t>(1u << k);
    e.storm_fps[k] = static_cast<uint32_t>(fps[k]);
  }
}
// A rate limit into bytes (PortEntry::Rate): libvirt's KB/s are 1000 bytes (tc's kbps), its
// burst KB 1024 bytes (tc's kb); no burst = 100 ms of the average rate.
void rate_entry(const config::Bandwidth& bw, PortEntry::Rate& r) {
  if (!bw.set()) return;
  r.average_Bps = static_cast<uint64_t>(bw.average) * 1000;
  r.peak_Bps = static_cast<uint64_t>(bw.peak) * 1000;
  r.burst_bytes = bw.burst ? static_cast<uint64_t>(bw.burst) * 1024 : r.average_Bps / 10;
}
}  // namespace

void PortManager::append_topology(const std::vector<bool>& active, std::size_t& spill,
                                  TopologyTable& t) const {
  std::vector<uint8_t> pollers;
  for (int w = 0; w < nb_workers_; ++w)
    if (is_active(active, w)) pollers.push_back(static_cast<uint8_t>(w));
  for (const PortRuntime& port : ports_) {
    if (!port.started || port.hidden || t.nb_ports >= kMaxPorts) continue;
    security_entry(port.cfg.security, t.ports[t.nb_ports], t.policies[t.nb_ports]);
    if (port.cfg.is_vxlan()) {
      t.ports[t.nb_ports].flags |= kPortTunnel;
      if (port.cfg.vxlan.evpn) t.ports[t.nb_ports].flags |= kPortNoLearn;
      tunnel_entry(port.cfg.vxlan, t.tunnels[t.nb_ports]);
    }
    PortEntry& e = t.ports[t.nb_ports++];
    e.dpdk_port_id = port.port_id;
    e.switch_index = port.switch_index;
    e.nb_rx_queues = port.nb_queues;
    e.nb_tx_queues = port.nb_queues;
    e.mtu = static_cast<uint16_t>(port.cfg.mtu);
    std::snprintf(e.name, sizeof(e.name), "%s", port.cfg.name.c_str());
    std::memset(e.rxq_owner, kNoWorker, sizeof(e.rxq_owner));
    if (port.cfg.vlan_mode == "trunk") {
      e.vlan_mode = VlanMode::kTrunk;
      e.native_vlan = static_cast<uint16_t>(port.cfg.native_vlan);
      for (int v : port.cfg.allowed_vlans) vlan_allow(e, static_cast<uint16_t>(v));
      if (e.native_vlan) vlan_allow(e, e.native_vlan);  // the native VLAN is carried too
    } else {
      e.vlan_mode = VlanMode::kAccess;
      e.access_vlan = static_cast<uint16_t>(port.cfg.vlan);
    }
    storm_entry(port.cfg.storm, e);
    rate_entry(port.cfg.inbound, e.rate[kInbound]);
    rate_entry(port.cfg.outbound, e.rate[kOutbound]);
    // A queue stays with its home worker (q mod workers) while that worker polls; only the
    // queues of inactive workers move, spread over the active ones. Moving a live worker's queue
    // to another live worker costs a hand-over gap in which the kernel's queue can overflow: the
    // 3- and 4-worker kill benchmark lost the survivors' frames that way.
    for (uint16_t q = 0; q < port.nb_queues && q < kMaxQueuesPerPort; ++q) {
      const int home = q % nb_workers_;
      // A tunnel's queue is its worker's socket: while that worker is gone, the kernel spreads
      // the datagrams over the other workers' sockets (SO_REUSEPORT), so nothing moves.
      if (port.cfg.is_vxlan())
        e.rxq_owner[q] = is_active(active, home) ? static_cast<uint8_t>(home) : kNoWorker;
      else if (pollers.empty())
        e.rxq_owner[q] = kNoWorker;
      else if (is_active(active, home))
        e.rxq_owner[q] = static_cast<uint8_t>(home);
      else
        e.rxq_owner[q] = pollers[spill++ % pollers.size()];
    }
  }
}

int PortDirectory::port_id(const std::string& name) const {
  int id = -1;
  for_each([&](const PortRuntime& p) {
    if (p.cfg.name == name) id = p.port_id;
  });
  return id;
}

std::string PortDirectory::name_of(uint16_t port_id) const {
  std::string name;
  for_each([&](const PortRuntime& p) {
    if (p.port_id == port_id && (p.created || name.empty())) name = p.cfg.name;
  });
  return name;
}

bool PortDirectory::all_rtap() const {
  bool all = true;
  for_each([&](const PortRuntime& p) { all = all && p.cfg.driver == "rtap"; });
  return all;
}

std::size_t PortDirectory::size() const {
  std::size_t n = 0;
  for_each([&](const PortRuntime&) { ++n; });
  return n;
}

}  // namespace vs
