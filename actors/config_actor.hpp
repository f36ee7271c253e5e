// The config actor: the owner of the running configuration. A reload (SIGHUP or `vswitchctl
// reload`) re-reads the file; `port add` / `port del` change the running config at run time.
// Either way the new config is validated as a whole, diffed against the running one and only
// the diff is applied, through the switch actors in phases (messages.hpp). A config that fails
// validation, needs a restart, or fails to apply is refused as a whole: the running config stays,
// and the error goes back to the caller, to the log and to the reload metrics.
//
// `port add` / `port del` are also recorded in the files, so that a reload or a restart keeps
// them: in the runtime drop-in next to the main file (config/config_store.hpp), which this actor
// alone writes. The change is validated first, written before it is applied, and the old file put
// back if applying fails (docs/config.md, "Drop-in files").
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/messages.hpp"
#include "config/config_store.hpp"
#include "daemon/reload_stats.hpp"

namespace vs {

class SystemdNotify;
class MirrorTable;

// Where the running mirrors go: the table the topology actor publishes them from, and that
// actor, asked to publish once they changed. Both null/empty in tests without a datapath.
struct MirrorRefs {
  MirrorTable* table = nullptr;
  topology_actor topology;
};

// The switch actors by switch name, in the config's order (a reload cannot change the switches).
using SwitchActors = std::vector<std::pair<std::string, switch_actor>>;

struct ConfigState {
  static inline const char* name = "config";
  std::string path;
  ConfigPtr running;
  SwitchActors switches;
  ReloadStats* stats = nullptr;
  unsigned pool_mbufs = 0;                // each worker's mempool, sized at start
  const SystemdNotify* notify = nullptr;  // told when a reload begins and ends; may be null
  std::shared_ptr<const config::ConfigStore> store;  // the files; runtime changes are written here
  MirrorRefs mirrors;
};

config_actor::behavior_type config_behavior(config_actor::stateful_pointer<ConfigState> self,
                                            std::string path, ConfigPtr running,
                                            SwitchActors switches, ReloadStats* stats,
                                            unsigned pool_mbufs,
                                            const SystemdNotify* notify = nullptr,
                                            MirrorRefs mirrors = {});

// The `port add` JSON object ({"name": "vm3", "queues": 2, ...}) as the key = value lines of a
// [[switch.port]] table; empty and `error` set when a value has no TOML equivalent. The same
// for `mirror add`'s object and [[switch.mirror]].
std::string port_json_to_toml(const std::string& port_json, std::string& error);

}  // namespace vs
