// VXLAN tunnel ports (RFC 7348): the VXLAN header, and finishing what a TAP port's frame leaves
// to the NIC (TCP segmentation, a partial TCP/UDP checksum) before a worker sends it over a
// kernel UDP socket, where nothing would finish it. Pure functions on bytes, without DPDK (the
// worker turns its mbuf chain and offload flags into a FrameSegment list and an OffloadRequest),
// shared by the worker, the unit tests and the fuzzer (tests/fuzz/tunnel_fuzz.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace vs {

inline constexpr std::size_t kVxlanHeaderLen = 8;
// Outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14: an underlay MTU of 1550 carries an inner
// L3 MTU of 1500.
inline constexpr std::size_t kVxlanOverheadV4 = 50;
inline constexpr uint32_t kVxlanMaxVni = 0xffffff;

enum class VxlanCheck : uint8_t { kOk, kShort, kBadFlags };

// The VXLAN header at `p` (`len` bytes: the UDP payload). Strict like Linux's vxlan driver: the
// flags byte exactly 0x08 (I set, no extension bits: a GPE/GBP packet is not an Ethernet payload
// we understand), the 24 reserved bits after the flags and the 8 after the VNI zero; len >= 8 + 14
// (an inner Ethernet header). Fills vni only with kOk.
VxlanCheck vxlan_parse(const uint8_t* p, std::size_t len, uint32_t& vni);
// Writes the 8 bytes of a VXLAN header (flags I, reserved bits zero) for the low 24 bits of vni.
void vxlan_write(uint8_t* p, uint32_t vni);

// The frame as a gather list (an mbuf chain's segments), with the offload request it carries.
struct FrameSegment {
  const uint8_t* data;
  uint32_t len;
};
struct OffloadRequest {
  bool tso = false;              // TCP segmentation: split into segments of at most mss payload
  bool l4_csum_partial = false;  // TCP or UDP checksum holds the pseudo-header sum: finish it
  uint16_t l2_len = 0, l3_len = 0, l4_len = 0;  // header lengths (l4_len: TCP header for tso)
  uint16_t mss = 0;                             // tso: payload bytes per segment
};
struct TunnelFrame {  // one output frame in the buffer
  uint32_t offset;
  uint32_t len;
};
enum class FinishResult : uint8_t { kOk, kNoRoom, kTooBig, kMalformed };

// False when the frame needs nothing done: the caller sends it as it is (zero-copy, an iovec
// behind its VXLAN header) instead of calling tunnel_finish.
inline bool tunnel_needs_finish(const OffloadRequest& req) {
  return req.tso || req.l4_csum_partial;
}

// Writes each frame to send into `buf`: [VXLAN header(vni) | inner frame], linear, every checksum
// complete. tso: segments of mss payload bytes each, all checksums computed afresh; IPv4 total
// length, ID (+1 per segment) and header checksum updated, IPv6 payload length updated, TCP seq
// advanced, FIN and PSH only on the last segment, CWR only on the first. l4_csum_partial (without
// tso): the frame copied as it is, its TCP/UDP checksum finished over the L4 bytes the IP header
// counts (the IPv4 header checksum is the sender's: virtio has no offload for it). Neither: one
// plain copy.
// Results, nframes 0 unless kOk:
// - kTooBig: a frame whose L3 length (IP header + L4 header + payload; for a frame without a
//   request, all bytes after its Ethernet header and tag) exceeds `mtu`;
// - kNoRoom: the frames don't fit in buf_len or more than max_frames are needed (the caller
//   flushes and retries);
// - kMalformed: headers that don't match the request: l2_len other than 14 or 18 (one 802.1Q
//   tag), an IP version other than the EtherType's, an IPv4 header length other than l3_len, an
//   IPv4 fragment, IPv6 extension headers (l3_len must be 40), a protocol other than TCP (tso) or
//   TCP/UDP (partial), l4_len other than the TCP header's length or 8 for UDP, an IP length past
//   the frame or short of the headers, mss 0 with tso; a frame without a request shorter than its
//   Ethernet header.
// Bytes after the IP packet (Ethernet padding) are copied with a partial-checksum frame, dropped
// by tso, and counted in no checksum.
FinishResult tunnel_finish(const FrameSegment* segs, unsigned nsegs, const OffloadRequest& req,
                           uint32_t vni, uint16_t mtu, uint8_t* buf, std::size_t buf_len,
                           TunnelFrame* frames, unsigned max_frames, unsigned& nframes);

// Receive coalescing (software GRO). A worker that reads a flow's TCP segments from a tunnel
// hands the VM's TAP one super-frame for a run of them, as the kernel's GRO does behind its own
// VXLAN device: the VM's stack then runs once per run, not per 1.4 KB. A run: consecutive
// segments of one flow, in order, all the size of the first but the last, none but the last
// with PSH. The merged frame's TCP checksum is left partial (the pseudo-header sum), as a TAP's
// reader writes it with NEEDS_CSUM: so every segment's own checksum is verified first.
struct TcpSegment {
  uint32_t hdr_len = 0;  // Ethernet + IP + TCP headers
  uint32_t payload = 0;  // TCP payload bytes
  uint32_t seq = 0;
  uint16_t l3_len = 0;
  uint16_t l4_len = 0;
  bool v6 = false;
  bool psh = false;
};
// True if the frame (`len` linear bytes) is an untagged IPv4 (no options, not a fragment) or
// IPv6 (no extension header) TCP segment with a payload, flags ACK and maybe PSH only, its IP
// length exactly the rest of the frame, and a correct TCP checksum.
bool tcp_segment_of(const uint8_t* frame, uint32_t len, TcpSegment& seg);
// True if segment `b` extends the run whose first frame's headers are `first_hdr` (`first`) and
// whose last segment is `last`: the same Ethernet, IP and TCP headers but for the IP length, ID
// and checksum and the TCP sequence number, checksum and PSH (TCP options included, so equal
// timestamps); b.seq right after last's payload; last the first's size and without PSH; b no
// larger than the first; and the merged IP packet within 64 KB.
bool tcp_segment_continues(const uint8_t* first_hdr, const TcpSegment& first, uint32_t run_payload,
                           const TcpSegment& last, const uint8_t* b_hdr, const TcpSegment& b);
// Rewrites the first frame's headers (in place) for the merged frame of `payload` bytes: the IP
// length (and IPv4 header checksum), PSH if the last segment had it, and the TCP checksum field
// as the pseudo-header sum of the merged length (partial).
void tcp_merge_headers(uint8_t* hdr, const TcpSegment& first, uint32_t payload, bool psh);

// "10.99.0.2" for an IPv4 address in network byte order.
std::string ipv4_text(uint32_t addr);

}  // namespace vs
