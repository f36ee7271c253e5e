// The only translation unit that includes toml.hpp (it is slow to compile).
//
// Validation never uses toml::find_or (it silently returns the default on a wrong type): every key
// is looked up in the table, its type checked with is_*(), integers range-checked as int64 before
// narrowing. Errors are collected, sorted by line and returned; nothing here throws to the caller.
#include "config/config.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <exception>
#include <map>
#include <sstream>
#include <system_error>
#include <tuple>
#include <utility>

#include <toml.hpp>

namespace vs::config {
namespace {

using Value = toml::value;

// Limits that keep hostile input (the loader is fuzzed) away from toml11's recursion and from
// pathological memory use. A real config is a few kilobytes with nesting depth 2.
constexpr std::size_t kMaxFileBytes = 1024 * 1024;
constexpr int kMaxNesting = 16;      // '[' and '{' open at once, outside strings and comments
constexpr int kMaxDotsPerLine = 16;  // '.' on one line outside strings and comments (dotted keys)
constexpr std::size_t kMaxErrors = 100;
constexpr std::size_t kMaxSwitches = 64;
constexpr std::size_t kMaxPorts = 256;
constexpr std::size_t kMaxMirrors = 32;               // shm/limits.hpp kMaxMirrors
constexpr std::size_t kMaxPolicyMacsConfig = 8;       // shm/topology.hpp kMaxPolicyMacs
constexpr std::size_t kMaxPolicyPrefixesConfig = 16;  // shm/topology.hpp kMaxPolicyPrefixes
constexpr std::size_t kMaxVxlanRemotes = 16;          // remote VTEPs of one vxlan port

struct Error {
  std::uint_least32_t line = 0;
  std::string text;
  std::size_t file = 0;  // index of the file: 0 the main file, then the drop-ins in merge order
};

// ---------------------------------------------------------------------------------------------
// Small string helpers

// A string shown inside a message: quoted, control characters escaped, long strings cut.
std::string show(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::size_t cut = std::min(s.size(), kMax);
  while (cut < s.size() && cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) {
    --cut;  // do not split a UTF-8 sequence
  }
  std::string out = "\"";
  for (std::size_t i = 0; i < cut; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (cut < s.size()) out += "...";
  return out + "\"";
}

bool has_control_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7f;
  });
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// 1..max_len characters, each alphanumeric or one of `extra`.
bool is_word(std::string_view s, std::size_t max_len, std::string_view extra) {
  if (s.empty() || s.size() > max_len) return false;
  return std::all_of(s.begin(), s.end(), [extra](char c) {
    return is_alnum(c) || extra.find(c) != std::string_view::npos;
  });
}

// What is wrong with `s` as a netdev name (a port, a VM's macvtap or TAP, a bridge), or "".
std::string ifname_problem(const std::string& s) {
  if (!is_word(s, 15, "_.-")) return "must be 1..15 characters [A-Za-z0-9_.-]";
  if (s == "." || s == "..") return "must not be \".\" or \"..\"";
  return {};
}

// A decimal number of 1..max_digits digits (no sign, no spaces), or -1.
long parse_decimal(std::string_view s, std::size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return -1;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string join(const std::vector<std::string_view>& words) {
  std::string out;
  for (auto w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

// Edit distance, for "did you mean" hints on unknown keys.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// ---------------------------------------------------------------------------------------------
// Value checks shared by several keys. Each returns an empty string if fine, else the problem.

std::string mac_problem(const std::string& s, std::string& normalized) {
  if (s.size() != 17) return "must be six hex octets like \"02:00:00:00:00:01\"";
  unsigned octets[6] = {};
  for (std::size_t i = 0; i < 6; ++i) {
    for (std::size_t k = 0; k < 2; ++k) {
      const char c = s[i * 3 + k];
      unsigned d = 0;
      if (c >= '0' && c <= '9') {
        d = static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<unsigned>(c - 'A' + 10);
      } else {
        return "must be six hex octets like \"02:00:00:00:00:01\"";
      }
      octets[i] = octets[i] * 16 + d;
    }
    if (i < 5 && s[i * 3 + 2] != ':') return "must be six hex octets like \"02:00:00:00:00:01\"";
  }
  if (octets[0] & 1) return "must be a unicast address (the lowest bit of the first octet is set)";
  if (std::all_of(std::begin(octets), std::end(octets), [](unsigned o) { return o == 0; })) {
    return "must not be all zeros";
  }
  normalized = s;
  std::transform(normalized.begin(), normalized.end(), normalized.begin(),
                 [](char c) { return (c >= 'A' && c <= 'F') ? static_cast<char>(c + 32) : c; });
  return {};
}

// A check for an absolute path of at most `max` characters; `why` explains the limit.
auto absolute_path_problem(std::size_t max, const char* why) {
  return [max, why](const std::string& s) {
    if (s.empty() || s[0] != '/') return std::string("must be an absolute path");
    if (s.size() > max)
      return "must be at most " + std::to_string(max) + " characters" + std::string(why);
    if (has_control_char(s)) return std::string("must not contain control characters");
    return std::string();
  };
}

std::string cidr_problem(const std::string& s) {
  if (has_control_char(s)) return "must not contain control characters";
  const auto slash = s.find('/');
  if (slash == std::string::npos) return "needs a prefix length, like \"10.0.0.1/24\"";
  const std::string addr = s.substr(0, slash);
  const long len = parse_decimal(std::string_view(s).substr(slash + 1), 3);
  const bool v6 = addr.find(':') != std::string::npos;
  unsigned char buf[16];
  if (inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), buf) != 1) {
    return v6 ? "is not a valid IPv6 address" : "is not a valid IPv4 address";
  }
  if (v6 && (len < 1 || len > 128)) return "needs an IPv6 prefix length 1..128";
  if (!v6 && (len < 1 || len > 32)) return "needs an IPv4 prefix length 1..32";
  return {};
}

// An allowed_ips entry: a prefix, or a bare address (a host). `normalized`: "addr/len" with the
// address as inet_ntop writes it. Host bits past the length are refused: "10.0.0.5/24" could
// mean the host or its network, and the two differ by 253 addresses a VM could take.
std::string allowed_ip_problem(const std::string& s, std::string& normalized) {
  const bool v6 = s.find(':') != std::string::npos;
  const std::string with_len = s.find('/') == std::string::npos ? s + (v6 ? "/128" : "/32") : s;
  if (std::string why = cidr_problem(with_len); !why.empty()) return why;
  const auto slash = with_len.find('/');
  const int len = static_cast<int>(parse_decimal(std::string_view(with_len).substr(slash + 1), 3));
  unsigned char buf[16];
  inet_pton(v6 ? AF_INET6 : AF_INET, with_len.substr(0, slash).c_str(), buf);
  const int bits = v6 ? 128 : 32;
  bool host_bits = false;
  for (int b = len; b < bits; ++b) host_bits = host_bits || (buf[b / 8] >> (7 - b % 8)) & 1;
  for (int b = len; b < bits; ++b) buf[b / 8] &= static_cast<unsigned char>(~(0x80 >> (b % 8)));
  char text[INET6_ADDRSTRLEN];
  inet_ntop(v6 ? AF_INET6 : AF_INET, buf, text, sizeof(text));
  normalized = std::string(text) + "/" + std::to_string(len);
  if (host_bits)
    return "has bits set past its prefix length: write " + normalized +
           " for the network, or the address alone for one host";
  return {};
}

// A VTEP address (vxlan local and remotes): IPv4 in dotted form, unicast. `normalized`: the
// address as inet_ntop writes it.
std::string vtep_problem(const std::string& s, std::string& normalized) {
  if (has_control_char(s)) return "must not contain control characters";
  unsigned char b[16];
  if (inet_pton(AF_INET6, s.c_str(), b) == 1)
    return "is an IPv6 address: vxlan takes IPv4 VTEPs only for now";
  if (s.find('/') != std::string::npos) return "must be an address without a prefix length";
  if (inet_pton(AF_INET, s.c_str(), b) != 1)
    return "is not an IPv4 address in dotted form like \"10.99.0.1\"";
  if (b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0)
    return "must not be 0.0.0.0 (the unspecified address)";
  if (b[0] >= 224 && b[0] <= 239) return "must be unicast, not multicast (224.0.0.0/4)";
  if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255)
    return "must be unicast, not the broadcast address";
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, b, text, sizeof(text));
  normalized = text;
  return {};
}

std::string listen_problem(const std::string& s) {
  if (has_control_char(s)) return "must not contain control characters";
  std::string host;
  std::string_view port;
  unsigned char buf[16];
  if (!s.empty() && s[0] == '[') {
    const auto close = s.find("]:");
    if (close == std::string::npos) return "must be \"[IPv6]:port\", like \"[::1]:9464\"";
    host = s.substr(1, close - 1);
    port = std::string_view(s).substr(close + 2);
    if (inet_pton(AF_INET6, host.c_str(), buf) != 1) return "has an invalid IPv6 address";
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos) return "must be \"host:port\", like \"127.0.0.1:9464\"";
    host = s.substr(0, colon);
    port = std::string_view(s).substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return "has an IPv6 address without brackets (write \"[::1]:9464\")";
    }
    if (inet_pton(AF_INET, host.c_str(), buf) != 1) return "has an invalid IPv4 address";
  }
  const long p = parse_decimal(port, 5);
  if (p < 1 || p > 65535) return "needs a port 1..65535";
  return {};
}

// ---------------------------------------------------------------------------------------------
// Guard run before toml11 sees the text: toml11 3.7 recurses once per nesting level (arrays,
// inline tables, dotted keys) and overflows the stack on inputs like "a = [[[[...". Strings and
// comments are skipped the way TOML lexes them, so brackets and dots inside them do not count.

struct Precheck {
  std::size_t offset = 0;
  std::string message;
  std::string hint;
};

// Offset of the first byte that is not well-formed UTF-8 (RFC 3629, as toml11's lexer defines
// it), or npos.
std::size_t invalid_utf8_at(std::string_view s) {
  const auto byte = [&s](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned c = byte(i);
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return i;
    }
    if (i + len > s.size()) return i;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return i;
    for (std::size_t k = 2; k < len; ++k) {
      if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

std::optional<Precheck> precheck(std::string_view s) {
  // TOML documents are UTF-8; toml11 3.7.1 reads out of bounds when it reports invalid UTF-8 in
  // a literal string, so such input never reaches it.
  if (const std::size_t bad = invalid_utf8_at(s); bad != std::string_view::npos) {
    return Precheck{bad, "the file is not valid UTF-8",
                    "TOML files must be UTF-8 encoded; check the byte at the caret"};
  }
  const std::size_t n = s.size();
  std::size_t i = 0;
  int depth = 0;
  int dots = 0;
  while (i < n) {
    const char c = s[i];
    if (c == '\n') {
      dots = 0;
      ++i;
    } else if (c == '#') {
      while (i < n && s[i] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      const bool basic = c == '"';
      if (i + 2 < n && s[i + 1] == c && s[i + 2] == c) {  // multi-line string
        i += 3;
        while (i < n) {
          if (basic && s[i] == '\\') {
            i += 2;
          } else if (i + 2 < n && s[i] == c && s[i + 1] == c && s[i + 2] == c) {
            while (i < n && s[i] == c) ++i;  // up to two quotes before the closing three
            break;
          } else {
            ++i;
          }
        }
      } else {  // one-line string; a newline ends it (toml11 reports that)
        ++i;
        while (i < n && s[i] != c && s[i] != '\n') {
          if (basic && s[i] == '\\' && i + 1 < n && s[i + 1] != '\n') ++i;
          ++i;
        }
        if (i < n && s[i] == c) ++i;
      }
    } else {
      if (c == '[' || c == '{') {
        if (++depth > kMaxNesting) {
          return Precheck{i, "nesting too deep: more than 16 levels of '[' and '{'",
                          "a vswitch config needs at most 3 levels ([[switch.port]] and arrays)"};
        }
      } else if (c == ']' || c == '}') {
        if (depth > 0) --depth;
      } else if (c == '.') {
        if (++dots > kMaxDotsPerLine) {
          return Precheck{
              i, "too many dots on one line (more than 16 outside strings)",
              "dotted keys nest tables; a vswitch config needs at most \"switch.port\""};
        }
      }
      ++i;
    }
  }
  return std::nullopt;
}

// A message in toml11's layout, for problems found before toml11 has a value to point at.
Error format_at(const std::string& file, std::string_view text, std::size_t offset,
                const std::string& message, const std::string& hint) {
  offset = std::min(offset, text.size());
  const auto line_no = static_cast<std::uint_least32_t>(
      1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
  std::size_t begin = text.rfind('\n', offset == 0 ? 0 : offset - 1);
  begin = (begin == std::string_view::npos || begin >= offset) ? 0 : begin + 1;
  std::size_t end = text.find('\n', offset);
  if (end == std::string_view::npos) end = text.size();
  // Show at most 80 characters of the line, around the offending character.
  const std::size_t shown_begin = offset - begin > 60 ? offset - 60 : begin;
  const std::size_t shown_end = std::min(end, shown_begin + 80);
  // The line is shown as ASCII: control characters and non-ASCII bytes become '?' (the line may
  // be the one with invalid UTF-8).
  std::string shown(text.substr(shown_begin, shown_end - shown_begin));
  for (char& c : shown) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u >= 0x7f) c = '?';
  }
  const std::string num = std::to_string(line_no);
  const std::string pad(num.size(), ' ');
  std::ostringstream os;
  os << "[error] " << message << "\n"
     << " --> " << file << "\n"
     << " " << pad << " |\n"
     << " " << num << " | " << shown << "\n"
     << " " << pad << " | " << std::string(offset - shown_begin, ' ') << "^--- here\n"
     << " " << pad << " |\n"
     << "Hint: " << hint;
  return Error{line_no, os.str()};
}

// ---------------------------------------------------------------------------------------------
// The validator: walks the parsed document, reports problems, fills a Config.

const char* type_name(const Value& v) {
  switch (v.type()) {
    case toml::value_t::boolean:
      return "a boolean";
    case toml::value_t::integer:
      return "an integer";
    case toml::value_t::floating:
      return "a float";
    case toml::value_t::string:
      return "a string";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
    case toml::value_t::offset_datetime:
    case toml::value_t::local_datetime:
    case toml::value_t::local_date:
    case toml::value_t::local_time:
      return "a date/time";
    default:
      return "empty";
  }
}

const Value* lookup(const Value& table, const std::string& key) {
  const auto& t = table.as_table();
  const auto it = t.find(key);
  return it == t.end() ? nullptr : &it->second;
}

const std::vector<std::string_view> kTopKeys = {"daemon", "switch"};
const std::vector<std::string_view> kDropinTopKeys = {"switch", "remove"};
const std::vector<std::string_view> kDropinSwitchKeys = {"name", "port", "mirror"};
const std::vector<std::string_view> kRemoveKeys = {"ports", "mirrors"};
const std::vector<std::string_view> kDaemonKeys = {"file_prefix",
                                                   "workers",
                                                   "worker_cores",
                                                   "main_core",
                                                   "metrics_listen",
                                                   "runtime_dir",
                                                   "mbufs_per_worker",
                                                   "restart_backoff_ms",
                                                   "control_socket",
                                                   "actor_threads",
                                                   "crash_loop_limit",
                                                   "control_max_clients",
                                                   "control_request_timeout_ms",
                                                   "metrics_max_connections",
                                                   "metrics_request_timeout_ms",
                                                   "metrics_threads",
                                                   "metrics_basic_auth_users",
                                                   "worker_stall_ms"};
const std::vector<std::string_view> kSwitchKeys = {
    "name", "port", "fdb_max_entries", "fdb_aging_s", "mac_limit_per_port", "fdb", "mirror"};
const std::vector<std::string_view> kPortKeys = {
    "name",      "mac",          "driver",        "netns",
    "queues",    "mtu",          "addresses",     "persist",
    "vlan_mode", "vlan",         "allowed_vlans", "native_vlan",
    "vm",        "allowed_macs", "allowed_ips",   "block_dhcp_server",
    "block_ra",  "isolated",     "storm_control", "inbound",
    "outbound",  "uplink",       "vxlan"};
const std::vector<std::string_view> kStormKeys = {"broadcast", "multicast", "unknown_unicast"};
const std::vector<std::string_view> kBandwidthKeys = {"average", "peak", "burst"};
const std::vector<std::string_view> kVmKeys = {"macvtap", "tap"};
const std::vector<std::string_view> kUplinkKeys = {"bridge"};
const std::vector<std::string_view> kVxlanKeys = {"vni",      "local",   "underlay",
                                                  "udp_port", "remotes", "evpn"};
const std::vector<std::string_view> kStaticFdbKeys = {"mac", "vlan", "port"};
const std::vector<std::string_view> kMirrorKeys = {"name", "source_ports", "source_vlans",
                                                   "direction", "output"};

enum class Got { absent, bad, ok };

class Validator {
 public:
  Validator(std::vector<Error>& errors, const std::map<std::string, std::size_t>& files)
      : errors_(errors), files_(files) {}

  // Merges one drop-in into `root` (the main file's document, with the earlier drop-ins already
  // merged): first its [remove] ports go, then its [[switch]] tables add ports to the switches of
  // the main file. Values keep their own file and line, so the validator's errors point into the
  // drop-in. docs/config.md, "Drop-in files".
  void merge(Value& root, const Value& dropin, const std::string& file, LoadResult& out) {
    const std::string ctx = "drop-in";
    for (const auto& [key, value] : dropin.as_table()) {
      if (key == "daemon") {
        report(value, ctx, "[daemon] may only be set in the main file", "in a drop-in",
               "a drop-in may add ports to the main file's switches ([[switch]] with its name, "
               "then [[switch.port]]) and remove ports ([remove] ports = [...])");
      }
    }
    check_keys(dropin, kDropinTopKeys, ctx, "a drop-in", {"daemon"});
    if (const Value* rm = lookup(dropin, "remove")) remove_ports(root, *rm, file, out);
    const Value* sw = lookup(dropin, "switch");
    if (sw == nullptr) return;
    const std::string hint =
        "in a drop-in, [[switch]] with name = \"NAME\" of a switch of the main file, then its "
        "new ports as [[switch.port]]";
    if (!sw->is_array()) {
      report(*sw, ctx, "switch must be an array of tables",
             "this is " + std::string(type_name(*sw)), hint);
      return;
    }
    for (const Value& s : sw->as_array()) {
      if (!s.is_table()) {
        report(s, ctx, "each switch must be a table", "this is " + std::string(type_name(s)), hint);
        continue;
      }
      const Value* name = lookup(s, "name");
      if (name == nullptr || !name->is_string()) {
        report(name ? *name : s, ctx, "a drop-in's [[switch]] needs the name of a main-file switch",
               name ? "this is " + std::string(type_name(*name)) : "no name", hint);
        continue;
      }
      Value* target = main_switch(root, name->as_string().str);
      if (target == nullptr) {
        report(*name, ctx, "no switch named " + show(name->as_string().str) + " in the main file",
               "unknown switch",
               "a drop-in may only add ports to switches the main file defines (a new switch "
               "needs a restart: add it to the main file)");
        continue;
      }
      const std::string sctx = "switch " + show(name->as_string().str) + " (drop-in)";
      for (const auto& [key, value] : s.as_table()) {
        if (key == "name" || key == "port" || key == "mirror") continue;
        if (std::find(kSwitchKeys.begin(), kSwitchKeys.end(), key) != kSwitchKeys.end()) {
          report(value, sctx, key + " may only be set in the main file", "in a drop-in",
                 "a drop-in may only add ports to a switch; set " + key + " in the main file");
        }
      }
      check_keys(s, kDropinSwitchKeys, sctx, "a drop-in's [[switch]]", kSwitchKeys);
      append_tables(s, *target, "port", sctx);
      append_tables(s, *target, "mirror", sctx);
    }
  }

  // The drop-in switch `from`'s [[switch.KEY]] tables, appended to the main-file switch `to`.
  void append_tables(const Value& from, Value& to, const std::string& key, const std::string& ctx) {
    const Value* tables = lookup(from, key);
    if (tables == nullptr) return;
    if (!tables->is_array()) {
      report(*tables, ctx, key + " must be an array of tables",
             "this is " + std::string(type_name(*tables)),
             "write each one under its own [[switch." + key + "]] header (double brackets)");
      return;
    }
    auto& t = to.as_table();
    auto it = t.find(key);
    if (it == t.end()) it = t.emplace(key, Value(toml::array{})).first;
    if (!it->second.is_array()) return;  // the validator reports the main file's mistake
    for (const Value& p : tables->as_array()) it->second.as_array().push_back(p);
  }

  std::optional<Config> run(const Value& root) {
    Config cfg;
    check_keys(root, kTopKeys, "top level", "the top level");
    if (const Value* d = lookup(root, "daemon")) {
      if (d->is_table()) {
        daemon(*d, cfg.daemon);
      } else {
        report(*d, "top level", "daemon must be a table", "this is " + std::string(type_name(*d)),
               "write the daemon settings under a [daemon] header");
      }
    }
    const Value* sw = lookup(root, "switch");
    if (sw == nullptr) {
      report(root, "top level", "no [[switch]] defined: at least one switch is required", "here",
             "add a switch: [[switch]] with name = \"sw0\", then its ports as [[switch.port]]");
    } else if (!sw->is_array()) {
      report(*sw, "top level", "switch must be an array of tables",
             "this is " + std::string(type_name(*sw)),
             "write each switch under its own [[switch]] header (double brackets)");
    } else if (sw->as_array().empty()) {
      report(*sw, "top level", "at least one switch is required", "this array is empty",
             "add a switch: [[switch]] with name = \"sw0\"");
    } else {
      std::size_t index = 0;
      for (const Value& s : sw->as_array()) {
        if (full()) break;
        ++index;
        if (index == kMaxSwitches + 1) {
          report(s, "top level", "too many switches: at most 64", "switch #65",
                 "merge switches or run another daemon");
        }
        switch_table(s, index, cfg);
      }
      vm_link_names();
      vxlan_unique();
      mirror_tables(cfg);
    }
    if (!errors_.empty()) return std::nullopt;
    return cfg;
  }

 private:
  bool full() const { return errors_.size() >= kMaxErrors; }

  void add(const Value& at, std::string text) {
    if (full()) return;
    const auto f = files_.find(at.location().file_name());
    errors_.push_back(
        Error{at.location().line(), std::move(text), f == files_.end() ? 0 : f->second});
  }

  static Value* main_switch(Value& root, const std::string& name) {
    auto& t = root.as_table();
    const auto sw = t.find("switch");
    if (sw == t.end() || !sw->second.is_array()) return nullptr;
    for (Value& s : sw->second.as_array()) {
      if (!s.is_table()) continue;
      const Value* n = lookup(s, "name");
      if (n != nullptr && n->is_string() && n->as_string().str == name) return &s;
    }
    return nullptr;
  }

  // Takes the [[switch.KEY]] table `name` (a port or a mirror) out of the merged document;
  // false if no switch has it.
  static bool take_table(Value& root, const std::string& key, const std::string& name) {
    auto& t = root.as_table();
    const auto sw = t.find("switch");
    if (sw == t.end() || !sw->second.is_array()) return false;
    for (Value& s : sw->second.as_array()) {
      if (!s.is_table()) continue;
      auto& st = s.as_table();
      const auto ports = st.find(key);
      if (ports == st.end() || !ports->second.is_array()) continue;
      auto& arr = ports->second.as_array();
      for (auto it = arr.begin(); it != arr.end(); ++it) {
        if (!it->is_table()) continue;
        const Value* n = lookup(*it, "name");
        if (n != nullptr && n->is_string() && n->as_string().str == name) {
          arr.erase(it);
          return true;
        }
      }
    }
    return false;
  }

  // [remove] ports = ["vm2", ...], mirrors = ["m1", ...]: ports and mirrors of the main file or
  // of an earlier drop-in, removed.
  void remove_ports(Value& root, const Value& rm, const std::string& file, LoadResult& out) {
    const std::string ctx = "drop-in [remove]";
    const std::string hint =
        "[remove] ports = [\"NAME\", ...], mirrors = [\"NAME\", ...]: ports and mirrors defined "
        "by the main file or an earlier drop-in that this configuration leaves out";
    if (!rm.is_table()) {
      type_mismatch(rm, "drop-in", "remove", "a table", hint);
      return;
    }
    check_keys(rm, kRemoveKeys, ctx, "[remove]");
    remove_listed(root, rm, "ports", "port", hint, file, out.removals[file], out);
    remove_listed(root, rm, "mirrors", "mirror", hint, file, out.mirror_removals[file], out);
  }

  void remove_listed(Value& root, const Value& rm, const std::string& key, const std::string& what,
                     const std::string& hint, const std::string& file,
                     std::vector<std::string>& listed, LoadResult& out) {
    const std::string ctx = "drop-in [remove]";
    const Value* names = lookup(rm, key);
    if (names == nullptr) return;
    if (!names->is_array()) {
      type_mismatch(*names, ctx, key, "an array of strings", hint);
      return;
    }
    for (const Value& p : names->as_array()) {
      if (!p.is_string()) {
        type_mismatch(p, ctx, key + " entries", "strings", hint);
        continue;
      }
      const std::string& name = p.as_string().str;
      listed.push_back(name);
      if (!take_table(root, what, name)) {
        out.notes.push_back("note: " + file + ":" + std::to_string(p.location().line()) +
                            ": [remove] lists " + what + " " + show(name) +
                            ", which neither the main file nor an earlier drop-in defines: "
                            "nothing to remove (delete the entry if the " +
                            what + " is gone for good)");
      }
    }
  }

  void report(const Value& at, const std::string& ctx, const std::string& message,
              const std::string& comment, const std::string& hint) {
    if (full()) return;
    add(at, toml::format_error("[error] " + ctx + ": " + message, at, comment, {hint}, false));
  }

  // A problem at `at` that relates to an earlier value `first` (duplicates, conflicts).
  void report2(const Value& first, const std::string& first_comment, const Value& at,
               const std::string& ctx, const std::string& message, const std::string& comment,
               const std::string& hint) {
    if (full()) return;
    add(at, toml::format_error("[error] " + ctx + ": " + message, first, first_comment, at, comment,
                               {hint}, false));
  }

  // Reports the keys of `table` that are not `allowed`, except those in `reported` (the caller
  // reported them with a better message).
  void check_keys(const Value& table, const std::vector<std::string_view>& allowed,
                  const std::string& ctx, const std::string& where,
                  const std::vector<std::string_view>& reported = {}) {
    for (const auto& [key, value] : table.as_table()) {
      if (full()) return;
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      if (std::find(reported.begin(), reported.end(), key) != reported.end()) continue;
      std::string hint = "allowed keys in " + where + ": " + join(allowed);
      if (key.size() <= 32) {
        for (auto candidate : allowed) {
          if (edit_distance(key, candidate) <= 2) {
            hint += "; did you mean \"" + std::string(candidate) + "\"?";
            break;
          }
        }
      }
      report(value, ctx, "unknown key " + show(key), "value of the unknown key", hint);
    }
  }

  void type_mismatch(const Value& v, const std::string& ctx, const std::string& key,
                     const char* wanted, const std::string& hint) {
    report(v, ctx, key + " must be " + wanted, "this is " + std::string(type_name(v)), hint);
  }

  // Integer key in lo..hi. The value is range-checked as int64 before it is narrowed.
  Got get_int(const Value& table, const std::string& key, std::int64_t lo, std::int64_t hi,
              const std::string& ctx, const std::string& meaning, int& out) {
    const Value* v = lookup(table, key);
    if (v == nullptr) return Got::absent;
    const std::string hint =
        key + ": an integer " + std::to_string(lo) + ".." + std::to_string(hi) + ", " + meaning;
    if (!v->is_integer()) {
      type_mismatch(*v, ctx, key, "an integer", hint);
      return Got::bad;
    }
    const std::int64_t x = v->as_integer();
    if (x < lo || x > hi) {
      report(*v, ctx, key + " must be " + std::to_string(lo) + ".." + std::to_string(hi),
             "got " + std::to_string(x), hint);
      return Got::bad;
    }
    out = static_cast<int>(x);
    return Got::ok;
  }

  // String key whose content is checked by `problem` (returns an empty string if fine).
  template <class Check>
  Got get_string(const Value& table, const std::string& key, const std::string& ctx,
                 const std::string& hint, Check problem, std::string& out) {
    const Value* v = lookup(table, key);
    if (v == nullptr) return Got::absent;
    if (!v->is_string()) {
      type_mismatch(*v, ctx, key, "a string", hint);
      return Got::bad;
    }
    const std::string& s = v->as_string().str;
    if (const std::string why = problem(s); !why.empty()) {
      report(*v, ctx, key + " " + why, "got " + show(s), hint);
      return Got::bad;
    }
    out = s;
    return Got::ok;
  }

  Got get_bool(const Value& table, const std::string& key, const std::string& ctx,
               const std::string& hint, bool& out) {
    const Value* v = lookup(table, key);
    if (v == nullptr) return Got::absent;
    if (!v->is_boolean()) {
      type_mismatch(*v, ctx, key, "true or false", hint);
      return Got::bad;
    }
    out = v->as_boolean();
    return Got::ok;
  }

  // metrics_basic_auth_users = { name = "$2b$10$..." }: Prometheus's web config `basic_auth_users`.
  void basic_auth_users(const Value& t, const std::string& ctx,
                        std::map<std::string, std::string>& out) {
    const Value* v = lookup(t, "metrics_basic_auth_users");
    if (v == nullptr) return;
    const std::string hint =
        "metrics_basic_auth_users: a table of user = \"bcrypt hash\" (\"$2b$...\", 60 characters, "
        "as made by `htpasswd -nBC 10 USER` or `mkpasswd -m bcrypt`); scrapes must then log in";
    if (!v->is_table()) {
      type_mismatch(*v, ctx, "metrics_basic_auth_users", "a table", hint);
      return;
    }
    for (const auto& [user, hash] : v->as_table()) {
      if (user.empty() || user.find(':') != std::string::npos) {
        report(hash, ctx, "metrics_basic_auth_users: a user name must be non-empty, without ':'",
               "got " + show(user), hint);
        continue;
      }
      std::string h;
      get_string(
          *v, user, ctx + ".metrics_basic_auth_users", hint,
          [](const std::string& s) {
            const bool bcrypt = s.size() == 60 && s[0] == '$' && s[1] == '2' &&
                                (s[2] == 'a' || s[2] == 'b' || s[2] == 'y') && s[3] == '$';
            return bcrypt ? std::string() : "must be a bcrypt hash";
          },
          h);
      if (!h.empty()) out[user] = h;
    }
  }

  // -- [daemon] --------------------------------------------------------------------------------

  void daemon(const Value& t, DaemonConfig& d) {
    const std::string ctx = "daemon";
    check_keys(t, kDaemonKeys, ctx, "[daemon]");

    get_string(
        t, "file_prefix", ctx,
        "file_prefix: 1..32 characters [A-Za-z0-9_-], the EAL --file-prefix (default \"vswitch\")",
        [](const std::string& s) {
          return is_word(s, 32, "_-") ? std::string() : "must be 1..32 characters [A-Za-z0-9_-]";
        },
        d.file_prefix);
    const Got workers = get_int(t, "workers", 1, 16, ctx,
                                "the number of forwarding worker processes (default 1)", d.workers);
    const Got main_core =
        get_int(t, "main_core", 0, 1023, ctx,
                "the EAL main lcore, not one of worker_cores (default 0)", d.main_core);
    get_string(
        t, "metrics_listen", ctx,
        "metrics_listen: \"IPv4:port\" or \"[IPv6]:port\" with port 1..65535, where the Prometheus "
        "exporter listens (default \"127.0.0.1:9464\"); host names are not resolved",
        listen_problem, d.metrics_listen);
    get_string(
        t, "runtime_dir", ctx,
        "runtime_dir: an absolute path of at most 255 characters, where the pid file goes (default "
        "\"/run/vswitch\")",
        absolute_path_problem(255, ""), d.runtime_dir);
    get_int(t, "mbufs_per_worker", 1023, 1048575, ctx,
            "packet buffers in each worker's mempool, best 2^n - 1 (default 8191)",
            d.mbufs_per_worker);
    get_int(t, "restart_backoff_ms", 1, 60000, ctx,
            "the first delay before a crashed worker is restarted, in ms (default 100)",
            d.restart_backoff_ms);
    get_string(
        t, "control_socket", ctx,
        "control_socket: an absolute path of at most 107 characters for vswitchctl's unix socket "
        "(default \"<runtime_dir>/vswitchd.sock\")",
        absolute_path_problem(107, " (sun_path)"), d.control_socket);
    get_int(t, "actor_threads", 1, 64, ctx,
            "threads of the control plane's actor system (default 2)", d.actor_threads);
    get_int(t, "crash_loop_limit", 1, 100, ctx,
            "crashes in a row (each within 10 s of its start) after which a worker is given up and "
            "its queues move to the other workers (default 5)",
            d.crash_loop_limit);
    get_int(t, "control_max_clients", 1, 4096, ctx,
            "vswitchctl connections served at once; at the cap the oldest one that has not sent "
            "its request yet is closed, else the new one is refused (default 64)",
            d.control_max_clients);
    get_int(t, "control_request_timeout_ms", 100, 600000, ctx,
            "time a control client has to send its whole request, in ms (default 5000)",
            d.control_request_timeout_ms);
    get_int(t, "metrics_max_connections", 1, 4096, ctx,
            "HTTP connections to the metrics endpoint at once (default 64)",
            d.metrics_max_connections);
    get_int(t, "metrics_request_timeout_ms", 100, 600000, ctx,
            "time an HTTP client has to send its whole request head, in ms (default 5000)",
            d.metrics_request_timeout_ms);
    get_int(t, "metrics_threads", 1, 16, ctx, "threads that render scrapes (default 2)",
            d.metrics_threads);
    basic_auth_users(t, ctx, d.metrics_basic_auth_users);
    get_int(t, "worker_stall_ms", 200, 60000, ctx,
            "the time a running worker may go without a heartbeat (it beats every 50 ms) before "
            "it is killed as stalled and restarted, in ms (default 500)",
            d.worker_stall_ms);

    const Value* cores = lookup(t, "worker_cores");
    if (cores == nullptr) return;
    const std::string cores_hint =
        "worker_cores: one distinct CPU core 0..1023 per worker, none equal to main_core; leave it "
        "out to let the EAL choose";
    if (!cores->is_array()) {
      type_mismatch(*cores, ctx, "worker_cores", "an array of integers", cores_hint);
      return;
    }
    std::map<std::int64_t, const Value*> seen;
    bool elements_ok = true;
    for (const Value& c : cores->as_array()) {
      if (!c.is_integer()) {
        type_mismatch(c, ctx, "worker_cores entries", "integers", cores_hint);
        elements_ok = false;
        continue;
      }
      const std::int64_t x = c.as_integer();
      if (x < 0 || x > 1023) {
        report(c, ctx, "worker_cores entries must be 0..1023", "got " + std::to_string(x),
               cores_hint);
        elements_ok = false;
        continue;
      }
      if (const auto [it, inserted] = seen.emplace(x, &c); !inserted) {
        report2(*it->second, "first here", c, ctx,
                "core " + std::to_string(x) + " is listed twice in worker_cores", "again here",
                cores_hint);
        elements_ok = false;
        continue;
      }
      if (main_core == Got::ok && x == d.main_core) {
        report2(c, "worker core", *lookup(t, "main_core"), ctx,
                "main_core " + std::to_string(x) + " is also in worker_cores", "main_core",
                cores_hint);
        elements_ok = false;
      } else if (main_core == Got::absent && x == d.main_core) {
        report(c, ctx,
               "worker_cores includes core " + std::to_string(x) + ", the main_core (default " +
                   std::to_string(d.main_core) + ")",
               "also the main core", cores_hint + "; or set main_core to a free core");
        elements_ok = false;
      }
    }
    const std::size_t count = cores->as_array().size();
    if (workers != Got::bad && count != static_cast<std::size_t>(d.workers)) {
      report(*cores, ctx,
             "worker_cores has " + std::to_string(count) + " entries but workers = " +
                 std::to_string(d.workers) + (workers == Got::absent ? " (the default)" : ""),
             "one core per worker needed", cores_hint);
      elements_ok = false;
    }
    if (elements_ok && workers != Got::bad) {
      for (const Value& c : cores->as_array())
        d.worker_cores.push_back(static_cast<int>(c.as_integer()));
    }
  }

  // -- [[switch]] ------------------------------------------------------------------------------

  void switch_table(const Value& t, std::size_t index, Config& cfg) {
    std::string ctx = "switch #" + std::to_string(index);
    if (!t.is_table()) {
      report(t, ctx, "each switch must be a table", "this is " + std::string(type_name(t)),
             "write each switch under its own [[switch]] header");
      return;
    }
    SwitchConfig sc;
    const std::string name_hint = "name: 1..31 characters [A-Za-z0-9_-], unique among the switches";
    const Got name = get_string(
        t, "name", ctx, name_hint,
        [](const std::string& s) {
          return is_word(s, 31, "_-") ? std::string() : "must be 1..31 characters [A-Za-z0-9_-]";
        },
        sc.name);
    if (name == Got::absent) {
      report(t, ctx, "missing key \"name\"", "this switch has no name",
             "every [[switch]] needs name = \"...\"; " + name_hint);
    } else if (name == Got::ok) {
      ctx = "switch " + show(sc.name);
      const Value& nv = *lookup(t, "name");
      if (const auto [it, inserted] = switch_names_.emplace(sc.name, &nv); !inserted) {
        report2(*it->second, "first defined here", nv, ctx, "duplicate switch name",
                "defined again here", "switch names must be unique");
      }
    }
    check_keys(t, kSwitchKeys, ctx, "[[switch]]");
    get_int(t, "fdb_max_entries", 1, 1048576, ctx,
            "the most MAC addresses this switch's FDB holds (default 8192)", sc.fdb_max_entries);
    get_int(t, "fdb_aging_s", 10, 86400, ctx,
            "seconds after which an unseen learned MAC is forgotten (default 300)", sc.fdb_aging_s);
    get_int(t, "mac_limit_per_port", 0, 1048576, ctx,
            "the most MACs learned on one port, 0 for no limit (default 0)", sc.mac_limit_per_port);

    if (const Value* ports = lookup(t, "port")) {
      if (!ports->is_array()) {
        report(*ports, ctx, "port must be an array of tables",
               "this is " + std::string(type_name(*ports)),
               "write each port under its own [[switch.port]] header (double brackets)");
      } else {
        std::size_t pindex = 0;
        for (const Value& p : ports->as_array()) {
          if (full()) break;
          ++pindex;
          if (++total_ports_ == kMaxPorts + 1) {
            report(p, ctx, "too many ports: at most 256 in total", "port #257",
                   "spread the ports over more daemons");
          }
          port_table(p, ctx, pindex, sc);
        }
      }
    }
    static_fdb(t, ctx, sc);
    // Mirrors are read once every switch is: their checks look at every switch's ports.
    if (const Value* m = lookup(t, "mirror")) pending_mirrors_.emplace_back(m, cfg.switches.size());
    cfg.switches.push_back(std::move(sc));
  }

  // -- [[switch.port]] -------------------------------------------------------------------------

  void port_table(const Value& t, const std::string& switch_ctx, std::size_t index,
                  SwitchConfig& sc) {
    std::string ctx = switch_ctx + " port #" + std::to_string(index);
    if (!t.is_table()) {
      report(t, ctx, "each port must be a table", "this is " + std::string(type_name(t)),
             "write each port under its own [[switch.port]] header");
      return;
    }
    PortConfig pc;
    const std::string name_hint =
        "name: the TAP netdev name, 1..15 characters [A-Za-z0-9_.-], not \".\" or \"..\", "
        "unique among all ports of all switches";
    const Got name = get_string(t, "name", ctx, name_hint, ifname_problem, pc.name);
    if (name == Got::absent) {
      report(t, ctx, "missing key \"name\"", "this port has no name",
             "every [[switch.port]] needs name = \"...\"; " + name_hint);
    } else if (name == Got::ok) {
      ctx = "port " + show(pc.name);
      const Value& nv = *lookup(t, "name");
      port_files_.emplace(pc.name, nv.location().file_name());
      if (const auto [it, inserted] = port_names_.emplace(pc.name, &nv); !inserted) {
        report2(*it->second, "first defined here", nv, ctx, "duplicate port name",
                "defined again here",
                "port names are netdev names: unique among all ports of all switches (a port "
                "belongs to one switch)");
      }
    }
    check_keys(t, kPortKeys, ctx, "[[switch.port]]");
    // A vxlan port has no netdev: vxlan_excludes() reports the keys of one, which are not read.
    const Value* vxlan_table = lookup(t, "vxlan");
    const bool vx = vxlan_table != nullptr && vxlan_table->is_table();

    Got driver = Got::absent;
    if (!vx) {
      driver = get_string(
          t, "driver", ctx,
          "driver: \"tap\" (DPDK net_tap) or \"rtap\" (our io_uring net_rtap), default \"tap\"",
          [](const std::string& s) {
            return (s == "tap" || s == "rtap") ? std::string() : "must be \"tap\" or \"rtap\"";
          },
          pc.driver);
    }
    const Got queues =
        get_int(t, "queues", 1, 16, ctx, "the number of RX/TX queue pairs (default 1)", pc.queues);
    get_int(t, "mtu", 68, 65518, ctx, "the netdev MTU in bytes (default 1500)", pc.mtu);
    if (vx) {
      vxlan_vlan(t, ctx, pc);
      vxlan(t, ctx, pc);
      vxlan_excludes(t, ctx, queues, pc);
      sc.ports.push_back(std::move(pc));
      return;
    }
    vxlan(t, ctx, pc);  // here only to report a vxlan that is not a table
    std::string mac_normalized;
    if (get_string(
            t, "mac", ctx,
            "mac: six hex octets like \"02:00:00:00:00:01\", unicast (the lowest bit of the first "
            "octet clear) and not all zeros; leave it out to let the kernel pick",
            [&mac_normalized](const std::string& s) { return mac_problem(s, mac_normalized); },
            pc.mac) == Got::ok) {
      pc.mac = mac_normalized;
    }
    get_string(
        t, "netns", ctx,
        "netns: a named network namespace (/run/netns/NAME, created if absent), 1..64 characters "
        "[A-Za-z0-9_.-], not \".\" or \"..\"; leave it out to stay in the daemon's namespace",
        [](const std::string& s) {
          if (!is_word(s, 64, "_.-")) return std::string("must be 1..64 characters [A-Za-z0-9_.-]");
          if (s == "." || s == "..") return std::string("must not be \".\" or \"..\"");
          return std::string();
        },
        pc.netns);
    addresses(t, ctx, pc);
    const std::string persist_hint =
        "persist: true keeps the TAP when the daemon exits; only driver \"rtap\" supports it "
        "(default false)";
    if (get_bool(t, "persist", ctx, persist_hint, pc.persist) == Got::ok && pc.persist &&
        driver != Got::bad && pc.driver == "tap") {
      report(
          *lookup(t, "persist"), ctx, "persist needs driver = \"rtap\"",
          driver == Got::absent ? "the driver is \"tap\" (the default)" : "the driver is \"tap\"",
          persist_hint);
    }
    vlans(t, ctx, pc);
    vm_attachment(t, ctx, pc);
    uplink(t, ctx, pc);
    security(t, ctx, pc.security);
    storm_control(t, ctx, pc);
    bandwidth(t, "inbound", ctx, pc.inbound);
    bandwidth(t, "outbound", ctx, pc.outbound);
    sc.ports.push_back(std::move(pc));
  }

  // inbound / outbound = { average = KB/s, peak = KB/s, burst = KB } (libvirt's <bandwidth>).
  void bandwidth(const Value& t, const std::string& key, const std::string& ctx, Bandwidth& out) {
    const Value* v = lookup(t, key);
    if (v == nullptr) return;
    const std::string hint =
        key + ": a table { average = KB/s, peak = KB/s, burst = KB } as libvirt's <bandwidth> " +
        (key == "inbound" ? "inbound (traffic to the VM)" : "outbound (traffic from the VM)") +
        "; average is required, peak (>= average) and burst are optional";
    if (!v->is_table()) return type_mismatch(*v, ctx, key, "a table", hint);
    check_keys(*v, kBandwidthKeys, ctx, key);
    const std::string kctx = ctx + " " + key;
    const Got avg = get_int(*v, "average", 1, 100000000, kctx,
                            "the long-term rate in KB/s (1 KB = 1000 bytes)", out.average);
    if (avg == Got::absent) report(*v, kctx, "missing key \"average\"", "no average", hint);
    if (get_int(*v, "peak", 1, 100000000, kctx, "the short-term rate in KB/s, at least average",
                out.peak) == Got::ok &&
        avg == Got::ok && out.peak < out.average) {
      report(*lookup(*v, "peak"), kctx, "peak must be at least average",
             "got " + std::to_string(out.peak) + " < " + std::to_string(out.average), hint);
    }
    get_int(*v, "burst", 1, 4000000, kctx,
            "KB (1024 bytes) that may pass at once at the peak rate; default 100 ms of average",
            out.burst);
  }

  // storm_control = { broadcast = N, multicast = N, unknown_unicast = N }, frames per second.
  void storm_control(const Value& t, const std::string& ctx, PortConfig& pc) {
    const Value* sc = lookup(t, "storm_control");
    if (sc == nullptr) return;
    if (!sc->is_table()) {
      type_mismatch(*sc, ctx, "storm_control", "a table",
                    "storm_control: a table of frames per second the port may send, e.g. "
                    "{ broadcast = 1000, multicast = 5000, unknown_unicast = 1000 }");
      return;
    }
    check_keys(*sc, kStormKeys, ctx, "storm_control");
    const std::string meaning =
        "frames per second the port may send of that kind, the excess is dropped; 0 drops them "
        "all, leave the key out for no limit";
    get_int(*sc, "broadcast", 0, 100000000, ctx + " storm_control", meaning, pc.storm.broadcast);
    get_int(*sc, "multicast", 0, 100000000, ctx + " storm_control", meaning, pc.storm.multicast);
    get_int(*sc, "unknown_unicast", 0, 100000000, ctx + " storm_control", meaning,
            pc.storm.unknown_unicast);
  }

  // [switch.port.vm]: the VM side of the port's netdev, made and removed with the port.
  void vm_attachment(const Value& t, const std::string& ctx, PortConfig& pc) {
    const Value* vm = lookup(t, "vm");
    if (vm == nullptr) return;
    const std::string hint =
        "vm: a table with one key, macvtap = \"NAME\" (a passthru macvtap on the port's netdev, "
        "for QEMU -netdev tap,fd= or libvirt type='direct') or tap = \"NAME\" (a TAP the VM's "
        "stack opens, e.g. libvirt type='ethernet', paired with the netdev by tc); NAME is 1..15 "
        "characters [A-Za-z0-9_.-], unique among all netdevs of the file";
    if (!vm->is_table()) {
      type_mismatch(*vm, ctx, "vm", "a table", hint);
      return;
    }
    check_keys(*vm, kVmKeys, ctx, "[switch.port.vm]");
    const Got mvt = get_string(*vm, "macvtap", ctx, hint, ifname_problem, pc.vm_macvtap);
    const Got tap = get_string(*vm, "tap", ctx, hint, ifname_problem, pc.vm_tap);
    if (vm->as_table().empty()) {
      report(*vm, ctx, "vm needs macvtap or tap", "this table is empty", hint);
    } else if (mvt != Got::absent && tap != Got::absent) {
      report(*vm, ctx, "vm takes macvtap or tap, not both", "both are set", hint);
    }
    if (const Value* ns = lookup(t, "netns")) {
      report(*ns, ctx, "netns and vm exclude each other", "this port also has a vm table",
             "a VM's port stays in the daemon's namespace, where QEMU or libvirt open it; use "
             "netns for containers");
    }
    if (const Value* a = lookup(t, "addresses")) {
      report(*a, ctx, "addresses and vm exclude each other", "this port also has a vm table",
             "the port's netdev is the VM's wire: give the addresses to the guest's NIC");
    }
    for (const std::string* name : {&pc.vm_macvtap, &pc.vm_tap}) {
      if (name->empty()) continue;
      const Value& at = *lookup(*vm, name == &pc.vm_macvtap ? "macvtap" : "tap");
      vm_links_.emplace_back(*name, &at, ctx);
    }
  }

  // [switch.port.uplink]: the port's netdev joins a kernel bridge (beside a VXLAN device that FRR
  // manages, docs/evpn.md) when the port comes up.
  void uplink(const Value& t, const std::string& ctx, PortConfig& pc) {
    const Value* up = lookup(t, "uplink");
    if (up == nullptr) return;
    const std::string hint =
        "uplink: a table with one key, bridge = \"NAME\": the kernel bridge, in the port's netns "
        "(or the daemon's namespace without netns), that the port's netdev joins, e.g. the "
        "bridge of a VXLAN device managed by FRR (docs/evpn.md); NAME is 1..15 characters "
        "[A-Za-z0-9_.-]";
    if (!up->is_table()) {
      type_mismatch(*up, ctx, "uplink", "a table", hint);
      return;
    }
    check_keys(*up, kUplinkKeys, ctx, "[switch.port.uplink]");
    const Got br = get_string(*up, "bridge", ctx, hint, ifname_problem, pc.uplink_bridge);
    if (br == Got::absent) report(*up, ctx, "uplink needs bridge", "no bridge here", hint);
    if (const Value* vm = lookup(t, "vm")) {
      report(*vm, ctx, "uplink and vm exclude each other", "this port also has an uplink table",
             "an uplink joins a kernel bridge; a VM attaches to a port of its own");
    }
    if (const Value* a = lookup(t, "addresses");
        a != nullptr && a->is_array() && !a->as_array().empty()) {
      report(*a, ctx, "addresses and uplink exclude each other",
             "this port also has an uplink table",
             "a bridge port carries no address of its own: give the host's address to the "
             "bridge or to the underlay, or write addresses = []");
    }
  }

  // [switch.port.vxlan]: the port is a VXLAN tunnel that the workers encapsulate and decapsulate
  // over UDP (docs/evpn.md, step two). Its VNI and local:udp_port are checked across the file by
  // vxlan_unique().
  void vxlan(const Value& t, const std::string& ctx, PortConfig& pc) {
    const Value* vx = lookup(t, "vxlan");
    if (vx == nullptr) return;
    const std::string hint =
        "vxlan: a table { vni = 1..16777215, local = \"A.B.C.D\" (the local VTEP, an IPv4 "
        "address of underlay), underlay = \"NETDEV\" (the netdev that carries the tunnel), "
        "udp_port = 1..65535 (default 4789), remotes = [\"A.B.C.D\", ...] (1..16 remote VTEPs), or "
        "evpn = true instead of remotes (the remote VTEPs and MACs from BGP EVPN) }";
    if (!vx->is_table()) return type_mismatch(*vx, ctx, "vxlan", "a table", hint);
    check_keys(*vx, kVxlanKeys, ctx, "[switch.port.vxlan]");
    const std::string vctx = ctx + " vxlan";
    VxlanConfig& c = pc.vxlan;
    const Got vni = get_int(*vx, "vni", 1, 16777215, vctx,
                            "the VXLAN network identifier, unique among the vxlan ports", c.vni);
    if (vni == Got::absent) report(*vx, ctx, "vxlan needs vni", "no vni here", hint);
    std::string local_normalized;
    const Got local = get_string(
        *vx, "local", vctx,
        "local: the local VTEP, an IPv4 unicast address of underlay in dotted form like "
        "\"10.99.0.1\" (IPv6 is not supported yet); the tunnel's datagrams are sent from it",
        [&local_normalized](const std::string& s) { return vtep_problem(s, local_normalized); },
        c.local);
    if (local == Got::ok) c.local = local_normalized;
    if (local == Got::absent) report(*vx, ctx, "vxlan needs local", "no local here", hint);
    const Got underlay = get_string(
        *vx, "underlay", vctx,
        "underlay: the netdev that carries the tunnel, e.g. \"eth1\", 1..15 characters "
        "[A-Za-z0-9_.-]; its MTU must be at least the port's mtu + 50 (checked when the port "
        "starts)",
        ifname_problem, c.underlay);
    if (underlay == Got::absent) report(*vx, ctx, "vxlan needs underlay", "no underlay here", hint);
    const Got udp_port = get_int(*vx, "udp_port", 1, 65535, vctx,
                                 "the UDP port of the tunnel, the same on every VTEP (default "
                                 "4789, the IANA port of RFC 7348)",
                                 c.udp_port);
    const Got evpn = get_bool(*vx, "evpn", vctx,
                              "evpn = true: the remote VTEPs and MACs come from BGP EVPN (FRR's "
                              "zebra, docs/evpn.md) instead of remotes",
                              c.evpn);
    if (evpn == Got::ok && c.evpn) {
      if (const Value* r = lookup(*vx, "remotes"))
        report(*r, vctx, "remotes and evpn = true exclude each other",
               "with evpn = true, zebra says where the remote VTEPs are",
               "remove remotes (EVPN's type-3 routes give the flood list), or remove evpn for "
               "a static flood list");
    } else if (evpn != Got::bad) {
      vxlan_remotes(*vx, ctx, hint, local == Got::ok ? lookup(*vx, "local") : nullptr, c);
    }
    if (vni == Got::ok && local == Got::ok && udp_port != Got::bad) {
      vxlan_ports_.push_back(VxlanAt{pc.name, ctx, lookup(*vx, "vni"), lookup(*vx, "local"),
                                     lookup(*vx, "udp_port"), c.vni, c.local, c.udp_port});
    }
  }

  // vxlan remotes: the remote VTEPs, where flooded frames go (head-end replication). `local`: the
  // port's local value if it is valid, else nullptr.
  void vxlan_remotes(const Value& vx, const std::string& ctx, const std::string& vxlan_hint,
                     const Value* local, VxlanConfig& c) {
    const Value* r = lookup(vx, "remotes");
    if (r == nullptr) return report(vx, ctx, "vxlan needs remotes", "no remotes here", vxlan_hint);
    const std::string vctx = ctx + " vxlan";
    const std::string hint =
        "remotes: the remote VTEPs, an array of 1..16 IPv4 unicast addresses like "
        "[\"10.99.0.2\", \"10.99.0.3\"], each once and none the local one; flooded frames go to "
        "each of them";
    if (!r->is_array()) return type_mismatch(*r, vctx, "remotes", "an array of strings", hint);
    if (r->as_array().empty())
      return report(*r, vctx, "remotes must not be empty", "this array is empty", hint);
    std::map<std::string, const Value*> seen;
    for (const Value& e : r->as_array()) {
      if (!e.is_string()) {
        type_mismatch(e, vctx, "remotes entries", "strings", hint);
        continue;
      }
      std::string normalized;
      const std::string& s = e.as_string().str;
      if (const std::string why = vtep_problem(s, normalized); !why.empty()) {
        report(e, vctx, "remotes entry " + show(s) + " " + why, "invalid entry", hint);
      } else if (const auto [it, inserted] = seen.emplace(normalized, &e); !inserted) {
        report2(*it->second, "first here", e, vctx, "remotes lists " + show(s) + " twice",
                "again here", hint);
      } else if (local != nullptr && normalized == c.local) {
        report2(*local, "local", e, vctx, "remotes entry " + show(s) + " is the local VTEP",
                "also local", hint);
      } else if (c.remotes.size() == kMaxVxlanRemotes) {
        report(e, vctx, "too many remotes: at most 16", "one too many", hint);
        return;
      } else {
        c.remotes.push_back(normalized);
      }
    }
  }

  // The keys of a netdev, a trunk and per-port policy, refused on a vxlan port (vlans() reports
  // the trunk's). addresses = [], persist = false and the policy's empty lists and false flags are
  // the defaults, and allowed; queues only as 1.
  void vxlan_excludes(const Value& t, const std::string& ctx, Got queues, const PortConfig& pc) {
    const std::string comment = "this port also has a vxlan table";
    const std::string no_netdev =
        "a vxlan port has no netdev of its own (the workers send and receive its frames over a "
        "UDP socket on vxlan.local): ";
    struct Excluded {
      const char* key;
      bool default_allowed;  // false or [] is allowed
      const char* fix;
    };
    static const Excluded kNetdev[] = {
        {"driver", false, "no driver either; remove driver"},
        {"mac", false, "no MAC of its own either; remove mac"},
        {"netns", false, "nothing to move into a namespace; remove netns"},
        {"addresses", true,
         "the tunnel's address is vxlan.local, an address of underlay; remove addresses (or "
         "write addresses = [])"},
        {"persist", true, "no TAP to keep; remove persist"},
        {"vm", false,
         "no VM can attach to it; give the VM a port of its own in the same switch and VLAN"},
        {"uplink", false,
         "it joins no kernel bridge; use either an uplink into a bridge with a kernel VXLAN "
         "device (docs/evpn.md, step one) or a vxlan port (step two)"},
    };
    const auto is_default = [](const Value& v) {
      return (v.is_boolean() && !v.as_boolean()) || (v.is_array() && v.as_array().empty());
    };
    for (const Excluded& x : kNetdev) {
      const Value* v = lookup(t, x.key);
      if (v == nullptr || (x.default_allowed && is_default(*v))) continue;
      report(*v, ctx, std::string(x.key) + " and vxlan exclude each other", comment,
             no_netdev + x.fix);
    }
    if (queues == Got::ok && pc.queues != 1) {
      report(*lookup(t, "queues"), ctx, "queues and vxlan exclude each other",
             "got " + std::to_string(pc.queues),
             no_netdev + "no queues either; remove queues (or write queues = 1)");
    }
    static const Excluded kPolicy[] = {
        {"allowed_macs", true, nullptr},      {"allowed_ips", true, nullptr},
        {"block_dhcp_server", true, nullptr}, {"block_ra", true, nullptr},
        {"isolated", true, nullptr},          {"storm_control", false, nullptr},
        {"inbound", false, nullptr},          {"outbound", false, nullptr},
    };
    for (const Excluded& x : kPolicy) {
      const Value* v = lookup(t, x.key);
      if (v == nullptr || (x.default_allowed && is_default(*v))) continue;
      report(*v, ctx, std::string(x.key) + " and vxlan exclude each other", comment,
             std::string(x.key) +
                 " is not supported on a vxlan port yet; remove it (the ports of the VMs can "
                 "have it)");
    }
  }

  // VNIs are unique among the vxlan ports of the file, and so is local:udp_port (the workers open
  // one UDP socket per vxlan port). Checked once every port is known; the second one is reported.
  void vxlan_unique() {
    std::map<int, const VxlanAt*> vnis;
    std::map<std::pair<std::string, int>, const VxlanAt*> sockets;
    for (const VxlanAt& v : vxlan_ports_) {
      if (const auto [it, inserted] = vnis.emplace(v.vni, &v); !inserted) {
        report2(
            *it->second->vni_at, "the VNI of port " + show(it->second->port), *v.vni_at, v.ctx,
            "vni " + std::to_string(v.vni) + " is also the VNI of port " + show(it->second->port),
            "again here",
            "a VNI is bridged by one vxlan port: give this port another vni, or add its "
            "remotes to port " +
                show(it->second->port));
      }
      if (const auto [it, inserted] = sockets.emplace(std::pair(v.local, v.udp_port), &v);
          !inserted) {
        const VxlanAt& first = *it->second;
        report2(*first.local_at, "port " + show(first.port),
                v.udp_port_at ? *v.udp_port_at : *v.local_at, v.ctx,
                "local " + show(v.local) + " and udp_port " + std::to_string(v.udp_port) +
                    " are also those of port " + show(first.port),
                v.udp_port_at ? "the same udp_port" : "the same local and udp_port (default 4789)",
                "the workers open one UDP socket per vxlan port, on local:udp_port, so two vxlan "
                "ports cannot share both: give the second VNI its own udp_port (e.g. 4790, which "
                "its remote VTEPs must use too) or another local address");
      }
    }
  }

  // The VM's netdev names must not collide with a port or with each other: both are links of
  // the same namespace. Checked once every port is known.
  void vm_link_names() {
    std::map<std::string, const Value*> seen;
    for (const auto& [name, at, ctx] : vm_links_) {
      if (const auto it = port_names_.find(name); it != port_names_.end()) {
        report2(*it->second, "a port of this name", *at, ctx,
                "vm netdev " + show(name) + " has the name of a port", "here",
                "pick another name: both are netdevs of the daemon's namespace");
      } else if (const auto [first, inserted] = seen.emplace(name, at); !inserted) {
        report2(*first->second, "first here", *at, ctx,
                "vm netdev " + show(name) + " is used by two ports", "again here",
                "each VM needs its own macvtap or TAP");
      }
    }
  }

  // vlan_mode, into pc; false if it is not one.
  bool vlan_mode(const Value& t, const std::string& ctx, PortConfig& pc) {
    const std::string mode_hint =
        "vlan_mode: \"access\" (untagged frames of one VLAN, set with vlan) or \"trunk\" (802.1Q "
        "tagged frames of allowed_vlans, untagged ones in native_vlan); default \"access\"";
    const Got mode = get_string(
        t, "vlan_mode", ctx, mode_hint,
        [](const std::string& s) {
          return (s == "access" || s == "trunk") ? std::string()
                                                 : std::string("must be \"access\" or \"trunk\"");
        },
        pc.vlan_mode);
    return mode != Got::bad;
  }

  // A vxlan port is an access port: its VNI is bridged to one VLAN.
  void vxlan_vlan(const Value& t, const std::string& ctx, PortConfig& pc) {
    if (!vlan_mode(t, ctx, pc)) return;
    const bool trunk = pc.vlan_mode == "trunk";
    const std::string hint =
        "a vxlan port is an access port: its VNI is bridged to the one VLAN set with vlan "
        "(default 1); remove vlan_mode = \"trunk\", allowed_vlans and native_vlan";
    if (trunk) {
      report(*lookup(t, "vlan_mode"), ctx, "vlan_mode \"trunk\" and vxlan exclude each other",
             "this port also has a vxlan table", hint);
    }
    for (const char* key : {"allowed_vlans", "native_vlan"}) {
      if (const Value* v = lookup(t, key)) {
        report(*v, ctx, std::string(key) + " and vxlan exclude each other",
               "this port also has a vxlan table", hint);
      }
    }
    if (!trunk) {
      get_int(t, "vlan", 1, 4094, ctx, "the VLAN the port's VNI is bridged to (default 1)",
              pc.vlan);
    }
  }

  // VLAN membership of a port: access (one untagged VLAN) or trunk (tagged VLANs + native).
  void vlans(const Value& t, const std::string& ctx, PortConfig& pc) {
    if (!vlan_mode(t, ctx, pc)) return;
    const bool trunk = pc.vlan_mode == "trunk";
    const Value* vlan = lookup(t, "vlan");
    if (trunk && vlan) {
      report(*vlan, ctx, "vlan applies to access ports", "this port is a trunk",
             "on a trunk, list the tagged VLANs in allowed_vlans and the untagged one in "
             "native_vlan");
    } else {
      get_int(t, "vlan", 1, 4094, ctx, "the VLAN of an access port (default 1)", pc.vlan);
    }
    for (const char* key : {"allowed_vlans", "native_vlan"}) {
      if (!trunk && lookup(t, key)) {
        report(*lookup(t, key), ctx, std::string(key) + " applies to trunk ports",
               "this port is an access port", "set vlan_mode = \"trunk\", or use vlan");
        return;
      }
    }
    get_int(t, "native_vlan", 0, 4094, ctx, "the VLAN of untagged frames on a trunk, 0 for none",
            pc.native_vlan);
    const Value* allowed = lookup(t, "allowed_vlans");
    if (allowed == nullptr) return;
    const std::string hint = "allowed_vlans: an array of VLAN ids 1..4094, e.g. [10, 20, 30]";
    if (!allowed->is_array()) {
      type_mismatch(*allowed, ctx, "allowed_vlans", "an array of integers", hint);
      return;
    }
    for (const Value& v : allowed->as_array()) {
      if (!v.is_integer()) {
        type_mismatch(v, ctx, "allowed_vlans entries", "integers", hint);
      } else if (v.as_integer() < 1 || v.as_integer() > 4094) {
        report(v, ctx, "allowed_vlans entries must be 1..4094",
               "got " + std::to_string(v.as_integer()), hint);
      } else {
        pc.allowed_vlans.push_back(static_cast<int>(v.as_integer()));
      }
    }
  }

  // Anti-spoofing and isolation of a port (switch/policy.hpp).
  void security(const Value& t, const std::string& ctx, PortSecurityConfig& sec) {
    security_list(t, ctx, "allowed_macs", kMaxPolicyMacsConfig,
                  "allowed_macs: the source MACs the port may send from, e.g. "
                  "[\"02:00:00:00:00:01\"], unicast, at most 8; leave it out for any",
                  mac_problem, sec.allowed_macs);
    security_list(t, ctx, "allowed_ips", kMaxPolicyPrefixesConfig,
                  "allowed_ips: the IPv4/IPv6 sources the port may send from, addresses or "
                  "prefixes, e.g. [\"10.0.0.5\", \"10.1.0.0/24\", \"fd00::5\"], at most 16; "
                  "link-local IPv6, DAD and DHCP clients always pass; leave it out for any",
                  allowed_ip_problem, sec.allowed_ips);
    get_bool(t, "block_dhcp_server", ctx,
             "block_dhcp_server: true drops the DHCP and DHCPv6 server replies the port sends "
             "(default false)",
             sec.block_dhcp_server);
    get_bool(t, "block_ra", ctx,
             "block_ra: true drops the IPv6 router advertisements the port sends (default false)",
             sec.block_ra);
    get_bool(t, "isolated", ctx,
             "isolated: true keeps the port from reaching any other isolated port; it still "
             "reaches the others (default false)",
             sec.isolated);
  }

  // An array of strings, each checked and normalized by `problem`, unique, at most `max`.
  void security_list(const Value& t, const std::string& ctx, const std::string& key,
                     std::size_t max, const std::string& hint,
                     std::string (*problem)(const std::string&, std::string&),
                     std::vector<std::string>& out) {
    const Value* list = lookup(t, key);
    if (list == nullptr) return;
    if (!list->is_array()) return type_mismatch(*list, ctx, key, "an array of strings", hint);
    std::map<std::string, const Value*> seen;
    for (const Value& e : list->as_array()) {
      if (!e.is_string()) {
        type_mismatch(e, ctx, key + " entries", "strings", hint);
        continue;
      }
      std::string normalized;
      const std::string& s = e.as_string().str;
      if (const std::string why = problem(s, normalized); !why.empty()) {
        report(e, ctx, key + " entry " + show(s) + " " + why, "invalid entry", hint);
      } else if (const auto [it, inserted] = seen.emplace(normalized, &e); !inserted) {
        report2(*it->second, "first here", e, ctx, key + " lists " + show(s) + " twice",
                "again here", hint);
      } else if (out.size() == max) {
        report(e, ctx, "too many " + key + ": at most " + std::to_string(max), "one too many",
               hint);
        return;
      } else {
        out.push_back(normalized);
      }
    }
  }

  // [[switch.fdb]]: static MAC entries of a switch.
  void static_fdb(const Value& t, const std::string& ctx, SwitchConfig& sc) {
    const Value* fdb = lookup(t, "fdb");
    if (fdb == nullptr) return;
    const std::string hint =
        "[[switch.fdb]] entries: mac = \"02:00:00:00:00:0a\" (unicast), vlan = 1..4094 (default "
        "1), port = the name of a port of this switch";
    if (!fdb->is_array()) {
      type_mismatch(*fdb, ctx, "fdb", "an array of tables ([[switch.fdb]])", hint);
      return;
    }
    for (const Value& e : fdb->as_array()) {
      if (!e.is_table()) {
        type_mismatch(e, ctx, "fdb entries", "tables", hint);
        continue;
      }
      check_keys(e, kStaticFdbKeys, ctx, "[[switch.fdb]]");
      StaticFdbEntry entry;
      std::string normalized;
      const Got mac = get_string(
          e, "mac", ctx, hint,
          [&normalized](const std::string& s) { return mac_problem(s, normalized); }, entry.mac);
      if (mac == Got::absent) report(e, ctx, "static FDB entry without mac", "here", hint);
      if (mac == Got::ok) entry.mac = normalized;
      get_int(e, "vlan", 1, 4094, ctx, "the VLAN of the static entry (default 1)", entry.vlan);
      const Got port = get_string(
          e, "port", ctx, hint, [](const std::string&) { return std::string(); }, entry.port);
      if (port == Got::absent) report(e, ctx, "static FDB entry without port", "here", hint);
      if (port == Got::ok) {
        bool found = false;
        for (const PortConfig& p : sc.ports) found = found || p.name == entry.port;
        if (!found) {
          report(*lookup(e, "port"), ctx,
                 "static FDB entry names port " + show(entry.port) +
                     ", which is not a port of this switch",
                 "unknown port", hint);
          continue;
        }
      }
      if (mac == Got::ok && port == Got::ok) sc.fdb.push_back(entry);
    }
  }

  void addresses(const Value& t, const std::string& ctx, PortConfig& pc) {
    const Value* a = lookup(t, "addresses");
    if (a == nullptr) return;
    const std::string hint =
        "addresses: an array of CIDR strings like [\"10.0.0.1/24\", \"fd00::1/64\"], IPv4 prefix "
        "1..32, IPv6 prefix 1..128, each at most once";
    if (!a->is_array()) {
      type_mismatch(*a, ctx, "addresses", "an array of strings", hint);
      return;
    }
    std::map<std::string, const Value*> seen;
    for (const Value& e : a->as_array()) {
      if (!e.is_string()) {
        type_mismatch(e, ctx, "addresses entries", "strings", hint);
        continue;
      }
      const std::string& s = e.as_string().str;
      if (const std::string why = cidr_problem(s); !why.empty()) {
        report(e, ctx, "address " + show(s) + " " + why, "invalid CIDR", hint);
        continue;
      }
      if (const auto [it, inserted] = seen.emplace(s, &e); !inserted) {
        report2(*it->second, "first here", e, ctx, "address " + show(s) + " is listed twice",
                "again here", hint);
        continue;
      }
      pc.addresses.push_back(s);
    }
  }

  // -- [[switch.mirror]] ------------------------------------------------------------------------

  // Where a parsed mirror's values are, for the checks across mirrors.
  struct MirrorAt {
    const Value* output = nullptr;
    std::vector<std::pair<std::string, const Value*>> sources;  // source port, its value
    std::string ctx;
  };

  void mirror_tables(Config& cfg) {
    std::vector<MirrorAt> parsed;
    for (const auto& [tables, sw] : pending_mirrors_) {
      const std::string ctx = "switch " + show(cfg.switches[sw].name);
      if (!tables->is_array()) {
        type_mismatch(*tables, ctx, "mirror", "an array of tables ([[switch.mirror]])",
                      "write each mirror under its own [[switch.mirror]] header (double brackets)");
        continue;
      }
      std::size_t index = 0;
      for (const Value& t : tables->as_array()) {
        if (full()) return;
        if (++total_mirrors_ == kMaxMirrors + 1)
          report(t, ctx, "too many mirrors: at most 32 in total", "mirror #33",
                 "mirror several sources into one output with one mirror");
        MirrorAt at;
        if (mirror_table(t, ctx, ++index, cfg, sw, at)) parsed.push_back(std::move(at));
      }
    }
    // No loops: an output port receives nothing but mirrored frames, so it is never a source.
    std::map<std::string, const Value*> sources;
    for (const MirrorAt& m : parsed)
      for (const auto& [name, at] : m.sources) sources.emplace(name, at);
    for (const MirrorAt& m : parsed) {
      const std::string& out = m.output->as_string().str;
      if (const auto it = sources.find(out); it != sources.end())
        report2(*it->second, "a mirror source", *m.output, m.ctx,
                "output port " + show(out) + " is also the source of a mirror", "output here",
                "an output port takes no part in forwarding and is never a source (that would "
                "loop): mirror into a port that no mirror reads");
    }
  }

  // One [[switch.mirror]] of switch cfg.switches[sw]; true if it went into the config.
  bool mirror_table(const Value& t, const std::string& switch_ctx, std::size_t index, Config& cfg,
                    std::size_t sw, MirrorAt& at) {
    SwitchConfig& sc = cfg.switches[sw];
    at.ctx = switch_ctx + " mirror #" + std::to_string(index);
    const std::string hint =
        "[[switch.mirror]]: name = \"NAME\" (1..31 characters [A-Za-z0-9_-], unique), "
        "source_ports = [\"PORT\", ...] and/or source_vlans = [VLAN, ...], direction = \"in\", "
        "\"out\" or \"both\" (default), output = \"PORT\" (a port of the same switch)";
    if (!t.is_table()) {
      report(t, at.ctx, "each mirror must be a table", "this is " + std::string(type_name(t)),
             hint);
      return false;
    }
    MirrorConfig mc;
    const std::size_t errors_before = errors_.size();
    const Got name = get_string(
        t, "name", at.ctx, hint,
        [](const std::string& s) {
          return is_word(s, 31, "_-") ? std::string() : "must be 1..31 characters [A-Za-z0-9_-]";
        },
        mc.name);
    if (name == Got::absent) report(t, at.ctx, "missing key \"name\"", "this mirror", hint);
    if (name == Got::ok) {
      at.ctx = "mirror " + show(mc.name);
      const Value& nv = *lookup(t, "name");
      mirror_files_.emplace(mc.name, nv.location().file_name());
      if (const auto [it, inserted] = mirror_names_.emplace(mc.name, &nv); !inserted)
        report2(*it->second, "first defined here", nv, at.ctx, "duplicate mirror name",
                "defined again here", "mirror names are unique among all switches");
    }
    check_keys(t, kMirrorKeys, at.ctx, "[[switch.mirror]]");
    get_string(
        t, "direction", at.ctx, hint,
        [](const std::string& s) {
          return (s == "in" || s == "out" || s == "both") ? std::string()
                                                          : "must be \"in\", \"out\" or \"both\"";
        },
        mc.direction);
    mirror_sources(t, at, sc, cfg, hint, mc);
    const Got output = get_string(
        t, "output", at.ctx, hint, [](const std::string&) { return std::string(); }, mc.output);
    if (output == Got::absent) report(t, at.ctx, "missing key \"output\"", "this mirror", hint);
    if (output == Got::ok) {
      at.output = lookup(t, "output");
      mirror_port(*at.output, at.ctx, "output", sc, cfg, hint);
    }
    if (errors_.size() != errors_before) return false;
    sc.mirrors.push_back(std::move(mc));
    return true;
  }

  void mirror_sources(const Value& t, MirrorAt& at, const SwitchConfig& sc, const Config& cfg,
                      const std::string& hint, MirrorConfig& mc) {
    const Value* ports = lookup(t, "source_ports");
    if (ports != nullptr && !ports->is_array()) {
      type_mismatch(*ports, at.ctx, "source_ports", "an array of strings", hint);
    } else if (ports != nullptr) {
      for (const Value& p : ports->as_array()) {
        if (!p.is_string()) {
          type_mismatch(p, at.ctx, "source_ports entries", "strings", hint);
          continue;
        }
        if (mirror_port(p, at.ctx, "source", sc, cfg, hint)) {
          mc.source_ports.push_back(p.as_string().str);
          at.sources.emplace_back(p.as_string().str, &p);
        }
      }
    }
    const Value* vlans = lookup(t, "source_vlans");
    if (vlans != nullptr && !vlans->is_array()) {
      type_mismatch(*vlans, at.ctx, "source_vlans", "an array of integers", hint);
    } else if (vlans != nullptr) {
      for (const Value& v : vlans->as_array()) {
        if (!v.is_integer()) {
          type_mismatch(v, at.ctx, "source_vlans entries", "integers", hint);
        } else if (v.as_integer() < 1 || v.as_integer() > 4094) {
          report(v, at.ctx, "source_vlans entries must be 1..4094",
                 "got " + std::to_string(v.as_integer()), hint);
        } else {
          mc.source_vlans.push_back(static_cast<int>(v.as_integer()));
        }
      }
    }
    const bool none = (ports == nullptr || (ports->is_array() && ports->as_array().empty())) &&
                      (vlans == nullptr || (vlans->is_array() && vlans->as_array().empty()));
    const Value& where = ports != nullptr ? *ports : (vlans != nullptr ? *vlans : t);
    if (none)
      report(where, at.ctx, "a mirror needs a source", "no source_ports and no source_vlans", hint);
  }

  // A mirror's port name `v` must be a port of switch `sc`; false (reported) if not.
  bool mirror_port(const Value& v, const std::string& ctx, const std::string& role,
                   const SwitchConfig& sc, const Config& cfg, const std::string& hint) {
    const std::string& name = v.as_string().str;
    for (const PortConfig& p : sc.ports) {
      if (p.name != name) continue;
      if (role == "output" && p.is_vxlan()) {
        report(v, ctx, "output port " + show(name) + " is a vxlan port", "a tunnel",
               "a mirror's output is a port a capture tool reads (a TAP); mirror into one");
        return false;
      }
      return true;
    }
    for (const SwitchConfig& other : cfg.switches) {
      for (const PortConfig& p : other.ports) {
        if (p.name != name) continue;
        report(v, ctx,
               role + " port " + show(name) + " is a port of switch " + show(other.name) +
                   ", not of switch " + show(sc.name),
               "another switch's port",
               "a mirror copies frames within its switch: its sources and output are ports of "
               "that switch");
        return false;
      }
    }
    report(v, ctx, role + " port " + show(name) + " is not a port of switch " + show(sc.name),
           "unknown port", hint);
    return false;
  }

  std::vector<Error>& errors_;
  const std::map<std::string, std::size_t>& files_;  // file name -> its index (error order)

 public:
  std::map<std::string, std::string> port_files_;    // port name -> file of its name = "..."
  std::map<std::string, std::string> mirror_files_;  // mirror name -> file of its name = "..."

 private:
  std::map<std::string, const Value*> switch_names_;
  std::map<std::string, const Value*> port_names_;
  std::vector<std::tuple<std::string, const Value*, std::string>> vm_links_;  // name, where, ctx
  struct VxlanAt {  // a valid vxlan table, for vxlan_unique()
    std::string port, ctx;
    const Value* vni_at;
    const Value* local_at;
    const Value* udp_port_at;  // nullptr: the default 4789
    int vni;
    std::string local;
    int udp_port;
  };
  std::vector<VxlanAt> vxlan_ports_;
  std::size_t total_ports_ = 0;
  std::vector<std::pair<const Value*, std::size_t>> pending_mirrors_;  // mirror array, switch
  std::map<std::string, const Value*> mirror_names_;
  std::size_t total_mirrors_ = 0;
};

LoadResult finish(std::vector<Error> errors, std::optional<Config> cfg) {
  LoadResult r;
  std::stable_sort(errors.begin(), errors.end(), [](const Error& a, const Error& b) {
    return std::tie(a.file, a.line) < std::tie(b.file, b.line);
  });
  for (auto& e : errors) r.errors.push_back(std::move(e.text));
  if (r.errors.empty()) r.config = std::move(cfg);
  return r;
}

LoadResult single_error(std::string text) {
  LoadResult r;
  r.errors.push_back(std::move(text));
  return r;
}

struct Source {
  std::string name;  // the file's path (or display name): errors and locations carry it
  std::string text;
};

// Parses every source, merges the drop-ins (sources[1..]) into the main file's document and
// validates the result. A file that cannot be parsed stops the load with its error (each such
// file reports one; the others are not checked).
LoadResult load(const std::vector<Source>& sources, LoadResult out) {
  std::map<std::string, std::size_t> files;
  for (std::size_t i = 0; i < sources.size(); ++i) files.emplace(sources[i].name, i);
  std::vector<Error> errors;
  std::vector<Value> roots;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const std::string& name = sources[i].name;
    const std::string& text = sources[i].text;
    if (text.size() > kMaxFileBytes) {
      errors.push_back(Error{0,
                             "[error] " + name + ": file too large (" +
                                 std::to_string(text.size()) + " bytes; at most " +
                                 std::to_string(kMaxFileBytes) + ")",
                             i});
      continue;
    }
    if (auto bad = precheck(text)) {
      Error e = format_at(name, text, bad->offset, bad->message, bad->hint);
      e.file = i;
      errors.push_back(std::move(e));
      continue;
    }
    try {
      std::istringstream in(text);
      roots.push_back(toml::parse(in, name));
    } catch (const toml::syntax_error& e) {
      std::string what = e.what();
      while (!what.empty() && what.back() == '\n') what.pop_back();
      errors.push_back(Error{0,
                             what + "\nHint: this is not valid TOML (see "
                                    "https://toml.io/en/v1.0.0); fix it first, the settings were "
                                    "not checked yet",
                             i});
    } catch (const std::exception& e) {
      errors.push_back(Error{0, std::string("[error] ") + name + ": cannot parse: " + e.what(), i});
    }
  }
  if (!errors.empty()) return finish(std::move(errors), std::nullopt);
  std::optional<Config> cfg;
  try {
    Validator v(errors, files);
    Value& root = roots[0];
    for (std::size_t i = 1; i < roots.size(); ++i) {
      if (!root.is_table() || !roots[i].is_table()) continue;
      v.merge(root, roots[i], sources[i].name, out);
    }
    cfg = v.run(root);  // also after merge errors: every error at once
    out.port_files = std::move(v.port_files_);
    out.mirror_files = std::move(v.mirror_files_);
  } catch (const std::exception& e) {  // toml::type_error, std::out_of_range: a bug here
    errors.push_back(
        Error{0, std::string("[error] ") + sources[0].name + ": internal error: " + e.what()});
  }
  LoadResult r = finish(std::move(errors), std::move(cfg));
  out.errors = std::move(r.errors);
  out.config = std::move(r.config);
  return out;
}

// Reads a whole file (at most a little more than kMaxFileBytes); "" or why not.
std::string read_file(const std::string& path, std::string& text) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return (err == ENOENT ? "file not found (" : "") +
           std::error_code(err, std::generic_category()).message() + (err == ENOENT ? ")" : "");
  }
  struct stat st {};
  int err = 0;
  if (::fstat(fd, &st) != 0) {
    err = errno;
  } else if (S_ISDIR(st.st_mode)) {
    err = EISDIR;
  } else {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        err = errno;
        break;
      }
      if (n == 0) break;
      text.append(buf, static_cast<std::size_t>(n));
      if (text.size() > kMaxFileBytes) break;  // load() reports it
    }
  }
  ::close(fd);
  return err == 0 ? std::string() : std::error_code(err, std::generic_category()).message();
}

constexpr std::size_t kMaxDropins = 1000;

// The drop-in files of `dir`, sorted by name, with `overrides` applied; "" or why not.
std::string list_dropins(const std::string& dir,
                         const std::map<std::string, std::optional<std::string>>& overrides,
                         std::vector<std::string>& paths) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (!is_dropin_name(name)) continue;
      struct stat st {};
      if (::stat((dir + "/" + name).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      names.push_back(name);
    }
    ::closedir(d);
  } else if (errno != ENOENT) {
    return std::error_code(errno, std::generic_category()).message();
  }
  for (const auto& [path, text] : overrides) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos || path.substr(0, slash) != dir) continue;
    const std::string name = path.substr(slash + 1);
    if (!is_dropin_name(name)) continue;
    names.erase(std::remove(names.begin(), names.end(), name), names.end());
    if (text) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  if (names.size() > kMaxDropins) return "more than 1000 drop-in files";
  for (const auto& n : names) paths.push_back(dir + "/" + n);
  return {};
}

}  // namespace

const PortConfig* Config::find_port(std::string_view name) const {
  for (const auto& s : switches) {
    for (const auto& p : s.ports) {
      if (p.name == name) return &p;
    }
  }
  return nullptr;
}

const MirrorConfig* Config::find_mirror(std::string_view name) const {
  for (const auto& s : switches)
    for (const auto& m : s.mirrors)
      if (m.name == name) return &m;
  return nullptr;
}

std::size_t Config::port_count() const {
  std::size_t n = 0;
  for (const auto& s : switches) n += s.ports.size();
  return n;
}

LoadResult load_config_string(const std::string& text, const std::string& display_name) {
  try {
    return load({Source{display_name, text}}, LoadResult{});
  } catch (const std::exception& e) {
    return single_error(std::string("[error] ") + display_name + ": " + e.what());
  } catch (...) {
    return single_error("[error] " + display_name + ": unknown error while loading");
  }
}

LoadResult load_config_strings(const std::string& main_text, const std::string& main_name,
                               const std::vector<std::pair<std::string, std::string>>& dropins) {
  try {
    std::vector<Source> sources{Source{main_name, main_text}};
    LoadResult out;
    for (const auto& [name, text] : dropins) {
      sources.push_back(Source{name, text});
      out.dropins.push_back(name);
    }
    return load(sources, std::move(out));
  } catch (const std::exception& e) {
    return single_error(std::string("[error] ") + main_name + ": " + e.what());
  }
}

std::string dropin_dir_for(const std::string& main_path) {
  const auto slash = main_path.rfind('/');
  const std::string parent = slash == std::string::npos ? "" : main_path.substr(0, slash + 1);
  std::string stem = slash == std::string::npos ? main_path : main_path.substr(slash + 1);
  if (const auto dot = stem.rfind('.'); dot != std::string::npos && dot > 0) stem.resize(dot);
  return parent + stem + ".d";
}

bool is_dropin_name(std::string_view name) {
  constexpr std::string_view kExt = ".toml";
  return name.size() > kExt.size() && name[0] != '.' &&
         name.substr(name.size() - kExt.size()) == kExt && name.find('/') == std::string_view::npos;
}

LoadResult load_config_file(const std::string& path, const LoadOptions& options) {
  try {
    std::vector<Source> sources(1);
    sources[0].name = path;
    if (std::string why = read_file(path, sources[0].text); !why.empty())
      return single_error("[error] cannot read config file \"" + path + "\": " + why);
    LoadResult out;
    if (options.dropins) {
      const std::string dir = dropin_dir_for(path);
      std::vector<std::string> paths;
      if (std::string why = list_dropins(dir, options.overrides, paths); !why.empty())
        return single_error("[error] cannot read the drop-in directory \"" + dir + "\": " + why);
      for (const std::string& p : paths) {
        Source s{p, {}};
        if (const auto o = options.overrides.find(p); o != options.overrides.end()) {
          s.text = *o->second;
        } else if (std::string why = read_file(p, s.text); !why.empty()) {
          return single_error("[error] cannot read drop-in file \"" + p + "\": " + why);
        }
        sources.push_back(std::move(s));
        out.dropins.push_back(p);
      }
    }
    return load(sources, std::move(out));
  } catch (const std::exception& e) {
    return single_error("[error] cannot read config file \"" + path + "\": " + e.what());
  } catch (...) {
    return single_error("[error] cannot read config file \"" + path + "\": unknown error");
  }
}

std::string format_errors(const LoadResult& result) {
  std::string out;
  for (const auto& e : result.errors) {
    out += e;
    if (out.empty() || out.back() != '\n') out += '\n';
  }
  return out;
}

}  // namespace vs::config
