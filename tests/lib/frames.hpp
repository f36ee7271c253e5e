// Building and checking Ethernet/IPv4/IPv6/UDP/TCP frames in tests, independently of DPDK's
// own checksum helpers (so a test checks the driver, not the library it shares code with).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vstest {

using Bytes = std::vector<uint8_t>;

struct L4Spec {
  uint8_t dst_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
  uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
  uint32_t src_ip = 0x0a000001;  // host order
  uint32_t dst_ip = 0x0a000002;
  uint16_t sport = 1000, dport = 2000;
  uint32_t seq = 1, ack = 0;
  uint8_t tcp_flags = 0x18;  // PSH|ACK
  uint16_t window = 65535;
  uint8_t ttl = 64;
  bool checksums = true;  // false: leave the L4 checksum 0 (IPv4 header checksum is always set)
};

// Payload byte i is (seed + i) & 0xff.
Bytes udp4(const L4Spec& s, size_t payload, uint8_t seed = 0);
Bytes tcp4(const L4Spec& s, const Bytes& payload, const Bytes& options = {});
// IPv6 + TCP; addresses are fd09:<src_ip>::/fd09:<dst_ip>:: spelled from the 32-bit fields.
struct Ip6 {
  uint8_t b[16];
};
Bytes tcp6(const L4Spec& s, const Ip6& src, const Ip6& dst, const Bytes& payload);
bool l4_csum_ok6(const uint8_t* f, size_t len);  // IPv6 (no extension headers) + TCP/UDP
Bytes pattern(size_t n, uint8_t seed);

uint16_t inet_sum(const uint8_t* p, size_t n, uint32_t init = 0);  // folded, not inverted
bool ipv4_hdr_ok(const uint8_t* f, size_t len);
bool l4_csum_ok(const uint8_t* f, size_t len);  // IPv4 + TCP or UDP, full checksum valid
// The sum Linux expects in the L4 field of a CHECKSUM_PARTIAL packet: pseudo-header with length.
uint16_t pseudo4(const uint8_t* f, size_t len);

// Offsets into an untagged IPv4 frame.
inline constexpr size_t kL3 = 14;
inline size_t l4_off(const uint8_t* f) {
  return kL3 + (f[kL3] & 0x0f) * 4u;
}
inline uint8_t ip_proto(const uint8_t* f) {
  return f[kL3 + 9];
}
inline bool is_ipv4(const uint8_t* f, size_t len) {
  return len >= 34 && f[12] == 0x08 && f[13] == 0x00;
}
inline bool is_ipv6(const uint8_t* f, size_t len) {
  return len >= 54 && f[12] == 0x86 && f[13] == 0xdd;
}

}  // namespace vstest
