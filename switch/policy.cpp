#include "switch/policy.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vs {
namespace {

constexpr uint16_t kEtherTypeArp = 0x0806;
constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr uint8_t kIcmpMldReport = 131, kIcmpRs = 133, kIcmpRa = 134, kIcmpNs = 135, kIcmpNa = 136,
                  kIcmpMld2Report = 143;
constexpr uint8_t kOptSourceLla = 1, kOptTargetLla = 2;

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

bool all_zero(const uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != 0) return false;
  return true;
}

bool is_link_local6(const uint8_t* a) {
  return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

// An IPv6 address the port may claim (as a source, an NA target, a DAD target).
bool ip6_ok(const PortPolicy& p, const uint8_t* a) {
  return p.nb_prefixes == 0 || is_link_local6(a) || policy_ip_allowed(p, 6, a);
}

DropReason check_arp(const PortPolicy& p, const uint8_t* arp, std::size_t len) {
  if (p.nb_macs == 0 && p.nb_prefixes == 0) return DropReason::kCount;
  // Ethernet/IPv4 ARP only: another kind could carry any address the checks do not read.
  if (len < 28 || be16(arp) != 1 || be16(arp + 2) != kEtherTypeIpv4 || arp[4] != 6 || arp[5] != 4)
    return DropReason::kSpoofedArp;
  if (!policy_mac_allowed(p, mac_from_bytes(arp + 8))) return DropReason::kSpoofedArp;
  const uint8_t* spa = arp + 14;
  if (p.nb_prefixes != 0 && !all_zero(spa, 4) && !policy_ip_allowed(p, 4, spa))
    return DropReason::kSpoofedArp;  // 0.0.0.0: an ARP probe (RFC 5227)
  return DropReason::kCount;
}

DropReason check_ipv4(const PortPolicy& p, const uint8_t* ip, std::size_t len) {
  const bool check_src = p.nb_prefixes != 0;
  const std::size_t ihl = len >= 20 ? (ip[0] & 0xf) * 4u : 0;
  if (len < 20 || (ip[0] >> 4) != 4 || ihl < 20 || ihl > len)
    return check_src ? DropReason::kSpoofedIp : DropReason::kCount;
  // Bytes past the IP packet are Ethernet padding, not ours to parse.
  if (const std::size_t total = be16(ip + 2); total >= ihl && total < len) len = total;
  const bool first_fragment = (be16(ip + 6) & 0x1fff) == 0;
  const bool udp = ip[9] == kProtoUdp && first_fragment && len >= ihl + 4;
  const uint16_t sport = udp ? be16(ip + ihl) : 0, dport = udp ? be16(ip + ihl + 2) : 0;
  if (check_src && !policy_ip_allowed(p, 4, ip + 12)) {
    const bool dhcp_client = all_zero(ip + 12, 4) && sport == 68 && dport == 67;
    if (!dhcp_client) return DropReason::kSpoofedIp;
  }
  if ((p.flags & kPolicyBlockDhcpServer) && sport == 67 && dport == 68)
    return DropReason::kDhcpServer;
  return DropReason::kCount;
}

// The link-layer address options of an ND message (from `opt` to `end`): each one of `type`
// must be an allowed MAC. A zero-length option is malformed (RFC 4861 says drop it).
bool nd_options_ok(const PortPolicy& p, const uint8_t* opt, const uint8_t* end, uint8_t type) {
  while (end - opt >= 2) {
    const std::size_t olen = opt[1] * 8u;
    if (olen == 0 || olen > static_cast<std::size_t>(end - opt)) return false;
    if (opt[0] == type && !policy_mac_allowed(p, mac_from_bytes(opt + 2))) return false;
    opt += olen;
  }
  return true;
}

// ICMPv6 from a port: neighbour discovery must speak only for the port's own addresses.
DropReason check_icmpv6(const PortPolicy& p, const uint8_t* src, const uint8_t* icmp,
                        std::size_t len) {
  const uint8_t type = icmp[0];  // the caller read it
  const uint8_t* end = icmp + len;
  if (type == kIcmpRa && (p.flags & kPolicyBlockRa)) return DropReason::kRouterAdvert;
  if (p.nb_macs == 0 && p.nb_prefixes == 0) return DropReason::kCount;
  if (type == kIcmpNa || type == kIcmpNs) {
    if (len < 24) return DropReason::kSpoofedNd;
    const uint8_t* target = icmp + 8;
    const bool dad = all_zero(src, 16);
    if ((type == kIcmpNa || dad) && !ip6_ok(p, target)) return DropReason::kSpoofedNd;
    if (!nd_options_ok(p, icmp + 24, end, type == kIcmpNa ? kOptTargetLla : kOptSourceLla))
      return DropReason::kSpoofedNd;
  } else if (type == kIcmpRs || type == kIcmpRa) {
    const std::size_t fixed = type == kIcmpRs ? 8 : 16;
    if (len < fixed || !nd_options_ok(p, icmp + fixed, end, kOptSourceLla))
      return DropReason::kSpoofedNd;
  }
  return DropReason::kCount;
}

// Follows the extension headers to the upper layer: returns its offset in `ip` and its
// protocol, or 0 when there is none to read (a later fragment, no next header, or past `len`;
// `truncated` tells the last apart).
std::size_t ipv6_upper_layer(const uint8_t* ip, std::size_t len, uint8_t& proto, bool& truncated) {
  std::size_t off = 40;
  proto = ip[6];
  truncated = false;
  for (int hops = 0; hops < 8; ++hops) {
    if (proto != 0 && proto != 43 && proto != 60 && proto != 44) return off;
    if (off + 8 > len) break;
    const uint8_t next = ip[off];
    if (proto == 44) {
      if ((be16(ip + off + 2) & 0xfff8) != 0) return 0;  // a later fragment: no L4 header
      off += 8;
    } else {
      off += (ip[off + 1] + 1) * 8u;
    }
    proto = next;
  }
  truncated = true;
  return 0;
}

DropReason check_ipv6(const PortPolicy& p, const uint8_t* ip, std::size_t len) {
  if (len < 40 || (ip[0] >> 4) != 6)
    return p.nb_prefixes != 0 ? DropReason::kSpoofedIp : DropReason::kCount;
  const uint8_t* src = ip + 8;
  // Bytes past the payload are Ethernet padding, not options (0: a jumbogram, RFC 2675).
  if (const std::size_t payload = be16(ip + 4); payload != 0 && 40 + payload < len)
    len = 40 + payload;
  uint8_t proto = 0;
  bool truncated = false;
  const std::size_t l4 = ipv6_upper_layer(ip, len, proto, truncated);
  // An ND message hidden past what the checks can read is not let through unchecked.
  if (truncated) return p.nb_macs || p.nb_prefixes ? DropReason::kSpoofedNd : DropReason::kCount;
  const bool icmp = l4 != 0 && proto == kProtoIcmpv6 && l4 < len;
  const uint8_t type = icmp ? ip[l4] : 0;
  if (!ip6_ok(p, src)) {
    const bool unspecified_ok =
        all_zero(src, 16) && (type == kIcmpNs || type == kIcmpMldReport || type == kIcmpMld2Report);
    if (!unspecified_ok) return DropReason::kSpoofedIp;
  }
  if (icmp) return check_icmpv6(p, src, ip + l4, len - l4);
  if (l4 != 0 && proto == kProtoUdp && len >= l4 + 4 && (p.flags & kPolicyBlockDhcpServer) &&
      be16(ip + l4) == 547 && be16(ip + l4 + 2) == 546)
    return DropReason::kDhcpServer;
  return DropReason::kCount;
}

}  // namespace

bool policy_mac_allowed(const PortPolicy& p, MacAddr mac) {
  if (p.nb_macs == 0) return true;
  for (int i = 0; i < p.nb_macs && i < kMaxPolicyMacs; ++i)
    if (p.macs[i] == mac) return true;
  return false;
}

bool policy_ip_allowed(const PortPolicy& p, int family, const uint8_t* addr) {
  const std::size_t bytes = family == 4 ? 4 : 16;
  for (int i = 0; i < p.nb_prefixes && i < kMaxPolicyPrefixes; ++i) {
    const IpPrefix& e = p.prefixes[i];
    if (e.family != family) continue;
    const std::size_t whole = e.len / 8u, bits = e.len % 8u;
    if (whole > bytes || std::memcmp(e.addr, addr, whole) != 0) continue;
    const uint8_t mask = static_cast<uint8_t>(0xff00 >> bits);
    if (bits == 0 || ((e.addr[whole] ^ addr[whole]) & mask) == 0) return true;
  }
  return false;
}

DropReason policy_check(const PortPolicy& p, const EthInfo& eth, const uint8_t* frame,
                        std::size_t len) {
  if (!policy_mac_allowed(p, eth.src)) return DropReason::kSpoofedMac;
  const std::size_t l3 = eth.tagged ? 18 : 14;
  if (len < l3) return DropReason::kRunt;
  const uint8_t* h = frame + l3;
  const std::size_t n = len - l3;
  switch (eth.ethertype) {
    case kEtherTypeArp:
      return check_arp(p, h, n);
    case kEtherTypeIpv4:
      return check_ipv4(p, h, n);
    case kEtherTypeIpv6:
      return check_ipv6(p, h, n);
    case 0x8100:
    case 0x88a8:
    case 0x9100:  // a stacked tag: the IP header behind it is not what a receiver sees first
      return p.nb_prefixes != 0 ? DropReason::kSpoofedIp : DropReason::kCount;
    default:
      return DropReason::kCount;
  }
}

bool policy_add_mac(PortPolicy& p, const std::string& text) {
  unsigned b[6];
  char tail;
  if (p.nb_macs >= kMaxPolicyMacs || std::sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0],
                                                 &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
    return false;
  MacAddr m = 0;
  for (unsigned v : b) m = (m << 8) | v;
  p.macs[p.nb_macs++] = m;
  return true;
}

bool policy_add_prefix(PortPolicy& p, const std::string& text) {
  if (p.nb_prefixes >= kMaxPolicyPrefixes) return false;
  const auto slash = text.find('/');
  const std::string addr = text.substr(0, slash);
  IpPrefix e{};
  e.family = addr.find(':') != std::string::npos ? 6 : 4;
  if (inet_pton(e.family == 6 ? AF_INET6 : AF_INET, addr.c_str(), e.addr) != 1) return false;
  const int max = e.family == 6 ? 128 : 32;
  const int len = slash == std::string::npos ? max : std::atoi(text.c_str() + slash + 1);
  if (len < 0 || len > max) return false;
  e.len = static_cast<uint8_t>(len);
  for (int bit = len; bit < max; ++bit)
    e.addr[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  p.prefixes[p.nb_prefixes++] = e;
  return true;
}

}  // namespace vs
