#include "ctl/ctl.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "ctl/capture_client.hpp"

#ifndef VSWITCH_VERSION
#define VSWITCH_VERSION "unknown"
#endif

namespace vs {
namespace {

using nlohmann::json;

constexpr int kExitRefused = 1;      // the daemon answered with an error
constexpr int kExitInvalid = 2;      // config check: the file is invalid
constexpr int kExitUnreachable = 3;  // no daemon on the socket
constexpr int kExitUsage = 64;

constexpr const char* kHelp =
    "usage: vswitchctl [--socket PATH] [--json] COMMAND\n"
    "\n"
    "Talks to vswitchd on its control socket (default /run/vswitch/vswitchd.sock, or\n"
    "$VSWITCH_SOCKET; [daemon] control_socket in vswitch.toml). Root only.\n"
    "\n"
    "commands:\n"
    "  show switches                  switches, their ports and FDB fill\n"
    "  show ports                     ports: driver, queues, MTU, MAC, link, VLANs, counters\n"
    "  show queues                    every rx queue and the worker polling it\n"
    "  show workers                   worker processes: pid, state, restarts, last exit\n"
    "  show fdb [--switch S] [--vlan V] [--mac M]\n"
    "                                 MAC table entries (learned and static)\n"
    "  show mirrors                   mirrors: sources, direction, output, copies sent/dropped\n"
    "  port add SWITCH NAME [--driver rtap|tap] [--queues N] [--mtu N] [--mac M]\n"
    "           [--netns NS] [--address CIDR]... [--persist]\n"
    "           [--vm-macvtap NAME | --vm-tap NAME]\n"
    "           [--vlan V | --trunk V[,V...] [--native-vlan V]]\n"
    "           [--allowed-mac M]... [--allowed-ip IP[/LEN]]... [--block-dhcp-server]\n"
    "           [--block-ra] [--isolated]\n"
    "                                 add a port now, and record it in the drop-in\n"
    "                                 <config dir>/<stem>.d/zz-vswitchctl.toml (e.g.\n"
    "                                 /etc/vswitch/vswitch.d/) so reloads and restarts keep it\n"
    "  port del NAME                  remove a port now, recorded the same way (the main\n"
    "                                 config file itself is never written)\n"
    "  mirror add NAME --switch SW [--source-ports P[,P...]] [--source-vlans V[,V...]]\n"
    "           [--direction in|out|both] --output PORT\n"
    "                                 copy the sources' frames to PORT (SPAN; PORT then only\n"
    "                                 sends mirrored frames), recorded like port add\n"
    "  mirror del NAME                remove a mirror, recorded the same way\n"
    "  port reset NAME                close the port and create it again, in its namespace\n"
    "                                 (a port that is down comes back once that exists)\n"
    "  fdb flush [--switch S] [--port P] [--vlan V]\n"
    "                                 forget learned MACs (static ones stay)\n"
    "  reload                         re-read vswitch.toml and its drop-ins, apply the\n"
    "                                 difference (as SIGHUP)\n"
    "  worker restart N               replace worker N by a new process (upgrade); the other\n"
    "                                 workers are not touched\n"
    "  capture PORT... [--direction in|out|both] [--count N] [--duration S]\n"
    "          [--snaplen N] [-w|--write FILE|-] [--] [FILTER]\n"
    "                                 copy the frames a port receives (in) and sends (out)\n"
    "                                 into pcapng (tshark, Wireshark); FILTER is a pcap\n"
    "                                 expression as tcpdump takes (e.g. icmp or tcp port 80);\n"
    "                                 Ctrl-C, --count or --duration end it\n"
    "  config check FILE              validate a configuration file, merged with its drop-ins\n"
    "                                 (<stem>.d/*.toml), without a daemon; prints every error\n"
    "                                 with its file, line and a caret\n"
    "  version                        versions of vswitchctl and of the running vswitchd\n"
    "  help                           this text\n"
    "\n"
    "options:\n"
    "  --json     print the daemon's JSON reply instead of a table (for scripts)\n"
    "  --socket   the control socket to use\n"
    "\n"
    "exit codes: 0 done; 1 vswitchd refused or failed (message on stderr); 2 config check\n"
    "found errors; 3 vswitchd is not reachable; 64 bad usage.\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "vswitchctl: %s\n(see vswitchctl help)\n", msg.c_str());
  return kExitUsage;
}

int config_check(const char* path) {
  config::LoadResult r = config::load_config_file(path);
  for (const std::string& d : r.dropins) std::printf("%s: merged drop-in %s\n", path, d.c_str());
  for (const std::string& n : r.notes) std::printf("%s\n", n.c_str());
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", config::format_errors(r).c_str());
    std::fprintf(stderr, "%s: %zu error%s\n", path, r.errors.size(),
                 r.errors.size() == 1 ? "" : "s");
    return kExitInvalid;
  }
  std::printf("%s: valid (%zu switch%s, %zu port%s, %d worker%s)\n", path,
              r.config->switches.size(), r.config->switches.size() == 1 ? "" : "es",
              r.config->port_count(), r.config->port_count() == 1 ? "" : "s",
              r.config->daemon.workers, r.config->daemon.workers == 1 ? "" : "s");
  return 0;
}

// A connection to the control socket, or -1 with `error` set.
int connect_control(const std::string& socket_path, std::string& error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    error = "socket path too long: " + socket_path;
    return -1;
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int e = errno;
    if (fd >= 0) close(fd);
    error = "cannot reach vswitchd on " + socket_path + ": " + std::strerror(e) +
            (e == EACCES ? " (vswitchctl must run as root)"
                         : " (is vswitchd running? is --socket / [daemon] control_socket right?)");
    return -1;
  }
  return fd;
}

// Sends one request line, returns the reply line; on failure returns nullopt with `error` set.
std::optional<std::string> call(const std::string& socket_path, const json& request,
                                std::string& error) {
  const int fd = connect_control(socket_path, error);
  if (fd < 0) return std::nullopt;
  const std::string line = request.dump() + "\n";
  if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    error = std::string("cannot send the request: ") + std::strerror(errno);
    close(fd);
    return std::nullopt;
  }
  std::string reply;
  char buf[65536];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) reply.append(buf, static_cast<size_t>(n));
  close(fd);
  while (!reply.empty() && reply.back() == '\n') reply.pop_back();
  if (reply.empty()) {
    error = "vswitchd closed the connection without an answer (see its log)";
    return std::nullopt;
  }
  return reply;
}

std::string cell(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_array()) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + cell(x);
    return s.empty() ? "-" : s;
  }
  if (v.is_number_float()) {
    char b[32];
    std::snprintf(b, sizeof(b), "%.1f", v.get<double>());
    return b;
  }
  return v.dump();
}

struct Column {
  const char* title;
  const char* key;
};

void print_table(const json& rows, const std::vector<Column>& cols) {
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> width;
  for (const Column& c : cols) width.push_back(std::strlen(c.title));
  for (const json& row : rows) {
    std::vector<std::string> line;
    for (size_t i = 0; i < cols.size(); ++i) {
      line.push_back(row.contains(cols[i].key) ? cell(row[cols[i].key]) : "-");
      width[i] = std::max(width[i], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  auto print_line = [&](const std::vector<std::string>& line) {
    for (size_t i = 0; i + 1 < line.size(); ++i)
      std::printf("%-*s  ", static_cast<int>(width[i]), line[i].c_str());
    std::printf("%s\n", line.back().c_str());
  };
  std::vector<std::string> titles;
  for (const Column& c : cols) titles.push_back(c.title);
  print_line(titles);
  for (const auto& line : cells) print_line(line);
}

// One line per port with a policy or policy drops: what it allows and why its frames were
// dropped (the table has the total only).
void print_port_policy(const json& p) {
  const json& sec = p.contains("security") ? p["security"] : json::object();
  std::string line;
  auto add = [&line](const std::string& part) { line += (line.empty() ? "" : "; ") + part; };
  if (sec.value("isolated", false)) add("isolated");
  if (!sec.value("allowed_macs", json::array()).empty())
    add("allowed_macs " + cell(sec["allowed_macs"]));
  if (!sec.value("allowed_ips", json::array()).empty())
    add("allowed_ips " + cell(sec["allowed_ips"]));
  if (sec.value("block_dhcp_server", false)) add("block_dhcp_server");
  if (sec.value("block_ra", false)) add("block_ra");
  std::string drops;
  const json by_reason = p.value("switch_drops_by_reason", json::object());
  for (const auto& [reason, n] : by_reason.items())
    drops += (drops.empty() ? "" : " ") + reason + "=" + cell(n);
  if (!drops.empty()) add("drops " + drops);
  if (!line.empty()) std::printf("%s: %s\n", p.value("name", "?").c_str(), line.c_str());
}

// A port's policy, compact: "storm b1000/m5000/u1000 in 1000KB/s out 500KB/s" (storm in
// frames/s, rate limits' average; "-" for none).
std::string policy_cell(const json& p) {
  std::string out;
  const json sc = p.value("storm_control", json());
  if (sc.is_object()) {
    std::string kinds;
    for (const auto& [key, letter] : {std::pair{"broadcast", "b"}, std::pair{"multicast", "m"},
                                      std::pair{"unknown_unicast", "u"}})
      if (sc.contains(key))
        kinds += (kinds.empty() ? "" : "/") + std::string(letter) + cell(sc[key]);
    out += "storm " + kinds;
  }
  for (const auto& [dir, label] : {std::pair{"inbound", "in"}, std::pair{"outbound", "out"}}) {
    const json bw = p.value(dir, json());
    if (bw.is_object())
      out += (out.empty() ? "" : " ") + std::string(label) + " " + cell(bw["average"]) + "KB/s";
  }
  return out.empty() ? "-" : out;
}

void print_show(const std::string& what, const json& reply) {
  const json& rows = reply[what];
  if (what == "switches") {
    print_table(rows, {{"NAME", "name"},
                       {"PORTS", "ports"},
                       {"FDB", "fdb_entries"},
                       {"FDB_MAX", "fdb_max_entries"},
                       {"AGING_S", "fdb_aging_s"},
                       {"MIRRORS", "mirrors"}});
  } else if (what == "ports") {
    json shown = rows;
    for (json& p : shown) {
      // QEMU needs the macvtap's character device; a paired TAP is known by its name.
      const json& vm = p.contains("vm") ? p["vm"] : json();
      const json& up = p.contains("uplink") ? p["uplink"] : json();
      const json& vx = p.contains("vxlan") ? p["vxlan"] : json();
      p["vm_side"] = vx.is_object()                      ? json("vxlan " + cell(vx["vni"]) +
                                                                (vx.value("evpn", false) ? std::string(" evpn")
                                                                                         : " to " + cell(vx["remotes"])))
                     : up.is_object()                    ? json("uplink " + up.value("bridge", ""))
                     : !vm.is_object()                   ? json("")
                     : vm.value("mode", "") == "macvtap" ? vm["device"]
                                                         : json("tap " + vm.value("netdev", ""));
      p["vlans"] = p.value("vlan_mode", "") == "trunk"
                       ? "trunk " + cell(p["allowed_vlans"]) +
                             (p.value("native_vlan", 0) ? " native " + cell(p["native_vlan"]) : "")
                       : "access " + cell(p["vlan"]);
      p["policy"] = policy_cell(p);
    }
    print_table(shown, {{"NAME", "name"},
                        {"SWITCH", "switch"},
                        {"DRIVER", "driver"},
                        {"QUEUES", "queues"},
                        {"MTU", "mtu"},
                        {"MAC", "mac"},
                        {"NETNS", "netns"},
                        {"VM", "vm_side"},
                        {"STATE", "state"},
                        {"LINK", "link_up"},
                        {"VLANS", "vlans"},
                        {"POLICY", "policy"},
                        {"RX", "rx_packets"},
                        {"TX", "tx_packets"},
                        {"DROPS", "switch_drops"},
                        {"DRV_DROPS", "driver_drops"}});
    for (const json& p : shown) print_port_policy(p);
    // Why a port is down, in full (the table would be too wide).
    for (const json& p : shown)
      if (p.value("state", "up") == "down")
        std::printf("%s is down: %s\n", p.value("name", "?").c_str(),
                    p.value("reason", std::string("?")).c_str());
    // A switch busy in a port change answered late: its rows are its last snapshot.
    std::map<std::string, double> stale;
    for (const json& p : shown)
      if (p.value("stale", false)) stale[p.value("switch", "?")] = p.value("snapshot_age_ms", -1.0);
    for (const auto& [sw, age_ms] : stale)
      std::printf(
          "switch %s is busy with a port change: its ports are shown as they were %.1f s ago\n",
          sw.c_str(), age_ms / 1e3);
  } else if (what == "queues") {
    print_table(rows, {{"PORT", "port"},
                       {"QUEUE", "queue"},
                       {"WORKER", "worker"},
                       {"RX", "rx_packets"},
                       {"TX", "tx_packets"}});
  } else if (what == "workers") {
    print_table(rows, {{"ID", "id"},
                       {"PID", "pid"},
                       {"STATE", "state"},
                       {"CPU", "cpu"},
                       {"RESTARTS", "restarts"},
                       {"LAST_EXIT", "last_exit"}});
  } else if (what == "mirrors") {
    print_table(rows, {{"NAME", "name"},
                       {"SWITCH", "switch"},
                       {"SOURCE_PORTS", "source_ports"},
                       {"SOURCE_VLANS", "source_vlans"},
                       {"DIRECTION", "direction"},
                       {"OUTPUT", "output"},
                       {"PACKETS", "packets"},
                       {"BYTES", "bytes"},
                       {"DROPS", "drops"}});
  } else if (what == "fdb") {
    print_table(rows, {{"SWITCH", "switch"},
                       {"VLAN", "vlan"},
                       {"MAC", "mac"},
                       {"PORT", "port"},
                       {"VTEP", "vtep"},
                       {"TYPE", "type"},
                       {"AGE_S", "age_s"}});
  }
}

void print_human(const json& request, const json& reply) {
  const std::string cmd = request["cmd"];
  if (cmd == "show") {
    print_show(request["what"], reply);
  } else if (cmd == "reload" || cmd == "port_add" || cmd == "port_del" || cmd == "mirror_add" ||
             cmd == "mirror_del") {
    std::printf("applied in %.1f ms: %s\n", reply.value("ms", 0.0),
                reply.value("summary", std::string("done")).c_str());
  } else if (cmd == "port_reset") {
    std::printf("port %s re-created in %.1f ms (it was %s)\n", reply.value("port", "?").c_str(),
                reply.value("ms", 0.0), reply.value("was", std::string("?")).c_str());
  } else if (cmd == "worker_restart") {
    if (reply.contains("old_pid"))
      std::printf("worker %d replaced: pid %d -> %d in %.1f ms\n", reply.value("worker", -1),
                  reply.value("old_pid", 0), reply.value("new_pid", 0), reply.value("ms", 0.0));
    else
      std::printf("worker %d started (was %s): pid %d\n", reply.value("worker", -1),
                  reply.value("was", std::string("?")).c_str(), reply.value("new_pid", 0));
  } else if (cmd == "fdb_flush") {
    std::printf("%llu learned entries flushed\n",
                static_cast<unsigned long long>(reply.value("flushed", 0ull)));
  } else if (cmd == "version") {
    std::printf("vswitchctl %s\nvswitchd %s (pid %d)\n", VSWITCH_VERSION,
                reply.value("version", std::string("?")).c_str(), reply.value("pid", 0));
  }
}

// Option parsing for the subcommands: `--key value` pairs after the positional words.
class Args {
 public:
  Args(std::vector<std::string> words) : words_(std::move(words)) {}
  size_t size() const { return words_.size(); }
  const std::string& operator[](size_t i) const { return words_[i]; }
  // Reads options from `from` on; false with `error` on an unknown or valueless option.
  bool options(size_t from, const std::vector<std::string>& allowed,
               std::vector<std::pair<std::string, std::string>>& out, std::string& error) const {
    for (size_t i = from; i < words_.size(); ++i) {
      const std::string& w = words_[i];
      bool known = false;
      for (const auto& a : allowed) known = known || a == w;
      if (!known) {
        error = "unexpected argument " + w;
        return false;
      }
      if (w == "--persist" || w == "--isolated" || w == "--block-dhcp-server" ||
          w == "--block-ra") {  // flags: no value
        out.push_back({w, ""});
        continue;
      }
      if (i + 1 >= words_.size()) {
        error = w + " needs a value";
        return false;
      }
      out.push_back({w, words_[++i]});
    }
    return true;
  }

 private:
  std::vector<std::string> words_;
};

bool to_int(const std::string& s, int& out) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < -1000000 || v > 1000000) return false;
  out = static_cast<int>(v);
  return true;
}

// "a,b,c" as a JSON array of strings, or of numbers (false: one is not a number).
bool comma_list(const std::string& v, bool numbers, json& out) {
  out = json::array();
  size_t start = 0;
  while (start <= v.size()) {
    const size_t comma = v.find(',', start);
    const std::string item = v.substr(start, comma - start);
    int n;
    if (!numbers)
      out.push_back(item);
    else if (to_int(item, n))
      out.push_back(n);
    else
      return false;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return true;
}

// mirror add NAME --switch SW [--source-ports a,b] [--source-vlans 10,20] [--direction D]
// --output PORT. The daemon validates the mirror as it would a file's.
std::optional<json> mirror_add(const Args& a, std::string& error) {
  std::vector<std::pair<std::string, std::string>> opts;
  if (!a.options(3, {"--switch", "--source-ports", "--source-vlans", "--direction", "--output"},
                 opts, error))
    return std::nullopt;
  json mirror{{"name", a[2]}};
  std::string sw;
  for (auto& [k, v] : opts) {
    if (k == "--switch") {
      sw = v;
    } else if (k == "--source-ports" || k == "--source-vlans") {
      const bool vlans = k == "--source-vlans";
      if (!comma_list(v, vlans, mirror[vlans ? "source_vlans" : "source_ports"])) {
        error = k + " needs VLAN numbers separated by commas";
        return std::nullopt;
      }
    } else {
      mirror[k.substr(2)] = v;  // direction, output
    }
  }
  if (sw.empty()) {
    error = "mirror add needs --switch SWITCH";
    return std::nullopt;
  }
  return json{{"cmd", "mirror_add"}, {"switch", sw}, {"mirror", mirror}};
}

// Builds the request for the words after the global options; empty with `error` on bad usage.
std::optional<json> build_request(const Args& a, std::string& error) {
  auto bad = [&error](const std::string& e) {
    error = e;
    return std::nullopt;
  };
  std::vector<std::pair<std::string, std::string>> opts;
  auto int_opt = [&](const std::string& v, const char* name, json& into, const char* key) {
    int n;
    if (!to_int(v, n)) {
      error = std::string(name) + " needs a number";
      return false;
    }
    into[key] = n;
    return true;
  };
  // --switch/--port/--mac as strings, --vlan as a number, into the request.
  auto filters = [&](json& r) {
    for (auto& [k, v] : opts) {
      if (k == "--vlan" && !int_opt(v, "--vlan", r, "vlan")) return false;
      if (k != "--vlan") r[k.substr(2)] = v;
    }
    return true;
  };
  const std::string& cmd = a[0];
  if (cmd == "version" && a.size() == 1) return json{{"cmd", "version"}};
  if (cmd == "reload" && a.size() == 1) return json{{"cmd", "reload"}};
  if (cmd == "show" && a.size() >= 2) {
    json r{{"cmd", "show"}, {"what", a[1]}};
    if (!a.options(2,
                   a[1] == "fdb" ? std::vector<std::string>{"--switch", "--vlan", "--mac"}
                                 : std::vector<std::string>{},
                   opts, error))
      return std::nullopt;
    if (!filters(r)) return std::nullopt;
    return r;
  }
  if (cmd == "worker" && a.size() == 3 && a[1] == "restart") {
    json r{{"cmd", "worker_restart"}};
    if (!int_opt(a[2], "worker restart", r, "worker")) return std::nullopt;
    return r;
  }
  if (cmd == "fdb" && a.size() >= 2 && a[1] == "flush") {
    json r{{"cmd", "fdb_flush"}};
    if (!a.options(2, {"--switch", "--port", "--vlan"}, opts, error) || !filters(r))
      return std::nullopt;
    return r;
  }
  if (cmd == "mirror" && a.size() == 3 && a[1] == "del")
    return json{{"cmd", "mirror_del"}, {"mirror", a[2]}};
  if (cmd == "mirror" && a.size() >= 3 && a[1] == "add") return mirror_add(a, error);
  if (cmd == "port" && a.size() == 3 && a[1] == "del")
    return json{{"cmd", "port_del"}, {"port", a[2]}};
  if (cmd == "port" && a.size() == 3 && a[1] == "reset")
    return json{{"cmd", "port_reset"}, {"port", a[2]}};
  if (cmd == "port" && a.size() >= 4 && a[1] == "add") {
    json port{{"name", a[3]}};
    if (!a.options(
            4,
            {"--driver", "--queues", "--mtu", "--mac", "--netns", "--address", "--persist",
             "--vlan", "--trunk", "--native-vlan", "--vm-macvtap", "--vm-tap", "--allowed-mac",
             "--allowed-ip", "--block-dhcp-server", "--block-ra", "--isolated"},
            opts, error))
      return std::nullopt;
    for (auto& [k, v] : opts) {
      if (k == "--driver" || k == "--mac" || k == "--netns") {
        port[k.substr(2)] = v;
      } else if (k == "--queues" || k == "--mtu" || k == "--vlan") {
        if (!int_opt(v, k.c_str(), port, k.substr(2).c_str())) return std::nullopt;
      } else if (k == "--native-vlan") {
        if (!int_opt(v, k.c_str(), port, "native_vlan")) return std::nullopt;
      } else if (k == "--address") {
        port["addresses"].push_back(v);
      } else if (k == "--persist") {
        port["persist"] = true;
      } else if (k == "--allowed-mac" || k == "--allowed-ip") {
        port[k == "--allowed-mac" ? "allowed_macs" : "allowed_ips"].push_back(v);
      } else if (k == "--block-dhcp-server" || k == "--block-ra" || k == "--isolated") {
        port[k == "--isolated" ? "isolated"
                               : (k == "--block-ra" ? "block_ra" : "block_dhcp_server")] = true;
      } else if (k == "--vm-macvtap" || k == "--vm-tap") {
        port["vm"][k.substr(5)] = v;
      } else if (k == "--trunk") {
        port["vlan_mode"] = "trunk";
        if (!comma_list(v, true, port["allowed_vlans"]))
          return bad("--trunk needs VLAN numbers separated by commas");
      }
    }
    return json{{"cmd", "port_add"}, {"switch", a[2]}, {"port", port}};
  }
  return bad("unknown command: " + cmd);
}

}  // namespace

int run_ctl(int argc, char** argv) {
  std::vector<std::string> words;
  bool as_json = false;
  const char* env_socket = std::getenv("VSWITCH_SOCKET");
  std::string socket_path = env_socket ? env_socket : "/run/vswitch/vswitchd.sock";
  for (int i = 1; i < argc; ++i) {
    const std::string w = argv[i];
    if (w == "--json") {
      as_json = true;
    } else if (w == "--socket" && i + 1 < argc) {
      socket_path = argv[++i];
    } else if (w == "--help" || w == "help" || w == "-h") {
      std::fputs(kHelp, stdout);
      return 0;
    } else {
      words.push_back(w);
    }
  }
  if (words.empty()) {
    std::fputs(kHelp, stderr);
    return kExitUsage;
  }
  if (words[0] == "config") {
    if (words.size() == 3 && words[1] == "check") return config_check(words[2].c_str());
    return usage_error("usage: vswitchctl config check FILE");
  }
  std::string error;
  if (words[0] == "capture") {
    auto cmd = parse_capture_command({words.begin() + 1, words.end()}, error);
    if (!cmd) return usage_error(error);
    const int fd = connect_control(socket_path, error);
    if (fd < 0) {
      std::fprintf(stderr, "vswitchctl: %s\n", error.c_str());
      return kExitUnreachable;
    }
    const int rc = run_capture(fd, *cmd, as_json);
    close(fd);
    return rc;
  }
  auto request = build_request(Args(words), error);
  if (!request) return usage_error(error);
  auto reply_text = call(socket_path, *request, error);
  if (!reply_text) {
    std::fprintf(stderr, "vswitchctl: %s\n", error.c_str());
    return kExitUnreachable;
  }
  json reply = json::parse(*reply_text, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) {
    std::fprintf(stderr, "vswitchctl: vswitchd sent something that is not JSON: %s\n",
                 reply_text->c_str());
    return kExitRefused;
  }
  if (as_json) std::printf("%s\n", reply.dump(2).c_str());
  if (!reply.value("ok", false)) {
    if (!as_json)
      std::fprintf(stderr, "vswitchctl: %s\n",
                   reply.value("error", std::string("failed (no reason given)")).c_str());
    return kExitRefused;
  }
  if (!as_json) print_human(*request, reply);
  return 0;
}

}  // namespace vs
