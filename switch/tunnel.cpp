#include "switch/tunnel.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace vs {
namespace {

constexpr uint8_t kVxlanFlagVni = 0x08;  // I: the VNI is valid; every other bit is an extension
constexpr uint16_t kEtherTypeIpv4 = 0x0800, kEtherTypeIpv6 = 0x86dd, kTpid8021q = 0x8100;
constexpr uint8_t kProtoTcp = 6, kProtoUdp = 17;
constexpr uint8_t kTcpFin = 0x01, kTcpPsh = 0x08, kTcpAck = 0x10, kTcpCwr = 0x80;
constexpr uint32_t kEthLen = 14, kTaggedEthLen = 18;
// The longest headers a request can describe: a tagged Ethernet header, IPv4 with 40 bytes of
// options, TCP with 40 bytes of options.
constexpr uint32_t kMaxHeaders = kTaggedEthLen + 60 + 60;

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
void put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v);
}

// The Internet checksum (RFC 1071) of a byte stream fed in pieces of any length. A piece may
// start in the middle of a 16-bit word (after an mbuf segment of odd length), so the sum
// remembers whether the next byte is the high or the low half of a word.
class Csum {
 public:
  void add(const uint8_t* p, std::size_t n) {
    if (n == 0) return;
    if (odd_) {
      acc_ += *p++;
      --n;
      odd_ = false;
    }
    if (n >= 16) add_bulk(p, n);
    for (; n >= 2; p += 2, n -= 2) acc_ += static_cast<uint32_t>(p[0] << 8 | p[1]);
    if (n == 1) {
      acc_ += static_cast<uint32_t>(*p) << 8;
      odd_ = true;
    }
  }
  // Eight bytes a step: every byte of a TSO frame sent to a tunnel is summed as it is copied.
  // The sum of 16-bit words is the same in either byte order, swapped (RFC 1071
  // 2.B), so the words are added as the CPU loads them and the result is swapped once.
  void add_bulk(const uint8_t*& p, std::size_t& n) {
    uint64_t s = 0;
    for (; n >= 8; p += 8, n -= 8) {
      uint64_t v;
      std::memcpy(&v, p, 8);
      s += (v & 0xffffffff) + (v >> 32);  // 2^32 steps before an overflow
    }
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    if constexpr (std::endian::native == std::endian::little) s = (s >> 8) | ((s & 0xff) << 8);
    acc_ += s;
  }
  // A 16-bit word at an even position (the pseudo-header's fields).
  void add_word(uint32_t w) { acc_ += w & 0xffff; }
  // The sum of another stream whose first byte lands at an even position of this one.
  void merge(const Csum& other) { acc_ += other.acc_; }
  // Ones-complement: the carries out of bit 15 wrap around.
  uint16_t fold() const {
    uint64_t s = acc_;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<uint16_t>(s);
  }

 private:
  uint64_t acc_ = 0;  // no overflow before 2^48 words
  bool odd_ = false;
};

// Reads a gather list front to back.
class Gather {
 public:
  Gather(const FrameSegment* segs, unsigned n) : segs_(segs), n_(n) {}
  // Copies the next `len` bytes to `dst` (nullptr: skips them), adding them to `sum` if given.
  // The caller has checked that the frame holds them.
  void copy(uint8_t* dst, std::size_t len, Csum* sum) {
    while (len > 0 && i_ < n_) {
      const FrameSegment& s = segs_[i_];
      const uint32_t take = static_cast<uint32_t>(std::min<std::size_t>(len, s.len - off_));
      if (take > 0) {
        const uint8_t* src = s.data + off_;
        if (dst != nullptr) {
          std::memcpy(dst, src, take);
          dst += take;
        }
        if (sum != nullptr) sum->add(src, take);
        len -= take;
        off_ += take;
      }
      if (off_ == s.len) {
        ++i_;
        off_ = 0;
      }
    }
  }

 private:
  const FrameSegment* segs_;
  unsigned n_;
  unsigned i_ = 0;
  uint32_t off_ = 0;
};

// Where a frame's headers are, once they match the request.
struct Layout {
  uint32_t l2 = 0, l3 = 0, l4 = 0;
  uint32_t ip_len = 0;  // the IP packet, header included, as its header says
  bool v6 = false;
  uint8_t proto = 0;
  uint32_t headers() const { return l2 + l3 + l4; }
};

// What tunnel_finish writes to.
struct Output {
  uint32_t vni;
  uint16_t mtu;
  uint8_t* buf;
  std::size_t buf_len;
  TunnelFrame* frames;
  unsigned max_frames;
};

// The EtherType after an L2 header of l2 (14 or 18) bytes, or 0 if the tag is not where the
// request says.
uint16_t inner_ethertype(const uint8_t* eth, uint32_t l2) {
  const uint16_t type = be16(eth + 12);
  if (l2 == kTaggedEthLen) return type == kTpid8021q ? be16(eth + 16) : 0;
  return type == kTpid8021q ? 0 : type;
}

// The IP header (l3 bytes, at least 20, at `ip`) against the request; fills ip_len and proto.
bool check_ip(const uint8_t* ip, uint16_t ethertype, Layout& lay) {
  if (ethertype == kEtherTypeIpv4) {
    if (ip[0] >> 4 != 4 || (ip[0] & 0xfu) * 4 != lay.l3) return false;
    // A fragment's L4 header and checksum span the other fragments too.
    if ((be16(ip + 6) & 0x3fff) != 0) return false;
    lay.ip_len = be16(ip + 2);
    lay.proto = ip[9];
    return true;
  }
  // With an extension header, either l3_len is not 40 or the next header is neither TCP nor UDP
  // (refused by check_l4): we would have to walk them to find the checksum.
  if (ethertype != kEtherTypeIpv6 || ip[0] >> 4 != 6 || lay.l3 != 40) return false;
  lay.v6 = true;
  lay.ip_len = 40u + be16(ip + 4);  // a jumbogram's 0 falls short of the headers: refused
  lay.proto = ip[6];
  return true;
}

// The L4 header (l4 bytes, at least 8, at `l4`) against the request.
bool check_l4(const uint8_t* l4, const OffloadRequest& req, const Layout& lay) {
  if (lay.proto == kProtoTcp) return lay.l4 >= 20 && (l4[12] >> 4) * 4u == lay.l4;
  return !req.tso && lay.proto == kProtoUdp && lay.l4 == 8;
}

// Copies the headers the request describes into `hdr` (kMaxHeaders bytes) and checks them.
FinishResult read_headers(const FrameSegment* segs, unsigned nsegs, uint64_t frame_len,
                          const OffloadRequest& req, uint8_t* hdr, Layout& lay) {
  lay.l2 = req.l2_len;
  lay.l3 = req.l3_len;
  lay.l4 = req.l4_len;
  const bool sizes_ok = (lay.l2 == kEthLen || lay.l2 == kTaggedEthLen) && lay.l3 >= 20 &&
                        lay.l3 <= 60 && lay.l4 >= 8 && lay.l4 <= 60;
  if (!sizes_ok || lay.headers() > frame_len) return FinishResult::kMalformed;
  Gather(segs, nsegs).copy(hdr, lay.headers(), nullptr);
  const uint8_t* ip = hdr + lay.l2;
  if (!check_ip(ip, inner_ethertype(hdr, lay.l2), lay) || !check_l4(ip + lay.l3, req, lay))
    return FinishResult::kMalformed;
  if (lay.ip_len < lay.l3 + lay.l4 || lay.ip_len > frame_len - lay.l2)
    return FinishResult::kMalformed;
  if (req.tso && req.mss == 0) return FinishResult::kMalformed;
  return FinishResult::kOk;
}

// A segment's IP header for l4_bytes of TCP: its length, and for IPv4 the ID and header checksum.
// `ip` holds the original header, so the ID is the original's + index.
void patch_ip(uint8_t* ip, const Layout& lay, uint32_t index, uint32_t l4_bytes) {
  if (lay.v6) {
    put16(ip + 4, l4_bytes);
    return;
  }
  put16(ip + 2, lay.l3 + l4_bytes);
  put16(ip + 4, be16(ip + 4) + index);
  put16(ip + 10, 0);
  Csum sum;
  sum.add(ip, lay.l3);
  put16(ip + 10, static_cast<uint16_t>(~sum.fold()));
}

// A segment's TCP header: sequence number, and the flags that belong to one end of the stream
// (CWR announces the reduction once; FIN and PSH end what the sender wrote).
void patch_tcp(uint8_t* tcp, uint32_t seq_advance, bool first, bool last) {
  put32(tcp + 4, be32(tcp + 4) + seq_advance);
  if (!last) tcp[13] &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
  if (!first) tcp[13] &= static_cast<uint8_t>(~kTcpCwr);
}

// The TCP checksum, computed afresh (the field's pseudo-header sum was for the whole frame):
// pseudo-header (RFC 9293 3.1, RFC 8200 8.1), header in place, and the payload's sum.
void store_tcp_csum(uint8_t* tcp, const uint8_t* ip, const Layout& lay, uint32_t payload_len,
                    const Csum& payload) {
  const uint32_t tcp_len = lay.l4 + payload_len;
  Csum sum;
  sum.add(lay.v6 ? ip + 8 : ip + 12, lay.v6 ? 32 : 8);  // source and destination addresses
  sum.add_word(kProtoTcp);
  sum.add_word(tcp_len >> 16);
  sum.add_word(tcp_len);
  put16(tcp + 16, 0);
  sum.add(tcp, lay.l4);
  sum.merge(payload);  // the header's length is a multiple of 4: the payload starts even
  put16(tcp + 16, static_cast<uint16_t>(~sum.fold()));
}

// TCP segmentation: each segment is [VXLAN | the original headers, patched | mss payload bytes].
FinishResult segment_tcp(const FrameSegment* segs, unsigned nsegs, const uint8_t* hdr,
                         const Layout& lay, uint32_t mss, const Output& out, unsigned& nframes) {
  const uint32_t hlen = lay.headers();
  const uint32_t payload = lay.ip_len - lay.l3 - lay.l4;
  if (lay.l3 + lay.l4 + std::min(payload, mss) > out.mtu) return FinishResult::kTooBig;
  const uint32_t count = payload == 0 ? 1 : (payload - 1) / mss + 1;
  const uint64_t need = uint64_t{count} * (kVxlanHeaderLen + hlen) + payload;
  if (count > out.max_frames || need > out.buf_len) return FinishResult::kNoRoom;
  Gather body(segs, nsegs);
  body.copy(nullptr, hlen, nullptr);
  uint32_t pos = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t n = std::min(mss, payload - i * mss);
    vxlan_write(out.buf + pos, out.vni);
    uint8_t* eth = out.buf + pos + kVxlanHeaderLen;
    std::memcpy(eth, hdr, hlen);
    Csum sum;
    body.copy(eth + hlen, n, &sum);
    uint8_t* ip = eth + lay.l2;
    patch_ip(ip, lay, i, lay.l4 + n);
    patch_tcp(ip + lay.l3, i * mss, i == 0, i + 1 == count);
    store_tcp_csum(ip + lay.l3, ip, lay, n, sum);
    const uint32_t len = static_cast<uint32_t>(kVxlanHeaderLen) + hlen + n;
    out.frames[i] = {pos, len};
    pos += len;
  }
  nframes = count;
  return FinishResult::kOk;
}

// The Ethernet header length of a frame without a request (14, or 18 with an 802.1Q tag), or 0
// when the frame is shorter than that.
uint32_t plain_l2(const FrameSegment* segs, unsigned nsegs, uint64_t frame_len) {
  if (frame_len < kEthLen) return 0;
  uint8_t eth[kEthLen];
  Gather(segs, nsegs).copy(eth, kEthLen, nullptr);
  const uint32_t l2 = be16(eth + 12) == kTpid8021q ? kTaggedEthLen : kEthLen;
  return frame_len < l2 ? 0 : l2;
}

// One output frame, [VXLAN | the whole frame]. With `lay`, its L4 checksum is finished the way a
// NIC finishes a virtio NEEDS_CSUM packet: the sum of the L4 bytes with the pseudo-header sum in
// the field, complemented (so any pseudo-header the sender chose is kept).
FinishResult copy_frame(const FrameSegment* segs, unsigned nsegs, uint64_t frame_len, uint32_t l2,
                        const Layout* lay, const Output& out, unsigned& nframes) {
  if (frame_len - l2 > out.mtu) return FinishResult::kTooBig;
  const uint64_t need = kVxlanHeaderLen + frame_len;
  if (out.max_frames == 0 || need > out.buf_len) return FinishResult::kNoRoom;
  vxlan_write(out.buf, out.vni);
  uint8_t* eth = out.buf + kVxlanHeaderLen;
  Gather g(segs, nsegs);
  if (lay == nullptr) {
    g.copy(eth, frame_len, nullptr);
  } else {
    const uint32_t l4_at = lay->l2 + lay->l3, l4_bytes = lay->ip_len - lay->l3;
    Csum sum;
    g.copy(eth, l4_at, nullptr);
    g.copy(eth + l4_at, l4_bytes, &sum);
    g.copy(eth + l4_at + l4_bytes, frame_len - l4_at - l4_bytes, nullptr);  // padding
    // A UDP checksum of 0 means "none": a computed 0 goes out as its ones-complement twin 0xffff
    // (RFC 768), as Linux does for every protocol (TCP verifies either).
    const uint16_t csum = static_cast<uint16_t>(~sum.fold());
    put16(eth + l4_at + (lay->proto == kProtoTcp ? 16 : 6), csum == 0 ? 0xffff : csum);
  }
  out.frames[0] = {0, static_cast<uint32_t>(need)};
  nframes = 1;
  return FinishResult::kOk;
}

}  // namespace

VxlanCheck vxlan_parse(const uint8_t* p, std::size_t len, uint32_t& vni) {
  if (len < kVxlanHeaderLen + kEthLen) return VxlanCheck::kShort;
  // RFC 7348 (section 5) says reserved bits are ignored on receipt; we drop, as Linux's vxlan
  // driver does: a bit set there is an extension (GBP, GPE, RCO, ...) whose sender counts on the
  // receiver understanding it, and a GPE payload need not even be Ethernet. Switching it as
  // plain VXLAN would deliver garbage or bypass the policy the sender attached.
  if (p[0] != kVxlanFlagVni || p[1] != 0 || p[2] != 0 || p[3] != 0 || p[7] != 0)
    return VxlanCheck::kBadFlags;
  vni = uint32_t{p[4]} << 16 | uint32_t{p[5]} << 8 | p[6];
  return VxlanCheck::kOk;
}

void vxlan_write(uint8_t* p, uint32_t vni) {
  put32(p, uint32_t{kVxlanFlagVni} << 24);
  put32(p + 4, (vni & kVxlanMaxVni) << 8);
}

FinishResult tunnel_finish(const FrameSegment* segs, unsigned nsegs, const OffloadRequest& req,
                           uint32_t vni, uint16_t mtu, uint8_t* buf, std::size_t buf_len,
                           TunnelFrame* frames, unsigned max_frames, unsigned& nframes) {
  nframes = 0;
  uint64_t frame_len = 0;
  for (unsigned i = 0; i < nsegs; ++i) frame_len += segs[i].len;
  const Output out{vni, mtu, buf, buf_len, frames, max_frames};
  if (!tunnel_needs_finish(req)) {
    const uint32_t l2 = plain_l2(segs, nsegs, frame_len);
    if (l2 == 0) return FinishResult::kMalformed;
    return copy_frame(segs, nsegs, frame_len, l2, nullptr, out, nframes);
  }
  uint8_t hdr[kMaxHeaders];
  Layout lay;
  if (FinishResult r = read_headers(segs, nsegs, frame_len, req, hdr, lay); r != FinishResult::kOk)
    return r;
  if (req.tso) return segment_tcp(segs, nsegs, hdr, lay, req.mss, out, nframes);
  return copy_frame(segs, nsegs, frame_len, lay.l2, &lay, out, nframes);
}

}  // namespace vs

namespace vs {
namespace {

// The pseudo-header's sum (RFC 9293 3.1, RFC 8200 8.1) of a TCP segment of tcp_len bytes.
Csum tcp_pseudo_sum(const uint8_t* ip, bool v6, uint32_t tcp_len) {
  Csum sum;
  sum.add(v6 ? ip + 8 : ip + 12, v6 ? 32 : 8);
  sum.add_word(kProtoTcp);
  sum.add_word(tcp_len >> 16);
  sum.add_word(tcp_len);
  return sum;
}

}  // namespace

bool tcp_segment_of(const uint8_t* frame, uint32_t len, TcpSegment& seg) {
  if (len < kEthLen + 40) return false;
  const uint16_t type = be16(frame + 12);
  const uint8_t* ip = frame + kEthLen;
  uint32_t ip_len = 0;
  if (type == kEtherTypeIpv4) {
    if (ip[0] != 0x45 || (be16(ip + 6) & 0x3fff) != 0 || ip[9] != kProtoTcp) return false;
    seg.v6 = false;
    seg.l3_len = 20;
    ip_len = be16(ip + 2);
  } else if (type == kEtherTypeIpv6) {
    if (len < kEthLen + 60 || ip[0] >> 4 != 6 || ip[6] != kProtoTcp) return false;
    seg.v6 = true;
    seg.l3_len = 40;
    ip_len = 40u + be16(ip + 4);
  } else {
    return false;
  }
  const uint8_t* tcp = ip + seg.l3_len;
  seg.l4_len = static_cast<uint16_t>((tcp[12] >> 4) * 4);
  seg.hdr_len = kEthLen + seg.l3_len + seg.l4_len;
  const uint8_t flags = tcp[13];
  if (seg.l4_len < 20 || ip_len != len - kEthLen || seg.hdr_len >= len) return false;
  if ((flags & ~kTcpPsh) != kTcpAck) return false;  // SYN, FIN, RST, URG, ECE, CWR end a run
  seg.payload = len - seg.hdr_len;
  seg.seq = be32(tcp + 4);
  seg.psh = flags & kTcpPsh;
  Csum sum = tcp_pseudo_sum(ip, seg.v6, seg.l4_len + seg.payload);
  sum.add(tcp, seg.l4_len + seg.payload);  // the header's length is even: one stream
  return sum.fold() == 0xffff;
}

bool tcp_segment_continues(const uint8_t* first_hdr, const TcpSegment& first, uint32_t run_payload,
                           const TcpSegment& last, const uint8_t* b_hdr, const TcpSegment& b) {
  if (b.v6 != first.v6 || b.hdr_len != first.hdr_len || last.psh || last.payload != first.payload ||
      b.payload > first.payload || b.seq != last.seq + last.payload ||
      first.l3_len + first.l4_len + run_payload + b.payload > 65535)
    return false;
  if (std::memcmp(first_hdr, b_hdr, kEthLen) != 0) return false;
  const uint8_t* a = first_hdr + kEthLen;
  const uint8_t* c = b_hdr + kEthLen;
  if (first.v6) {  // version, class, flow label; next header, hop limit; addresses
    if (std::memcmp(a, c, 4) != 0 || std::memcmp(a + 6, c + 6, 34) != 0) return false;
  } else {  // TOS; flags (DF); TTL, protocol; addresses
    if (a[1] != c[1] || a[6] != c[6] || a[8] != c[8] || std::memcmp(a + 12, c + 12, 8) != 0)
      return false;
  }
  const uint8_t* ta = a + first.l3_len;
  const uint8_t* tc = c + first.l3_len;
  // Ports; acknowledgment, data offset; flags (PSH aside); window; urgent pointer and options.
  return std::memcmp(ta, tc, 4) == 0 && std::memcmp(ta + 8, tc + 8, 5) == 0 &&
         ((ta[13] ^ tc[13]) & ~kTcpPsh) == 0 && std::memcmp(ta + 14, tc + 14, 2) == 0 &&
         std::memcmp(ta + 18, tc + 18, first.l4_len - 18u) == 0;
}

void tcp_merge_headers(uint8_t* hdr, const TcpSegment& first, uint32_t payload, bool psh) {
  uint8_t* ip = hdr + kEthLen;
  uint8_t* tcp = ip + first.l3_len;
  const uint32_t tcp_len = first.l4_len + payload;
  if (first.v6) {
    put16(ip + 4, tcp_len);
  } else {
    put16(ip + 2, first.l3_len + tcp_len);
    put16(ip + 10, 0);
    Csum sum;
    sum.add(ip, first.l3_len);
    put16(ip + 10, static_cast<uint16_t>(~sum.fold()));
  }
  if (psh) tcp[13] |= kTcpPsh;
  put16(tcp + 16, tcp_pseudo_sum(ip, first.v6, tcp_len).fold());
}

std::string ipv4_text(uint32_t addr) {
  char buf[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &addr, buf, sizeof(buf));
  return buf;
}

}  // namespace vs
