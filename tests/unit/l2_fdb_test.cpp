// Unit tests of the L2 rules (Ethernet/802.1Q parsing, VLAN membership) and of the shared FDB
// and its single writer (learning, station moves, bounds, static entries, ageing with a fake
// clock). No EAL needed.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "shm/fdb.hpp"
#include "shm/limits.hpp"
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

}  // namespace
}  // namespace vs
