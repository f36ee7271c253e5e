#include "config/config_diff.hpp"

#include <map>
#include <type_traits>

namespace vs::config {
namespace {

struct Located {
  const SwitchConfig* sw;
  const PortConfig* port;
};

std::map<std::string, Located> ports_by_name(const Config& cfg) {
  std::map<std::string, Located> out;
  for (const SwitchConfig& sw : cfg.switches)
    for (const PortConfig& p : sw.ports) out[p.name] = {&sw, &p};
  return out;
}

// VLANs and per-port policy change in place: a new port table suffices. Anything else re-creates
// the port, like a driver change; so does a change of any field of a vxlan port's tunnel (vni,
// local, underlay, udp_port, remotes), which PortConfig's == compares.
bool same_except_vlans(PortConfig a, PortConfig b) {
  a.storm = b.storm;
  a.inbound = b.inbound;
  a.outbound = b.outbound;
  a.vlan_mode = b.vlan_mode;
  a.vlan = b.vlan;
  a.allowed_vlans = b.allowed_vlans;
  a.native_vlan = b.native_vlan;
  a.security = b.security;  // anti-spoofing and isolation: a new port table suffices too
  return a == b;
}

template <class T>
void note_change(std::vector<std::string>& out, const std::string& key, const T& a, const T& b) {
  if (a == b) return;
  if constexpr (std::is_same_v<T, int>) {
    out.push_back(key + ": " + std::to_string(a) + " -> " + std::to_string(b));
  } else if constexpr (std::is_same_v<T, std::string>) {
    out.push_back(key + ": \"" + a + "\" -> \"" + b + "\"");
  } else {
    out.push_back(key + " changed");
  }
}

void diff_daemon(const DaemonConfig& a, const DaemonConfig& b, std::vector<std::string>& out) {
  note_change(out, "[daemon] file_prefix", a.file_prefix, b.file_prefix);
  note_change(out, "[daemon] workers", a.workers, b.workers);
  note_change(out, "[daemon] worker_cores", a.worker_cores, b.worker_cores);
  note_change(out, "[daemon] main_core", a.main_core, b.main_core);
  note_change(out, "[daemon] metrics_listen", a.metrics_listen, b.metrics_listen);
  note_change(out, "[daemon] runtime_dir", a.runtime_dir, b.runtime_dir);
  note_change(out, "[daemon] mbufs_per_worker", a.mbufs_per_worker, b.mbufs_per_worker);
  note_change(out, "[daemon] restart_backoff_ms", a.restart_backoff_ms, b.restart_backoff_ms);
  note_change(out, "[daemon] control_socket", a.control_socket_path(), b.control_socket_path());
  note_change(out, "[daemon] actor_threads", a.actor_threads, b.actor_threads);
  note_change(out, "[daemon] crash_loop_limit", a.crash_loop_limit, b.crash_loop_limit);
  note_change(out, "[daemon] control_max_clients", a.control_max_clients, b.control_max_clients);
  note_change(out, "[daemon] control_request_timeout_ms", a.control_request_timeout_ms,
              b.control_request_timeout_ms);
  note_change(out, "[daemon] metrics_max_connections", a.metrics_max_connections,
              b.metrics_max_connections);
  note_change(out, "[daemon] metrics_request_timeout_ms", a.metrics_request_timeout_ms,
              b.metrics_request_timeout_ms);
  note_change(out, "[daemon] metrics_threads", a.metrics_threads, b.metrics_threads);
  if (a.metrics_basic_auth_users != b.metrics_basic_auth_users)
    out.push_back("[daemon] metrics_basic_auth_users changed");
  note_change(out, "[daemon] worker_stall_ms", a.worker_stall_ms, b.worker_stall_ms);
}

void diff_switches(const Config& a, const Config& b, std::vector<std::string>& out) {
  std::vector<std::string> names_a, names_b;
  for (const auto& sw : a.switches) names_a.push_back(sw.name);
  for (const auto& sw : b.switches) names_b.push_back(sw.name);
  if (names_a != names_b) {
    out.push_back("the [[switch]] list (names or order) changed");
    return;
  }
  for (std::size_t i = 0; i < a.switches.size(); ++i) {
    const SwitchConfig& x = a.switches[i];
    const SwitchConfig& y = b.switches[i];
    const std::string key = "[[switch]] " + x.name + " ";
    note_change(out, key + "fdb_max_entries", x.fdb_max_entries, y.fdb_max_entries);
    note_change(out, key + "fdb_aging_s", x.fdb_aging_s, y.fdb_aging_s);
    note_change(out, key + "mac_limit_per_port", x.mac_limit_per_port, y.mac_limit_per_port);
    note_change(out, key + "fdb (static entries)", x.fdb, y.fdb);
  }
}

std::string names(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& n : v) s += (s.empty() ? "" : ", ") + n;
  return s;
}

std::string names(const std::vector<PortChange>& v) {
  std::vector<std::string> n;
  for (const auto& c : v) n.push_back(c.port.name);
  return names(n);
}

// Mirrors by name: a mirror that moved to another switch counts as changed.
void diff_mirrors(const Config& a, const Config& b, ConfigDiff& d) {
  std::map<std::string, std::pair<std::string, const MirrorConfig*>> before;
  for (const SwitchConfig& sw : a.switches)
    for (const MirrorConfig& m : sw.mirrors) before[m.name] = {sw.name, &m};
  std::map<std::string, bool> seen;
  for (const SwitchConfig& sw : b.switches) {
    for (const MirrorConfig& m : sw.mirrors) {
      seen[m.name] = true;
      auto it = before.find(m.name);
      if (it == before.end())
        d.mirrors_added.push_back(m.name);
      else if (it->second.first != sw.name || !(*it->second.second == m))
        d.mirrors_changed.push_back(m.name);
    }
  }
  for (const auto& [name, where] : before)
    if (!seen.count(name)) d.mirrors_removed.push_back(name);
}

}  // namespace

ConfigDiff diff_configs(const Config& running, const Config& wanted) {
  ConfigDiff d;
  diff_daemon(running.daemon, wanted.daemon, d.restart_needed);
  diff_switches(running, wanted, d.restart_needed);
  const auto before = ports_by_name(running);
  const auto after = ports_by_name(wanted);
  for (const SwitchConfig& sw : running.switches)
    for (const PortConfig& p : sw.ports)
      if (!after.count(p.name)) d.removed.push_back(p.name);
  diff_mirrors(running, wanted, d);
  for (const SwitchConfig& sw : wanted.switches) {
    for (const PortConfig& p : sw.ports) {
      auto it = before.find(p.name);
      if (it == before.end()) {
        d.added.push_back({sw.name, p, {}, {}});
      } else if (it->second.sw->name != sw.name || !same_except_vlans(*it->second.port, p) ||
                 (p.vxlan.evpn && !(*it->second.port == p))) {
        // An EVPN tunnel's VLAN is where its remote MACs go: the feed starts over with the port.
        d.replaced.push_back({sw.name, p, it->second.sw->name, *it->second.port});
      } else if (!(*it->second.port == p)) {
        d.retagged.push_back({sw.name, p, {}, {}});
      }
    }
  }
  return d;
}

std::string ConfigDiff::summary() const {
  if (empty()) return "no change";
  std::string s;
  auto part = [&s](std::size_t n, const char* what, const std::string& list) {
    if (n == 0) return;
    s += (s.empty() ? "" : ", ") + std::to_string(n) + (n == 1 ? " port " : " ports ") + what +
         " (" + list + ")";
  };
  part(added.size(), "added", names(added));
  part(removed.size(), "removed", names(removed));
  part(replaced.size(), "re-created", names(replaced));
  part(retagged.size(), "re-tagged", names(retagged));
  auto mirrors = [&s](const std::vector<std::string>& v, const char* what) {
    if (v.empty()) return;
    s += (s.empty() ? "" : ", ") + std::to_string(v.size()) +
         (v.size() == 1 ? " mirror " : " mirrors ") + what + " (" + names(v) + ")";
  };
  mirrors(mirrors_added, "added");
  mirrors(mirrors_removed, "removed");
  mirrors(mirrors_changed, "changed");
  if (!restart_needed.empty())
    s += (s.empty() ? "" : ", ") + std::string("needs a restart: ") + names(restart_needed);
  return s;
}

}  // namespace vs::config
