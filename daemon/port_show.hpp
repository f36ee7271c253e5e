// What `vswitchctl show switches|ports|queues|fdb` prints, built from the switch actors'
// snapshots (daemon/switch_snapshots.hpp), the workers' counters, the published table and the
// FDB. No port list's lock is taken and no driver is called here. JSON is built here, for the
// control socket only.
#pragma once
#include <string>
#include <vector>

#include "actors/messages.hpp"

namespace vs {

class DatapathMemory;
class FdbService;
class MirrorTable;
namespace config {
struct Config;
}

struct PortViewRefs {
  const std::vector<SwitchSnapshot>& switches;  // one per switch, in the config's order
  DatapathMemory& mem;
  FdbService& fdb;
  const config::Config& startup;         // the switches (a reload cannot change them)
  const MirrorTable* mirrors = nullptr;  // the running mirrors (show mirrors, show switches)
};

// The reply to `show WHAT` with FILTERS (a JSON object's text): {"ok": true, WHAT: [...]} or
// {"ok": false, "error": "..."}.
std::string show_json(const PortViewRefs& refs, const std::string& what,
                      const std::string& filters);

}  // namespace vs
