// libFuzzer target: any bytes as one control-socket request line. Parsing must never crash or
// throw; it gives either a request or an error message, never both; an accepted request's fields
// are within what the protocol allows and its filters are a JSON object.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "ctl/control_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto r = vs::parse_control_request(text, error);
  if (!r) {
    if (error.empty()) __builtin_trap();
    return 0;
  }
  if (size > vs::kMaxControlRequest) __builtin_trap();
  if (r->vlan != -1 && (r->vlan < 1 || r->vlan > 4094)) __builtin_trap();
  if (r->worker < -1 || r->worker > 65535) __builtin_trap();
  if (r->cmd == vs::ControlRequest::Cmd::kWorkerRestart && r->worker < 0) __builtin_trap();
  if (!r->mac.empty() && r->mac.size() != 17) __builtin_trap();
  for (char c : r->mac)
    if (c >= 'A' && c <= 'Z') __builtin_trap();
  const nlohmann::json filters = nlohmann::json::parse(r->filters_json(), nullptr, false);
  if (filters.is_discarded() || !filters.is_object()) __builtin_trap();
  if (r->cmd == vs::ControlRequest::Cmd::kPortAdd) {
    const nlohmann::json port = nlohmann::json::parse(r->port, nullptr, false);
    if (port.is_discarded() || !port.is_object()) __builtin_trap();
  }
  return 0;
}
