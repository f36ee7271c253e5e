// What `vswitchctl show switches|ports|queues|fdb` prints, read from the ports (under their
// lock: the caller is not the ports' owner), the workers' counters, the published table and the
// FDB. JSON is built here, for the control socket only.
#pragma once
#include <string>

namespace vs {

class DatapathMemory;
class FdbService;
class PortManager;
namespace config {
struct Config;
}

struct PortViewRefs {
  const PortManager& ports;
  DatapathMemory& mem;
  FdbService& fdb;
  const config::Config& startup;  // the switches (a reload cannot change them)
};

// The reply to `show WHAT` with FILTERS (a JSON object's text): {"ok": true, WHAT: [...]} or
// {"ok": false, "error": "..."}.
std::string show_json(const PortViewRefs& refs, const std::string& what,
                      const std::string& filters);

}  // namespace vs
