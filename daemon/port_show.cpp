#include "daemon/port_show.hpp"

#include <rte_ethdev.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <tuple>

#include "daemon/datapath_memory.hpp"
#include "daemon/fdb_service.hpp"
#include "daemon/mirror_table.hpp"
#include "switch/l2.hpp"
#include "switch/tunnel.hpp"

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

// The running mirrors by switch and name, with their copies since each was made.
json show_mirrors(const PortViewRefs& r) {
  json out = json::array();
  if (r.mirrors == nullptr) return out;
  auto views = r.mirrors->view();
  std::sort(views.begin(), views.end(), [](const auto& a, const auto& b) {
    return std::tie(a.switch_name, a.cfg.name) < std::tie(b.switch_name, b.cfg.name);
  });
  for (const MirrorTable::View& v : views)
    out.push_back({{"name", v.cfg.name},
                   {"switch", v.switch_name},
                   {"source_ports", v.cfg.source_ports},
                   {"source_vlans", v.cfg.source_vlans},
                   {"direction", v.cfg.direction},
                   {"output", v.cfg.output},
                   {"packets", v.packets},
                   {"bytes", v.bytes},
                   {"drops", v.drops}});
  return out;
}

json show_switches(const PortViewRefs& r) {
  std::vector<FdbService::Entry> fdb = r.fdb.entries();
  const json mirrors = show_mirrors(r);
  json out = json::array();
  for (std::size_t i = 0; i < r.startup.switches.size(); ++i) {
    const config::SwitchConfig& sw = r.startup.switches[i];
    json ports = json::array();
    bool stale = false;
    for (const SwitchSnapshot& snap : r.switches) {
      for (const PortSnapshot& p : snap.ports)
        if (p.switch_index == i) ports.push_back(p.name);
      stale = stale || (snap.switch_name == sw.name && snap.stale);
    }
    std::size_t entries = 0;
    for (const auto& e : fdb) entries += e.switch_index == i;
    json names = json::array();
    for (const json& m : mirrors)
      if (m["switch"] == sw.name) names.push_back(m["name"]);
    out.push_back({{"name", sw.name},
                   {"ports", ports},
                   {"fdb_entries", entries},
                   {"fdb_max_entries", sw.fdb_max_entries},
                   {"fdb_aging_s", sw.fdb_aging_s},
                   {"mac_limit_per_port", sw.mac_limit_per_port},
                   {"mirrors", names},
                   {"stale", stale}});
  }
  return out;
}

double age_ms(const SwitchSnapshot& snap) {
  if (snap.taken.time_since_epoch().count() == 0) return -1;
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - snap.taken)
      .count();
}

// The port's anti-spoofing and isolation settings, as configured.
json security_json(const config::PortSecurityConfig& sec) {
  return {{"allowed_macs", sec.allowed_macs},
          {"allowed_ips", sec.allowed_ips},
          {"block_dhcp_server", sec.block_dhcp_server},
          {"block_ra", sec.block_ra},
          {"isolated", sec.isolated}};
}

// inbound / outbound: as configured (KB/s, KB; 0 = not set), null without a limit.
json bandwidth_json(const config::Bandwidth& bw) {
  if (!bw.set()) return nullptr;
  return {{"average", bw.average}, {"peak", bw.peak}, {"burst", bw.burst}};
}

// storm_control: the limited kinds (frames/s), null when the port has none.
json storm_json(const config::StormControl& sc) {
  if (!sc.any()) return nullptr;
  json out = json::object();
  if (sc.broadcast >= 0) out["broadcast"] = sc.broadcast;
  if (sc.multicast >= 0) out["multicast"] = sc.multicast;
  if (sc.unknown_unicast >= 0) out["unknown_unicast"] = sc.unknown_unicast;
  return out;
}

json show_port(const PortViewRefs& r, const SwitchSnapshot& snap, const PortSnapshot& p) {
  uint64_t rx = 0, tx = 0, rx_b = 0, tx_b = 0, drops = 0;
  uint64_t by_reason[kDropReasonCount] = {};
  // A port that is not started (down, or never up) has no DPDK port: its last port id may be
  // another port's by now, or 0 from the start.
  for (int w = 0; p.started && w < r.mem.nb_workers(); ++w) {
    const PortCounters& c = r.mem.counters(w).ports[p.port_id];
    rx += c.rx_packets.get();
    tx += c.tx_packets.get();
    rx_b += c.rx_bytes.get();
    tx_b += c.tx_bytes.get();
    for (int d = 0; d < kDropReasonCount; ++d) by_reason[d] += c.drops[d].get();
  }
  json reasons = json::object();  // the reasons that dropped anything, by label value
  for (int d = 0; d < kDropReasonCount; ++d) {
    drops += by_reason[d];
    if (by_reason[d])
      reasons[std::string(drop_reason_name(static_cast<DropReason>(d)))] = by_reason[d];
  }
  const rte_eth_stats& st = p.stats;
  json port = {
      {"name", p.name},
      {"switch", p.switch_name},
      {"driver", p.driver},
      {"dpdk_port", p.port_id},
      {"queues", p.nb_queues},
      {"mtu", p.mtu},
      {"mac", mac_text(p.mac)},
      {"netns", p.netns},
      {"persist", p.persist},
      {"link_up", p.link_up.value_or(false)},
      {"state", p.down ? "down" : "up"},
      {"reason", p.down_reason},
      {"recreated", p.recreated},
      {"vlan_mode", p.vlan_mode},
      {"rx_packets", rx},
      {"tx_packets", tx},
      {"rx_bytes", rx_b},
      {"tx_bytes", tx_b},
      {"switch_drops", drops},
      {"switch_drops_by_reason", reasons},
      {"security", security_json(p.security)},
      {"driver_drops", p.stats_ok ? st.imissed + st.ierrors + st.oerrors + st.rx_nombuf : 0},
      // The port's state and driver figures are from its switch actor's snapshot: `stale` if that
      // actor was busy (a port change) and did not answer in time, then `snapshot_age_ms` old.
      {"stale", snap.stale},
      {"snapshot_age_ms", age_ms(snap)}};
  port["vm"] = p.vm_mode.empty()
                   ? json(nullptr)
                   : json{{"mode", p.vm_mode}, {"netdev", p.vm_netdev}, {"device", p.vm_device}};
  port["uplink"] = p.uplink_bridge.empty() ? json(nullptr) : json{{"bridge", p.uplink_bridge}};
  port["vxlan"] = p.vxlan.vni == 0
                      ? json(nullptr)
                      : json{{"vni", p.vxlan.vni},           {"local", p.vxlan.local},
                             {"underlay", p.vxlan.underlay}, {"udp_port", p.vxlan.udp_port},
                             {"remotes", p.vxlan.remotes},   {"evpn", p.vxlan.evpn}};
  port["storm_control"] = storm_json(p.storm);
  port["inbound"] = bandwidth_json(p.inbound);
  port["outbound"] = bandwidth_json(p.outbound);
  if (p.vlan_mode == "trunk") {
    port["allowed_vlans"] = p.allowed_vlans;
    port["native_vlan"] = p.native_vlan;
  } else {
    port["vlan"] = p.vlan;
  }
  return port;
}

json show_ports(const PortViewRefs& r) {
  json out = json::array();
  for (const SwitchSnapshot& snap : r.switches)
    for (const PortSnapshot& p : snap.ports) out.push_back(show_port(r, snap, p));
  return out;
}

json show_queues(const PortViewRefs& r) {
  auto table = std::make_unique<TopologyTable>();
  json out = json::array();
  if (topology_snapshot(r.mem.topology(), *table) == 0) return out;
  std::map<uint16_t, const PortSnapshot*> by_id;
  for (const SwitchSnapshot& snap : r.switches)
    for (const PortSnapshot& p : snap.ports)
      if (p.started) by_id[p.port_id] = &p;
  for (uint16_t i = 0; i < table->nb_ports; ++i) {
    const PortEntry& e = table->ports[i];
    const auto it = by_id.find(e.dpdk_port_id);
    const PortSnapshot* p = it == by_id.end() ? nullptr : it->second;
    const bool have_stats = p && p->stats_ok && p->name == e.name;
    for (uint16_t q = 0; q < e.nb_rx_queues && q < kMaxQueuesPerPort; ++q) {
      json worker = e.rxq_owner[q] == kNoWorker ? json(nullptr) : json(e.rxq_owner[q]);
      const bool counted = have_stats && q < RTE_ETHDEV_QUEUE_STAT_CNTRS;
      out.push_back({{"port", e.name},
                     {"queue", q},
                     {"worker", worker},
                     {"rx_packets", counted ? p->stats.q_ipackets[q] : 0},
                     {"tx_packets", counted ? p->stats.q_opackets[q] : 0}});
    }
  }
  return out;
}

json show_fdb(const PortViewRefs& r, const json& filters) {
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
  std::map<uint16_t, const std::vector<std::string>*> remotes;  // tunnel ports' VTEPs
  for (const SwitchSnapshot& snap : r.switches) {
    for (const PortSnapshot& p : snap.ports) {
      names[p.port_id] = p.name;
      if (p.vxlan.vni != 0) remotes[p.port_id] = &p.vxlan.remotes;
    }
  }
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
                   {"type", e.is_static   ? "static"
                            : e.is_remote ? "evpn"
                                          : "learned"},
                   {"age_s", e.is_static || e.is_remote ? 0 : e.age_s}});
    // Behind a tunnel port: the remote VTEP, as EVPN or the port's remotes list it.
    if (e.vtep_addr != 0)
      out.back()["vtep"] = ipv4_text(e.vtep_addr);
    else if (e.vtep != 0 && remotes.count(e.port_id) && e.vtep <= remotes[e.port_id]->size())
      out.back()["vtep"] = (*remotes[e.port_id])[e.vtep - 1];
  }
  return out;
}

}  // namespace

std::string show_json(const PortViewRefs& r, const std::string& what, const std::string& filters) {
  try {
    json f = json::parse(filters.empty() ? "{}" : filters);
    json data;
    if (what == "switches")
      data = show_switches(r);
    else if (what == "ports")
      data = show_ports(r);
    else if (what == "queues")
      data = show_queues(r);
    else if (what == "fdb")
      data = show_fdb(r, f);
    else if (what == "mirrors")
      data = show_mirrors(r);
    else
      return json{{"ok", false}, {"error", "cannot show " + what}}.dump();
    return json{{"ok", true}, {what, data}}.dump();
  } catch (const std::exception& e) {
    return json{{"ok", false}, {"error", e.what()}}.dump();
  }
}

}  // namespace vs
