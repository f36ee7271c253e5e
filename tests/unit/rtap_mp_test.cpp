// net_rtap across processes: the test process is the primary (it owns the TAPs), real secondary
// processes (tests/tools/rtap_mp_peer) claim and poll queues on fds the primary passed them.
// Frames come from the kernel side of the TAP (AF_PACKET), each with a flow id and a per-flow
// sequence number, so a secondary can tell whether it lost anything.
#include <gtest/gtest.h>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mempool.h>

#include <fcntl.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "eal_env.hpp"
#include "frames.hpp"
#include "netns.hpp"
#include "rtap_port.hpp"
#include "rte_pmd_rtap.h"

using namespace vstest;

namespace {

using Key = std::pair<std::string, int>;  // (port name, queue)

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// One rtap_mp_peer process, its stdout read line by line.
class Peer {
 public:
  // env: "NAME=VALUE" entries set in the peer only.
  explicit Peer(const std::vector<std::string>& opts, const std::vector<std::string>& env = {}) {
    static int next_lcore = 10;  // distinct lcore ids: each has its own mempool cache
    const int lcore = next_lcore;
    next_lcore = next_lcore >= RTE_MAX_LCORE - 1 ? 10 : next_lcore + 1;
    std::vector<std::string> args = {RTAP_MP_PEER,
                                     "--proc-type=secondary",
                                     "--file-prefix=" + EalEnvironment::prefix(),
                                     "--no-pci",
                                     "--no-telemetry",
                                     "--lcores=" + std::to_string(lcore) + "@(0-1)",
                                     "--log-level=pmd.net.rtap:info",
                                     "--"};
    args.insert(args.end(), opts.begin(), opts.end());
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      // Under ASan: DPDK's vdev bus leaks in every secondary (see tests/lsan.supp).
      setenv("LSAN_OPTIONS", "suppressions=" LSAN_SUPPRESSIONS, 0);
      for (const std::string& e : env) putenv(strdup(e.c_str()));
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    fd_ = fds[0];
  }
  ~Peer() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  pid_t pid() const { return pid_; }

  // The next line that starts with `prefix` (earlier lines are kept in lines()).
  bool wait_for(const std::string& prefix, int timeout_ms, std::string* line = nullptr) {
    const int64_t end = now_ns() + int64_t{timeout_ms} * 1000000;
    for (;;) {
      for (; scanned_ < lines_.size(); scanned_++) {
        if (lines_[scanned_].rfind(prefix, 0) == 0) {
          if (line != nullptr) *line = lines_[scanned_];
          scanned_++;
          return true;
        }
      }
      int64_t left = (end - now_ns()) / 1000000;
      if (left <= 0 || !read_some(static_cast<int>(left))) return false;
    }
  }
  // SIGTERM, all output, exit status; -1 (after a SIGKILL) if the peer did not exit within 10 s,
  // so a wedged peer fails the test instead of hanging it until ctest's timeout.
  int stop() {
    kill(pid_, SIGTERM);
    const int64_t end = now_ns() + int64_t{10000} * 1000000;
    while (!eof_ && now_ns() < end) read_some(200);
    int st = 0;
    while (waitpid(pid_, &st, WNOHANG) == 0) {
      if (now_ns() >= end) {
        kill(pid_, SIGKILL);
        reap();
        lines_.push_back("(no exit 10 s after SIGTERM: killed)");
        return -1;
      }
      usleep(10000);
    }
    reaped_ = true;
    return exit_code(st);
  }
  int reap() {
    int st = 0;
    waitpid(pid_, &st, 0);
    reaped_ = true;
    return exit_code(st);
  }
  void kill9() { kill(pid_, SIGKILL); }
  const std::vector<std::string>& lines() const { return lines_; }
  std::string all() const {
    std::string s;
    for (auto& l : lines_) s += l + "\n";
    return s;
  }
  // "final port=P q=Q rx=N gaps=G" lines -> {(P,Q): (rx, gaps)}.
  std::map<std::pair<std::string, int>, std::pair<uint64_t, uint64_t>> finals() const {
    std::map<std::pair<std::string, int>, std::pair<uint64_t, uint64_t>> m;
    for (auto& l : lines_) {
      char port[64];
      int q;
      unsigned long long rx, gaps;
      if (sscanf(l.c_str(), "final port=%63s q=%d rx=%llu gaps=%llu", port, &q, &rx, &gaps) == 4)
        m[Key(port, q)] = {rx, gaps};
    }
    return m;
  }
  uint64_t sent(const std::string& port) const {
    for (auto& l : lines_) {
      char p[64];
      unsigned long long tx;
      if (sscanf(l.c_str(), "sent port=%63s tx=%llu", p, &tx) == 2 && port == p) return tx;
    }
    return 0;
  }

 private:
  static int exit_code(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }
  bool read_some(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[4096];
    ssize_t n = read(fd_, buf, sizeof(buf));
    if (n == 0) eof_ = true;  // the peer exited (or closed its stdout)
    if (n <= 0) return false;
    partial_.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
      lines_.push_back(partial_.substr(0, nl));
      partial_.erase(0, nl + 1);
    }
    return true;
  }
  pid_t pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
  bool eof_ = false;
  std::string partial_;
  std::vector<std::string> lines_;
  size_t scanned_ = 0;
};

// Test frames: UDP to port 2000 from port 3000+flow, payload 'R' 'M' flow seq.
class Generator {
 public:
  explicit Generator(const std::string& ifname) : ps_(ifname) {}
  bool ok() const { return ps_.ok(); }
  // n frames round-robin over `flows` flows, at most `per_ms` per millisecond.
  uint64_t send(uint64_t n, unsigned flows, unsigned per_ms = 50) {
    uint64_t sent = 0;
    for (uint64_t i = 0; i < n; i++) {
      unsigned f = static_cast<unsigned>(i % flows);
      if (send_one(f)) sent++;
      if (per_ms != 0 && i % per_ms == per_ms - 1) usleep(1000);
    }
    return sent;
  }
  // Sends until stop() at about rate_per_ms per millisecond, on a thread.
  void start(unsigned flows, unsigned per_ms) {
    run_ = true;
    t_ = std::thread([this, flows, per_ms] {
      for (uint64_t i = 0; run_; i++) {
        if (send_one(static_cast<unsigned>(i % flows))) total_++;
        if (i % per_ms == per_ms - 1) usleep(1000);
      }
    });
  }
  uint64_t stop() {
    run_ = false;
    if (t_.joinable()) t_.join();
    return total_;
  }
  ~Generator() { stop(); }
  // Frames the kernel received on the TAP (that is, sent by the port) with our payload.
  uint64_t count_returned(int quiet_ms) {
    uint64_t n = 0;
    uint8_t buf[2048];
    for (;;) {
      pollfd p{ps_.fd(), POLLIN, 0};
      if (poll(&p, 1, quiet_ms) <= 0) return n;
      sockaddr_ll from{};
      socklen_t fl = sizeof(from);
      ssize_t len =
          recvfrom(ps_.fd(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fl);
      if (len >= 50 && from.sll_pkttype != PACKET_OUTGOING && buf[42] == 'R' && buf[43] == 'M') n++;
    }
  }

 private:
  bool send_one(unsigned f) {
    L4Spec s;
    s.sport = static_cast<uint16_t>(3000 + f);
    s.dport = 2000;
    s.src_ip = 0x0a000001 + (f << 8);
    Bytes b = udp4(s, 64);
    uint32_t q = seq_[f]++;
    uint8_t hdr[8] = {'R',
                      'M',
                      static_cast<uint8_t>(f >> 8),
                      static_cast<uint8_t>(f),
                      static_cast<uint8_t>(q >> 24),
                      static_cast<uint8_t>(q >> 16),
                      static_cast<uint8_t>(q >> 8),
                      static_cast<uint8_t>(q)};
    memcpy(b.data() + 42, hdr, sizeof(hdr));  // UDP checksum is not checked on this path
    // A TAP queue that is full stops the device queue: the qdisc then refuses for a moment
    // (ENOBUFS). Back-pressure, not loss: retry like a well-behaved sender.
    for (int tries = 0; tries < 200; tries++) {
      if (ps_.send(b.data(), b.size()) == static_cast<int>(b.size())) return true;
      // ENETDOWN: the socket reports a link flap (port stop/start) once, on the next send.
      if (errno != ENOBUFS && errno != EAGAIN && errno != ENETDOWN) break;
      usleep(500);
    }
    fprintf(stderr, "generator: send failed: %s\n", strerror(errno));
    return false;
  }
  PacketSocket ps_;
  std::map<unsigned, uint32_t> seq_;
  std::atomic<bool> run_{false};
  std::atomic<uint64_t> total_{0};
  std::thread t_;
};

uint64_t ipackets(uint16_t port, int q = -1) {
  rte_eth_stats st{};
  rte_eth_stats_get(port, &st);
  return q < 0 ? st.ipackets : st.q_ipackets[q];
}

bool wait_ipackets(uint16_t port, uint64_t n, int timeout_ms) {
  const int64_t end = now_ns() + int64_t{timeout_ms} * 1000000;
  while (now_ns() < end) {
    if (ipackets(port) >= n) return true;
    usleep(10000);
  }
  return false;
}

class RtapMp : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(EalEnvironment::ready());
    ASSERT_EQ(rte_eal_process_type(), RTE_PROC_PRIMARY);
    ASSERT_EQ(access(RTAP_MP_PEER, X_OK), 0) << RTAP_MP_PEER;
    ifname = unique_name("rmp");
    mp = make_pool(16384);
    ASSERT_NE(mp, nullptr);
    avail0 = rte_mempool_avail_count(mp);
  }
  void TearDown() override {
    port.reset();
    run("ip link del " + ifname + " 2>/dev/null");
    if (mp != nullptr) rte_mempool_free(mp);
    // A pool may serve several queues: free each once (a second free read freed heap memory,
    // which crashed once the heap's layout changed).
    std::sort(queue_mp.begin(), queue_mp.end());
    queue_mp.erase(std::unique(queue_mp.begin(), queue_mp.end()), queue_mp.end());
    for (rte_mempool* m : queue_mp) rte_mempool_free(m);
  }
  // queues configured now; max_queues (devargs queues=) is what a re-configuration may grow to.
  void start(uint16_t queues, uint16_t nb_desc = 256, uint16_t max_queues = 0) {
    port = std::make_unique<RtapPort>(
        "net_rtap_mp0",
        "iface=" + ifname + ",queues=" + std::to_string(std::max(queues, max_queues)));
    ASSERT_EQ(port->rc(), 0) << log_text();
    run("sysctl -qw net.ipv6.conf." + ifname + ".disable_ipv6=1");
    PortConf c;
    c.queues = queues;
    c.nb_desc = nb_desc;
    c.mp = mp;
    c.queue_mp = queue_mp;
    ASSERT_EQ(port->start(c), 0) << log_text();
  }
  uint16_t id() const { return port->id(); }

  std::string ifname;
  rte_mempool* mp = nullptr;
  std::vector<rte_mempool*> queue_mp;  // rx queue q's pool, when set (else mp); freed at the end
  unsigned avail0 = 0;
  std::unique_ptr<RtapPort> port;
};

TEST_F(RtapMp, TwoSecondariesEachPollAndTransmitOnTheirOwnQueues) {
  start(4);
  Peer a({"--rxq", "0,1", "--txq", "0"});
  Peer b({"--rxq", "2,3", "--txq", "1"});
  for (Peer* p : {&a, &b})
    for (int i = 0; i < 2; i++)
      ASSERT_TRUE(p->wait_for("claimed", 10000)) << p->all() << log_text();
  pid_t owner = 0;
  ASSERT_EQ(rte_pmd_rtap_queue_owner(id(), 3, RTE_PMD_RTAP_RX, &owner), 0);
  EXPECT_EQ(owner, b.pid());

  Generator g(ifname);
  ASSERT_TRUE(g.ok());
  const uint64_t n = 4000;
  ASSERT_EQ(g.send(n, 64), n);
  ASSERT_TRUE(wait_ipackets(id(), n, 5000)) << ipackets(id()) << " of " << n;
  const uint64_t returned = g.count_returned(500);

  // A third process asking for a queue a live process holds is refused, naming the owner.
  Peer c({"--rxq", "1"});
  std::string line;
  EXPECT_TRUE(c.wait_for("refused", 10000, &line)) << c.all();
  EXPECT_EQ(c.reap(), 3);

  ASSERT_EQ(a.stop(), 0) << a.all();
  ASSERT_EQ(b.stop(), 0) << b.all();
  auto fa = a.finals(), fb = b.finals();
  const std::string name = "net_rtap_mp0";
  uint64_t total = 0;
  int busy_queues = 0;
  for (int q = 0; q < 4; q++) {
    auto& f = q < 2 ? fa : fb;
    ASSERT_TRUE(f.count(Key(name, q))) << (q < 2 ? a.all() : b.all());
    // The shared per-queue counter has one writer, the owner, and matches what it counted.
    EXPECT_EQ(f[Key(name, q)].first, ipackets(id(), q)) << "queue " << q;
    EXPECT_EQ(f[Key(name, q)].second, 0u) << "sequence gaps on queue " << q;
    total += f[Key(name, q)].first;
    busy_queues += f[Key(name, q)].first > 0;
  }
  EXPECT_EQ(total, n);
  EXPECT_GE(busy_queues, 3) << "64 flows spread over the 4 queue fds";
  // Each sent everything it received back out of its own tx queue.
  rte_eth_stats st{};
  ASSERT_EQ(rte_eth_stats_get(id(), &st), 0);
  EXPECT_EQ(a.sent(name), fa[Key(name, 0)].first + fa[Key(name, 1)].first);
  EXPECT_EQ(b.sent(name), fb[Key(name, 2)].first + fb[Key(name, 3)].first);
  EXPECT_EQ(st.q_opackets[0], a.sent(name));
  EXPECT_EQ(st.q_opackets[1], b.sent(name));
  EXPECT_EQ(returned, n) << "the kernel saw every frame the secondaries sent";
  EXPECT_EQ(st.imissed, 0u);
  // Their claims ended with them.
  ASSERT_EQ(rte_pmd_rtap_queue_owner(id(), 0, RTE_PMD_RTAP_RX, &owner), 0);
  EXPECT_EQ(owner, 0);
}

TEST_F(RtapMp, SixteenQueuesFdsInTwoChunksAllCarryTraffic) {
  start(16, 128);
  Peer a({"--rxq", "all"});
  for (int i = 0; i < 16; i++) ASSERT_TRUE(a.wait_for("claimed", 10000)) << a.all() << log_text();
  Generator g(ifname);
  const uint64_t n = 8192;
  ASSERT_EQ(g.send(n, 1024), n);
  ASSERT_TRUE(wait_ipackets(id(), n, 5000)) << ipackets(id());
  ASSERT_EQ(a.stop(), 0);
  auto f = a.finals();
  uint64_t total = 0;
  for (int q = 0; q < 16; q++) {
    EXPECT_GT(f[Key("net_rtap_mp0", q)].first, 0u) << "queue " << q << " (fd " << q << ")";
    EXPECT_EQ(f[Key("net_rtap_mp0", q)].first, ipackets(id(), q)) << "queue " << q;
    total += f[Key("net_rtap_mp0", q)].first;
  }
  EXPECT_EQ(total, n);
}

// A starting secondary takes the fds of all the primary's ports in one exchange, not one rte_mp
// round trip per port (issue #21); with the exchange turned off it asks per port, and either way
// every queue carries traffic.
TEST_F(RtapMp, FdsComeInOneExchangeAndOverRteMpWithoutIt) {
  start(4);
  Generator g(ifname);
  ASSERT_TRUE(g.ok());
  uint64_t sent = 0;
  for (bool channel : {true, false}) {
    SCOPED_TRACE(channel ? "fd channel" : "RTAP_FD_CHANNEL=0");
    Peer a({"--rxq", "all"},
           channel ? std::vector<std::string>{} : std::vector<std::string>{"RTAP_FD_CHANNEL=0"});
    std::string line;
    ASSERT_TRUE(a.wait_for("fds ", 10000, &line)) << a.all() << log_text();
    EXPECT_EQ(line, channel ? "fds in_bulk=1 per_port=0" : "fds in_bulk=0 per_port=1");
    for (int i = 0; i < 4; i++) ASSERT_TRUE(a.wait_for("claimed", 10000)) << a.all() << log_text();
    const uint64_t n = 2000;
    ASSERT_EQ(g.send(n, 64), n);
    sent += n;
    ASSERT_TRUE(wait_ipackets(id(), sent, 5000)) << ipackets(id()) << " of " << sent;
    ASSERT_EQ(a.stop(), 0) << a.all();
    uint64_t got = 0;
    int busy_queues = 0;
    for (const auto& [key, f] : a.finals()) {
      got += f.first;
      busy_queues += f.first > 0;
      EXPECT_EQ(f.second, 0u) << "sequence gaps on queue " << key.second;
    }
    EXPECT_EQ(got, n);
    EXPECT_GE(busy_queues, 3) << "64 flows spread over the 4 queue fds";
  }
}

// The primary's fd socket ignores clients that do not speak its protocol (garbage, a short
// request, a client that never reads) and still serves the next secondary.
TEST_F(RtapMp, FdSocketSurvivesBadClients) {
  start(2);
  const std::string path = std::string(rte_eal_get_runtime_dir()) + "/net_rtap_fds";
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0) << path;
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "only the primary's user may ask for fds";
  auto connect_to = [&] {
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << strerror(errno);
    return fd;
  };
  {
    int fd = connect_to();  // garbage of the request's size: no answer, connection closed
    const char junk[8] = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T'};
    ASSERT_EQ(send(fd, junk, sizeof(junk), 0), 8);
    char buf[64];
    pollfd p{fd, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1);
    EXPECT_EQ(recv(fd, buf, sizeof(buf), 0), 0) << "the primary hung up without sending fds";
    close(fd);
  }
  {
    int fd = connect_to();  // a short request, then nothing
    ASSERT_EQ(send(fd, "x", 1, 0), 1);
    close(fd);
  }
  int silent = connect_to();  // connects and never sends: the primary gives up after its timeout
  Peer a({"--rxq", "all"});
  std::string line;
  ASSERT_TRUE(a.wait_for("fds ", 15000, &line)) << a.all() << log_text();
  EXPECT_EQ(line, "fds in_bulk=1 per_port=0");
  for (int i = 0; i < 2; i++) ASSERT_TRUE(a.wait_for("claimed", 10000)) << a.all();
  ASSERT_EQ(a.stop(), 0) << a.all();
  close(silent);
}

TEST_F(RtapMp, HotplugAddAndRemoveWhileASecondaryRuns) {
  start(2);
  Peer a({"--rxq", "all"});
  for (int i = 0; i < 2; i++) ASSERT_TRUE(a.wait_for("claimed port=net_rtap_mp0", 10000));

  // A port probed with rte_dev_probe in the primary is probed in every secondary too.
  const std::string hp_if = unique_name("rmh");
  ASSERT_EQ(rte_dev_probe(("net_rtap_hp1,iface=" + hp_if + ",queues=2").c_str()), 0) << log_text();
  uint16_t hp = 0;
  ASSERT_EQ(rte_eth_dev_get_port_by_name("net_rtap_hp1", &hp), 0);
  run("sysctl -qw net.ipv6.conf." + hp_if + ".disable_ipv6=1");
  rte_eth_conf conf{};
  ASSERT_EQ(rte_eth_dev_configure(hp, 2, 2, &conf), 0);
  for (uint16_t q = 0; q < 2; q++) {
    ASSERT_EQ(rte_eth_rx_queue_setup(hp, q, 256, SOCKET_ID_ANY, nullptr, mp), 0);
    ASSERT_EQ(rte_eth_tx_queue_setup(hp, q, 256, SOCKET_ID_ANY, nullptr), 0);
  }
  ASSERT_EQ(rte_eth_dev_start(hp), 0);
  for (int i = 0; i < 2; i++)
    ASSERT_TRUE(a.wait_for("claimed port=net_rtap_hp1", 10000)) << a.all() << log_text();
  {
    Generator g(hp_if);
    ASSERT_EQ(g.send(1000, 32), 1000u);
    EXPECT_TRUE(wait_ipackets(hp, 1000, 5000)) << ipackets(hp);
  }
  // Removal: the secondaries detach first (their fds, rings and claims), then the primary.
  ASSERT_EQ(rte_eth_dev_stop(hp), 0);
  rte_eth_dev_info info{};
  ASSERT_EQ(rte_eth_dev_info_get(hp, &info), 0);
  ASSERT_EQ(rte_dev_remove(info.device), 0) << log_text();
  EXPECT_TRUE(a.wait_for("gone port=net_rtap_hp1", 5000)) << a.all();
  EXPECT_NE(run("ip link show " + hp_if + " >/dev/null 2>&1"), 0) << "the TAP is gone";

  // The first port kept working in the same secondary.
  Generator g(ifname);
  ASSERT_EQ(g.send(1000, 32), 1000u);
  EXPECT_TRUE(wait_ipackets(id(), 1000, 5000)) << ipackets(id());
  ASSERT_EQ(a.stop(), 0) << a.all();
  auto f = a.finals();
  EXPECT_EQ(f[Key("net_rtap_mp0", 0)].first + f[Key("net_rtap_mp0", 1)].first, 1000u) << a.all();
  // The first port's fds came in the exchange at start; the hot-plugged one's over rte_mp (once
  // at its probe, again after each re-configuration).
  unsigned long long in_bulk = 0, per_port = 0;
  for (const std::string& l : a.lines())
    sscanf(l.c_str(), "fds in_bulk=%llu per_port=%llu", &in_bulk, &per_port);
  EXPECT_EQ(in_bulk, 1u) << a.all();
  EXPECT_GE(per_port, 1u) << a.all();
}

TEST_F(RtapMp, QueueReconfigurationResyncsTheSecondary) {
  start(2, 256, 4);
  Peer a({"--rxq", "all"});
  for (int i = 0; i < 2; i++) ASSERT_TRUE(a.wait_for("claimed", 10000));
  Generator g(ifname);
  ASSERT_EQ(g.send(500, 64), 500u);
  ASSERT_TRUE(wait_ipackets(id(), 500, 5000));

  // Grow to 4 queue pairs: the secondary fetches the new fds and claims the new queues.
  ASSERT_EQ(rte_eth_dev_stop(id()), 0);
  PortConf c;
  c.queues = 4;
  c.mp = mp;
  ASSERT_EQ(port->start(c), 0) << log_text();
  for (int i = 0; i < 2; i++) ASSERT_TRUE(a.wait_for("claimed", 10000)) << a.all();
  ASSERT_EQ(rte_eth_stats_reset(id()), 0);
  ASSERT_EQ(g.send(2000, 64), 2000u);
  ASSERT_TRUE(wait_ipackets(id(), 2000, 5000)) << ipackets(id());
  int busy = 0;
  for (int q = 0; q < 4; q++) busy += ipackets(id(), q) > 0;
  EXPECT_GE(busy, 3);

  // Shrink to 1: the dropped queues' fds are detached in every process, so no frame lands on a
  // queue nobody reads.
  ASSERT_EQ(rte_eth_dev_stop(id()), 0);
  c.queues = 1;
  ASSERT_EQ(port->start(c), 0) << log_text();
  ASSERT_EQ(rte_eth_stats_reset(id()), 0);
  ASSERT_EQ(g.send(1000, 64), 1000u);
  EXPECT_TRUE(wait_ipackets(id(), 1000, 5000)) << ipackets(id());
  EXPECT_EQ(ipackets(id(), 0), 1000u);
  rte_eth_stats st{};
  rte_eth_stats_get(id(), &st);
  EXPECT_EQ(st.imissed, 0u);
  ASSERT_EQ(a.stop(), 0) << a.all();
}

// kill -9 of the owner of queues 0-1 under traffic, 20 times: a standby secondary takes them
// over within 200 ms of the owner's death; the secondary on queues 2-3 loses nothing meanwhile.
// (The time the kernel takes to finish the killed process is reported, not bounded.)
//
// A process SIGKILLed inside a get or put of a ring-backed pool leaves that ring's head ahead of
// its tail, and every later get or put of the pool beyond the lcore cache then spins for good
// (docs/rtap.md, Limits). So queues 0-1, whose pollers are killed, draw from their own pool,
// with the lock-free stack handler, which a kill can only leak from; queues 2-3 keep a ring pool
// that no killed process ever touches.
TEST_F(RtapMp, KilledSecondaryQueuesAreTakenOverAndOthersLoseNothing) {
  rte_mempool* killed_side = make_pool(16384, 2048 + 128, "lf_stack");
  ASSERT_NE(killed_side, nullptr) << log_text();
  queue_mp = {killed_side, killed_side};
  start(4, 128);
  Peer other({"--rxq", "2,3"});
  for (int i = 0; i < 2; i++) ASSERT_TRUE(other.wait_for("claimed", 10000));
  auto owner = std::make_unique<Peer>(std::vector<std::string>{"--rxq", "0,1"});
  for (int i = 0; i < 2; i++) ASSERT_TRUE(owner->wait_for("claimed", 10000)) << owner->all();

  Generator g(ifname);
  g.start(64, 5);  // ~5 000 frames/s: the two cores are shared by 4 processes
  std::vector<double> exit_ms, takeover_ms;  // kill -> dead, dead -> first frame of the new owner
  std::vector<std::string> takeover_steps;
  const int kills = 20;
  for (int k = 0; k < kills; k++) {
    auto standby = std::make_unique<Peer>(std::vector<std::string>{"--rxq", "0,1", "--standby"});
    ASSERT_TRUE(standby->wait_for("standby", 10000)) << standby->all();
    ASSERT_TRUE(standby->wait_for("standby", 2000)) << standby->all();  // both queues
    usleep(50000);
    const int64_t t_kill = now_ns();  // (a zombie's claim is dead: process_start in rtap_mp.cpp)
    owner->kill9();
    owner->reap();
    const int64_t t_reaped = now_ns();
    std::string first;
    ASSERT_TRUE(standby->wait_for("first", 5000, &first)) << standby->all() << "kill " << k;
    long long t = 0;
    ASSERT_EQ(sscanf(first.c_str(), "first port=%*s q=%*d t=%lld", &t), 1) << first;
    // Two parts: the kernel's exit of the killed owner (its claim holds until it is a zombie:
    // up to 2 s seen under stress-ng on 2 cores, as its io_uring is torn down), then ours.
    exit_ms.push_back(static_cast<double>(t_reaped - t_kill) / 1e6);
    takeover_ms.push_back(std::max(0.0, static_cast<double>(t - t_reaped) / 1e6));
    std::ostringstream steps;
    steps << "kill " << k << ": dead after " << exit_ms.back() << " ms, first frame "
          << takeover_ms.back() << " ms later;";
    for (const std::string& l : standby->lines())
      if (long long tc = 0, call = 0, since = 0;
          sscanf(l.c_str(), "claimed port=%*s q=%*d t=%lld call_us=%lld since_refused_us=%lld", &tc,
                 &call, &since) == 3)
        steps << " claimed at " << static_cast<double>(tc - t_reaped) / 1e6 << " ms (call " << call
              << " us, " << since << " us after a refusal);";
    takeover_steps.push_back(steps.str());
    owner = std::move(standby);
  }
  const uint64_t sent = g.stop();
  usleep(300000);
  ASSERT_EQ(other.stop(), 0) << other.all();
  ASSERT_EQ(owner->stop(), 0);
  auto f = other.finals();
  for (int q : {2, 3}) {
    EXPECT_GT(f[Key("net_rtap_mp0", q)].first, 0u) << "queue " << q;
    EXPECT_EQ(f[Key("net_rtap_mp0", q)].second, 0u) << "queue " << q << ": frames lost";
  }
  auto median_worst = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return std::make_pair(v[v.size() / 2], v.back());
  };
  const auto [median, worst] = median_worst(takeover_ms);
  const auto [exit_median, exit_worst] = median_worst(exit_ms);
  printf(
      "[ rtap_mp  ] %d kills under %llu frames: the killed owner was dead (a zombie) after median "
      "%.1f ms, worst %.1f ms; then the takeover (first frame in the new owner) took median %.1f "
      "ms, worst %.1f ms\n",
      kills, static_cast<unsigned long long>(sent), exit_median, exit_worst, median, worst);
  RecordProperty("owner_exit_worst_ms", std::to_string(exit_worst));
  RecordProperty("takeover_median_ms", std::to_string(median));
  RecordProperty("takeover_worst_ms", std::to_string(worst));
  EXPECT_LT(worst, 200.0) << ::testing::PrintToString(takeover_steps);
}

TEST_F(RtapMp, HundredAttachDetachCyclesLeaveNoFdOrMbufBehind) {
  start(2);
  Generator g(ifname);
  // One warm-up cycle: the primary's first rte_mp request opens lazily made sockets.
  {
    Peer p({"--rxq", "all", "--exit-after-ms", "0"});
    ASSERT_EQ(p.reap(), 0) << p.all();
  }
  const int fds = count_fds();
  const unsigned avail = rte_mempool_avail_count(mp);
  const int cycles = getenv("RTAP_MP_CYCLES") ? atoi(getenv("RTAP_MP_CYCLES")) : 100;
  for (int i = 0; i < cycles; i++) {
    Peer p({"--rxq", "all", "--exit-after-ms", "30"});
    ASSERT_TRUE(p.wait_for("claimed", 10000)) << p.all() << log_text();
    g.send(20, 8, 0);  // some frames land in the secondary's buffers
    ASSERT_EQ(p.reap(), 0) << "cycle " << i << "\n" << p.all();
  }
  // Frames still queued in the kernel are not mbufs; frames in flight were freed by each exit.
  EXPECT_EQ(count_fds(), fds);
  EXPECT_EQ(rte_mempool_avail_count(mp), avail);
  pid_t owner = 1;
  ASSERT_EQ(rte_pmd_rtap_queue_owner(id(), 0, RTE_PMD_RTAP_RX, &owner), 0);
  EXPECT_EQ(owner, 0);
}

TEST_F(RtapMp, SecondaryWithoutPrimaryFailsClearly) {
  std::string cmd = std::string(RTAP_MP_PEER) + " --proc-type=secondary --file-prefix=rmpnone" +
                    std::to_string(getpid()) + " --no-pci --no-telemetry -l 0 -- --rxq all 2>&1";
  std::string o = out(cmd);
  EXPECT_NE(o.find("EAL init failed"), std::string::npos) << o;
  remove_eal_files("rmpnone" + std::to_string(getpid()));
}

}  // namespace

VSTEST_EAL_MAIN("--base-virtaddr=0x300000000000");
