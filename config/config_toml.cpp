#include "config/config_toml.hpp"

#include <cstdio>
#include <sstream>

namespace vs::config {
namespace {

std::string ints(const std::vector<int>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string strings(const std::vector<std::string>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + toml_string(v[i]);
  return s + "]";
}

void write_daemon(std::ostream& o, const DaemonConfig& d) {
  o << "[daemon]\n"
    << "file_prefix = " << toml_string(d.file_prefix) << "\n"
    << "workers = " << d.workers << "\n";
  if (!d.worker_cores.empty()) o << "worker_cores = " << ints(d.worker_cores) << "\n";
  o << "main_core = " << d.main_core << "\n"
    << "metrics_listen = " << toml_string(d.metrics_listen) << "\n"
    << "runtime_dir = " << toml_string(d.runtime_dir) << "\n"
    << "mbufs_per_worker = " << d.mbufs_per_worker << "\n"
    << "restart_backoff_ms = " << d.restart_backoff_ms << "\n";
  if (!d.control_socket.empty()) o << "control_socket = " << toml_string(d.control_socket) << "\n";
  o << "actor_threads = " << d.actor_threads << "\n"
    << "crash_loop_limit = " << d.crash_loop_limit << "\n"
    << "worker_stall_ms = " << d.worker_stall_ms << "\n"
    << "control_max_clients = " << d.control_max_clients << "\n"
    << "control_request_timeout_ms = " << d.control_request_timeout_ms << "\n"
    << "metrics_max_connections = " << d.metrics_max_connections << "\n"
    << "metrics_request_timeout_ms = " << d.metrics_request_timeout_ms << "\n"
    << "metrics_threads = " << d.metrics_threads << "\n";
  if (!d.metrics_basic_auth_users.empty()) {
    o << "metrics_basic_auth_users = {";
    const char* sep = " ";
    for (const auto& [user, hash] : d.metrics_basic_auth_users) {
      o << sep << toml_string(user) << " = " << toml_string(hash);
      sep = ", ";
    }
    o << " }\n";
  }
}

}  // namespace

std::string port_table_toml(const PortConfig& p) {
  std::ostringstream o;
  o << "\n[[switch.port]]\n"
    << "name = " << toml_string(p.name) << "\n";
  if (p.is_vxlan()) {  // no netdev: driver and queues are refused with vxlan
    const VxlanConfig& vx = p.vxlan;
    o << "vxlan = { vni = " << vx.vni << ", local = " << toml_string(vx.local)
      << ", underlay = " << toml_string(vx.underlay) << ", udp_port = " << vx.udp_port
      << (vx.evpn ? ", evpn = true" : ", remotes = " + strings(vx.remotes)) << " }\n";
  } else {
    o << "driver = " << toml_string(p.driver) << "\n"
      << "queues = " << p.queues << "\n";
  }
  o << "mtu = " << p.mtu << "\n";
  if (!p.mac.empty()) o << "mac = " << toml_string(p.mac) << "\n";
  if (!p.netns.empty()) o << "netns = " << toml_string(p.netns) << "\n";
  if (!p.addresses.empty()) o << "addresses = " << strings(p.addresses) << "\n";
  if (p.persist) o << "persist = true\n";
  if (!p.vm_macvtap.empty()) o << "vm.macvtap = " << toml_string(p.vm_macvtap) << "\n";
  if (!p.vm_tap.empty()) o << "vm.tap = " << toml_string(p.vm_tap) << "\n";
  if (!p.uplink_bridge.empty()) o << "uplink.bridge = " << toml_string(p.uplink_bridge) << "\n";
  o << "vlan_mode = " << toml_string(p.vlan_mode) << "\n";
  if (p.vlan_mode == "trunk") {
    o << "allowed_vlans = " << ints(p.allowed_vlans) << "\n";
    if (p.native_vlan) o << "native_vlan = " << p.native_vlan << "\n";
  } else {
    o << "vlan = " << p.vlan << "\n";
  }
  const PortSecurityConfig& sec = p.security;
  if (!sec.allowed_macs.empty()) o << "allowed_macs = " << strings(sec.allowed_macs) << "\n";
  if (!sec.allowed_ips.empty()) o << "allowed_ips = " << strings(sec.allowed_ips) << "\n";
  if (sec.block_dhcp_server) o << "block_dhcp_server = true\n";
  if (sec.block_ra) o << "block_ra = true\n";
  if (sec.isolated) o << "isolated = true\n";
  for (const auto& [key, bw] :
       {std::pair{"inbound", &p.inbound}, std::pair{"outbound", &p.outbound}}) {
    if (!bw->set()) continue;
    o << key << " = { average = " << bw->average;
    if (bw->peak) o << ", peak = " << bw->peak;
    if (bw->burst) o << ", burst = " << bw->burst;
    o << " }\n";
  }
  if (p.storm.any()) {
    o << "storm_control = {";
    const char* sep = " ";
    for (const auto& [key, fps] :
         {std::pair{"broadcast", p.storm.broadcast}, std::pair{"multicast", p.storm.multicast},
          std::pair{"unknown_unicast", p.storm.unknown_unicast}}) {
      if (fps < 0) continue;
      o << sep << key << " = " << fps;
      sep = ", ";
    }
    o << " }\n";
  }
  return o.str();
}

std::string mirror_table_toml(const MirrorConfig& m) {
  std::ostringstream o;
  o << "\n[[switch.mirror]]\n"
    << "name = " << toml_string(m.name) << "\n";
  if (!m.source_ports.empty()) o << "source_ports = " << strings(m.source_ports) << "\n";
  if (!m.source_vlans.empty()) o << "source_vlans = " << ints(m.source_vlans) << "\n";
  o << "direction = " << toml_string(m.direction) << "\n"
    << "output = " << toml_string(m.output) << "\n";
  return o.str();
}

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string to_toml(const Config& cfg, const std::string& extra_switch,
                    const std::string& extra_port_toml, const std::string& extra_mirror_toml) {
  std::ostringstream o;
  write_daemon(o, cfg.daemon);
  for (const SwitchConfig& sw : cfg.switches) {
    o << "\n[[switch]]\n"
      << "name = " << toml_string(sw.name) << "\n"
      << "fdb_max_entries = " << sw.fdb_max_entries << "\n"
      << "fdb_aging_s = " << sw.fdb_aging_s << "\n"
      << "mac_limit_per_port = " << sw.mac_limit_per_port << "\n";
    for (const PortConfig& p : sw.ports) o << port_table_toml(p);
    if (sw.name == extra_switch && !extra_port_toml.empty())
      o << "\n[[switch.port]]\n" << extra_port_toml;
    for (const StaticFdbEntry& e : sw.fdb) {
      o << "\n[[switch.fdb]]\n"
        << "mac = " << toml_string(e.mac) << "\n"
        << "vlan = " << e.vlan << "\n"
        << "port = " << toml_string(e.port) << "\n";
    }
    for (const MirrorConfig& m : sw.mirrors) o << mirror_table_toml(m);
    if (sw.name == extra_switch && !extra_mirror_toml.empty())
      o << "\n[[switch.mirror]]\n" << extra_mirror_toml;
  }
  return o.str();
}

}  // namespace vs::config
