// Per-port anti-spoofing and isolation keys of [[switch.port]]: parsing and normalization, each
// mistake with its line, caret and hint, the TOML writer's round trip, and the reload diff
// (a policy-only change re-tags the port in place, it never re-creates it).
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "config/config_diff.hpp"
#include "config_errors.hpp"

namespace {

using vs::config::format_errors;
using vs::config::LoadResult;
using vstest::contains;

const std::string kHead = R"([[switch]]
name = "sw0"
[[switch.port]]
name = "vm2"
[[switch.port]]
name = "vm1"
)";  // lines 1..6; the keys given to a test start at line 7

LoadResult load(const std::string& keys) {
  return vs::config::load_config_string(kHead + keys, "test.toml");
}

TEST(ConfigPolicy, ParsesAndNormalizesEveryKey) {
  const LoadResult r = load(
      "allowed_macs = [\"02:00:00:00:00:0A\"]\n"
      "allowed_ips = [\"10.0.0.5\", \"10.1.0.0/24\", \"FD00::5\", \"fd00:1::/64\"]\n"
      "block_dhcp_server = true\nblock_ra = true\nisolated = true\n");
  ASSERT_TRUE(r.ok()) << format_errors(r);
  const auto& sec = r.config->find_port("vm1")->security;
  EXPECT_EQ(sec.allowed_macs, std::vector<std::string>{"02:00:00:00:00:0a"});
  EXPECT_EQ(sec.allowed_ips,
            (std::vector<std::string>{"10.0.0.5/32", "10.1.0.0/24", "fd00::5/128", "fd00:1::/64"}));
  EXPECT_TRUE(sec.block_dhcp_server && sec.block_ra && sec.isolated);
  const auto& other = r.config->find_port("vm2")->security;
  EXPECT_EQ(other, vs::config::PortSecurityConfig{});  // absent: no check, not isolated
}

struct Bad {
  std::string keys;
  int line;
  std::string message;
  std::string hint;
};

TEST(ConfigPolicy, EachMistakeIsOneErrorWithLineCaretAndHint) {
  std::string nine_macs = "allowed_macs = [";
  for (int i = 1; i <= 9; ++i) nine_macs += "\n  \"02:00:00:00:00:0" + std::to_string(i) + "\",";
  std::string seventeen_ips = "allowed_ips = [";
  for (int i = 1; i <= 17; ++i) seventeen_ips += "\n  \"10.0.0." + std::to_string(i) + "\",";
  const Bad cases[] = {
      {"allowed_macs = [\"02:00:00:00:00\"]\n", 7, "allowed_macs entry \"02:00:00:00:00\" must be",
       "allowed_macs: the source MACs"},
      {"allowed_macs = [\"01:00:5e:00:00:01\"]\n", 7, "must be a unicast address", "unicast"},
      {"allowed_macs = \"02:00:00:00:00:01\"\n", 7, "allowed_macs must be an array of strings",
       "allowed_macs:"},
      {"allowed_ips = [\"10.0.0.300\"]\n", 7, "is not a valid IPv4 address", "allowed_ips:"},
      {"allowed_ips = [\"fd00::5/129\"]\n", 7, "needs an IPv6 prefix length 1..128", "link-local"},
      {"allowed_ips = [\"10.1.0.5/24\"]\n", 7,
       "has bits set past its prefix length: write 10.1.0.0/24 for the network", "allowed_ips:"},
      {"allowed_ips = [\"10.0.0.5\",\n  \"10.0.0.5/32\"]\n", 8, "lists \"10.0.0.5/32\" twice",
       "allowed_ips:"},
      {nine_macs + "\n]\n", 16, "too many allowed_macs: at most 8", "at most 8"},
      {seventeen_ips + "\n]\n", 24, "too many allowed_ips: at most 16", "at most 16"},
      {"isolated = \"yes\"\n", 7, "isolated must be true or false", "isolated: true"},
      {"block_dhcp = true\n", 7, "unknown key \"block_dhcp\"", "block_dhcp_server"},
  };
  for (const Bad& c : cases) {
    vstest::expect_one_located_error(load(c.keys), c.keys, c.line, c.message, c.hint);
  }
}

TEST(ConfigPolicy, TheTomlWriterRoundTrips) {
  const LoadResult r = load(
      "allowed_macs = [\"02:00:00:00:00:0a\"]\nallowed_ips = [\"10.0.0.5\", \"fd00::/64\"]\n"
      "block_dhcp_server = true\nblock_ra = true\nisolated = true\n");
  vstest::expect_port_round_trips(r, "vm1");
}

TEST(ConfigPolicy, APolicyOnlyChangeRetagsThePortAndTouchesNoOther) {
  const LoadResult before = load("allowed_ips = [\"10.0.0.5\"]\n");
  const LoadResult after = load("allowed_ips = [\"10.0.0.6\"]\nisolated = true\nvlan = 5\n");
  ASSERT_TRUE(before.ok() && after.ok());
  const auto d = vs::config::diff_configs(*before.config, *after.config);
  ASSERT_EQ(d.retagged.size(), 1u) << d.summary();
  EXPECT_EQ(d.retagged[0].port.name, "vm1");
  EXPECT_EQ(d.retagged[0].port.security.allowed_ips, std::vector<std::string>{"10.0.0.6/32"});
  EXPECT_TRUE(d.replaced.empty() && d.added.empty() && d.removed.empty()) << d.summary();
  // With a change that needs a new TAP, the port is re-created with its new policy.
  const LoadResult mtu = load("allowed_ips = [\"10.0.0.6\"]\nmtu = 9000\n");
  const auto d2 = vs::config::diff_configs(*before.config, *mtu.config);
  ASSERT_EQ(d2.replaced.size(), 1u) << d2.summary();
  EXPECT_TRUE(d2.retagged.empty());
}

}  // namespace
