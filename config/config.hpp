// vswitch configuration: the TOML file (see docs/config.md) loaded into plain structs.
//
// Loading never throws. Every problem of a file is collected and reported at once, each as a
// toml11-style message carrying the file name, the line, a caret under the offending value and a
// hint saying what is allowed. This header deliberately does not include toml.hpp.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/port_policy.hpp"

namespace vs::config {

// Per-port policy, part 1 (issue 24): anti-spoofing and isolation (switch/policy.hpp). A change
// of these alone is applied in place on reload, like the VLAN settings.
struct PortSecurityConfig {
  std::vector<std::string> allowed_macs;  // lower-case MACs, at most 8; empty = any source MAC
  std::vector<std::string> allowed_ips;   // "addr/len" (a bare address is stored with /32 or
                                          // /128), IPv4 and IPv6, at most 16; empty = any source
  bool block_dhcp_server = false;         // drop DHCPv4/DHCPv6 server replies the port sends
  bool block_ra = false;                  // drop ICMPv6 router advertisements the port sends
  bool isolated = false;                  // never forwards to or from another isolated port

  bool operator==(const PortSecurityConfig&) const = default;
};

// [switch.port.vxlan]: the port is a VXLAN tunnel (RFC 7348) that the workers encapsulate and
// decapsulate themselves over the kernel's UDP (docs/evpn.md, step two): no netdev of its own.
struct VxlanConfig {
  int vni = 0;           // 1..16777215; 0 = not a VXLAN port
  std::string local;     // the local VTEP: an IPv4 unicast address of `underlay`
  std::string underlay;  // the netdev that carries the tunnel (its MTU is checked at start)
  int udp_port = 4789;   // 1..65535
  std::vector<std::string> remotes;  // remote VTEPs, IPv4 unicast, 1..16, unique, none == local
  // true: the remote VTEPs and remote MACs come from BGP EVPN (FRR's zebra, through a shadow
  // kernel VXLAN device, docs/evpn.md); remotes is then empty and nothing is learned from the
  // tunnel's frames.
  bool evpn = false;
  bool operator==(const VxlanConfig&) const = default;
};

struct PortConfig {
  std::string name;            // TAP netdev name, also the port's name in metrics/CLI:
                               // 1..15 chars [A-Za-z0-9_.-], not "." or ".."; unique in the file
  std::string driver = "tap";  // "tap" (DPDK net_tap) or "rtap" (our io_uring net_rtap)
  int queues = 1;              // 1..16
  int mtu = 1500;              // 68..65518
  std::string mac;             // "02:00:00:00:00:01" form (unicast, stored lower-case);
                               // empty = the kernel picks
  std::string netns;           // named network namespace the netdev is moved into (created if
                               // absent); empty = stay in the daemon's namespace
  std::vector<std::string> addresses;  // CIDRs "10.0.0.1/24", "fd00::1/64" given to the netdev
  bool persist = false;                // keep the TAP when the daemon exits (driver "rtap" only)
  std::string vlan_mode = "access";    // "access" (untagged, one VLAN) or "trunk" (tagged)
  int vlan = 1;                        // access: the port's VLAN, 1..4094
  std::vector<int> allowed_vlans;      // trunk: VLANs carried tagged, each 1..4094
  int native_vlan = 0;                 // trunk: VLAN of untagged frames, 0 = drop them
  // How a VM attaches to the port's netdev (docs/vms.md); at most one is set, neither with netns.
  std::string vm_macvtap;  // [vm] macvtap: a passthru macvtap made on the netdev (/dev/tapN)
  std::string vm_tap;      // [vm] tap: a TAP of the VM's own stack, paired by tc mirred
  // [uplink] bridge: a kernel bridge (in `netns`, or the daemon's namespace) the port's netdev
  // joins as it comes up, e.g. the bridge of a VXLAN device that FRR manages (docs/evpn.md).
  std::string uplink_bridge;
  // [vxlan]: a VXLAN tunnel port (no netdev: no driver, queues, mac, netns, addresses, persist,
  // vm or uplink; an access port without per-port policy). Its VLAN is the one the VNI joins.
  VxlanConfig vxlan;
  PortSecurityConfig security;  // allowed_macs, allowed_ips, block_dhcp_server, block_ra, isolated
  StormControl storm;           // storm_control: frames/s of broadcast, multicast, unknown unicast
  Bandwidth inbound;            // rate limit of the traffic to the VM (sent to the port)
  Bandwidth outbound;           // rate limit of the traffic from the VM (received from the port)

  bool is_vxlan() const { return vxlan.vni != 0; }
  bool operator==(const PortConfig&) const = default;
};

struct StaticFdbEntry {
  std::string mac;   // unicast, lower-case "02:00:00:00:00:0a"
  int vlan = 1;      // 1..4094
  std::string port;  // a port of the same switch

  bool operator==(const StaticFdbEntry&) const = default;
};

// [[switch.mirror]]: SPAN. Frames of the sources (ports and/or VLANs) are copied, as they were
// on the source's wire, to the output port, which then takes no part in forwarding.
struct MirrorConfig {
  std::string name;                       // 1..31 chars [A-Za-z0-9_-]; unique in the daemon
  std::vector<std::string> source_ports;  // ports of the same switch
  std::vector<int> source_vlans;          // 1..4094; at least one of the two lists non-empty
  std::string direction = "both";         // "in" (received by the switch), "out" (sent), "both"
  std::string output;                     // a port of the same switch; never a source of any mirror

  bool operator==(const MirrorConfig&) const = default;
};

struct SwitchConfig {
  std::string name;  // 1..31 chars [A-Za-z0-9_-]; unique in the file
  std::vector<PortConfig> ports;
  std::vector<MirrorConfig> mirrors;  // [[switch.mirror]]
  int fdb_max_entries = 8192;         // learned + static MACs of this switch, 1..1048576
  int fdb_aging_s = 300;            // a learned MAC not seen for this long is forgotten, 10..86400
  int mac_limit_per_port = 0;       // learned MACs per port, 0 = no limit (MAC-flood protection)
  std::vector<StaticFdbEntry> fdb;  // static entries ([[switch.fdb]]): never aged, never moved
};

struct DaemonConfig {
  std::string file_prefix = "vswitch";            // EAL --file-prefix, 1..32 chars [A-Za-z0-9_-]
  int workers = 1;                                // 1..16
  std::vector<int> worker_cores;                  // empty, or one unique core 0..1023 per worker
  int main_core = 0;                              // 0..1023, not in worker_cores
  std::string metrics_listen = "127.0.0.1:9464";  // "a.b.c.d:port" or "[v6]:port"
  std::string runtime_dir = "/run/vswitch";       // absolute path, at most 255 chars
  int mbufs_per_worker = 8191;                    // 1023..1048575
  int restart_backoff_ms = 100;                   // initial worker restart back-off, 1..60000
  std::string control_socket;    // vswitchctl's unix socket; empty = <runtime_dir>/vswitchd.sock
  int actor_threads = 2;         // CAF scheduler threads, 1..64
  int crash_loop_limit = 5;      // quick crashes in a row before a worker is given up, 1..100
  int control_max_clients = 64;  // vswitchctl connections at once, 1..4096
  int control_request_timeout_ms = 5000;  // a control request must arrive within, 100..600000
  int metrics_max_connections = 64;       // HTTP connections to /metrics at once, 1..4096
  int metrics_request_timeout_ms = 5000;  // an HTTP request must arrive within, 100..600000
  int metrics_threads = 2;                // threads that render scrapes, 1..16
  // HTTP basic auth on /metrics: user -> bcrypt hash ("$2b$..."), as Prometheus's web config
  // `basic_auth_users`; empty = no authentication.
  std::map<std::string, std::string> metrics_basic_auth_users;
  int worker_stall_ms = 500;  // a worker without a heartbeat this long is killed, 200..60000

  std::string control_socket_path() const {
    return control_socket.empty() ? runtime_dir + "/vswitchd.sock" : control_socket;
  }
  bool operator==(const DaemonConfig&) const = default;
};

struct Config {
  DaemonConfig daemon;
  std::vector<SwitchConfig> switches;  // at least 1, at most 64; at most 256 ports in total

  // The port with this name in any switch, or nullptr.
  const PortConfig* find_port(std::string_view name) const;
  // Number of ports over all switches.
  std::size_t port_count() const;
  // The mirror with this name in any switch, or nullptr.
  const MirrorConfig* find_mirror(std::string_view name) const;
};

struct LoadResult {
  std::optional<Config> config;     // set if and only if errors is empty
  std::vector<std::string> errors;  // in file order (main file first); each may span lines
  bool ok() const { return config.has_value(); }

  // Filled by load_config_file (docs/config.md, "Drop-in files"):
  std::vector<std::string> dropins;               // drop-in files merged, in merge order
  std::map<std::string, std::string> port_files;  // port name -> the file that defines it
  std::map<std::string, std::vector<std::string>> removals;  // drop-in -> its [remove] ports
  std::map<std::string, std::string> mirror_files;  // mirror name -> the file that defines it
  std::map<std::string, std::vector<std::string>> mirror_removals;  // drop-in -> [remove] mirrors
  std::vector<std::string> notes;  // not errors: e.g. a removal of a port no file defines
};

// The drop-in directory of a main config file: "<dir>/<stem>.d", e.g. /etc/vswitch/vswitch.d
// for /etc/vswitch/vswitch.toml.
std::string dropin_dir_for(const std::string& main_path);

// True for the names the loader merges from a drop-in directory: "*.toml", not hidden
// (".name"), so an editor's lock file or a writer's temp file ".x.toml.tmp-..." never is.
bool is_dropin_name(std::string_view file_name);

struct LoadOptions {
  bool dropins = true;  // merge <stem>.d/*.toml
  // Drop-in contents to use instead of the disk's, by full path (nullopt: as if absent); how a
  // change is validated before it is written.
  std::map<std::string, std::optional<std::string>> overrides;
};

// Reads and validates a config file merged with its drop-ins (sorted by name). Never throws.
LoadResult load_config_file(const std::string& path, const LoadOptions& options = {});
// Same for text in memory; display_name stands for the file name in messages. Never throws.
LoadResult load_config_string(const std::string& text, const std::string& display_name);
// Same for a main file and its drop-ins held in memory: (name, text) each, drop-ins in merge
// order. Never throws.
LoadResult load_config_strings(const std::string& main_text, const std::string& main_name,
                               const std::vector<std::pair<std::string, std::string>>& dropins);
// All errors joined (each ends with a newline), ready for printing; empty if ok().
std::string format_errors(const LoadResult& result);

}  // namespace vs::config
