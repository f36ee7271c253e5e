// VXLAN tunnel ports (switch/tunnel.hpp): the VXLAN header, and frames finished for the UDP
// socket: TSO super-frames cut into segments and partial checksums completed, from gather lists
// cut at odd places. Every checksum is verified with a plain byte-by-byte sum of this file's own.
#include "switch/tunnel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

using vs::FinishResult;
using vs::FrameSegment;
using vs::OffloadRequest;
using Bytes = std::vector<uint8_t>;

constexpr uint8_t kTcp = 6, kUdp = 17;
constexpr uint8_t kFin = 0x01, kPsh = 0x08, kAck = 0x10, kCwr = 0x80;
constexpr uint16_t kIpId = 0xfffe;       // wraps during a segmentation
constexpr uint32_t kSeq = 0xffff0000;    // so does the sequence number
constexpr uint16_t kTag = 0x2000 | 100;  // PCP 1, VLAN 100
constexpr unsigned kBufLen = 1u << 17;   // fits a 64 KB frame cut into segments
constexpr unsigned kMaxFrames = 64;

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
void set16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put16(Bytes& f, uint32_t v) {
  f.push_back(static_cast<uint8_t>(v >> 8));
  f.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& f, uint32_t v) {
  put16(f, v >> 16);
  put16(f, v);
}

// The reference sum: byte by byte, even bytes high, carries folded at the end.
uint16_t ones_sum(const uint8_t* p, std::size_t n, uint64_t start = 0) {
  uint64_t s = start;
  for (std::size_t i = 0; i < n; ++i) s += i % 2 == 0 ? uint64_t{p[i]} << 8 : p[i];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}
// The pseudo-header's sum (folded, not complemented: what a partial checksum field holds).
uint16_t pseudo_sum(const uint8_t* ip, bool v6, uint8_t proto, uint32_t l4_len) {
  const uint64_t fields = uint64_t{proto} + (l4_len >> 16) + (l4_len & 0xffff);
  return v6 ? ones_sum(ip + 8, 32, fields) : ones_sum(ip + 12, 8, fields);
}
bool l4_csum_ok(const uint8_t* ip, bool v6, uint8_t proto, const uint8_t* l4, uint32_t len) {
  return ones_sum(l4, len, pseudo_sum(ip, v6, proto, len)) == 0xffff;
}

struct Spec {
  bool v6 = false;
  bool tagged = false;
  uint8_t proto = kTcp;
  uint32_t payload = 0;
  uint32_t tcp_options = 0;  // bytes of NOPs, a multiple of 4
  uint8_t tcp_flags = kCwr | kAck | kPsh | kFin;
};
uint32_t l2_of(const Spec& s) {
  return s.tagged ? 18 : 14;
}
uint32_t l3_of(const Spec& s) {
  return s.v6 ? 40 : 20;
}
uint32_t l4_of(const Spec& s) {
  return s.proto == kTcp ? 20 + s.tcp_options : 8;
}

void put_ip(Bytes& f, const Spec& s, uint32_t l4_bytes) {
  if (s.v6) {
    put32(f, 0x60000000);
    put16(f, l4_bytes);
    f.push_back(s.proto);
    f.push_back(64);
    for (int i = 0; i < 2; ++i) {
      put32(f, 0xfd000000);
      put32(f, 0);
      put32(f, 0x12345678);
      put32(f, 0x9abc0001 + i);
    }
    return;
  }
  put16(f, 0x4500);
  put16(f, 20 + l4_bytes);
  put16(f, kIpId);
  put16(f, 0x4000);  // DF
  f.push_back(64);
  f.push_back(s.proto);
  put16(f, 0);
  put32(f, 0x0a000001);
  put32(f, 0x0a000002);
}

void put_l4(Bytes& f, const Spec& s, uint32_t l4_bytes) {
  put16(f, 40000);
  put16(f, 5201);
  if (s.proto == kUdp) {
    put16(f, l4_bytes);
    put16(f, 0);
    return;
  }
  put32(f, kSeq);
  put32(f, 7);
  f.push_back(static_cast<uint8_t>((20 + s.tcp_options) / 4 << 4));
  f.push_back(s.tcp_flags);
  put16(f, 512);
  put16(f, 0);
  put16(f, 0);
  f.insert(f.end(), s.tcp_options, 0x01);
}

// A frame as a VM would send it finished: every checksum right.
Bytes build(const Spec& s) {
  Bytes f = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
  if (s.tagged) {
    put16(f, 0x8100);
    put16(f, kTag);
  }
  put16(f, s.v6 ? 0x86dd : 0x0800);
  const uint32_t l4_bytes = l4_of(s) + s.payload;
  const std::size_t ip_at = f.size();
  put_ip(f, s, l4_bytes);
  const std::size_t l4_at = f.size();
  put_l4(f, s, l4_bytes);
  for (uint32_t i = 0; i < s.payload; ++i) f.push_back(static_cast<uint8_t>(i * 7 + i / 251));
  if (!s.v6) set16(&f[ip_at + 10], static_cast<uint16_t>(~ones_sum(&f[ip_at], 20)));
  const std::size_t field = l4_at + (s.proto == kTcp ? 16 : 6);
  const uint16_t pseudo = pseudo_sum(&f[ip_at], s.v6, s.proto, l4_bytes);
  const uint16_t csum = static_cast<uint16_t>(~ones_sum(&f[l4_at], l4_bytes, pseudo));
  set16(&f[field], csum == 0 && s.proto == kUdp ? 0xffff : csum);  // UDP's 0 is "none"
  return f;
}

// Where the L4 checksum field of a frame built from `s` is.
std::size_t csum_field(const Spec& s) {
  return l2_of(s) + l3_of(s) + (s.proto == kTcp ? 16 : 6);
}

// The gather list of `f`: pieces of the given sizes, the last one the rest.
std::vector<FrameSegment> split(const Bytes& f, const std::vector<uint32_t>& sizes) {
  std::vector<FrameSegment> segs;
  uint32_t at = 0;
  for (uint32_t n : sizes) {
    if (at + n > f.size()) break;
    segs.push_back({f.data() + at, n});
    at += n;
  }
  segs.push_back({f.data() + at, static_cast<uint32_t>(f.size() - at)});
  return segs;
}

OffloadRequest request(const Spec& s, bool tso, uint16_t mss = 0) {
  OffloadRequest r;
  r.tso = tso;
  r.l4_csum_partial = true;
  r.l2_len = static_cast<uint16_t>(l2_of(s));
  r.l3_len = static_cast<uint16_t>(l3_of(s));
  r.l4_len = static_cast<uint16_t>(l4_of(s));
  r.mss = mss;
  return r;
}

struct Finished {
  FinishResult result;
  std::vector<Bytes> frames;  // the inner frames, their VXLAN headers checked
};

Finished finish(const std::vector<FrameSegment>& segs, const OffloadRequest& req,
                uint16_t mtu = 1500, std::size_t buf_len = kBufLen,
                unsigned max_frames = kMaxFrames) {
  constexpr uint32_t kVni = 4242;
  Bytes buf(buf_len + 64, 0xee);  // the tail stays untouched
  std::vector<vs::TunnelFrame> frames(max_frames + 1);
  unsigned n = 12345;
  Finished out;
  out.result = vs::tunnel_finish(segs.data(), static_cast<unsigned>(segs.size()), req, kVni, mtu,
                                 buf.data(), buf_len, frames.data(), max_frames, n);
  for (std::size_t i = buf_len; i < buf.size(); ++i) EXPECT_EQ(buf[i], 0xee) << "wrote past buf";
  if (out.result != FinishResult::kOk) {
    EXPECT_EQ(n, 0u);
    return out;
  }
  EXPECT_LE(n, max_frames);
  uint32_t end = 0;
  for (unsigned i = 0; i < n; ++i) {
    const vs::TunnelFrame& t = frames[i];
    EXPECT_GE(t.offset, end);
    EXPECT_LE(t.offset + t.len, buf_len);
    end = t.offset + t.len;
    uint32_t vni = 0;
    EXPECT_EQ(vs::vxlan_parse(&buf[t.offset], t.len, vni), vs::VxlanCheck::kOk);
    EXPECT_EQ(vni, kVni);
    out.frames.emplace_back(buf.begin() + t.offset + 8, buf.begin() + t.offset + t.len);
  }
  return out;
}

// Every segment of a TSO frame built from `s`, against the original `f`.
void check_segments(const Spec& s, const Bytes& f, const std::vector<Bytes>& out, uint32_t mss) {
  const uint32_t l2 = l2_of(s), l3 = l3_of(s), l4 = l4_of(s), hlen = l2 + l3 + l4;
  ASSERT_EQ(out.size(), (s.payload + mss - 1) / mss);
  Bytes payload;
  for (std::size_t i = 0; i < out.size(); ++i) {
    SCOPED_TRACE("segment " + std::to_string(i));
    const Bytes& g = out[i];
    const bool first = i == 0, last = i + 1 == out.size();
    const uint32_t n = last ? s.payload - mss * static_cast<uint32_t>(i) : mss;
    ASSERT_EQ(g.size(), hlen + n);
    EXPECT_TRUE(std::equal(g.begin(), g.begin() + l2, f.begin()));  // MACs and tag
    const uint8_t* ip = &g[l2];
    const uint8_t* tcp = ip + l3;
    if (s.v6) {
      EXPECT_EQ(be16(ip + 4), l4 + n);
      EXPECT_TRUE(std::equal(ip + 6, ip + 40, &f[l2 + 6]));
    } else {
      EXPECT_EQ(be16(ip + 2), l3 + l4 + n);
      EXPECT_EQ(be16(ip + 4), static_cast<uint16_t>(kIpId + i));
      EXPECT_EQ(ones_sum(ip, l3), 0xffff) << "IPv4 header checksum";
      EXPECT_TRUE(std::equal(ip + 12, ip + 20, &f[l2 + 12]));
    }
    EXPECT_EQ(be32(tcp + 4), kSeq + mss * static_cast<uint32_t>(i));
    EXPECT_EQ(be32(tcp + 8), 7u);  // the ack number
    const uint8_t flags = tcp[13];
    EXPECT_EQ(flags & kAck, kAck);
    EXPECT_EQ((flags & kCwr) != 0, first && (s.tcp_flags & kCwr));
    EXPECT_EQ((flags & kPsh) != 0, last && (s.tcp_flags & kPsh));
    EXPECT_EQ((flags & kFin) != 0, last && (s.tcp_flags & kFin));
    EXPECT_TRUE(std::equal(tcp + 20, tcp + l4, &f[l2 + l3 + 20]));  // options
    EXPECT_TRUE(l4_csum_ok(ip, s.v6, kTcp, tcp, l4 + n)) << "TCP checksum";
    payload.insert(payload.end(), g.begin() + hlen, g.end());
  }
  EXPECT_TRUE(payload == Bytes(f.begin() + hlen, f.end()));
}

// Payload pieces of odd lengths, so that words straddle segments all along.
const std::vector<uint32_t> kOddCuts = {1001, 2047, 1, 3, 4095, 333, 7, 8191, 1449, 12345};

std::vector<uint32_t> cuts_after_headers(uint32_t hlen) {
  std::vector<uint32_t> cuts = {hlen};
  cuts.insert(cuts.end(), kOddCuts.begin(), kOddCuts.end());
  return cuts;
}

TEST(Vxlan, ParsesAWellFormedHeader) {
  uint8_t p[22] = {0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0};
  uint32_t vni = 0;
  EXPECT_EQ(vs::vxlan_parse(p, sizeof(p), vni), vs::VxlanCheck::kOk);
  EXPECT_EQ(vni, 0x123456u);
}

TEST(Vxlan, RefusesAPacketShortOfAnInnerEthernetHeader) {
  uint8_t p[22] = {0x08, 0, 0, 0, 0, 0, 1, 0};
  uint32_t vni = 99;
  EXPECT_EQ(vs::vxlan_parse(p, 21, vni), vs::VxlanCheck::kShort);
  EXPECT_EQ(vs::vxlan_parse(p, 8, vni), vs::VxlanCheck::kShort);
  EXPECT_EQ(vs::vxlan_parse(p, 0, vni), vs::VxlanCheck::kShort);
  EXPECT_EQ(vni, 99u);
}

TEST(Vxlan, RefusesFlagsOtherThanIAndReservedBits) {
  const uint8_t good[8] = {0x08, 0, 0, 0, 0, 0, 1, 0};
  for (int byte : {0, 1, 2, 3, 7}) {
    for (int bit = 0; bit < 8; ++bit) {
      uint8_t p[22] = {};
      std::memcpy(p, good, 8);
      p[byte] ^= static_cast<uint8_t>(1 << bit);
      uint32_t vni = 0;
      EXPECT_EQ(vs::vxlan_parse(p, sizeof(p), vni), vs::VxlanCheck::kBadFlags)
          << "byte " << byte << " bit " << bit;
    }
  }
  uint8_t gpe[22] = {0x0c, 0, 0, 0x03, 0, 0, 1, 0};  // VXLAN-GPE: P set, next protocol Ethernet
  uint32_t vni = 0;
  EXPECT_EQ(vs::vxlan_parse(gpe, sizeof(gpe), vni), vs::VxlanCheck::kBadFlags);
}

TEST(Vxlan, WriteAndParseRoundTrip) {
  for (uint32_t want : {1u, 4096u, 16777215u}) {
    uint8_t p[22] = {};
    std::memset(p, 0xff, 8);
    vs::vxlan_write(p, want);
    EXPECT_EQ(p[0], 0x08);
    EXPECT_EQ(p[7], 0);
    uint32_t vni = 0;
    EXPECT_EQ(vs::vxlan_parse(p, sizeof(p), vni), vs::VxlanCheck::kOk);
    EXPECT_EQ(vni, want);
  }
}

TEST(TunnelFinish, NeedsFinishOnlyForTsoOrPartialChecksum) {
  OffloadRequest r;
  EXPECT_FALSE(vs::tunnel_needs_finish(r));
  r.l4_csum_partial = true;
  EXPECT_TRUE(vs::tunnel_needs_finish(r));
  r = {};
  r.tso = true;
  EXPECT_TRUE(vs::tunnel_needs_finish(r));
}

TEST(TunnelFinish, CopiesAFrameWithoutARequestAsItIs) {
  Spec s;
  s.payload = 1000;
  const Bytes f = build(s);
  const Finished r = finish(split(f, {5, 100, 3}), OffloadRequest{});
  ASSERT_EQ(r.result, FinishResult::kOk);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_TRUE(r.frames[0] == f);
}

TEST(TunnelFinish, AFrameWithoutARequestStillHasAnMtu) {
  Spec s;
  s.payload = 1460;  // L3 1500
  EXPECT_EQ(finish(split(build(s), {}), OffloadRequest{}).result, FinishResult::kOk);
  s.tagged = true;  // the tag is not L3
  EXPECT_EQ(finish(split(build(s), {}), OffloadRequest{}).result, FinishResult::kOk);
  s.payload = 1461;
  EXPECT_EQ(finish(split(build(s), {}), OffloadRequest{}).result, FinishResult::kTooBig);
  const Bytes runt(13, 0);
  EXPECT_EQ(finish(split(runt, {}), OffloadRequest{}).result, FinishResult::kMalformed);
}

TEST(TunnelFinish, SegmentsA64KbIpv4TcpFrameFromOddGatherPieces) {
  Spec s;
  s.payload = 65000;
  const Bytes f = build(s);
  const Finished r = finish(split(f, cuts_after_headers(54)), request(s, true, 1448));
  ASSERT_EQ(r.result, FinishResult::kOk);
  EXPECT_EQ(r.frames.size(), 45u);
  check_segments(s, f, r.frames, 1448);
}

TEST(TunnelFinish, SegmentsAnIpv6TcpFrameWithOptions) {
  Spec s;
  s.v6 = true;
  s.tcp_options = 12;
  s.payload = 60000;
  const Bytes f = build(s);
  // Headers cut too: 14 + 40 + 32 over three pieces of odd lengths.
  std::vector<uint32_t> cuts = {13, 61, 12};
  cuts.insert(cuts.end(), kOddCuts.begin(), kOddCuts.end());
  const Finished r = finish(split(f, cuts), request(s, true, 1428));  // L3 of a segment: 1500
  ASSERT_EQ(r.result, FinishResult::kOk);
  check_segments(s, f, r.frames, 1428);
}

TEST(TunnelFinish, SegmentsAVlanTaggedFrame) {
  Spec s;
  s.tagged = true;
  s.payload = 9001;
  const Bytes f = build(s);
  const Finished r = finish(split(f, cuts_after_headers(58)), request(s, true, 1460));
  ASSERT_EQ(r.result, FinishResult::kOk);
  check_segments(s, f, r.frames, 1460);
  EXPECT_EQ(be16(&r.frames[0][12]), 0x8100);
  EXPECT_EQ(be16(&r.frames[0][14]), kTag);
}

TEST(TunnelFinish, ASuperFrameOfOneSegmentKeepsEveryFlag) {
  Spec s;
  s.payload = 1000;
  const Bytes f = build(s);
  const Finished r = finish(split(f, {54, 1}), request(s, true, 1448));
  ASSERT_EQ(r.result, FinishResult::kOk);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_TRUE(r.frames[0] == f);  // headers and checksums as they were
}

TEST(TunnelFinish, FinishesPartialChecksums) {
  for (const bool v6 : {false, true}) {
    for (const uint8_t proto : {kUdp, kTcp}) {
      SCOPED_TRACE(std::string(v6 ? "IPv6 " : "IPv4 ") + (proto == kTcp ? "TCP" : "UDP"));
      Spec s;
      s.v6 = v6;
      s.proto = proto;
      s.payload = 1001;
      const Bytes good = build(s);
      Bytes partial = good;
      const std::size_t field = csum_field(s);
      const uint8_t* ip = &partial[l2_of(s)];
      set16(&partial[field], pseudo_sum(ip, v6, proto, l4_of(s) + s.payload));
      for (const auto& cuts : {std::vector<uint32_t>{},                  // linear
                               std::vector<uint32_t>{13, 7, 101, 3, 1},  // odd pieces
                               std::vector<uint32_t>(partial.size(), 1)}) {
        const Finished r = finish(split(partial, cuts), request(s, false));
        ASSERT_EQ(r.result, FinishResult::kOk);
        ASSERT_EQ(r.frames.size(), 1u);
        EXPECT_EQ(be16(&r.frames[0][field]), be16(&good[field]));
        EXPECT_TRUE(r.frames[0] == good);
      }
    }
  }
}

TEST(TunnelFinish, APartialChecksumLeavesEthernetPaddingOutOfTheSum) {
  Spec s;
  s.proto = kUdp;
  s.payload = 5;  // 14 + 20 + 8 + 5 = 47 bytes, padded to 60 on a wire
  Bytes good = build(s);
  good.resize(60, 0xa5);
  Bytes partial = good;
  set16(&partial[csum_field(s)], pseudo_sum(&partial[14], false, kUdp, 13));
  const Finished r = finish(split(partial, {41}), request(s, false));
  ASSERT_EQ(r.result, FinishResult::kOk);
  EXPECT_TRUE(r.frames[0] == good);
}

TEST(TunnelFinish, RefusesSegmentsPastTheMtu) {
  Spec s;
  s.payload = 10000;
  const Bytes f = build(s);
  EXPECT_EQ(finish(split(f, {}), request(s, true, 1460)).result, FinishResult::kOk);
  EXPECT_EQ(finish(split(f, {}), request(s, true, 1461)).result, FinishResult::kTooBig);
  EXPECT_EQ(finish(split(f, {}), request(s, true, 1400), 1400).result, FinishResult::kTooBig);
  s.payload = 1000;  // one short segment fits, however large the mss
  EXPECT_EQ(finish(split(build(s), {}), request(s, true, 9000)).result, FinishResult::kOk);
}

TEST(TunnelFinish, SaysNoRoomWhenTheBufferOrTheFrameTableIsShort) {
  Spec s;
  s.payload = 10000;
  const Bytes f = build(s);
  const auto segs = split(f, {54, 999});
  const std::size_t need = 7 * (8 + 54) + 10000;  // 7 segments of 1460 at most
  EXPECT_EQ(finish(segs, request(s, true, 1460), 1500, need).result, FinishResult::kOk);
  EXPECT_EQ(finish(segs, request(s, true, 1460), 1500, need - 1).result, FinishResult::kNoRoom);
  EXPECT_EQ(finish(segs, request(s, true, 1460), 1500, 2000).result, FinishResult::kNoRoom);
  EXPECT_EQ(finish(segs, request(s, true, 1460), 1500, kBufLen, 7).result, FinishResult::kOk);
  EXPECT_EQ(finish(segs, request(s, true, 1460), 1500, kBufLen, 6).result, FinishResult::kNoRoom);
  s.payload = 100;
  const Bytes small = build(s);
  EXPECT_EQ(finish(split(small, {}), request(s, false), 1500, small.size() + 7).result,
            FinishResult::kNoRoom);
  EXPECT_EQ(finish(split(small, {}), request(s, false), 1500, kBufLen, 0).result,
            FinishResult::kNoRoom);
}

TEST(TunnelFinish, RefusesATsoRequestOnAUdpFrame) {
  Spec s;
  s.proto = kUdp;
  s.payload = 3000;
  EXPECT_EQ(finish(split(build(s), {}), request(s, true, 1400)).result, FinishResult::kMalformed);
}

TEST(TunnelFinish, RefusesHeadersPastTheEndOfTheFrame) {
  Spec s;
  s.payload = 0;
  Bytes f = build(s);
  f.resize(14 + 20 + 10);  // the TCP header cut
  EXPECT_EQ(finish(split(f, {}), request(s, true, 1400)).result, FinishResult::kMalformed);
  EXPECT_EQ(finish(split(f, {}), request(s, false)).result, FinishResult::kMalformed);
  s.payload = 500;
  Bytes cut = build(s);
  cut.resize(cut.size() - 1);  // the IPv4 total length one past the frame
  EXPECT_EQ(finish(split(cut, {}), request(s, true, 1400)).result, FinishResult::kMalformed);
  EXPECT_EQ(finish(split(cut, {}), request(s, false)).result, FinishResult::kMalformed);
  s.payload = 0;
  Bytes options = build(s);
  options[14] = 0x4f;  // 40 bytes of IPv4 options that the frame does not have
  OffloadRequest r = request(s, true, 1400);
  r.l3_len = 60;
  EXPECT_EQ(finish(split(options, {}), r).result, FinishResult::kMalformed);
}

TEST(TunnelFinish, RefusesRequestsTheHeadersContradict) {
  Spec s;
  s.payload = 3000;
  const Bytes f = build(s);
  const auto malformed = [&](const OffloadRequest& r, const Bytes& frame) {
    return finish(split(frame, {}), r).result == FinishResult::kMalformed;
  };
  OffloadRequest r = request(s, true, 1400);
  r.l3_len = 24;  // not the IHL
  EXPECT_TRUE(malformed(r, f));
  r = request(s, true, 1400);
  r.l4_len = 24;  // not the data offset
  EXPECT_TRUE(malformed(r, f));
  r = request(s, true, 1400);
  r.l2_len = 18;  // no tag
  EXPECT_TRUE(malformed(r, f));
  r = request(s, true, 0);  // no mss
  EXPECT_TRUE(malformed(r, f));
  Bytes fragment = f;
  fragment[14 + 6] |= 0x20;  // more fragments
  EXPECT_TRUE(malformed(request(s, false), fragment));
  Bytes v6 = f;
  v6[14] = 0x65;  // an IPv6 version in an IPv4 EtherType
  EXPECT_TRUE(malformed(request(s, false), v6));
  Spec s6;
  s6.v6 = true;
  s6.payload = 3000;
  Bytes ext = build(s6);
  ext[14 + 6] = 0;  // hop-by-hop options first
  EXPECT_TRUE(malformed(request(s6, true, 1400), ext));
  EXPECT_TRUE(malformed(request(s6, false), ext));
  OffloadRequest r6 = request(s6, true, 1400);
  r6.l3_len = 48;
  EXPECT_TRUE(malformed(r6, ext));
}

}  // namespace

// Receive coalescing: the segments a TSO frame was cut into, received one by one, merge back
// into one frame that is the original but for the checksum left partial.
namespace {

using vs::TcpSegment;

// The runs coalesce() would make of `frames` (their lengths), as switch/tunnel_io.cpp drives
// the three functions; each run's frames merged in place into out[run].
std::vector<std::size_t> merge_runs(const std::vector<Bytes>& frames, std::vector<Bytes>& out) {
  std::vector<std::size_t> runs;
  for (std::size_t i = 0; i < frames.size();) {
    TcpSegment first, last, next;
    std::size_t j = i + 1;
    uint32_t payload = 0;
    Bytes merged = frames[i];
    if (vs::tcp_segment_of(frames[i].data(), static_cast<uint32_t>(frames[i].size()), first)) {
      last = first;
      payload = first.payload;
      while (j < frames.size() &&
             vs::tcp_segment_of(frames[j].data(), static_cast<uint32_t>(frames[j].size()), next) &&
             vs::tcp_segment_continues(frames[i].data(), first, payload, last, frames[j].data(),
                                       next)) {
        merged.insert(merged.end(), frames[j].begin() + next.hdr_len, frames[j].end());
        payload += next.payload;
        last = next;
        ++j;
      }
      if (j - i >= 2) vs::tcp_merge_headers(merged.data(), first, payload, last.psh);
    }
    runs.push_back(j - i);
    out.push_back(std::move(merged));
    i = j;
  }
  return runs;
}

// `merged` is `orig` (a frame built whole) but for the TCP checksum, which holds the
// pseudo-header sum: finished, it is orig's.
void expect_merged_is(const Spec& s, const Bytes& orig, Bytes merged) {
  ASSERT_EQ(merged.size(), orig.size());
  const std::size_t field = csum_field(s);
  uint8_t* ip = merged.data() + l2_of(s);
  const uint32_t tcp_len = static_cast<uint32_t>(merged.size()) - l2_of(s) - l3_of(s);
  EXPECT_EQ(be16(&merged[field]), pseudo_sum(ip, s.v6, kTcp, tcp_len));
  set16(&merged[field], static_cast<uint16_t>(~ones_sum(ip + l3_of(s), tcp_len, 0)));
  EXPECT_EQ(merged, orig);
}

Spec bulk_spec(bool v6) {
  Spec s;
  s.v6 = v6;
  s.tcp_options = 12;  // a timestamp's room: equal in every segment of one TSO frame
  s.tcp_flags = kAck | kPsh;
  s.payload = v6 ? 14280 : 14480;
  return s;
}

TEST(Coalesce, TheSegmentsOfATsoFrameMergeBackIntoIt) {
  for (const bool v6 : {false, true}) {
    const Spec s = bulk_spec(v6);
    const Bytes f = build(s);
    const uint32_t mss = v6 ? 1428 : 1448;
    const Finished r = finish(split(f, {static_cast<uint32_t>(f.size())}), request(s, true, mss));
    ASSERT_EQ(r.result, FinishResult::kOk);
    ASSERT_EQ(r.frames.size(), 10u);
    std::vector<Bytes> out;
    EXPECT_EQ(merge_runs(r.frames, out), std::vector<std::size_t>{10}) << "v6 " << v6;
    expect_merged_is(s, f, out[0]);
  }
}

// A segment (IPv4, untagged) edited: its checksums made right again.
void refresh(Bytes& f) {
  const uint32_t ip_len = static_cast<uint32_t>(f.size()) - 14;
  set16(&f[14 + 2], ip_len);
  set16(&f[14 + 10], 0);
  set16(&f[14 + 10], static_cast<uint16_t>(~ones_sum(&f[14], 20, 0)));
  set16(&f[34 + 16], 0);
  set16(&f[34 + 16], static_cast<uint16_t>(~ones_sum(
                         &f[34], ip_len - 20, pseudo_sum(&f[14], false, kTcp, ip_len - 20))));
}

TEST(Coalesce, PshOrAShortSegmentEndsARun) {
  Spec s = bulk_spec(false);
  s.tcp_flags = kAck;
  const Finished r = finish(split(build(s), {20000}), request(s, true, 1448));
  ASSERT_EQ(r.frames.size(), 10u);
  std::vector<Bytes> out;
  std::vector<Bytes> psh = r.frames;
  psh[4][34 + 13] |= kPsh;  // PSH in the middle: the run ends with that segment
  refresh(psh[4]);
  EXPECT_EQ(merge_runs(psh, out), (std::vector<std::size_t>{5, 5}));
  std::vector<Bytes> shorter = r.frames;  // segment 3 cut to 1000 bytes, 4 following it
  shorter[3].resize(shorter[3].size() - 448);
  refresh(shorter[3]);
  for (std::size_t i = 4; i < shorter.size(); ++i) {
    set16(&shorter[i][34 + 4], 0);  // seq - 448, written as two halves
    const uint32_t seq = be32(&r.frames[i][34 + 4]) - 448;
    set16(&shorter[i][34 + 4], seq >> 16);
    set16(&shorter[i][34 + 6], seq & 0xffff);
    refresh(shorter[i]);
  }
  out.clear();
  EXPECT_EQ(merge_runs(shorter, out), (std::vector<std::size_t>{4, 6}));
  std::vector<Bytes> dup = r.frames;
  dup.push_back(dup.back());  // a duplicate: its seq does not follow
  out.clear();
  EXPECT_EQ(merge_runs(dup, out), (std::vector<std::size_t>{10, 1}));
}

TEST(Coalesce, RefusesWhatGroCannotMerge) {
  const Spec s = bulk_spec(false);
  const Finished r = finish(split(build(s), {20000}), request(s, true, 1448));
  ASSERT_EQ(r.result, FinishResult::kOk);
  TcpSegment seg;
  Bytes bad = r.frames[1];
  bad.back() ^= 1;  // a payload byte flipped: the checksum catches it
  EXPECT_FALSE(vs::tcp_segment_of(bad.data(), static_cast<uint32_t>(bad.size()), seg));
  std::vector<Bytes> gap = {r.frames[0], r.frames[2]};  // a segment missing
  std::vector<Bytes> out;
  EXPECT_EQ(merge_runs(gap, out), (std::vector<std::size_t>{1, 1}));
  Bytes other = r.frames[1];  // another flow: its source port differs
  const std::size_t sport = 14 + 20;
  set16(&other[sport], be16(&other[sport]) + 1);
  set16(&other[csum_field(s)], 0);
  set16(&other[csum_field(s)],
        static_cast<uint16_t>(~ones_sum(
            &other[sport], other.size() - sport,
            pseudo_sum(&other[14], false, kTcp, static_cast<uint32_t>(other.size() - 34)))));
  ASSERT_TRUE(vs::tcp_segment_of(other.data(), static_cast<uint32_t>(other.size()), seg));
  out.clear();
  EXPECT_EQ(merge_runs({r.frames[0], other}, out), (std::vector<std::size_t>{1, 1}));
  Spec syn = s;
  syn.tcp_flags = kAck | kFin;  // FIN (and SYN, RST, URG, ECE, CWR) is never merged
  syn.payload = 100;
  const Bytes fin = build(syn);
  EXPECT_FALSE(vs::tcp_segment_of(fin.data(), static_cast<uint32_t>(fin.size()), seg));
  Spec tagged = s;
  tagged.tagged = true;
  tagged.payload = 100;
  tagged.tcp_flags = kAck;
  const Bytes t = build(tagged);
  EXPECT_FALSE(vs::tcp_segment_of(t.data(), static_cast<uint32_t>(t.size()), seg));
}

}  // namespace
