#include "actors/datapath_actor.hpp"

#include <rte_ethdev.h>

#include <net/if.h>

#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "actors/datapath_memory.hpp"
#include "actors/fdb_service.hpp"
#include "actors/netns.hpp"
#include "actors/port_manager.hpp"
#include "switch/l2.hpp"

namespace vs {
namespace {

using nlohmann::json;

std::string mac_text(uint64_t mac) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x",
                static_cast<unsigned>(mac >> 40) & 0xff, static_cast<unsigned>(mac >> 32) & 0xff,
                static_cast<unsigned>(mac >> 24) & 0xff, static_cast<unsigned>(mac >> 16) & 0xff,
                static_cast<unsigned>(mac >> 8) & 0xff, static_cast<unsigned>(mac) & 0xff);
  return buf;
}

std::vector<bool> active_vector(uint64_t mask, int workers) {
  std::vector<bool> v;
  for (int w = 0; w < workers; ++w) v.push_back((mask >> w) & 1);
  return v;
}

json show_switches(const DatapathRefs& r) {
  std::vector<FdbService::Entry> fdb = r.fdb.entries();
  json out = json::array();
  for (std::size_t i = 0; i < r.startup.switches.size(); ++i) {
    const config::SwitchConfig& sw = r.startup.switches[i];
    json ports = json::array();
    for (const PortRuntime& p : r.ports.ports())
      if (p.switch_index == i) ports.push_back(p.cfg.name);
    std::size_t entries = 0;
    for (const auto& e : fdb) entries += e.switch_index == i;
    out.push_back({{"name", sw.name},
                   {"ports", ports},
                   {"fdb_entries", entries},
                   {"fdb_max_entries", sw.fdb_max_entries},
                   {"fdb_aging_s", sw.fdb_aging_s},
                   {"mac_limit_per_port", sw.mac_limit_per_port}});
  }
  return out;
}

json show_ports(const DatapathRefs& r) {
  json out = json::array();
  for (const PortRuntime& p : r.ports.ports()) {
    uint64_t rx = 0, tx = 0, rx_b = 0, tx_b = 0, drops = 0;
    for (int w = 0; w < r.mem.nb_workers(); ++w) {
      const PortCounters& c = r.mem.counters(w).ports[p.port_id];
      rx += c.rx_packets.get();
      tx += c.tx_packets.get();
      rx_b += c.rx_bytes.get();
      tx_b += c.tx_bytes.get();
      for (int d = 0; d < kDropReasonCount; ++d) drops += c.drops[d].get();
    }
    rte_eth_stats st{};
    rte_eth_link link{};
    rte_ether_addr mac{};
    const bool have_stats = p.started && rte_eth_stats_get(p.port_id, &st) == 0;
    if (p.started) {
      rte_eth_link_get_nowait(p.port_id, &link);
      rte_eth_macaddr_get(p.port_id, &mac);
    }
    json port = {
        {"name", p.cfg.name},
        {"switch", p.switch_name},
        {"driver", p.cfg.driver},
        {"dpdk_port", p.port_id},
        {"queues", p.nb_queues},
        {"mtu", p.cfg.mtu},
        {"mac", mac_text(mac_from_bytes(mac.addr_bytes))},
        {"netns", p.cfg.netns},
        {"link_up", link.link_status == RTE_ETH_LINK_UP},
        {"state", p.down ? "down" : "up"},
        {"reason", p.down_reason},
        {"recreated", p.recreated},
        {"vlan_mode", p.cfg.vlan_mode},
        {"rx_packets", rx},
        {"tx_packets", tx},
        {"rx_bytes", rx_b},
        {"tx_bytes", tx_b},
        {"switch_drops", drops},
        {"driver_drops", have_stats ? st.imissed + st.ierrors + st.oerrors + st.rx_nombuf : 0}};
    port["vm"] = p.vm ? json{{"mode", p.vm.mode}, {"netdev", p.vm.netdev}, {"device", p.vm.device}}
                      : json(nullptr);
    if (p.cfg.vlan_mode == "trunk") {
      port["allowed_vlans"] = p.cfg.allowed_vlans;
      port["native_vlan"] = p.cfg.native_vlan;
    } else {
      port["vlan"] = p.cfg.vlan;
    }
    out.push_back(std::move(port));
  }
  return out;
}

json show_queues(const DatapathRefs& r) {
  auto table = std::make_unique<TopologyTable>();
  json out = json::array();
  if (topology_snapshot(r.mem.topology(), *table) == 0) return out;
  for (uint16_t i = 0; i < table->nb_ports; ++i) {
    const PortEntry& e = table->ports[i];
    rte_eth_stats st{};
    const bool have_stats = rte_eth_stats_get(e.dpdk_port_id, &st) == 0;
    for (uint16_t q = 0; q < e.nb_rx_queues && q < kMaxQueuesPerPort; ++q) {
      json worker = e.rxq_owner[q] == kNoWorker ? json(nullptr) : json(e.rxq_owner[q]);
      const bool counted = have_stats && q < RTE_ETHDEV_QUEUE_STAT_CNTRS;
      out.push_back({{"port", e.name},
                     {"queue", q},
                     {"worker", worker},
                     {"rx_packets", counted ? st.q_ipackets[q] : 0},
                     {"tx_packets", counted ? st.q_opackets[q] : 0}});
    }
  }
  return out;
}

json show_fdb(const DatapathRefs& r, const json& filters) {
  int sw_filter = -1;
  if (filters.contains("switch")) {
    const std::string want = filters["switch"].get<std::string>();
    for (std::size_t i = 0; i < r.startup.switches.size(); ++i)
      if (r.startup.switches[i].name == want) sw_filter = static_cast<int>(i);
    if (sw_filter < 0) throw std::runtime_error("no switch named " + want);
  }
  const int vlan = filters.contains("vlan") ? filters["vlan"].get<int>() : -1;
  const std::string mac = filters.contains("mac") ? filters["mac"].get<std::string>() : "";
  std::map<uint16_t, std::string> names;
  for (const PortRuntime& p : r.ports.ports()) names[p.port_id] = p.cfg.name;
  json out = json::array();
  for (const FdbService::Entry& e : r.fdb.entries()) {
    if (sw_filter >= 0 && e.switch_index != sw_filter) continue;
    if (vlan >= 0 && e.vlan != vlan) continue;
    const std::string m = mac_text(e.mac);
    if (!mac.empty() && m != mac) continue;
    out.push_back({{"switch", e.switch_index < r.startup.switches.size()
                                  ? r.startup.switches[e.switch_index].name
                                  : "?"},
                   {"vlan", e.vlan},
                   {"mac", m},
                   {"port", names.count(e.port_id) ? names[e.port_id] : "?"},
                   {"type", e.is_static ? "static" : "learned"},
                   {"age_s", e.is_static ? 0 : e.age_s}});
  }
  return out;
}

// Reload: new ports first (a failure there undoes them and changes nothing else), then VLAN
// changes, then the ports to remove or re-create leave the published table; once every worker
// has moved past them their FDB entries are flushed and they are closed.
std::string apply_diff(DatapathState& st, const config::ConfigDiff& d) {
  DatapathRefs& r = *st.refs;
  std::vector<std::string> added;
  for (const config::PortChange& c : d.added) {
    if (std::string err = r.ports.add_port(c.switch_name, c.port); !err.empty()) {
      for (const std::string& name : added) r.ports.remove_port(name);
      return err;
    }
    added.push_back(c.port.name);
  }
  for (const config::PortChange& c : d.retagged) r.ports.retag_port(c.port);
  std::vector<std::string> going = d.removed;
  for (const config::PortChange& c : d.replaced) going.push_back(c.port.name);
  for (const std::string& name : going) r.ports.hide_port(name);
  const uint64_t gen = publish_topology(r, st.active_workers);
  if (going.empty()) return {};

  for (int w : await_workers(r.mem, gen, std::chrono::milliseconds(2000)))
    std::fprintf(stderr, "vswitchd: worker %d did not confirm the new port table in 2 s\n", w);
  for (const std::string& name : going) {
    if (const PortRuntime* p = r.ports.find(name)) r.fdb.flush_learned(-1, p->port_id, -1);
    r.ports.remove_port(name);
  }
  std::string errors;
  for (const config::PortChange& c : d.replaced) {
    std::string err = r.ports.add_port(c.switch_name, c.port);
    if (err.empty()) continue;
    std::string restore = r.ports.add_port(c.previous_switch, c.previous);
    errors += (errors.empty() ? "" : "; ") + err +
              (restore.empty() ? " (the port was restored as it was)"
                               : " (and restoring it failed: " + restore + ")");
  }
  publish_topology(r, st.active_workers);
  return errors;
}

// A port whose netdev or namespace went away leaves the forwarding: marked down at once (show,
// metrics), left out of the table, its learned MACs flushed (frames for them are then unknown
// unicast, flooded to the other ports or counted as no_destination drops), its device closed in
// vswitchd and every worker, so that nothing of the switch's holds its namespace any more.
void take_down(DatapathState& st, const std::string& name, const std::string& code,
               const std::string& reason, bool netdev_gone) {
  DatapathRefs& r = *st.refs;
  if (!r.ports.mark_down(name, code, reason)) return;
  std::fprintf(stderr, "vswitchd: port %s down: %s\n", name.c_str(), reason.c_str());
  using steady = std::chrono::steady_clock;
  const auto t0 = steady::now();
  r.ports.hide_port(name);
  const uint64_t gen = publish_topology(r, st.active_workers);
  for (int w : await_workers(r.mem, gen, std::chrono::milliseconds(2000)))
    std::fprintf(stderr, "vswitchd: worker %d did not confirm the new port table in 2 s\n", w);
  const auto t1 = steady::now();
  if (const PortRuntime* p = r.ports.find(name)) r.fdb.flush_learned(-1, p->port_id, -1);
  r.ports.close_down_port(name, netdev_gone);
  publish_topology(r, st.active_workers);
  const auto ms = [](steady::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  std::printf(
      "vswitchd: port %s closed: out of the workers' table in %.1f ms, device closed in %.1f "
      "ms\n",
      name.c_str(), ms(t1 - t0), ms(steady::now() - t1));
  std::fflush(stdout);
}

// Re-creates a down port; "" or why it stays down.
std::string bring_back(DatapathState& st, const std::string& name, const std::string& why) {
  DatapathRefs& r = *st.refs;
  std::string err = r.ports.revive(name);
  if (err.empty()) {
    publish_topology(r, st.active_workers);
    std::printf("vswitchd: port %s up again: re-created (%s)\n", name.c_str(), why.c_str());
    std::fflush(stdout);
  } else {
    std::fprintf(stderr, "vswitchd: port %s stays down: %s\n", name.c_str(), err.c_str());
  }
  return err;
}

std::vector<std::string> port_names(const DatapathRefs& r,
                                    const std::function<bool(const PortRuntime&)>& pick) {
  std::vector<std::string> out;
  for (const PortRuntime& p : r.ports.ports())
    if (pick(p)) out.push_back(p.cfg.name);
  return out;
}

// Every down port whose namespace (if it has one) exists again: after a reload or another change.
json revive_all(DatapathState& st, const std::string& why) {
  json back = json::array(), down = json::array();
  for (const std::string& name :
       port_names(*st.refs, [](const PortRuntime& p) { return p.down; })) {
    if (bring_back(st, name, why).empty()) {
      back.push_back(name);
    } else if (const PortRuntime* p = st.refs->ports.find(name)) {
      down.push_back({{"name", name}, {"reason", p->down_reason}});
    }
  }
  return json{{"ok", true}, {"recreated", back}, {"down", down}};
}

// Namespace `netns` appeared or went away: ports in it whose namespace is not the one they were
// made in go down; down ports come back once a namespace of that name is mounted.
bool on_netns(DatapathState& st, const std::string& netns, bool present) {
  DatapathRefs& r = *st.refs;
  bool waiting = false;
  for (const std::string& name : port_names(
           r, [&netns](const PortRuntime& p) { return !netns.empty() && p.cfg.netns == netns; })) {
    const uint64_t ino = netns_inode(netns);
    const PortRuntime* p = r.ports.find(name);
    if (p && !p->down && p->netns_ino != 0 && p->netns_ino != ino)
      take_down(st, name, "netns_deleted",
                "namespace " + netns + " was deleted" +
                    (ino ? " (a new one of that name exists already)" : ""),
                true);
    p = r.ports.find(name);
    if (p && p->down && ino != 0)
      bring_back(st, name, "namespace " + netns + " is back");
    else if (p && p->down && present && ino == 0)
      waiting = true;  // the file is there, the namespace not mounted on it yet
  }
  return waiting;
}

// A netdev left vswitchd's namespace: ports whose netdev should be here and is gone go down.
void on_link_gone(DatapathState& st, const std::string& ifname) {
  for (const std::string& name : port_names(*st.refs, [&ifname](const PortRuntime& p) {
         return p.started && !p.down && p.cfg.netns.empty() &&
                (ifname.empty() || p.cfg.name == ifname);
       })) {
    if (if_nametoindex(name.c_str()) != 0) continue;  // deleted and made again (our own reset)
    take_down(st, name, "netdev_deleted", "netdev " + name + " was deleted", true);
  }
}

std::string reset_port(DatapathState& st, const std::string& name) {
  DatapathRefs& r = *st.refs;
  if (name.empty()) return revive_all(st, "reload").dump();
  const auto t0 = std::chrono::steady_clock::now();
  const PortRuntime* p = r.ports.find(name);
  if (!p) return json{{"ok", false}, {"error", "no port named " + name}}.dump();
  const bool was_down = p->down;
  if (!was_down) take_down(st, name, "reset", "reset by vswitchctl", false);
  if (std::string err = bring_back(st, name, "port reset"); !err.empty())
    return json{{"ok", false}, {"error", "port reset " + name + ": the port stays down: " + err}}
        .dump();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return json{{"ok", true}, {"port", name}, {"was", was_down ? "down" : "up"}, {"ms", ms}}.dump();
}

}  // namespace

uint64_t publish_topology(DatapathRefs& refs, uint64_t active_workers) {
  TopologyTable table = refs.ports.topology(active_vector(active_workers, refs.mem.nb_workers()));
  topology_publish(refs.mem.topology(), table);
  return refs.mem.topology().generation.load(std::memory_order_acquire);
}

std::vector<int> await_workers(DatapathMemory& mem, uint64_t generation,
                               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<int> late;
  for (;;) {
    late.clear();
    for (int w = 0; w < mem.nb_workers(); ++w) {
      const WorkerCounterBlock& c = mem.counters(w);
      const bool running =
          c.state.load(std::memory_order_acquire) == static_cast<uint32_t>(WorkerState::kRunning);
      if (running && c.topology_generation.load(std::memory_order_acquire) < generation)
        late.push_back(w);
    }
    if (late.empty() || std::chrono::steady_clock::now() >= deadline) return late;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

datapath_actor::behavior_type datapath_behavior(
    datapath_actor::stateful_pointer<DatapathState> self, DatapathRefs* refs) {
  self->state.refs = refs;
  return {
      [self](apply_atom, DiffPtr diff) -> std::string {
        std::string err = apply_diff(self->state, *diff);
        // A change of the configuration also re-creates the ports that are down, where it can.
        revive_all(self->state, "configuration applied");
        return err;
      },
      [self](show_atom, const std::string& what, const std::string& filters) -> std::string {
        const DatapathRefs& r = *self->state.refs;
        try {
          json f = json::parse(filters.empty() ? "{}" : filters);
          json data;
          if (what == "switches") {
            data = show_switches(r);
          } else if (what == "ports") {
            data = show_ports(r);
          } else if (what == "queues") {
            data = show_queues(r);
          } else if (what == "fdb") {
            data = show_fdb(r, f);
          } else {
            return json{{"ok", false}, {"error", "cannot show " + what}}.dump();
          }
          return json{{"ok", true}, {what, data}}.dump();
        } catch (const std::exception& e) {
          return json{{"ok", false}, {"error", e.what()}}.dump();
        }
      },
      [self](workers_atom, uint64_t active) {
        self->state.active_workers = active;
        publish_topology(*self->state.refs, active);
      },
      [self](netns_atom, const std::string& netns, bool present, int32_t attempt) {
        // `ip netns add` creates the file, then mounts the namespace on it: look again shortly.
        if (on_netns(self->state, netns, present) && attempt < 100)
          self->delayed_send(self, std::chrono::milliseconds(20), netns_atom::value, netns, present,
                             attempt + 1);
      },
      [self](link_gone_atom, const std::string& ifname) { on_link_gone(self->state, ifname); },
      [self](reset_atom, const std::string& name) -> std::string {
        return reset_port(self->state, name);
      },
      [self](stop_atom) {
        self->state.refs->ports.destroy_all();
        return true;
      },
  };
}

}  // namespace vs
