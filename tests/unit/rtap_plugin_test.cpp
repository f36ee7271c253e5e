// librte_net_rtap.so as a plugin: a DPDK application that does not link the driver loads it
// with EAL -d and gets a working port from --vdev. It knows nothing of rte_pmd_rtap.h (it could
// not call it: the driver is not linked), so it never claims a queue nor calls the housekeeping:
// its first tx burst takes the free tx queue itself, and the driver's own housekeeping alarm
// claims the rx queue its bursts asked for (docs/rtap.md, "Fast bursts, slow housekeeping").
#include <gtest/gtest.h>

#include <net/if.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <cstring>
#include <string>
#include <vector>

#include "eal_env.hpp"
#include "frames.hpp"
#include "netns.hpp"
#include "rtap_port.hpp"

namespace {

uint64_t xstat(uint16_t port, const char* name) {
  uint64_t id = 0, v = 0;
  if (rte_eth_xstats_get_id_by_name(port, name, &id) != 0) return UINT64_MAX;
  if (rte_eth_xstats_get_by_id(port, &id, &v, 1) != 1) return UINT64_MAX;
  return v;
}

}  // namespace

TEST(RtapPlugin, LoadedWithDashDProbesTheVdev) {
  ASSERT_TRUE(vstest::EalEnvironment::ready());
  uint16_t port;
  ASSERT_EQ(rte_eth_dev_get_port_by_name("net_rtap_plugin0", &port), 0) << vstest::log_text();
  rte_eth_dev_info info;
  ASSERT_EQ(rte_eth_dev_info_get(port, &info), 0);
  EXPECT_STREQ(info.driver_name, "net_rtap");
  EXPECT_EQ(info.max_rx_queues, 2);

  // Frames both ways with nothing but ethdev calls.
  rte_mempool* mp = rte_pktmbuf_pool_create("plugin_mp", 2048, 0, 0, 2048 + 128, SOCKET_ID_ANY);
  ASSERT_NE(mp, nullptr);
  rte_eth_conf conf{};
  ASSERT_EQ(rte_eth_dev_configure(port, 1, 1, &conf), 0);
  ASSERT_EQ(rte_eth_rx_queue_setup(port, 0, 256, SOCKET_ID_ANY, nullptr, mp), 0);
  ASSERT_EQ(rte_eth_tx_queue_setup(port, 0, 256, SOCKET_ID_ANY, nullptr), 0);
  ASSERT_EQ(rte_eth_dev_start(port), 0);
  char ifname[IF_NAMESIZE] = {};
  ASSERT_NE(if_indextoname(info.if_index, ifname), nullptr);
  vstest::PacketSocket ps(ifname);
  ASSERT_TRUE(ps.ok());

  // tx: accepted by the very first burst after start, and the kernel gets it.
  vstest::L4Spec s;
  s.dport = 4242;
  const vstest::Bytes out = vstest::udp4(s, 300, 7);
  rte_mbuf* m = vstest::mbuf_of(mp, out);
  ASSERT_EQ(rte_eth_tx_burst(port, 0, &m, 1), 1);
  bool seen = false;
  uint8_t buf[2048];
  for (int i = 0; i < 50 && !seen; i++) {
    int n = ps.recv(buf, sizeof(buf), 100);
    seen = n == static_cast<int>(out.size()) && memcmp(buf, out.data(), out.size()) == 0;
  }
  EXPECT_TRUE(seen) << "the frame sent by the first tx burst did not reach the kernel";

  // rx: the first polls return 0 (not ready, counted) until the alarm claimed the queue and
  // posted its buffers; then the frame the kernel sent comes in.
  rte_mbuf* b[32];
  EXPECT_EQ(rte_eth_rx_burst(port, 0, b, 32), 0);
  EXPECT_GE(xstat(port, "rx_q0_not_ready"), 1u);
  s.dport = 4343;
  const vstest::Bytes in = vstest::udp4(s, 200, 9);
  ASSERT_EQ(ps.send(in.data(), in.size()), static_cast<int>(in.size()));
  bool got = false;
  const uint64_t end = rte_get_timer_cycles() + 2 * rte_get_timer_hz();
  while (!got && rte_get_timer_cycles() < end) {
    uint16_t k = rte_eth_rx_burst(port, 0, b, 32);
    for (uint16_t i = 0; i < k; i++) {
      got = got || vstest::bytes_of(b[i]) == in;
      rte_pktmbuf_free(b[i]);
    }
    if (k == 0) rte_delay_us_sleep(200);
  }
  EXPECT_TRUE(got) << "the frame the kernel sent never came out of an rx burst";
  EXPECT_EQ(xstat(port, "tx_q0_not_ready"), 0u);
  EXPECT_EQ(rte_eth_dev_stop(port), 0);
  EXPECT_EQ(rte_eth_dev_close(port), 0);
  rte_mempool_free(mp);
}

VSTEST_EAL_MAIN("-d", RTAP_PLUGIN_PATH, "--vdev=net_rtap_plugin0,queues=2");
