// vswitchctl's protocol on the control socket (docs/control.md): one JSON object per line from
// the client, one JSON object per line back, then the daemon closes the connection.
//
//   {"cmd": "show", "what": "switches|ports|queues|workers|fdb|mirrors",
//    "switch": "sw0", "vlan": 10, "mac": "02:00:00:00:00:01"}       filters: show fdb only
//   {"cmd": "reload"}
//   {"cmd": "port_add", "switch": "sw0", "port": {"name": "vm3", ...}}   keys as in the file
//   {"cmd": "port_del", "port": "vm3"}
//   {"cmd": "port_reset", "port": "vm3"}        close and re-create the port (in its namespace)
//   {"cmd": "mirror_add", "switch": "sw0", "mirror": {"name": "m1", "source_ports": ["vm1"],
//    "source_vlans": [10], "direction": "both", "output": "span0"}}   keys as in the file
//   {"cmd": "mirror_del", "mirror": "m1"}
//   {"cmd": "worker_restart", "worker": 0}
//   {"cmd": "fdb_flush", "switch": "sw0", "port": "vm1", "vlan": 10}    filters optional
//   {"cmd": "version"}
//   {"cmd": "capture", "ports": ["vm1"], "direction": "in|out|both", "count": 100,
//    "duration_ms": 5000, "snaplen": 262144, "filter": "icmp"}    count/duration 0 = no limit;
//    the client passes the output's fd with the request (SCM_RIGHTS). The daemon keeps the
//    connection: {"ok": true, "capture": ID, ...} when armed, {"ok": true, "done": true,
//    "captured": N, "dropped": M, "reason": "..."} when it ends. The client ends it early by
//    shutting down its side of the connection (Ctrl-C), or by going away.
//
// Replies: {"ok": true, ...} or {"ok": false, "error": "what went wrong and how to fix it"}.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vs {

inline constexpr std::size_t kMaxControlRequest = 64 * 1024;
inline constexpr std::size_t kMaxControlNesting = 16;   // arrays/objects inside each other
inline constexpr uint32_t kMaxCaptureSnaplen = 262144;  // tcpdump's default and maximum
inline constexpr std::size_t kMaxCapturePorts = 64;
inline constexpr std::size_t kMaxCaptureFilter = 4096;  // bytes of the pcap expression

struct ControlRequest {
  enum class Cmd {
    kShow,
    kReload,
    kPortAdd,
    kPortDel,
    kPortReset,
    kWorkerRestart,
    kFdbFlush,
    kMirrorAdd,
    kMirrorDel,
    kVersion,
    kCapture
  };
  Cmd cmd = Cmd::kVersion;
  std::string what;         // show
  std::string switch_name;  // show fdb, port add, fdb flush
  std::string port;         // port del/reset, fdb flush: a name; port add: the port as JSON text
  std::string mac;          // show fdb: lower-case aa:bb:cc:dd:ee:ff
  int vlan = -1;            // show fdb, fdb flush; -1 = any
  int worker = -1;          // worker restart
  std::string mirror;       // mirror del: a name; mirror add: the mirror as JSON text
  struct Capture {
    std::vector<std::string> ports;
    uint8_t directions = 3;  // bit 0: received from the ports (in), bit 1: sent to them (out)
    uint64_t count = 0;      // frames, 0 = no limit
    uint64_t duration_ms = 0;
    uint32_t snaplen = kMaxCaptureSnaplen;
    std::string filter;  // a pcap expression
  } capture;
  // The show filters as a JSON object text, for the snapshot views (daemon/port_show.cpp).
  std::string filters_json() const;
};

// Parses and checks one request. Never throws; on failure returns nullopt and says why.
std::optional<ControlRequest> parse_control_request(std::string_view text, std::string& error);

}  // namespace vs
