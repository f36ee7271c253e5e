#include "ctl/control_protocol.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace vs {
namespace {

using nlohmann::json;
using Cmd = ControlRequest::Cmd;

bool is_mac(const std::string& s) {
  if (s.size() != 17) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i % 3 == 2 ? c != ':' : !std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads optional field `key` of type T; false (with `error`) when present with another type.
template <class T>
bool field(const json& j, const char* key, T& out, std::string& error) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) {
      error = std::string("\"") + key + "\" must be a string";
      return false;
    }
    out = it->template get<std::string>();
  } else {
    if (!it->is_number_integer()) {
      error = std::string("\"") + key + "\" must be an integer";
      return false;
    }
    const long long v = it->template get<long long>();
    if (v < 0 || v > 65535) {
      error = std::string("\"") + key + "\" is out of range";
      return false;
    }
    out = static_cast<int>(v);
  }
  return true;
}

bool parse_filters(const json& j, ControlRequest& r, std::string& error) {
  if (!field(j, "switch", r.switch_name, error) || !field(j, "vlan", r.vlan, error) ||
      !field(j, "mac", r.mac, error))
    return false;
  if (j.contains("vlan") && (r.vlan < 1 || r.vlan > 4094)) {
    error = "\"vlan\" must be 1..4094";
    return false;
  }
  if (!r.mac.empty()) {
    if (!is_mac(r.mac)) {
      error = "\"mac\" must look like 02:00:00:00:00:01";
      return false;
    }
    r.mac = lower(r.mac);
  }
  return true;
}

std::optional<Cmd> command(const std::string& name) {
  static const std::pair<const char*, Cmd> kCommands[] = {{"show", Cmd::kShow},
                                                          {"reload", Cmd::kReload},
                                                          {"port_add", Cmd::kPortAdd},
                                                          {"port_del", Cmd::kPortDel},
                                                          {"port_reset", Cmd::kPortReset},
                                                          {"worker_restart", Cmd::kWorkerRestart},
                                                          {"fdb_flush", Cmd::kFdbFlush},
                                                          {"mirror_add", Cmd::kMirrorAdd},
                                                          {"mirror_del", Cmd::kMirrorDel},
                                                          {"version", Cmd::kVersion},
                                                          {"capture", Cmd::kCapture}};
  for (const auto& [n, c] : kCommands)
    if (name == n) return c;
  return std::nullopt;
}

// An optional non-negative integer field of at most `max`.
bool count_field(const json& j, const char* key, uint64_t max, uint64_t& out, std::string& error) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  if (!it->is_number_integer() || it->get<long long>() < 0 ||
      static_cast<uint64_t>(it->get<long long>()) > max) {
    error = std::string("\"") + key + "\" must be an integer from 0 to " + std::to_string(max);
    return false;
  }
  out = static_cast<uint64_t>(it->get<long long>());
  return true;
}

bool parse_capture(const json& j, ControlRequest::Capture& c, std::string& error) {
  auto ports = j.find("ports");
  if (ports == j.end() || !ports->is_array() || ports->empty() ||
      ports->size() > kMaxCapturePorts) {
    error = "capture needs \"ports\": 1 to " + std::to_string(kMaxCapturePorts) + " port names";
    return false;
  }
  for (const json& p : *ports) {
    if (!p.is_string() || p.get<std::string>().empty()) {
      error = "\"ports\" must hold port names (strings)";
      return false;
    }
    c.ports.push_back(p.get<std::string>());
  }
  std::string direction = "both";
  uint64_t snaplen = kMaxCaptureSnaplen;
  if (!field(j, "direction", direction, error) || !field(j, "filter", c.filter, error) ||
      !count_field(j, "count", UINT32_MAX, c.count, error) ||
      !count_field(j, "duration_ms", 86400000ull * 365, c.duration_ms, error) ||
      !count_field(j, "snaplen", kMaxCaptureSnaplen, snaplen, error))
    return false;
  if (direction != "in" && direction != "out" && direction != "both") {
    error = "\"direction\" must be in, out or both";
    return false;
  }
  c.directions = direction == "in" ? 1 : direction == "out" ? 2 : 3;
  if (snaplen == 0) {
    error = "\"snaplen\" must be at least 1";
    return false;
  }
  c.snaplen = static_cast<uint32_t>(snaplen);
  if (c.filter.size() > kMaxCaptureFilter) {
    error = "\"filter\" is longer than " + std::to_string(kMaxCaptureFilter) + " bytes";
    return false;
  }
  return true;
}

bool parse_body(const json& j, ControlRequest& r, std::string& error) {
  switch (r.cmd) {
    case Cmd::kShow:
      if (!field(j, "what", r.what, error)) return false;
      if (r.what != "switches" && r.what != "ports" && r.what != "queues" && r.what != "workers" &&
          r.what != "fdb" && r.what != "mirrors") {
        error = "\"what\" must be one of switches, ports, queues, workers, fdb, mirrors";
        return false;
      }
      return parse_filters(j, r, error);
    case Cmd::kPortAdd: {
      if (!field(j, "switch", r.switch_name, error)) return false;
      auto it = j.find("port");
      if (r.switch_name.empty() || it == j.end() || !it->is_object()) {
        error = "port_add needs \"switch\" (a name) and \"port\" (an object)";
        return false;
      }
      r.port = it->dump();
      return true;
    }
    case Cmd::kMirrorAdd: {
      if (!field(j, "switch", r.switch_name, error)) return false;
      auto it = j.find("mirror");
      if (r.switch_name.empty() || it == j.end() || !it->is_object()) {
        error = "mirror_add needs \"switch\" (a name) and \"mirror\" (an object)";
        return false;
      }
      r.mirror = it->dump();
      return true;
    }
    case Cmd::kMirrorDel:
      if (!field(j, "mirror", r.mirror, error)) return false;
      if (r.mirror.empty()) error = "mirror_del needs \"mirror\" (a name)";
      return error.empty();
    case Cmd::kPortDel:
      if (!field(j, "port", r.port, error)) return false;
      if (r.port.empty()) error = "port_del needs \"port\" (a name)";
      return error.empty();
    case Cmd::kPortReset:
      if (!field(j, "port", r.port, error)) return false;
      if (r.port.empty()) error = "port_reset needs \"port\" (a name)";
      return error.empty();
    case Cmd::kWorkerRestart:
      if (!field(j, "worker", r.worker, error)) return false;
      if (r.worker < 0) error = "worker_restart needs \"worker\" (a number)";
      return error.empty();
    case Cmd::kFdbFlush:
      return field(j, "port", r.port, error) && parse_filters(j, r, error);
    case Cmd::kCapture:
      return parse_capture(j, r.capture, error);
    case Cmd::kReload:
    case Cmd::kVersion:
      return true;
  }
  return true;
}

}  // namespace

std::string ControlRequest::filters_json() const {
  json f = json::object();
  if (!switch_name.empty()) f["switch"] = switch_name;
  if (vlan >= 0) f["vlan"] = vlan;
  if (!mac.empty()) f["mac"] = mac;
  return f.dump();
}

namespace {

// The deepest nesting of arrays and objects, outside strings. The JSON library parses and prints
// nested values recursively: a request nested thousands deep would exhaust the stack.
std::size_t nesting_depth(std::string_view text) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

std::optional<ControlRequest> parse_control_request(std::string_view text, std::string& error) {
  if (text.size() > kMaxControlRequest) {
    error = "request larger than 64 KiB";
    return std::nullopt;
  }
  if (text.find('\0') != std::string_view::npos) {
    error = "the request contains a NUL byte";
    return std::nullopt;
  }
  if (nesting_depth(text) > kMaxControlNesting) {
    error =
        "the request is nested more than " + std::to_string(kMaxControlNesting) + " levels deep";
    return std::nullopt;
  }
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error = "the request is not a JSON object";
    return std::nullopt;
  }
  std::string name;
  if (!field(j, "cmd", name, error)) return std::nullopt;
  auto cmd = command(name);
  if (!cmd) {
    error = name.empty() ? "the request has no \"cmd\"" : "unknown command \"" + name + "\"";
    return std::nullopt;
  }
  ControlRequest r;
  r.cmd = *cmd;
  if (!parse_body(j, r, error)) return std::nullopt;
  return r;
}

}  // namespace vs
