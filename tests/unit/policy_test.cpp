// Anti-spoofing (switch/policy.hpp): each check on hand-built frames, what must still pass for a
// VM to come up (DAD, link-local ND, MLD, DHCP client, ARP probe), and the policy builders.
#include "switch/policy.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

using vs::DropReason;
using Bytes = std::vector<uint8_t>;

const char* kVmMac = "02:00:00:00:00:05";
const char* kOtherMac = "02:00:00:00:00:66";

Bytes mac(const std::string& s) {
  unsigned b[6];
  std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]);
  return Bytes(b, b + 6);
}
Bytes ip4(const char* s) {
  Bytes b(4);
  inet_pton(AF_INET, s, b.data());
  return b;
}
Bytes ip6(const char* s) {
  Bytes b(16);
  inet_pton(AF_INET6, s, b.data());
  return b;
}
void put(Bytes& f, const Bytes& b) {
  f.insert(f.end(), b.begin(), b.end());
}
void put16(Bytes& f, uint16_t v) {
  f.push_back(static_cast<uint8_t>(v >> 8));
  f.push_back(static_cast<uint8_t>(v));
}

Bytes ether(const std::string& src, uint16_t type, const std::string& dst = "ff:ff:ff:ff:ff:ff") {
  Bytes f = mac(dst);
  put(f, mac(src));
  put16(f, type);
  return f;
}

Bytes arp(const std::string& sha, const char* spa, uint16_t op = 2) {
  Bytes f = ether(kVmMac, 0x0806);
  put16(f, 1);
  put16(f, 0x0800);
  f.push_back(6);
  f.push_back(4);
  put16(f, op);
  put(f, mac(sha));
  put(f, ip4(spa));
  put(f, mac("00:00:00:00:00:00"));
  put(f, ip4("10.0.0.1"));
  return f;
}

Bytes ipv4(const char* src, uint8_t proto, uint16_t sport = 0, uint16_t dport = 0) {
  Bytes f = ether(kVmMac, 0x0800);
  const Bytes hdr = {0x45, 0, 0, 28, 0, 0, 0, 0, 64, proto, 0, 0};
  put(f, hdr);
  put(f, ip4(src));
  put(f, ip4("255.255.255.255"));
  put16(f, sport);
  put16(f, dport);
  put16(f, 8);
  put16(f, 0);
  return f;
}

// IPv6 with `upper` after the header (next header `proto`).
Bytes ipv6(const char* src, uint8_t proto, const Bytes& upper) {
  Bytes f = ether(kVmMac, 0x86dd, "33:33:00:00:00:01");
  put(f, {0x60, 0, 0, 0});
  put16(f, static_cast<uint16_t>(upper.size()));
  f.push_back(proto);
  f.push_back(255);
  put(f, ip6(src));
  put(f, ip6("ff02::1"));
  put(f, upper);
  return f;
}

// An ND message: type, the target, and a link-layer option (type opt) with `lla`.
Bytes nd(uint8_t type, const char* target, uint8_t opt = 0, const std::string& lla = "") {
  Bytes m = {type, 0, 0, 0, type == 136 ? uint8_t{0x20} : uint8_t{0}, 0, 0, 0};
  put(m, ip6(target));
  if (opt) {
    m.push_back(opt);
    m.push_back(1);
    put(m, mac(lla));
  }
  return m;
}

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(vs::policy_add_mac(p_, kVmMac));
    ASSERT_TRUE(vs::policy_add_prefix(p_, "10.0.0.5"));
    ASSERT_TRUE(vs::policy_add_prefix(p_, "fd00::5/128"));
    ASSERT_TRUE(vs::policy_add_prefix(p_, "10.1.0.0/24"));
  }
  DropReason check(const Bytes& f) const {
    vs::EthInfo eth;
    EXPECT_EQ(vs::parse_ethernet(f.data(), f.size(), eth), DropReason::kCount);
    return vs::policy_check(p_, eth, f.data(), f.size());
  }
  vs::PortPolicy p_{};
};

TEST_F(PolicyTest, TheVmsOwnTrafficPasses) {
  EXPECT_EQ(check(ipv4("10.0.0.5", 1)), DropReason::kCount);
  EXPECT_EQ(check(ipv4("10.1.0.77", 6)), DropReason::kCount);  // in the /24
  EXPECT_EQ(check(ipv6("fd00::5", 58, {128, 0, 0, 0, 0, 1, 0, 1})), DropReason::kCount);
  EXPECT_EQ(check(arp(kVmMac, "10.0.0.5")), DropReason::kCount);
  EXPECT_EQ(check(arp(kVmMac, "10.0.0.5", 1)), DropReason::kCount);
  EXPECT_EQ(check(ipv6("fd00::5", 58, nd(136, "fd00::5", 2, kVmMac))), DropReason::kCount);
  // Bytes past the IPv6 payload (an Ethernet trailer) are not parsed as ND options.
  Bytes trailer = ipv6("fd00::5", 58, nd(136, "fd00::5", 2, kVmMac));
  put(trailer, {'V', 'S', 0, 0, 0, 0});
  EXPECT_EQ(check(trailer), DropReason::kCount);
  Bytes lldp = ether(kVmMac, 0x88cc, "01:80:c2:00:00:0e");  // not IP: no address to check
  lldp.resize(60);
  EXPECT_EQ(check(lldp), DropReason::kCount);
}

TEST_F(PolicyTest, AVmComingUpStillDoesDadNdMldDhcpAndArpProbes) {
  // DAD: from ::, for its own tentative address (global and link-local).
  EXPECT_EQ(check(ipv6("::", 58, nd(135, "fd00::5"))), DropReason::kCount);
  EXPECT_EQ(check(ipv6("::", 58, nd(135, "fe80::1234"))), DropReason::kCount);
  // MLDv2 report from :: (joining the solicited-node group before DAD).
  EXPECT_EQ(check(ipv6("::", 58, {143, 0, 0, 0, 0, 0, 0, 0})), DropReason::kCount);
  // Link-local ND: the address is not listed, link-local always passes.
  EXPECT_EQ(check(ipv6("fe80::1234", 58, nd(135, "fd00::1", 1, kVmMac))), DropReason::kCount);
  EXPECT_EQ(check(ipv6("fe80::1234", 58, nd(136, "fe80::1234", 2, kVmMac))), DropReason::kCount);
  EXPECT_EQ(check(ipv6("fe80::1234", 58, {133, 0, 0, 0, 0, 0, 0, 0})), DropReason::kCount);
  // DHCPv4 discover from 0.0.0.0; an ARP probe (sender 0.0.0.0).
  EXPECT_EQ(check(ipv4("0.0.0.0", 17, 68, 67)), DropReason::kCount);
  EXPECT_EQ(check(arp(kVmMac, "0.0.0.0", 1)), DropReason::kCount);
}

TEST_F(PolicyTest, EachSpoofIsDroppedWithItsReason) {
  Bytes other_src = ipv4("10.0.0.5", 1);
  const Bytes other = mac(kOtherMac);
  std::copy(other.begin(), other.end(), other_src.begin() + 6);
  EXPECT_EQ(check(other_src), DropReason::kSpoofedMac);
  EXPECT_EQ(check(ipv4("10.0.0.6", 1)), DropReason::kSpoofedIp);
  EXPECT_EQ(check(ipv4("10.1.1.1", 6)), DropReason::kSpoofedIp);            // just past the /24
  EXPECT_EQ(check(ipv4("0.0.0.0", 17, 1000, 67)), DropReason::kSpoofedIp);  // not a DHCP client
  EXPECT_EQ(check(ipv6("fd00::6", 58, {128, 0, 0, 0, 0, 1, 0, 1})), DropReason::kSpoofedIp);
  EXPECT_EQ(check(ipv6("::", 17, {0, 1, 0, 2, 0, 8, 0, 0})), DropReason::kSpoofedIp);
  EXPECT_EQ(check(arp(kVmMac, "10.0.0.1")), DropReason::kSpoofedArp);     // a gateway's IP
  EXPECT_EQ(check(arp(kOtherMac, "10.0.0.5")), DropReason::kSpoofedArp);  // another MAC inside
  // NA for another host's address, from its own source; NA with another MAC in its option.
  EXPECT_EQ(check(ipv6("fd00::5", 58, nd(136, "fd00::1", 2, kVmMac))), DropReason::kSpoofedNd);
  EXPECT_EQ(check(ipv6("fe80::1234", 58, nd(136, "fd00::5", 2, kOtherMac))),
            DropReason::kSpoofedNd);
  // DAD for someone else's address would make that host give it up.
  EXPECT_EQ(check(ipv6("::", 58, nd(135, "fd00::1"))), DropReason::kSpoofedNd);
  EXPECT_EQ(check(ipv6("fe80::1", 58, nd(135, "fd00::1", 1, kOtherMac))), DropReason::kSpoofedNd);
  // A truncated NA, and one with a zero-length option.
  Bytes cut = nd(136, "fd00::5");
  cut.resize(12);
  EXPECT_EQ(check(ipv6("fd00::5", 58, cut)), DropReason::kSpoofedNd);
  Bytes zero_opt = nd(136, "fd00::5");
  put(zero_opt, {2, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(check(ipv6("fd00::5", 58, zero_opt)), DropReason::kSpoofedNd);
}

TEST_F(PolicyTest, AnNaBehindExtensionHeadersIsStillChecked) {
  Bytes hbh = {58, 0, 1, 4, 0, 0, 0, 0};  // hop-by-hop, 8 bytes, next: ICMPv6
  put(hbh, nd(136, "fd00::1", 2, kVmMac));
  EXPECT_EQ(check(ipv6("fd00::5", 0, hbh)), DropReason::kSpoofedNd);
  Bytes frag = {58, 0, 0, 0, 0, 0, 0, 1};  // first fragment
  put(frag, nd(136, "fd00::1", 2, kVmMac));
  EXPECT_EQ(check(ipv6("fd00::5", 44, frag)), DropReason::kSpoofedNd);
  Bytes later = {58, 0, 0, 8, 0, 0, 0, 1};  // a later fragment: no ICMPv6 header in it
  put(later, Bytes(16, 0));
  EXPECT_EQ(check(ipv6("fd00::5", 44, later)), DropReason::kCount);
  // A chain longer than the window the worker reads cannot hide an NA.
  Bytes chain;
  for (int i = 0; i < 7; ++i)
    put(chain, {60, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(check(ipv6("fd00::5", 60, chain)), DropReason::kSpoofedNd);
}

TEST_F(PolicyTest, StackedTagsHideTheIpHeaderAndAreDropped) {
  Bytes f = ether(kVmMac, 0x8100);
  put(f, {0, 10, 0x08, 0x00});
  vs::EthInfo eth;
  ASSERT_EQ(vs::parse_ethernet(f.data(), f.size(), eth), DropReason::kCount);
  Bytes qinq = ether(kVmMac, 0x8100);
  put(qinq, {0, 10, 0x81, 0x00, 0, 20, 0x08, 0x00});
  EXPECT_EQ(check(qinq), DropReason::kSpoofedIp);
}

TEST(Policy, DhcpServersAndRouterAdvertsAreBlockedOnlyWhenAsked) {
  vs::PortPolicy p{};
  auto verdict = [&p](const Bytes& f) {
    vs::EthInfo eth;
    vs::parse_ethernet(f.data(), f.size(), eth);
    return vs::policy_check(p, eth, f.data(), f.size());
  };
  const Bytes offer = ipv4("10.0.0.1", 17, 67, 68);
  const Bytes reply6 = ipv6("fe80::1", 17, {0x02, 0x23, 0x02, 0x22, 0, 8, 0, 0});
  const Bytes ra = ipv6("fe80::1", 58, {134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_FALSE(vs::policy_active(p));
  EXPECT_EQ(verdict(offer), DropReason::kCount);
  EXPECT_EQ(verdict(ra), DropReason::kCount);
  p.flags = vs::kPolicyBlockDhcpServer;
  EXPECT_EQ(verdict(offer), DropReason::kDhcpServer);
  EXPECT_EQ(verdict(reply6), DropReason::kDhcpServer);
  EXPECT_EQ(verdict(ipv4("10.0.0.1", 17, 68, 67)), DropReason::kCount);  // a client
  EXPECT_EQ(verdict(ra), DropReason::kCount);
  p.flags = vs::kPolicyBlockRa;
  EXPECT_EQ(verdict(ra), DropReason::kRouterAdvert);
  EXPECT_EQ(verdict(offer), DropReason::kCount);
}

TEST(Policy, BuildersParseMasksAndRefuse) {
  vs::PortPolicy p{};
  EXPECT_TRUE(vs::policy_add_prefix(p, "10.1.0.9/24"));  // masked to 10.1.0.0/24
  EXPECT_EQ(p.prefixes[0].len, 24);
  EXPECT_EQ(p.prefixes[0].addr[3], 0);
  EXPECT_TRUE(vs::policy_ip_allowed(p, 4, ip4("10.1.0.200").data()));
  EXPECT_FALSE(vs::policy_ip_allowed(p, 6, ip6("::a01:c8").data()));  // another family
  EXPECT_TRUE(vs::policy_add_prefix(p, "fd00::/7"));
  EXPECT_TRUE(vs::policy_ip_allowed(p, 6, ip6("fdff::1").data()));
  EXPECT_FALSE(vs::policy_ip_allowed(p, 6, ip6("fe00::1").data()));
  EXPECT_FALSE(vs::policy_add_prefix(p, "10.0.0.300"));
  EXPECT_FALSE(vs::policy_add_prefix(p, "10.0.0.1/33"));
  EXPECT_FALSE(vs::policy_add_mac(p, "02:00:00:00:00"));
  for (int i = 0; i < vs::kMaxPolicyMacs; ++i) EXPECT_TRUE(vs::policy_add_mac(p, kVmMac));
  EXPECT_FALSE(vs::policy_add_mac(p, kVmMac));  // full
  EXPECT_TRUE(vs::policy_mac_allowed(p, 0x020000000005ull));
  EXPECT_FALSE(vs::policy_mac_allowed(p, 0x020000000006ull));
}

}  // namespace
