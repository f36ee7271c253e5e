// The switch actor with its real PortManager, a real EAL primary, real net_rtap ports (TAPs) and
// the real topology actor publishing into the shared port/queue table: what it replies to each
// message, what the table and the kernel then hold.
//
// Not on CAF's test coordinator: the switch actor blocks by design (it is spawned detached in
// vswitchd, and waits on its own thread for the topology actor's publish, the workers and the
// driver), which the coordinator's single thread cannot run. So the threaded scheduler, and every
// request has a deadline. No worker runs, so the waits for workers end at once.
#include <gtest/gtest.h>
#include <net/if.h>

#include <caf/all.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "actors/switch_actor.hpp"
#include "actors/topology_actor.hpp"
#include "config/config_toml.hpp"
#include "daemon/datapath_memory.hpp"
#include "daemon/fdb_service.hpp"
#include "daemon/port_manager.hpp"
#include "daemon/switch_snapshots.hpp"
#include "eal_env.hpp"

namespace vs {
namespace {

const std::string kDaemon = "[daemon]\nfile_prefix = \"vsswitchtest\"\nworkers = 1\n\n";

config::Config load(const std::string& text) {
  config::LoadResult r = config::load_config_string(text, "test");
  EXPECT_TRUE(r.ok()) << config::format_errors(r);
  return r.ok() ? *r.config : config::Config{};
}

// The [[switch.port]] tables of sw0 in `ports`, as the validator fills them in.
std::vector<config::PortConfig> ports_of(const std::string& ports) {
  return load(kDaemon + "[[switch]]\nname = \"sw0\"\n" + ports).switches.at(0).ports;
}

std::string rtap_port(const std::string& name, const std::string& extra = "") {
  return "[[switch.port]]\nname = \"" + name + "\"\ndriver = \"rtap\"\n" + extra + "\n";
}

bool netdev_exists(const std::string& name) {
  return if_nametoindex(name.c_str()) != 0;
}

class SwitchActorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(vstest::EalEnvironment::ready());
    // sw0 starts with no port; vm1 and vm2 (names unique to this process) come by messages.
    startup_ = load(kDaemon + "[[switch]]\nname = \"sw0\"\n");
    vm1_ = vstest::unique_name("vsa");
    vm2_ = vstest::unique_name("vsb");
    const auto all = ports_of(rtap_port(vm1_) + rtap_port(vm2_));
    ASSERT_EQ(all.size(), 2u);
    ASSERT_EQ(mem_.create(1,
                          mbufs_needed_per_worker(load(kDaemon + "[[switch]]\nname = \"sw0\"\n" +
                                                       rtap_port(vm1_) + rtap_port(vm2_))),
                          1024),
              "");
    ports_ = std::make_unique<PortManager>(startup_, mem_, 0);
    directory_ = PortDirectory({ports_.get()});
    fdb_ = std::make_unique<FdbService>(mem_, startup_, directory_);
    topo_refs_ = std::make_unique<TopologyRefs>(TopologyRefs{
        mem_.topology(), 1, [this](const std::vector<bool>& active, TopologyTable& out) {
          PortManager::build_topology({ports_.get()}, active, out);
        }});
    publish_table(*topo_refs_, ~0ull);
    topology_ = sys_.spawn(topology_behavior, topo_refs_.get());
    refs_.reset(new SwitchRefs{"sw0", *ports_, mem_, *fdb_});
    actor_ = sys_.spawn<caf::detached>(switch_behavior, refs_.get(), topology_);
  }

  void TearDown() override {
    if (actor_) {
      ask<bool>(stop_atom::value);
      caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
    }
    if (topology_) caf::anon_send_exit(topology_, caf::exit_reason::user_shutdown);
    sys_.await_all_actors_done();
    fdb_.reset();
    ports_.reset();
    mem_.destroy();
  }

  // The reply to one request, or its error (as `error`); a deadline fails the test.
  template <class R, class... Ts>
  std::optional<R> ask(Ts&&... xs) {
    caf::scoped_actor self{sys_};
    std::optional<R> out;
    error_ = caf::error{};
    self->request(actor_, std::chrono::seconds(30), std::forward<Ts>(xs)...)
        .receive([&out](R& r) { out = std::move(r); }, [this](caf::error& e) { error_ = e; });
    return out;
  }

  ChangesPtr adding(std::vector<config::PortConfig> ports) {
    auto c = std::make_shared<SwitchChanges>();
    c->added = std::move(ports);
    return c;
  }

  // The published table's port names, in order.
  std::vector<std::string> published() {
    auto t = std::make_unique<TopologyTable>();
    std::vector<std::string> names;
    if (topology_snapshot(mem_.topology(), *t) == 0) return {"?"};
    for (uint16_t i = 0; i < t->nb_ports; ++i) names.push_back(t->ports[i].name);
    return names;
  }

  caf::actor_system_config cfg_ = [] {
    caf::actor_system_config c;
    c.set("logger.verbosity", caf::atom("quiet"));
    c.set("logger.file-verbosity", caf::atom("quiet"));
    return c;
  }();
  caf::actor_system sys_{cfg_};
  config::Config startup_;
  std::string vm1_, vm2_;
  DatapathMemory mem_;
  std::unique_ptr<PortManager> ports_;
  PortDirectory directory_;
  std::unique_ptr<FdbService> fdb_;
  std::unique_ptr<TopologyRefs> topo_refs_;
  std::unique_ptr<SwitchRefs> refs_;
  topology_actor topology_;
  switch_actor actor_;
  caf::error error_;
};

TEST_F(SwitchActorTest, AddedPortsArePublishedAndSnapshotWithTheDriversFigures) {
  ASSERT_TRUE(ask<bool>(add_atom::value, adding(ports_of(rtap_port(vm1_) + rtap_port(vm2_)))))
      << sys_.render(error_);
  EXPECT_EQ(published(), (std::vector<std::string>{vm1_, vm2_}));
  EXPECT_TRUE(netdev_exists(vm1_));
  EXPECT_TRUE(netdev_exists(vm2_));

  const auto snap = ask<SwitchSnapshot>(snapshot_atom::value);
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->switch_name, "sw0");
  EXPECT_FALSE(snap->stale);
  ASSERT_EQ(snap->ports.size(), 2u);
  for (const PortSnapshot& p : snap->ports) {
    EXPECT_TRUE(p.started) << p.name;
    EXPECT_TRUE(p.stats_ok) << p.name << ": the driver's statistics were read";
    EXPECT_NE(p.mac, 0u) << p.name;
    EXPECT_EQ(p.nb_queues, 2) << p.name << ": workers + 1";
    EXPECT_TRUE(p.link_up.has_value()) << p.name;
  }
  EXPECT_EQ(snap->ports[0].name, vm1_);
}

TEST_F(SwitchActorTest, AFailedAddClosesWhatItMadeAndSaysWhy) {
  // The second port asks for more queues than net_rtap has (past the validator, whose cap is
  // lower, as a port the driver refuses): the first one must not stay.
  auto ports = ports_of(rtap_port(vm1_) + rtap_port(vm2_));
  ports.at(1).queues = 65;
  EXPECT_FALSE(ask<bool>(add_atom::value, adding(ports)));
  EXPECT_EQ(error_, errc::port_failed) << sys_.render(error_);
  EXPECT_NE(error_reason(error_).find("at most 64 queues"), std::string::npos)
      << error_reason(error_);
  EXPECT_FALSE(netdev_exists(vm1_));
  EXPECT_TRUE(published().empty());
  const auto snap = ask<SwitchSnapshot>(snapshot_atom::value);
  ASSERT_TRUE(snap);
  EXPECT_TRUE(snap->ports.empty());
}

TEST_F(SwitchActorTest, UndoRemovesTheAddedPortsFromTheTableAndTheKernel) {
  const auto ports = ports_of(rtap_port(vm1_) + rtap_port(vm2_));
  ASSERT_TRUE(ask<bool>(add_atom::value, adding(ports))) << sys_.render(error_);
  ASSERT_TRUE(ask<bool>(undo_atom::value, adding(ports)));
  EXPECT_TRUE(published().empty());
  EXPECT_FALSE(netdev_exists(vm1_));
  EXPECT_FALSE(netdev_exists(vm2_));
}

TEST_F(SwitchActorTest, ApplyRetagsAndRemovesThenTheTableSaysSo) {
  ASSERT_TRUE(ask<bool>(add_atom::value, adding(ports_of(rtap_port(vm1_) + rtap_port(vm2_)))))
      << sys_.render(error_);
  auto c = std::make_shared<SwitchChanges>();
  c->retagged = ports_of(rtap_port(vm1_, "vlan = 42"));
  c->removed = {vm2_};
  ASSERT_TRUE(ask<bool>(apply_atom::value, ChangesPtr(c))) << sys_.render(error_);
  EXPECT_EQ(published(), std::vector<std::string>{vm1_});
  EXPECT_FALSE(netdev_exists(vm2_));
  auto t = std::make_unique<TopologyTable>();
  ASSERT_GT(topology_snapshot(mem_.topology(), *t), 0u);
  EXPECT_EQ(t->ports[0].access_vlan, 42);
}

TEST_F(SwitchActorTest, ResetRecreatesItsOwnPortAndRefusesOthers) {
  ASSERT_TRUE(ask<bool>(add_atom::value, adding(ports_of(rtap_port(vm1_)))));
  EXPECT_FALSE(ask<ResetDone>(reset_atom::value, std::string("not-ours")));
  EXPECT_EQ(error_, errc::no_such_port);
  EXPECT_EQ(error_reason(error_), "no port named not-ours");

  const auto done = ask<ResetDone>(reset_atom::value, vm1_);
  ASSERT_TRUE(done) << sys_.render(error_);
  EXPECT_EQ(done->port, vm1_);
  EXPECT_FALSE(done->was_down);
  EXPECT_GT(done->ms, 0);
  EXPECT_TRUE(netdev_exists(vm1_));
  EXPECT_EQ(published(), std::vector<std::string>{vm1_});
  const auto snap = ask<SwitchSnapshot>(snapshot_atom::value);
  ASSERT_TRUE(snap && snap->ports.size() == 1);
  EXPECT_EQ(snap->ports[0].recreated, 1u);
  EXPECT_FALSE(snap->ports[0].down);
}

TEST_F(SwitchActorTest, ASwitchInAHungProbeIsShownStaleAtOnceFromItsLastSnapshot) {
  ASSERT_TRUE(ask<bool>(add_atom::value, adding(ports_of(rtap_port(vm1_)))));
  SwitchSnapshots snaps(sys_, {actor_}, {"sw0"}, {&refs_->busy});
  const auto fresh = snaps.fetch(std::chrono::milliseconds(1000));
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_FALSE(fresh[0].stale);
  ASSERT_EQ(fresh[0].ports.size(), 1u);

  // The next probe hangs 1.5 s, as one stuck on a silent worker would.
  ports_->set_fault_probe_hang(std::chrono::milliseconds(1500));
  caf::scoped_actor self{sys_};
  auto adding_vm2 = self->request(actor_, std::chrono::seconds(30), add_atom::value,
                                  adding(ports_of(rtap_port(vm2_))));
  for (int i = 0; i < 100 && !refs_->busy.load(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(refs_->busy.load()) << "the switch never started the port add";

  const auto t0 = std::chrono::steady_clock::now();
  const auto during = snaps.fetch(std::chrono::milliseconds(1000));
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(waited, std::chrono::milliseconds(200)) << "a busy switch is not waited for";
  ASSERT_EQ(during.size(), 1u);
  EXPECT_TRUE(during[0].stale);
  ASSERT_EQ(during[0].ports.size(), 1u) << "the last snapshot: vm1 only";
  EXPECT_EQ(during[0].ports[0].name, vm1_);
  EXPECT_EQ(during[0].taken, fresh[0].taken);
  EXPECT_EQ(snaps.stale_total(), 1u);

  bool added = false;
  adding_vm2.receive([&added](bool ok) { added = ok; },
                     [this](caf::error& e) { ADD_FAILURE() << sys_.render(e); });
  EXPECT_TRUE(added);
  const auto after = snaps.fetch(std::chrono::milliseconds(1000));
  EXPECT_FALSE(after[0].stale);
  EXPECT_EQ(after[0].ports.size(), 2u);
}

}  // namespace
}  // namespace vs

VSTEST_EAL_MAIN();
