// The uplink key of [[switch.port]] (issue #26, docs/evpn.md): parsing, each mistake with its
// line, caret and hint, the TOML writer's round trip, and the reload diff (a changed uplink
// re-creates the port: its netdev joins another bridge).
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
name = "up0"
)";  // lines 1..6; the keys given to a test start at line 7

LoadResult load(const std::string& keys) {
  return vs::config::load_config_string(kHead + keys, "test.toml");
}

TEST(ConfigUplink, ParsesTheBridgeAndAbsentMeansNone) {
  const LoadResult r = load("netns = \"hostA\"\naddresses = []\nuplink = { bridge = \"br100\" }\n");
  ASSERT_TRUE(r.ok()) << format_errors(r);
  EXPECT_EQ(r.config->find_port("up0")->uplink_bridge, "br100");
  EXPECT_EQ(r.config->find_port("up0")->netns, "hostA");
  EXPECT_EQ(r.config->find_port("vm2")->uplink_bridge, "");
}

struct Bad {
  std::string keys;
  int line;
  std::string message;
  std::string hint;
};

TEST(ConfigUplink, EachMistakeIsOneErrorWithLineCaretAndHint) {
  const Bad cases[] = {
      {"uplink = \"br100\"\n", 7, "uplink must be a table", "bridge = \"NAME\""},
      {"uplink = {}\n", 7, "uplink needs bridge", "the kernel bridge"},
      {"uplink = { bridge = \"a bridge\" }\n", 7, "must be 1..15 characters", "docs/evpn.md"},
      {"uplink = { bridge = \"br100\", vni = 100 }\n", 7, "unknown key \"vni\"", ""},
      {"uplink = { bridge = \"br100\" }\naddresses = [\"10.0.0.1/24\"]\n", 8,
       "addresses and uplink exclude each other", "addresses = []"},
      {"uplink = { bridge = \"br100\" }\nvm = { tap = \"vnet0\" }\n", 8,
       "uplink and vm exclude each other", "a VM attaches to a port of its own"},
  };
  for (const Bad& c : cases) {
    vstest::expect_one_located_error(load(c.keys), c.keys, c.line, c.message, c.hint);
  }
}

TEST(ConfigUplink, TheTomlWriterRoundTrips) {
  vstest::expect_port_round_trips(load("addresses = []\nuplink = { bridge = \"br100\" }\n"), "up0");
}

TEST(ConfigUplink, AChangedUplinkRecreatesThePortAlone) {
  const LoadResult before = load("uplink = { bridge = \"br100\" }\n");
  const LoadResult after = load("uplink = { bridge = \"br200\" }\n");
  ASSERT_TRUE(before.ok() && after.ok());
  const auto d = vs::config::diff_configs(*before.config, *after.config);
  ASSERT_EQ(d.replaced.size(), 1u) << d.summary();
  EXPECT_EQ(d.replaced[0].port.name, "up0");
  EXPECT_TRUE(d.retagged.empty() && d.added.empty() && d.removed.empty()) << d.summary();
}

}  // namespace
