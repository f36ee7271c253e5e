// Drop-in files (docs/config.md, "Drop-in files"): how the loader merges <stem>.d/*.toml into the
// main file, where its errors point, the atomic writer, and the runtime layer that `vswitchctl
// port add/del` keep in the drop-in directory (config/config_store.hpp).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/atomic_file.hpp"
#include "config/config.hpp"
#include "config/config_store.hpp"

namespace {

namespace fs = std::filesystem;
using vs::config::ConfigStore;
using vs::config::FileChange;
using vs::config::format_errors;
using vs::config::LoadOptions;
using vs::config::LoadResult;
using vs::config::PortConfig;

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> port_names(const LoadResult& r) {
  std::vector<std::string> out;
  if (!r.config) return out;
  for (const auto& sw : r.config->switches)
    for (const auto& p : sw.ports) out.push_back(sw.name + "/" + p.name);
  return out;
}

using Names = std::vector<std::string>;

// Line 1..: the main file, with comments that must survive every runtime change byte for byte.
const std::string kMain =
    "# the operator's file: comments and layout are theirs\n"  // 1
    "[daemon]\n"                                               // 2
    "file_prefix = \"vsdropin\"\n"                             // 3
    "\n"                                                       // 4
    "[[switch]]\n"                                             // 5
    "name = \"sw0\"  # the only switch\n"                      // 6
    "\n"                                                       // 7
    "[[switch.port]]\n"                                        // 8
    "name = \"vm1\"\n"                                         // 9
    "\n"                                                       // 10
    "[[switch.port]]\n"                                        // 11
    "name = \"vm2\"\n";                                        // 12

class DropinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vs_dropin_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    main_ = root_ + "/vswitch.toml";
    dir_ = root_ + "/vswitch.d";
    write_file(main_, kMain);
  }
  void TearDown() override { fs::remove_all(root_); }

  void dropin(const std::string& name, const std::string& text) {
    fs::create_directories(dir_);
    write_file(dir_ + "/" + name, text);
  }
  LoadResult load() const { return vs::config::load_config_file(main_); }

  std::string root_, main_, dir_;
};

TEST(DropinNames, DirectoryIsTheStemDotD) {
  EXPECT_EQ(vs::config::dropin_dir_for("/etc/vswitch/vswitch.toml"), "/etc/vswitch/vswitch.d");
  EXPECT_EQ(vs::config::dropin_dir_for("/etc/vswitch/lab.conf"), "/etc/vswitch/lab.d");
  EXPECT_EQ(vs::config::dropin_dir_for("/etc/vswitch/noext"), "/etc/vswitch/noext.d");
  EXPECT_EQ(vs::config::dropin_dir_for("vswitch.toml"), "vswitch.d");
  EXPECT_EQ(vs::config::dropin_dir_for("/x/.hidden"), "/x/.hidden.d");
}

TEST(DropinNames, OnlyVisibleTomlFilesAreMerged) {
  EXPECT_TRUE(vs::config::is_dropin_name("10-vms.toml"));
  EXPECT_TRUE(vs::config::is_dropin_name("zz-vswitchctl.toml"));
  EXPECT_FALSE(vs::config::is_dropin_name(".zz-vswitchctl.toml.tmp-Ab12Cd"));  // our temp file
  EXPECT_FALSE(vs::config::is_dropin_name(".#10-vms.toml"));                   // emacs lock
  EXPECT_FALSE(vs::config::is_dropin_name("10-vms.toml.swp"));
  EXPECT_FALSE(vs::config::is_dropin_name("10-vms.toml~"));
  EXPECT_FALSE(vs::config::is_dropin_name(".toml"));
  EXPECT_FALSE(vs::config::is_dropin_name("README"));
}

TEST_F(DropinTest, NoDirectoryMeansTheMainFileAlone) {
  const LoadResult r = load();
  ASSERT_TRUE(r.ok()) << format_errors(r);
  EXPECT_TRUE(r.dropins.empty());
  EXPECT_EQ(port_names(r), (Names{"sw0/vm1", "sw0/vm2"}));
  EXPECT_EQ(r.port_files.at("vm1"), main_);
}

TEST_F(DropinTest, DropinsAddPortsInNameOrder) {
  dropin("20-b.toml", "[[switch]]\nname = \"sw0\"\n[[switch.port]]\nname = \"vm4\"\nqueues = 2\n");
  dropin("10-a.toml", "[[switch]]\nname = \"sw0\"\n[[switch.port]]\nname = \"vm3\"\n");
  const LoadResult r = load();
  ASSERT_TRUE(r.ok()) << format_errors(r);
  EXPECT_EQ(r.dropins, (Names{dir_ + "/10-a.toml", dir_ + "/20-b.toml"}));
  EXPECT_EQ(port_names(r), (Names{"sw0/vm1", "sw0/vm2", "sw0/vm3", "sw0/vm4"}));
  EXPECT_EQ(r.config->find_port("vm4")->queues, 2);
  EXPECT_EQ(r.port_files.at("vm3"), dir_ + "/10-a.toml");
  EXPECT_EQ(r.port_files.at("vm4"), dir_ + "/20-b.toml");
}

TEST_F(DropinTest, TempFilesHiddenFilesAndOtherNamesAreIgnored) {
  dropin("10-a.toml", "[[switch]]\nname = \"sw0\"\n[[switch.port]]\nname = \"vm3\"\n");
  // What a writer killed mid-write leaves, half written: it must never be merged.
  dropin(".zz-vswitchctl.toml.tmp-Q1w2E3", "[[switch]]\nname = \"sw0\"\n[[switch.port]\nna");
  dropin(".#10-a.toml", "garbage = [");
  dropin("10-a.toml.swp", "garbage = [");
  dropin("README", "not toml at all [[[");
  fs::create_directories(dir_ + "/sub.toml");  // a directory, not a file
  const LoadResult r = load();
  ASSERT_TRUE(r.ok()) << format_errors(r);
  EXPECT_EQ(r.dropins, (Names{dir_ + "/10-a.toml"}));
  EXPECT_EQ(port_names(r), (Names{"sw0/vm1", "sw0/vm2", "sw0/vm3"}));
}

TEST_F(DropinTest, AnErrorInADropinNamesItsFileLineAndCaret) {
  dropin("10-a.toml",
         "# a hand-written drop-in\n"  // 1
         "[[switch]]\n"                // 2
         "name = \"sw0\"\n"            // 3
         "[[switch.port]]\n"           // 4
         "name = \"vm3\"\n"            // 5
         "queues = 17\n");             // 6
  const LoadResult r = load();
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u) << format_errors(r);
  const std::string& e = r.errors[0];
  EXPECT_TRUE(contains(e, "[error] port \"vm3\": queues must be 1..16")) << e;
  EXPECT_TRUE(contains(e, " --> " + dir_ + "/10-a.toml")) << e;
  EXPECT_TRUE(contains(e, " 6 | queues = 17")) << e;
  EXPECT_TRUE(contains(e, "   |          ~~ got 17")) << e;
  EXPECT_FALSE(contains(e, main_ + "\n")) << e;
}

TEST_F(DropinTest, ErrorsAreInFileOrderMainFileFirst) {
  write_file(main_, kMain + "mtu = 1\n");  // line 13, port vm2
  dropin("10-a.toml", "[[switch]]\nname = \"sw0\"\n[[switch.port]]\nname = \"vm3\"\nmtu = 2\n");
  dropin("05-z.toml", "[[switch]]\nname = \"sw0\"\n[[switch.port]]\nname = \"vm4\"\nmtu = 3\n");
  const LoadResult r = load();
  ASSERT_EQ(r.errors.size(), 3u) << format_errors(r);
  EXPECT_TRUE(contains(r.errors[0], " --> " + main_)) << r.errors[0];
  EXPECT_TRUE(contains(r.errors[0], "13 | mtu = 1")) << r.errors[0];
  EXPECT_TRUE(contains(r.errors[1], " --> " + dir_ + "/05-z.toml")) << r.errors[1];
  EXPECT_TRUE(contains(r.errors[1], " 5 | mtu = 3")) << r.errors[1];
  EXPECT_TRUE(contains(r.errors[2], " --> " + dir_ + "/10-a.toml")) << r.errors[2];
}

TEST_F(DropinTest, ASyntaxErrorInADropinNamesIt) {
  dropin("10-a.toml", "[[switch]]\nname = \"sw0\"\n\n[[switch.port]]\nname = = \"vm3\"\n");
  const LoadResult r = load();
  ASSERT_EQ(r.errors.size(), 1u) << format_errors(r);
  EXPECT_TRUE(contains(r.errors[0], dir_ + "/10-a.toml")) << r.errors[0];
  EXPECT_TRUE(contains(r.errors[0], " 5 | name = = \"vm3\"")) << r.errors[0];
  EXPECT_TRUE(contains(r.errors[0], "not valid TOML")) << r.errors[0];
}

TEST_F(DropinTest, APortOfTheMainFileDefinedAgainShowsBothFiles) {
  dropin("10-a.toml", "[[switch]]\nname = \"sw0\"\n[[switch.port]]\nname = \"vm2\"\n");
  const LoadResult r = load();
  ASSERT_EQ(r.errors.size(), 1u) << format_errors(r);
  const std::string& e = r.errors[0];
  EXPECT_TRUE(contains(e, "duplicate port name")) << e;
  EXPECT_TRUE(contains(e, main_)) << e;
  EXPECT_TRUE(contains(e, "12 | name = \"vm2\"")) << e;
  EXPECT_TRUE(contains(e, dir_ + "/10-a.toml")) << e;
  EXPECT_TRUE(contains(e, " 4 | name = \"vm2\"")) << e;
}

TEST_F(DropinTest, ADropinMayNotSetDaemonKeysOrSwitchSettingsOrMakeASwitch) {
  dropin("10-a.toml",
         "[daemon]\n"          // 1
         "workers = 2\n"       // 2
         "\n"                  // 3
         "[[switch]]\n"        // 4
         "name = \"sw0\"\n"    // 5
         "fdb_aging_s = 60\n"  // 6
         "\n"                  // 7
         "[[switch]]\n"        // 8
         "name = \"sw9\"\n"    // 9
         "[[switch.port]]\n"   // 10
         "name = \"vm9\"\n"    // 11
         "bogus = 1\n");       // 12 (not reached: the switch is refused)
  const LoadResult r = load();
  ASSERT_EQ(r.errors.size(), 3u) << format_errors(r);
  EXPECT_TRUE(contains(r.errors[0], "[daemon] may only be set in the main file")) << r.errors[0];
  EXPECT_TRUE(contains(r.errors[0], dir_ + "/10-a.toml")) << r.errors[0];
  EXPECT_TRUE(contains(r.errors[1], "fdb_aging_s may only be set in the main file")) << r.errors[1];
  EXPECT_TRUE(contains(r.errors[1], " 6 | fdb_aging_s = 60")) << r.errors[1];
  EXPECT_TRUE(contains(r.errors[2], "no switch named \"sw9\" in the main file")) << r.errors[2];
  EXPECT_TRUE(contains(r.errors[2], " 9 | name = \"sw9\"")) << r.errors[2];
}

TEST_F(DropinTest, AnUnknownKeyInADropinListsWhatADropinMayHold) {
  dropin("10-a.toml", "[[switch]]\nname = \"sw0\"\nprot = []\n\n[remvoe]\nports = []\n");
  const LoadResult r = load();
  ASSERT_EQ(r.errors.size(), 2u) << format_errors(r);
  EXPECT_TRUE(contains(r.errors[0], "unknown key \"prot\"")) << r.errors[0];
  EXPECT_TRUE(contains(r.errors[0],
                       "allowed keys in a drop-in's [[switch]]: name, port, mirror; did you "
                       "mean \"port\"?"))
      << r.errors[0];
  EXPECT_TRUE(contains(r.errors[1],
                       "allowed keys in a drop-in: switch, remove; did you mean "
                       "\"remove\"?"))
      << r.errors[1];
}

TEST_F(DropinTest, RemoveTakesOutPortsOfEarlierFilesOnly) {
  dropin("10-a.toml", "[[switch]]\nname = \"sw0\"\n[[switch.port]]\nname = \"vm3\"\n");
  // 05 sorts before 10: vm3 does not exist yet there, so it stays.
  dropin("05-r.toml", "[remove]\nports = [\"vm1\", \"vm3\"]\n");
  const LoadResult r = load();
  ASSERT_TRUE(r.ok()) << format_errors(r);
  EXPECT_EQ(port_names(r), (Names{"sw0/vm2", "sw0/vm3"}));
  EXPECT_EQ(r.removals.at(dir_ + "/05-r.toml"), (Names{"vm1", "vm3"}));
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_TRUE(contains(r.notes[0], dir_ + "/05-r.toml:2: [remove] lists port \"vm3\""))
      << r.notes[0];
}

TEST_F(DropinTest, ARemovedPortMayBeDefinedAgainByALaterDropin) {
  dropin("50-r.toml",
         "[remove]\nports = [\"vm2\"]\n[[switch]]\nname = \"sw0\"\n"
         "[[switch.port]]\nname = \"vm2\"\nqueues = 4\n");
  const LoadResult r = load();
  ASSERT_TRUE(r.ok()) << format_errors(r);
  EXPECT_EQ(port_names(r), (Names{"sw0/vm1", "sw0/vm2"}));
  EXPECT_EQ(r.config->find_port("vm2")->queues, 4);
  EXPECT_EQ(r.port_files.at("vm2"), dir_ + "/50-r.toml");
}

TEST_F(DropinTest, RemovingAPortWithAStaticEntryIsAnErrorAtTheEntry) {
  write_file(main_, kMain + "\n[[switch.fdb]]\nmac = \"02:00:00:00:00:0a\"\nport = \"vm2\"\n");
  dropin("50-r.toml", "[remove]\nports = [\"vm2\"]\n");
  const LoadResult r = load();
  ASSERT_EQ(r.errors.size(), 1u) << format_errors(r);
  EXPECT_TRUE(contains(r.errors[0], "static FDB entry names port \"vm2\"")) << r.errors[0];
  EXPECT_TRUE(contains(r.errors[0], "16 | port = \"vm2\"")) << r.errors[0];
}

TEST_F(DropinTest, ABadRemoveTableIsReported) {
  dropin("50-r.toml", "[remove]\nports = \"vm2\"\nport = [\"vm1\"]\n");
  const LoadResult r = load();
  ASSERT_EQ(r.errors.size(), 2u) << format_errors(r);
  EXPECT_TRUE(contains(r.errors[0], "ports must be an array of strings")) << r.errors[0];
  EXPECT_TRUE(contains(r.errors[1], "unknown key \"port\"")) << r.errors[1];
  EXPECT_TRUE(contains(r.errors[1], "did you mean \"ports\"")) << r.errors[1];
}

TEST_F(DropinTest, OverridesStandInForTheDisk) {
  dropin("10-a.toml", "[[switch]]\nname = \"sw0\"\n[[switch.port]]\nname = \"vm3\"\n");
  LoadOptions o;
  o.overrides[dir_ + "/10-a.toml"] = std::nullopt;
  o.overrides[dir_ + "/20-b.toml"] = "[remove]\nports = [\"vm1\"]\n";
  const LoadResult r = vs::config::load_config_file(main_, o);
  ASSERT_TRUE(r.ok()) << format_errors(r);
  EXPECT_EQ(port_names(r), (Names{"sw0/vm2"}));
  EXPECT_EQ(r.dropins, (Names{dir_ + "/20-b.toml"}));
  EXPECT_FALSE(fs::exists(dir_ + "/20-b.toml"));
  LoadOptions none;
  none.dropins = false;
  EXPECT_EQ(port_names(vs::config::load_config_file(main_, none)), (Names{"sw0/vm1", "sw0/vm2"}));
}

// ---- the atomic writer ----------------------------------------------------------------------

int failing_rename(const char*, const char*) {
  errno = EROFS;
  return -1;
}
int failing_fsync(int) {
  errno = ENOSPC;
  return -1;
}

TEST_F(DropinTest, AtomicWriteCreatesTheDirectoryAndLeavesNoTempFile) {
  std::string error;
  ASSERT_TRUE(vs::config::write_file_atomically(dir_ + "/zz-x.toml", "a = 1\n", error)) << error;
  EXPECT_EQ(read_file(dir_ + "/zz-x.toml"), "a = 1\n");
  ASSERT_TRUE(vs::config::write_file_atomically(dir_ + "/zz-x.toml", "a = 2\n", error)) << error;
  EXPECT_EQ(read_file(dir_ + "/zz-x.toml"), "a = 2\n");
  EXPECT_EQ(names_in(dir_), (Names{"zz-x.toml"}));
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/zz-x.toml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(DropinTest, AFailingRenameLeavesTheOldFileAndNoTempFile) {
  std::string error;
  ASSERT_TRUE(vs::config::write_file_atomically(dir_ + "/zz-x.toml", "old = 1\n", error));
  vs::config::FileOps ops = vs::config::default_file_ops();
  ops.rename = failing_rename;
  EXPECT_FALSE(vs::config::write_file_atomically(dir_ + "/zz-x.toml", "new = 1\n", error, ops));
  EXPECT_EQ(read_file(dir_ + "/zz-x.toml"), "old = 1\n");
  EXPECT_EQ(names_in(dir_), (Names{"zz-x.toml"}));
  EXPECT_EQ(error, "cannot replace " + dir_ +
                       "/zz-x.toml: Read-only file system (the file "
                       "system is read-only: remount " +
                       dir_ + " read-write)");
  ops = vs::config::default_file_ops();
  ops.fsync = failing_fsync;
  EXPECT_FALSE(vs::config::write_file_atomically(dir_ + "/zz-x.toml", "new = 1\n", error, ops));
  EXPECT_EQ(read_file(dir_ + "/zz-x.toml"), "old = 1\n");
  EXPECT_EQ(names_in(dir_), (Names{"zz-x.toml"}));
  EXPECT_TRUE(contains(error, "No space left on device (the disk is full")) << error;
}

TEST_F(DropinTest, RemoveDurablyIsFineWithAMissingFile) {
  std::string error;
  EXPECT_TRUE(vs::config::remove_file_durably(dir_ + "/nothing.toml", error)) << error;
  dropin("a.toml", "");
  EXPECT_TRUE(vs::config::remove_file_durably(dir_ + "/a.toml", error)) << error;
  EXPECT_FALSE(fs::exists(dir_ + "/a.toml"));
}

// ---- the runtime layer ----------------------------------------------------------------------

PortConfig port(const std::string& name, int queues = 1) {
  PortConfig p;
  p.name = name;
  p.driver = "rtap";
  p.queues = queues;
  p.netns = "ns-" + name;
  p.addresses = {"10.9.0.3/24"};
  return p;
}

TEST_F(DropinTest, PortAddIsRecordedInTheRuntimeDropinAndTheMainFileIsNotWritten) {
  const ConfigStore store(main_);
  EXPECT_EQ(store.runtime_path(), dir_ + "/zz-vswitchctl.toml");
  std::string error;
  const auto c = store.plan_port_add("sw0", port("vm3", 2), error);
  ASSERT_TRUE(c) << error;
  EXPECT_FALSE(c->before);
  ASSERT_TRUE(c->after);
  EXPECT_FALSE(fs::exists(c->path)) << "planning writes nothing";
  ASSERT_TRUE(store.write(*c, error)) << error;
  EXPECT_EQ(read_file(main_), kMain);
  const LoadResult r = load();
  ASSERT_TRUE(r.ok()) << format_errors(r);
  EXPECT_EQ(port_names(r), (Names{"sw0/vm1", "sw0/vm2", "sw0/vm3"}));
  EXPECT_EQ(*r.config->find_port("vm3"), port("vm3", 2));
  EXPECT_EQ(r.port_files.at("vm3"), store.runtime_path());
  EXPECT_TRUE(contains(read_file(c->path), "# Written by vswitchd")) << read_file(c->path);

  // A second port joins the same file; the first stays as it was.
  const auto c2 = store.plan_port_add("sw0", port("vm4"), error);
  ASSERT_TRUE(c2) << error;
  EXPECT_EQ(c2->before, c->after);
  ASSERT_TRUE(store.write(*c2, error)) << error;
  EXPECT_EQ(port_names(load()), (Names{"sw0/vm1", "sw0/vm2", "sw0/vm3", "sw0/vm4"}));
  EXPECT_EQ(read_file(main_), kMain);
}

TEST_F(DropinTest, PortDelOfARuntimePortForgetsItAndTheLastOneRemovesTheFile) {
  const ConfigStore store(main_);
  std::string error;
  ASSERT_TRUE(store.write(*store.plan_port_add("sw0", port("vm3"), error), error)) << error;
  const auto c = store.plan_port_del("vm3", error);
  ASSERT_TRUE(c) << error;
  EXPECT_FALSE(c->after) << "an empty layer is no file";
  ASSERT_TRUE(store.write(*c, error)) << error;
  EXPECT_FALSE(fs::exists(store.runtime_path()));
  EXPECT_EQ(port_names(load()), (Names{"sw0/vm1", "sw0/vm2"}));
  EXPECT_EQ(read_file(main_), kMain);
}

TEST_F(DropinTest, PortDelOfAMainFilePortIsARemovalRecordAndPortAddBringsItBack) {
  const ConfigStore store(main_);
  std::string error;
  auto c = store.plan_port_del("vm2", error);
  ASSERT_TRUE(c) << error;
  ASSERT_TRUE(store.write(*c, error)) << error;
  EXPECT_TRUE(contains(read_file(store.runtime_path()), "[remove]\nports = [\"vm2\"]\n"));
  LoadResult r = load();
  EXPECT_EQ(port_names(r), (Names{"sw0/vm1"}));
  EXPECT_TRUE(r.notes.empty());
  // Added again at run time, with other settings: the record stays, the new port follows it.
  c = store.plan_port_add("sw0", port("vm2", 4), error);
  ASSERT_TRUE(c) << error;
  ASSERT_TRUE(store.write(*c, error)) << error;
  r = load();
  ASSERT_TRUE(r.ok()) << format_errors(r);
  EXPECT_EQ(port_names(r), (Names{"sw0/vm1", "sw0/vm2"}));
  EXPECT_EQ(r.config->find_port("vm2")->queues, 4);
  // And deleted again: the main file's vm2 stays removed.
  c = store.plan_port_del("vm2", error);
  ASSERT_TRUE(c) << error;
  ASSERT_TRUE(store.write(*c, error)) << error;
  EXPECT_EQ(port_names(load()), (Names{"sw0/vm1"}));
  EXPECT_EQ(read_file(main_), kMain);
}

TEST_F(DropinTest, AStaleRemovalRecordIsANoteNotAnError) {
  const ConfigStore store(main_);
  std::string error;
  ASSERT_TRUE(store.write(*store.plan_port_del("vm2", error), error)) << error;
  // The operator deletes vm2 from the main file later: the record no longer matches anything.
  std::string edited = kMain;
  edited.resize(edited.find("\n[[switch.port]]\nname = \"vm2\"") + 1);
  write_file(main_, edited);
  const LoadResult r = load();
  ASSERT_TRUE(r.ok()) << format_errors(r);
  EXPECT_EQ(port_names(r), (Names{"sw0/vm1"}));
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_TRUE(contains(r.notes[0], "lists port \"vm2\", which neither the main file"))
      << r.notes[0];
}

TEST_F(DropinTest, ChangesAreRefusedWhenTheFilesDoNotLoad) {
  const ConfigStore store(main_);
  dropin("10-a.toml", "[[switch]]\nname = \"sw0\"\n[[switch.port]]\nname = \"vm3\"\nmtu = 9\n");
  std::string error;
  EXPECT_FALSE(store.plan_port_add("sw0", port("vm4"), error));
  EXPECT_TRUE(contains(error, "port add: the configuration files on disk do not load")) << error;
  EXPECT_TRUE(contains(error, dir_ + "/10-a.toml")) << error;
  EXPECT_TRUE(contains(error, "vswitchctl config check " + main_)) << error;
  EXPECT_FALSE(fs::exists(store.runtime_path()));
}

TEST_F(DropinTest, APortTheFilesHaveButThatDoesNotRunIsRefused) {
  // The operator added vm3 to a drop-in and has not reloaded: `port add vm3` would clash.
  dropin("10-a.toml", "[[switch]]\nname = \"sw0\"\n[[switch.port]]\nname = \"vm3\"\n");
  const ConfigStore store(main_);
  std::string error;
  EXPECT_FALSE(store.plan_port_add("sw0", port("vm3"), error));
  EXPECT_TRUE(contains(error, "would not load")) << error;
  EXPECT_TRUE(contains(error, "duplicate port name")) << error;
}

TEST_F(DropinTest, APortOfADropinMergedAfterTheRuntimeOneCannotBeDeleted) {
  dropin("zzz-late.toml", "[[switch]]\nname = \"sw0\"\n[[switch.port]]\nname = \"vm3\"\n");
  const ConfigStore store(main_);
  std::string error;
  EXPECT_FALSE(store.plan_port_del("vm3", error));
  EXPECT_TRUE(contains(error, "port \"vm3\" is defined in " + dir_ + "/zzz-late.toml")) << error;
  EXPECT_FALSE(fs::exists(store.runtime_path()));
}

TEST_F(DropinTest, UndoPutsTheOldFileBackAndAFailedWriteChangesNothing) {
  const ConfigStore store(main_);
  std::string error;
  const auto first = store.plan_port_add("sw0", port("vm3"), error);
  ASSERT_TRUE(store.write(*first, error)) << error;
  const auto second = store.plan_port_add("sw0", port("vm4"), error);
  ASSERT_TRUE(store.write(*second, error)) << error;
  ASSERT_TRUE(store.undo(*second, error)) << error;
  EXPECT_EQ(read_file(store.runtime_path()), *first->after);
  ASSERT_TRUE(store.undo(*first, error)) << error;
  EXPECT_FALSE(fs::exists(store.runtime_path()));

  vs::config::FileOps ops = vs::config::default_file_ops();
  ops.rename = failing_rename;
  const ConfigStore readonly(main_, ops);
  const auto c = readonly.plan_port_add("sw0", port("vm3"), error);
  ASSERT_TRUE(c) << error;
  EXPECT_FALSE(readonly.write(*c, error));
  EXPECT_TRUE(contains(error, "cannot replace " + store.runtime_path() + ": Read-only file system"))
      << error;
  EXPECT_FALSE(fs::exists(store.runtime_path()));
  EXPECT_EQ(names_in(dir_), Names{}) << "no temp file left";
}

TEST_F(DropinTest, AWriterKilledMidWriteLeavesATempFileThatIsIgnoredThenCleared) {
  const ConfigStore store(main_);
  std::string error;
  ASSERT_TRUE(store.write(*store.plan_port_add("sw0", port("vm3"), error), error)) << error;
  const std::string before = read_file(store.runtime_path());
  // As if vswitchd died after writing half of the next version.
  const std::string tmp = dir_ + "/.zz-vswitchctl.toml.tmp-Zx9Yw8";
  write_file(tmp, before.substr(0, before.size() / 2));
  LoadResult r = load();
  ASSERT_TRUE(r.ok()) << format_errors(r);
  EXPECT_EQ(port_names(r), (Names{"sw0/vm1", "sw0/vm2", "sw0/vm3"}));
  EXPECT_EQ(r.dropins, (Names{store.runtime_path()}));
  // The next write clears it.
  ASSERT_TRUE(store.write(*store.plan_port_add("sw0", port("vm4"), error), error)) << error;
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_EQ(names_in(dir_), (Names{"zz-vswitchctl.toml"}));
}

}  // namespace
