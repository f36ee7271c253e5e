// libFuzzer target: VXLAN headers as any remote can send them, and any frame with any offload
// request a TAP port's mbuf can carry, split into 1-4 gather segments at any points
// (switch/tunnel.hpp). Each segment, the output buffer and the frame table are allocations of
// their exact size, so ASan sees any byte read or written outside them. What tunnel_finish
// reports must hold: nothing on failure; frames in order inside the buffer, each behind a VXLAN
// header of the VNI, within the MTU; the segments of a TSO frame with checksums that verify.
// The same input, cut in two, also goes to the receive coalescing (fuzz_coalesce).
//
// Input: [0] bit 0 tso, bit 1 partial checksum, bits 2-3 segments - 1; [1] l2_len; [2] l3_len;
// [3] l4_len; [4-5] mss; [6-7] mtu; [8-13] three cut points; [14-15] buffer length / 2;
// [16] max frames; [17-19] VNI; then the frame.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "switch/tunnel.hpp"

namespace {

constexpr size_t kHeader = 20;

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

void check(bool ok) {
  if (!ok) std::abort();
}

// The Internet checksum of the test's own: byte by byte, even bytes high.
uint16_t ones_sum(const uint8_t* p, size_t n, uint64_t s) {
  for (size_t i = 0; i < n; ++i) s += i % 2 == 0 ? uint64_t{p[i]} << 8 : p[i];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

// A TSO segment (`eth`, `len` bytes, `l2` of them Ethernet) is IPv4 or IPv6 TCP whose checksums
// verify, within the MTU.
void check_segment(const uint8_t* eth, size_t len, size_t l2, uint16_t mtu) {
  check(len >= l2 + 40);
  const uint8_t* ip = eth + l2;
  const bool v6 = ip[0] >> 4 == 6;
  const size_t l3 = v6 ? 40 : (ip[0] & 0xfu) * 4;
  const size_t ip_len = v6 ? 40u + be16(ip + 4) : be16(ip + 2);
  check(ip_len == len - l2 && ip_len <= mtu && ip_len >= l3 + 20);
  check((v6 ? ip[6] : ip[9]) == 6);
  if (!v6) check(ones_sum(ip, l3, 0) == 0xffff);
  const size_t tcp_len = ip_len - l3;
  const uint64_t fields = 6 + tcp_len;
  const uint16_t pseudo = v6 ? ones_sum(ip + 8, 32, fields) : ones_sum(ip + 12, 8, fields);
  check(ones_sum(ip + l3, tcp_len, pseudo) == 0xffff);
}

void fuzz_vxlan(const uint8_t* data, size_t size) {
  uint32_t vni = 0;
  const vs::VxlanCheck r = vs::vxlan_parse(data, size, vni);
  if (r == vs::VxlanCheck::kOk) check(vni <= vs::kVxlanMaxVni && data[0] == 0x08);
  if (size < 4) return;
  const uint32_t want = static_cast<uint32_t>(data[1] << 16 | data[2] << 8 | data[3]);
  uint8_t header[vs::kVxlanHeaderLen + 14] = {};
  vs::vxlan_write(header, want);
  check(vs::vxlan_parse(header, sizeof(header), vni) == vs::VxlanCheck::kOk && vni == want);
}

// Receive coalescing: the input as two frames (cut where its first two bytes say), each in an
// allocation of its exact size. What parses is a segment of the frame; two that continue merge
// into headers whose IP length counts both payloads.
void fuzz_coalesce(const uint8_t* data, size_t size) {
  if (size < 2) return;
  const size_t cut = 2 + be16(data) % (size - 1);
  const size_t la = cut - 2, lb = size - cut;
  std::unique_ptr<uint8_t[]> a(new uint8_t[la]), b(new uint8_t[lb]);
  if (la) std::memcpy(a.get(), data + 2, la);
  if (lb) std::memcpy(b.get(), data + cut, lb);
  vs::TcpSegment sa, sb;
  const bool ok_a = vs::tcp_segment_of(a.get(), static_cast<uint32_t>(la), sa);
  const bool ok_b = vs::tcp_segment_of(b.get(), static_cast<uint32_t>(lb), sb);
  if (ok_a) check(sa.payload > 0 && sa.hdr_len + sa.payload == la);
  if (!ok_a || !ok_b) return;
  if (!vs::tcp_segment_continues(a.get(), sa, sa.payload, sa, b.get(), sb)) return;
  check(sb.seq == sa.seq + sa.payload && sb.payload <= sa.payload);
  vs::tcp_merge_headers(a.get(), sa, sa.payload + sb.payload, sb.psh);
  const uint8_t* ip = a.get() + 14;
  const uint32_t l4 = sa.hdr_len - 14 - sa.l3_len + sa.payload + sb.payload;
  check(sa.v6 ? be16(ip + 4) == l4 : be16(ip + 2) == sa.l3_len + l4);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz_vxlan(data, size);
  fuzz_coalesce(data, size);
  if (size < kHeader) return 0;
  vs::OffloadRequest req;
  req.tso = data[0] & 1;
  req.l4_csum_partial = data[0] & 2;
  const unsigned nsegs = 1 + ((data[0] >> 2) & 3);
  req.l2_len = data[1];
  req.l3_len = data[2];
  req.l4_len = data[3];
  req.mss = be16(data + 4);
  const uint16_t mtu = be16(data + 6);
  const size_t buf_len = size_t{be16(data + 14)} * 2;
  const unsigned max_frames = data[16];
  const uint32_t vni = static_cast<uint32_t>(data[17] << 16 | data[18] << 8 | data[19]);
  const uint8_t* frame = data + kHeader;
  const size_t frame_len = size - kHeader;

  // Segments ending at the cut points (sorted, within the frame), each in its own allocation.
  size_t ends[4] = {frame_len, frame_len, frame_len, frame_len};
  for (unsigned i = 0; i + 1 < nsegs; ++i) ends[i] = be16(data + 8 + 2 * i) % (frame_len + 1);
  std::sort(ends, ends + nsegs);
  std::unique_ptr<uint8_t[]> copies[4];
  vs::FrameSegment segs[4];
  size_t at = 0;
  for (unsigned i = 0; i < nsegs; ++i) {
    const size_t n = ends[i] - at;
    copies[i].reset(new uint8_t[n]);
    if (n) std::memcpy(copies[i].get(), frame + at, n);
    segs[i] = {copies[i].get(), static_cast<uint32_t>(n)};
    at = ends[i];
  }

  std::unique_ptr<uint8_t[]> buf(new uint8_t[buf_len]);
  std::unique_ptr<vs::TunnelFrame[]> frames(new vs::TunnelFrame[max_frames]);
  unsigned n = 1000;
  const vs::FinishResult r = vs::tunnel_finish(segs, nsegs, req, vni, mtu, buf.get(), buf_len,
                                               frames.get(), max_frames, n);
  if (r != vs::FinishResult::kOk) {
    check(n == 0);
    return 0;
  }
  check(n >= 1 && n <= max_frames);
  check(req.tso || n == 1);
  size_t end = 0;
  for (unsigned i = 0; i < n; ++i) {
    const vs::TunnelFrame& f = frames[i];
    check(f.offset >= end && f.len <= buf_len && f.offset <= buf_len - f.len);
    end = size_t{f.offset} + f.len;
    uint32_t got = 0;
    check(vs::vxlan_parse(buf.get() + f.offset, f.len, got) == vs::VxlanCheck::kOk);
    check(got == (vni & vs::kVxlanMaxVni));
    const uint8_t* eth = buf.get() + f.offset + vs::kVxlanHeaderLen;
    const size_t len = f.len - vs::kVxlanHeaderLen;
    const size_t l2 =
        vs::tunnel_needs_finish(req) ? req.l2_len : (be16(eth + 12) == 0x8100 ? 18 : 14);
    if (req.tso)
      check_segment(eth, len, l2, mtu);
    else
      check(len == frame_len && len - l2 <= mtu);
  }
  return 0;
}
