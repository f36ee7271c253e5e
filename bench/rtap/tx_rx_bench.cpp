// Micro-benchmark: tx and rx Mpps of net_rtap against DPDK's net_tap on this machine, one queue,
// 60-byte frames, same process, same run (ratios, not absolute numbers, are what matter).
//   rtap_bench [frames]      (root; creates TAPs rtbench_r / rtbench_t and removes them)
// Not part of the CMake build (bench/ has none yet); after scripts/build.sh default:
//   g++ -std=c++20 -O2 -Wno-volatile -DALLOW_EXPERIMENTAL_API $(pkg-config --cflags libdpdk) \
//     bench/rtap/tx_rx_bench.cpp build/default/pmd/CMakeFiles/rtap_obj.dir/rtap/*.o \
//     -o build/default/rtap_bench $(pkg-config --libs libdpdk liburing) -lrte_bus_vdev -lpthread
// Result (2 vCPU VM, quiet, 3 M frames, 2 rounds): tx net_rtap 1.56/1.39 Mpps, net_tap 0.38/0.28;
// rx 0.05-0.10 Mpps for both = the AF_PACKET generator sharing the two cores, not the drivers.
// tx: frames written to a TAP nobody reads (the kernel drops them after its rx path).
// rx: an AF_PACKET writer thread injects into the TAP while the main thread polls the port.
#include <rte_bus_vdev.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

std::string g_prefix;
void cleanup() {
  if (!g_prefix.empty())
    system(("rm -rf /dev/hugepages/" + g_prefix + "map_* /var/run/dpdk/" + g_prefix).c_str());
}

uint8_t g_frame[60] = {0x02, 0,    0,    0, 0, 2,  0x02, 0, 0,    0, 0,  1,
                       0x08, 0x00, 0x45, 0, 0, 46, 0,    0, 0x40, 0, 64, 17};

uint16_t make_port(const char* vdev, const std::string& args, rte_mempool* mp) {
  if (rte_vdev_init(vdev, args.c_str()) != 0) {
    fprintf(stderr, "cannot create %s\n", vdev);
    exit(1);
  }
  uint16_t p;
  rte_eth_dev_get_port_by_name(vdev, &p);
  rte_eth_conf conf{};
  rte_eth_dev_configure(p, 1, 1, &conf);
  rte_eth_rx_queue_setup(p, 0, 1024, SOCKET_ID_ANY, nullptr, mp);
  rte_eth_tx_queue_setup(p, 0, 1024, SOCKET_ID_ANY, nullptr);
  rte_eth_dev_start(p);
  return p;
}

double tx(uint16_t p, rte_mempool* mp, uint64_t n) {
  rte_mbuf* b[64];
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t sent = 0; sent < n; sent += 64) {
    while (rte_pktmbuf_alloc_bulk(mp, b, 64) != 0) {
    }
    for (auto* m : b) memcpy(rte_pktmbuf_append(m, 60), g_frame, 60);
    unsigned done = 0;
    while (done < 64) done += rte_eth_tx_burst(p, 0, b + done, static_cast<uint16_t>(64 - done));
  }
  return n / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 1e6;
}

double rx(uint16_t p, const char* ifname, uint64_t n) {
  std::atomic<bool> stop{false};
  std::thread w([&] {
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = static_cast<int>(if_nametoindex(ifname));
    sll.sll_halen = 6;
    while (!stop)
      sendto(fd, g_frame, sizeof(g_frame), 0, reinterpret_cast<sockaddr*>(&sll), sizeof(sll));
    close(fd);
  });
  rte_mbuf* b[64];
  uint64_t got = 0;
  auto t0 = std::chrono::steady_clock::now();
  while (got < n) {
    uint16_t k = rte_eth_rx_burst(p, 0, b, 64);
    rte_pktmbuf_free_bulk(b, k);
    got += k;
  }
  double mpps =
      got / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 1e6;
  stop = true;
  w.join();
  return mpps;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t n = argc > 1 ? strtoull(argv[1], nullptr, 10) : 2000000;
  std::string prefix = "rtbench" + std::to_string(getpid());
  g_prefix = prefix;
  atexit(cleanup);  // also on the exit(1) paths
  std::string fp = "--file-prefix=" + prefix;
  const char* eal[] = {"bench",          "--no-pci", fp.c_str(), "--iova-mode=va",
                       "--no-telemetry", "-l",       "0",        "--log-level=*:warning"};
  if (rte_eal_init(sizeof(eal) / sizeof(eal[0]), const_cast<char**>(eal)) < 0) return 1;
  rte_mempool* mp = rte_pktmbuf_pool_create("bench", 16384, 256, 0, 2048 + 128, SOCKET_ID_ANY);
  if (mp == nullptr) {
    fprintf(stderr, "no mempool: hugepages exhausted?\n");
    return 1;
  }
  uint16_t r = make_port("net_rtap_bench", "iface=rtbench_r", mp);
  uint16_t t = make_port("net_tap_bench", "iface=rtbench_t", mp);
  system(
      "sysctl -qw net.ipv6.conf.rtbench_r.disable_ipv6=1 net.ipv6.conf.rtbench_t.disable_ipv6=1");
  printf("%-8s %10s %10s\n", "driver", "tx Mpps", "rx Mpps");
  for (int round = 0; round < 2; round++) {
    double rt = tx(r, mp, n), tt = tx(t, mp, n);
    double rr = rx(r, "rtbench_r", n / 4), tr = rx(t, "rtbench_t", n / 4);
    printf("%-8s %10.3f %10.3f\n%-8s %10.3f %10.3f\n", "net_rtap", rt, rr, "net_tap", tt, tr);
  }
  for (uint16_t p : {r, t}) {
    rte_eth_dev_stop(p);
    rte_eth_dev_close(p);
  }
  rte_eal_cleanup();
  return 0;
}
