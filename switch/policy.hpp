// Anti-spoofing of a port (issue 24): what a port may send into the switch. Pure functions on
// bytes and on the port's PortPolicy (shm/topology.hpp), shared by the worker loop, the unit
// tests and the fuzzer (tests/fuzz/frame_fuzz.cpp), like switch/l2.hpp.
//
// The checks, on the frames a port sends (ingress), all off when the port's lists are empty:
// - allowed_macs: the Ethernet source, an ARP sender and an ND link-layer option must be one of
//   them (spoofed_mac, spoofed_arp, spoofed_nd);
// - allowed_ips (prefixes of both families; a non-empty list checks both): the IPv4/IPv6 source
//   (spoofed_ip), the ARP sender address (spoofed_arp), the target of a neighbour advertisement
//   and of a DAD solicitation (spoofed_nd) must be in one. Always allowed, so that a VM can come
//   up: IPv6 link-local (fe80::/10) sources and targets, the unspecified source :: of DAD
//   (neighbour solicitation) and of MLD reports, 0.0.0.0 for a DHCPv4 client (UDP 68 -> 67)
//   and as the ARP sender of an ARP probe (RFC 5227). A frame with stacked VLAN tags hides its
//   IP header and is dropped (spoofed_ip) when allowed_ips is set;
// - block_dhcp_server: DHCPv4 server replies (UDP 67 -> 68) and DHCPv6 server replies (UDP
//   547 -> 546) are dropped (dhcp_server); block_ra: ICMPv6 router advertisements
//   (router_advert).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "shm/counters.hpp"
#include "shm/topology.hpp"
#include "switch/l2.hpp"

namespace vs {

// The bytes of the frame the checks read at most (ARP, IPv6 with a few extension headers, an
// ND message and its link-layer option): the worker hands them in one contiguous window.
inline constexpr std::size_t kPolicyWindow = 256;

// True if the port's policy has anything to check (the worker skips the rest otherwise).
inline bool policy_active(const PortPolicy& p) {
  return p.nb_macs != 0 || p.nb_prefixes != 0 || p.flags != 0;
}

// Why `frame` (the first `len` bytes of what the port sent, Ethernet header parsed into `eth`)
// may not enter the switch, or DropReason::kCount if it may.
DropReason policy_check(const PortPolicy& policy, const EthInfo& eth, const uint8_t* frame,
                        std::size_t len);

bool policy_mac_allowed(const PortPolicy& policy, MacAddr mac);
// family 4 (addr: 4 bytes) or 6 (16 bytes): in one of the prefixes of that family.
bool policy_ip_allowed(const PortPolicy& policy, int family, const uint8_t* addr);

// Building a policy (vswitchd, from the validated config): false if the text does not parse or
// the table is full. A MAC is "02:00:00:00:00:01"; a prefix "10.0.0.5", "10.1.0.0/24",
// "fd00::5/128" (no length: a host). Host bits past the length are cleared.
bool policy_add_mac(PortPolicy& policy, const std::string& text);
bool policy_add_prefix(PortPolicy& policy, const std::string& text);

}  // namespace vs
