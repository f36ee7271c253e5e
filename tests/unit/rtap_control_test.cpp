// net_rtap control path: devargs, probe errors, configure, dev_info, link, promiscuous,
// all-multicast, MAC, MTU, queue counts, netns, persist, and leaks (fds, mbufs).
// Needs root, /dev/net/tun and hugepages (label: integration).
#include <gtest/gtest.h>

#include <rte_bus_vdev.h>
#include <rte_ethdev.h>

#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fstream>
#include <functional>

#include "eal_env.hpp"
#include "netns.hpp"
#include "rtap_port.hpp"
#include "rte_pmd_rtap.h"

using namespace vstest;

namespace {

std::string sysfs(const std::string& ifname, const std::string& attr) {
  std::ifstream f("/sys/class/net/" + ifname + "/" + attr);
  std::string s;
  std::getline(f, s);
  return s;
}
unsigned long flags_of(const std::string& ifname) {
  return std::stoul(sysfs(ifname, "flags"), nullptr, 16);
}
bool exists(const std::string& ifname) {
  return if_nametoindex(ifname.c_str()) != 0;
}
int nqueues(const std::string& ifname) {
  return std::stoi(out("ls /sys/class/net/" + ifname + "/queues | grep -c rx-"));
}

class RtapControl : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(EalEnvironment::ready());
    ifname = unique_name("rtc");
    mp = make_pool(4096);
    ASSERT_NE(mp, nullptr);
    clear_log();
  }
  void TearDown() override {
    run("ip link del " + ifname + " 2>/dev/null");
    rte_mempool_free(mp);
  }
  std::string ifname;
  rte_mempool* mp = nullptr;
};

TEST_F(RtapControl, ConfigureCreatesTheTap) {
  RtapPort p("net_rtap_c0", "iface=" + ifname);
  ASSERT_EQ(p.rc(), 0) << log_text();
  EXPECT_TRUE(exists(ifname));
  PortConf c;
  c.mp = mp;
  ASSERT_EQ(p.start(c), 0);
  EXPECT_EQ(nqueues(ifname), 1);
  // The kernel sees a TAP with vnet headers and multi-queue.
  unsigned long tf = std::stoul(sysfs(ifname, "tun_flags"), nullptr, 16);
  EXPECT_TRUE(tf & IFF_TAP);
  EXPECT_TRUE(tf & IFF_MULTI_QUEUE);
  EXPECT_TRUE(tf & IFF_VNET_HDR);
  // No tun NAPI: it cost a poll and a GRO attempt per written frame (docs/rtap.md).
  EXPECT_FALSE(tf & IFF_NAPI);
  p.destroy();
  EXPECT_FALSE(exists(ifname)) << "a non-persistent TAP must go with its port";
}

TEST_F(RtapControl, AliasAndDefaultTemplate) {
  RtapPort p("eth_rtap_c1", "");
  ASSERT_EQ(p.rc(), 0) << log_text();
  rte_eth_dev_info info;
  ASSERT_EQ(rte_eth_dev_info_get(p.id(), &info), 0);
  char name[IF_NAMESIZE] = {};
  ASSERT_NE(if_indextoname(info.if_index, name), nullptr);
  EXPECT_EQ(std::string(name).rfind("rtap", 0), 0u) << name;
}

TEST_F(RtapControl, DevInfo) {
  RtapPort p("net_rtap_c2", "iface=" + ifname + ",queues=4");
  ASSERT_EQ(p.rc(), 0) << log_text();
  rte_eth_dev_info info;
  ASSERT_EQ(rte_eth_dev_info_get(p.id(), &info), 0);
  EXPECT_STREQ(info.driver_name, "net_rtap");
  EXPECT_EQ(info.max_rx_queues, 4);
  EXPECT_EQ(info.max_tx_queues, 4);
  EXPECT_EQ(info.if_index, if_nametoindex(ifname.c_str()));
  EXPECT_EQ(info.default_rxportconf.burst_size, 64);
  EXPECT_EQ(info.default_txportconf.burst_size, 64);
  EXPECT_EQ(info.default_rxportconf.ring_size, 1024);
  EXPECT_TRUE(info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_TSO);
  EXPECT_TRUE(info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM);
  EXPECT_TRUE(info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS);
  EXPECT_TRUE(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TCP_LRO);
  EXPECT_TRUE(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER);
  EXPECT_GE(info.max_rx_pktlen, 65535u);
  EXPECT_EQ(info.max_mac_addrs, 1u);
}

TEST_F(RtapControl, LinkFollowsStartStopAndSetLink) {
  RtapPort p("net_rtap_c3", "iface=" + ifname);
  ASSERT_EQ(p.rc(), 0);
  PortConf c;
  c.mp = mp;
  ASSERT_EQ(p.start(c), 0);
  rte_eth_link l;
  ASSERT_EQ(rte_eth_link_get_nowait(p.id(), &l), 0);
  EXPECT_EQ(l.link_status, RTE_ETH_LINK_UP);
  EXPECT_TRUE(flags_of(ifname) & IFF_UP);
  ASSERT_EQ(rte_eth_dev_set_link_down(p.id()), 0);
  EXPECT_FALSE(flags_of(ifname) & IFF_UP);
  ASSERT_EQ(rte_eth_link_get_nowait(p.id(), &l), 0);
  EXPECT_EQ(l.link_status, RTE_ETH_LINK_DOWN);
  ASSERT_EQ(rte_eth_dev_set_link_up(p.id()), 0);
  ASSERT_EQ(rte_eth_link_get_nowait(p.id(), &l), 0);
  EXPECT_EQ(l.link_status, RTE_ETH_LINK_UP);
  ASSERT_EQ(rte_eth_dev_stop(p.id()), 0);
  EXPECT_FALSE(flags_of(ifname) & IFF_UP);
  ASSERT_EQ(rte_eth_link_get_nowait(p.id(), &l), 0);
  EXPECT_EQ(l.link_status, RTE_ETH_LINK_DOWN);
}

TEST_F(RtapControl, PromiscuousAndAllMulticast) {
  RtapPort p("net_rtap_c4", "iface=" + ifname);
  ASSERT_EQ(p.rc(), 0);
  PortConf c;
  c.mp = mp;
  ASSERT_EQ(p.start(c), 0);
  ASSERT_EQ(rte_eth_promiscuous_enable(p.id()), 0);
  EXPECT_TRUE(flags_of(ifname) & IFF_PROMISC);
  EXPECT_EQ(rte_eth_promiscuous_get(p.id()), 1);
  ASSERT_EQ(rte_eth_promiscuous_disable(p.id()), 0);
  EXPECT_FALSE(flags_of(ifname) & IFF_PROMISC);
  ASSERT_EQ(rte_eth_allmulticast_enable(p.id()), 0);
  EXPECT_TRUE(flags_of(ifname) & IFF_ALLMULTI);
  ASSERT_EQ(rte_eth_allmulticast_disable(p.id()), 0);
  EXPECT_FALSE(flags_of(ifname) & IFF_ALLMULTI);
}

TEST_F(RtapControl, MacFromDevargAndSet) {
  RtapPort p("net_rtap_c5", "iface=" + ifname + ",mac=02:aa:bb:cc:dd:01");
  ASSERT_EQ(p.rc(), 0) << log_text();
  EXPECT_EQ(sysfs(ifname, "address"), "02:aa:bb:cc:dd:01");
  rte_ether_addr a = p.mac();
  EXPECT_EQ(a.addr_bytes[5], 0x01);
  rte_ether_addr b = {{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}};
  ASSERT_EQ(rte_eth_dev_default_mac_addr_set(p.id(), &b), 0);
  EXPECT_EQ(sysfs(ifname, "address"), "02:11:22:33:44:55");
  a = p.mac();
  EXPECT_TRUE(rte_is_same_ether_addr(&a, &b));
}

TEST_F(RtapControl, Mtu) {
  RtapPort p("net_rtap_c6", "iface=" + ifname);
  ASSERT_EQ(p.rc(), 0);
  PortConf c;
  c.mp = mp;
  ASSERT_EQ(p.configure(c), 0);
  ASSERT_EQ(rte_eth_dev_set_mtu(p.id(), 9000), 0);
  EXPECT_EQ(sysfs(ifname, "mtu"), "9000");
  uint16_t mtu = 0;
  ASSERT_EQ(rte_eth_dev_get_mtu(p.id(), &mtu), 0);
  EXPECT_EQ(mtu, 9000);
  ASSERT_EQ(rte_eth_dev_start(p.id()), 0);  // rx buffers re-sized for 9000
  ASSERT_EQ(rte_eth_dev_set_mtu(p.id(), 1280), 0);
  EXPECT_EQ(sysfs(ifname, "mtu"), "1280");
  EXPECT_NE(rte_eth_dev_set_mtu(p.id(), 30), 0);  // below the minimum
}

TEST_F(RtapControl, MultiqueueAndReduce) {
  RtapPort p("net_rtap_c7", "iface=" + ifname + ",queues=4");
  ASSERT_EQ(p.rc(), 0);
  PortConf c;
  c.mp = mp;
  c.queues = 4;
  c.nb_desc = 64;
  ASSERT_EQ(p.start(c), 0) << log_text();
  EXPECT_EQ(nqueues(ifname), 4);
  ASSERT_EQ(rte_eth_dev_stop(p.id()), 0);
  c.queues = 2;
  ASSERT_EQ(p.start(c), 0) << log_text();
  EXPECT_EQ(nqueues(ifname), 2);
  ASSERT_EQ(rte_eth_dev_stop(p.id()), 0);
  c.queues = 3;
  ASSERT_EQ(p.start(c), 0) << log_text();
  EXPECT_EQ(nqueues(ifname), 3);
}

TEST_F(RtapControl, MismatchedAndTooManyQueuesAreRefused) {
  RtapPort p("net_rtap_c8", "iface=" + ifname + ",queues=2");
  ASSERT_EQ(p.rc(), 0);
  rte_eth_conf conf{};
  EXPECT_EQ(rte_eth_dev_configure(p.id(), 2, 1, &conf), -EINVAL);
  EXPECT_NE(log_text().find("configure equal counts"), std::string::npos) << log_text();
  EXPECT_NE(rte_eth_dev_configure(p.id(), 3, 3, &conf), 0);
  EXPECT_EQ(rte_eth_dev_configure(p.id(), 2, 2, &conf), 0);
}

TEST_F(RtapControl, NoLeaksAcrossCreateConfigureClose) {
  // Warm up once: the first port pulls in lazily created EAL state (interrupt thread, etc.).
  {
    RtapPort w("net_rtap_c9", "iface=" + ifname + ",queues=2");
    PortConf c;
    c.mp = mp;
    c.queues = 2;
    ASSERT_EQ(w.start(c), 0);
  }
  const int fds = count_fds();
  const unsigned avail = rte_mempool_avail_count(mp);
  for (int i = 0; i < 3; i++) {
    RtapPort p("net_rtap_c9", "iface=" + ifname + ",queues=2");
    ASSERT_EQ(p.rc(), 0);
    PortConf c;
    c.mp = mp;
    c.queues = 2;
    c.lsc = true;
    c.rxq_intr = true;
    ASSERT_EQ(p.start(c), 0);
    rte_mbuf* none[4];
    // The first poll asks for the queue; the driver's housekeeping alarm claims it within
    // 10 ms. An idle queue holds no rx buffer: it waits on a poll, and reads only what is there.
    EXPECT_EQ(rte_eth_rx_burst(p.id(), 0, none, 4), 0);
    pid_t owner = 0;
    for (int ms = 0; ms < 1000 && owner != getpid(); ms++) {
      usleep(1000);
      ASSERT_EQ(rte_pmd_rtap_queue_owner(p.id(), 0, RTE_PMD_RTAP_RX, &owner), 0);
    }
    EXPECT_EQ(owner, getpid());
    EXPECT_EQ(rte_eth_rx_burst(p.id(), 0, none, 4), 0);
    EXPECT_EQ(rte_mempool_avail_count(mp), avail);
    ASSERT_EQ(rte_eth_dev_stop(p.id()), 0);
    ASSERT_EQ(rte_eth_dev_start(p.id()), 0);
  }
  EXPECT_EQ(count_fds(), fds);
  EXPECT_EQ(rte_mempool_avail_count(mp), avail);
  EXPECT_FALSE(exists(ifname));
}

struct BadArg {
  const char* args;
  const char* expect;
};

class RtapDevargs : public RtapControl, public ::testing::WithParamInterface<BadArg> {};

TEST_P(RtapDevargs, RefusedWithTheFix) {
  const BadArg& b = GetParam();
  int rc = rte_vdev_init("net_rtap_bad", b.args);
  EXPECT_LT(rc, 0);
  if (rc == 0) rte_vdev_uninit("net_rtap_bad");
  EXPECT_NE(log_text().find(b.expect), std::string::npos) << "log was:\n" << log_text();
  EXPECT_NE(log_text().find("fix:"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Bad, RtapDevargs,
    ::testing::Values(BadArg{"iface=abcdefghijklmnopqrstuvwxyz", "is not a valid interface name"},
                      BadArg{"colour=blue", "unknown devarg \"colour\""},
                      BadArg{"mac=02:00:00:00:00", "is not a unicast MAC address"},
                      BadArg{"mac=01:00:5e:00:00:01", "is not a unicast MAC address"},
                      BadArg{"queues=0", "queues=\"0\" is invalid"},
                      BadArg{"queues=65", "queues=\"65\" is invalid"},
                      BadArg{"queues=two", "queues=\"two\" is invalid"},
                      BadArg{"netns=no-such-ns-rtap",
                             "network namespace \"no-such-ns-rtap\" not found"}),
    [](const ::testing::TestParamInfo<BadArg>& i) { return std::to_string(i.index); });

// Runs a probe in a forked child after `prepare` changed its environment (seccomp, mounts), so
// the parent's EAL and the machine stay untouched. True when the probe failed with `expect`.
bool probe_fails_in_child(const std::function<bool()>& prepare, const std::string& args,
                          const std::string& expect) {
  pid_t pid = fork();
  if (pid == 0) {
    clear_log();
    if (!prepare()) _exit(2);
    int rc = rte_vdev_init("net_rtap_child", args.c_str());
    bool ok = rc < 0 && log_text().find(expect) != std::string::npos &&
              log_text().find("fix:") != std::string::npos;
    _exit(ok ? 0 : 1);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

TEST_F(RtapControl, IoUringBlockedBySeccompIsExplained) {
  auto block_io_uring = [] {
    sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof(f) / sizeof(f[0])), f};
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
  };
  EXPECT_TRUE(
      probe_fails_in_child(block_io_uring, "iface=" + ifname, "io_uring_setup is blocked (EPERM)"));
  EXPECT_FALSE(exists(ifname));
}

TEST_F(RtapControl, MissingDevNetTunIsExplained) {
  auto hide_tun = [] {
    return unshare(CLONE_NEWNS) == 0 &&
           mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
           mount("tmpfs", "/dev/net", "tmpfs", 0, nullptr) == 0;
  };
  EXPECT_TRUE(probe_fails_in_child(hide_tun, "iface=" + ifname, "/dev/net/tun is missing"));
}

TEST_F(RtapControl, NameTakenByANonTap) {
  ASSERT_EQ(run("ip link add " + ifname + " type bridge"), 0);
  EXPECT_LT(rte_vdev_init("net_rtap_d0", ("iface=" + ifname).c_str()), 0);
  EXPECT_NE(log_text().find("is not a TAP"), std::string::npos) << log_text();
}

TEST_F(RtapControl, NameTakenByATapIsBusyUnlessPersistReattaches) {
  ASSERT_EQ(run("ip tuntap add dev " + ifname + " mode tap multi_queue vnet_hdr"), 0);
  int rc = rte_vdev_init("net_rtap_d1", ("iface=" + ifname).c_str());
  EXPECT_EQ(rc, -EBUSY);
  if (rc == 0) rte_vdev_uninit("net_rtap_d1");
  EXPECT_NE(log_text().find("already exists"), std::string::npos) << log_text();
  // With persist, an idle persistent TAP of the same kind is taken over.
  RtapPort p("net_rtap_d1", "iface=" + ifname + ",persist");
  EXPECT_EQ(p.rc(), 0) << log_text();
}

TEST_F(RtapControl, PersistKeepsTheInterface) {
  {
    RtapPort p("net_rtap_d2", "iface=" + ifname + ",persist");
    ASSERT_EQ(p.rc(), 0) << log_text();
    PortConf c;
    c.mp = mp;
    ASSERT_EQ(p.start(c), 0);
  }
  EXPECT_TRUE(exists(ifname));
  // ...and a new port picks it up again.
  RtapPort p2("net_rtap_d2", "iface=" + ifname + ",persist");
  EXPECT_EQ(p2.rc(), 0) << log_text();
}

TEST_F(RtapControl, NetnsDevarg) {
  NetnsVm ns(unique_name("rtcns"));
  {
    RtapPort p("net_rtap_d3", "iface=" + ifname + ",netns=" + ns.name() + ",queues=2");
    ASSERT_EQ(p.rc(), 0) << log_text();
    EXPECT_FALSE(exists(ifname)) << "the TAP must be created inside the namespace";
    EXPECT_EQ(ns.sh("ip link show " + ifname + " >/dev/null"), 0);
    PortConf c;
    c.mp = mp;
    c.queues = 2;
    ASSERT_EQ(p.start(c), 0) << log_text();
    // Control keeps working in the namespace.
    EXPECT_NE(ns.out("ip link show " + ifname).find(",UP"), std::string::npos);
    ASSERT_EQ(rte_eth_dev_set_mtu(p.id(), 1400), 0);
    EXPECT_NE(ns.out("ip link show " + ifname).find("mtu 1400"), std::string::npos);
    // Larger than the posted buffers while running: refused, with the fix in the log.
    EXPECT_EQ(rte_eth_dev_set_mtu(p.id(), 4000), -EBUSY);
    EXPECT_NE(log_text().find("stop the port"), std::string::npos);
    ASSERT_EQ(rte_eth_promiscuous_enable(p.id()), 0);
    EXPECT_NE(ns.out("ip link show " + ifname).find("PROMISC"), std::string::npos);
    rte_eth_link l;
    ASSERT_EQ(rte_eth_link_get_nowait(p.id(), &l), 0);
    EXPECT_EQ(l.link_status, RTE_ETH_LINK_UP);
    rte_eth_stats st;
    EXPECT_EQ(rte_eth_stats_get(p.id(), &st), 0);
    EXPECT_EQ(ns.out("ls /sys/class/net/" + ifname + "/queues | grep -c rx-"), "2");
  }
  EXPECT_NE(ns.sh("ip link show " + ifname + " 2>/dev/null"), 0) << "closed port, TAP gone";
}

}  // namespace

VSTEST_EAL_MAIN();
