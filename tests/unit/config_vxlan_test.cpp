// The vxlan key of [[switch.port]] (issue #26, docs/evpn.md step two): parsing and defaults, each
// mistake with its line, caret and hint, the keys a vxlan port excludes, the checks across ports
// (VNI, local:udp_port), the TOML writer's round trip and the reload diff (a changed tunnel
// re-creates the port).
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "config/config_diff.hpp"
#include "config_errors.hpp"

namespace {

using vs::config::format_errors;
using vs::config::LoadResult;

const std::string kHead = R"([[switch]]
name = "sw0"
[[switch.port]]
name = "vm2"
[[switch.port]]
name = "vx100"
)";  // lines 1..6; the keys given to a test start at line 7

// A valid vxlan table (line 7 when it follows kHead).
const std::string kVxlan =
    "vxlan = { vni = 100, local = \"10.99.0.1\", underlay = \"eth1\", remotes = [\"10.99.0.2\"] "
    "}\n";

LoadResult load(const std::string& keys) {
  return vs::config::load_config_string(kHead + keys, "test.toml");
}

TEST(ConfigVxlan, ParsesEveryField) {
  const LoadResult r = load(
      "mtu = 1450\nvlan = 10\nvxlan = { vni = 16777215, local = \"10.99.0.1\", underlay = "
      "\"eth1.20\", udp_port = 4790, remotes = [\"10.99.0.2\", \"10.99.0.3\"] }\n");
  ASSERT_TRUE(r.ok()) << format_errors(r);
  const vs::config::PortConfig& p = *r.config->find_port("vx100");
  EXPECT_TRUE(p.is_vxlan());
  EXPECT_EQ(p.vxlan.vni, 16777215);
  EXPECT_EQ(p.vxlan.local, "10.99.0.1");
  EXPECT_EQ(p.vxlan.underlay, "eth1.20");
  EXPECT_EQ(p.vxlan.udp_port, 4790);
  EXPECT_EQ(p.vxlan.remotes, (std::vector<std::string>{"10.99.0.2", "10.99.0.3"}));
  EXPECT_EQ(p.mtu, 1450);
  EXPECT_EQ(p.vlan, 10);
  EXPECT_EQ(p.vlan_mode, "access");
  EXPECT_FALSE(r.config->find_port("vm2")->is_vxlan());
  EXPECT_EQ(r.config->find_port("vm2")->vxlan, vs::config::VxlanConfig{});
}

TEST(ConfigVxlan, DefaultsAndTheDefaultsOfExcludedKeys) {
  const LoadResult r = load(kVxlan);
  ASSERT_TRUE(r.ok()) << format_errors(r);
  const vs::config::PortConfig& p = *r.config->find_port("vx100");
  EXPECT_EQ(p.vxlan.udp_port, 4789);
  EXPECT_EQ(p.vxlan.vni, 100);
  EXPECT_EQ(p.vlan, 1);
  EXPECT_EQ(p.mtu, 1500);
  EXPECT_EQ(p.queues, 1);
  // The defaults of excluded keys say nothing a vxlan port cannot do: allowed.
  const LoadResult d = load(kVxlan +
                            "queues = 1\naddresses = []\npersist = false\nvlan_mode = \"access\"\n"
                            "allowed_macs = []\nallowed_ips = []\nblock_dhcp_server = false\n"
                            "block_ra = false\nisolated = false\n");
  ASSERT_TRUE(d.ok()) << format_errors(d);
  EXPECT_EQ(*d.config->find_port("vx100"), p);
}

struct Bad {
  std::string keys;
  int line;
  std::string message;
  std::string hint;
};

void expect_each(const std::vector<Bad>& cases) {
  for (const Bad& c : cases) {
    vstest::expect_one_located_error(load(c.keys), c.keys, c.line, c.message, c.hint);
  }
}

TEST(ConfigVxlan, EachMistakeInTheTableIsOneErrorWithLineCaretAndHint) {
  const std::string tail = "underlay = \"eth1\", remotes = [\"10.99.0.2\"] }\n";
  const std::string head = "vxlan = { vni = 100, local = \"10.99.0.1\", ";
  expect_each({
      {"vxlan = 100\n", 7, "vxlan must be a table", "vni = 1..16777215"},
      {"vxlan = { local = \"10.99.0.1\", " + tail, 7, "vxlan needs vni", "vni = 1..16777215"},
      {"vxlan = { vni = 100, " + tail, 7, "vxlan needs local", "local VTEP"},
      {head + "remotes = [\"10.99.0.2\"] }\n", 7, "vxlan needs underlay", "underlay = \"NETDEV\""},
      {head + "underlay = \"eth1\" }\n", 7, "vxlan needs remotes", "1..16 remote VTEPs"},
      {head + "vlan = 10, " + tail, 7, "unknown key \"vlan\"",
       "vni, local, underlay, udp_port, remotes"},
      {head + "udp-port = 4790, " + tail, 7, "unknown key \"udp-port\"",
       "did you mean \"udp_port\""},
      {"vxlan = { vni = 0, local = \"10.99.0.1\", " + tail, 7, "vxlan: vni must be 1..16777215",
       "the VXLAN network identifier"},
      {"vxlan = { vni = 16777216, local = \"10.99.0.1\", " + tail, 7, "vni must be 1..16777215",
       "vni: an integer 1..16777215"},
      {"vxlan = { vni = \"100\", local = \"10.99.0.1\", " + tail, 7, "vni must be an integer",
       "1..16777215"},
      {head + "udp_port = 0, " + tail, 7, "udp_port must be 1..65535", "default 4789"},
      {head + "udp_port = 65536, " + tail, 7, "udp_port must be 1..65535", "default 4789"},
      {"vxlan = { vni = 100, local = \"0.0.0.0\", " + tail, 7,
       "local must not be 0.0.0.0 (the unspecified address)",
       "an IPv4 unicast address of underlay"},
      {"vxlan = { vni = 100, local = \"239.1.1.1\", " + tail, 7,
       "local must be unicast, not multicast (224.0.0.0/4)", "local VTEP"},
      {"vxlan = { vni = 100, local = \"255.255.255.255\", " + tail, 7,
       "local must be unicast, not the broadcast address", "local VTEP"},
      {"vxlan = { vni = 100, local = \"fd00::1\", " + tail, 7,
       "local is an IPv6 address: vxlan takes IPv4 VTEPs only for now", "IPv6 is not supported"},
      {"vxlan = { vni = 100, local = \"10.99.0.1/24\", " + tail, 7,
       "local must be an address without a prefix length", "dotted form"},
      {"vxlan = { vni = 100, local = \"10.99.1\", " + tail, 7,
       "local is not an IPv4 address in dotted form like \"10.99.0.1\"", "dotted form"},
      {"vxlan = { vni = 100, local = \"host-a\", " + tail, 7, "local is not an IPv4 address",
       "dotted form"},
      {"vxlan = { vni = 100, local = 10, " + tail, 7, "local must be a string", "local VTEP"},
      {head + "underlay = \"an underlay\", remotes = [\"10.99.0.2\"] }\n", 7,
       "underlay must be 1..15 characters [A-Za-z0-9_.-]", "mtu + 50"},
      {head + "underlay = \"..\", remotes = [\"10.99.0.2\"] }\n", 7, "underlay must not be",
       "the netdev that carries the tunnel"},
      {head + "underlay = \"eth1\", remotes = [] }\n", 7, "remotes must not be empty",
       "1..16 IPv4 unicast addresses"},
      {head + "underlay = \"eth1\", remotes = \"10.99.0.2\" }\n", 7,
       "remotes must be an array of strings", "the remote VTEPs"},
      {head + "underlay = \"eth1\", remotes = [167969538] }\n", 7,
       "remotes entries must be strings", "the remote VTEPs"},
      {head + "underlay = \"eth1\", remotes = [\"224.0.0.1\"] }\n", 7,
       "remotes entry \"224.0.0.1\" must be unicast", "IPv4 unicast"},
      {head + "underlay = \"eth1\", remotes = [\"10.99.0.2\", \"fd00::2\"] }\n", 7,
       "remotes entry \"fd00::2\" is an IPv6 address", "IPv4 unicast"},
      {head + "underlay = \"eth1\", remotes = [\"10.99.0.2\", \"10.99.0.2\"] }\n", 7,
       "remotes lists \"10.99.0.2\" twice", "each once"},
      {head + "underlay = \"eth1\", remotes = [\"10.99.0.2\", \"10.99.0.1\"] }\n", 7,
       "remotes entry \"10.99.0.1\" is the local VTEP", "none the local one"},
  });
}

TEST(ConfigVxlan, AtMostSixteenRemotes) {
  std::string remotes;
  for (int i = 1; i <= 16; ++i) remotes += "\"10.99.1." + std::to_string(i) + "\", ";
  const std::string head =
      "vxlan = { vni = 100, local = \"10.99.0.1\", underlay = \"eth1\", remotes = [" + remotes;
  const LoadResult ok = load(head + "] }\n");
  ASSERT_TRUE(ok.ok()) << format_errors(ok);
  EXPECT_EQ(ok.config->find_port("vx100")->vxlan.remotes.size(), 16u);
  vstest::expect_one_located_error(load(head + "\"10.99.1.17\"] }\n"), "17 remotes", 7,
                                   "too many remotes: at most 16", "1..16 IPv4");
}

TEST(ConfigVxlan, EachExcludedKeyIsOneErrorNamingBoth) {
  const std::string no_netdev = "a vxlan port has no netdev of its own";
  expect_each({
      {kVxlan + "netns = \"hostA\"\n", 8, "netns and vxlan exclude each other", no_netdev},
      {kVxlan + "addresses = [\"10.0.0.1/24\"]\n", 8, "addresses and vxlan exclude each other",
       "addresses = []"},
      {kVxlan + "vm = { macvtap = \"mvt0\" }\n", 8, "vm and vxlan exclude each other",
       "give the VM a port of its own"},
      {kVxlan + "vm = { tap = \"vnet0\" }\n", 8, "vm and vxlan exclude each other", no_netdev},
      {kVxlan + "uplink = { bridge = \"br100\" }\n", 8, "uplink and vxlan exclude each other",
       "docs/evpn.md"},
      {kVxlan + "persist = true\n", 8, "persist and vxlan exclude each other", "no TAP to keep"},
      {kVxlan + "mac = \"02:00:00:00:00:01\"\n", 8, "mac and vxlan exclude each other", no_netdev},
      {kVxlan + "driver = \"tap\"\n", 8, "driver and vxlan exclude each other", "remove driver"},
      {kVxlan + "driver = \"rtap\"\n", 8, "driver and vxlan exclude each other", no_netdev},
      {kVxlan + "queues = 2\n", 8, "queues and vxlan exclude each other", "queues = 1"},
      {kVxlan + "vlan_mode = \"trunk\"\n", 8, "vlan_mode \"trunk\" and vxlan exclude each other",
       "a vxlan port is an access port"},
      {kVxlan + "allowed_vlans = [10, 20]\n", 8, "allowed_vlans and vxlan exclude each other",
       "the one VLAN set with vlan"},
      {kVxlan + "native_vlan = 10\n", 8, "native_vlan and vxlan exclude each other",
       "an access port"},
      {kVxlan + "allowed_macs = [\"02:00:00:00:00:01\"]\n", 8,
       "allowed_macs and vxlan exclude each other", "not supported on a vxlan port yet"},
      {kVxlan + "allowed_ips = [\"10.0.0.5\"]\n", 8, "allowed_ips and vxlan exclude each other",
       "not supported on a vxlan port yet"},
      {kVxlan + "block_dhcp_server = true\n", 8, "block_dhcp_server and vxlan exclude each other",
       "not supported on a vxlan port yet"},
      {kVxlan + "block_ra = true\n", 8, "block_ra and vxlan exclude each other",
       "not supported on a vxlan port yet"},
      {kVxlan + "isolated = true\n", 8, "isolated and vxlan exclude each other",
       "not supported on a vxlan port yet"},
      {kVxlan + "storm_control = { broadcast = 1000 }\n", 8,
       "storm_control and vxlan exclude each other", "not supported on a vxlan port yet"},
      {kVxlan + "inbound = { average = 1000 }\n", 8, "inbound and vxlan exclude each other",
       "not supported on a vxlan port yet"},
      {kVxlan + "outbound = { average = 1000 }\n", 8, "outbound and vxlan exclude each other",
       "not supported on a vxlan port yet"},
  });
}

TEST(ConfigVxlan, ATrunkIsOneErrorPerKey) {
  const LoadResult r =
      load(kVxlan + "vlan_mode = \"trunk\"\nallowed_vlans = [10, 20]\nnative_vlan = 10\n");
  ASSERT_EQ(r.errors.size(), 3u) << format_errors(r);
  EXPECT_TRUE(vstest::contains(r.errors[0], "vlan_mode \"trunk\" and vxlan")) << r.errors[0];
  EXPECT_TRUE(vstest::contains(r.errors[1], "allowed_vlans and vxlan")) << r.errors[1];
  EXPECT_TRUE(vstest::contains(r.errors[2], "native_vlan and vxlan")) << r.errors[2];
}

TEST(ConfigVxlan, TheMtuHasTheUsualRange) {
  vstest::expect_one_located_error(load(kVxlan + "mtu = 67\n"), "mtu 67", 8,
                                   "mtu must be 68..65518", "");
  const LoadResult r = load(kVxlan + "mtu = 9000\n");
  ASSERT_TRUE(r.ok()) << format_errors(r);
  EXPECT_EQ(r.config->find_port("vx100")->mtu, 9000);
}

// Two vxlan ports: vx100 (line 7) and vx200 (its table at line 12), in another switch.
LoadResult two(const std::string& first, const std::string& second) {
  return load(first +
              "[[switch]]\nname = \"sw1\"\n[[switch.port]]\nname = \"vx200\"\n"  // lines 8..11
              + second);
}

TEST(ConfigVxlan, AVniIsUniqueAcrossTheFile) {
  const LoadResult r =
      two(kVxlan,
          "vxlan = { vni = 100, local = \"10.99.0.1\", underlay = \"eth1\", udp_port = 4790, "
          "remotes = [\"10.99.0.3\"] }\n");
  vstest::expect_one_located_error(r, "duplicate vni", 12,
                                   "vni 100 is also the VNI of port \"vx100\"",
                                   "give this port another vni");
  EXPECT_TRUE(vstest::contains(r.errors[0], " 7 | ")) << r.errors[0];  // the first one, too
  EXPECT_TRUE(vstest::contains(r.errors[0], "port \"vx200\"")) << r.errors[0];
}

TEST(ConfigVxlan, LocalAndUdpPortAreUniqueAcrossTheFile) {
  // Both on 10.99.0.1:4789, the second by default.
  const LoadResult r = two(kVxlan,
                           "vxlan = { vni = 200, local = \"10.99.0.1\", underlay = "
                           "\"eth1\", remotes = [\"10.99.0.2\"] }\n");
  vstest::expect_one_located_error(
      r, "duplicate socket", 12,
      "local \"10.99.0.1\" and udp_port 4789 are also those of port \"vx100\"",
      "give the second VNI its own udp_port");
  // Given explicitly (here in a [switch.port.vxlan] table): the caret is under it.
  const LoadResult e =
      two("vxlan = { vni = 100, local = \"10.99.0.1\", underlay = \"eth1\", "
          "udp_port = 4790, remotes = [\"10.99.0.2\"] }\n",
          "[switch.port.vxlan]\nvni = 200\nlocal = \"10.99.0.1\"\n"
          "underlay = \"eth1\"\nudp_port = 4790\nremotes = [\"10.99.0.2\"]\n");
  vstest::expect_one_located_error(e, "duplicate socket", 16, "udp_port 4790 are also those of",
                                   "e.g. 4790");
  // Another udp_port, or another local address, is fine.
  const LoadResult port = two(kVxlan,
                              "vxlan = { vni = 200, local = \"10.99.0.1\", underlay = "
                              "\"eth1\", udp_port = 4790, remotes = [\"10.99.0.2\"] }\n");
  EXPECT_TRUE(port.ok()) << format_errors(port);
  const LoadResult addr = two(kVxlan,
                              "vxlan = { vni = 200, local = \"10.99.0.5\", underlay = "
                              "\"eth1\", remotes = [\"10.99.0.2\"] }\n");
  ASSERT_TRUE(addr.ok()) << format_errors(addr);
  EXPECT_EQ(addr.config->find_port("vx200")->vxlan.vni, 200);
}

TEST(ConfigVxlan, ADropInPortIsCheckedAgainstTheMainFile) {
  const LoadResult r = vs::config::load_config_strings(
      kHead + kVxlan, "test.toml",
      {{"vswitch.d/10-vx.toml",
        "[[switch]]\nname = \"sw0\"\n[[switch.port]]\nname = \"vx101\"\nvxlan = { vni = 100, "
        "local = \"10.99.0.9\", underlay = \"eth1\", remotes = [\"10.99.0.2\"] }\n"}});
  ASSERT_EQ(r.errors.size(), 1u) << format_errors(r);
  EXPECT_TRUE(vstest::contains(r.errors[0], "vni 100 is also the VNI of port \"vx100\""))
      << r.errors[0];
  EXPECT_TRUE(vstest::contains(r.errors[0], "vswitch.d/10-vx.toml")) << r.errors[0];
}

TEST(ConfigVxlan, TheTomlWriterRoundTrips) {
  vstest::expect_port_round_trips(
      load("mtu = 1450\nvlan = 10\nvxlan = { vni = 100, local = \"10.99.0.1\", underlay = "
           "\"eth1\", udp_port = 4790, remotes = [\"10.99.0.2\", \"10.99.0.3\"] }\n"),
      "vx100");
  vstest::expect_port_round_trips(load(kVxlan), "vx100");
}

TEST(ConfigVxlan, AChangedTunnelRecreatesThePortAlone) {
  const LoadResult before = load(kVxlan);
  for (const std::string& changed : {
           std::string("vni = 101, local = \"10.99.0.1\", underlay = \"eth1\", remotes = "
                       "[\"10.99.0.2\"]"),
           std::string("vni = 100, local = \"10.99.0.5\", underlay = \"eth1\", remotes = "
                       "[\"10.99.0.2\"]"),
           std::string("vni = 100, local = \"10.99.0.1\", underlay = \"eth2\", remotes = "
                       "[\"10.99.0.2\"]"),
           std::string("vni = 100, local = \"10.99.0.1\", underlay = \"eth1\", udp_port = 4790, "
                       "remotes = [\"10.99.0.2\"]"),
           std::string("vni = 100, local = \"10.99.0.1\", underlay = \"eth1\", remotes = "
                       "[\"10.99.0.2\", \"10.99.0.3\"]"),
       }) {
    const LoadResult after = load("vxlan = { " + changed + " }\n");
    ASSERT_TRUE(before.ok() && after.ok()) << format_errors(after);
    const auto d = vs::config::diff_configs(*before.config, *after.config);
    ASSERT_EQ(d.replaced.size(), 1u) << changed << ": " << d.summary();
    EXPECT_EQ(d.replaced[0].port.name, "vx100");
    EXPECT_EQ(d.replaced[0].previous.vxlan, before.config->find_port("vx100")->vxlan);
    EXPECT_TRUE(d.retagged.empty() && d.added.empty() && d.removed.empty()) << d.summary();
  }
  // Its VLAN changes in place, as any access port's.
  const LoadResult vlan = load(kVxlan + "vlan = 20\n");
  ASSERT_TRUE(vlan.ok()) << format_errors(vlan);
  const auto d = vs::config::diff_configs(*before.config, *vlan.config);
  EXPECT_TRUE(d.replaced.empty()) << d.summary();
  EXPECT_EQ(d.retagged.size(), 1u) << d.summary();
}

}  // namespace

namespace {

// A vxlan port is no mirror output (it has no TAP to read copies from); it may be a source.
TEST(ConfigVxlan, IsNeverAMirrorOutput) {
  const std::string mirror = "[[switch.mirror]]\nname = \"m\"\nsource_ports = [\"vm2\"]\n";
  LoadResult r = load(kVxlan + mirror + "output = \"vx100\"\n");
  vstest::expect_one_located_error(r, "a vxlan output", 11, "output port \"vx100\" is a vxlan port",
                                   "mirror into one");
  r = vs::config::load_config_string(
      kHead + kVxlan +
          "[[switch.port]]\nname = \"tap1\"\n[[switch.mirror]]\nname = \"m\"\n"
          "source_ports = [\"vx100\"]\noutput = \"tap1\"\n",
      "test.toml");
  EXPECT_TRUE(r.ok()) << format_errors(r);
}

}  // namespace

namespace {

// evpn = true: the remote VTEPs come from BGP EVPN (docs/evpn.md), so remotes is refused with it.
const std::string kEvpn =
    "vxlan = { vni = 100, local = \"10.99.0.1\", underlay = \"eth1\", evpn = true }\n";

TEST(ConfigVxlan, EvpnTakesTheRemotesFromZebra) {
  const LoadResult r = load(kEvpn);
  ASSERT_TRUE(r.ok()) << format_errors(r);
  const vs::config::VxlanConfig& vx = r.config->find_port("vx100")->vxlan;
  EXPECT_TRUE(vx.evpn);
  EXPECT_TRUE(vx.remotes.empty());
  EXPECT_FALSE(load(kVxlan).config->find_port("vx100")->vxlan.evpn);  // the default
  vstest::expect_port_round_trips(r, "vx100");
}

TEST(ConfigVxlan, EvpnAndRemotesExcludeEachOther) {
  const std::string both =
      "vxlan = { vni = 100, local = \"10.99.0.1\", underlay = \"eth1\", evpn = true, remotes = "
      "[\"10.99.0.2\"] }\n";
  vstest::expect_one_located_error(load(both), both, 7,
                                   "remotes and evpn = true exclude each other", "remove remotes");
  const std::string not_bool =
      "vxlan = { vni = 100, local = \"10.99.0.1\", underlay = \"eth1\", evpn = \"yes\" }\n";
  vstest::expect_one_located_error(load(not_bool), not_bool, 7, "evpn", "BGP EVPN");
  // evpn = false is a static flood list: remotes is needed, and the hint names evpn.
  const std::string off =
      "vxlan = { vni = 100, local = \"10.99.0.1\", underlay = \"eth1\", evpn "
      "= false }\n";
  vstest::expect_one_located_error(load(off), off, 7, "vxlan needs remotes", "evpn = true");
}

TEST(ConfigVxlan, TurningEvpnOnRecreatesThePort) {
  const LoadResult before = load(kVxlan);
  const LoadResult after = load(kEvpn);
  ASSERT_TRUE(before.ok() && after.ok());
  const auto d = vs::config::diff_configs(*before.config, *after.config);
  ASSERT_EQ(d.replaced.size(), 1u) << d.summary();
  EXPECT_EQ(d.replaced[0].port.name, "vx100");
}

}  // namespace

namespace {

TEST(ConfigVxlan, AnEvpnTunnelsVlanChangeRecreatesIt) {
  const LoadResult before = load(kEvpn);
  const LoadResult after = load(kEvpn + "vlan = 20\n");
  ASSERT_TRUE(before.ok() && after.ok());
  const auto d = vs::config::diff_configs(*before.config, *after.config);
  EXPECT_EQ(d.replaced.size(), 1u) << d.summary();
  EXPECT_TRUE(d.retagged.empty()) << d.summary();
}

}  // namespace
