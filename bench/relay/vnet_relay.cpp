// The TAP floor of issue #22: a minimal relay between two TAPs, with no switching at all.
//
//   vnet_relay IFNAME_A IFNAME_B
//
// Root (CAP_NET_ADMIN). Creates the TAPs IFNAME_A and IFNAME_B in the current namespace with
// IFF_VNET_HDR (12-byte header, as net_rtap uses) and TUNSETOFFLOAD(CSUM|TSO4|TSO6|TSO_ECN), as
// net_rtap does with LRO on, prints "ready" and then relays: one thread per direction, a blocking
// read() of one TAP and a write() of the same bytes (header included, verbatim) to the other.
// bench/run moves the two netdevs into the "VM" namespaces; the fds keep working across the move.
//
// What this costs per byte and per frame is what any switch that reads and writes TAPs must pay:
// one read and one write per frame or GSO super-frame, i.e. the kernel's two copies plus the
// receiving stack run in the writer's context. bench/run measures vswitch's worker against it
// ("worker CPU per Gbit", "worker CPU per frame"). It is not a switch: no MAC table, no flooding,
// no counters beyond the totals printed at exit.
//
// SIGTERM/SIGINT: prints "frames a->b N bytes N write_errors N, b->a ..." on stderr and exits 0.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

// struct virtio_net_hdr_mrg_rxbuf (linux/virtio_net.h, which does not compile as C++): 10 bytes of
// virtio_net_hdr and the 2-byte num_buffers, which tun ignores.
constexpr int kVnetHdrSize = 12;

struct DirectionTotals {
  std::atomic<uint64_t> frames{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> write_errors{0};
};

// open_vnet_tap: a TAP named `name` with the vnet header and the offloads net_rtap asks for.
int open_vnet_tap(const std::string& name) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "vnet_relay: open /dev/net/tun: %s (fix: modprobe tun; run as root)\n",
                 std::strerror(errno));
    return -1;
  }
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name.c_str());
  int hdr = kVnetHdrSize;
  unsigned offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
  const char* step = nullptr;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0)
    step = "TUNSETIFF";
  else if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0)
    step = "TUNSETVNETHDRSZ";
  else if (ioctl(fd, TUNSETOFFLOAD, offloads) < 0)
    step = "TUNSETOFFLOAD";
  if (step) {
    std::fprintf(stderr, "vnet_relay: %s %s: %s\n", step, name.c_str(), std::strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

// relay: reads `from` and writes each frame to `to` until the process ends. A failed write (the
// peer's queue full, the link down) drops that frame and counts it; a failed read ends the thread.
// VNET_RELAY_BUFFERS=N (diagnostics, for A/B runs; default 1): each thread reads into N buffers
// in turn instead of one, so its copies touch N × 128 KB of memory, as a switch's pool of
// buffers does, instead of one buffer that stays in the CPU's cache.
size_t relay_buffers() {
  const char* v = std::getenv("VNET_RELAY_BUFFERS");
  const long n = v != nullptr ? std::atol(v) : 1;
  return n >= 1 && n <= 4096 ? static_cast<size_t>(n) : 1;
}

void relay(int from, int to, DirectionTotals& totals) {
  // A GSO super-frame is at most 64 KB plus the vnet header; twice that leaves room to spare.
  constexpr size_t kBufSize = 2 * 65536;
  const size_t nbufs = relay_buffers();
  std::vector<char> bufs(nbufs * kBufSize);
  for (size_t i = 0;; i = (i + 1) % nbufs) {
    char* buf = bufs.data() + i * kBufSize;
    ssize_t n = read(from, buf, kBufSize);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    if (write(to, buf, static_cast<size_t>(n)) != n) {
      totals.write_errors.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    totals.frames.fetch_add(1, std::memory_order_relaxed);
    totals.bytes.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  }
}

void print_totals(const char* dir, const DirectionTotals& t) {
  std::fprintf(stderr, "%s frames %llu bytes %llu write_errors %llu\n", dir,
               static_cast<unsigned long long>(t.frames.load()),
               static_cast<unsigned long long>(t.bytes.load()),
               static_cast<unsigned long long>(t.write_errors.load()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: vnet_relay IFNAME_A IFNAME_B\n");
    return 2;
  }
  int a = open_vnet_tap(argv[1]);
  int b = a < 0 ? -1 : open_vnet_tap(argv[2]);
  if (a < 0 || b < 0) return 1;

  // The relay threads must not take the stop signals: main waits for them with sigwait.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  static DirectionTotals a_to_b, b_to_a;
  std::thread(relay, a, b, std::ref(a_to_b)).detach();
  std::thread(relay, b, a, std::ref(b_to_a)).detach();
  std::printf("ready\n");
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  print_totals("a->b", a_to_b);
  print_totals("b->a", b_to_a);
  return 0;  // the exit closes both TAPs, which removes them
}
