// Unit tests of the control plane's actors on CAF's deterministic test coordinator: the config
// actor (reload, port add/del, refusals) and the worker supervisor (the WorkerSupervisor class
// with real child processes of a fake worker script, and the supervisor actor driving it).
//
// The switch actors are stand-ins here (they record what they are sent); the real one is covered
// by switch_actor_test (a real EAL and TAP) and the integration tests. No EAL, no root.
//
// Threads: with the test coordinator every actor runs on the test's thread inside sched.run().
// The coordinator's job queue and clock are not thread-safe, so worker exits seen by the
// PidfdWatcher thread are queued and sent to the supervisor actor from the test's thread.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "actors/config_actor.hpp"
#include "actors/messages.hpp"
#include "actors/supervisor_actor.hpp"
#include "actors/topology_actor.hpp"
#include "config/config.hpp"
#include "daemon/control_replies.hpp"
#include "daemon/eal.hpp"
#include "daemon/hotplug_gate.hpp"
#include "daemon/port_manager.hpp"
#include "daemon/reload_stats.hpp"
#include "daemon/supervisor.hpp"
#include "daemon/systemd_notify.hpp"
#include "shm/counters.hpp"
#include "shm/shm_names.hpp"
#include "tests/lib/notify_listener.hpp"

namespace vs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// A fresh directory under the system's temp dir, removed with its contents at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "vs_actors_test.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A CAF actor system on the test coordinator: every actor runs inside sched->run().
struct TestSystem {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;

  TestSystem() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
  }
  ~TestSystem() {
    sched->run();
    // The tests send every actor an exit; do not wait forever if one is still referenced.
    sys->await_actors_before_shutdown(false);
  }
};

// What a blocking actor has in its mailbox right now, as the control socket's JSON text (a plain
// string reply as it is); nullopt when nothing arrived.
std::optional<std::string> take_reply(caf::scoped_actor& self, caf::actor_system& sys) {
  std::optional<std::string> out;
  self->receive([&](std::string& s) { out = std::move(s); },
                [&](const Restarted& r) { out = reply_json(r).dump(); },
                [&](const WorkersView& v) { out = reply_json(v).dump(); },
                [&](const caf::error& e) { out = error_json(e, &sys).dump(); },
                caf::after(std::chrono::seconds(0)) >> [] {});
  return out;
}

// --- the stand-in switch actors ----------------------------------------------------------------

struct SwitchLog {
  std::vector<ChangesPtr> adds;     // every add_atom's changes, in order
  std::vector<ChangesPtr> applies;  // every apply_atom's changes, in order
  std::vector<ChangesPtr> undos;    // every undo_atom's changes, in order
  std::string add_error;            // the reply to add_atom ("" = added)
  std::string apply_error;          // the reply to apply_atom ("" = applied)
  int revives = 0;
  Revived revive_reply;
  std::vector<std::string> order;  // "add", "apply", "undo", in the order they arrived
  bool untouched() const { return adds.empty() && applies.empty() && undos.empty(); }
};

// Every log entry of every stand-in switch, in arrival order ("sw0 add", ...).
struct SwitchesLog {
  std::vector<std::string> order;
};

switch_actor::behavior_type fake_switch(switch_actor::pointer, std::string name, SwitchLog* log,
                                        SwitchesLog* all) {
  auto note = [name, log, all](const char* what) {
    log->order.push_back(what);
    if (all) all->order.push_back(name + " " + what);
  };
  return {
      [log, note](add_atom, ChangesPtr c) -> caf::result<bool> {
        log->adds.push_back(std::move(c));
        note("add");
        if (!log->add_error.empty()) return caf::make_error(errc::port_failed, log->add_error);
        return true;
      },
      [log, note](undo_atom, ChangesPtr c) {
        log->undos.push_back(std::move(c));
        note("undo");
        return true;
      },
      [log, note](apply_atom, ChangesPtr c) -> caf::result<bool> {
        log->applies.push_back(std::move(c));
        note("apply");
        if (!log->apply_error.empty()) return caf::make_error(errc::port_failed, log->apply_error);
        return true;
      },
      [log](revive_atom) {
        ++log->revives;
        return log->revive_reply;
      },
      [](reset_atom, const std::string& name) -> caf::result<ResetDone> {
        return caf::make_error(errc::no_such_port, "no port named " + name);
      },
      [name](snapshot_atom) {
        SwitchSnapshot s;
        s.switch_name = name;
        return s;
      },
      [](netns_atom, const std::string&, bool, int32_t) {},
      [](link_gone_atom, const std::string&) {},
      [](stop_atom) { return true; },
  };
}

struct DatapathLog {
  std::vector<uint64_t> masks;  // every workers_atom's mask, in order
};

// The stand-in topology actor: records which workers the supervisor lets poll.
topology_actor::behavior_type fake_topology(topology_actor::pointer, DatapathLog* log) {
  return {
      [](publish_atom) -> uint64_t { return 1; },
      [log](workers_atom, uint64_t mask) { log->masks.push_back(mask); },
  };
}

// --- config actor -------------------------------------------------------------------------------

std::string port_block(const std::string& name, const std::string& driver = "tap",
                       const std::string& extra = "") {
  return "\n  [[switch.port]]\n  name = \"" + name + "\"\n  driver = \"" + driver + "\"\n" + extra;
}

std::string config_text(int workers, const std::string& ports) {
  return "[daemon]\nfile_prefix = \"vsactors\"\nworkers = " + std::to_string(workers) +
         "\n\n[[switch]]\nname = \"sw0\"\n" + ports;
}

// The startup config: sw0 with the tap ports vm1 and vm2.
const std::string kStartup = config_text(1, port_block("vm1") + port_block("vm2"));
const std::string kWithVm3 =
    config_text(1, port_block("vm1") + port_block("vm2") + port_block("vm3"));

class ConfigActorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/vswitch.toml";
    write_file(path_, kStartup);
  }

  void TearDown() override {
    if (actor_) caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
    for (const auto& [name, sw] : switches_)
      caf::anon_send_exit(sw, caf::exit_reason::user_shutdown);
    ts_.sched->run();
  }

  // Spawns the config actor with the file's current content as the running config.
  void start(unsigned pool_mbufs = 1u << 20) {
    const config::LoadResult loaded = config::load_config_file(path_);
    ASSERT_TRUE(loaded.ok()) << config::format_errors(loaded);
    startup_ = std::make_shared<const config::Config>(*loaded.config);
    for (const auto& sw : startup_->switches) {
      SwitchLog* log = &log_;
      if (!switches_.empty()) {
        logs_.push_back(std::make_unique<SwitchLog>());
        log = logs_.back().get();
      }
      switches_.emplace_back(sw.name, ts_.sys->spawn(fake_switch, sw.name, log, &all_));
    }
    actor_ = ts_.sys->spawn(config_behavior, path_, startup_, switches_, &stats_, pool_mbufs,
                            notify_, MirrorRefs{});
    ts_.sched->run();
  }

  // Sends one message to the config actor, runs every actor until idle, returns the JSON reply.
  template <class... Ts>
  json call(Ts&&... xs) {
    self_->send(actor_, std::forward<Ts>(xs)...);
    ts_.sched->run();
    // The typed reply, as the control socket makes it JSON.
    std::optional<json> reply;
    self_->receive([&](const Applied& a) { reply = reply_json(a); },
                   [&](const caf::error& e) { reply = error_json(e, ts_.sys.get()); },
                   caf::after(std::chrono::seconds(0)) >> [] {});
    if (!reply) {
      ADD_FAILURE() << "the config actor did not reply";
      return json::object();
    }
    return *reply;
  }

  json reload() { return call(reload_atom::value); }

  TempDir dir_;
  std::string path_;
  TestSystem ts_;
  caf::scoped_actor self_{*ts_.sys};
  SwitchLog log_;                                 // the first switch's (sw0)
  std::vector<std::unique_ptr<SwitchLog>> logs_;  // the other switches', in the config's order
  SwitchesLog all_;
  ReloadStats stats_;
  ConfigPtr startup_;
  SwitchActors switches_;
  config_actor actor_;
  const SystemdNotify* notify_ = nullptr;
};

using Names = std::vector<std::string>;

TEST_F(ConfigActorTest, ReloadOfAnUnchangedFileRecreatesThePortsThatAreDown) {
  start();
  log_.revive_reply = Revived{{"vm2"}, {}};
  const json r = reload();
  EXPECT_EQ(r.value("ok", false), true) << r.dump();
  EXPECT_EQ(r.value("summary", ""), "no change; down ports re-created (vm2)");
  EXPECT_EQ(r["recreated"], json::array({"vm2"}));
  EXPECT_EQ(log_.revives, 1);
  EXPECT_TRUE(log_.untouched());
}

TEST_F(ConfigActorTest, ReloadOfAnUnchangedFileIsNoChange) {
  start();
  const json r = reload();
  EXPECT_EQ(r.value("ok", false), true) << r.dump();
  EXPECT_EQ(r.value("summary", ""), "no change");
  EXPECT_EQ(r.value("ms", -1), 0);
  EXPECT_TRUE(log_.untouched());
  EXPECT_EQ(stats_.succeeded.load(), 1u);
  EXPECT_EQ(stats_.failed.load(), 0u);
  EXPECT_TRUE(stats_.last_ok.load());
  EXPECT_GT(stats_.last_success_unix.load(), 0.0);
}

// systemd hears RELOADING=1 when a reload begins and READY=1 when it ends, applied or refused
// (the unit is "reloading" in between); a runtime change (port add) is not a reload.
TEST_F(ConfigActorTest, ReloadTellsSystemdWhenItBeginsAndEnds) {
  const std::string sock = dir_.path() + "/notify.sock";
  test::NotifyListener systemd(sock);
  ASSERT_TRUE(systemd.ok());
  setenv("NOTIFY_SOCKET", sock.c_str(), 1);
  std::string err;
  const SystemdNotify notify = SystemdNotify::from_environment(err);
  ASSERT_TRUE(notify.enabled()) << err;
  notify_ = &notify;
  start();
  write_file(path_, kWithVm3);
  EXPECT_EQ(reload().value("ok", false), true);
  std::string m = systemd.next();
  EXPECT_EQ(m.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << m;
  EXPECT_TRUE(contains(m, "\nSTATUS=Reloading " + path_)) << m;
  EXPECT_EQ(systemd.next(), "READY=1\nSTATUS=Forwarding; the last reload was applied");

  write_file(path_, config_text(1, port_block("vm1", "tap", "  bogus = 1\n")));
  EXPECT_EQ(reload().value("ok", true), false);
  EXPECT_EQ(systemd.next().rfind("RELOADING=1\n", 0), 0u);
  m = systemd.next();
  EXPECT_EQ(m.rfind("READY=1\nSTATUS=Forwarding; the last reload was refused: ", 0), 0u) << m;
  EXPECT_TRUE(contains(m, "bogus")) << m;
  EXPECT_FALSE(contains(m.substr(m.find("STATUS=")), "\n")) << "one STATUS line: " << m;

  write_file(path_, kStartup);  // a port add is refused while the files on disk do not load
  EXPECT_EQ(call(port_add_atom::value, std::string("sw0"), std::string(R"({"name":"vm9"})"))
                .value("ok", false),
            true);
  EXPECT_EQ(systemd.next(100), "") << "a port add is not a reload";
}

TEST_F(ConfigActorTest, ReloadAppliesAnAddedPort) {
  start();
  write_file(path_, kWithVm3);
  const json r = reload();
  ASSERT_EQ(r.value("ok", false), true) << r.dump();
  EXPECT_EQ(r.value("summary", ""), "1 port added (vm3)");
  EXPECT_EQ(r.at("added").get<Names>(), Names{"vm3"});
  EXPECT_EQ(r.at("removed").get<Names>(), Names{});
  EXPECT_EQ(r.at("recreated").get<Names>(), Names{});
  EXPECT_EQ(r.at("retagged").get<Names>(), Names{});
  EXPECT_TRUE(r.at("ms").is_number());

  // Phase 1 only, to sw0: nothing to retag, remove or re-create.
  ASSERT_EQ(log_.adds.size(), 1u);
  EXPECT_TRUE(log_.applies.empty());
  const SwitchChanges& d = *log_.adds[0];
  ASSERT_EQ(d.added.size(), 1u);
  EXPECT_EQ(d.added[0].name, "vm3");
  EXPECT_EQ(d.added[0].driver, "tap");
  EXPECT_TRUE(d.removed.empty());
  EXPECT_TRUE(d.replaced.empty());
  EXPECT_TRUE(d.retagged.empty());

  EXPECT_EQ(stats_.succeeded.load(), 1u);
  EXPECT_EQ(stats_.failed.load(), 0u);
  EXPECT_TRUE(stats_.last_ok.load());

  // The new config is the running one now: the same file again is no change.
  const json again = reload();
  EXPECT_EQ(again.value("summary", ""), "no change") << again.dump();
  EXPECT_EQ(log_.adds.size(), 1u);
  EXPECT_EQ(stats_.succeeded.load(), 2u);
}

TEST_F(ConfigActorTest, UnknownKeyIsRefusedAndTheRunningConfigStays) {
  start();
  // vm2 removed and a misspelt key in vm1: refused as a whole.
  const std::string bad = config_text(1, port_block("vm1", "tap", "  bogus = 1\n"));
  write_file(path_, bad);
  const int line =
      1 + static_cast<int>(std::count(bad.begin(), bad.begin() + bad.find("bogus"), '\n'));
  const json r = reload();
  ASSERT_EQ(r.value("ok", true), false) << r.dump();
  const std::string err = r.value("error", "");
  EXPECT_TRUE(contains(err, "vswitch.toml")) << err;
  EXPECT_TRUE(contains(err, " " + std::to_string(line) + " | ")) << "line " << line << ": " << err;
  EXPECT_TRUE(contains(err, "unknown key")) << err;
  EXPECT_TRUE(contains(err, "bogus")) << err;
  EXPECT_TRUE(log_.untouched());
  EXPECT_EQ(stats_.failed.load(), 1u);
  EXPECT_EQ(stats_.succeeded.load(), 0u);
  EXPECT_FALSE(stats_.last_ok.load());

  // The next valid file is diffed against the startup config (which still has vm2).
  write_file(path_, kWithVm3);
  const json ok = reload();
  ASSERT_EQ(ok.value("ok", false), true) << ok.dump();
  EXPECT_EQ(ok.at("added").get<Names>(), Names{"vm3"});
  EXPECT_EQ(ok.at("removed").get<Names>(), Names{});
  ASSERT_EQ(log_.adds.size(), 1u);
  EXPECT_TRUE(log_.applies.empty());  // vm2 is not removed
  EXPECT_EQ(stats_.succeeded.load(), 1u);
  EXPECT_EQ(stats_.failed.load(), 1u);
  EXPECT_TRUE(stats_.last_ok.load());
}

TEST_F(ConfigActorTest, MoreWorkersNeedARestart) {
  start();
  write_file(path_, config_text(2, port_block("vm1") + port_block("vm2") + port_block("vm3")));
  const json r = reload();
  ASSERT_EQ(r.value("ok", true), false) << r.dump();
  const std::string err = r.value("error", "");
  EXPECT_TRUE(contains(err, "need a restart")) << err;
  EXPECT_TRUE(contains(err, "[daemon] workers: 1 -> 2")) << err;
  EXPECT_TRUE(log_.untouched());  // not even the added port
  EXPECT_EQ(stats_.failed.load(), 1u);
  EXPECT_FALSE(stats_.last_ok.load());
}

TEST_F(ConfigActorTest, SwitchFailureIsRefusedAndTheRunningConfigStays) {
  start();
  log_.add_error = "port vm3 (switch sw0): cannot create the TAP";
  write_file(path_, kWithVm3);
  const json r = reload();
  ASSERT_EQ(r.value("ok", true), false) << r.dump();
  EXPECT_EQ(r.value("error", ""), "reload of " + path_ + ": " + log_.add_error);
  EXPECT_EQ(stats_.failed.load(), 1u);
  EXPECT_FALSE(stats_.last_ok.load());
  ASSERT_EQ(log_.adds.size(), 1u);
  EXPECT_TRUE(log_.applies.empty()) << "phase 2 after a failed phase 1";

  // The same file again produces the same diff: vm3 never became part of the running config.
  const json again = reload();
  EXPECT_EQ(again.value("ok", true), false) << again.dump();
  ASSERT_EQ(log_.adds.size(), 2u);
  ASSERT_EQ(log_.adds[1]->added.size(), 1u);
  EXPECT_EQ(log_.adds[1]->added[0].name, "vm3");
  EXPECT_EQ(stats_.failed.load(), 2u);

  // Once the switch manages, it is applied.
  log_.add_error.clear();
  const json ok = reload();
  EXPECT_EQ(ok.value("ok", false), true) << ok.dump();
  EXPECT_EQ(ok.at("added").get<Names>(), Names{"vm3"});
  EXPECT_EQ(log_.adds.size(), 3u);
  EXPECT_EQ(stats_.succeeded.load(), 1u);
  EXPECT_TRUE(stats_.last_ok.load());
}

TEST_F(ConfigActorTest, PortAddAppliesTheNewPort) {
  start();
  const json r = call(port_add_atom::value, std::string("sw0"),
                      std::string(R"({"name":"vm9","driver":"rtap","queues":2})"));
  ASSERT_EQ(r.value("ok", false), true) << r.dump();
  EXPECT_EQ(r.at("added").get<Names>(), Names{"vm9"});
  EXPECT_EQ(r.at("removed").get<Names>(), Names{});
  ASSERT_EQ(log_.adds.size(), 1u);
  EXPECT_TRUE(log_.applies.empty());
  const SwitchChanges& d = *log_.adds[0];
  ASSERT_EQ(d.added.size(), 1u);
  EXPECT_EQ(d.added[0].name, "vm9");
  EXPECT_EQ(d.added[0].driver, "rtap");
  EXPECT_EQ(d.added[0].queues, 2);
  EXPECT_EQ(stats_.succeeded.load(), 1u);

  // Recorded in the runtime drop-in, not in the main file: a reload keeps vm9.
  const std::string dropin = dir_.path() + "/vswitch.d/zz-vswitchctl.toml";
  EXPECT_TRUE(contains(r.value("summary", ""), "recorded in " + dropin)) << r.dump();
  EXPECT_TRUE(std::filesystem::exists(dropin));
  EXPECT_EQ(read_file(path_), kStartup);
  const json back = reload();
  ASSERT_EQ(back.value("ok", false), true) << back.dump();
  EXPECT_EQ(back.at("removed").get<Names>(), Names{});
  EXPECT_EQ(back.at("added").get<Names>(), Names{});
  // port del forgets it again, in the running config and in the files.
  const json del = call(port_del_atom::value, std::string("vm9"));
  ASSERT_EQ(del.value("ok", false), true) << del.dump();
  EXPECT_FALSE(std::filesystem::exists(dropin));
  EXPECT_EQ(read_file(path_), kStartup);
}

TEST_F(ConfigActorTest, PortAddThatCannotBeRecordedIsRefusedAndChangesNothing) {
  start();
  // A directory where the drop-in goes: the rename onto it fails.
  const std::string dropin = dir_.path() + "/vswitch.d/zz-vswitchctl.toml";
  std::filesystem::create_directories(dropin);
  const json r = call(port_add_atom::value, std::string("sw0"), std::string(R"({"name":"vm9"})"));
  ASSERT_EQ(r.value("ok", true), false) << r.dump();
  const std::string err = r.value("error", "");
  EXPECT_TRUE(contains(err, "port add: cannot replace " + dropin + ": Is a directory")) << err;
  EXPECT_TRUE(contains(err, "nothing was changed")) << err;
  EXPECT_TRUE(log_.untouched());
  EXPECT_EQ(stats_.failed.load(), 1u);
}

TEST_F(ConfigActorTest, PortAddThatFailsToApplyPutsTheDropinBack) {
  start();
  const std::string dropin = dir_.path() + "/vswitch.d/zz-vswitchctl.toml";
  ASSERT_EQ(call(port_add_atom::value, std::string("sw0"), std::string(R"({"name":"vm8"})"))
                .value("ok", false),
            true);
  const std::string before = read_file(dropin);
  log_.add_error = "port vm9 (switch sw0): cannot create the TAP";
  const json r = call(port_add_atom::value, std::string("sw0"), std::string(R"({"name":"vm9"})"));
  ASSERT_EQ(r.value("ok", true), false) << r.dump();
  EXPECT_TRUE(contains(r.value("error", ""), dropin + " was put back as it was")) << r.dump();
  EXPECT_EQ(read_file(dropin), before);
  EXPECT_FALSE(contains(read_file(dropin), "vm9"));
}

TEST_F(ConfigActorTest, PortDelOfAFilePortIsRecordedAndAReloadKeepsItDeleted) {
  start();
  const json r = call(port_del_atom::value, std::string("vm2"));
  ASSERT_EQ(r.value("ok", false), true) << r.dump();
  const json back = reload();
  ASSERT_EQ(back.value("ok", false), true) << back.dump();
  EXPECT_EQ(back.at("added").get<Names>(), Names{});
  EXPECT_EQ(log_.adds.size(), 0u);
  EXPECT_EQ(read_file(path_), kStartup);
}

TEST_F(ConfigActorTest, PortAddToAnUnknownSwitchIsRefused) {
  start();
  const json r = call(port_add_atom::value, std::string("sw7"), std::string(R"({"name":"vm9"})"));
  ASSERT_EQ(r.value("ok", true), false) << r.dump();
  EXPECT_EQ(r.value("error", ""), "port add: no switch named \"sw7\"");
  EXPECT_TRUE(log_.untouched());
  EXPECT_EQ(stats_.failed.load(), 1u);
  EXPECT_FALSE(stats_.last_ok.load());
}

TEST_F(ConfigActorTest, PortAddWithAWrongTypeIsRefusedByTheValidator) {
  start();
  const json r = call(port_add_atom::value, std::string("sw0"),
                      std::string(R"({"name":"vm9","queues":"two"})"));
  ASSERT_EQ(r.value("ok", true), false) << r.dump();
  const std::string err = r.value("error", "");
  EXPECT_TRUE(contains(err, "<port add>")) << err;
  EXPECT_TRUE(contains(err, "port \"vm9\": queues must be an integer")) << err;
  EXPECT_TRUE(log_.untouched());
  EXPECT_EQ(stats_.failed.load(), 1u);
}

TEST_F(ConfigActorTest, PortAddWithAnUnknownKeyOrAFloatIsRefused) {
  start();
  const json a =
      call(port_add_atom::value, std::string("sw0"), std::string(R"({"name":"vm9","queus":2})"));
  EXPECT_EQ(a.value("ok", true), false) << a.dump();
  EXPECT_TRUE(contains(a.value("error", ""), "unknown key \"queus\"")) << a.dump();
  const json b =
      call(port_add_atom::value, std::string("sw0"), std::string(R"({"name":"vm9","mtu":1500.5})"));
  EXPECT_EQ(b.value("ok", true), false) << b.dump();
  EXPECT_EQ(b.value("error", ""),
            "port add: port.mtu: use a string, an integer, a boolean, an array of them, or a table "
            "of them");
  EXPECT_TRUE(log_.untouched());
  EXPECT_EQ(stats_.failed.load(), 2u);
}

TEST_F(ConfigActorTest, PortAddOfAnEmptyPortIsRefused) {
  start();
  // An empty object once produced an empty [[switch.port]] fragment, which to_toml left out:
  // "no change" was reported as a success (found by review of the fuzz harness).
  const json r = call(port_add_atom::value, std::string("sw0"), std::string("{}"));
  EXPECT_EQ(r.value("ok", true), false) << r.dump();
  EXPECT_EQ(r.value("error", ""), "port add: the port has no keys; give at least its name");
  EXPECT_TRUE(log_.untouched());
}

TEST_F(ConfigActorTest, PortDelOfAnUnknownPortIsRefused) {
  start();
  const json r = call(port_del_atom::value, std::string("vm7"));
  ASSERT_EQ(r.value("ok", true), false) << r.dump();
  EXPECT_EQ(r.value("error", ""), "port del: no port named \"vm7\"");
  EXPECT_TRUE(log_.untouched());
  EXPECT_EQ(stats_.failed.load(), 1u);
}

TEST_F(ConfigActorTest, PortDelRemovesThePort) {
  start();
  const json r = call(port_del_atom::value, std::string("vm2"));
  ASSERT_EQ(r.value("ok", false), true) << r.dump();
  EXPECT_EQ(r.at("removed").get<Names>(), Names{"vm2"});
  EXPECT_EQ(r.at("added").get<Names>(), Names{});
  // Phase 2 only.
  EXPECT_TRUE(log_.adds.empty());
  ASSERT_EQ(log_.applies.size(), 1u);
  EXPECT_EQ(log_.applies[0]->removed, Names{"vm2"});
  EXPECT_TRUE(log_.applies[0]->replaced.empty());
  EXPECT_EQ(stats_.succeeded.load(), 1u);

  // vm2 is gone from the running config: deleting it again is refused.
  const json again = call(port_del_atom::value, std::string("vm2"));
  EXPECT_EQ(again.value("ok", true), false) << again.dump();
  EXPECT_EQ(log_.applies.size(), 1u);
}

// A tap rx queue keeps 512 mbufs posted; an rtap queue keeps none (it reads into buffers only
// during a burst), so only tap ports can outgrow the pools sized at start.
TEST_F(ConfigActorTest, TapPortsThatNeedMoreMbufsThanThePoolsHaveAreRefusedRtapPortsFit) {
  auto text = [](const std::string& ports) {
    return "[daemon]\nfile_prefix = \"vsactors\"\nworkers = 1\nmbufs_per_worker = 1023\n\n"
           "[[switch]]\nname = \"sw0\"\n" +
           ports;
  };
  write_file(path_, text(port_block("vm1") + port_block("vm2")));
  const config::LoadResult loaded = config::load_config_file(path_);
  ASSERT_TRUE(loaded.ok());
  const unsigned pool = mbufs_needed_per_worker(*loaded.config);  // exactly what it needs
  EXPECT_EQ(pool, 2u * 2 * 512 + 2048);  // 2 ports x 2 queues x 512, and the frames in flight
  start(pool);

  write_file(path_, text(port_block("vm1") + port_block("vm2") + port_block("vm3")));
  const json r = reload();
  ASSERT_EQ(r.value("ok", true), false) << r.dump();
  const std::string err = r.value("error", "");
  EXPECT_TRUE(contains(err, "mbufs_per_worker")) << err;
  EXPECT_TRUE(contains(err, "the pools have " + std::to_string(pool))) << err;
  EXPECT_TRUE(log_.untouched());
  EXPECT_EQ(stats_.failed.load(), 1u);

  // The same through port add.
  const json p = call(port_add_atom::value, std::string("sw0"),
                      std::string(R"({"name":"vm9","driver":"tap"})"));
  EXPECT_EQ(p.value("ok", true), false) << p.dump();
  EXPECT_TRUE(contains(p.value("error", ""), "mbufs_per_worker")) << p.dump();
  EXPECT_TRUE(log_.untouched());

  // An rtap port fits.
  write_file(path_, text(port_block("vm1") + port_block("vm2") + port_block("vm3", "rtap")));
  const json ok = reload();
  EXPECT_EQ(ok.value("ok", false), true) << ok.dump();
  EXPECT_EQ(log_.adds.size(), 1u);
}

// Two switches: sw0 with vm1, vm2; sw1 with vm5.
std::string two_switches(const std::string& sw0_ports, const std::string& sw1_ports) {
  return "[daemon]\nfile_prefix = \"vsactors\"\nworkers = 1\n\n[[switch]]\nname = \"sw0\"\n" +
         sw0_ports + "\n[[switch]]\nname = \"sw1\"\n" + sw1_ports;
}

TEST_F(ConfigActorTest, EachSwitchGetsItsOwnShareOfTheDiff) {
  write_file(path_, two_switches(port_block("vm1") + port_block("vm2"), port_block("vm5")));
  start();
  SwitchLog& sw1 = *logs_.at(0);
  write_file(path_, two_switches(port_block("vm1"), port_block("vm5") + port_block("vm6")));
  const json r = reload();
  ASSERT_EQ(r.value("ok", false), true) << r.dump();
  EXPECT_TRUE(log_.adds.empty());
  ASSERT_EQ(log_.applies.size(), 1u);
  EXPECT_EQ(log_.applies[0]->removed, Names{"vm2"});
  ASSERT_EQ(sw1.adds.size(), 1u);
  ASSERT_EQ(sw1.adds[0]->added.size(), 1u);
  EXPECT_EQ(sw1.adds[0]->added[0].name, "vm6");
  EXPECT_TRUE(sw1.applies.empty());
  EXPECT_EQ(all_.order, (Names{"sw1 add", "sw0 apply"})) << "new ports first, then removals";
}

TEST_F(ConfigActorTest, AFailedAddInOneSwitchUndoesTheOthersAndChangesNothingElse) {
  write_file(path_, two_switches(port_block("vm1") + port_block("vm2"), port_block("vm5")));
  start();
  SwitchLog& sw1 = *logs_.at(0);
  sw1.add_error = "port vm6 (switch sw1): cannot create the TAP";
  write_file(path_, two_switches(port_block("vm1") + port_block("vm3"),
                                 port_block("vm5") + port_block("vm6")));
  const json r = reload();
  ASSERT_EQ(r.value("ok", true), false) << r.dump();
  EXPECT_TRUE(contains(r.value("error", ""), sw1.add_error)) << r.dump();
  // sw0 made vm3, then closed it again; vm2 was never touched.
  ASSERT_EQ(log_.undos.size(), 1u);
  EXPECT_EQ(log_.undos[0]->added.at(0).name, "vm3");
  EXPECT_TRUE(log_.applies.empty());
  EXPECT_TRUE(sw1.undos.empty()) << "the failed switch closed its own";
  EXPECT_EQ(stats_.failed.load(), 1u);
}

TEST_F(ConfigActorTest, APortMovesToAnotherSwitchAfterItsOldSwitchClosedIt) {
  write_file(path_, two_switches(port_block("vm1") + port_block("vm2"), port_block("vm5")));
  start();
  SwitchLog& sw1 = *logs_.at(0);
  const std::string moved = two_switches(port_block("vm1"), port_block("vm5") + port_block("vm2"));
  write_file(path_, moved);
  const json r = reload();
  ASSERT_EQ(r.value("ok", false), true) << r.dump();
  EXPECT_EQ(r.at("recreated").get<Names>(), Names{"vm2"});
  EXPECT_EQ(all_.order, (Names{"sw0 apply", "sw1 add"}));
  EXPECT_EQ(log_.applies.at(0)->removed, Names{"vm2"});
  EXPECT_EQ(sw1.adds.at(0)->added.at(0).name, "vm2");

  // Back to sw0, and this time sw0 cannot make it: it is restored in sw1 as it was.
  all_.order.clear();
  log_.add_error = "port vm2 (switch sw0): cannot create the TAP";
  write_file(path_, two_switches(port_block("vm1") + port_block("vm2"), port_block("vm5")));
  const json back = reload();
  ASSERT_EQ(back.value("ok", true), false) << back.dump();
  EXPECT_TRUE(contains(back.value("error", ""), "(the port was restored as it was)"))
      << back.dump();
  EXPECT_EQ(all_.order, (Names{"sw1 apply", "sw0 add", "sw1 add"}));
  EXPECT_EQ(sw1.adds.back()->added.at(0).name, "vm2");
}

// --- port_json_to_toml --------------------------------------------------------------------------

std::string to_toml(const std::string& port_json, std::string& error) {
  error.clear();
  return port_json_to_toml(port_json, error);
}

TEST(PortJsonToToml, ScalarsInKeyOrder) {
  std::string error;
  EXPECT_EQ(to_toml(R"({"name":"vm9","queues":2,"persist":true,"mtu":9000})", error),
            "mtu = 9000\nname = \"vm9\"\npersist = true\nqueues = 2\n");
  EXPECT_EQ(error, "");
  EXPECT_EQ(to_toml(R"({"persist":false})", error), "persist = false\n");
  EXPECT_EQ(to_toml(R"({"native_vlan":-1})", error), "native_vlan = -1\n");
  EXPECT_EQ(to_toml("{}", error), "");
  EXPECT_EQ(error, "");
}

TEST(PortJsonToToml, StringsAreEscaped) {
  std::string error;
  // A quote, a backslash and a newline cannot end the string or start a new key.
  EXPECT_EQ(to_toml(R"({"netns":"a\"b\\c\nqueues = 9"})", error),
            "netns = \"a\\\"b\\\\c\\u000aqueues = 9\"\n");
  EXPECT_EQ(error, "");
  const std::string toml = to_toml(R"({"mac":"x\"\n\tmtu = 1"})", error);
  EXPECT_EQ(std::count(toml.begin(), toml.end(), '\n'), 1) << toml;
  EXPECT_EQ(toml, "mac = \"x\\\"\\u000a\\u0009mtu = 1\"\n");
}

TEST(PortJsonToToml, IntegersKeepTheirValue) {
  std::string error;
  EXPECT_EQ(to_toml(R"({"queues":9223372036854775807})", error), "queues = 9223372036854775807\n");
  // Beyond int64: passed on as written (the TOML loader refuses it), not wrapped to -1.
  EXPECT_EQ(to_toml(R"({"queues":18446744073709551615})", error),
            "queues = 18446744073709551615\n");
  EXPECT_EQ(error, "");
}

TEST(PortJsonToToml, Arrays) {
  std::string error;
  EXPECT_EQ(to_toml(R"({"addresses":["10.0.0.9/24","fd00::9/64"],"allowed_vlans":[10,20]})", error),
            "addresses = [\"10.0.0.9/24\", \"fd00::9/64\"]\nallowed_vlans = [10, 20]\n");
  EXPECT_EQ(to_toml(R"({"addresses":[]})", error), "addresses = []\n");
  EXPECT_EQ(to_toml(R"({"x":[true,1,"a"]})", error), "x = [true, 1, \"a\"]\n");
  EXPECT_EQ(error, "");
}

TEST(PortJsonToToml, OneLevelOfTables) {
  std::string error;
  EXPECT_EQ(to_toml(R"({"vm":{"macvtap":"mvt-vm9"}})", error), "vm = { macvtap = \"mvt-vm9\" }\n");
  EXPECT_EQ(to_toml(R"({"vm":{"a":1,"b":[2]}})", error), "vm = { a = 1, b = [2] }\n");
  EXPECT_EQ(to_toml(R"({"vm":{}})", error), "vm = { }\n");
  EXPECT_EQ(error, "");
  // The key of an inline table is checked like a port key: no injection through it.
  EXPECT_EQ(to_toml(R"({"vm":{"tap = \"x\"\nmtu":1}})", error), "");
  EXPECT_NE(error, "");
}

TEST(PortJsonToToml, NestedObjectsFloatsNullsAndNestedArraysAreRefused) {
  std::string error;
  EXPECT_EQ(to_toml(R"({"name":"vm9","mtu":1500.5})", error), "");
  EXPECT_EQ(error,
            "port.mtu: use a string, an integer, a boolean, an array of them, or a table of them");
  EXPECT_EQ(to_toml(R"({"netns":{"name":{"x":1}}})", error), "");
  EXPECT_EQ(
      error,
      "port.netns: use a string, an integer, a boolean, an array of them, or a table of them");
  EXPECT_EQ(to_toml(R"({"mac":null})", error), "");
  EXPECT_EQ(error,
            "port.mac: use a string, an integer, a boolean, an array of them, or a table of them");
  EXPECT_EQ(to_toml(R"({"addresses":[["10.0.0.1/24"]]})", error), "");
  EXPECT_EQ(
      error,
      "port.addresses: use a string, an integer, a boolean, an array of them, or a table of them");
  EXPECT_EQ(to_toml(R"({"allowed_vlans":[1, 2.5]})", error), "");
  EXPECT_EQ(error,
            "port.allowed_vlans: use a string, an integer, a boolean, an array of them, or a table "
            "of them");
}

TEST(PortJsonToToml, NonObjectsAndBadKeysAreRefused) {
  std::string error;
  for (const char* text : {"[1,2]", "\"vm9\"", "{", "", "42"}) {
    EXPECT_EQ(to_toml(text, error), "") << text;
    EXPECT_EQ(error, "the port must be a JSON object") << text;
  }
  EXPECT_EQ(to_toml(R"({"Name":"vm9"})", error), "");
  EXPECT_EQ(error, "port: unknown key \"Name\"");
  EXPECT_EQ(to_toml(R"({"a = 1\nb":1})", error), "");
  EXPECT_EQ(error, "port: unknown key \"a = 1\nb\"");
  EXPECT_EQ(to_toml(R"({"":1})", error), "");
  EXPECT_EQ(error, "port: unknown key \"\"");
}

// --- a fake vswitch-worker ----------------------------------------------------------------------

// The script the supervisor starts as `worker_binary <EAL args> -- --worker-id N [--replace PID]
// [--fault-crash]`. It logs its command line to `log`, then does what `mode.N` says (default
// sleep): crash (SIGSEGV), exit CODE, ignore-term (sleep, deaf to SIGTERM; `ready.N` once so). With
// --replace PID it does what `replace_mode` says, or by default takes over like the real worker:
// SIGTERM to PID, wait until PID is gone (reaped), sleep. --fault-crash: crash.
const char* kFakeWorker = R"(#!/bin/sh
dir=$(dirname "$0")
echo "$$ $*" >> "$dir/log"
id=; replace=; fault=0; attached=
while [ $# -gt 0 ]; do
  case "$1" in
    --worker-id) id=$2; shift ;;
    --replace) replace=$2; shift ;;
    --attached-fd) attached=$2; shift ;;
    --fault-crash) fault=1 ;;
  esac
  shift
done
ulimit -c 0
mode=sleep
[ -f "$dir/mode.$id" ] && mode=$(cat "$dir/mode.$id")
[ "$fault" = 1 ] && mode=crash
# As rte_eal_init returns: the supervisor's attach pipe closes (daemon/hotplug_gate.hpp).
[ "$mode" = slow-attach ] && sleep 0.4
[ -n "$attached" ] && eval "exec $attached>&-"
if [ -n "$replace" ]; then
  if [ -f "$dir/replace_mode" ]; then
    mode=$(cat "$dir/replace_mode")
  else
    kill -TERM "$replace"
    while kill -0 "$replace" 2>/dev/null; do sleep 0.005; done
    mode=sleep
  fi
fi
case "$mode" in
  crash) kill -SEGV $$; exit 99 ;;
  exit*) exit ${mode#exit } ;;
  ignore-term) trap '' TERM; : > "$dir/ready.$id"; exec sleep 30 ;;
  *) exec sleep 30 ;;
esac
)";

class FakeWorker {
 public:
  FakeWorker() : script_(dir_.path() + "/vswitch-worker") {
    write_file(script_, kFakeWorker);
    chmod(script_.c_str(), 0755);
  }
  const std::string& script() const { return script_; }
  void set_mode(int worker, const std::string& mode) {
    write_file(dir_.path() + "/mode." + std::to_string(worker), mode);
  }
  void clear_mode(int worker) { fs::remove(dir_.path() + "/mode." + std::to_string(worker)); }
  void set_replace_mode(const std::string& mode) {
    write_file(dir_.path() + "/replace_mode", mode);
  }
  // Waits until worker `w` in mode ignore-term ignores SIGTERM.
  bool wait_ready(int w) const {
    const auto deadline = Clock::now() + 5s;
    while (!fs::exists(dir_.path() + "/ready." + std::to_string(w)))
      if (Clock::now() > deadline)
        return false;
      else
        std::this_thread::sleep_for(2ms);
    return true;
  }
  // The command line each process was started with (after "pid "), waiting for `n` of them.
  std::vector<std::string> log(size_t n) const {
    const auto deadline = Clock::now() + 5s;
    for (;;) {
      std::vector<std::string> lines;
      std::istringstream in(read_file(dir_.path() + "/log"));
      for (std::string l; std::getline(in, l);) lines.push_back(l);
      if (lines.size() >= n || Clock::now() > deadline) return lines;
      std::this_thread::sleep_for(2ms);
    }
  }

 private:
  TempDir dir_;
  std::string script_;
};

// Exits reported by the PidfdWatcher thread, taken by the test's thread.
class ExitQueue {
 public:
  void push(pid_t pid) {
    std::lock_guard lock(mu_);
    pids_.push_back(pid);
    cv_.notify_all();
  }
  // Waits until `pid` was reported; false after `timeout`.
  bool wait_for(pid_t pid, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      for (auto it = pids_.begin(); it != pids_.end(); ++it) {
        if (*it != pid) continue;
        pids_.erase(it);
        return true;
      }
      return false;
    });
  }
  std::vector<pid_t> drain() {
    std::lock_guard lock(mu_);
    std::vector<pid_t> out(pids_.begin(), pids_.end());
    pids_.clear();
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<pid_t> pids_;
};

bool alive(pid_t pid) {
  return kill(pid, 0) == 0;
}

// Gone for good: not running and not a zombie waiting to be reaped by us.
bool reaped(pid_t pid) {
  int status = 0;
  const bool no_child = waitpid(pid, &status, WNOHANG) == -1 && errno == ECHILD;
  const bool no_process = kill(pid, 0) == -1 && errno == ESRCH;
  return no_child && no_process;
}

SupervisorOptions test_options(std::vector<int> cpus) {
  SupervisorOptions o;
  o.eal = EalOptions{"vsactors", 0, "notice"};
  o.worker_cpus = std::move(cpus);
  o.backoff_initial = 4ms;
  o.backoff_max = 16ms;
  o.healthy_after = 10s;
  o.crash_loop_limit = 5;
  return o;
}

// A WorkerSupervisor whose processes' exits land in `exits`.
struct SupervisorHarness {
  FakeWorker fake;
  ExitQueue exits;
  PidfdWatcher watcher{[this](pid_t pid) { exits.push(pid); }};
  std::unique_ptr<WorkerSupervisor> sup;

  explicit SupervisorHarness(SupervisorOptions opts) {
    opts.worker_binary = fake.script();
    sup = std::make_unique<WorkerSupervisor>(
        std::move(opts), [this](pid_t pid, int pidfd) { watcher.watch(pid, pidfd); });
  }
  ~SupervisorHarness() { sup.reset(); }  // stops every child before the watcher goes

  WorkerStatus status(int w) const { return sup->status()[static_cast<size_t>(w)]; }

  // Waits for `pid` to end and hands the exit to the supervisor.
  ExitOutcome exit_of(pid_t pid) {
    EXPECT_TRUE(exits.wait_for(pid)) << "pid " << pid << " did not end";
    return sup->on_exit(pid);
  }
};

// --- WorkerSupervisor ---------------------------------------------------------------------------

TEST(WorkerSupervisor, StartAllStartsOneProcessPerCpu) {
  SupervisorHarness h(test_options({3, 5, 7}));
  ASSERT_EQ(h.sup->size(), 3);
  ASSERT_EQ(h.sup->start_all(), "");
  const std::vector<WorkerStatus> st = h.sup->status();
  ASSERT_EQ(st.size(), 3u);
  const int cpus[] = {3, 5, 7};
  for (int w = 0; w < 3; ++w) {
    const WorkerStatus& s = st[static_cast<size_t>(w)];
    EXPECT_EQ(s.id, w);
    EXPECT_EQ(s.cpu, cpus[w]);
    EXPECT_GT(s.pid, 0);
    EXPECT_TRUE(s.running);
    EXPECT_FALSE(s.failed);
    EXPECT_EQ(s.state(), "running");
    EXPECT_EQ(s.starts, 1u);
    EXPECT_EQ(s.restarts, 0u);
    EXPECT_TRUE(alive(s.pid));
  }
  EXPECT_NE(st[0].pid, st[1].pid);
  EXPECT_NE(st[1].pid, st[2].pid);
  EXPECT_EQ(h.sup->active(), (std::vector<bool>{true, true, true}));

  // Each one's command line: its lcore on its cpu, the EAL prefix, its id after "--".
  const std::vector<std::string> lines = h.fake.log(3);
  ASSERT_EQ(lines.size(), 3u);
  for (int w = 0; w < 3; ++w) {
    const std::string pid = std::to_string(st[static_cast<size_t>(w)].pid) + " ";
    const std::string* line = nullptr;
    for (const auto& l : lines)
      if (l.rfind(pid, 0) == 0) line = &l;
    ASSERT_NE(line, nullptr) << "no log line of worker " << w;
    EXPECT_TRUE(contains(*line, "--lcores=" + std::to_string(worker_lcore(w, false)) + "@" +
                                    std::to_string(cpus[w])))
        << *line;
    EXPECT_TRUE(contains(*line, "--proc-type=secondary")) << *line;
    EXPECT_TRUE(contains(*line, "--file-prefix=vsactors")) << *line;
    EXPECT_TRUE(contains(*line, " -- --worker-id " + std::to_string(w))) << *line;
    EXPECT_FALSE(contains(*line, "--replace")) << *line;
    EXPECT_FALSE(contains(*line, "--fault-crash")) << *line;
  }
  EXPECT_EQ(h.sup->start(1), "worker 1 is running");
  EXPECT_EQ(h.sup->start(3), "no worker 3");
}

TEST(WorkerSupervisor, CrashesBackOffDoublingUpToTheMaximumThenGiveUp) {
  SupervisorHarness h(test_options({0}));
  h.fake.set_mode(0, "crash");
  ASSERT_EQ(h.sup->start_all(), "");
  const std::chrono::milliseconds delays[] = {4ms, 8ms, 16ms, 16ms};  // initial 4, max 16
  for (int i = 0; i < 4; ++i) {
    const pid_t pid = h.status(0).pid;
    ASSERT_GT(pid, 0);
    const ExitOutcome out = h.exit_of(pid);
    ASSERT_EQ(out.kind, ExitOutcome::kRestartLater) << "crash " << i + 1;
    EXPECT_EQ(out.worker, 0);
    EXPECT_EQ(out.delay, delays[i]) << "crash " << i + 1;
    EXPECT_EQ(out.detail, "signal 11");
    EXPECT_FALSE(out.graceful);
    EXPECT_EQ(out.lcore, worker_lcore(0, false));
    const WorkerStatus s = h.status(0);
    EXPECT_FALSE(s.running);
    EXPECT_EQ(s.pid, 0);
    EXPECT_TRUE(s.restart_pending);
    EXPECT_EQ(s.state(), "restarting");
    EXPECT_EQ(s.crashes_in_row, i + 1);
    EXPECT_EQ(s.last_exit, "signal 11");
    EXPECT_TRUE(reaped(pid));
    ASSERT_EQ(h.sup->start(0), "");  // what the actor does once the delay is over
  }
  const ExitOutcome out = h.exit_of(h.status(0).pid);
  EXPECT_EQ(out.kind, ExitOutcome::kGaveUp);
  EXPECT_EQ(out.worker, 0);
  const WorkerStatus s = h.status(0);
  EXPECT_TRUE(s.failed);
  EXPECT_FALSE(s.running);
  EXPECT_FALSE(s.restart_pending);
  EXPECT_EQ(s.state(), "failed");
  EXPECT_EQ(s.crashes_in_row, 5);
  EXPECT_EQ(s.starts, 5u);
  EXPECT_EQ(s.restarts, 4u);
  EXPECT_EQ(h.sup->active(), std::vector<bool>{false});

  // A manual start clears `failed`.
  h.fake.clear_mode(0);
  ASSERT_EQ(h.sup->start(0), "");
  EXPECT_FALSE(h.status(0).failed);
  EXPECT_EQ(h.status(0).state(), "running");
  EXPECT_EQ(h.sup->active(), std::vector<bool>{true});
}

TEST(WorkerSupervisor, ALongRunResetsTheBackoff) {
  SupervisorOptions o = test_options({0});
  // Quick crashes must end within healthy_after, even on a loaded machine: keep a margin.
  o.healthy_after = 1500ms;
  SupervisorHarness h(o);
  h.fake.set_mode(0, "crash");
  ASSERT_EQ(h.sup->start_all(), "");
  EXPECT_EQ(h.exit_of(h.status(0).pid).delay, 4ms);
  ASSERT_EQ(h.sup->start(0), "");
  EXPECT_EQ(h.exit_of(h.status(0).pid).delay, 8ms);
  h.fake.clear_mode(0);
  ASSERT_EQ(h.sup->start(0), "");
  const pid_t pid = h.status(0).pid;
  std::this_thread::sleep_for(1600ms);  // longer than healthy_after
  kill(pid, SIGKILL);
  const ExitOutcome out = h.exit_of(pid);
  EXPECT_EQ(out.kind, ExitOutcome::kRestartLater);
  EXPECT_EQ(out.detail, "signal 9");
  EXPECT_EQ(out.delay, 4ms);
  EXPECT_EQ(h.status(0).crashes_in_row, 1);
}

TEST(WorkerSupervisor, AnExitIsRestartedButBadUsageIsGivenUpAtOnce) {
  SupervisorHarness h(test_options({0, 1}));
  h.fake.set_mode(0, "exit 0");
  h.fake.set_mode(1, "exit " + std::to_string(kWorkerExitUsage));
  ASSERT_EQ(h.sup->start_all(), "");
  const pid_t p0 = h.status(0).pid;
  const pid_t p1 = h.status(1).pid;

  const ExitOutcome o0 = h.exit_of(p0);
  EXPECT_EQ(o0.kind, ExitOutcome::kRestartLater);
  EXPECT_EQ(o0.detail, "exit 0");
  EXPECT_TRUE(o0.graceful);
  EXPECT_EQ(o0.delay, 4ms);

  const ExitOutcome o1 = h.exit_of(p1);
  EXPECT_EQ(o1.kind, ExitOutcome::kGaveUp);
  EXPECT_EQ(o1.worker, 1);
  EXPECT_EQ(o1.detail, "exit 64");
  EXPECT_FALSE(o1.graceful);
  EXPECT_TRUE(h.status(1).failed);
  EXPECT_EQ(h.status(1).crashes_in_row, 1);
  EXPECT_EQ(h.status(1).last_exit, "exit 64");
  EXPECT_EQ(h.sup->active(), (std::vector<bool>{true, false}));

  // Not ours, or already reaped.
  EXPECT_EQ(h.sup->on_exit(p1).kind, ExitOutcome::kUnknown);
  EXPECT_EQ(h.sup->on_exit(getpid()).kind, ExitOutcome::kUnknown);
}

TEST(WorkerSupervisor, ReplacementTakesOverWhenTheOldProcessExits) {
  SupervisorHarness h(test_options({2}));
  ASSERT_EQ(h.sup->start_all(), "");
  const pid_t old_pid = h.status(0).pid;
  ASSERT_EQ(h.fake.log(1).size(), 1u);  // it logged its command line before it is replaced
  ASSERT_EQ(h.sup->begin_replace(0), "");
  const WorkerStatus during = h.status(0);
  const pid_t new_pid = during.replacing_pid;
  ASSERT_GT(new_pid, 0);
  EXPECT_NE(new_pid, old_pid);
  EXPECT_EQ(during.pid, old_pid);
  EXPECT_EQ(during.state(), "replacing");
  EXPECT_EQ(h.sup->begin_replace(0), "worker 0 is already being replaced");

  // The fake replacement sends the old one SIGTERM, as the real one does once attached.
  const ExitOutcome out = h.exit_of(old_pid);
  EXPECT_EQ(out.kind, ExitOutcome::kHandedOver);
  EXPECT_EQ(out.worker, 0);
  EXPECT_EQ(out.detail, "signal 15");
  // Stopped when asked (the real worker exits 0 on SIGTERM): nothing lost.
  EXPECT_FALSE(out.lost_buffers);
  EXPECT_EQ(out.lcore, worker_lcore(0, false));  // the old process's lcore
  const WorkerStatus after = h.status(0);
  EXPECT_EQ(after.pid, new_pid);
  EXPECT_EQ(after.replacing_pid, 0);
  EXPECT_TRUE(after.running);
  EXPECT_EQ(after.state(), "running");
  EXPECT_EQ(after.starts, 2u);
  EXPECT_EQ(after.restarts, 1u);
  EXPECT_EQ(after.last_exit, "signal 15");
  EXPECT_TRUE(reaped(old_pid));
  EXPECT_TRUE(alive(new_pid));

  // The replacement ran on the alternate lcore and was told whom it replaces.
  const std::vector<std::string> lines = h.fake.log(2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].rfind(std::to_string(new_pid) + " ", 0), 0u) << lines[1];
  EXPECT_TRUE(contains(lines[1], "--lcores=" + std::to_string(worker_lcore(0, true)) + "@2"))
      << lines[1];
  EXPECT_TRUE(contains(lines[1], "-- --worker-id 0 --replace " + std::to_string(old_pid)))
      << lines[1];

  // The next replacement alternates back.
  ASSERT_EQ(h.sup->begin_replace(0), "");
  const pid_t third = h.status(0).replacing_pid;
  const ExitOutcome out2 = h.exit_of(new_pid);
  EXPECT_EQ(out2.kind, ExitOutcome::kHandedOver);
  EXPECT_EQ(out2.lcore, worker_lcore(0, true));
  EXPECT_EQ(h.status(0).pid, third);
  EXPECT_EQ(h.status(0).restarts, 2u);
  const std::vector<std::string> lines3 = h.fake.log(3);
  ASSERT_EQ(lines3.size(), 3u);
  EXPECT_TRUE(contains(lines3[2], "--lcores=" + std::to_string(worker_lcore(0, false)) + "@2"))
      << lines3[2];
}

TEST(WorkerSupervisor, AReplacementThatDiesFirstLeavesTheOldOneRunning) {
  SupervisorHarness h(test_options({0}));
  h.fake.set_replace_mode("exit 69");
  ASSERT_EQ(h.sup->start_all(), "");
  const pid_t old_pid = h.status(0).pid;
  ASSERT_EQ(h.sup->begin_replace(0), "");
  const pid_t new_pid = h.status(0).replacing_pid;
  ASSERT_GT(new_pid, 0);

  const ExitOutcome out = h.exit_of(new_pid);
  EXPECT_EQ(out.kind, ExitOutcome::kReplaceFailed);
  EXPECT_EQ(out.worker, 0);
  EXPECT_EQ(out.detail, "exit 69");
  EXPECT_EQ(out.lcore, worker_lcore(0, true));
  const WorkerStatus s = h.status(0);
  EXPECT_EQ(s.pid, old_pid);
  EXPECT_EQ(s.replacing_pid, 0);
  EXPECT_TRUE(s.running);
  EXPECT_EQ(s.state(), "running");
  EXPECT_EQ(s.crashes_in_row, 0);
  EXPECT_TRUE(alive(old_pid));
  EXPECT_TRUE(reaped(new_pid));
  EXPECT_EQ(h.sup->begin_replace(0), "");  // and it can be tried again
}

TEST(WorkerSupervisor, AnOldProcessKilledDuringTheHandOverLostItsBuffers) {
  SupervisorHarness h(test_options({0}));
  h.fake.set_replace_mode("sleep");  // a replacement still attaching: it has not signalled yet
  ASSERT_EQ(h.sup->start_all(), "");
  const pid_t old_pid = h.status(0).pid;
  ASSERT_EQ(h.sup->begin_replace(0), "");
  const pid_t new_pid = h.status(0).replacing_pid;
  ASSERT_EQ(kill(old_pid, SIGKILL), 0);

  const ExitOutcome out = h.exit_of(old_pid);
  EXPECT_EQ(out.kind, ExitOutcome::kHandedOver);
  EXPECT_EQ(out.detail, "signal 9");
  EXPECT_TRUE(out.lost_buffers);
  EXPECT_EQ(h.status(0).pid, new_pid);
}

TEST(WorkerSupervisor, StopAllLeavesNoChild) {
  SupervisorHarness h(test_options({0, 1, 2}));
  h.fake.set_mode(1, "ignore-term");  // needs the SIGKILL after the grace period
  h.fake.set_replace_mode("sleep");   // a replacement that never takes over
  ASSERT_EQ(h.sup->start_all(), "");
  ASSERT_TRUE(h.fake.wait_ready(1));
  ASSERT_EQ(h.sup->begin_replace(2), "");
  std::vector<pid_t> pids;
  for (const WorkerStatus& s : h.sup->status()) pids.push_back(s.pid);
  pids.push_back(h.status(2).replacing_pid);
  for (pid_t p : pids) ASSERT_TRUE(alive(p)) << p;

  const auto t0 = Clock::now();
  h.sup->stop_all(300ms);
  const auto took = Clock::now() - t0;
  EXPECT_GE(took, 250ms);  // worker 1 ignored SIGTERM
  EXPECT_LT(took, 3s);
  for (pid_t p : pids) EXPECT_TRUE(reaped(p)) << p;
  for (const WorkerStatus& s : h.sup->status()) {
    EXPECT_FALSE(s.running) << s.id;
    EXPECT_EQ(s.pid, 0) << s.id;
    EXPECT_EQ(s.replacing_pid, 0) << s.id;
    EXPECT_EQ(s.state(), "stopped") << s.id;
  }
  for (pid_t p : pids) EXPECT_EQ(h.sup->on_exit(p).kind, ExitOutcome::kUnknown) << p;
}

// --- a worker's start-up against port changes (daemon/hotplug_gate.hpp) ------------------------

TEST(HotplugGate, AChangeWaitsForAttachingWorkersAndNewWorkersWaitForAChange) {
  HotplugGate gate;
  ASSERT_TRUE(gate.begin_attach(0ms));
  std::atomic<bool> changed{false};
  std::thread change([&] {
    HotplugGate::Change c(gate, 5s);
    EXPECT_TRUE(c.waited_enough());
    changed = true;
    std::this_thread::sleep_for(200ms);
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(changed);                   // a worker is attaching
  EXPECT_TRUE(gate.change_in_progress());  // waiting counts: no new worker starts meanwhile
  const auto t0 = Clock::now();
  gate.end_attach();
  EXPECT_TRUE(gate.begin_attach(5s));  // waits for the change's 200 ms
  EXPECT_GE(Clock::now() - t0, 150ms);
  EXPECT_TRUE(changed);
  change.join();
  EXPECT_FALSE(gate.change_in_progress());
  gate.end_attach();
  EXPECT_EQ(gate.attaching(), 0);
}

TEST(HotplugGate, BothWaitsAreBounded) {
  HotplugGate gate;
  ASSERT_TRUE(gate.begin_attach(0ms));  // a worker that hangs in its start-up
  auto t0 = Clock::now();
  {
    HotplugGate::Change c(gate, 100ms);
    EXPECT_FALSE(c.waited_enough());
    EXPECT_GE(Clock::now() - t0, 90ms);
    t0 = Clock::now();
    EXPECT_FALSE(gate.begin_attach(100ms));  // a change that hangs: counted all the same
    EXPECT_GE(Clock::now() - t0, 90ms);
  }
  EXPECT_EQ(gate.attaching(), 2);
}

TEST(WorkerSupervisor, AWorkerCountsAsAttachingUntilItsEalStartUpReturns) {
  SupervisorHarness h(test_options({0}));
  h.fake.set_mode(0, "slow-attach");  // closes its attach pipe 0.4 s after it starts
  HotplugGate& gate = HotplugGate::instance();
  ASSERT_EQ(h.sup->start_all(), "");
  EXPECT_EQ(gate.attaching(), 1);
  const auto t0 = Clock::now();
  {
    HotplugGate::Change c(gate, 5s);
    EXPECT_TRUE(c.waited_enough());
  }
  EXPECT_GE(Clock::now() - t0, 250ms);
  EXPECT_EQ(gate.attaching(), 0);
  const std::vector<std::string> lines = h.fake.log(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(contains(lines[0], " --attached-fd 3")) << lines[0];
}

TEST(WorkerSupervisor, AStartWaitsForAPortChangeToEnd) {
  SupervisorHarness h(test_options({0}));
  HotplugGate& gate = HotplugGate::instance();
  std::atomic<bool> holding{false};
  std::thread change([&] {
    HotplugGate::Change c(gate, 5s);
    holding = true;
    std::this_thread::sleep_for(300ms);
  });
  while (!holding) std::this_thread::sleep_for(1ms);
  const auto t0 = Clock::now();
  ASSERT_EQ(h.sup->start(0), "");
  EXPECT_GE(Clock::now() - t0, 250ms);
  change.join();
  EXPECT_TRUE(h.status(0).running);
}

// --- the supervisor actor -----------------------------------------------------------------------

class SupervisorActorTest : public ::testing::Test {
 protected:
  void start(SupervisorOptions opts) {
    harness_ = std::make_unique<SupervisorHarness>(std::move(opts));
    refs_ = std::make_unique<SupervisorRefs>(
        SupervisorRefs{*harness_->sup, [this](const ExitOutcome& out) { outcomes_.push_back(out); },
                       [this](int w) {
                         forwarding_asked_.push_back(w);
                         return true;
                       },
                       beat_, [](uint16_t port) { return "p" + std::to_string(port); }});
    topology_ = ts_.sys->spawn(fake_topology, &log_);
    sup_ = ts_.sys->spawn(supervisor_behavior, refs_.get(), topology_);
    ts_.sched->run();
    self_->send(sup_, start_atom::value);
    ts_.sched->run();
    bool started = false;
    self_->receive([&](bool ok) { started = ok; },
                   [&](const caf::error& e) { ADD_FAILURE() << error_reason(e, ts_.sys.get()); },
                   caf::after(std::chrono::seconds(0)) >> [] {});
    EXPECT_TRUE(started);
  }

  void TearDown() override {
    if (sup_) {
      self_->send(sup_, stop_atom::value);
      ts_.sched->run();
      bool stopped = false;
      self_->receive([&](bool b) { stopped = b; }, caf::after(std::chrono::seconds(0)) >> [] {});
      EXPECT_TRUE(stopped);
      for (const WorkerStatus& s : harness_->sup->status()) EXPECT_EQ(s.pid, 0);
      caf::anon_send_exit(sup_, caf::exit_reason::user_shutdown);
    }
    if (topology_) caf::anon_send_exit(topology_, caf::exit_reason::user_shutdown);
    ts_.sched->run();
  }

  // Feeds exits to the actor and runs it (firing its delayed messages if `fire_timers`) until
  // `done` holds; false after 10 s.
  template <class Pred>
  bool pump(Pred done, bool fire_timers = true, std::chrono::milliseconds limit = 10s) {
    const auto deadline = Clock::now() + limit;
    for (;;) {
      for (pid_t pid : harness_->exits.drain())
        caf::anon_send(sup_, exited_atom::value, int32_t{pid});
      ts_.sched->run();
      if (fire_timers && ts_.sched->has_pending_timeout()) {
        ts_.sched->trigger_timeouts();
        ts_.sched->run();
      }
      if (done()) return true;
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(1ms);
    }
  }

  json show() {
    self_->send(sup_, show_atom::value);
    ts_.sched->run();
    std::optional<std::string> reply = take_reply(self_, *ts_.sys);
    if (!reply) {
      ADD_FAILURE() << "no reply to show";
      return json::object();
    }
    return json::parse(*reply, nullptr, false);
  }

  WorkerStatus status(int w) const { return harness_->status(w); }

  TestSystem ts_;
  caf::scoped_actor self_{*ts_.sys};
  std::unique_ptr<SupervisorHarness> harness_;
  std::unique_ptr<SupervisorRefs> refs_;
  std::vector<ExitOutcome> outcomes_;
  std::vector<int> forwarding_asked_;
  std::function<WorkerBeat(int)> beat_;       // the counter blocks' heartbeats; none: no check
  std::array<std::atomic<bool>, 2> stale_{};  // for beat_: worker w's beat is 2 s old
  DatapathLog log_;
  topology_actor topology_;
  supervisor_actor sup_;
};

TEST_F(SupervisorActorTest, ACrashLoopingWorkerIsGivenUpAndItsQueuesMove) {
  SupervisorOptions o = test_options({0, 1});
  o.fault_crash_worker = 1;
  o.crash_loop_limit = 3;
  start(o);
  const pid_t p0 = status(0).pid;
  ASSERT_TRUE(pump([&] { return status(1).failed; })) << "worker 1 was not given up";

  ASSERT_EQ(outcomes_.size(), 3u);
  const ExitOutcome::Kind kinds[] = {ExitOutcome::kRestartLater, ExitOutcome::kRestartLater,
                                     ExitOutcome::kGaveUp};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(outcomes_[i].kind, kinds[i]) << i;
    EXPECT_EQ(outcomes_[i].worker, 1) << i;
    EXPECT_EQ(outcomes_[i].detail, "signal 11") << i;
    EXPECT_TRUE(outcomes_[i].held_queues) << i;  // reclaimed after each respawn
  }
  EXPECT_EQ(outcomes_[0].delay, 4ms);
  EXPECT_EQ(outcomes_[1].delay, 8ms);

  // Each crash lent worker 1's queues to worker 0; each respawn took them back once it
  // forwarded; giving up leaves worker 1 out for good.
  EXPECT_EQ(log_.masks, (std::vector<uint64_t>{0b01, 0b11, 0b01, 0b11, 0b01}));
  EXPECT_EQ(forwarding_asked_, (std::vector<int>{1, 1}));

  const json j = show();
  ASSERT_EQ(j.value("ok", false), true) << j.dump();
  ASSERT_EQ(j.at("workers").size(), 2u);
  const json& w1 = j.at("workers").at(1);
  EXPECT_EQ(w1.value("id", -1), 1);
  EXPECT_EQ(w1.value("state", ""), "failed");
  EXPECT_EQ(w1.value("pid", -1), 0);
  EXPECT_EQ(w1.value("crashes_in_row", -1), 3);
  EXPECT_EQ(w1.value("starts", -1), 3);
  EXPECT_EQ(w1.value("restarts", -1), 2);
  EXPECT_EQ(w1.value("last_exit", ""), "signal 11");
  EXPECT_EQ(w1.value("cpu", -1), 1);
  const json& w0 = j.at("workers").at(0);
  EXPECT_EQ(w0.value("state", ""), "running");
  EXPECT_EQ(w0.value("pid", -1), p0);
  EXPECT_TRUE(alive(p0));
}

TEST_F(SupervisorActorTest, RestartOfARunningWorkerAnswersOnceTheReplacementTookOver) {
  start(test_options({0}));
  const pid_t old_pid = status(0).pid;
  self_->send(sup_, restart_atom::value, int32_t{0});
  std::optional<std::string> reply;
  ASSERT_TRUE(pump([&] { return (reply = take_reply(self_, *ts_.sys)).has_value(); }))
      << "no reply to worker restart";
  const json r = json::parse(*reply, nullptr, false);
  ASSERT_EQ(r.value("ok", false), true) << *reply;
  EXPECT_EQ(r.value("worker", -1), 0);
  EXPECT_EQ(r.value("old_pid", -1), old_pid);
  const pid_t new_pid = status(0).pid;
  EXPECT_EQ(r.value("new_pid", -1), new_pid);
  EXPECT_NE(new_pid, old_pid);
  EXPECT_TRUE(r.at("ms").is_number());
  EXPECT_TRUE(alive(new_pid));
  EXPECT_TRUE(reaped(old_pid));
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].kind, ExitOutcome::kHandedOver);
  EXPECT_TRUE(log_.masks.empty());  // a replacement does not change who polls

  // Out of range.
  self_->send(sup_, restart_atom::value, int32_t{5});
  ts_.sched->run();
  const json bad = json::parse(take_reply(self_, *ts_.sys).value_or("{}"), nullptr, false);
  EXPECT_EQ(bad.value("ok", true), false);
  EXPECT_EQ(bad.value("error", ""), "no worker 5 (workers are 0..0)");
}

TEST_F(SupervisorActorTest, RestartOfAFailedReplacementReportsTheError) {
  start(test_options({0}));
  harness_->fake.set_replace_mode("exit 69");
  const pid_t old_pid = status(0).pid;
  self_->send(sup_, restart_atom::value, int32_t{0});
  std::optional<std::string> reply;
  ASSERT_TRUE(pump([&] { return (reply = take_reply(self_, *ts_.sys)).has_value(); }));
  const json r = json::parse(*reply, nullptr, false);
  EXPECT_EQ(r.value("ok", true), false) << *reply;
  EXPECT_TRUE(contains(r.value("error", ""), "(exit 69) before taking over")) << *reply;
  EXPECT_EQ(status(0).pid, old_pid);
  EXPECT_TRUE(alive(old_pid));
}

// The old process killed during the hand-over took the buffers it had posted with it: the new
// process is stopped too, with SIGTERM (a SIGKILL inside its rte_eal_init could leave a DPDK lock
// held), and the worker restarts as after a crash (whose clean-up refills the pool).
TEST_F(SupervisorActorTest, AnOldProcessKilledDuringARestartRestartsTheWorker) {
  start(test_options({0}));
  harness_->fake.set_replace_mode("sleep");
  const pid_t old_pid = status(0).pid;
  self_->send(sup_, restart_atom::value, int32_t{0});
  ts_.sched->run();
  const pid_t new_pid = status(0).replacing_pid;
  ASSERT_GT(new_pid, 0);
  ASSERT_EQ(kill(old_pid, SIGKILL), 0);

  std::optional<std::string> reply;
  ASSERT_TRUE(pump([&] { return (reply = take_reply(self_, *ts_.sys)).has_value(); }));
  const json r = json::parse(*reply, nullptr, false);
  EXPECT_EQ(r.value("ok", true), false) << *reply;
  EXPECT_TRUE(contains(r.value("error", ""), "(signal 9) during the hand-over")) << *reply;
  ASSERT_TRUE(pump([&] {
    const WorkerStatus s = status(0);
    return s.running && s.pid != 0 && s.pid != old_pid && s.pid != new_pid;
  })) << "worker 0 was not restarted";
  EXPECT_TRUE(reaped(old_pid));
  EXPECT_TRUE(reaped(new_pid));
  ASSERT_GE(outcomes_.size(), 2u);
  EXPECT_EQ(outcomes_[0].kind, ExitOutcome::kHandedOver);
  EXPECT_TRUE(outcomes_[0].lost_buffers);
  EXPECT_EQ(outcomes_[1].kind, ExitOutcome::kRestartLater);
  EXPECT_EQ(outcomes_[1].detail, "signal 15");  // the fake worker does not catch SIGTERM
}

TEST_F(SupervisorActorTest, RestartDuringTheBackoffGetsTheQueuesBack) {
  start(test_options({0, 1}));
  kill(status(1).pid, SIGKILL);
  // The crash lends worker 1's queues to worker 0; its respawn waits for the back-off.
  ASSERT_TRUE(pump([&] { return !outcomes_.empty(); }, /*fire_timers=*/false));
  EXPECT_EQ(outcomes_[0].kind, ExitOutcome::kRestartLater);
  EXPECT_EQ(log_.masks, std::vector<uint64_t>{0b01});
  EXPECT_EQ(status(1).state(), "restarting");

  // `vswitchctl worker restart 1` before the back-off is over.
  self_->send(sup_, restart_atom::value, int32_t{1});
  ts_.sched->run();
  const json r = json::parse(take_reply(self_, *ts_.sys).value_or("{}"), nullptr, false);
  ASSERT_EQ(r.value("ok", false), true) << r.dump();
  EXPECT_EQ(r.value("was", ""), "restarting");
  EXPECT_EQ(r.value("new_pid", -1), status(1).pid);

  // The delayed respawn finds it running. Worker 1 must poll its own queues again.
  pump([&] { return !log_.masks.empty() && log_.masks.back() == 0b11; }, true, 500ms);
  EXPECT_EQ(log_.masks.back(), 0b11u) << "worker 1's queues stay lent to worker 0";
  EXPECT_EQ(outcomes_.size(), 1u);
}

TEST_F(SupervisorActorTest, ACrashedWorkerRestartsOnlyOnceThePortChangeIsOver) {
  start(test_options({0, 1}));
  std::optional<HotplugGate::Change> change;
  change.emplace(HotplugGate::instance(), 5s);  // a port del in progress
  ASSERT_TRUE(change->waited_enough());
  const pid_t old_pid = status(1).pid;
  kill(old_pid, SIGKILL);
  ASSERT_TRUE(pump([&] { return !outcomes_.empty(); }, /*fire_timers=*/false));
  EXPECT_EQ(outcomes_[0].kind, ExitOutcome::kRestartLater);
  // Its back-off and many polls of the gate pass: not started while the change runs.
  EXPECT_FALSE(pump([&] { return status(1).running; }, true, 300ms));
  EXPECT_EQ(status(1).state(), "restarting");
  EXPECT_EQ(log_.masks, std::vector<uint64_t>{0b01});  // its queues lent meanwhile
  change.reset();
  ASSERT_TRUE(pump([&] { return status(1).running; }, true, 5s));
  EXPECT_NE(status(1).pid, old_pid);
  ASSERT_TRUE(pump([&] { return log_.masks.back() == 0b11; }, true, 2s));
}

// --- the stall deadline -------------------------------------------------------------------------

TEST(StallDecision, OnlyAReadyProcessIsJudgedAndOnlyByItsOwnBeat) {
  const uint64_t s = 1000000000ull, deadline = 500000000ull, now = 100 * s;
  WorkerBeat b;
  b.pid = 42;
  b.state = static_cast<uint32_t>(WorkerState::kRunning);
  b.beat_ns = now - 2 * s;  // 2 s old: stalled if judged
  EXPECT_EQ(judge_heartbeat(b, 42, now, 0, deadline), StallVerdict::kStalled);
  // Not the process the supervisor runs: its replacement, or a new process still in rte_eal_init
  // (the block names its predecessor).
  EXPECT_EQ(judge_heartbeat(b, 43, now, 0, deadline), StallVerdict::kNotJudged);
  EXPECT_EQ(judge_heartbeat(b, 0, now, 0, deadline), StallVerdict::kNotJudged);
  // Attached but not forwarding yet (taking over from an old process, claiming queues), or
  // stopping: not judged.
  for (WorkerState st : {WorkerState::kStarting, WorkerState::kStopped}) {
    WorkerBeat x = b;
    x.state = static_cast<uint32_t>(st);
    EXPECT_EQ(judge_heartbeat(x, 42, now, 0, deadline), StallVerdict::kNotJudged);
  }
  // Handing queues over at a port table change: not judged either.
  {
    WorkerBeat x = b;
    x.phase = static_cast<uint32_t>(WorkerPhase::kHandOver);
    EXPECT_EQ(judge_heartbeat(x, 42, now, 0, deadline), StallVerdict::kNotJudged);
  }
  // Within the deadline, at it, and a beat newer than the supervisor's clock reading.
  b.beat_ns = now - deadline;
  EXPECT_EQ(judge_heartbeat(b, 42, now, 0, deadline), StallVerdict::kAlive);
  b.beat_ns = now - deadline - 1;
  EXPECT_EQ(judge_heartbeat(b, 42, now, 0, deadline), StallVerdict::kStalled);
  b.beat_ns = now - 50000000ull;
  EXPECT_EQ(judge_heartbeat(b, 42, now, 0, deadline), StallVerdict::kAlive);
  b.beat_ns = now + 1000;
  EXPECT_EQ(judge_heartbeat(b, 42, now, 0, deadline), StallVerdict::kAlive);
  // Time spent waiting for a CPU does not count: 2 s old, 1.6 s of it on a run queue.
  b.beat_ns = now - 2 * s;
  b.run_delay_ns = 7 * s;
  EXPECT_EQ(judge_heartbeat(b, 42, now, 7 * s + 1600000000ull, deadline), StallVerdict::kAlive);
  EXPECT_EQ(stall_age_ns(b, now, 7 * s + 1600000000ull), 400000000ull);
  EXPECT_EQ(judge_heartbeat(b, 42, now, 7 * s + 1400000000ull, deadline), StallVerdict::kStalled);
  // A stopped or blocked process waits for nothing: the full age counts. Unknown (0): too.
  EXPECT_EQ(judge_heartbeat(b, 42, now, 7 * s, deadline), StallVerdict::kStalled);
  EXPECT_EQ(judge_heartbeat(b, 42, now, 0, deadline), StallVerdict::kStalled);
  // Waited more than the age (clock granularity): age 0, alive.
  EXPECT_EQ(stall_age_ns(b, now, 10 * s), 0u);
}

TEST(StallDecision, CheckPeriodIsAFifthOfTheDeadlineWithinBounds) {
  EXPECT_EQ(heartbeat_check_period(500ms), 100ms);
  EXPECT_EQ(heartbeat_check_period(200ms), 40ms);
  EXPECT_EQ(heartbeat_check_period(60000ms), 100ms);
  EXPECT_EQ(heartbeat_check_period(20ms), 10ms);
}

// A worker whose heartbeat stops is killed (SIGKILL) and goes the crash path: its queues lent at
// once, a restart after the back-off; `stalled` until then, counted, with its exit named. The
// other worker, beating, is left alone.
TEST_F(SupervisorActorTest, AStalledWorkerIsKilledAndRestartedAsAfterACrash) {
  beat_ = [this](int w) {
    WorkerBeat b;
    b.pid = status(w).pid;
    b.state = static_cast<uint32_t>(WorkerState::kRunning);
    b.beat_ns = monotonic_ns() - (stale_[static_cast<size_t>(w)] ? 2000000000ull : 10000000ull);
    b.phase = static_cast<uint32_t>(WorkerPhase::kPolling);
    b.port = 3;
    b.queue = 1;
    return b;
  };
  SupervisorOptions o = test_options({0, 1});
  o.stall_after = 500ms;
  start(o);
  const pid_t p0 = status(0).pid, p1 = status(1).pid;
  // Beating: checked many times, nobody killed.
  for (int i = 0; i < 20; ++i) {
    self_->send(sup_, heartbeat_atom::value);
    ts_.sched->run();
  }
  EXPECT_TRUE(outcomes_.empty());
  EXPECT_EQ(status(1).stalls, 0u);

  stale_[1] = true;
  self_->send(sup_, heartbeat_atom::value);
  ASSERT_TRUE(pump([&] { return !outcomes_.empty(); }, /*fire_timers=*/false))
      << "the stalled worker was not killed";
  EXPECT_EQ(outcomes_[0].kind, ExitOutcome::kRestartLater);
  EXPECT_EQ(outcomes_[0].worker, 1);
  EXPECT_EQ(outcomes_[0].detail, "stalled, signal 9");
  EXPECT_TRUE(reaped(p1));
  EXPECT_EQ(log_.masks, std::vector<uint64_t>{0b01});  // its queues lent to worker 0 at once
  json j = show();
  const json& w1 = j.at("workers").at(1);
  EXPECT_EQ(w1.value("state", ""), "stalled");
  EXPECT_EQ(w1.value("stalls", -1), 1);
  EXPECT_EQ(w1.value("last_exit", ""), "stalled, signal 9");
  EXPECT_EQ(w1.value("crashes_in_row", -1), 1);

  stale_[1] = false;
  ASSERT_TRUE(pump([&] {
    const WorkerStatus s = status(1);
    return s.running && s.pid != 0 && s.pid != p1 && !log_.masks.empty() &&
           log_.masks.back() == 0b11;
  })) << "the stalled worker was not restarted with its queues";
  j = show();
  EXPECT_EQ(j.at("workers").at(1).value("state", ""), "running");
  EXPECT_EQ(j.at("workers").at(1).value("stalls", -1), 1);
  EXPECT_EQ(j.at("workers").at(0).value("stalls", -1), 0);
  EXPECT_EQ(status(0).pid, p0);
  EXPECT_TRUE(alive(p0));
  EXPECT_EQ(outcomes_.size(), 1u);
}

// A process that has not said it forwards (attaching, taking over) is not judged, however old
// the beat in its block.
TEST_F(SupervisorActorTest, AWorkerThatIsNotReadyIsNotJudged) {
  beat_ = [this](int w) {
    WorkerBeat b;
    b.pid = status(w).pid;
    b.state = static_cast<uint32_t>(WorkerState::kStarting);
    b.beat_ns = monotonic_ns() - 5000000000ull;
    return b;
  };
  SupervisorOptions o = test_options({0});
  o.stall_after = 200ms;
  start(o);
  const pid_t p0 = status(0).pid;
  for (int i = 0; i < 20; ++i) {
    self_->send(sup_, heartbeat_atom::value);
    ts_.sched->run();
  }
  std::this_thread::sleep_for(50ms);
  ts_.sched->run();
  EXPECT_TRUE(outcomes_.empty());
  EXPECT_EQ(status(0).pid, p0);
  EXPECT_TRUE(alive(p0));
  EXPECT_EQ(status(0).stalls, 0u);
}

// --- topology actor -----------------------------------------------------------------------------

// The real topology actor over a table in ordinary memory; the ports are one port "vm1" with four
// rx queues, each given to its home worker (q mod 2) if active, else to worker 0.
class TopologyActorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shared_ = std::make_unique<SharedTopology>();
    topology_init(*shared_);
    refs_ = std::make_unique<TopologyRefs>(
        TopologyRefs{*shared_, 2, [this](const std::vector<bool>& active, TopologyTable& out) {
                       builds_.push_back(active);
                       std::memset(&out, 0, sizeof(out));
                       out.nb_workers = 2;
                       out.nb_ports = 1;
                       PortEntry& e = out.ports[0];
                       std::snprintf(e.name, sizeof(e.name), "vm1");
                       e.nb_rx_queues = 4;
                       for (int q = 0; q < 4; ++q)
                         e.rxq_owner[q] = static_cast<uint8_t>(active[q % 2] ? q % 2 : 0);
                     }});
    actor_ = ts_.sys->spawn(topology_behavior, refs_.get());
    ts_.sched->run();
  }
  void TearDown() override {
    caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
    ts_.sched->run();
  }

  uint64_t publish() {
    self_->send(actor_, publish_atom::value);
    ts_.sched->run();
    uint64_t gen = 0;
    self_->receive([&gen](uint64_t g) { gen = g; },
                   [this](caf::error& e) { ADD_FAILURE() << ts_.sys->render(e); },
                   caf::after(std::chrono::seconds(0)) >> [] { ADD_FAILURE() << "no reply"; });
    return gen;
  }
  // The owners of vm1's queues as the workers would read them now, e.g. "0101".
  std::string owners() {
    auto t = std::make_unique<TopologyTable>();
    if (topology_snapshot(*shared_, *t) == 0 || t->nb_ports != 1) return "?";
    std::string out;
    for (int q = 0; q < 4; ++q) out += std::to_string(t->ports[0].rxq_owner[q]);
    return out;
  }
  uint64_t generation() const { return shared_->generation.load(std::memory_order_acquire); }

  TestSystem ts_;
  caf::scoped_actor self_{*ts_.sys};
  std::unique_ptr<SharedTopology> shared_;
  std::unique_ptr<TopologyRefs> refs_;
  std::vector<std::vector<bool>> builds_;
  topology_actor actor_;
};

TEST_F(TopologyActorTest, PublishRepliesWithTheGenerationTheWorkersThenRead) {
  const uint64_t g1 = publish();
  EXPECT_GT(g1, 0u);
  EXPECT_EQ(g1, generation());
  EXPECT_EQ(owners(), "0101");
  const uint64_t g2 = publish();
  EXPECT_GT(g2, g1);
  ASSERT_EQ(builds_.size(), 2u);
  EXPECT_EQ(builds_.back(), (std::vector<bool>{true, true}));  // every worker until told
}

TEST_F(TopologyActorTest, AWorkerLeftOutIsPublishedAtOnceAndKeptByLaterPublishes) {
  publish();
  const uint64_t before = generation();
  self_->send(actor_, workers_atom::value, uint64_t{0b01});  // worker 1 crashed: lend its queues
  ts_.sched->run();
  EXPECT_GT(generation(), before) << "no publish for the supervisor's news";
  EXPECT_EQ(owners(), "0000");
  publish();  // a port change meanwhile: worker 1 stays out
  EXPECT_EQ(builds_.back(), (std::vector<bool>{true, false}));
  EXPECT_EQ(owners(), "0000");
  self_->send(actor_, workers_atom::value, uint64_t{0b11});  // its new process forwards
  ts_.sched->run();
  EXPECT_EQ(owners(), "0101");
}

}  // namespace
}  // namespace vs
