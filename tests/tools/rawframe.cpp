// vs-rawframe: sends numbered Ethernet frames on an interface, or receives and checks them.
// The integration tests run it inside the "VM" namespaces to prove that frames cross the switch
// intact, counted one by one.
//
//   vs-rawframe send IFACE COUNT [--size BYTES] [--ethertype HEX] [--tag TAG] [--dst MAC]
//   vs-rawframe recv IFACE COUNT TIMEOUT_MS [--ethertype HEX] [--tag TAG]
//
// Payload: 8-byte tag, 32-bit sequence number, then bytes (seq + i) & 0xff up to the size.
// recv prints "received=N bad=N duplicates=N" and exits 0 only if exactly COUNT distinct, intact
// frames of its tag arrived.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/ether.h>
#include <netpacket/packet.h>
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
  uint16_t ethertype = 0x88b5;  // IEEE local experimental
  uint8_t dst[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
};

constexpr size_t kHeader = 14, kTagLen = 8, kMinPayload = kTagLen + 4;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(2);
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
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
    if (k == "--size") o.size = std::atol(argv[i + 1]);
    else if (k == "--ethertype") o.ethertype = static_cast<uint16_t>(std::strtol(argv[i + 1], nullptr, 16));
    else if (k == "--tag") o.tag = std::string(argv[i + 1]).substr(0, kTagLen);
    else if (k == "--dst") {
      ether_addr* a = ether_aton(argv[i + 1]);
      if (!a) usage();
      std::memcpy(o.dst, a, 6);
    } else usage();
  }
  o.tag.resize(kTagLen, '_');
  if (o.size < static_cast<long>(kHeader + kMinPayload) || o.size > 9000) usage();
  return o;
}

int open_socket(const Options& o, sockaddr_ll& addr) {
  int fd = socket(AF_PACKET, SOCK_RAW, htons(o.ethertype));
  if (fd < 0) die("socket(AF_PACKET)");
  std::memset(&addr, 0, sizeof(addr));
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(o.ethertype);
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
  std::vector<uint8_t> f(static_cast<size_t>(o.size));
  std::memcpy(f.data(), o.dst, 6);
  std::memcpy(f.data() + 6, ifr.ifr_hwaddr.sa_data, 6);
  f[12] = static_cast<uint8_t>(o.ethertype >> 8);
  f[13] = static_cast<uint8_t>(o.ethertype);
  std::memcpy(f.data() + kHeader, o.tag.data(), kTagLen);
  long sent = 0;
  for (uint32_t seq = 0; seq < static_cast<uint32_t>(o.count); ++seq) {
    uint32_t be = htonl(seq);
    std::memcpy(f.data() + kHeader + kTagLen, &be, 4);
    for (size_t i = kHeader + kMinPayload; i < f.size(); ++i) f[i] = static_cast<uint8_t>(seq + i);
    while (sendto(fd, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
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
    socklen_t fromlen = sizeof(from);
    ssize_t n = recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fromlen);
    if (n < 0 || from.sll_pkttype == PACKET_OUTGOING) continue;
    if (static_cast<size_t>(n) < kHeader + kMinPayload ||
        std::memcmp(buf.data() + kHeader, o.tag.data(), kTagLen) != 0)
      continue;  // someone else's frame
    uint32_t be;
    std::memcpy(&be, buf.data() + kHeader + kTagLen, 4);
    uint32_t seq = ntohl(be);
    bool intact = seq < static_cast<uint32_t>(o.count);
    for (size_t i = kHeader + kMinPayload; intact && i < static_cast<size_t>(n); ++i)
      intact = buf[i] == static_cast<uint8_t>(seq + i);
    if (!intact) ++bad;
    else if (seen[seq]) ++dups;
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
