// vs-rawframe: sends numbered Ethernet frames on an interface, or receives and checks them.
// The integration tests run it inside the "VM" namespaces to prove that frames cross the switch
// intact, counted one by one.
//
//   vs-rawframe send IFACE COUNT [--size BYTES] [--ethertype HEX] [--tag TAG] [--dst MAC]
//                                [--random-src 1]   (a new random unicast source MAC per frame)
//                                [--pps N]          (paced at N frames per second; 0: at once)
//                                [--vlan VID]       (an 802.1Q tag with this VLAN id)
//                                [--vlan2 VID]      (with --vlan: a second, inner 802.1Q tag)
//                                [--truncate N]     (send only the first N >= 14 bytes: runts)
//                                [--ip KIND]        (a malformed IP + TCP header before the tag)
//                                [--offload csum|gso] (with --ip: a virtio-net header asking for
//                                                   the TCP checksum, or TCP segmentation)
//   recv ... [--vlan VID]: count only frames that arrived tagged with VID (the kernel moves a
//   tag into the packet's metadata: read through PACKET_AUXDATA); --vlan 0: only untagged ones.
//   vs-rawframe recv IFACE COUNT TIMEOUT_MS [--ethertype HEX] [--tag TAG] [--ip KIND]
//
// Payload: 8-byte tag, 32-bit sequence number, then bytes (seq + i) & 0xff up to the size.
// --ip KIND puts a 40-byte (IPv4) or 60-byte (IPv6) L3 + TCP header, broken as KIND says, before
// the payload and sets the ethertype; the receiver skips it. KIND: v4-ihl0 (IHL 0), v4-ihl15
// (IHL 15: a header longer than the one present), v4-len (total length 65535), v6-len (payload
// length 65535), v6-ver (version 4 in an IPv6 frame). These are the "malformed headers with
// checksum offload requested" a VM can send: --offload sends the frame through a
// PACKET_VNET_HDR socket, so the VM's kernel hands the switch a frame whose offload request
// (CHECKSUM_PARTIAL, or a GSO super-frame) covers the broken header.
// recv prints "received=N bad=N duplicates=N" and exits 0 only if exactly COUNT distinct, intact
// frames of its tag arrived.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ether.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string mode, iface, tag = "vstest00";
  long count = 0, timeout_ms = 0, size = 64;
  bool random_src = false;
  long pps = 0;                 // send: frames per second, 0 = as fast as the socket takes them
  int vlan = -1;                // -1: any; 0: untagged only; 1..4094: tagged with this id
  int vlan2 = -1;               // inner tag of a double-tagged frame (send)
  long truncate = 0;            // send only this many bytes of each frame (0: all)
  std::string ip, offload;      // malformed IP header kind; offload request (send)
  uint16_t ethertype = 0x88b5;  // IEEE local experimental
  uint8_t dst[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
};

constexpr size_t kHeader = 14, kTagLen = 8, kMinPayload = kTagLen + 4;

// struct virtio_net_hdr (<linux/virtio_net.h> does not compile as C++), little-endian fields.
struct VirtioNetHdr {
  uint8_t flags, gso_type;
  uint16_t hdr_len, gso_size, csum_start, csum_offset;
};
constexpr uint8_t kNeedsCsum = 1, kGsoTcpv4 = 1, kGsoTcpv6 = 4;

// The malformed L3 header of --ip KIND, followed by a plain 20-byte TCP header. Its length is
// the L3 header's nominal one (20 or 40) plus 20.
struct BadIp {
  const char* kind;
  uint16_t ethertype;
  uint8_t l3_len;  // nominal: where the TCP header is
  uint8_t first;   // version and IHL byte
  bool long_len;   // total/payload length field 65535
};
constexpr BadIp kBadIps[] = {
    {"v4-ihl0", 0x0800, 20, 0x40, false}, {"v4-ihl15", 0x0800, 20, 0x4f, false},
    {"v4-len", 0x0800, 20, 0x45, true},   {"v6-len", 0x86dd, 40, 0x60, true},
    {"v6-ver", 0x86dd, 40, 0x40, false},
};
const BadIp* bad_ip(const std::string& kind) {
  for (const BadIp& b : kBadIps)
    if (kind == b.kind) return &b;
  return nullptr;
}
size_t ip_len(const Options& o) {
  const BadIp* b = bad_ip(o.ip);
  return b ? b->l3_len + 20u : 0u;
}

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(2);
}

[[noreturn]] void usage() {
  std::fprintf(
      stderr,
      "usage: vs-rawframe send IFACE COUNT [--size B] [--ethertype HEX] [--tag T] [--dst MAC]\n"
      "                   [--random-src 1] [--vlan VID [--vlan2 VID]] [--truncate N]\n"
      "                   [--ip KIND [--offload csum|gso]]\n"
      "       vs-rawframe recv IFACE COUNT TIMEOUT_MS [--ethertype HEX] [--tag T] [--vlan VID]\n"
      "                   [--ip KIND]\n");
  std::exit(64);
}

Options parse(int argc, char** argv) {
  Options o;
  if (argc < 4) usage();
  o.mode = argv[1];
  o.iface = argv[2];
  o.count = std::atol(argv[3]);
  int i = 4;
  if (o.mode == "recv") {
    if (argc < 5) usage();
    o.timeout_ms = std::atol(argv[i++]);
  } else if (o.mode != "send") {
    usage();
  }
  for (; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--size")
      o.size = std::atol(argv[i + 1]);
    else if (k == "--ethertype")
      o.ethertype = static_cast<uint16_t>(std::strtol(argv[i + 1], nullptr, 16));
    else if (k == "--vlan")
      o.vlan = std::atoi(argv[i + 1]);
    else if (k == "--vlan2")
      o.vlan2 = std::atoi(argv[i + 1]);
    else if (k == "--truncate")
      o.truncate = std::atol(argv[i + 1]);
    else if (k == "--ip")
      o.ip = argv[i + 1];
    else if (k == "--offload")
      o.offload = argv[i + 1];
    else if (k == "--pps")
      o.pps = std::atol(argv[i + 1]);
    else if (k == "--random-src")
      o.random_src = std::atoi(argv[i + 1]) != 0;
    else if (k == "--tag")
      o.tag = std::string(argv[i + 1]).substr(0, kTagLen);
    else if (k == "--dst") {
      ether_addr* a = ether_aton(argv[i + 1]);
      if (!a) usage();
      std::memcpy(o.dst, a, 6);
    } else
      usage();
  }
  o.tag.resize(kTagLen, '_');
  if (!o.ip.empty()) {
    if (!bad_ip(o.ip)) usage();
    o.ethertype = bad_ip(o.ip)->ethertype;
  }
  const bool sized =
      o.mode == "recv" || o.size >= static_cast<long>(kHeader + ip_len(o) + kMinPayload);
  if (!sized || o.size > 9000) usage();
  if ((o.vlan2 >= 0 && o.vlan <= 0) || (o.truncate != 0 && o.truncate < 14)) usage();
  if (!o.offload.empty() && (o.ip.empty() || (o.offload != "csum" && o.offload != "gso"))) usage();
  return o;
}

// The receiver listens to every protocol: the kernel moves an 802.1Q tag into the packet's
// metadata and, with no VLAN device to take it, clears it before protocol-specific sockets see
// the frame; only ETH_P_ALL sockets get the tag (through PACKET_AUXDATA).
int open_socket(const Options& o, sockaddr_ll& addr) {
  uint16_t proto = o.mode == "recv" ? ETH_P_ALL : o.ethertype;
  int fd = socket(AF_PACKET, SOCK_RAW, htons(proto));
  if (fd < 0) die("socket(AF_PACKET)");
  std::memset(&addr, 0, sizeof(addr));
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(proto);
  addr.sll_ifindex = static_cast<int>(if_nametoindex(o.iface.c_str()));
  if (addr.sll_ifindex == 0) die(o.iface.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) die("bind");
  return fd;
}

// The broken L3 header of `b` and a TCP header (ports 1 -> 2, data offset 5) behind it.
void write_bad_ip(const BadIp& b, uint8_t* p, size_t room) {
  std::memset(p, 0, b.l3_len + 20u);
  p[0] = b.first;
  const size_t len = b.long_len ? 0xffff : room;
  if (b.ethertype == 0x0800) {
    p[2] = static_cast<uint8_t>(len >> 8);
    p[3] = static_cast<uint8_t>(len);
    p[8] = 64;  // TTL
    p[9] = IPPROTO_TCP;
    p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
  } else {
    const size_t plen = b.long_len ? 0xffff : room - 40;
    p[4] = static_cast<uint8_t>(plen >> 8);
    p[5] = static_cast<uint8_t>(plen);
    p[6] = IPPROTO_TCP;
    p[7] = 64;
    p[8] = 0xfd, p[23] = 1, p[24] = 0xfd, p[39] = 2;
  }
  uint8_t* tcp = p + b.l3_len;
  tcp[1] = 1, tcp[3] = 2;
  tcp[12] = 5 << 4;
  tcp[13] = 0x18;  // PSH, ACK
}

// The virtio-net header asking for the TCP checksum (and with "gso" segmentation into 500-byte
// segments) from the nominal TCP header on: what a VM's driver sends with offloads enabled.
void write_vnet_hdr(const Options& o, size_t l2, uint8_t* out) {
  const BadIp& b = *bad_ip(o.ip);
  VirtioNetHdr h{};
  h.flags = kNeedsCsum;
  h.csum_start = static_cast<uint16_t>(l2 + b.l3_len);
  h.csum_offset = 16;  // offsetof(tcphdr, check)
  if (o.offload == "gso") {
    h.gso_type = b.ethertype == 0x0800 ? kGsoTcpv4 : kGsoTcpv6;
    h.gso_size = 500;
    h.hdr_len = static_cast<uint16_t>(l2 + b.l3_len + 20);
  }
  std::memcpy(out, &h, sizeof(h));
}

// Sleeps until frame `seq` is due at `pps` frames per second after `start`.
void pace(const timespec& start, uint32_t seq, long pps) {
  const uint64_t due_ns = static_cast<uint64_t>(seq) * 1000000000ull / static_cast<uint64_t>(pps);
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  const uint64_t at_ns = static_cast<uint64_t>(now.tv_sec - start.tv_sec) * 1000000000ull +
                         static_cast<uint64_t>(now.tv_nsec) - static_cast<uint64_t>(start.tv_nsec);
  if (due_ns > at_ns) usleep(static_cast<useconds_t>((due_ns - at_ns) / 1000));
}

int do_send(const Options& o) {
  sockaddr_ll addr;
  int fd = open_socket(o, addr);
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", o.iface.c_str());
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) die("SIOCGIFHWADDR");
  const size_t hdr = kHeader + (o.vlan > 0 ? 4 : 0) + (o.vlan2 >= 0 ? 4 : 0);
  const size_t base = hdr + ip_len(o);  // where the tag starts
  const size_t vnet = o.offload.empty() ? 0 : sizeof(VirtioNetHdr);
  if (vnet) {
    int on = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &on, sizeof(on)) != 0) die("PACKET_VNET_HDR");
  }
  std::vector<uint8_t> buf(vnet + static_cast<size_t>(o.size) + hdr - kHeader);
  uint8_t* f = buf.data() + vnet;
  const size_t flen = buf.size() - vnet;
  std::memcpy(f, o.dst, 6);
  std::memcpy(f + 6, ifr.ifr_hwaddr.sa_data, 6);
  size_t at = 12;
  for (int vid : {o.vlan, o.vlan2}) {
    if (vid < 0 || (vid == 0 && at == 12)) continue;
    f[at++] = 0x81;
    f[at++] = 0x00;
    f[at++] = static_cast<uint8_t>(vid >> 8);
    f[at++] = static_cast<uint8_t>(vid);
  }
  f[hdr - 2] = static_cast<uint8_t>(o.ethertype >> 8);
  f[hdr - 1] = static_cast<uint8_t>(o.ethertype);
  if (const BadIp* b = bad_ip(o.ip)) write_bad_ip(*b, f + hdr, flen - hdr);
  if (vnet) write_vnet_hdr(o, hdr, buf.data());
  std::memcpy(f + base, o.tag.data(), kTagLen);
  const size_t wire = o.truncate ? std::min<size_t>(vnet + o.truncate, buf.size()) : buf.size();
  long sent = 0, refused = 0;
  uint64_t rnd = 0x9e3779b97f4a7c15ULL ^ static_cast<uint64_t>(getpid());
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (uint32_t seq = 0; seq < static_cast<uint32_t>(o.count); ++seq) {
    // Paced: a flood that leaves the host's CPUs to the switch (an every-cycle sender starved
    // a sanitizer build's worker). Checked every 16 frames.
    if (o.pps > 0 && seq % 16 == 0) pace(start, seq, o.pps);
    if (o.random_src) {  // xorshift64; 02:xx:..: locally administered unicast
      rnd ^= rnd << 13;
      rnd ^= rnd >> 7;
      rnd ^= rnd << 17;
      for (int i = 0; i < 6; ++i) f[6 + i] = static_cast<uint8_t>(rnd >> (8 * i));
      f[6] = 0x02;
    }
    uint32_t be = htonl(seq);
    std::memcpy(f + base + kTagLen, &be, 4);
    for (size_t i = base + kMinPayload; i < flen; ++i)
      f[i] = static_cast<uint8_t>(seq + i - base + kHeader);
    while (sendto(fd, buf.data(), wire, 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
      if (errno == EINVAL && (vnet || o.truncate)) {  // the VM's own kernel refused it
        ++refused;
        break;
      }
      if (errno != ENOBUFS && errno != EAGAIN) die("sendto");
      usleep(100);
    }
    ++sent;
  }
  sent -= refused;
  std::printf("sent=%ld refused=%ld\n", sent, refused);
  return 0;
}

long elapsed_ms(const timespec& start) {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
}

int do_recv(const Options& o) {
  sockaddr_ll addr;
  int fd = open_socket(o, addr);
  int on = 1;
  setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &on, sizeof(on));
  int rcvbuf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
  std::printf("ready\n");
  std::fflush(stdout);
  std::vector<bool> seen(static_cast<size_t>(o.count), false);
  long received = 0, bad = 0, dups = 0;
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  std::vector<uint8_t> buf(65536);
  while (received < o.count) {
    long left = o.timeout_ms - elapsed_ms(start);
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    sockaddr_ll from{};
    iovec iov{buf.data(), buf.size()};
    alignas(8) char control[256];
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(fd, &msg, 0);
    if (n < 0 || from.sll_pkttype == PACKET_OUTGOING) continue;
    int vid = 0;  // the frame's VLAN: from the metadata, or an in-band tag
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
      auto* aux = reinterpret_cast<tpacket_auxdata*>(CMSG_DATA(c));
      if (aux->tp_status & TP_STATUS_VLAN_VALID) vid = aux->tp_vlan_tci & 0xfff;
    }
    size_t hdr = kHeader;
    if (n >= 18 && buf[12] == 0x81 && buf[13] == 0x00) {
      vid = (buf[14] << 8 | buf[15]) & 0xfff;
      hdr += 4;
    }
    const size_t base = hdr + ip_len(o);
    if (static_cast<size_t>(n) < base + kMinPayload ||
        (buf[hdr - 2] << 8 | buf[hdr - 1]) != o.ethertype ||
        std::memcmp(buf.data() + base, o.tag.data(), kTagLen) != 0)
      continue;  // someone else's frame
    if (o.vlan >= 0 && vid != o.vlan) {
      if (bad++ == 0) std::fprintf(stderr, "frame in VLAN %d, expected %d\n", vid, o.vlan);
      continue;  // ours, but in the wrong VLAN
    }
    uint32_t be;
    std::memcpy(&be, buf.data() + base + kTagLen, 4);
    uint32_t seq = ntohl(be);
    bool intact = seq < static_cast<uint32_t>(o.count);
    for (size_t i = base + kMinPayload; intact && i < static_cast<size_t>(n); ++i)
      intact = buf[i] == static_cast<uint8_t>(seq + i - base + kHeader);
    if (!intact)
      ++bad;
    else if (seen[seq])
      ++dups;
    else {
      seen[seq] = true;
      ++received;
    }
  }
  std::printf("received=%ld bad=%ld duplicates=%ld\n", received, bad, dups);
  return (received == o.count && bad == 0 && dups == 0) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  return o.mode == "send" ? do_send(o) : do_recv(o);
}
