// Per-port policy settings of a [[switch.port]] (issue #24): storm control, rate limits. Kept apart
// from config.hpp so that each policy's settings read as one place (docs/config.md, "Per-port
// policy").
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

// inbound / outbound = { average = KB/s, peak = KB/s, burst = KB }, libvirt's <bandwidth>: as
// libvirt's tc, a rate's KB is 1000 bytes and the burst's KB 1024 bytes. average 0 = no limit.
struct Bandwidth {
  int average = 0;  // the long-term rate, 1..100000000 KB/s when set
  int peak = 0;     // 0 = none; else the short-term rate, >= average
  int burst = 0;    // 0 = 100 ms of average; KB saved up at the average rate

  bool set() const { return average > 0; }
  bool operator==(const Bandwidth&) const = default;
};

}  // namespace vs::config
