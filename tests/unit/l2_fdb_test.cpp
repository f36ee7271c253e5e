// Unit tests of the L2 rules (Ethernet/802.1Q parsing, VLAN membership) and of the shared FDB
// and its single writer (learning, station moves, bounds, static entries, ageing with a fake
// clock, EVPN remote entries and the observer), and of the tunnel ports' shared VTEP sets. No EAL
// needed.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <tuple>
#include <vector>

#include "shm/fdb.hpp"
#include "shm/limits.hpp"
#include "shm/vtep.hpp"
#include "switch/fdb_writer.hpp"
#include "switch/l2.hpp"

namespace vs {
namespace {

constexpr MacAddr kMacA = 0x020000000001, kMacB = 0x020000000002;

std::vector<uint8_t> frame(MacAddr dst, MacAddr src, int vlan_tci = -1, uint16_t type = 0x0800,
                           std::size_t len = 64) {
  std::vector<uint8_t> f(len, 0);
  for (int i = 0; i < 6; ++i) {
    f[i] = static_cast<uint8_t>(dst >> (40 - 8 * i));
    f[6 + i] = static_cast<uint8_t>(src >> (40 - 8 * i));
  }
  std::size_t off = 12;
  if (vlan_tci >= 0) {
    f[12] = 0x81;
    f[13] = 0x00;
    f[14] = static_cast<uint8_t>(vlan_tci >> 8);
    f[15] = static_cast<uint8_t>(vlan_tci);
    off = 16;
  }
  f[off] = static_cast<uint8_t>(type >> 8);
  f[off + 1] = static_cast<uint8_t>(type);
  return f;
}

TEST(Parse, UntaggedFrame) {
  auto f = frame(0xffffffffffff, kMacA);
  EthInfo e;
  ASSERT_EQ(parse_ethernet(f.data(), f.size(), e), DropReason::kCount);
  EXPECT_EQ(e.dst, 0xffffffffffffULL);
  EXPECT_EQ(e.src, kMacA);
  EXPECT_FALSE(e.tagged);
  EXPECT_EQ(e.ethertype, 0x0800);
  EXPECT_TRUE(mac_is_multicast(e.dst));
  EXPECT_FALSE(mac_is_multicast(e.src));
}

TEST(Parse, TaggedFrameKeepsPriorityAndVid) {
  auto f = frame(kMacB, kMacA, (5 << 13) | 100, 0x86dd);
  EthInfo e;
  ASSERT_EQ(parse_ethernet(f.data(), f.size(), e), DropReason::kCount);
  EXPECT_TRUE(e.tagged);
  EXPECT_EQ(e.vid, 100);
  EXPECT_EQ(e.tci >> 13, 5);
  EXPECT_EQ(e.ethertype, 0x86dd);
}

TEST(Parse, RuntsAndCutTagsAndVid4095AreRefused) {
  auto f = frame(kMacB, kMacA);
  EthInfo e;
  EXPECT_EQ(parse_ethernet(f.data(), 13, e), DropReason::kRunt);
  auto t = frame(kMacB, kMacA, 10);
  EXPECT_EQ(parse_ethernet(t.data(), 17, e), DropReason::kRunt);
  auto bad = frame(kMacB, kMacA, 0xfff);
  EXPECT_EQ(parse_ethernet(bad.data(), bad.size(), e), DropReason::kBadVlan);
}

PortEntry access_port(uint16_t vlan) {
  PortEntry p{};
  p.vlan_mode = VlanMode::kAccess;
  p.access_vlan = vlan;
  return p;
}

PortEntry trunk_port(std::initializer_list<uint16_t> allowed, uint16_t native = 0) {
  PortEntry p{};
  p.vlan_mode = VlanMode::kTrunk;
  p.native_vlan = native;
  for (auto v : allowed) vlan_allow(p, v);
  if (native) vlan_allow(p, native);
  return p;
}

EthInfo eth(bool tagged, uint16_t vid) {
  EthInfo e;
  e.tagged = tagged;
  e.vid = vid;
  e.tci = vid;
  return e;
}

TEST(Vlan, AccessPortTakesUntaggedAndItsOwnTagOnly) {
  PortEntry p = access_port(10);
  uint16_t v = 0;
  EXPECT_EQ(ingress_vlan(p, eth(false, 0), v), DropReason::kCount);
  EXPECT_EQ(v, 10);
  EXPECT_EQ(ingress_vlan(p, eth(true, 0), v), DropReason::kCount);  // priority tag
  EXPECT_EQ(ingress_vlan(p, eth(true, 10), v), DropReason::kCount);
  EXPECT_EQ(ingress_vlan(p, eth(true, 20), v), DropReason::kVlanNotAllowed);
  EXPECT_EQ(egress_tag(p, 10), EgressTag::kUntagged);
  EXPECT_EQ(egress_tag(p, 20), EgressTag::kRefused);
}

TEST(Vlan, TrunkCarriesAllowedTaggedAndNativeUntagged) {
  PortEntry p = trunk_port({10, 20}, 30);
  uint16_t v = 0;
  EXPECT_EQ(ingress_vlan(p, eth(true, 20), v), DropReason::kCount);
  EXPECT_EQ(v, 20);
  EXPECT_EQ(ingress_vlan(p, eth(true, 40), v), DropReason::kVlanNotAllowed);
  EXPECT_EQ(ingress_vlan(p, eth(false, 0), v), DropReason::kCount);
  EXPECT_EQ(v, 30);
  EXPECT_EQ(egress_tag(p, 10), EgressTag::kTagged);
  EXPECT_EQ(egress_tag(p, 30), EgressTag::kUntagged);
  EXPECT_EQ(egress_tag(p, 4094), EgressTag::kRefused);
}

TEST(Vlan, TrunkWithoutNativeDropsUntagged) {
  PortEntry p = trunk_port({10});
  uint16_t v = 0;
  EXPECT_EQ(ingress_vlan(p, eth(false, 0), v), DropReason::kVlanNotAllowed);
  EXPECT_EQ(egress_tag(p, 0), EgressTag::kRefused);
}

TEST(Vlan, AllowedBitmapCoversTheWholeRange) {
  PortEntry p = trunk_port({1, 63, 64, 4094});
  for (uint16_t v : {1, 63, 64, 4094}) EXPECT_TRUE(vlan_allowed(p, v)) << v;
  for (uint16_t v : {2, 62, 65, 4093, 4095}) EXPECT_FALSE(vlan_allowed(p, v)) << v;
}

// A table in plain memory, as the primary's memzone would hold it.
struct Table {
  explicit Table(uint32_t entries)
      : bytes(fdb_table_bytes(entries)),
        mem(static_cast<FdbTable*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64))) {
    fdb_table_init(*mem, entries);
  }
  ~Table() { std::free(mem); }
  FdbTable& operator*() { return *mem; }
  std::size_t bytes;
  FdbTable* mem;
};

TEST(Fdb, LearnLookupAndMove) {
  Table t(1024);
  FdbWriter w(*t, {FdbLimits{}});
  FdbHit hit;
  EXPECT_FALSE(fdb_lookup(*t, 0, fdb_key(kMacA, 1), hit));
  w.apply({fdb_key(kMacA, 1), 0, 3, 0}, 100);
  ASSERT_TRUE(fdb_lookup(*t, 0, fdb_key(kMacA, 1), hit));
  EXPECT_EQ(hit.port_id, 3);
  EXPECT_FALSE(fdb_lookup(*t, 0, fdb_key(kMacA, 2), hit)) << "another VLAN is another entry";
  EXPECT_FALSE(fdb_lookup(*t, 1, fdb_key(kMacA, 1), hit)) << "another switch is another entry";
  w.apply({fdb_key(kMacA, 1), 0, 5, 0}, 101);  // the station moved
  ASSERT_TRUE(fdb_lookup(*t, 0, fdb_key(kMacA, 1), hit));
  EXPECT_EQ(hit.port_id, 5);
  EXPECT_EQ(w.stats(0).entries.load(), 1u);
  EXPECT_EQ(w.stats(0).learned.load(), 1u);
  EXPECT_EQ(w.stats(0).moved.load(), 1u);
  EXPECT_EQ(w.port_entries(3), 0u);
  EXPECT_EQ(w.port_entries(5), 1u);
}

// A MAC behind a tunnel port names its remote VTEP; the same port at another VTEP is a move
// (a VM that went from one remote host to another), the same VTEP a refresh.
TEST(Fdb, RemoteVtepOfATunnelPort) {
  Table t(1024);
  FdbWriter w(*t, {FdbLimits{}});
  const uint16_t tunnel = kFirstTunnelPortId;
  FdbHit hit;
  w.apply({fdb_key(kMacA, 1), 0, tunnel, 1}, 100);
  ASSERT_TRUE(fdb_lookup(*t, 0, fdb_key(kMacA, 1), hit));
  EXPECT_EQ(hit.port_id, tunnel);
  EXPECT_EQ(hit.vtep, 1);
  w.apply({fdb_key(kMacA, 1), 0, tunnel, 2}, 101);
  ASSERT_TRUE(fdb_lookup(*t, 0, fdb_key(kMacA, 1), hit));
  EXPECT_EQ(hit.vtep, 2);
  EXPECT_EQ(w.stats(0).moved.load(), 1u);
  w.apply({fdb_key(kMacA, 1), 0, tunnel, 2}, 102);
  EXPECT_EQ(w.stats(0).moved.load(), 1u) << "the same VTEP again is a refresh";
  EXPECT_EQ(w.port_entries(tunnel), 1u);
  w.apply({fdb_key(kMacA, 1), 0, 3, 0}, 103);  // migrated to a local port
  ASSERT_TRUE(fdb_lookup(*t, 0, fdb_key(kMacA, 1), hit));
  EXPECT_EQ(hit.port_id, 3);
  EXPECT_EQ(hit.vtep, 0);
  EXPECT_EQ(w.port_entries(tunnel), 0u);
}

TEST(Fdb, AgeingWithAFakeClock) {
  Table t(1024);
  FdbWriter w(*t, {FdbLimits{8192, 0, 60}});
  w.apply({fdb_key(kMacA, 1), 0, 1, 0}, 1000);
  w.apply({fdb_key(kMacB, 1), 0, 2, 0}, 1030);
  w.age(1059);
  EXPECT_EQ(w.stats(0).entries.load(), 2u);
  w.apply({fdb_key(kMacA, 1), 0, 1, 0}, 1050);  // refreshed
  w.age(1091);                                  // B unseen for 61 s
  FdbHit hit;
  EXPECT_TRUE(fdb_lookup(*t, 0, fdb_key(kMacA, 1), hit));
  EXPECT_FALSE(fdb_lookup(*t, 0, fdb_key(kMacB, 1), hit));
  EXPECT_EQ(w.stats(0).aged.load(), 1u);
  EXPECT_EQ(w.stats(0).entries.load(), 1u);
  EXPECT_EQ(w.port_entries(2), 0u);
}

TEST(Fdb, SwitchBoundAndPortLimitAreCountedNotFatal) {
  Table t(4096);
  FdbWriter w(*t, {FdbLimits{100, 30, 300}, FdbLimits{1000, 0, 300}});
  for (uint64_t i = 0; i < 50; ++i) w.apply({fdb_key(0x020000001000 + i, 1), 0, 1, 0}, 5);
  EXPECT_EQ(w.port_entries(1), 30u);
  EXPECT_EQ(w.stats(0).port_limit.load(), 20u);
  for (uint64_t i = 0; i < 200; ++i)
    w.apply({fdb_key(0x020000002000 + i, 1), 0, static_cast<uint16_t>(2 + i % 8), 0}, 5);
  EXPECT_EQ(w.stats(0).entries.load(), 100u);
  EXPECT_GT(w.stats(0).overflow.load(), 0u);
  // The other switch is not affected by the first one's bound.
  w.apply({fdb_key(kMacA, 1), 1, 1, 0}, 5);
  EXPECT_EQ(w.stats(1).entries.load(), 1u);
}

TEST(Fdb, StaticEntriesNeverMoveNorAge) {
  Table t(1024);
  FdbWriter w(*t, {FdbLimits{8192, 0, 10}});
  ASSERT_TRUE(w.add_static(0, fdb_key(kMacA, 7), 4, 0));
  w.apply({fdb_key(kMacA, 7), 0, 9, 0}, 1);  // someone else claims the MAC
  w.age(100000);
  FdbHit hit;
  ASSERT_TRUE(fdb_lookup(*t, 0, fdb_key(kMacA, 7), hit));
  EXPECT_EQ(hit.port_id, 4);
  EXPECT_TRUE(hit.flags & kFdbStatic);
  EXPECT_EQ(w.stats(0).static_conflict.load(), 1u);
}

TEST(Fdb, FlushPortForgetsOnlyItsLearnedEntries) {
  Table t(1024);
  FdbWriter w(*t, {FdbLimits{}});
  w.add_static(0, fdb_key(kMacA, 1), 1, 0);
  w.apply({fdb_key(kMacB, 1), 0, 1, 0}, 0);
  w.apply({fdb_key(0x020000000003, 1), 0, 2, 0}, 0);
  w.flush_port(1);
  FdbHit hit;
  EXPECT_TRUE(fdb_lookup(*t, 0, fdb_key(kMacA, 1), hit));
  EXPECT_FALSE(fdb_lookup(*t, 0, fdb_key(kMacB, 1), hit));
  EXPECT_TRUE(fdb_lookup(*t, 0, fdb_key(0x020000000003, 1), hit));
  EXPECT_EQ(w.stats(0).entries.load(), 2u);
}

TEST(Fdb, HundredThousandEntriesFitTheirTable) {
  Table t(100000);
  FdbWriter w(*t, {FdbLimits{100000, 0, 300}});
  for (uint64_t i = 0; i < 100000; ++i)
    w.apply({fdb_key(0x020000000000 + i * 7919, 1), 0, 1, 0}, 1);
  EXPECT_EQ(w.stats(0).entries.load(), 100000u);
  EXPECT_EQ(w.stats(0).overflow.load(), 0u);
  FdbHit hit;
  for (uint64_t i = 0; i < 100000; i += 997)
    EXPECT_TRUE(fdb_lookup(*t, 0, fdb_key(0x020000000000 + i * 7919, 1), hit));
}

// A reader racing the writer only ever sees a key with the port the writer stored for it. The
// writer goes on until the reader has looked up many present keys while it writes (or 10 s pass):
// on a busy 2-core machine both threads once ran on one core and the writer finished all its
// rounds before the reader's first pass, which then found an empty table.
TEST(Fdb, ConcurrentReaderNeverSeesAnotherKeysPort) {
  Table t(4096);
  FdbWriter w(*t, {FdbLimits{4096, 0, 1}});
  std::atomic<bool> done{false};
  std::atomic<uint64_t> hits{0};
  std::thread writer([&] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (uint32_t round = 0;
         round < 300 || (hits < 20000 && std::chrono::steady_clock::now() < deadline); ++round) {
      for (uint64_t i = 0; i < 256; ++i)  // port = low bits of the MAC, re-learned on round parity
        w.apply({fdb_key(0x020000000000 + i, 1), 0,
                 static_cast<uint16_t>((i + round) % 2 ? i % 16 : i % 16 + 16), 0},
                round);
      if (round % 2) w.age(round + 2);  // every other round, so entries also live across passes
      std::this_thread::yield();        // lets the reader in should both share one core
    }
    done = true;
  });
  uint64_t wrong = 0;
  while (!done) {
    for (uint64_t i = 0; i < 256; ++i) {
      FdbHit hit;
      if (!fdb_lookup(*t, 0, fdb_key(0x020000000000 + i, 1), hit)) continue;
      hits.fetch_add(1, std::memory_order_relaxed);
      wrong += hit.port_id % 16 != i % 16;  // the port of another key
    }
  }
  writer.join();
  EXPECT_EQ(wrong, 0u);
  EXPECT_GE(hits.load(), 20000u);
}

// EVPN remote entries (FdbWriter::install_remote / remove_remote): a MAC that BGP placed behind a
// tunnel port at a VTEP slot.
constexpr uint16_t kTunnel = kFirstTunnelPortId;

TEST(FdbRemote, InstallMovesBetweenVtepsAndRemoveTakesItOut) {
  Table t(1024);
  FdbWriter w(*t, {FdbLimits{}});
  const uint64_t key = fdb_key(kMacA, 10);
  FdbHit hit;
  ASSERT_TRUE(w.install_remote(0, key, kTunnel, 1, 100));
  ASSERT_TRUE(fdb_lookup(*t, 0, key, hit));
  EXPECT_EQ(hit.flags, kFdbValid | kFdbRemote);
  EXPECT_EQ(hit.port_id, kTunnel);
  EXPECT_EQ(hit.vtep, 1);
  EXPECT_EQ(w.stats(0).entries.load(), 1u);
  EXPECT_EQ(w.stats(0).learned.load(), 0u) << "a remote entry is not learned";
  EXPECT_EQ(w.port_entries(kTunnel), 1u);

  ASSERT_TRUE(w.install_remote(0, key, kTunnel, 3, 101));  // the MAC went to another VTEP
  ASSERT_TRUE(fdb_lookup(*t, 0, key, hit));
  EXPECT_EQ(hit.flags, kFdbValid | kFdbRemote);
  EXPECT_EQ(hit.port_id, kTunnel);
  EXPECT_EQ(hit.vtep, 3);
  EXPECT_EQ(w.stats(0).entries.load(), 1u);
  EXPECT_EQ(w.port_entries(kTunnel), 1u);

  EXPECT_TRUE(w.remove_remote(0, key, kTunnel));
  EXPECT_FALSE(fdb_lookup(*t, 0, key, hit));
  EXPECT_EQ(w.stats(0).entries.load(), 0u);
  EXPECT_EQ(w.port_entries(kTunnel), 0u);
  EXPECT_FALSE(w.remove_remote(0, key, kTunnel)) << "already gone";
  EXPECT_EQ(w.stats(0).entries.load(), 0u);
}

TEST(FdbRemote, RemoveRemoteLeavesLearnedEntriesAndAnotherPortsRemote) {
  Table t(1024);
  FdbWriter w(*t, {FdbLimits{}});
  const uint64_t local = fdb_key(kMacA, 10), on_tunnel = fdb_key(kMacB, 10),
                 remote = fdb_key(0x020000000003, 10);
  w.apply({local, 0, 3, 0}, 100);
  w.apply({on_tunnel, 0, kTunnel, 2}, 100);  // learned from a frame, not fed by EVPN
  ASSERT_TRUE(w.install_remote(0, remote, kTunnel, 1, 100));
  EXPECT_FALSE(w.remove_remote(0, local, 3));
  EXPECT_FALSE(w.remove_remote(0, local, kTunnel));
  EXPECT_FALSE(w.remove_remote(0, on_tunnel, kTunnel));
  EXPECT_FALSE(w.remove_remote(0, remote, kTunnel + 1)) << "behind another tunnel port";
  EXPECT_FALSE(w.remove_remote(1, remote, kTunnel)) << "another switch";
  FdbHit hit;
  ASSERT_TRUE(fdb_lookup(*t, 0, local, hit));
  EXPECT_EQ(hit.port_id, 3);
  ASSERT_TRUE(fdb_lookup(*t, 0, on_tunnel, hit));
  EXPECT_EQ(hit.port_id, kTunnel);
  EXPECT_EQ(hit.vtep, 2);
  EXPECT_EQ(hit.flags, kFdbValid);
  ASSERT_TRUE(fdb_lookup(*t, 0, remote, hit));
  EXPECT_EQ(hit.port_id, kTunnel);
  EXPECT_EQ(hit.vtep, 1);
  EXPECT_EQ(hit.flags, kFdbValid | kFdbRemote);
  EXPECT_EQ(w.stats(0).entries.load(), 3u);
  EXPECT_EQ(w.port_entries(3), 1u);
  EXPECT_EQ(w.port_entries(kTunnel), 2u);
}

TEST(FdbRemote, NeverAgedNorFlushedAsLearnedButFlushPortRemovesThem) {
  Table t(1024);
  FdbWriter w(*t, {FdbLimits{8192, 0, 60}});
  const uint64_t stat = fdb_key(kMacA, 1), learned = fdb_key(kMacB, 1),
                 r1 = fdb_key(0x020000000011, 1), r2 = fdb_key(0x020000000012, 1),
                 r3 = fdb_key(0x020000000013, 1);
  ASSERT_TRUE(w.add_static(0, stat, 4, 0));
  ASSERT_TRUE(w.install_remote(0, r1, kTunnel, 1, 0));
  ASSERT_TRUE(w.install_remote(0, r2, kTunnel, 2, 0));
  ASSERT_TRUE(w.install_remote(0, r3, kTunnel + 1, 1, 0));
  w.apply({learned, 0, 3, 0}, 0);
  ASSERT_EQ(w.stats(0).entries.load(), 5u);

  w.age(1000000);
  FdbHit hit;
  EXPECT_FALSE(fdb_lookup(*t, 0, learned, hit));
  for (uint64_t k : {stat, r1, r2, r3}) EXPECT_TRUE(fdb_lookup(*t, 0, k, hit)) << std::hex << k;
  EXPECT_EQ(w.stats(0).aged.load(), 1u);
  EXPECT_EQ(w.stats(0).entries.load(), 4u);

  w.apply({learned, 0, 3, 0}, 1000000);
  w.apply({fdb_key(0x020000000020, 1), 0, kTunnel, 1}, 1000000);  // learned on the tunnel port
  EXPECT_EQ(w.flush_learned(-1, -1, -1), 2u);
  EXPECT_FALSE(fdb_lookup(*t, 0, learned, hit));
  for (uint64_t k : {stat, r1, r2, r3}) EXPECT_TRUE(fdb_lookup(*t, 0, k, hit)) << std::hex << k;
  EXPECT_EQ(w.stats(0).entries.load(), 4u);
  EXPECT_EQ(w.flush_learned(0, kTunnel, -1), 0u) << "a port filter does not reach them either";
  EXPECT_EQ(w.port_entries(kTunnel), 2u);

  w.flush_port(kTunnel);  // the tunnel port goes: its remote entries with it
  EXPECT_FALSE(fdb_lookup(*t, 0, r1, hit));
  EXPECT_FALSE(fdb_lookup(*t, 0, r2, hit));
  EXPECT_TRUE(fdb_lookup(*t, 0, r3, hit));
  EXPECT_TRUE(fdb_lookup(*t, 0, stat, hit));
  EXPECT_EQ(w.stats(0).entries.load(), 2u);
  EXPECT_EQ(w.port_entries(kTunnel), 0u);
  EXPECT_EQ(w.port_entries(kTunnel + 1), 1u);
}

// A VM that moved here from a remote host: its first frame on a local port takes the MAC back
// from the EVPN feed, and the entry is then an ordinary learned one (it ages).
TEST(FdbRemote, ALocalLearnReplacesARemoteEntry) {
  Table t(1024);
  FdbWriter w(*t, {FdbLimits{8192, 0, 60}});
  const uint64_t key = fdb_key(kMacA, 1);
  ASSERT_TRUE(w.install_remote(0, key, kTunnel, 2, 100));
  w.apply({key, 0, 3, 0, 0}, 101);
  FdbHit hit;
  ASSERT_TRUE(fdb_lookup(*t, 0, key, hit));
  EXPECT_EQ(hit.port_id, 3);
  EXPECT_EQ(hit.vtep, 0);
  EXPECT_EQ(hit.flags, kFdbValid);
  EXPECT_EQ(hit.refreshed_s, 101u);
  EXPECT_EQ(w.stats(0).moved.load(), 1u);
  EXPECT_EQ(w.stats(0).entries.load(), 1u);
  EXPECT_EQ(w.port_entries(kTunnel), 0u);
  EXPECT_EQ(w.port_entries(3), 1u);
  EXPECT_FALSE(w.remove_remote(0, key, kTunnel)) << "the feed's late withdrawal keeps it";
  w.age(101 + 60);
  EXPECT_FALSE(fdb_lookup(*t, 0, key, hit));
  EXPECT_EQ(w.stats(0).aged.load(), 1u);
}

TEST(FdbRemote, NeverReplacesAStaticEntry) {
  Table t(1024);
  FdbWriter w(*t, {FdbLimits{}});
  const uint64_t key = fdb_key(kMacA, 1);
  ASSERT_TRUE(w.add_static(0, key, 4, 0));
  EXPECT_FALSE(w.install_remote(0, key, kTunnel, 1, 5));
  EXPECT_EQ(w.stats(0).static_conflict.load(), 1u);
  EXPECT_FALSE(w.remove_remote(0, key, kTunnel));
  EXPECT_FALSE(w.remove_remote(0, key, 4));
  FdbHit hit;
  ASSERT_TRUE(fdb_lookup(*t, 0, key, hit));
  EXPECT_EQ(hit.port_id, 4);
  EXPECT_EQ(hit.vtep, 0);
  EXPECT_EQ(hit.flags, kFdbValid | kFdbStatic);
  EXPECT_EQ(w.stats(0).entries.load(), 1u);
  EXPECT_EQ(w.port_entries(kTunnel), 0u);
}

TEST(FdbRemote, SwitchBoundRefusesANewKeyNotAnExistingOne) {
  Table t(1024);
  FdbWriter w(*t, {FdbLimits{3, 0, 300}});
  for (uint64_t i = 0; i < 3; ++i) w.apply({fdb_key(0x020000001000 + i, 1), 0, 1, 0}, 5);
  ASSERT_EQ(w.stats(0).entries.load(), 3u);
  const uint64_t fresh = fdb_key(kMacA, 1);
  EXPECT_FALSE(w.install_remote(0, fresh, kTunnel, 1, 5));
  EXPECT_EQ(w.stats(0).overflow.load(), 1u);
  EXPECT_EQ(w.stats(0).entries.load(), 3u);
  EXPECT_EQ(w.port_entries(kTunnel), 0u);
  FdbHit hit;
  EXPECT_FALSE(fdb_lookup(*t, 0, fresh, hit));
  // A key already in the table takes no new entry: it may become remote at the bound.
  const uint64_t held = fdb_key(0x020000001000, 1);
  EXPECT_TRUE(w.install_remote(0, held, kTunnel, 1, 6));
  ASSERT_TRUE(fdb_lookup(*t, 0, held, hit));
  EXPECT_EQ(hit.flags, kFdbValid | kFdbRemote);
  EXPECT_EQ(w.stats(0).overflow.load(), 1u);
  EXPECT_EQ(w.stats(0).entries.load(), 3u);
  EXPECT_EQ(w.port_entries(1), 2u);
  EXPECT_EQ(w.port_entries(kTunnel), 1u);
}

using ObservedChange = std::tuple<uint16_t, uint64_t, uint16_t>;  // switch, key, port id

// The EVPN feed follows the FDB through the observer: every entry that appears, moves or goes,
// once, in order; never a static entry, never a refresh.
TEST(FdbRemote, ObserverSeesEachAppearanceMoveAndRemovalOnce) {
  Table t(1024);
  FdbWriter w(*t, {FdbLimits{8192, 0, 60}, FdbLimits{8192, 0, 60}});
  std::vector<ObservedChange> calls;
  w.set_observer(
      [&](uint16_t sw, uint64_t key, uint16_t port_id) { calls.emplace_back(sw, key, port_id); });
  const uint64_t stat = fdb_key(kMacA, 1), a = fdb_key(kMacB, 1), b = fdb_key(0x020000000003, 1),
                 r = fdb_key(0x020000000004, 1);
  ASSERT_TRUE(w.add_static(0, stat, 4, 10));
  w.apply({a, 0, 3, 0}, 10);  // learned
  w.apply({a, 0, 3, 0}, 20);  // refreshed
  w.apply({a, 0, 5, 0}, 30);  // moved
  ASSERT_TRUE(w.install_remote(1, r, kTunnel, 1, 30));
  ASSERT_TRUE(w.install_remote(1, r, kTunnel, 1, 40));  // refreshed
  ASSERT_TRUE(w.install_remote(1, r, kTunnel, 2, 40));  // another VTEP: moved
  ASSERT_TRUE(w.remove_remote(1, r, kTunnel));
  w.apply({b, 0, 6, 0}, 40);
  w.age(95);  // a (refreshed at 30) goes, b (40) stays
  const std::vector<ObservedChange> want = {
      {0, a, 3},          {0, a, 5}, {1, r, kTunnel},    {1, r, kTunnel},
      {1, r, kFdbNoPort}, {0, b, 6}, {0, a, kFdbNoPort},
  };
  EXPECT_EQ(calls, want);

  // A flush reports each entry it removes (in table order, so compared sorted).
  calls.clear();
  const uint64_t c = fdb_key(0x020000000005, 1), r2 = fdb_key(0x020000000006, 1);
  w.apply({c, 0, 6, 0}, 95);
  ASSERT_TRUE(w.install_remote(0, r2, kTunnel, 1, 95));
  ASSERT_EQ(calls, (std::vector<ObservedChange>{{0, c, 6}, {0, r2, kTunnel}}));
  calls.clear();
  EXPECT_EQ(w.flush_learned(-1, -1, -1), 2u);
  std::sort(calls.begin(), calls.end());
  std::vector<ObservedChange> flushed = {{0, b, kFdbNoPort}, {0, c, kFdbNoPort}};
  std::sort(flushed.begin(), flushed.end());
  EXPECT_EQ(calls, flushed);

  calls.clear();
  w.flush_port(4);  // only the static entry is there: nothing to report
  w.flush_port(kTunnel);
  EXPECT_EQ(calls, (std::vector<ObservedChange>{{0, r2, kFdbNoPort}}));
  FdbHit hit;
  EXPECT_TRUE(fdb_lookup(*t, 0, stat, hit));
  EXPECT_EQ(w.stats(0).entries.load(), 1u);
}

// The VTEP sets of the EVPN-fed tunnel ports (shm/vtep.hpp): a reader's copy is a whole set.
std::unique_ptr<VtepTable> vtep_table() {
  auto t = std::make_unique<VtepTable>();
  vtep_table_init(*t);
  return t;
}

void fill(uint32_t (&addrs)[kMaxVteps], uint32_t value) {
  for (uint32_t& a : addrs) a = value;
}

TEST(VtepSet, FirstReadAfterInitIsTheEmptySet) {
  auto t = vtep_table();
  EXPECT_EQ(t->magic, kVtepMagic);
  EXPECT_EQ(&vtep_set(*t, kFirstTunnelPortId), &t->sets[0]);
  EXPECT_EQ(&vtep_set(*t, kMaxPortIds - 1), &t->sets[kMaxTunnelPorts - 1]);
  uint32_t addrs[kMaxVteps], flood = 0xdead, seen = 1;  // odd: never read
  fill(addrs, 0xdeadbeef);
  ASSERT_TRUE(vtep_set_read(vtep_set(*t, kFirstTunnelPortId), seen, addrs, flood));
  EXPECT_EQ(seen, 0u);
  for (uint32_t a : addrs) EXPECT_EQ(a, 0u);
  EXPECT_EQ(flood, 0u);
  EXPECT_FALSE(vtep_set_read(vtep_set(*t, kFirstTunnelPortId), seen, addrs, flood));
  EXPECT_EQ(seen, 0u);
}

TEST(VtepSet, ReadTakesEachWriteOnce) {
  auto t = vtep_table();
  VtepSet& s = vtep_set(*t, kFirstTunnelPortId);
  uint32_t in[kMaxVteps];
  for (int i = 0; i < kMaxVteps; ++i) in[i] = 0x0a000001u + static_cast<uint32_t>(i);
  in[7] = 0;  // a free slot
  vtep_set_write(s, in, 0x8005);
  EXPECT_EQ(s.seq.load(), 2u);
  uint32_t out[kMaxVteps], flood = 0, seen = 1;
  fill(out, 0xdeadbeef);
  ASSERT_TRUE(vtep_set_read(s, seen, out, flood));
  EXPECT_EQ(seen, 2u);
  for (int i = 0; i < kMaxVteps; ++i) EXPECT_EQ(out[i], in[i]) << i;
  EXPECT_EQ(flood, 0x8005u);

  fill(out, 0xdeadbeef);
  flood = 0xdead;
  EXPECT_FALSE(vtep_set_read(s, seen, out, flood)) << "nothing changed";
  EXPECT_EQ(seen, 2u);
  for (uint32_t a : out) EXPECT_EQ(a, 0xdeadbeefu);
  EXPECT_EQ(flood, 0xdeadu);

  in[7] = 0x0a0000ff;
  vtep_set_write(s, in, 0x0080);
  ASSERT_TRUE(vtep_set_read(s, seen, out, flood));
  EXPECT_EQ(seen, 4u);
  EXPECT_EQ(out[7], 0x0a0000ffu);
  EXPECT_EQ(out[0], 0x0a000001u);
  EXPECT_EQ(flood, 0x0080u);
}

TEST(VtepSet, ASetCaughtMidWriteIsLeftForLater) {
  auto t = vtep_table();
  VtepSet& s = vtep_set(*t, kFirstTunnelPortId + 3);
  uint32_t in[kMaxVteps];
  fill(in, 0x0a000002);
  vtep_set_write(s, in, 0x3);
  s.seq.store(3);  // the writer is between its two stores
  uint32_t out[kMaxVteps], flood = 0xdead, seen = 1;
  fill(out, 0xdeadbeef);
  EXPECT_FALSE(vtep_set_read(s, seen, out, flood));
  EXPECT_EQ(seen, 1u);
  for (uint32_t a : out) EXPECT_EQ(a, 0xdeadbeefu);
  EXPECT_EQ(flood, 0xdeadu);
  s.seq.store(4);  // done
  ASSERT_TRUE(vtep_set_read(s, seen, out, flood));
  EXPECT_EQ(seen, 4u);
  for (uint32_t a : out) EXPECT_EQ(a, 0x0a000002u);
  EXPECT_EQ(flood, 0x3u);
}

TEST(VtepSet, SetsOfTwoPortsAreIndependent) {
  auto t = vtep_table();
  VtepSet& p0 = vtep_set(*t, kFirstTunnelPortId);
  VtepSet& p5 = vtep_set(*t, kFirstTunnelPortId + 5);
  uint32_t in[kMaxVteps];
  fill(in, 0x0a000001);
  vtep_set_write(p0, in, 0x1);
  fill(in, 0x0a000005);
  vtep_set_write(p5, in, 0x20);
  vtep_set_write(p5, in, 0x30);
  EXPECT_EQ(p0.seq.load(), 2u);
  EXPECT_EQ(p5.seq.load(), 4u);
  uint32_t out0[kMaxVteps], out5[kMaxVteps], flood0 = 0, flood5 = 0, seen0 = 1, seen5 = 1;
  ASSERT_TRUE(vtep_set_read(p0, seen0, out0, flood0));
  ASSERT_TRUE(vtep_set_read(p5, seen5, out5, flood5));
  for (uint32_t a : out0) EXPECT_EQ(a, 0x0a000001u);
  for (uint32_t a : out5) EXPECT_EQ(a, 0x0a000005u);
  EXPECT_EQ(flood0, 0x1u);
  EXPECT_EQ(flood5, 0x30u);
  fill(in, 0x0a000009);
  vtep_set_write(p0, in, 0x2);
  EXPECT_FALSE(vtep_set_read(p5, seen5, out5, flood5)) << "the other port's write";
  for (uint32_t a : out5) EXPECT_EQ(a, 0x0a000005u);
  ASSERT_TRUE(vtep_set_read(p0, seen0, out0, flood0));
  for (uint32_t a : out0) EXPECT_EQ(a, 0x0a000009u);
  EXPECT_EQ(flood0, 0x2u);
  // The sets in between stay as init left them.
  uint32_t seen = 1, out[kMaxVteps], flood = 0xdead;
  ASSERT_TRUE(vtep_set_read(vtep_set(*t, kFirstTunnelPortId + 1), seen, out, flood));
  EXPECT_EQ(seen, 0u);
  EXPECT_EQ(flood, 0u);
}

// A worker re-reading the set while the FDB service rewrites it gets one whole set or nothing,
// never slots of one write with the flood list (or other slots) of another.
TEST(VtepSet, ConcurrentReaderOnlyEverCopiesAWholeSet) {
  constexpr uint32_t kA = 0x0a0000aa, kB = 0x0a0000bb, kFloodA = 0x0f, kFloodB = 0xf0;
  constexpr int kWrites = 100000;
  auto t = vtep_table();
  VtepSet& s = vtep_set(*t, kFirstTunnelPortId);
  uint32_t first[kMaxVteps];
  fill(first, kB);
  vtep_set_write(s, first, kFloodB);  // not init's empty set, which is neither of the two
  std::atomic<bool> reading{false}, done{false};
  std::atomic<uint64_t> reads{0};
  std::thread writer([&] {
    uint32_t a[kMaxVteps], b[kMaxVteps];
    fill(a, kA);
    fill(b, kB);
    while (!reading.load()) std::this_thread::yield();
    // At least kWrites; more (up to 5 s) until the reader has copied many sets while it writes,
    // should the two threads share one core.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (int i = 0; i < kWrites || (reads.load(std::memory_order_relaxed) < 1000 &&
                                    std::chrono::steady_clock::now() < deadline);
         ++i) {
      i % 2 ? vtep_set_write(s, b, kFloodB) : vtep_set_write(s, a, kFloodA);
      if (i % 1024 == 0) std::this_thread::yield();
    }
    done = true;
  });
  uint32_t seen = 1, out[kMaxVteps], flood = 0;
  uint64_t mixed = 0;
  const auto whole = [&] {
    const uint32_t want = flood == kFloodA ? kA : flood == kFloodB ? kB : 0;
    return want != 0 &&
           std::all_of(std::begin(out), std::end(out), [&](uint32_t x) { return x == want; });
  };
  reading = true;
  while (!done.load()) {
    if (!vtep_set_read(s, seen, out, flood)) continue;
    reads.fetch_add(1, std::memory_order_relaxed);
    mixed += !whole();
  }
  writer.join();
  EXPECT_EQ(mixed, 0u);
  EXPECT_GE(reads.load(), 1000u);
  EXPECT_EQ(s.seq.load() % 2, 0u);
  EXPECT_GE(s.seq.load(), 2u * (kWrites + 1));
  // A read after the last write copies that one (the first write and the writer's odd ones: B).
  vtep_set_read(s, seen, out, flood);
  const uint32_t writes = s.seq.load() / 2 - 1;  // the writer thread's
  EXPECT_EQ(seen, 2 * (writes + 1));
  EXPECT_EQ(flood, (writes - 1) % 2 ? kFloodB : kFloodA);
  EXPECT_TRUE(whole());
}

}  // namespace
}  // namespace vs
