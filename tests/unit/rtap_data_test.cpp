// net_rtap data path: frames in and out through AF_PACKET on the kernel side, multi-segment
// rx/tx, stats and imissed, xstats, stop/start without queue set-up, multi-queue, rx and
// link-state interrupts, and a sustained tx run that proves tx completions are reaped.
#include <gtest/gtest.h>

#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_epoll.h>
#include <rte_ethdev.h>
#include <rte_interrupts.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "eal_env.hpp"
#include "frames.hpp"
#include "netns.hpp"
#include "rtap_port.hpp"
#include "rte_pmd_rtap.h"

using namespace vstest;

namespace {

constexpr uint16_t kPort = 2000;

bool ours(const uint8_t* f, size_t len) {
  return is_ipv4(f, len) && ip_proto(f) == 17 && len >= 42 && f[36] == (kPort >> 8) &&
         f[37] == (kPort & 0xff);
}

class RtapData : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(EalEnvironment::ready());
    ifname = unique_name("rtd");
    mp = make_pool(8192);
    ASSERT_NE(mp, nullptr);
    avail0 = rte_mempool_avail_count(mp);
    clear_log();
  }
  void TearDown() override {
    port.reset();
    run("ip link del " + ifname + " 2>/dev/null");
    if (mp != nullptr) {
      EXPECT_EQ(rte_mempool_avail_count(mp), avail0) << "mbufs leaked";
      rte_mempool_free(mp);
    }
  }
  // Creates the port, keeps the kernel quiet on it (no IPv6 chatter) and starts it.
  void start(PortConf c, const std::string& extra = "") {
    port = std::make_unique<RtapPort>("net_rtap_t0", "iface=" + ifname + extra);
    ASSERT_EQ(port->rc(), 0) << log_text();
    run("sysctl -qw net.ipv6.conf." + ifname + ".disable_ipv6=1");
    if (c.mp == nullptr) c.mp = mp;
    conf = c;
    ASSERT_EQ(port->start(c), 0) << log_text();
  }
  // Sends n frames from the kernel side into the TAP; returns them.
  std::vector<Bytes> inject(PacketSocket& ps, int n, size_t payload, uint16_t sport_base = 1000) {
    std::vector<Bytes> sent;
    for (int i = 0; i < n; i++) {
      L4Spec s;
      s.sport = static_cast<uint16_t>(sport_base + i);
      s.dport = kPort;
      Bytes f = udp4(s, payload, static_cast<uint8_t>(i));
      // Right after link-up the kernel may still be activating the qdisc: retry briefly.
      int rc = -1;
      for (int t = 0; t < 100 && (rc = ps.send(f.data(), f.size())) < 0 && errno != ENOBUFS; t++)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (rc < 0 && errno != ENOBUFS) ADD_FAILURE() << "send: " << strerror(errno);
      sent.push_back(std::move(f));
    }
    return sent;
  }
  // Receives our frames from every queue until n arrived or the timeout.
  std::vector<rte_mbuf*> collect(size_t n, int timeout_ms,
                                 std::map<uint16_t, int>* per_q = nullptr) {
    std::vector<rte_mbuf*> got;
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (got.size() < n && std::chrono::steady_clock::now() < end) {
      for (uint16_t q = 0; q < conf.queues; q++) {
        rte_mbuf* b[64];
        uint16_t k = rte_eth_rx_burst(port->id(), q, b, 64);
        for (uint16_t i = 0; i < k; i++) {
          Bytes f = bytes_of(b[i]);
          if (ours(f.data(), f.size())) {
            got.push_back(b[i]);
            if (per_q) (*per_q)[q]++;
          } else {
            rte_pktmbuf_free(b[i]);
          }
        }
      }
      rte_delay_us_sleep(50);
    }
    return got;
  }
  // Frames our port sent, as the kernel side sees them.
  std::vector<Bytes> capture(PacketSocket& ps, size_t n, int timeout_ms) {
    std::vector<Bytes> got;
    Bytes buf(70000);
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (got.size() < n && std::chrono::steady_clock::now() < end) {
      int k = ps.recv(buf.data(), buf.size(), 50);
      if (k > 0 && ours(buf.data(), static_cast<size_t>(k)))
        got.emplace_back(buf.begin(), buf.begin() + k);
    }
    return got;
  }
  // n UDP frames of 60 B payload to kPort, source ports from sport up, as mbufs of mp.
  std::vector<rte_mbuf*> udp_mbufs(int n, uint16_t sport = 1000) {
    std::vector<rte_mbuf*> v;
    for (int i = 0; i < n; i++) {
      L4Spec s;
      s.dport = kPort;
      s.sport = static_cast<uint16_t>(sport + i);
      v.push_back(mbuf_of(mp, udp4(s, 60)));
    }
    return v;
  }
  uint16_t send_all(uint16_t q, std::vector<rte_mbuf*> v) {
    uint16_t sent = 0;
    for (int tries = 0; sent < v.size() && tries < 1000; tries++)
      sent +=
          rte_eth_tx_burst(port->id(), q, v.data() + sent, static_cast<uint16_t>(v.size() - sent));
    return sent;
  }
  uint64_t xstat(const std::string& name) {
    uint64_t id, v = UINT64_MAX;
    if (rte_eth_xstats_get_id_by_name(port->id(), name.c_str(), &id) != 0) return UINT64_MAX;
    rte_eth_xstats_get_by_id(port->id(), &id, &v, 1);
    return v;
  }

  std::string ifname;
  rte_mempool* mp = nullptr;
  unsigned avail0 = 0;
  PortConf conf;
  std::unique_ptr<RtapPort> port;
};

TEST_F(RtapData, RxInjectViaAfPacket) {
  start(PortConf{});
  PacketSocket ps(ifname);
  ASSERT_TRUE(ps.ok());
  rte_eth_stats_reset(port->id());
  auto sent = inject(ps, 100, 200);
  auto got = collect(100, 2000);
  ASSERT_EQ(got.size(), 100u);
  uint64_t bytes = 0;
  for (size_t i = 0; i < got.size(); i++) {
    Bytes f = bytes_of(got[i]);
    EXPECT_EQ(f, sent[i]) << "frame " << i;
    EXPECT_EQ(got[i]->port, port->id());
    bytes += f.size();
  }
  free_all(got);
  rte_eth_stats st;
  ASSERT_EQ(rte_eth_stats_get(port->id(), &st), 0);
  EXPECT_GE(st.ipackets, 100u);
  EXPECT_GE(st.ibytes, bytes);
  EXPECT_EQ(st.ierrors, 0u);
  EXPECT_EQ(st.q_ipackets[0], st.ipackets);
}

// net_rtap takes a buffer only for a read it is about to post (docs/rtap.md, "Rx buffers"): with
// the pool empty, frames wait in the kernel's queue, counted as no_mbuf tries but not dropped,
// and arrive whole and in order once buffers are back.
TEST_F(RtapData, AnEmptyPoolLeavesFramesInTheKernelUntilBuffersReturn) {
  start(PortConf{});
  PacketSocket ps(ifname);
  ASSERT_TRUE(ps.ok());
  inject(ps, 1, 100);
  auto first = collect(1, 2000);  // the queue is claimed and has read once
  ASSERT_EQ(first.size(), 1u);
  free_all(first);
  ASSERT_EQ(rte_mempool_avail_count(mp), avail0);
  std::vector<rte_mbuf*> held;
  for (rte_mbuf* m; (m = rte_pktmbuf_alloc(mp)) != nullptr;) held.push_back(m);
  ASSERT_EQ(rte_mempool_avail_count(mp), 0u);
  rte_eth_stats_reset(port->id());
  rte_eth_xstats_reset(port->id());
  auto sent = inject(ps, 50, 200);
  rte_mbuf* none[32];
  for (int i = 0; i < 20; i++) {
    EXPECT_EQ(rte_eth_rx_burst(port->id(), 0, none, 32), 0);
    usleep(1000);
  }
  EXPECT_GT(xstat("rx_q0_no_mbuf"), 0u);
  rte_eth_stats st;
  ASSERT_EQ(rte_eth_stats_get(port->id(), &st), 0);
  EXPECT_EQ(st.ipackets, 0u);
  EXPECT_EQ(st.ierrors, 0u);
  EXPECT_EQ(st.imissed, 0u);
  EXPECT_GT(st.rx_nombuf, 0u);
  free_all(held);
  auto got = collect(50, 2000);
  ASSERT_EQ(got.size(), 50u);
  for (size_t i = 0; i < got.size(); i++) EXPECT_EQ(bytes_of(got[i]), sent[i]) << "frame " << i;
  free_all(got);
}

TEST_F(RtapData, TxCaptureViaAfPacket) {
  start(PortConf{});
  PacketSocket ps(ifname);
  ASSERT_TRUE(ps.ok());
  std::vector<rte_mbuf*> v;
  std::vector<Bytes> frames;
  for (int i = 0; i < 100; i++) {
    L4Spec s;
    s.dport = kPort;
    s.sport = static_cast<uint16_t>(3000 + i);
    frames.push_back(udp4(s, 100 + i, static_cast<uint8_t>(i)));
    v.push_back(mbuf_of(mp, frames.back()));
  }
  ASSERT_EQ(send_all(0, v), 100);
  // Completions were reaped inside the bursts already: nothing is left for an explicit clean-up.
  EXPECT_EQ(rte_eth_tx_done_cleanup(port->id(), 0, 0), 0);
  // No rx buffer is posted: this process never polled the rx queue, so it never claimed it.
  EXPECT_EQ(rte_mempool_avail_count(mp), avail0);
  auto got = capture(ps, 100, 2000);
  ASSERT_EQ(got.size(), 100u);
  for (size_t i = 0; i < got.size(); i++) EXPECT_EQ(got[i], frames[i]);
  rte_eth_stats st;
  ASSERT_EQ(rte_eth_stats_get(port->id(), &st), 0);
  EXPECT_EQ(st.opackets, 100u);
  uint64_t bytes = 0;
  for (auto& f : frames) bytes += f.size();
  EXPECT_EQ(st.obytes, bytes);
  EXPECT_EQ(st.oerrors, 0u);
  ASSERT_EQ(rte_eth_stats_reset(port->id()), 0);
  ASSERT_EQ(rte_eth_stats_get(port->id(), &st), 0);
  EXPECT_EQ(st.opackets, 0u);
  EXPECT_EQ(st.obytes, 0u);
}

TEST_F(RtapData, RxMultiSegmentIntoSmallMbufs) {
  rte_mempool* small = make_pool(4096, RTE_PKTMBUF_HEADROOM + 512);
  ASSERT_NE(small, nullptr);
  {
    PortConf c;
    c.mp = small;
    c.rx_offloads = RTE_ETH_RX_OFFLOAD_SCATTER;
    start(c);
    PacketSocket ps(ifname);
    auto sent = inject(ps, 20, 1400);
    auto got = collect(20, 2000);
    ASSERT_EQ(got.size(), 20u);
    for (size_t i = 0; i < got.size(); i++) {
      EXPECT_EQ(got[i]->nb_segs, 3) << "1442-byte frame in 512-byte segments";
      EXPECT_EQ(bytes_of(got[i]), sent[i]);
    }
    free_all(got);
    EXPECT_GE(xstat("rx_q0_multiseg"), 20u);
    port.reset();
  }
  EXPECT_EQ(rte_mempool_in_use_count(small), 0u);
  rte_mempool_free(small);
}

TEST_F(RtapData, TxMultiSegment) {
  start(PortConf{});
  PacketSocket ps(ifname);
  L4Spec s;
  s.dport = kPort;
  Bytes f = udp4(s, 1400, 7);
  rte_mbuf* m = mbuf_of(mp, f, 500);
  ASSERT_EQ(m->nb_segs, 3);
  ASSERT_EQ(send_all(0, {m}), 1);
  auto got = capture(ps, 1, 2000);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], f);
  EXPECT_EQ(xstat("tx_q0_multiseg"), 1u);
}

TEST_F(RtapData, ImissedCountsWhatTheKernelDroppedForUs) {
  PortConf c;
  c.nb_desc = 32;
  start(c);
  PacketSocket ps(ifname);
  rte_eth_stats_reset(port->id());
  // Nobody polls: 32 reads are posted, the TAP queue holds tx_queue_len more, the rest is dropped
  // by the kernel as the TAP's tx_dropped.
  inject(ps, 3000, 60);
  rte_eth_stats st;
  ASSERT_EQ(rte_eth_stats_get(port->id(), &st), 0);
  EXPECT_GT(st.imissed, 0u) << "upstream defect 2: imissed must come from tx_dropped";
  EXPECT_GE(st.imissed, 1000u);
  auto got = collect(3000, 1000);
  EXPECT_GE(got.size() + st.imissed, 3000u);
  free_all(got);
  ASSERT_EQ(rte_eth_stats_reset(port->id()), 0);
  ASSERT_EQ(rte_eth_stats_get(port->id(), &st), 0);
  EXPECT_EQ(st.imissed, 0u);
  EXPECT_EQ(st.ipackets, 0u);
}

TEST_F(RtapData, XstatsNamesValuesAndReset) {
  start(PortConf{});
  int n = rte_eth_xstats_get_names(port->id(), nullptr, 0);
  ASSERT_GT(n, 0);
  std::vector<rte_eth_xstat_name> names(n);
  ASSERT_EQ(rte_eth_xstats_get_names(port->id(), names.data(), n), n);
  std::set<std::string> all;
  for (auto& x : names) all.insert(x.name);
  for (const char* want : {"rx_q0_no_mbuf", "rx_q0_truncated", "rx_q0_size_64_packets",
                           "rx_q0_size_1519_to_max_packets", "tx_q0_ring_full", "tx_q0_tso_packets",
                           "tx_q0_size_65_to_127_packets"})
    EXPECT_TRUE(all.count(want)) << want;
  // Exact tx size buckets: 3 frames of 64, 2 of 100, 1 of 1000 bytes.
  std::vector<rte_mbuf*> v;
  for (size_t len : {64, 64, 64, 100, 100, 1000}) {
    L4Spec s;
    s.dport = kPort;
    v.push_back(mbuf_of(mp, udp4(s, len - 42)));
  }
  // Destination kinds: 4 unicast, 1 multicast, 1 broadcast.
  rte_pktmbuf_mtod(v[4], uint8_t*)[0] = 0x01;
  memset(rte_pktmbuf_mtod(v[5], uint8_t*), 0xff, 6);
  ASSERT_EQ(send_all(0, v), 6);
  EXPECT_EQ(xstat("tx_q0_unicast"), 4u);
  EXPECT_EQ(xstat("tx_q0_multicast"), 1u);
  EXPECT_EQ(xstat("tx_q0_broadcast"), 1u);
  EXPECT_EQ(xstat("tx_q0_size_64_packets"), 3u);
  EXPECT_EQ(xstat("tx_q0_size_65_to_127_packets"), 2u);
  EXPECT_EQ(xstat("tx_q0_size_512_to_1023_packets"), 1u);
  PacketSocket ps(ifname);
  inject(ps, 5, 300);
  auto got = collect(5, 2000);
  EXPECT_EQ(got.size(), 5u);
  free_all(got);
  EXPECT_GE(xstat("rx_q0_size_256_to_511_packets"), 5u);
  EXPECT_GE(xstat("rx_q0_unicast"), 5u);
  ASSERT_EQ(rte_eth_xstats_reset(port->id()), 0);
  EXPECT_EQ(xstat("tx_q0_size_64_packets"), 0u);
  EXPECT_EQ(xstat("rx_q0_size_256_to_511_packets"), 0u);
}

TEST_F(RtapData, StopStartWithoutQueueSetupKeepsWorking) {
  start(PortConf{});
  PacketSocket ps(ifname);
  for (int round = 0; round < 3; round++) {
    auto sent = inject(ps, 10, 100, static_cast<uint16_t>(100 * round));
    auto got = collect(10, 2000);
    EXPECT_EQ(got.size(), 10u) << "round " << round;
    free_all(got);
    std::vector<rte_mbuf*> v;
    for (int i = 0; i < 10; i++) {
      L4Spec s;
      s.dport = kPort;
      v.push_back(mbuf_of(mp, udp4(s, 80)));
    }
    EXPECT_EQ(send_all(0, v), 10);
    EXPECT_EQ(capture(ps, 10, 2000).size(), 10u) << "round " << round;
    ASSERT_EQ(rte_eth_dev_stop(port->id()), 0);
    ASSERT_EQ(rte_eth_dev_start(port->id()), 0)
        << "upstream defect 9: start after stop, no queue set-up";
  }
}

TEST_F(RtapData, MultiqueueSpreadsAndEveryQueueTransmits) {
  PortConf c;
  c.queues = 4;
  c.nb_desc = 128;
  start(c, ",queues=4");
  PacketSocket ps(ifname);
  std::map<uint16_t, int> per_q;
  inject(ps, 256, 64, 5000);
  auto got = collect(256, 3000, &per_q);
  EXPECT_EQ(got.size(), 256u);
  free_all(got);
  EXPECT_GE(per_q.size(), 2u) << "the kernel spreads flows over the queue fds";
  for (uint16_t q = 0; q < 4; q++) {
    std::vector<rte_mbuf*> v;
    for (int i = 0; i < 10; i++) {
      L4Spec s;
      s.dport = kPort;
      v.push_back(mbuf_of(mp, udp4(s, 50)));
    }
    EXPECT_EQ(send_all(q, v), 10);
  }
  EXPECT_EQ(capture(ps, 40, 3000).size(), 40u);
  rte_eth_stats st;
  ASSERT_EQ(rte_eth_stats_get(port->id(), &st), 0);
  for (int q = 0; q < 4; q++) EXPECT_EQ(st.q_opackets[q], 10u);
}

// Tx queues share their thread's io_uring (docs/rtap.md, "Tx: one io_uring per thread"): bursts
// on several queues from one thread, a burst longer than that ring (256 entries), and a queue
// moving to another thread each get every frame out, counted on its own queue.
TEST_F(RtapData, TxQueuesShareTheThreadsRingAndMoveBetweenThreads) {
  PortConf c;
  c.queues = 2;
  c.nb_desc = 512;
  start(c, ",queues=2");
  PacketSocket ps(ifname);
  ASSERT_TRUE(ps.ok());
  // One thread, both queues, interleaved; then one burst of 400 on queue 0.
  for (int round = 0; round < 5; round++) {
    EXPECT_EQ(send_all(0, udp_mbufs(20, 1000)), 20);
    EXPECT_EQ(send_all(1, udp_mbufs(30, 2000)), 30);
  }
  std::vector<rte_mbuf*> big = udp_mbufs(400, 3000);
  EXPECT_EQ(rte_eth_tx_burst(port->id(), 0, big.data(), 400), 400)
      << "a burst longer than the ring";
  // Queue 1 from another thread (its writes were all reaped: it may move), then back here.
  std::thread t([&] { EXPECT_EQ(send_all(1, udp_mbufs(50, 4000)), 50); });
  t.join();
  EXPECT_EQ(send_all(1, udp_mbufs(10, 5000)), 10);
  EXPECT_EQ(capture(ps, 710, 3000).size(), 710u);
  rte_eth_stats st;
  ASSERT_EQ(rte_eth_stats_get(port->id(), &st), 0);
  EXPECT_EQ(st.q_opackets[0], 500u);
  EXPECT_EQ(st.q_opackets[1], 210u);
  EXPECT_EQ(st.oerrors, 0u);
  EXPECT_EQ(xstat("tx_q0_ring_full"), 0u);
}

// rte_pmd_rtap_tx_defer(): a thread's bursts on several queues are written by one flush, and
// not before it; with deferral off again, each burst writes at once.
TEST_F(RtapData, DeferredTxIsWrittenAtTheFlush) {
  PortConf c;
  c.queues = 2;
  start(c, ",queues=2");
  PacketSocket ps(ifname);
  ASSERT_TRUE(ps.ok());
  struct DeferOff {  // the thread's later tests must not inherit deferral, even after a failure
    ~DeferOff() { rte_pmd_rtap_tx_defer(0); }
  } defer_off;
  rte_pmd_rtap_tx_defer(1);
  EXPECT_EQ(send_all(0, udp_mbufs(20)), 20);
  EXPECT_EQ(send_all(1, udp_mbufs(30)), 30);
  EXPECT_EQ(capture(ps, 1, 300).size(), 0u) << "nothing is written before the flush";
  EXPECT_EQ(rte_pmd_rtap_tx_flush(), 50);
  EXPECT_EQ(rte_pmd_rtap_tx_flush(), 0) << "nothing left";
  EXPECT_EQ(capture(ps, 50, 3000).size(), 50u);
  rte_pmd_rtap_tx_defer(0);
  EXPECT_EQ(send_all(0, udp_mbufs(10)), 10);
  EXPECT_EQ(capture(ps, 10, 3000).size(), 10u) << "written in the burst again";
  rte_eth_stats st;
  ASSERT_EQ(rte_eth_stats_get(port->id(), &st), 0);
  EXPECT_EQ(st.q_opackets[0], 30u);
  EXPECT_EQ(st.q_opackets[1], 30u);
}

TEST_F(RtapData, RxInterruptWakesTheWaiter) {
  PortConf c;
  c.rxq_intr = true;
  start(c);
  PacketSocket ps(ifname);
  ASSERT_EQ(
      rte_eth_dev_rx_intr_ctl_q(port->id(), 0, RTE_EPOLL_PER_THREAD, RTE_INTR_EVENT_ADD, nullptr),
      0)
      << log_text();
  // Drain whatever the kernel sent at link-up, then arm.
  auto junk = port->rx(0, 1000, 100);
  free_all(junk);
  ASSERT_EQ(rte_eth_dev_rx_intr_enable(port->id(), 0), 0);
  rte_epoll_event ev[1];
  EXPECT_EQ(rte_epoll_wait(RTE_EPOLL_PER_THREAD, ev, 1, 100), 0) << "nothing arrived: no wake-up";
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    L4Spec s;
    s.dport = kPort;
    Bytes f = udp4(s, 64);
    ps.send(f.data(), f.size());
  });
  auto t0 = std::chrono::steady_clock::now();
  int n = rte_epoll_wait(RTE_EPOLL_PER_THREAD, ev, 1, 2000);
  auto waited = std::chrono::steady_clock::now() - t0;
  t.join();
  EXPECT_EQ(n, 1);
  EXPECT_LT(waited, std::chrono::milliseconds(1500));
  rte_eth_dev_rx_intr_disable(port->id(), 0);
  auto got = collect(1, 1000);
  EXPECT_EQ(got.size(), 1u);
  free_all(got);
  rte_eth_dev_rx_intr_ctl_q(port->id(), 0, RTE_EPOLL_PER_THREAD, RTE_INTR_EVENT_DEL, nullptr);
}

// Moving the netdev into another namespace after probe (a VM's namespace made later): the queue
// fds do not care, so frames keep flowing; control calls fail cleanly (use netns= instead).
TEST_F(RtapData, DataPathSurvivesAMoveIntoANamespace) {
  start(PortConf{});
  NetnsVm vm(unique_name("rtdns"));
  vm.adopt(ifname);
  vm.configure(ifname, 1400, "10.7.0.1/24");
  vm.sh("sysctl -qw net.ipv6.conf." + ifname + ".disable_ipv6=1");
  PacketSocket ps(ifname, &vm);
  ASSERT_TRUE(ps.ok());
  auto sent = inject(ps, 20, 100);
  auto got = collect(20, 2000);
  ASSERT_EQ(got.size(), 20u);
  for (size_t i = 0; i < got.size(); i++) EXPECT_EQ(bytes_of(got[i]), sent[i]);
  free_all(got);
  std::vector<rte_mbuf*> v;
  for (int i = 0; i < 5; i++) {
    L4Spec s;
    s.dport = kPort;
    v.push_back(mbuf_of(mp, udp4(s, 90)));
  }
  EXPECT_EQ(send_all(0, v), 5);
  EXPECT_EQ(capture(ps, 5, 2000).size(), 5u);
  EXPECT_EQ(vm.out("cat /sys/class/net/" + ifname + "/mtu"), "1400");
  EXPECT_NE(rte_eth_dev_set_mtu(port->id(), 1300), 0) << "the ifindex is gone from our namespace";
  // The namespace goes away with the TAP in it before the port closes: close must still be clean.
}

std::atomic<int> g_lsc{0};
int on_lsc(uint16_t, rte_eth_event_type, void*, void*) {
  g_lsc++;
  return 0;
}

TEST_F(RtapData, LinkStateChangeInterrupt) {
  PortConf c;
  c.lsc = true;
  start(c);
  g_lsc = 0;
  ASSERT_EQ(rte_eth_dev_callback_register(port->id(), RTE_ETH_EVENT_INTR_LSC, on_lsc, nullptr), 0);
  // Waits until the callback ran at least n times and ethdev reports the expected state.
  auto wait_for = [&](int n, int status) {
    rte_eth_link l{};
    for (int i = 0; i < 200; i++) {
      rte_eth_link_get_nowait(port->id(), &l);
      if (g_lsc >= n && l.link_status == status) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  run("ip link set " + ifname + " down");
  EXPECT_TRUE(wait_for(1, RTE_ETH_LINK_DOWN)) << g_lsc;
  run("ip link set " + ifname + " up");
  EXPECT_TRUE(wait_for(2, RTE_ETH_LINK_UP)) << g_lsc;
  rte_eth_dev_callback_unregister(port->id(), RTE_ETH_EVENT_INTR_LSC, on_lsc, nullptr);
}

// Upstream defect 1: tx completions must be reaped on every burst, or a pool drains after a few
// thousand packets. The pool here has 8192 mbufs; we send n frames and want every mbuf back.
void sustained_tx(RtapData* t, rte_mempool* mp, uint16_t port, uint64_t n) {
  L4Spec s;
  s.dport = kPort;
  Bytes f = udp4(s, 18);  // 60-byte frames
  uint64_t sent = 0;
  auto t0 = std::chrono::steady_clock::now();
  rte_mbuf* b[64];
  while (sent < n) {
    unsigned k = static_cast<unsigned>(std::min<uint64_t>(64, n - sent));
    ASSERT_EQ(rte_pktmbuf_alloc_bulk(mp, b, k), 0) << "pool drained after " << sent << " frames";
    for (unsigned i = 0; i < k; i++) {
      char* p = rte_pktmbuf_append(b[i], static_cast<uint16_t>(f.size()));
      memcpy(p, f.data(), f.size());
    }
    unsigned done = 0;
    while (done < k) done += rte_eth_tx_burst(port, 0, b + done, static_cast<uint16_t>(k - done));
    sent += k;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rte_eth_stats st;
  ASSERT_EQ(rte_eth_stats_get(port, &st), 0);
  EXPECT_EQ(st.opackets, n);
  EXPECT_EQ(st.oerrors, 0u);
  printf("[ rtap     ] %lu frames in %.2f s: %.3f Mpps\n", static_cast<unsigned long>(n), secs,
         n / secs / 1e6);
  (void)t;
}

TEST_F(RtapData, OneMillionFramesThroughOneTxQueue) {
  start(PortConf{});
  rte_eth_stats_reset(port->id());
  sustained_tx(this, mp, port->id(), 1000000);
  // No rx buffer is posted: this process never polled the rx queue, so it never claimed it.
  EXPECT_EQ(rte_mempool_avail_count(mp), avail0);
}

}  // namespace

VSTEST_EAL_MAIN();
