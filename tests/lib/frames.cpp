#include "frames.hpp"

#include <cstring>

namespace vstest {
namespace {

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}
uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

Bytes l2l3(const L4Spec& s, uint8_t proto, size_t l4len) {
  Bytes f(14 + 20 + l4len, 0);
  memcpy(&f[0], s.dst_mac, 6);
  memcpy(&f[6], s.src_mac, 6);
  put16(&f[12], 0x0800);
  uint8_t* ip = &f[14];
  ip[0] = 0x45;
  put16(ip + 2, static_cast<uint16_t>(20 + l4len));
  put16(ip + 4, 0x1234);
  put16(ip + 6, 0x4000);  // DF
  ip[8] = s.ttl;
  ip[9] = proto;
  put32(ip + 12, s.src_ip);
  put32(ip + 16, s.dst_ip);
  put16(ip + 10, static_cast<uint16_t>(~inet_sum(ip, 20)));
  return f;
}

uint32_t pseudo_raw(const uint8_t* f) {
  const uint8_t* ip = f + kL3;
  size_t ihl = (ip[0] & 0x0f) * 4u;
  uint32_t l4len = get16(ip + 2) - ihl;
  uint8_t ph[12];
  memcpy(ph, ip + 12, 8);
  ph[8] = 0;
  ph[9] = ip[9];
  put16(ph + 10, static_cast<uint16_t>(l4len));
  return inet_sum(ph, 12);
}

}  // namespace

uint16_t inet_sum(const uint8_t* p, size_t n, uint32_t init) {
  uint64_t sum = init;
  for (size_t i = 0; i + 1 < n; i += 2) sum += get16(p + i);
  if (n & 1) sum += static_cast<uint32_t>(p[n - 1]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

Bytes pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; i++) b[i] = static_cast<uint8_t>(seed + i);
  return b;
}

Bytes udp4(const L4Spec& s, size_t payload, uint8_t seed) {
  Bytes f = l2l3(s, 17, 8 + payload);
  uint8_t* u = &f[34];
  put16(u, s.sport);
  put16(u + 2, s.dport);
  put16(u + 4, static_cast<uint16_t>(8 + payload));
  for (size_t i = 0; i < payload; i++) u[8 + i] = static_cast<uint8_t>(seed + i);
  if (s.checksums) {
    uint16_t c = static_cast<uint16_t>(~inet_sum(u, 8 + payload, pseudo_raw(f.data())));
    put16(u + 6, c == 0 ? 0xffff : c);
  }
  return f;
}

Bytes tcp4(const L4Spec& s, const Bytes& payload, const Bytes& options) {
  size_t thl = 20 + ((options.size() + 3) & ~size_t{3});
  Bytes f = l2l3(s, 6, thl + payload.size());
  uint8_t* t = &f[34];
  put16(t, s.sport);
  put16(t + 2, s.dport);
  put32(t + 4, s.seq);
  put32(t + 8, s.ack);
  t[12] = static_cast<uint8_t>((thl / 4) << 4);
  t[13] = s.tcp_flags;
  put16(t + 14, s.window);
  if (!options.empty()) memcpy(t + 20, options.data(), options.size());
  if (!payload.empty()) memcpy(t + thl, payload.data(), payload.size());
  if (s.checksums)
    put16(t + 16, static_cast<uint16_t>(~inet_sum(t, thl + payload.size(), pseudo_raw(f.data()))));
  return f;
}

bool ipv4_hdr_ok(const uint8_t* f, size_t len) {
  if (!is_ipv4(f, len)) return false;
  size_t ihl = (f[kL3] & 0x0f) * 4u;
  return len >= kL3 + ihl && inet_sum(f + kL3, ihl) == 0xffff && get16(f + kL3 + 2) <= len - kL3;
}

bool l4_csum_ok(const uint8_t* f, size_t len) {
  if (!ipv4_hdr_ok(f, len)) return false;
  size_t off = l4_off(f);
  size_t end = kL3 + get16(f + kL3 + 2);
  return inet_sum(f + off, end - off, pseudo_raw(f)) == 0xffff;
}

uint16_t pseudo4(const uint8_t* f, size_t) {
  return static_cast<uint16_t>(pseudo_raw(f));
}

namespace {
uint16_t pseudo6_sum(const uint8_t* ip6, uint32_t l4len, uint8_t proto) {
  uint8_t ph[40] = {};
  memcpy(ph, ip6 + 8, 32);
  put32(ph + 32, l4len);
  ph[39] = proto;
  return inet_sum(ph, 40);
}
}  // namespace

Bytes tcp6(const L4Spec& s, const Ip6& src, const Ip6& dst, const Bytes& payload) {
  Bytes f(14 + 40 + 20 + payload.size(), 0);
  memcpy(&f[0], s.dst_mac, 6);
  memcpy(&f[6], s.src_mac, 6);
  put16(&f[12], 0x86dd);
  uint8_t* ip = &f[14];
  ip[0] = 0x60;
  put16(ip + 4, static_cast<uint16_t>(20 + payload.size()));
  ip[6] = 6;
  ip[7] = s.ttl;
  memcpy(ip + 8, src.b, 16);
  memcpy(ip + 24, dst.b, 16);
  uint8_t* t = ip + 40;
  put16(t, s.sport);
  put16(t + 2, s.dport);
  put32(t + 4, s.seq);
  put32(t + 8, s.ack);
  t[12] = 5 << 4;
  t[13] = s.tcp_flags;
  put16(t + 14, s.window);
  if (!payload.empty()) memcpy(t + 20, payload.data(), payload.size());
  if (s.checksums)
    put16(t + 16, static_cast<uint16_t>(
                      ~inet_sum(t, 20 + payload.size(), pseudo6_sum(ip, 20 + payload.size(), 6))));
  return f;
}

bool l4_csum_ok6(const uint8_t* f, size_t len) {
  if (!is_ipv6(f, len)) return false;
  const uint8_t* ip = f + kL3;
  uint32_t plen = get16(ip + 4);
  if (kL3 + 40 + plen > len) return false;
  return inet_sum(ip + 40, plen, pseudo6_sum(ip, plen, ip[6])) == 0xffff;
}

}  // namespace vstest
