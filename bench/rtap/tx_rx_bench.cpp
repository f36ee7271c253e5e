// Micro-benchmark: net_rtap against DPDK's net_tap, one queue each, same process, same run.
//
//   ip netns exec NS rtap_bench [--duration S] [--reps N] [--mss N] [--only tx,rx64,tso,...]
//                               [--no-secondary]
//
// Root. bench/rtap/run builds it (CMake target rtap_bench), creates the namespace NS, runs it
// there and removes everything afterwards; it prints a markdown report on stdout, progress on
// stderr. Inside NS it creates the TAPs rtbench_r (net_rtap) and rtbench_t (net_tap), and the
// veth rtbench_g (peer rtbench_h) for the generator's ceiling. The main lcore polls on core 0;
// the kernel-side helper thread (packet generator or TCP receiver) is pinned to core 1. Exit
// status 2: some cell failed (listed at the end of the report).
//
// Workloads, each run for --duration seconds on each driver, interleaved, --reps times:
//   tx 64 B / 1500 B  frames (60 / 1514 bytes without FCS) written to the TAP; the kernel drops
//                     them in ip_rcv (they are addressed to another host). Mpps = frames the
//                     driver accepted / time; checked against the TAP's kernel rx_packets.
//   rx 64 B / 1500 B  a PACKET_TX_RING socket with PACKET_QDISC_BYPASS on core 1 injects frames
//                     into the TAP's kernel side; the port is polled on core 0. Mpps = frames
//                     received / time. The generator's offered rate is reported, and its
//                     ceiling: the same generator into a veth (peer drops them).
//   TSO 64 KB         a real TCP connection to a kernel listener in NS (core 1 reads it): we
//                     play the client, send 45 x mss payload super-frames (multi-segment mbufs,
//                     RTE_MBUF_F_TX_TCP_SEG + IP/TCP checksum offload) within the advertised
//                     window and follow the kernel's ACKs. Gbit/s = payload acknowledged by the
//                     kernel / time; checked against the bytes the listener read, the TAP's
//                     rx_bytes and the namespace's TCP InCsumErrors.
//
// One queue, primary against secondary (net_rtap only; --no-secondary skips it): right after
// each net_rtap tx/rx cell the primary releases queue 0 (rte_pmd_rtap_queue_release) and
// fork/execs itself as a DPDK secondary process (same --file-prefix, lcore 1 on core 0, the
// generator again on core 1) that claims the queue, runs the same cell with the same checks and
// prints one line; the primary never polls the port meanwhile and takes the queue back at its
// next burst. The primary runs with --base-virtaddr=0x300000000000 (as the daemon does), so the
// secondary maps the hugepage memory at the same address. The secondary mode, for that:
//
//   rtap_bench --role secondary --prefix P --port NAME --ifname IF --work rx|tx --size N
//              --duration S
//   -> "result attach_ms=A mpps=M ..." on stdout (or "error ..."), exit status 0 / 1
#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "rte_pmd_rtap.h"

namespace {

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<uint8_t>;

std::string g_prefix;
volatile sig_atomic_t g_stop = 0;

void on_signal(int) {
  g_stop = 1;
}

void remove_eal_files() {
  if (g_prefix.empty()) return;
  std::string cmd = "rm -rf /dev/hugepages/" + g_prefix + "map_* /var/run/dpdk/" + g_prefix;
  if (system(cmd.c_str()) != 0)
    fprintf(stderr, "could not remove the EAL files of %s\n", g_prefix.c_str());
}

[[noreturn]] void die(const std::string& msg) {
  fprintf(stderr, "rtap_bench: %s\n", msg.c_str());
  exit(1);  // atexit: EAL files
}

void sh(const std::string& cmd) {
  if (system(cmd.c_str()) != 0) die("command failed: " + cmd);
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  std::string v = s.str();
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
  return v;
}

uint64_t if_stat(const std::string& ifc, const char* name) {
  std::string v = slurp("/sys/class/net/" + ifc + "/statistics/" + name);
  if (v.empty()) die("cannot read " + ifc + " " + name);
  return strtoull(v.c_str(), nullptr, 10);
}

// A field of the "Tcp:" lines of /proc/net/snmp (this process's namespace).
uint64_t snmp_tcp(const char* field) {
  std::ifstream f("/proc/net/snmp");
  std::string names, values;
  while (std::getline(f, names)) {
    if (names.rfind("Tcp:", 0) != 0) continue;
    std::getline(f, values);
    std::istringstream n(names), v(values);
    std::string a, b;
    while (n >> a && v >> b)
      if (a == field) return strtoull(b.c_str(), nullptr, 10);
  }
  return 0;
}

void pin_to(unsigned core) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(core % std::max(1u, std::thread::hardware_concurrency()), &s);
  pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

double secs_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

constexpr uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return static_cast<uint32_t>(a) << 24 | b << 16 | c << 8 | d;
}

// ---------------------------------------------------------------- ports

struct Port {
  std::string label, ifname;
  uint16_t id = 0;
  rte_ether_addr kmac{};  // the kernel side of the TAP
  rte_ether_addr pmac{};  // ours, as the kernel's TCP peer
  uint32_t kip = 0, pip = 0;
  bool tso = false, lro = false;
  std::string tso_note;
};

void make_port(Port& p, const char* vdev, const std::string& args, rte_mempool* mp) {
  if (rte_vdev_init(vdev, args.c_str()) != 0)
    die(std::string("cannot create ") + vdev + " " + args);
  if (rte_eth_dev_get_port_by_name(vdev, &p.id) != 0) die(std::string("no port for ") + vdev);
  rte_eth_dev_info info{};
  if (rte_eth_dev_info_get(p.id, &info) != 0) die("dev_info of " + p.label);
  p.tso = info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_TSO;
  p.lro = info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TCP_LRO;
  rte_eth_conf conf{};
  conf.txmode.offloads =
      info.tx_offload_capa & (RTE_ETH_TX_OFFLOAD_MULTI_SEGS | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM |
                              RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_TSO);
  if (rte_eth_dev_configure(p.id, 1, 1, &conf) != 0) die("configure " + p.label);
  if (rte_eth_rx_queue_setup(p.id, 0, 1024, SOCKET_ID_ANY, nullptr, mp) != 0)
    die("rx queue " + p.label);
  if (rte_eth_tx_queue_setup(p.id, 0, 1024, SOCKET_ID_ANY, nullptr) != 0)
    die("tx queue " + p.label);
  if (rte_eth_dev_start(p.id) != 0) die("start " + p.label);
  rte_ether_unformat_addr(slurp("/sys/class/net/" + p.ifname + "/address").c_str(), &p.kmac);
}

// Polls for ms and frees what arrives; returns the count.
uint64_t drain(const Port& p, int ms) {
  rte_mbuf* b[32];
  uint64_t n = 0;
  auto end = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < end) {
    uint16_t k = rte_eth_rx_burst(p.id, 0, b, 32);
    rte_pktmbuf_free_bulk(b, k);
    n += k;
  }
  return n;
}

// A UDP frame of `len` bytes (no FCS) to another host's MAC: the kernel drops it in ip_rcv.
Bytes udp_frame(size_t len) {
  Bytes f(len, 0x5a);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(f.data());
  eth->dst_addr = {{0x02, 0, 0, 0, 0x99, 0x02}};
  eth->src_addr = {{0x02, 0, 0, 0, 0x99, 0x01}};
  eth->ether_type = htons(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  ip->version_ihl = 0x45;
  ip->total_length = htons(static_cast<uint16_t>(len - 14));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->src_addr = htonl(ip4(10, 213, 9, 1));
  ip->dst_addr = htonl(ip4(10, 213, 9, 2));
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = htons(5001);
  udp->dst_port = htons(9);
  udp->dgram_len = htons(static_cast<uint16_t>(len - 34));
  udp->dgram_cksum = 0;
  return f;
}

// ---------------------------------------------------------------- tx

struct TxResult {
  double mpps = 0;
  uint64_t sent = 0, kernel_rx = 0, failed = 0;
};

TxResult tx_cell(const Port& p, rte_mempool* mp, const Bytes& frame, double secs) {
  TxResult r;
  const uint64_t k0 = if_stat(p.ifname, "rx_packets");
  const auto len = static_cast<uint16_t>(frame.size());
  rte_mbuf* b[32];
  const auto t0 = Clock::now();
  const auto end =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs));
  while (!g_stop && Clock::now() < end) {
    if (rte_pktmbuf_alloc_bulk(mp, b, 32) != 0) continue;
    for (auto* m : b) memcpy(rte_pktmbuf_append(m, len), frame.data(), len);
    unsigned done = 0, idle = 0;
    while (done < 32 && idle < 100000) {
      uint16_t n = rte_eth_tx_burst(p.id, 0, b + done, static_cast<uint16_t>(32 - done));
      done += n;
      idle = n ? 0 : idle + 1;
    }
    if (done < 32) {  // the driver refuses: count, never spin forever
      rte_pktmbuf_free_bulk(b + done, 32 - done);
      r.failed += 32 - done;
    }
    r.sent += done;
  }
  r.mpps = static_cast<double>(r.sent) / secs_since(t0) / 1e6;
  r.kernel_rx = if_stat(p.ifname, "rx_packets") - k0;
  return r;
}

// ---------------------------------------------------------------- rx generator

// PACKET_TX_RING (TPACKET_V2) with PACKET_QDISC_BYPASS: one send() flushes up to a batch of
// frames; a TAP orphans each skb on xmit, so the ring never waits for our reader.
class Generator {
 public:
  Generator(const std::string& ifc, const Bytes& frame) : len_(frame.size()) {
    fd_ = socket(AF_PACKET, SOCK_RAW, 0);
    if (fd_ < 0) die("AF_PACKET socket: " + std::string(strerror(errno)));
    int v = TPACKET_V2, one = 1;
    if (setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) != 0) die("PACKET_VERSION");
    if (setsockopt(fd_, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) != 0)
      die("PACKET_QDISC_BYPASS");
    tpacket_req req{};
    req.tp_block_size = 1 << 16;
    req.tp_frame_size = kFrameSize;
    req.tp_block_nr = 64;
    req.tp_frame_nr = req.tp_block_size / kFrameSize * req.tp_block_nr;
    if (setsockopt(fd_, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) != 0)
      die("PACKET_TX_RING: " + std::string(strerror(errno)));
    nr_ = req.tp_frame_nr;
    size_ = static_cast<size_t>(req.tp_block_size) * req.tp_block_nr;
    void* m = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (m == MAP_FAILED) die("mmap of the TX ring");
    ring_ = static_cast<uint8_t*>(m);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(if_nametoindex(ifc.c_str()));
    if (sll.sll_ifindex == 0 || bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0)
      die("bind AF_PACKET to " + ifc);
    for (unsigned i = 0; i < nr_; i++)
      memcpy(slot(i) + TPACKET2_HDRLEN - sizeof(sockaddr_ll), frame.data(), len_);
  }
  ~Generator() {
    munmap(ring_, size_);
    close(fd_);
  }
  // Sends until stop; returns the frames the kernel took from the ring and the time it took. A
  // frame the device refuses (a full TAP stops its queue) stays queued in the ring and is tried
  // again on the next send(), so refusals slow the generator down instead of losing frames.
  void run(const std::atomic<bool>& stop, uint64_t& sent, double& secs) {
    const auto t0 = Clock::now();
    unsigned idx = 0;
    uint64_t marked = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      unsigned batch = 0;
      while (batch < 512) {
        auto* h = reinterpret_cast<tpacket2_hdr*>(slot(idx));
        if (h->tp_status == TP_STATUS_WRONG_FORMAT) h->tp_status = TP_STATUS_AVAILABLE;
        if (h->tp_status != TP_STATUS_AVAILABLE) break;
        h->tp_len = static_cast<uint32_t>(len_);
        __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
        idx = (idx + 1) % nr_;
        batch++;
      }
      marked += batch;
      if (send(fd_, nullptr, 0, MSG_DONTWAIT) < 0 && errno != ENOBUFS && errno != EAGAIN) {
        perror("generator send");
        break;
      }
    }
    secs = secs_since(t0);
    uint64_t pending = 0;
    for (unsigned i = 0; i < nr_; i++)
      if (__atomic_load_n(&reinterpret_cast<tpacket2_hdr*>(slot(i))->tp_status, __ATOMIC_ACQUIRE) !=
          TP_STATUS_AVAILABLE)
        pending++;
    sent = marked - std::min(marked, pending);
  }

 private:
  static constexpr unsigned kFrameSize = 2048;
  uint8_t* slot(unsigned i) { return ring_ + static_cast<size_t>(i) * kFrameSize; }
  int fd_ = -1;
  size_t len_, size_ = 0;
  unsigned nr_ = 0;
  uint8_t* ring_ = nullptr;
};

struct RxResult {
  double mpps = 0, offered_mpps = 0;
  uint64_t received = 0, offered = 0, tap_dropped = 0, slices = 0, stalled_slices = 0;
  uint64_t bad_len = 0;  // frames received with another length than the generator's
};

RxResult rx_cell(const Port& p, const Bytes& frame, double secs) {
  RxResult r;
  drain(p, 20);
  Generator g(p.ifname, frame);
  const uint64_t d0 = if_stat(p.ifname, "tx_dropped");
  std::atomic<bool> stop{false};
  double gsecs = 0;
  std::thread t([&] {
    pin_to(1);
    g.run(stop, r.offered, gsecs);
  });
  rte_mbuf* b[32];
  const auto t0 = Clock::now();
  const auto end =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs));
  uint64_t got = 0, polls = 0, slice_got = 0;
  auto slice_end = t0 + std::chrono::milliseconds(100);
  while (!g_stop) {
    uint16_t k = rte_eth_rx_burst(p.id, 0, b, 32);
    for (uint16_t i = 0; i < k; i++) r.bad_len += b[i]->pkt_len != frame.size();
    rte_pktmbuf_free_bulk(b, k);
    got += k;
    if ((++polls & 63) != 0) continue;
    const auto now = Clock::now();
    if (now >= slice_end) {  // a 100 ms slice with under 1000 frames: a stall
      r.stalled_slices += got - slice_got < 1000;
      r.slices++;
      slice_got = got;
      slice_end += std::chrono::milliseconds(100);
    }
    if (now >= end) break;
  }
  r.mpps = static_cast<double>(got) / secs_since(t0) / 1e6;
  stop = true;
  t.join();
  r.offered_mpps = gsecs > 0 ? static_cast<double>(r.offered) / gsecs / 1e6 : 0;
  r.received = got + drain(p, 100);  // for the loss check: what was still queued counts
  r.tap_dropped = if_stat(p.ifname, "tx_dropped") - d0;
  return r;
}

// The generator alone: into a veth pair; the peer drops every frame in ip_rcv (another
// host's MAC), in softirq on the generator's own core.
double generator_ceiling(const std::string& ifc, const Bytes& frame, double secs) {
  Generator g(ifc, frame);
  std::atomic<bool> stop{false};
  uint64_t sent = 0;
  double gsecs = 0;
  std::thread t([&] {
    pin_to(1);
    g.run(stop, sent, gsecs);
  });
  std::this_thread::sleep_for(std::chrono::duration<double>(secs));
  stop = true;
  t.join();
  return gsecs > 0 ? static_cast<double>(sent) / gsecs / 1e6 : 0;
}

// ---------------------------------------------------------------- TSO over a real TCP connection

constexpr uint16_t kListenPort = 5001;

// The kernel's side: accepts connections and reads each to its end, on core 1.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(kListenPort);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || listen(fd_, 8) != 0)
      die("TCP listener on port 5001: " + std::string(strerror(errno)));
    thread_ = std::thread([this] { loop(); });
  }
  ~Listener() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::atomic<uint64_t> closed{0}, last_conn_bytes{0};

 private:
  void loop() {
    pin_to(1);
    std::vector<char> buf(1 << 18);
    while (!stop_) {
      pollfd pf{fd_, POLLIN, 0};
      if (poll(&pf, 1, 100) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      timeval tv{0, 200000};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      uint64_t n = 0;
      while (!stop_) {
        ssize_t k = recv(c, buf.data(), buf.size(), 0);
        if (k > 0) {
          n += static_cast<uint64_t>(k);
        } else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
          break;
        }
      }
      close(c);
      last_conn_bytes = n;
      closed++;
    }
  }
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

bool seq_lt(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) < 0;
}

struct TsoResult {
  bool ok = false;
  std::string error;
  double gbps = 0;
  uint64_t acked = 0, listener = 0, frames = 0, kernel_rx_packets = 0, kernel_rx_bytes = 0,
           retrans = 0, csum_errors = 0;
};

class TcpClient {
 public:
  TcpClient(const Port& p, rte_mempool* mp, uint16_t sport, uint16_t mss)
      : p_(p), mp_(mp), sport_(sport), mss_(mss) {}

  // 3-way handshake; false on timeout.
  bool connect() {
    iss_ = static_cast<uint32_t>(rte_rdtsc());
    snd_una_ = snd_nxt_ = iss_ + 1;
    const uint8_t opts[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7};  // MSS 1460, NOP, window scale 7
    for (int attempt = 0; attempt < 4 && !g_stop; attempt++) {
      control(iss_, 0, RTE_TCP_SYN_FLAG, opts, sizeof(opts));
      auto end = Clock::now() + std::chrono::milliseconds(500);
      while (Clock::now() < end) {
        rte_mbuf* b[32];
        uint16_t n = rte_eth_rx_burst(p_.id, 0, b, 32);
        for (uint16_t i = 0; i < n; i++) {
          const rte_tcp_hdr* t = ours(b[i]);
          if (t != nullptr && (t->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) ==
                                  (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) {
            rcv_nxt_ = ntohl(t->sent_seq) + 1;
            parse_wscale(t);
            wnd_ = ntohs(t->rx_win);  // not scaled in a SYN-ACK
            established_ = true;
          }
        }
        rte_pktmbuf_free_bulk(b, n);
        if (established_) {
          control(snd_nxt_, rcv_nxt_, RTE_TCP_ACK_FLAG, nullptr, 0);
          return true;
        }
      }
    }
    return false;
  }

  // Sends super-frames for secs; the result's gbps counts payload the kernel acknowledged.
  void pump(double secs, TsoResult& r) {
    // Counted in 64 bits: a 3 s cell now moves more than the 4 GB that sequence numbers span.
    const uint64_t start = acked_bytes_;
    const auto t0 = Clock::now();
    const auto end =
        t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs));
    last_progress_ = t0;
    while (!g_stop && Clock::now() < end && !failed_) step(true, r);
    r.gbps = static_cast<double>(acked_bytes_ - start) * 8 / secs_since(t0) / 1e9;
    // Let everything sent be acknowledged (retransmitting if needed), then FIN.
    auto limit = Clock::now() + std::chrono::seconds(2);
    while (!failed_ && snd_una_ != snd_nxt_ && Clock::now() < limit) step(false, r);
    r.acked = acked_bytes_ - start;
  }

  // FIN, and the ACK of the kernel's FIN once the listener has read everything and closed.
  void finish() {
    const uint32_t fin_seq = snd_nxt_;
    control(fin_seq, rcv_nxt_, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, nullptr, 0);
    auto limit = Clock::now() + std::chrono::seconds(2);
    bool peer_fin = false;
    while (!peer_fin && Clock::now() < limit) {
      rte_mbuf* b[32];
      uint16_t n = rte_eth_rx_burst(p_.id, 0, b, 32);
      for (uint16_t i = 0; i < n; i++) {
        const rte_tcp_hdr* t = ours(b[i]);
        if (t != nullptr && (t->tcp_flags & RTE_TCP_FIN_FLAG)) {
          rcv_nxt_ = ntohl(t->sent_seq) + 1;
          peer_fin = true;
        }
      }
      rte_pktmbuf_free_bulk(b, n);
    }
    if (peer_fin) control(fin_seq + 1, rcv_nxt_, RTE_TCP_ACK_FLAG, nullptr, 0);
  }

  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }

 private:
  // Our TCP header in a frame from the kernel, or nullptr.
  const rte_tcp_hdr* ours(rte_mbuf* m) const {
    if (m->data_len < 54) return nullptr;
    auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    if (eth->ether_type != htons(RTE_ETHER_TYPE_IPV4)) return nullptr;
    auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eth + 1);
    if (ip->next_proto_id != IPPROTO_TCP || ip->dst_addr != htonl(p_.pip)) return nullptr;
    auto* t = reinterpret_cast<const rte_tcp_hdr*>(reinterpret_cast<const uint8_t*>(ip) +
                                                   (ip->version_ihl & 0xf) * 4);
    if (t->dst_port != htons(sport_) || t->src_port != htons(kListenPort)) return nullptr;
    return t;
  }
  void parse_wscale(const rte_tcp_hdr* t) {
    const auto* o = reinterpret_cast<const uint8_t*>(t + 1);
    const size_t n = ((t->data_off >> 4) * 4u) - sizeof(rte_tcp_hdr);
    for (size_t i = 0; i < n;) {
      if (o[i] == 0) break;
      if (o[i] == 1) {
        i++;
        continue;
      }
      if (i + 1 >= n || o[i + 1] < 2) break;
      if (o[i] == 3 && o[i + 1] == 3 && i + 2 < n) wscale_ = std::min<uint8_t>(o[i + 2], 14);
      i += o[i + 1];
    }
  }
  // Headers of a frame to the kernel into m (contiguous); returns the TCP header.
  rte_tcp_hdr* headers(rte_mbuf* m, uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t* opts,
                       uint16_t optlen, uint32_t payload) {
    const uint16_t hl = static_cast<uint16_t>(54 + optlen);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, hl));
    eth->dst_addr = p_.kmac;
    eth->src_addr = p_.pmac;
    eth->ether_type = htons(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    memset(ip, 0, sizeof(*ip));
    ip->version_ihl = 0x45;
    ip->total_length = htons(static_cast<uint16_t>(40 + optlen + payload));
    ip->packet_id = htons(ip_id_++);
    ip->fragment_offset = htons(RTE_IPV4_HDR_DF_FLAG);
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_TCP;
    ip->src_addr = htonl(p_.pip);
    ip->dst_addr = htonl(p_.kip);
    auto* t = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
    memset(t, 0, sizeof(*t));
    t->src_port = htons(sport_);
    t->dst_port = htons(kListenPort);
    t->sent_seq = htonl(seq);
    t->recv_ack = htonl(ack);
    t->data_off = static_cast<uint8_t>(((20 + optlen) / 4) << 4);
    t->tcp_flags = flags;
    t->rx_win = htons(65535);  // scaled by 2^7: we always have room for the kernel's ACKs
    if (optlen) memcpy(t + 1, opts, optlen);
    return t;
  }
  // A small frame with checksums done here, so it depends on no offload.
  void control(uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t* opts, uint16_t optlen) {
    rte_mbuf* m = rte_pktmbuf_alloc(mp_);
    if (m == nullptr) return;
    rte_tcp_hdr* t = headers(m, seq, ack, flags, opts, optlen, 0);
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    t->cksum = rte_ipv4_udptcp_cksum(ip, t);
    if (rte_eth_tx_burst(p_.id, 0, &m, 1) != 1) rte_pktmbuf_free(m);
  }
  // A data super-frame: a header mbuf and a chain of 2 KB payload mbufs (payload not written:
  // a switch forwards payload without touching it), TSO + checksum offloads.
  rte_mbuf* data(uint32_t seq, uint32_t len) {
    rte_mbuf* h = rte_pktmbuf_alloc(mp_);
    if (h == nullptr) return nullptr;
    rte_tcp_hdr* t =
        headers(h, seq, rcv_nxt_, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, nullptr, 0, len);
    for (uint32_t left = len; left > 0;) {
      rte_mbuf* s = rte_pktmbuf_alloc(mp_);
      if (s == nullptr) {
        rte_pktmbuf_free(h);
        return nullptr;
      }
      auto k = static_cast<uint16_t>(std::min<uint32_t>(left, rte_pktmbuf_tailroom(s)));
      rte_pktmbuf_append(s, k);
      left -= k;
      if (rte_pktmbuf_chain(h, s) != 0) {
        rte_pktmbuf_free(s);
        rte_pktmbuf_free(h);
        return nullptr;
      }
    }
    h->l2_len = 14;
    h->l3_len = 20;
    h->l4_len = 20;
    h->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM;
    if (len > mss_) {
      h->ol_flags |= RTE_MBUF_F_TX_TCP_SEG;
      h->tso_segsz = mss_;
    }
    auto* ip = rte_pktmbuf_mtod_offset(h, rte_ipv4_hdr*, 14);
    t->cksum = rte_ipv4_phdr_cksum(ip, h->ol_flags);  // DPDK's convention for the offloads
    return h;
  }
  // One poll: ACKs in, retransmission decisions, up to 4 super-frames out.
  void step(bool new_data, TsoResult& r) {
    rte_mbuf* b[32];
    uint16_t n = rte_eth_rx_burst(p_.id, 0, b, 32);
    const auto now = Clock::now();
    for (uint16_t i = 0; i < n; i++) {
      const rte_tcp_hdr* t = ours(b[i]);
      if (t == nullptr) continue;
      if (t->tcp_flags & RTE_TCP_RST_FLAG) {
        failed_ = true;
        error_ = "the kernel reset the connection";
      }
      if (!(t->tcp_flags & RTE_TCP_ACK_FLAG)) continue;
      const uint32_t a = ntohl(t->recv_ack);
      const uint32_t w = static_cast<uint32_t>(ntohs(t->rx_win)) << wscale_;
      if (seq_lt(snd_una_, a) && !seq_lt(snd_nxt_max_, a)) {
        acked_bytes_ += a - snd_una_;
        snd_una_ = a;
        wnd_ = w;
        dup_ = 0;
        last_progress_ = now;
      } else if (a == snd_una_) {
        wnd_ = w;
        if (snd_una_ != snd_nxt_ && ++dup_ >= 3 && !seq_lt(snd_una_, recover_)) {
          recover_ = snd_nxt_;  // go back once per window, not on every duplicate
          snd_nxt_ = snd_una_;
          dup_ = 0;
          r.retrans++;
        }
      }
    }
    rte_pktmbuf_free_bulk(b, n);
    if (snd_una_ != snd_nxt_ && now - last_progress_ > std::chrono::milliseconds(100)) {
      snd_nxt_ = snd_una_;  // go-back-N after a silence
      last_progress_ = now;
      r.retrans++;
      if (++timeouts_ > 50) {
        failed_ = true;
        error_ = "no progress for 5 s (nothing acknowledged)";
      }
    }
    rte_mbuf* out[4];
    uint32_t seqs[4];
    uint16_t k = 0;
    const uint32_t max_payload = 45u * mss_;
    while (k < 4) {
      uint32_t limit = snd_una_ + wnd_;
      if (!new_data) limit = seq_lt(snd_nxt_max_, limit) ? snd_nxt_max_ : limit;
      if (!seq_lt(snd_nxt_, limit)) break;
      uint32_t len = std::min(max_payload, limit - snd_nxt_);
      if (len >= mss_) {
        len -= len % mss_;
      } else if (limit - snd_una_ >= mss_) {
        break;  // wait for a full segment rather than send a runt
      }
      rte_mbuf* m = data(snd_nxt_, len);
      if (m == nullptr) break;
      seqs[k] = snd_nxt_;
      out[k++] = m;
      snd_nxt_ += len;
      if (seq_lt(snd_nxt_max_, snd_nxt_)) snd_nxt_max_ = snd_nxt_;
    }
    if (k == 0) return;
    if (seq_lt(snd_una_, snd_nxt_) && snd_una_ == seqs[0]) last_progress_ = now;
    uint16_t sent = rte_eth_tx_burst(p_.id, 0, out, k);
    r.frames += sent;
    if (sent < k) {
      snd_nxt_ = seqs[sent];  // not taken: sent again on a later poll
      rte_pktmbuf_free_bulk(out + sent, k - sent);
    }
  }

  const Port& p_;
  rte_mempool* mp_;
  uint16_t sport_, mss_;
  uint16_t ip_id_ = 1;
  uint32_t iss_ = 0, snd_una_ = 0, snd_nxt_ = 0, rcv_nxt_ = 0, wnd_ = 0, recover_ = 0;
  uint32_t snd_nxt_max_ = 0;
  uint64_t acked_bytes_ = 0;  // every byte acknowledged so far, without the 32-bit wrap
  uint8_t wscale_ = 0;
  unsigned dup_ = 0, timeouts_ = 0;
  bool established_ = false, failed_ = false;
  std::string error_;
  Clock::time_point last_progress_;

 public:
  void init_max() { snd_nxt_max_ = snd_nxt_; }
};

TsoResult tso_cell(const Port& p, rte_mempool* mp, Listener& l, double secs, uint16_t mss) {
  static uint16_t sport = 40000;
  TsoResult r;
  drain(p, 20);
  const uint64_t rx_p = if_stat(p.ifname, "rx_packets"), rx_b = if_stat(p.ifname, "rx_bytes");
  const uint64_t cs = snmp_tcp("InCsumErrors");
  const uint64_t closed = l.closed.load();
  TcpClient c(p, mp, sport++, mss);
  if (!c.connect()) {
    r.error = "no SYN-ACK from the kernel";
    return r;
  }
  c.init_max();
  c.pump(secs, r);
  c.finish();
  for (int i = 0; i < 300 && l.closed.load() == closed; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  r.listener = l.closed.load() != closed ? l.last_conn_bytes.load() : 0;
  r.kernel_rx_packets = if_stat(p.ifname, "rx_packets") - rx_p;
  r.kernel_rx_bytes = if_stat(p.ifname, "rx_bytes") - rx_b;
  r.csum_errors = snmp_tcp("InCsumErrors") - cs;
  if (c.failed()) {
    r.error = c.error();
  } else if (r.acked == 0) {
    r.error = "nothing acknowledged";
  } else if (r.listener != r.acked) {
    r.error = "the listener read " + std::to_string(r.listener) + " bytes, " +
              std::to_string(r.acked) + " were acknowledged";
  } else {
    r.ok = true;
  }
  return r;
}

// Does the port take one TSO super-frame with this mss? (net_tap checks mss + headers <= MTU.)
bool takes_tso(const Port& p, rte_mempool* mp, uint16_t mss) {
  rte_mbuf* h = rte_pktmbuf_alloc(mp);
  if (h == nullptr) return false;
  Bytes f = udp_frame(54);  // another host's MAC: dropped by the kernel if sent
  memcpy(rte_pktmbuf_append(h, 54), f.data(), 54);
  auto* ip = rte_pktmbuf_mtod_offset(h, rte_ipv4_hdr*, 14);
  ip->next_proto_id = IPPROTO_TCP;
  ip->total_length = htons(static_cast<uint16_t>(40 + 4 * mss));
  auto* t = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
  memset(t, 0, sizeof(*t));
  t->data_off = 0x50;
  for (int i = 0; i < 2; i++) {
    rte_mbuf* s = rte_pktmbuf_alloc(mp);
    if (s == nullptr) break;
    rte_pktmbuf_append(s, static_cast<uint16_t>(2 * mss));
    rte_pktmbuf_chain(h, s);
  }
  h->l2_len = 14;
  h->l3_len = 20;
  h->l4_len = 20;
  h->tso_segsz = mss;
  h->ol_flags =
      RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_TCP_SEG;
  t->cksum = rte_ipv4_phdr_cksum(ip, h->ol_flags);
  if (rte_eth_tx_burst(p.id, 0, &h, 1) == 1) return true;
  rte_pktmbuf_free(h);
  return false;
}

// ---------------------------------------------------------------- report

struct Series {
  std::vector<double> v;
  double median() const {
    if (v.empty()) return 0;
    auto s = v;
    std::sort(s.begin(), s.end());
    return s.size() % 2 ? s[s.size() / 2] : (s[s.size() / 2 - 1] + s[s.size() / 2]) / 2;
  }
  double lo() const { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }
  double hi() const { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }
};

double sum(const Series& s) {
  double v = 0;
  for (double x : s.v) v += x;
  return v;
}

std::string fmt(double x, int prec = 3) {
  char b[64];
  snprintf(b, sizeof(b), "%.*f", prec, x);
  return b;
}

std::string cell(const Series& s, int prec = 3) {
  if (s.v.empty()) return "–";
  return "**" + fmt(s.median(), prec) + "** (" + fmt(s.lo(), prec) + "–" + fmt(s.hi(), prec) + ")";
}

std::string loadavg() {
  std::istringstream s(slurp("/proc/loadavg"));
  std::string a, b, c;
  s >> a >> b >> c;
  return a + " " + b + " " + c;
}

struct Opts {
  double duration = 3;
  int reps = 3;
  uint16_t mss = 1448;
  std::string only;       // comma-separated prefixes of tx64,tx1500,rx64,rx1500,tso; empty: all
  bool secondary = true;  // the net_rtap tx/rx cells again, polled in a secondary process
  // --role secondary: one cell in a secondary process of the primary with EAL prefix `prefix`
  std::string role = "primary", prefix, port, ifname, work;
  size_t size = 60;
};

bool selected(const Opts& o, int w) {
  static const char* ids[] = {"tx64", "tx1500", "rx64", "rx1500", "tso"};
  if (o.only.empty()) return true;
  std::istringstream in(o.only);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty() && std::string(ids[w]).rfind(item, 0) == 0) return true;
  return false;
}

Opts parse(int argc, char** argv) {
  Opts o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto val = [&] {
      if (i + 1 >= argc) die("missing value after " + a);
      return std::string(argv[++i]);
    };
    if (a == "--duration") {
      o.duration = std::stod(val());
    } else if (a == "--reps") {
      o.reps = std::stoi(val());
    } else if (a == "--only") {
      o.only = val();
    } else if (a == "--mss") {
      o.mss = static_cast<uint16_t>(std::stoi(val()));
    } else if (a == "--no-secondary") {
      o.secondary = false;
    } else if (a == "--role") {
      o.role = val();
    } else if (a == "--prefix") {
      o.prefix = val();
    } else if (a == "--port") {
      o.port = val();
    } else if (a == "--ifname") {
      o.ifname = val();
    } else if (a == "--work") {
      o.work = val();
    } else if (a == "--size") {
      o.size = std::stoul(val());
    } else {
      die("unknown argument " + a +
          " (--duration S, --reps N, --mss N, --only tx,rx64,..., --no-secondary)");
    }
  }
  if (o.duration <= 0 || o.reps < 1 || o.mss < 536 || o.mss > 1460) die("bad option value");
  if (o.role != "primary" &&
      (o.role != "secondary" || o.prefix.empty() || o.port.empty() || o.ifname.empty() ||
       (o.work != "rx" && o.work != "tx") || o.size < 60 || o.size > 1514))
    die("--role secondary needs --prefix P --port NAME --ifname IF --work rx|tx --size 60..1514");
  return o;
}

// ---------------------------------------------------------------- one queue in a secondary

// --role secondary: attaches to the primary, claims queue 0 of the port in the direction of the
// work, runs one tx_cell or rx_cell and prints its result on one line.
int secondary_main(const Opts& o) {
  const auto t0 = Clock::now();
  std::string fp = "--file-prefix=" + o.prefix;
  const char* eal[] = {"rtap_bench",     "--proc-type=secondary", fp.c_str(),
                       "--no-pci",       "--no-telemetry",        "--lcores=1@0",
                       "--iova-mode=va", "--log-level=*:warning"};
  if (rte_eal_init(sizeof(eal) / sizeof(eal[0]), const_cast<char**>(eal)) < 0) {
    printf("error rte_eal_init: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  auto fail = [](const std::string& msg) {
    printf("error %s\n", msg.c_str());
    rte_eal_cleanup();
    return 1;
  };
  Port p;
  p.label = "net_rtap";
  p.ifname = o.ifname;
  if (rte_eth_dev_get_port_by_name(o.port.c_str(), &p.id) != 0) return fail("no port " + o.port);
  rte_mempool* mp = rte_mempool_lookup("bench");
  if (mp == nullptr) return fail("no mempool 'bench' in the primary");
  const unsigned dir = o.work == "rx" ? RTE_PMD_RTAP_RX : RTE_PMD_RTAP_TX;
  if (int rc = rte_pmd_rtap_queue_claim(p.id, 0, dir); rc != 0) {
    pid_t owner = 0;
    rte_pmd_rtap_queue_owner(p.id, 0, dir, &owner);
    return fail("claim of queue 0: " + std::string(strerror(-rc)) + " (owner " +
                std::to_string(owner) + ")");
  }
  const double attach_ms = secs_since(t0) * 1e3;
  const Bytes f = udp_frame(o.size);
  if (dir == RTE_PMD_RTAP_TX) {
    TxResult x = tx_cell(p, mp, f, o.duration);
    printf("result attach_ms=%.1f mpps=%.6f sent=%lu kernel_rx=%lu failed=%lu\n", attach_ms, x.mpps,
           x.sent, x.kernel_rx, x.failed);
  } else {
    RxResult x = rx_cell(p, f, o.duration);
    printf(
        "result attach_ms=%.1f mpps=%.6f offered_mpps=%.6f received=%lu offered=%lu "
        "tap_dropped=%lu slices=%lu stalled=%lu bad_len=%lu\n",
        attach_ms, x.mpps, x.offered_mpps, x.received, x.offered, x.tap_dropped, x.slices,
        x.stalled_slices, x.bad_len);
  }
  int rc = rte_pmd_rtap_queue_release(p.id, 0, dir);
  if (rc != 0) printf("error release: %s\n", strerror(-rc));
  rte_eal_cleanup();
  return rc != 0;
}

struct SecondaryResult {
  std::string error;                // empty: ok
  std::string note;                 // a claim left behind after the secondary exited
  std::map<std::string, double> v;  // the key=value pairs of the result line
};

// The primary's side: releases queue 0 of p, runs `rtap_bench --role secondary` for one cell and
// waits for it (at most the cell's duration + 60 s), then checks that the secondary released
// the queue. The primary does not poll the port meanwhile; its next burst claims the queue back.
SecondaryResult run_secondary(const Port& p, const Opts& o, const char* work, size_t size) {
  SecondaryResult res;
  if (int rc = rte_pmd_rtap_queue_release(p.id, 0, RTE_PMD_RTAP_RX | RTE_PMD_RTAP_TX); rc != 0) {
    res.error = "release in the primary: " + std::string(strerror(-rc));
    return res;
  }
  char name[RTE_ETH_NAME_MAX_LEN];
  if (rte_eth_dev_get_name_by_port(p.id, name) != 0) {
    res.error = "no name for port " + std::to_string(p.id);
    return res;
  }
  std::vector<std::string> args = {
      "rtap_bench", "--role", "secondary",          "--prefix",   g_prefix,
      "--port",     name,     "--ifname",           p.ifname,     "--work",
      work,         "--size", std::to_string(size), "--duration", fmt(o.duration, 3)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    res.error = "pipe: " + std::string(strerror(errno));
    return res;
  }
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(fds[1], 1);
    close_range(3, ~0u, 0);  // none of the primary's fds (TAP queues, io_urings, hugepages)
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    res.error = "fork: " + std::string(strerror(errno));
    return res;
  }
  std::string out;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(o.duration + 60));
  for (;;) {
    if (g_stop || Clock::now() > deadline) {
      kill(pid, SIGKILL);
      res.error = g_stop ? "interrupted" : "no answer within the cell's duration + 60 s";
      break;
    }
    pollfd pf{fds[0], POLLIN, 0};
    if (poll(&pf, 1, 200) <= 0) continue;
    char buf[512];
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  std::istringstream lines(out);
  std::string line, errors;
  bool have = false;
  while (std::getline(lines, line)) {
    if (line.rfind("result ", 0) == 0) {
      have = true;
      std::istringstream kv(line.substr(7));
      std::string item;
      while (kv >> item) {
        auto eq = item.find('=');
        if (eq != std::string::npos) res.v[item.substr(0, eq)] = std::stod(item.substr(eq + 1));
      }
    } else if (line.rfind("error ", 0) == 0) {
      errors += (errors.empty() ? "" : "; ") + line.substr(6);
    }
  }
  if (res.error.empty() && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
    res.error = WIFEXITED(st) ? "exit status " + std::to_string(WEXITSTATUS(st))
                              : "killed by signal " + std::to_string(WTERMSIG(st));
  }
  if (!errors.empty()) res.error += (res.error.empty() ? "" : ": ") + errors;
  if (res.error.empty() && !have) res.error = "no result line";
  if (!res.error.empty()) res.v.clear();
  // The secondary released the queue before it exited; a claim left behind is a driver bug (a
  // dead owner's claim is taken over anyway, so the run goes on).
  for (unsigned dir : {RTE_PMD_RTAP_RX, RTE_PMD_RTAP_TX}) {
    pid_t owner = 0;
    if (rte_pmd_rtap_queue_owner(p.id, 0, dir, &owner) == 0 && owner != 0) {
      res.note += std::string(res.note.empty() ? "" : "; ") + "queue 0 " +
                  (dir == RTE_PMD_RTAP_RX ? "rx" : "tx") + " still owned by " +
                  std::to_string(owner) + " after the secondary exited";
    }
  }
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  const Opts o = parse(argc, argv);
  if (o.role == "secondary") {
    setvbuf(stdout, nullptr, _IOLBF, 0);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    return secondary_main(o);  // g_prefix stays empty: the EAL files are the primary's
  }
  const std::string load_start = loadavg();
  const auto t_start = Clock::now();
  g_prefix = "rtbench" + std::to_string(getpid());
  atexit(remove_eal_files);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  setvbuf(stdout, nullptr, _IOLBF, 0);

  std::string fp = "--file-prefix=" + g_prefix;
  const char* eal[] = {"rtap_bench",
                       "--no-pci",
                       fp.c_str(),
                       "--iova-mode=va",
                       "--no-telemetry",
                       "-l",
                       "0",
                       "--log-level=*:warning",
                       "--base-virtaddr=0x300000000000"};
  if (rte_eal_init(sizeof(eal) / sizeof(eal[0]), const_cast<char**>(eal)) < 0)
    die(std::string("rte_eal_init: ") + rte_strerror(rte_errno));
  rte_mempool* mp = rte_pktmbuf_pool_create("bench", 16383, 256, 0, 2048 + 128, SOCKET_ID_ANY);
  if (mp == nullptr) die("no mempool: hugepages exhausted?");

  Port r, t;
  r.label = "net_rtap";
  r.ifname = "rtbench_r";
  t.label = "net_tap";
  t.ifname = "rtbench_t";
  r.kip = ip4(10, 213, 1, 1);
  r.pip = ip4(10, 213, 1, 2);
  t.kip = ip4(10, 213, 2, 1);
  t.pip = ip4(10, 213, 2, 2);
  r.pmac = {{0x02, 0, 0, 0, 0x01, 0x02}};
  t.pmac = {{0x02, 0, 0, 0, 0x02, 0x02}};
  make_port(r, "net_rtap_bench", "iface=rtbench_r", mp);
  make_port(t, "net_tap_bench", "iface=rtbench_t", mp);
  sh("ip link set lo up && ip link add rtbench_g type veth peer name rtbench_h && "
     "ip link set rtbench_g up && ip link set rtbench_h up");
  for (Port* p : {&r, &t}) {
    char kip[16], pip[16], pmac[RTE_ETHER_ADDR_FMT_SIZE];
    in_addr a{htonl(p->kip)}, b{htonl(p->pip)};
    inet_ntop(AF_INET, &a, kip, sizeof(kip));
    inet_ntop(AF_INET, &b, pip, sizeof(pip));
    rte_ether_format_addr(pmac, sizeof(pmac), &p->pmac);
    sh("sysctl -qw net.ipv6.conf." + p->ifname + ".disable_ipv6=1");
    sh("ip addr add " + std::string(kip) + "/24 dev " + p->ifname);
    sh("ip link set " + p->ifname + " up");
    sh("ip neigh replace " + std::string(pip) + " lladdr " + pmac + " dev " + p->ifname +
       " nud permanent");
  }
  for (int i = 0; i < 200; i++) {
    if (slurp("/sys/class/net/rtbench_r/operstate") == "up" &&
        slurp("/sys/class/net/rtbench_t/operstate") == "up")
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // TSO acceptance at MTU 1500, then net_tap's MTU raised just enough for this mss if needed.
  for (Port* p : {&r, &t}) {
    if (!p->tso) {
      p->tso_note = "no TX_OFFLOAD_TCP_TSO";
      continue;
    }
    if (takes_tso(*p, mp, o.mss)) continue;
    const uint16_t need = static_cast<uint16_t>(o.mss + 54);
    p->tso_note = "refuses tso_segsz " + std::to_string(o.mss) +
                  " at MTU 1500 (its check: tso_segsz + l2+l3+l4 ≤ MTU); run at MTU " +
                  std::to_string(need);
    if (rte_eth_dev_set_mtu(p->id, need) != 0 || !takes_tso(*p, mp, o.mss)) {
      p->tso_note += " failed too";
      p->tso = false;
    }
  }
  drain(r, 50);
  drain(t, 50);
  auto listener = std::make_unique<Listener>();

  const Bytes f64 = udp_frame(60), f1500 = udp_frame(1514);
  const char* names[] = {"tx 64 B, Mpps", "tx 1500 B, Mpps", "rx 64 B, Mpps", "rx 1500 B, Mpps",
                         "TSO 64 KB tx, Gbit/s"};
  constexpr int kW = 5;
  std::map<std::string, Series> s;  // key: workload index + driver label, or extra names
  std::vector<std::string> notes;
  auto key = [](int w, const Port& p) { return std::to_string(w) + p.label; };
  // The same net_rtap cell with queue 0 polled in a secondary process; keys "sec<w>...".
  auto secondary_cell = [&](int w) {
    const std::string k = "sec" + std::to_string(w);
    SecondaryResult x = run_secondary(r, o, w < 2 ? "tx" : "rx", w % 2 == 0 ? 60 : 1514);
    if (!x.note.empty()) notes.push_back(std::string("secondary ") + names[w] + ": " + x.note);
    if (!x.error.empty()) {
      notes.push_back(std::string("secondary ") + names[w] + ": " + x.error);
      fprintf(stderr, "  net_rtap in a secondary %-22s failed: %s\n", names[w], x.error.c_str());
      return;
    }
    s[k].v.push_back(x.v["mpps"]);
    s[k + "attach"].v.push_back(x.v["attach_ms"]);
    if (w < 2) {
      s[k + "kernel"].v.push_back(x.v["sent"] ? x.v["kernel_rx"] / x.v["sent"] : 0);
      if (x.v["failed"] > 0)
        notes.push_back(std::string("net_rtap in a secondary ") + names[w] + ": " +
                        fmt(x.v["failed"], 0) + " frames refused");
      fprintf(stderr,
              "  net_rtap in a secondary %-22s %.3f (kernel rx %.0f of %.0f; attach %.0f ms)\n",
              names[w], x.v["mpps"], x.v["kernel_rx"], x.v["sent"], x.v["attach_ms"]);
    } else {
      const double off = x.v["offered"];
      s[k + "offered"].v.push_back(x.v["offered_mpps"]);
      s[k + "lost"].v.push_back(off ? 100.0 * (1.0 - x.v["received"] / off) : 0);
      s[k + "tapdrop"].v.push_back(off ? x.v["tap_dropped"] / off : 0);
      s[k + "stalls"].v.push_back(x.v["stalled"]);
      if (x.v["bad_len"] > 0)
        notes.push_back(std::string("net_rtap in a secondary ") + names[w] + ": " +
                        fmt(x.v["bad_len"], 0) + " frames of a wrong length");
      fprintf(
          stderr,
          "  net_rtap in a secondary %-22s %.3f (offered %.3f, TAP dropped %.0f, stalled 100 ms "
          "slices %.0f of %.0f; attach %.0f ms)\n",
          names[w], x.v["mpps"], x.v["offered_mpps"], x.v["tap_dropped"], x.v["stalled"],
          x.v["slices"], x.v["attach_ms"]);
    }
  };

  for (int rep = 0; rep < o.reps && !g_stop; rep++) {
    fprintf(stderr, "rep %d/%d\n", rep + 1, o.reps);
    for (int w = 0; w < kW && !g_stop; w++) {
      if (!selected(o, w)) continue;
      if (w == 2) s["gen64"].v.push_back(generator_ceiling("rtbench_g", f64, o.duration));
      if (w == 3) s["gen1500"].v.push_back(generator_ceiling("rtbench_g", f1500, o.duration));
      for (Port* p : {&r, &t}) {
        const std::string k = key(w, *p);
        if (w < 2) {
          TxResult x = tx_cell(*p, mp, w == 0 ? f64 : f1500, o.duration);
          s[k].v.push_back(x.mpps);
          s[k + "kernel"].v.push_back(x.sent ? static_cast<double>(x.kernel_rx) / x.sent : 0);
          if (x.failed)
            notes.push_back(p->label + " " + names[w] + ": " + std::to_string(x.failed) +
                            " frames refused");
          fprintf(stderr, "  %-8s %-22s %.3f (kernel rx %lu of %lu)\n", p->label.c_str(), names[w],
                  x.mpps, x.kernel_rx, x.sent);
          if (p == &r && o.secondary) secondary_cell(w);
        } else if (w < 4) {
          RxResult x = rx_cell(*p, w == 2 ? f64 : f1500, o.duration);
          s[k].v.push_back(x.mpps);
          s[k + "offered"].v.push_back(x.offered_mpps);
          s[k + "lost"].v.push_back(
              x.offered ? 100.0 * (1.0 - static_cast<double>(x.received) / x.offered) : 0);
          s[k + "tapdrop"].v.push_back(x.offered ? static_cast<double>(x.tap_dropped) / x.offered
                                                 : 0);
          s[k + "stalls"].v.push_back(static_cast<double>(x.stalled_slices));
          if (x.bad_len)
            notes.push_back(p->label + " " + names[w] + ": " + std::to_string(x.bad_len) +
                            " frames of a wrong length");
          fprintf(stderr,
                  "  %-8s %-22s %.3f (offered %.3f, TAP dropped %lu, stalled 100 ms slices %lu of "
                  "%lu)\n",
                  p->label.c_str(), names[w], x.mpps, x.offered_mpps, x.tap_dropped,
                  x.stalled_slices, x.slices);
          if (p == &r && o.secondary) secondary_cell(w);
        } else {
          if (!p->tso) continue;
          TsoResult x = tso_cell(*p, mp, *listener, o.duration, o.mss);
          if (!x.ok) {
            notes.push_back(p->label + " TSO rep " + std::to_string(rep + 1) + ": " + x.error);
            fprintf(stderr, "  %-8s TSO failed: %s\n", p->label.c_str(), x.error.c_str());
            continue;
          }
          s[k].v.push_back(x.gbps);
          s[k + "frames"].v.push_back(static_cast<double>(x.frames));
          s[k + "kpkts"].v.push_back(static_cast<double>(x.kernel_rx_packets));
          s[k + "kbytes"].v.push_back(x.acked ? static_cast<double>(x.kernel_rx_bytes) / x.acked
                                              : 0);
          s[k + "retrans"].v.push_back(static_cast<double>(x.retrans));
          s[k + "csum"].v.push_back(static_cast<double>(x.csum_errors));
          fprintf(stderr,
                  "  %-8s %-22s %.3f (acked %lu = listener %lu; %lu frames sent, TAP rx %lu pkts "
                  "%lu B; "
                  "%lu go-backs, %lu csum errors)\n",
                  p->label.c_str(), names[w], x.gbps, x.acked, x.listener, x.frames,
                  x.kernel_rx_packets, x.kernel_rx_bytes, x.retrans, x.csum_errors);
        }
      }
    }
  }
  const std::string load_end = loadavg();
  const double wall = secs_since(t_start);

  utsname u{};
  uname(&u);
  std::string cpu;
  {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind("model name", 0) == 0) {
        cpu = line.substr(line.find(':') + 2);
        break;
      }
  }
  printf("Machine: %u CPUs (%s), kernel %s. Load average (1/5/15 min) at start %s, at end %s.\n",
         std::thread::hardware_concurrency(), cpu.c_str(), u.release, load_start.c_str(),
         load_end.c_str());
  printf(
      "Run: %d reps × %.1f s per cell, drivers interleaved, one queue, 1024 descriptors, "
      "polling on core 0, the kernel-side thread on core 1; %.0f s in all. "
      "Cells: **median** (min–max).\n\n",
      o.reps, o.duration, wall);
  printf("| workload | net_rtap | net_tap | rtap / tap |\n|---|---|---|---|\n");
  for (int w = 0; w < kW; w++) {
    const Series &a = s[key(w, r)], &b = s[key(w, t)];
    std::string ra =
        a.v.empty() || b.v.empty() || b.median() == 0 ? "–" : fmt(a.median() / b.median(), 2) + "×";
    std::string cb = cell(b);
    if (w == 4 && !t.tso) cb = "not supported (" + t.tso_note + ")";
    std::string ca = cell(a);
    if (w == 4 && !r.tso) ca = "not supported (" + r.tso_note + ")";
    printf("| %s | %s | %s | %s |\n", names[w], ca.c_str(), cb.c_str(), ra.c_str());
  }
  printf("\nChecks and limits (medians):\n\n");
  printf("| | net_rtap | net_tap |\n|---|---|---|\n");
  for (int w = 0; w < 2; w++)
    printf("| %s: kernel rx_packets / frames sent | %s | %s |\n", names[w],
           fmt(s[key(w, r) + "kernel"].median(), 4).c_str(),
           fmt(s[key(w, t) + "kernel"].median(), 4).c_str());
  for (int w = 2; w < 4; w++) {
    printf("| %s: generator offered, Mpps (alone, into a veth: %s) | %s | %s |\n", names[w],
           fmt(s[w == 2 ? "gen64" : "gen1500"].median()).c_str(),
           fmt(s[key(w, r) + "offered"].median()).c_str(),
           fmt(s[key(w, t) + "offered"].median()).c_str());
    printf("| %s: offered but not received, %% | %s | %s |\n", names[w],
           fmt(s[key(w, r) + "lost"].median(), 2).c_str(),
           fmt(s[key(w, t) + "lost"].median(), 2).c_str());
    printf(
        "| %s: TAP tx_dropped per offered frame (refused by the full TAP, retried) | %s | %s |\n",
        names[w], fmt(s[key(w, r) + "tapdrop"].median(), 2).c_str(),
        fmt(s[key(w, t) + "tapdrop"].median(), 2).c_str());
    printf("| %s: 100 ms slices with < 1000 frames received (stalls), all reps | %s | %s |\n",
           names[w], fmt(sum(s[key(w, r) + "stalls"]), 0).c_str(),
           fmt(sum(s[key(w, t) + "stalls"]), 0).c_str());
  }
  auto tso_row = [&](const char* label, const char* suffix, int prec) {
    printf("| TSO: %s | %s | %s |\n", label,
           r.tso ? fmt(s[key(4, r) + suffix].median(), prec).c_str() : "–",
           t.tso ? fmt(s[key(4, t) + suffix].median(), prec).c_str() : "–");
  };
  tso_row("super-frames the driver accepted", "frames", 0);
  tso_row("packets the TAP's kernel side received (rx_packets)", "kpkts", 0);
  tso_row("TAP rx_bytes / payload acknowledged", "kbytes", 3);
  tso_row("go-back retransmissions", "retrans", 0);
  tso_row("TCP InCsumErrors", "csum", 0);
  printf(
      "\nTSO: mss (tso_segsz) %u, super-frames of up to 45 × mss = %u payload bytes, IPv4, "
      "TCP with IP+TCP checksum offload; every acknowledged byte was also read by the listener "
      "(a rep where they differ is reported below and left out).\n",
      o.mss, 45u * o.mss);
  for (Port* p : {&r, &t})
    printf("- %s: TX_OFFLOAD_TCP_TSO %s, RX_OFFLOAD_TCP_LRO %s%s%s\n", p->label.c_str(),
           p->tso ? "yes" : "no", p->lro ? "yes" : "no", p->tso_note.empty() ? "" : "; ",
           p->tso_note.c_str());
  for (auto& n : notes) printf("- %s\n", n.c_str());
  if (o.secondary) {
    printf(
        "\n## one queue: primary vs secondary\n\n"
        "net_rtap only, queue 0 of the same port: *primary* is the net_rtap cell of the table "
        "above; right after it the primary released the queue and a DPDK secondary process "
        "(`--proc-type=secondary`, lcore 1 on core 0, the generator on core 1) claimed it and ran "
        "the same cell with the same checks. The primary did not poll the port meanwhile. "
        "Cells: **median** (min–max) of %d reps.\n\n",
        o.reps);
    printf("| workload | primary | secondary | secondary / primary |\n|---|---|---|---|\n");
    for (int w = 0; w < 4; w++) {
      const Series &a = s[key(w, r)], &b = s["sec" + std::to_string(w)];
      std::string ra = a.v.empty() || b.v.empty() || a.median() == 0
                           ? "–"
                           : fmt(b.median() / a.median(), 2) + "×";
      printf("| %s | %s | %s | %s |\n", names[w], cell(a).c_str(), cell(b).c_str(), ra.c_str());
    }
    printf(
        "\nChecks of the secondary's cells (medians; the primary's are in the table above):\n\n");
    printf("| | secondary |\n|---|---|\n");
    for (int w = 0; w < 4; w++) {
      const std::string k = "sec" + std::to_string(w);
      printf("| %s: attach (EAL init + claim of the queue), ms | %s |\n", names[w],
             fmt(s[k + "attach"].median(), 0).c_str());
      if (w < 2) {
        printf("| %s: kernel rx_packets / frames sent | %s |\n", names[w],
               fmt(s[k + "kernel"].median(), 4).c_str());
      } else {
        printf("| %s: generator offered, Mpps | %s |\n", names[w],
               fmt(s[k + "offered"].median()).c_str());
        printf("| %s: offered but not received, %% | %s |\n", names[w],
               fmt(s[k + "lost"].median(), 2).c_str());
        printf("| %s: TAP tx_dropped per offered frame | %s |\n", names[w],
               fmt(s[k + "tapdrop"].median(), 2).c_str());
        printf("| %s: stalled 100 ms slices, all reps | %s |\n", names[w],
               fmt(sum(s[k + "stalls"]), 0).c_str());
      }
    }
    printf("\n");
  }

  listener.reset();
  for (uint16_t id : {r.id, t.id}) {
    rte_eth_dev_stop(id);
    rte_eth_dev_close(id);
  }
  // Every mbuf back in the pool (caches of the secondaries' lcore included) once the ports are
  // closed: a leak in either process's path shows here.
  const unsigned avail = rte_mempool_avail_count(mp), size = mp->size;
  printf("\nMempool after the ports were closed: %u of %u mbufs back%s.\n", avail, size,
         avail == size ? "" : " (**a leak**)");
  rte_eal_cleanup();
  return notes.empty() && avail == size ? 0 : 2;
}
