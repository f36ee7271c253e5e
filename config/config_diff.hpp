// What a reload changes: the difference between the running configuration and a new one, split
// into what can be applied while the switch forwards (ports added, removed, re-created or
// re-tagged) and what needs vswitchd to be restarted (the daemon section, the set of switches
// and their FDB settings: they size shared memory that workers have mapped).
#pragma once
#include <string>
#include <vector>

#include "config/config.hpp"

namespace vs::config {

struct PortChange {
  std::string switch_name;
  PortConfig port;
  std::string previous_switch;  // replaced ports: where and how it was, to restore it if the
  PortConfig previous;          // new one cannot be created
};

struct ConfigDiff {
  std::vector<std::string> restart_needed;  // e.g. "[daemon] workers: 1 -> 2"
  std::vector<PortChange> added;            // ports whose name is new
  std::vector<std::string> removed;         // names of ports that are gone
  std::vector<PortChange> replaced;  // same name, but the TAP must be re-created (driver, queues,
                                     // MTU, MAC, netns, addresses, persist, or another switch);
                                     // a vxlan port is re-created too when any vxlan field
                                     // (vni, local, underlay, udp_port, remotes) changes
  std::vector<PortChange> retagged;  // only VLAN settings or the port's policy (allowed_*,
                                     // block_*, isolated, storm_control, inbound, outbound)
                                     // changed: a new port table suffices
  // Mirrors: a new port table suffices for each (no port is touched).
  std::vector<std::string> mirrors_added, mirrors_removed, mirrors_changed;

  bool mirrors_differ() const {
    return !mirrors_added.empty() || !mirrors_removed.empty() || !mirrors_changed.empty();
  }
  bool empty() const {
    return restart_needed.empty() && added.empty() && removed.empty() && replaced.empty() &&
           retagged.empty() && !mirrors_differ();
  }
  // One line, e.g. "2 ports added (vm3, vm4), 1 port removed (vm2)"; "no change" when empty.
  std::string summary() const;
};

ConfigDiff diff_configs(const Config& running, const Config& wanted);

}  // namespace vs::config
