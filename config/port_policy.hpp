// Per-port policy settings of a [[switch.port]] (issue #24): storm control. Kept apart from
// config.hpp so that each policy's settings read as one place (docs/config.md, "Per-port policy").
#pragma once

namespace vs::config {

// storm_control = { broadcast = N, multicast = N, unknown_unicast = N }: frames per second the
// port may send of each kind (received by the switch from the port); the excess is dropped.
// -1 = no limit (the key is absent); 0 = none of that kind passes.
struct StormControl {
  int broadcast = -1;        // destination ff:ff:ff:ff:ff:ff
  int multicast = -1;        // any other group address (the lowest bit of the first octet set)
  int unknown_unicast = -1;  // a unicast destination the FDB does not know (so it is flooded)

  bool any() const { return broadcast >= 0 || multicast >= 0 || unknown_unicast >= 0; }
  bool operator==(const StormControl&) const = default;
};

}  // namespace vs::config
