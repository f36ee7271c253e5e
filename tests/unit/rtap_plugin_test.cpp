// librte_net_rtap.so as a plugin: a DPDK application that does not link the driver loads it
// with EAL -d and gets a working port from --vdev.
#include <gtest/gtest.h>

#include <rte_ethdev.h>

#include "eal_env.hpp"

TEST(RtapPlugin, LoadedWithDashDProbesTheVdev) {
  ASSERT_TRUE(vstest::EalEnvironment::ready());
  uint16_t port;
  ASSERT_EQ(rte_eth_dev_get_port_by_name("net_rtap_plugin0", &port), 0) << vstest::log_text();
  rte_eth_dev_info info;
  ASSERT_EQ(rte_eth_dev_info_get(port, &info), 0);
  EXPECT_STREQ(info.driver_name, "net_rtap");
  EXPECT_EQ(info.max_rx_queues, 2);
  EXPECT_EQ(rte_eth_dev_close(port), 0);
}

VSTEST_EAL_MAIN("-d", RTAP_PLUGIN_PATH, "--vdev=net_rtap_plugin0,queues=2");
