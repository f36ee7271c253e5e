// Unit tests of what a reload compares and writes: config/config_diff.hpp (diff_configs, summary)
// and config/config_toml.hpp (to_toml, toml_string). Every Config here comes from TOML text
// through load_config_string, so the tests see exactly what the real validator produces.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/config_diff.hpp"
#include "config/config_toml.hpp"

#ifndef VSWITCH_TEST_DATA_DIR
#error "VSWITCH_TEST_DATA_DIR must be defined (the tests/data directory)"
#endif

namespace {

namespace fs = std::filesystem;
using vs::config::Config;
using vs::config::ConfigDiff;
using vs::config::diff_configs;
using vs::config::format_errors;
using vs::config::load_config_string;
using vs::config::LoadResult;
using vs::config::PortChange;
using vs::config::PortConfig;
using vs::config::StaticFdbEntry;
using vs::config::SwitchConfig;
using vs::config::to_toml;
using vs::config::toml_string;

const std::string kDataDir = VSWITCH_TEST_DATA_DIR;
const std::string kSourceDir = kDataDir + "/../..";

// Loads `text`; a test that hands in an invalid config fails here, with the loader's errors.
Config load(const std::string& text, const std::string& name = "test.toml") {
  const LoadResult r = load_config_string(text, name);
  EXPECT_TRUE(r.ok()) << name << ":\n" << format_errors(r) << "--- text:\n" << text;
  return r.config.value_or(Config{});
}

// `text` with its only occurrence of `from` replaced by `to`.
std::string edit(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "\"" << from << "\" not in the base config";
  if (at == std::string::npos) return text;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "\"" << from << "\" is not unique";
  return text.replace(at, from.size(), to);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> port_names(const std::vector<PortChange>& v) {
  std::vector<std::string> out;
  for (const auto& c : v) out.push_back(c.port.name);
  return out;
}

using Names = std::vector<std::string>;

// Two switches; vm1 and vm2 are access ports of sw0 (VLAN 1 and 10), vm3 a trunk of sw1.
const std::string kBase = R"(
[daemon]
workers = 1

[[switch]]
name = "sw0"
  [[switch.port]]
  name = "vm1"
  [[switch.port]]
  name = "vm2"
  driver = "rtap"
  queues = 2
  netns = "ns2"
  mac = "02:00:00:00:00:02"
  addresses = ["10.0.0.2/24"]
  vlan = 10

[[switch]]
name = "sw1"
  [[switch.port]]
  name = "vm3"
  vlan_mode = "trunk"
  allowed_vlans = [10, 20]
  native_vlan = 10
)";

// ---- diff_configs ------------------------------------------------------------------------------

TEST(ConfigDiff, IdenticalConfigsGiveNoChange) {
  const ConfigDiff d = diff_configs(load(kBase), load(kBase));
  EXPECT_TRUE(d.empty());
  EXPECT_TRUE(d.restart_needed.empty());
  EXPECT_TRUE(d.added.empty());
  EXPECT_TRUE(d.removed.empty());
  EXPECT_TRUE(d.replaced.empty());
  EXPECT_TRUE(d.retagged.empty());
  EXPECT_EQ(d.summary(), "no change");
}

TEST(ConfigDiff, DefaultConfigAgainstItselfIsEmpty) {
  const Config c = load(read_file(kSourceDir + "/config/vswitch.toml"), "vswitch.toml");
  EXPECT_TRUE(diff_configs(c, c).empty());
  EXPECT_EQ(ConfigDiff{}.summary(), "no change");
}

TEST(ConfigDiff, PortsInAnotherOrderAreNoChange) {
  const ConfigDiff d =
      diff_configs(load("[[switch]]\nname = \"sw0\"\n[[switch.port]]\nname = \"a\"\n"
                        "[[switch.port]]\nname = \"b\"\nvlan = 5\n"),
                   load("[[switch]]\nname = \"sw0\"\n[[switch.port]]\nname = \"b\"\nvlan = 5\n"
                        "[[switch.port]]\nname = \"a\"\n"));
  EXPECT_TRUE(d.empty()) << d.summary();
}

TEST(ConfigDiff, NewPortIsAddedWithItsSwitch) {
  const std::string wanted = edit(kBase, "  native_vlan = 10\n",
                                  "  native_vlan = 10\n  [[switch.port]]\n  name = \"vm4\"\n"
                                  "  mtu = 9000\n");
  const ConfigDiff d = diff_configs(load(kBase), load(wanted));
  ASSERT_EQ(d.added.size(), 1u);
  EXPECT_EQ(d.added[0].switch_name, "sw1");
  EXPECT_EQ(d.added[0].port.name, "vm4");
  EXPECT_EQ(d.added[0].port.mtu, 9000);
  EXPECT_EQ(d.added[0].port, *load(wanted).find_port("vm4"));
  EXPECT_EQ(d.added[0].previous_switch, "");
  EXPECT_EQ(d.added[0].previous, PortConfig{});
  EXPECT_TRUE(d.removed.empty());
  EXPECT_TRUE(d.replaced.empty());
  EXPECT_TRUE(d.retagged.empty());
  EXPECT_TRUE(d.restart_needed.empty());
  EXPECT_FALSE(d.empty());
  EXPECT_EQ(d.summary(), "1 port added (vm4)");
}

TEST(ConfigDiff, RemovedPortIsListedByName) {
  const std::string wanted = edit(kBase, "  [[switch.port]]\n  name = \"vm1\"\n", "");
  const ConfigDiff d = diff_configs(load(kBase), load(wanted));
  EXPECT_EQ(d.removed, Names{"vm1"});
  EXPECT_TRUE(d.added.empty());
  EXPECT_TRUE(d.replaced.empty());
  EXPECT_TRUE(d.retagged.empty());
  EXPECT_TRUE(d.restart_needed.empty());
  EXPECT_EQ(d.summary(), "1 port removed (vm1)");
}

TEST(ConfigDiff, RenamedPortIsRemovedAndAdded) {
  const ConfigDiff d =
      diff_configs(load(kBase), load(edit(kBase, "name = \"vm1\"", "name = \"vm1b\"")));
  EXPECT_EQ(d.removed, Names{"vm1"});
  EXPECT_EQ(port_names(d.added), Names{"vm1b"});
  EXPECT_EQ(d.summary(), "1 port added (vm1b), 1 port removed (vm1)");
}

// Each of these changes of vm2 needs its TAP re-created.
struct Recreate {
  const char* what;
  const char* from;
  const char* to;
};

TEST(ConfigDiff, PortWithOtherTapSettingsIsReplaced) {
  const Recreate cases[] = {
      {"queues", "queues = 2", "queues = 4"},
      {"mtu", "  vlan = 10\n", "  vlan = 10\n  mtu = 9000\n"},
      {"driver", "driver = \"rtap\"", "driver = \"tap\""},
      {"netns", "netns = \"ns2\"", "netns = \"other\""},
      {"no netns", "  netns = \"ns2\"\n", ""},
      {"mac", "mac = \"02:00:00:00:00:02\"", "mac = \"02:00:00:00:00:22\""},
      {"no mac", "  mac = \"02:00:00:00:00:02\"\n", ""},
      {"addresses", "[\"10.0.0.2/24\"]", "[\"10.0.0.2/24\", \"fd00::2/64\"]"},
      {"address order", "[\"10.0.0.2/24\"]", "[\"fd00::2/64\", \"10.0.0.2/24\"]"},
      {"persist", "  vlan = 10\n", "  vlan = 10\n  persist = true\n"},
  };
  const Config running = load(kBase);
  const PortConfig& before = *running.find_port("vm2");
  for (const Recreate& c : cases) {
    SCOPED_TRACE(c.what);
    const Config wanted = load(edit(kBase, c.from, c.to));
    const ConfigDiff d = diff_configs(running, wanted);
    ASSERT_EQ(d.replaced.size(), 1u) << d.summary();
    EXPECT_EQ(d.replaced[0].switch_name, "sw0");
    EXPECT_EQ(d.replaced[0].port, *wanted.find_port("vm2"));
    EXPECT_NE(d.replaced[0].port, before);
    EXPECT_EQ(d.replaced[0].previous_switch, "sw0");
    EXPECT_EQ(d.replaced[0].previous, before);
    EXPECT_TRUE(d.added.empty());
    EXPECT_TRUE(d.removed.empty());
    EXPECT_TRUE(d.retagged.empty());
    EXPECT_TRUE(d.restart_needed.empty());
    EXPECT_EQ(d.summary(), "1 port re-created (vm2)");
  }
}

// The VM side is made with the port: attaching, detaching or renaming it re-creates the port.
TEST(ConfigDiff, PortWithAnotherVmSideIsReplaced) {
  const std::string macvtap =
      edit(kBase, "  name = \"vm1\"\n", "  name = \"vm1\"\n  vm.macvtap = \"mvt1\"\n");
  const std::string tap = edit(macvtap, "vm.macvtap = \"mvt1\"", "vm.tap = \"vnet1\"");
  const Config base = load(kBase), with_macvtap = load(macvtap), with_tap = load(tap);
  for (const auto& [from, to] :
       {std::pair{&base, &with_macvtap}, std::pair{&with_macvtap, &with_tap},
        std::pair{&with_tap, &base}}) {
    const ConfigDiff d = diff_configs(*from, *to);
    EXPECT_EQ(d.summary(), "1 port re-created (vm1)");
  }
}

TEST(ConfigDiff, PortMovedToAnotherSwitchIsReplaced) {
  // vm1 leaves sw0 for sw1, with the same settings.
  std::string wanted = edit(kBase, "  [[switch.port]]\n  name = \"vm1\"\n", "");
  wanted += "  [[switch.port]]\n  name = \"vm1\"\n";
  const Config running = load(kBase);
  const ConfigDiff d = diff_configs(running, load(wanted));
  ASSERT_EQ(d.replaced.size(), 1u) << d.summary();
  EXPECT_EQ(d.replaced[0].switch_name, "sw1");
  EXPECT_EQ(d.replaced[0].port, *running.find_port("vm1"));  // the same port...
  EXPECT_EQ(d.replaced[0].previous_switch, "sw0");           // ...somewhere else
  EXPECT_EQ(d.replaced[0].previous, *running.find_port("vm1"));
  EXPECT_TRUE(d.added.empty());
  EXPECT_TRUE(d.removed.empty());
  EXPECT_TRUE(d.retagged.empty());
  EXPECT_TRUE(d.restart_needed.empty());
  EXPECT_EQ(d.summary(), "1 port re-created (vm1)");
}

TEST(ConfigDiff, VlanChangeTogetherWithATapChangeIsAReplace) {
  const Config wanted = load(edit(kBase, "  vlan = 10\n", "  vlan = 20\n  mtu = 1400\n"));
  const ConfigDiff d = diff_configs(load(kBase), wanted);
  ASSERT_EQ(d.replaced.size(), 1u);
  EXPECT_EQ(d.replaced[0].port.vlan, 20);
  EXPECT_EQ(d.replaced[0].previous.vlan, 10);
  EXPECT_TRUE(d.retagged.empty());
}

TEST(ConfigDiff, OnlyVlanSettingsChangedIsRetagged) {
  const Recreate cases[] = {
      {"access vlan", "  vlan = 10\n", "  vlan = 11\n"},
      {"access vlan to default", "  vlan = 10\n", ""},
      {"access to trunk", "  vlan = 10\n", "  vlan_mode = \"trunk\"\n  allowed_vlans = [10]\n"},
      {"allowed_vlans", "allowed_vlans = [10, 20]", "allowed_vlans = [10, 20, 30]"},
      {"allowed_vlans order", "allowed_vlans = [10, 20]", "allowed_vlans = [20, 10]"},
      {"native_vlan", "native_vlan = 10", "native_vlan = 20"},
      {"no native_vlan", "  native_vlan = 10\n", ""},
      {"trunk to access",
       "  vlan_mode = \"trunk\"\n  allowed_vlans = [10, 20]\n  native_vlan = 10\n",
       "  vlan = 30\n"},
  };
  const Config running = load(kBase);
  for (const Recreate& c : cases) {
    SCOPED_TRACE(c.what);
    const Config wanted = load(edit(kBase, c.from, c.to));
    const ConfigDiff d = diff_configs(running, wanted);
    ASSERT_EQ(d.retagged.size(), 1u) << d.summary();
    const std::string name = d.retagged[0].port.name;
    EXPECT_TRUE(name == "vm2" || name == "vm3") << name;
    EXPECT_EQ(d.retagged[0].switch_name, name == "vm2" ? "sw0" : "sw1");
    EXPECT_EQ(d.retagged[0].port, *wanted.find_port(name));
    EXPECT_NE(d.retagged[0].port, *running.find_port(name));
    EXPECT_TRUE(d.added.empty());
    EXPECT_TRUE(d.removed.empty());
    EXPECT_TRUE(d.replaced.empty());
    EXPECT_TRUE(d.restart_needed.empty());
    EXPECT_EQ(d.summary(), "1 port re-tagged (" + name + ")");
  }
}

// One [daemon] key changed from its value in kBase ([daemon] has only workers = 1 there).
struct DaemonCase {
  const char* line;      // added under [daemon]
  const char* expected;  // the one restart_needed entry
};

TEST(ConfigDiff, EveryDaemonKeyNeedsARestartAndIsNamed) {
  const DaemonCase cases[] = {
      {"file_prefix = \"vs2\"", "[daemon] file_prefix: \"vswitch\" -> \"vs2\""},
      {"main_core = 3", "[daemon] main_core: 0 -> 3"},
      {"worker_cores = [2]", "[daemon] worker_cores changed"},
      {"metrics_listen = \"[::1]:9100\"",
       "[daemon] metrics_listen: \"127.0.0.1:9464\" -> \"[::1]:9100\""},
      {"mbufs_per_worker = 16383", "[daemon] mbufs_per_worker: 8191 -> 16383"},
      {"restart_backoff_ms = 250", "[daemon] restart_backoff_ms: 100 -> 250"},
      {"control_socket = \"/tmp/vs.sock\"",
       "[daemon] control_socket: \"/run/vswitch/vswitchd.sock\" -> \"/tmp/vs.sock\""},
      {"actor_threads = 4", "[daemon] actor_threads: 2 -> 4"},
      {"crash_loop_limit = 9", "[daemon] crash_loop_limit: 5 -> 9"},
      {"control_max_clients = 9", "[daemon] control_max_clients: 64 -> 9"},
      {"metrics_request_timeout_ms = 900", "[daemon] metrics_request_timeout_ms: 5000 -> 900"},
  };
  const Config running = load(kBase);
  for (const DaemonCase& c : cases) {
    SCOPED_TRACE(c.line);
    const ConfigDiff d = diff_configs(
        running, load(edit(kBase, "workers = 1\n", "workers = 1\n" + std::string(c.line) + "\n")));
    EXPECT_EQ(d.restart_needed, Names{c.expected});
    EXPECT_TRUE(d.added.empty());
    EXPECT_TRUE(d.removed.empty());
    EXPECT_TRUE(d.replaced.empty());
    EXPECT_TRUE(d.retagged.empty());
    EXPECT_FALSE(d.empty());
    EXPECT_EQ(d.summary(), "needs a restart: " + std::string(c.expected));
  }
}

TEST(ConfigDiff, WorkersChangeNeedsARestart) {
  const ConfigDiff d = diff_configs(load(kBase), load(edit(kBase, "workers = 1", "workers = 2")));
  EXPECT_EQ(d.restart_needed, Names{"[daemon] workers: 1 -> 2"});
  EXPECT_EQ(d.summary(), "needs a restart: [daemon] workers: 1 -> 2");
}

TEST(ConfigDiff, RuntimeDirChangeAlsoMovesTheDefaultControlSocket) {
  const ConfigDiff d = diff_configs(
      load(kBase), load(edit(kBase, "workers = 1\n", "workers = 1\nruntime_dir = \"/tmp/vs\"\n")));
  EXPECT_EQ(d.restart_needed, (Names{"[daemon] runtime_dir: \"/run/vswitch\" -> \"/tmp/vs\"",
                                     "[daemon] control_socket: \"/run/vswitch/vswitchd.sock\" -> "
                                     "\"/tmp/vs/vswitchd.sock\""}));
}

TEST(ConfigDiff, ExplicitDefaultControlSocketIsNoChange) {
  const ConfigDiff d = diff_configs(
      load(kBase), load(edit(kBase, "workers = 1\n",
                             "workers = 1\ncontrol_socket = \"/run/vswitch/vswitchd.sock\"\n")));
  EXPECT_TRUE(d.empty()) << d.summary();
}

TEST(ConfigDiff, SwitchListChangeNeedsARestart) {
  const std::string kSwitchList = "the [[switch]] list (names or order) changed";
  const Config running = load(kBase);
  {
    SCOPED_TRACE("switch added");
    const ConfigDiff d = diff_configs(running, load(kBase + "\n[[switch]]\nname = \"sw2\"\n"));
    EXPECT_EQ(d.restart_needed, Names{kSwitchList});
    EXPECT_TRUE(d.added.empty());
    EXPECT_EQ(d.summary(), "needs a restart: " + kSwitchList);
  }
  {
    SCOPED_TRACE("switch renamed");
    const ConfigDiff d =
        diff_configs(running, load(edit(kBase, "name = \"sw1\"", "name = \"sw9\"")));
    EXPECT_EQ(d.restart_needed, Names{kSwitchList});
    // Its port is now in another switch.
    ASSERT_EQ(d.replaced.size(), 1u);
    EXPECT_EQ(d.replaced[0].port.name, "vm3");
    EXPECT_EQ(d.replaced[0].switch_name, "sw9");
    EXPECT_EQ(d.replaced[0].previous_switch, "sw1");
  }
  {
    SCOPED_TRACE("switch removed");
    const std::string wanted = kBase.substr(0, kBase.find("[[switch]]\nname = \"sw1\""));
    const ConfigDiff d = diff_configs(running, load(wanted));
    EXPECT_EQ(d.restart_needed, Names{kSwitchList});
    EXPECT_EQ(d.removed, Names{"vm3"});
  }
  {
    SCOPED_TRACE("switches swapped");
    const ConfigDiff d = diff_configs(load("[[switch]]\nname = \"a\"\n[[switch]]\nname = \"b\"\n"),
                                      load("[[switch]]\nname = \"b\"\n[[switch]]\nname = \"a\"\n"));
    EXPECT_EQ(d.restart_needed, Names{kSwitchList});
  }
}

TEST(ConfigDiff, SwitchFdbSettingsNeedARestart) {
  const DaemonCase cases[] = {
      {"fdb_max_entries = 100", "[[switch]] sw1 fdb_max_entries: 8192 -> 100"},
      {"fdb_aging_s = 60", "[[switch]] sw1 fdb_aging_s: 300 -> 60"},
      {"mac_limit_per_port = 16", "[[switch]] sw1 mac_limit_per_port: 0 -> 16"},
  };
  const Config running = load(kBase);
  for (const DaemonCase& c : cases) {
    SCOPED_TRACE(c.line);
    const ConfigDiff d = diff_configs(
        running,
        load(edit(kBase, "name = \"sw1\"\n", "name = \"sw1\"\n" + std::string(c.line) + "\n")));
    EXPECT_EQ(d.restart_needed, Names{c.expected});
    EXPECT_TRUE(d.added.empty() && d.removed.empty() && d.replaced.empty() && d.retagged.empty());
  }
}

TEST(ConfigDiff, StaticFdbChangeNeedsARestart) {
  const std::string with_fdb =
      kBase + "\n  [[switch.fdb]]\n  mac = \"02:00:00:00:00:0a\"\n  vlan = 10\n  port = \"vm3\"\n";
  const std::string kChanged = "[[switch]] sw1 fdb (static entries) changed";
  const Config running = load(kBase);
  EXPECT_EQ(diff_configs(running, load(with_fdb)).restart_needed, Names{kChanged});
  EXPECT_EQ(diff_configs(load(with_fdb), running).restart_needed, Names{kChanged});
  EXPECT_EQ(
      diff_configs(load(with_fdb), load(edit(with_fdb, "vlan = 10\n  port", "vlan = 20\n  port")))
          .restart_needed,
      Names{kChanged});
  EXPECT_EQ(diff_configs(load(with_fdb), load(edit(with_fdb, "00:0a", "00:0b"))).restart_needed,
            Names{kChanged});
  // The same entry written with upper-case hex is stored lower-case: no change.
  EXPECT_TRUE(diff_configs(load(with_fdb), load(edit(with_fdb, "00:0a", "00:0A"))).empty());
}

TEST(ConfigDiff, SeveralRestartReasonsAreAllListed) {
  const std::string wanted = edit(edit(kBase, "workers = 1\n", "workers = 2\nactor_threads = 3\n"),
                                  "name = \"sw1\"\n", "name = \"sw1\"\nfdb_aging_s = 20\n");
  const ConfigDiff d = diff_configs(load(kBase), load(wanted));
  EXPECT_EQ(d.restart_needed, (Names{"[daemon] workers: 1 -> 2", "[daemon] actor_threads: 2 -> 3",
                                     "[[switch]] sw1 fdb_aging_s: 300 -> 20"}));
  EXPECT_EQ(d.summary(),
            "needs a restart: [daemon] workers: 1 -> 2, [daemon] actor_threads: 2 -> 3, "
            "[[switch]] sw1 fdb_aging_s: 300 -> 20");
}

TEST(ConfigDiff, MixedChangeHasAnExactSummary) {
  // vm1 removed, vm2 re-created (MTU), vm3 re-tagged, vm4 and vm5 added, workers 1 -> 2.
  std::string wanted = edit(kBase, "  [[switch.port]]\n  name = \"vm1\"\n", "");
  wanted = edit(wanted, "  vlan = 10\n", "  vlan = 10\n  mtu = 9000\n");
  wanted = edit(wanted, "native_vlan = 10", "native_vlan = 20");
  wanted = edit(wanted, "workers = 1", "workers = 2");
  wanted += "  [[switch.port]]\n  name = \"vm4\"\n  [[switch.port]]\n  name = \"vm5\"\n";
  const ConfigDiff d = diff_configs(load(kBase), load(wanted));
  EXPECT_EQ(port_names(d.added), (Names{"vm4", "vm5"}));
  EXPECT_EQ(d.added[0].switch_name, "sw1");
  EXPECT_EQ(d.removed, Names{"vm1"});
  EXPECT_EQ(port_names(d.replaced), Names{"vm2"});
  EXPECT_EQ(port_names(d.retagged), Names{"vm3"});
  EXPECT_EQ(d.restart_needed, Names{"[daemon] workers: 1 -> 2"});
  EXPECT_EQ(d.summary(),
            "2 ports added (vm4, vm5), 1 port removed (vm1), 1 port re-created (vm2), "
            "1 port re-tagged (vm3), needs a restart: [daemon] workers: 1 -> 2");
}

TEST(ConfigDiff, PluralsInTheSummary) {
  const std::string two_ports = R"(
[[switch]]
name = "sw0"
  [[switch.port]]
  name = "a"
  [[switch.port]]
  name = "b"
)";
  const std::string retagged =
      edit(edit(two_ports, "\"a\"\n", "\"a\"\n  vlan = 2\n"), "\"b\"\n", "\"b\"\n  vlan = 3\n");
  const std::string recreated =
      edit(edit(two_ports, "\"a\"\n", "\"a\"\n  queues = 2\n"), "\"b\"\n", "\"b\"\n  queues = 2\n");
  const std::string empty_switch = "[[switch]]\nname = \"sw0\"\n";
  EXPECT_EQ(diff_configs(load(two_ports), load(retagged)).summary(), "2 ports re-tagged (a, b)");
  EXPECT_EQ(diff_configs(load(two_ports), load(recreated)).summary(), "2 ports re-created (a, b)");
  EXPECT_EQ(diff_configs(load(two_ports), load(empty_switch)).summary(), "2 ports removed (a, b)");
  EXPECT_EQ(diff_configs(load(empty_switch), load(two_ports)).summary(), "2 ports added (a, b)");
}

// ---- to_toml / toml_string ---------------------------------------------------------------------

// SwitchConfig has no operator==: compare it field by field.
void expect_same(const Config& a, const Config& b) {
  EXPECT_EQ(a.daemon, b.daemon);
  ASSERT_EQ(a.switches.size(), b.switches.size());
  for (std::size_t i = 0; i < a.switches.size(); ++i) {
    const SwitchConfig& x = a.switches[i];
    const SwitchConfig& y = b.switches[i];
    SCOPED_TRACE("switch " + x.name);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.ports, y.ports);
    EXPECT_EQ(x.fdb_max_entries, y.fdb_max_entries);
    EXPECT_EQ(x.fdb_aging_s, y.fdb_aging_s);
    EXPECT_EQ(x.mac_limit_per_port, y.mac_limit_per_port);
    EXPECT_EQ(x.fdb, y.fdb);
  }
}

// to_toml(c) loads back to c, and writing that again gives the same text.
void expect_round_trip(const Config& c, const std::string& what) {
  SCOPED_TRACE(what);
  const std::string text = to_toml(c);
  const LoadResult r = load_config_string(text, what + " (to_toml)");
  ASSERT_TRUE(r.ok()) << format_errors(r) << "--- to_toml wrote:\n" << text;
  expect_same(c, *r.config);
  EXPECT_TRUE(diff_configs(c, *r.config).empty()) << diff_configs(c, *r.config).summary();
  EXPECT_EQ(to_toml(*r.config), text);
}

TEST(ConfigToml, DefaultConfigFileRoundTrips) {
  const Config c = load(read_file(kSourceDir + "/config/vswitch.toml"), "vswitch.toml");
  ASSERT_EQ(c.port_count(), 2u);
  expect_round_trip(c, "config/vswitch.toml");
}

// Every file of the config corpora that loads: tests/data/config (today only the bad-file corpus,
// which config_test checks) and the config fuzzer's seeds (default.toml is valid).
TEST(ConfigToml, EveryValidCorpusFileRoundTrips) {
  std::vector<fs::path> files;
  for (const std::string& dir :
       {kDataDir + "/config", kSourceDir + "/tests/fuzz/corpus/config_fuzz"})
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() == ".toml") files.push_back(e.path());
  ASSERT_FALSE(files.empty());
  std::size_t valid = 0;
  for (const fs::path& f : files) {
    const LoadResult r = vs::config::load_config_file(f.string());
    if (!r.ok()) continue;
    ++valid;
    expect_round_trip(*r.config, f.string());
  }
  EXPECT_GE(valid, 1u);
}

TEST(ConfigToml, DocsExampleRoundTrips) {
  const std::string doc = read_file(kSourceDir + "/docs/config.md");
  const auto begin = doc.find("```toml\n");
  ASSERT_NE(begin, std::string::npos);
  const auto end = doc.find("```", begin + 8);
  ASSERT_NE(end, std::string::npos);
  expect_round_trip(load(doc.substr(begin + 8, end - begin - 8), "docs/config.md"),
                    "docs/config.md");
}

TEST(ConfigToml, EveryKeySetRoundTrips) {
  const Config c = load(R"(
[daemon]
file_prefix = "vs-test_1"
workers = 3
worker_cores = [5, 3, 4]
main_core = 1
metrics_listen = "[::1]:9100"
runtime_dir = "/tmp/vs dir/\"q\"\\b/é"
mbufs_per_worker = 16383
restart_backoff_ms = 250
control_socket = "/tmp/ctl.sock"
actor_threads = 7
crash_loop_limit = 11
control_max_clients = 100
control_request_timeout_ms = 2500
metrics_max_connections = 3
metrics_request_timeout_ms = 60000
metrics_threads = 4

[[switch]]
name = "core_sw-1"
fdb_max_entries = 1000
fdb_aging_s = 10
mac_limit_per_port = 4
  [[switch.port]]
  name = "uplink.0"
  driver = "rtap"
  queues = 16
  mtu = 9000
  mac = "02:AB:cd:00:00:01"
  netns = "ns.blue"
  addresses = ["192.168.1.1/32", "2001:db8::1/128"]
  persist = true
  vlan_mode = "trunk"
  allowed_vlans = [4094, 1, 100]
  native_vlan = 4094
  [[switch.port]]
  name = "t2"
  vlan_mode = "trunk"
  allowed_vlans = []
  vm.tap = "vnet-t2"
  [[switch.port]]
  name = "a1"
  vlan_mode = "access"
  vlan = 4094
  [switch.port.vm]
  macvtap = "mvt-a1"
  [[switch.fdb]]
  mac = "02:00:00:00:00:0A"
  vlan = 100
  port = "uplink.0"
  [[switch.fdb]]
  mac = "02:00:00:00:00:0b"
  port = "a1"

[[switch]]
name = "empty"
)");
  ASSERT_EQ(c.switches.size(), 2u);
  ASSERT_EQ(c.switches[0].fdb.size(), 2u);
  ASSERT_EQ(c.daemon.runtime_dir, "/tmp/vs dir/\"q\"\\b/\xc3\xa9");
  ASSERT_EQ(c.switches[0].ports[1].vm_tap, "vnet-t2");
  ASSERT_EQ(c.switches[0].ports[2].vm_macvtap, "mvt-a1");
  expect_round_trip(c, "every key set");
}

TEST(ConfigToml, DefaultsRoundTrip) {
  expect_round_trip(load("[[switch]]\nname = \"sw0\"\n"), "one empty switch");
  expect_round_trip(load(kBase), "kBase");
}

TEST(ConfigToml, ManySwitchesAndPortsRoundTrip) {
  std::string text;
  int port = 0;
  for (int s = 0; s < 64; ++s) {
    text += "[[switch]]\nname = \"s" + std::to_string(s) + "\"\n";
    for (int p = 0; p < 4; ++p) {
      text += "[[switch.port]]\nname = \"p" + std::to_string(port) +
              "\"\nvlan = " + std::to_string(port % 4094 + 1) + "\n";
      ++port;
    }
  }
  const Config c = load(text);
  ASSERT_EQ(c.port_count(), 256u);
  expect_round_trip(c, "64 switches, 256 ports");
}

TEST(ConfigToml, TomlStringEscapes) {
  EXPECT_EQ(toml_string(""), "\"\"");
  EXPECT_EQ(toml_string("sw0"), "\"sw0\"");
  EXPECT_EQ(toml_string("a\"b"), "\"a\\\"b\"");
  EXPECT_EQ(toml_string("a\\b"), "\"a\\\\b\"");
  EXPECT_EQ(toml_string("\\\""), "\"\\\\\\\"\"");
  EXPECT_EQ(toml_string("\n"), "\"\\u000a\"");
  EXPECT_EQ(toml_string("\t"), "\"\\u0009\"");
  EXPECT_EQ(toml_string("\r"), "\"\\u000d\"");
  EXPECT_EQ(toml_string(std::string(1, '\0')), "\"\\u0000\"");
  EXPECT_EQ(toml_string("\x01\x1f\x7f"), "\"\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(toml_string(" ~'"), "\" ~'\"");
  EXPECT_EQ(toml_string("\xc3\xa9\xe2\x82\xac"), "\"\xc3\xa9\xe2\x82\xac\"");  // UTF-8 as is
}

TEST(ConfigToml, TomlStringReadsBackAsTheSameString) {
  // Quotes, backslashes, spaces and UTF-8 are all allowed in runtime_dir.
  for (const std::string s : {"/a\"b", "/a\\b", "/\\\"\\\"", "/x\\u0041", "/#not a comment",
                              "/\xc3\xa9\xe2\x82\xac", "/'single'", "/a]b[c"}) {
    SCOPED_TRACE(s);
    const Config c =
        load("[daemon]\nruntime_dir = " + toml_string(s) + "\n[[switch]]\nname = \"sw0\"\n");
    EXPECT_EQ(c.daemon.runtime_dir, s);
  }
}

TEST(ConfigToml, TomlStringControlCharactersReadBackAsThemselves) {
  // No valid config holds control characters, but a static FDB entry's port is any string until
  // it is looked up: the error message shows what TOML decoded (each control byte as \xNN).
  const std::string s = std::string("x\x01\x1f\x7f\n\t\r\"\\") + '\0' + "y";
  const LoadResult r = load_config_string(
      "[[switch]]\nname = \"sw0\"\n[[switch.fdb]]\nmac = \"02:00:00:00:00:01\"\nport = " +
          toml_string(s) + "\n",
      "ctl.toml");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u) << format_errors(r);
  EXPECT_NE(
      r.errors[0].find(
          R"(static FDB entry names port "x\x01\x1f\x7f\x0a\x09\x0d\"\\\x00y", which is not)"),
      std::string::npos)
      << r.errors[0];
}

TEST(ConfigToml, ExtraPortIsAppendedToThatSwitch) {
  const Config running = load(kBase);
  const std::string text = to_toml(running, "sw0",
                                   "name = \"vm9\"\nmtu = 9000\nvlan = 10\n"
                                   "addresses = [\"10.9.9.9/24\"]\n");
  const Config c = load(text, "extra port");
  ASSERT_EQ(c.switches.size(), 2u);
  ASSERT_EQ(c.switches[0].ports.size(), 3u);
  EXPECT_EQ(c.switches[0].ports[0], running.switches[0].ports[0]);
  EXPECT_EQ(c.switches[0].ports[1], running.switches[0].ports[1]);
  PortConfig want;
  want.name = "vm9";
  want.mtu = 9000;
  want.vlan = 10;
  want.addresses = {"10.9.9.9/24"};
  EXPECT_EQ(c.switches[0].ports[2], want);
  EXPECT_EQ(c.switches[1].ports, running.switches[1].ports);
  EXPECT_EQ(c.daemon, running.daemon);

  const ConfigDiff d = diff_configs(running, c);
  ASSERT_EQ(d.added.size(), 1u);
  EXPECT_EQ(d.added[0].switch_name, "sw0");
  EXPECT_EQ(d.added[0].port, want);
  EXPECT_EQ(d.summary(), "1 port added (vm9)");
}

TEST(ConfigToml, ExtraPortGoesToTheLastSwitchAndBeforeItsStaticFdb) {
  // sw1 is last and has a static entry: the new port must still belong to sw1, and a static
  // entry may name it.
  const Config running = load(
      kBase + "\n  [[switch.fdb]]\n  mac = \"02:00:00:00:00:0a\"\n  vlan = 10\n  port = \"vm3\"\n");
  const Config c = load(to_toml(running, "sw1",
                                "name = \"vm9\"\nvlan_mode = \"trunk\"\n"
                                "allowed_vlans = [5, 6]\n"),
                        "extra port");
  ASSERT_EQ(c.switches.size(), 2u);
  EXPECT_EQ(c.switches[0].ports, running.switches[0].ports);
  ASSERT_EQ(c.switches[1].ports.size(), 2u);
  EXPECT_EQ(c.switches[1].ports[1].name, "vm9");
  EXPECT_EQ(c.switches[1].ports[1].vlan_mode, "trunk");
  EXPECT_EQ(c.switches[1].ports[1].allowed_vlans, (std::vector<int>{5, 6}));
  EXPECT_EQ(c.switches[1].fdb, running.switches[1].fdb);
  const ConfigDiff d = diff_configs(running, c);
  EXPECT_TRUE(d.restart_needed.empty());
  EXPECT_EQ(port_names(d.added), Names{"vm9"});
  EXPECT_EQ(d.added[0].switch_name, "sw1");
}

TEST(ConfigToml, ExtraPortIsCheckedByTheValidator) {
  const Config running = load(kBase);
  // Its name is taken by vm1 in sw0.
  const LoadResult dup = load_config_string(to_toml(running, "sw1", "name = \"vm1\"\n"), "dup");
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(format_errors(dup).find("duplicate port name"), std::string::npos)
      << format_errors(dup);
  const LoadResult bad =
      load_config_string(to_toml(running, "sw0", "name = \"vm9\"\nqueues = 0\n"), "bad");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(format_errors(bad).find("queues must be 1..16"), std::string::npos)
      << format_errors(bad);
}

TEST(ConfigToml, ExtraPortOfAnUnknownSwitchIsNotWritten) {
  const Config running = load(kBase);
  EXPECT_EQ(to_toml(running, "nosuch", "name = \"vm9\"\n"), to_toml(running));
  EXPECT_EQ(to_toml(running, "", "name = \"vm9\"\n"), to_toml(running));
}

}  // namespace
