// vs-rawframe: sends numbered Ethernet frames on an interface, or receives and checks them.
// The integration tests run it inside the "VM" namespaces to prove that frames cross the switch
// intact, counted one by one.
//
//   vs-rawframe send IFACE COUNT [--size BYTES] [--ethertype HEX] [--tag TAG] [--dst MAC]
//                                [--random-src 1]   (a new random unicast source MAC per frame)
//                                [--vlan VID]       (an 802.1Q tag with this VLAN id)
//   recv ... [--vlan VID]: count only frames that arrived tagged with VID (the kernel moves a
//   tag into the packet's metadata: read through PACKET_AUXDATA); --vlan 0: only untagged ones.
//   vs-rawframe recv IFACE COUNT TIMEOUT_MS [--ethertype HEX] [--tag TAG]
//
// Payload: 8-byte tag, 32-bit sequence number, then bytes (seq + i) & 0xff up to the size.
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
  int vlan = -1;                // -1: any; 0: untagged only; 1..4094: tagged with this id
  uint16_t ethertype = 0x88b5;  // IEEE local experimental
  uint8_t dst[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
};

constexpr size_t kHeader = 14, kTagLen = 8, kMinPayload = kTagLen + 4;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(2);
}

[[noreturn]] void usage() {
  std::fprintf(
      stderr,
      "usage: vs-rawframe send IFACE COUNT [--size B] [--ethertype HEX] [--tag T] [--dst MAC]\n"
      "       vs-rawframe recv IFACE COUNT TIMEOUT_MS [--ethertype HEX] [--tag T]\n");
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
  if (o.size < static_cast<long>(kHeader + kMinPayload) || o.size > 9000) usage();
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

int do_send(const Options& o) {
  sockaddr_ll addr;
  int fd = open_socket(o, addr);
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", o.iface.c_str());
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) die("SIOCGIFHWADDR");
  const size_t hdr = o.vlan > 0 ? kHeader + 4 : kHeader;
  std::vector<uint8_t> f(static_cast<size_t>(o.size) + hdr - kHeader);
  std::memcpy(f.data(), o.dst, 6);
  std::memcpy(f.data() + 6, ifr.ifr_hwaddr.sa_data, 6);
  if (o.vlan > 0) {
    f[12] = 0x81;
    f[13] = 0x00;
    f[14] = static_cast<uint8_t>(o.vlan >> 8);
    f[15] = static_cast<uint8_t>(o.vlan);
  }
  f[hdr - 2] = static_cast<uint8_t>(o.ethertype >> 8);
  f[hdr - 1] = static_cast<uint8_t>(o.ethertype);
  std::memcpy(f.data() + hdr, o.tag.data(), kTagLen);
  long sent = 0;
  uint64_t rnd = 0x9e3779b97f4a7c15ULL ^ static_cast<uint64_t>(getpid());
  for (uint32_t seq = 0; seq < static_cast<uint32_t>(o.count); ++seq) {
    if (o.random_src) {  // xorshift64; 02:xx:..: locally administered unicast
      rnd ^= rnd << 13;
      rnd ^= rnd >> 7;
      rnd ^= rnd << 17;
      for (int i = 0; i < 6; ++i) f[6 + i] = static_cast<uint8_t>(rnd >> (8 * i));
      f[6] = 0x02;
    }
    uint32_t be = htonl(seq);
    std::memcpy(f.data() + hdr + kTagLen, &be, 4);
    for (size_t i = hdr + kMinPayload; i < f.size(); ++i)
      f[i] = static_cast<uint8_t>(seq + i - hdr + kHeader);
    while (sendto(fd, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) <
           0) {
      if (errno != ENOBUFS && errno != EAGAIN) die("sendto");
      usleep(100);
    }
    ++sent;
  }
  std::printf("sent=%ld\n", sent);
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
    if (static_cast<size_t>(n) < hdr + kMinPayload ||
        (buf[hdr - 2] << 8 | buf[hdr - 1]) != o.ethertype ||
        std::memcmp(buf.data() + hdr, o.tag.data(), kTagLen) != 0)
      continue;  // someone else's frame
    if (o.vlan >= 0 && vid != o.vlan) {
      if (bad++ == 0) std::fprintf(stderr, "frame in VLAN %d, expected %d\n", vid, o.vlan);
      continue;  // ours, but in the wrong VLAN
    }
    uint32_t be;
    std::memcpy(&be, buf.data() + hdr + kTagLen, 4);
    uint32_t seq = ntohl(be);
    bool intact = seq < static_cast<uint32_t>(o.count);
    for (size_t i = hdr + kMinPayload; intact && i < static_cast<size_t>(n); ++i)
      intact = buf[i] == static_cast<uint8_t>(seq + i - hdr + kHeader);
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
