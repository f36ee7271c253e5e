// [[switch.mirror]] (SPAN): parsing and validation with carets, the loop refusal, the TOML
// writer's round trip, the reload diff, and the runtime layer that `vswitchctl mirror add|del`
// keep in the drop-in directory (config/config_store.hpp).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "config/config.hpp"
#include "config/config_diff.hpp"
#include "config/config_store.hpp"
#include "config/config_toml.hpp"
#include "config_errors.hpp"

namespace {

namespace fs = std::filesystem;
using vs::config::ConfigStore;
using vs::config::format_errors;
using vs::config::LoadResult;
using vs::config::MirrorConfig;
using vstest::contains;

const std::string kPorts = R"([[switch]]
name = "sw0"
[[switch.port]]
name = "vm1"
[[switch.port]]
name = "vm2"
[[switch.port]]
name = "span0"
[[switch]]
name = "sw1"
[[switch.port]]
name = "vm5"
[[switch.port]]
name = "span1"
)";  // lines 1..14

LoadResult load(const std::string& text) {
  return vs::config::load_config_string(text, "test.toml");
}

// A mirror table appended to the first switch (TOML: a [[switch.mirror]] after [[switch]]
// sw1's ports would belong to sw1, so those tests say which).
std::string with_mirror(const std::string& body, const std::string& sw = "sw0") {
  std::string text = kPorts;
  if (sw == "sw0") {
    const auto at = text.find("[[switch]]\nname = \"sw1\"");
    return text.substr(0, at) + "[[switch.mirror]]\n" + body + text.substr(at);
  }
  return text + "[[switch.mirror]]\n" + body;
}

TEST(ConfigMirror, ParsesEveryKeyAndDefaultsToBoth) {
  const LoadResult r =
      load(with_mirror("name = \"m1\"\nsource_ports = [\"vm1\", \"vm2\"]\nsource_vlans = [10, 20]\n"
                       "output = \"span0\"\n"));
  ASSERT_TRUE(r.ok()) << format_errors(r);
  const MirrorConfig* m = r.config->find_mirror("m1");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->source_ports, (std::vector<std::string>{"vm1", "vm2"}));
  EXPECT_EQ(m->source_vlans, (std::vector<int>{10, 20}));
  EXPECT_EQ(m->direction, "both");
  EXPECT_EQ(m->output, "span0");
  EXPECT_EQ(r.config->switches[0].mirrors.size(), 1u);
  EXPECT_TRUE(r.config->switches[1].mirrors.empty());
}

TEST(ConfigMirror, VlansAloneAreASource) {
  const LoadResult r = load(
      with_mirror("name = \"v\"\nsource_vlans = [7]\ndirection = \"in\"\noutput = \"span0\"\n"));
  ASSERT_TRUE(r.ok()) << format_errors(r);
  EXPECT_EQ(r.config->find_mirror("v")->direction, "in");
}

// Each mistake: one error, at its line, with a caret and a hint.
struct Bad {
  std::string body;
  std::string sw;
  int line;
  std::string message;
};

TEST(ConfigMirror, EachMistakeIsOneErrorWithLineAndCaret) {
  const Bad cases[] = {
      {"name = \"m1\"\nsource_ports = [\"vm1\"]\noutput = \"vm5\"\n", "sw0", 12,
       "output port \"vm5\" is a port of switch \"sw1\", not of switch \"sw0\""},
      {"name = \"m1\"\nsource_ports = [\"nope\"]\noutput = \"span0\"\n", "sw0", 11,
       "source port \"nope\" is not a port of switch \"sw0\""},
      {"name = \"m1\"\nsource_ports = [\"vm1\"]\n", "sw0", 9, "missing key \"output\""},
      {"name = \"m1\"\noutput = \"span0\"\n", "sw0", 9, "a mirror needs a source"},
      {"name = \"m1\"\nsource_vlans = [4095]\noutput = \"span0\"\n", "sw0", 11,
       "source_vlans entries must be 1..4094"},
      {"name = \"m 1\"\nsource_vlans = [1]\noutput = \"span0\"\n", "sw0", 10,
       "name must be 1..31 characters"},
      {"name = \"m1\"\nsource_vlans = [1]\noutput = \"span0\"\nsnaplen = 3\n", "sw0", 13,
       "unknown key \"snaplen\""},
      {"name = \"m1\"\nsource_ports = \"vm1\"\noutput = \"span0\"\n", "sw0", 11,
       "source_ports must be an array of strings"},
      {"name = \"m1\"\nsource_ports = [\"vm5\"]\noutput = \"span1\"\n", "sw1", 17, ""},
  };
  for (const Bad& c : cases) {
    const LoadResult r = load(with_mirror(c.body, c.sw));
    if (c.message.empty()) {  // the valid control case of sw1
      EXPECT_TRUE(r.ok()) << format_errors(r);
      continue;
    }
    vstest::expect_one_located_error(r, c.body, c.line, c.message);
  }
}

TEST(ConfigMirror, AnOutputThatIsASourceIsALoopAndIsRefusedAtBothPlaces) {
  const LoadResult r = load(with_mirror(
      "name = \"a\"\nsource_ports = [\"vm1\"]\noutput = \"span0\"\n"
      "[[switch.mirror]]\nname = \"b\"\nsource_ports = [\"span0\"]\noutput = \"vm2\"\n"));
  ASSERT_EQ(r.errors.size(), 1u) << format_errors(r);
  const std::string& e = r.errors[0];
  EXPECT_TRUE(contains(e, "output port \"span0\" is also the source of a mirror")) << e;
  EXPECT_TRUE(contains(e, " 12 | output = \"span0\"")) << e;          // the output
  EXPECT_TRUE(contains(e, " 15 | source_ports = [\"span0\"]")) << e;  // and the source
  EXPECT_TRUE(contains(e, "never a source")) << e;
  // A mirror of its own output is the same loop.
  EXPECT_FALSE(
      load(with_mirror("name = \"c\"\nsource_ports = [\"span0\"]\noutput = \"span0\"\n")).ok());
}

TEST(ConfigMirror, NamesAreUniqueAcrossSwitches) {
  std::string text = with_mirror("name = \"m\"\nsource_ports = [\"vm1\"]\noutput = \"span0\"\n");
  text += "[[switch.mirror]]\nname = \"m\"\nsource_ports = [\"vm5\"]\noutput = \"span1\"\n";
  const LoadResult r = load(text);
  ASSERT_EQ(r.errors.size(), 1u) << format_errors(r);
  EXPECT_TRUE(contains(r.errors[0], "duplicate mirror name")) << r.errors[0];
}

TEST(ConfigMirror, TwoMirrorsMayShareAnOutput) {
  const LoadResult r =
      load(with_mirror("name = \"a\"\nsource_ports = [\"vm1\"]\noutput = \"span0\"\n"
                       "[[switch.mirror]]\nname = \"b\"\nsource_vlans = [1]\ndirection = \"out\"\n"
                       "output = \"span0\"\n"));
  EXPECT_TRUE(r.ok()) << format_errors(r);
}

TEST(ConfigMirror, TheTomlWriterRoundTrips) {
  const LoadResult r = load(with_mirror(
      "name = \"a\"\nsource_ports = [\"vm1\"]\nsource_vlans = [3]\ndirection = \"out\"\n"
      "output = \"span0\"\n"));
  ASSERT_TRUE(r.ok()) << format_errors(r);
  const LoadResult again = load(vs::config::to_toml(*r.config));
  ASSERT_TRUE(again.ok()) << format_errors(again);
  EXPECT_EQ(again.config->switches[0].mirrors, r.config->switches[0].mirrors);
}

TEST(ConfigMirror, TheDiffNamesMirrorsAndTouchesNoPort) {
  const std::string a = "name = \"a\"\nsource_ports = [\"vm1\"]\noutput = \"span0\"\n";
  const LoadResult base = load(with_mirror(a));
  const LoadResult changed = load(
      with_mirror("name = \"a\"\nsource_ports = [\"vm2\"]\noutput = \"span0\"\n"
                  "[[switch.mirror]]\nname = \"n\"\nsource_vlans = [1]\noutput = \"span0\"\n"));
  const LoadResult none = load(kPorts);
  ASSERT_TRUE(base.ok() && changed.ok() && none.ok());
  auto d = vs::config::diff_configs(*base.config, *changed.config);
  EXPECT_EQ(d.mirrors_changed, (std::vector<std::string>{"a"}));
  EXPECT_EQ(d.mirrors_added, (std::vector<std::string>{"n"}));
  EXPECT_TRUE(d.added.empty() && d.removed.empty() && d.replaced.empty() && d.retagged.empty());
  EXPECT_TRUE(d.restart_needed.empty());
  EXPECT_FALSE(d.empty());
  EXPECT_EQ(d.summary(), "1 mirror added (n), 1 mirror changed (a)");
  d = vs::config::diff_configs(*base.config, *none.config);
  EXPECT_EQ(d.mirrors_removed, (std::vector<std::string>{"a"}));
  EXPECT_TRUE(vs::config::diff_configs(*base.config, *base.config).empty());
}

class MirrorStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vs_mirror_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    main_ = root_ + "/vswitch.toml";
    std::ofstream(main_) << with_mirror(
        "name = \"base\"\nsource_ports = [\"vm1\"]\noutput = \"span0\"\n");
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string read(const std::string& path) const {
    std::ifstream f(path);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
  }
  std::string root_, main_;
};

TEST_F(MirrorStoreTest, AddAndDelAreRecordedAndTheMainFileIsNotWritten) {
  const std::string main_text = read(main_);
  const ConfigStore store(main_);
  std::string error;
  MirrorConfig m;
  m.name = "rt";
  m.source_vlans = {5};
  m.direction = "in";
  m.output = "span1";
  auto c = store.plan_mirror_add("sw1", m, error);
  ASSERT_TRUE(c) << error;
  ASSERT_TRUE(store.write(*c, error)) << error;
  LoadResult r = vs::config::load_config_file(main_);
  ASSERT_TRUE(r.ok()) << format_errors(r);
  ASSERT_NE(r.config->find_mirror("rt"), nullptr);
  EXPECT_EQ(*r.config->find_mirror("rt"), m);
  EXPECT_EQ(r.mirror_files.at("rt"), store.runtime_path());
  // The main file's mirror, deleted: a removal record.
  c = store.plan_mirror_del("base", error);
  ASSERT_TRUE(c) << error;
  ASSERT_TRUE(store.write(*c, error)) << error;
  EXPECT_TRUE(contains(read(store.runtime_path()), "[remove]\nmirrors = [\"base\"]\n"))
      << read(store.runtime_path());
  r = vs::config::load_config_file(main_);
  ASSERT_TRUE(r.ok()) << format_errors(r);
  EXPECT_EQ(r.config->find_mirror("base"), nullptr);
  // The runtime mirror, deleted: forgotten.
  c = store.plan_mirror_del("rt", error);
  ASSERT_TRUE(c) << error;
  ASSERT_TRUE(store.write(*c, error)) << error;
  r = vs::config::load_config_file(main_);
  ASSERT_TRUE(r.ok()) << format_errors(r);
  EXPECT_EQ(r.config->find_mirror("rt"), nullptr);
  EXPECT_EQ(read(main_), main_text);
}

TEST_F(MirrorStoreTest, AMirrorThatWouldLoopIsNotRecorded) {
  const ConfigStore store(main_);
  std::string error;
  MirrorConfig m;
  m.name = "loop";
  m.source_ports = {"span0"};
  m.output = "vm2";
  EXPECT_FALSE(store.plan_mirror_add("sw0", m, error));
  EXPECT_TRUE(contains(error, "is also the source of a mirror")) << error;
  EXPECT_FALSE(fs::exists(store.runtime_path()));
}

}  // namespace
