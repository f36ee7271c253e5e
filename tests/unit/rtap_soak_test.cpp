// net_rtap soak: 10 million frames through one tx queue, then every mbuf back in its pool
// (upstream defect 1). Labelled slow; the 1 M variant runs in rtap_data_test.
#include <gtest/gtest.h>

#include <rte_ethdev.h>

#include <chrono>
#include <cstring>

#include "eal_env.hpp"
#include "frames.hpp"
#include "rtap_port.hpp"

using namespace vstest;

TEST(RtapSoak, TenMillionFramesThroughOneTxQueue) {
  ASSERT_TRUE(EalEnvironment::ready());
  std::string ifname = unique_name("rts");
  rte_mempool* mp = make_pool(4096);
  ASSERT_NE(mp, nullptr);
  const unsigned avail0 = rte_mempool_avail_count(mp);
  {
    RtapPort p("net_rtap_s0", "iface=" + ifname);
    ASSERT_EQ(p.rc(), 0);
    PortConf c;
    c.mp = mp;
    c.nb_desc = 256;
    ASSERT_EQ(p.start(c), 0);
    run("sysctl -qw net.ipv6.conf." + ifname + ".disable_ipv6=1");
    rte_eth_stats_reset(p.id());
    Bytes f = udp4(L4Spec{}, 18);
    constexpr uint64_t kN = 10000000;
    uint64_t sent = 0;
    rte_mbuf* b[64];
    auto t0 = std::chrono::steady_clock::now();
    while (sent < kN) {
      ASSERT_EQ(rte_pktmbuf_alloc_bulk(mp, b, 64), 0) << "pool drained after " << sent << " frames";
      for (auto* m : b)
        memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
      unsigned done = 0;
      while (done < 64)
        done += rte_eth_tx_burst(p.id(), 0, b + done, static_cast<uint16_t>(64 - done));
      sent += 64;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rte_eth_stats st;
    ASSERT_EQ(rte_eth_stats_get(p.id(), &st), 0);
    EXPECT_EQ(st.opackets, kN);
    EXPECT_EQ(st.oerrors, 0u);
    printf("[ rtap     ] %lu frames in %.2f s: %.3f Mpps\n", static_cast<unsigned long>(kN), secs,
           kN / secs / 1e6);
  }
  EXPECT_EQ(rte_mempool_avail_count(mp), avail0);
  rte_mempool_free(mp);
  run("ip link del " + ifname + " 2>/dev/null");
}

VSTEST_EAL_MAIN();
