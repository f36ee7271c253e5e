// Rate limits and storm control (issue #24): the token buckets and queue shares of switch/rate.hpp,
// and the storm_control key: parsing, mistakes with line and caret, the TOML writer, the reload
// diff.
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "config/config_diff.hpp"
#include "config/config_toml.hpp"
#include "config_errors.hpp"
#include "switch/rate.hpp"

namespace {

using vs::StormQueue;
using vs::TokenBucket;
using vs::config::format_errors;
using vs::config::LoadResult;
using vstest::contains;

constexpr uint64_t kMs = 1000000;
constexpr uint64_t kS = 1000 * kMs;

// Frames that pass when `offered` are offered, evenly spread over `secs` seconds.
uint64_t passed(TokenBucket& b, uint64_t offered, uint64_t secs, uint64_t t0 = kS) {
  uint64_t n = 0;
  for (uint64_t i = 0; i < offered; ++i) n += b.take(t0 + i * secs * kS / offered, 1);
  return n;
}

TEST(TokenBucket, StartsFullAndHoldsTheRate) {
  TokenBucket b;
  b.configure(1000, 100);
  // 10 s of 10x the rate: the burst, then 1000 per second.
  const uint64_t n = passed(b, 100000, 10);
  EXPECT_GE(n, 10000u);
  EXPECT_LE(n, 10000u + 100u + 1u);
}

TEST(TokenBucket, UnderTheRateEverythingPasses) {
  TokenBucket b;
  b.configure(1000, 10);
  EXPECT_EQ(passed(b, 5000, 10), 5000u);
}

TEST(TokenBucket, ALongPauseRefillsOnlyTheBurst) {
  TokenBucket b;
  b.configure(100, 5);
  uint64_t n = 0;
  for (int i = 0; i < 50; ++i) n += b.take(kS, 1);  // one instant: the burst only
  EXPECT_EQ(n, 5u);
  n = 0;
  for (int i = 0; i < 50; ++i) n += b.take(3600 * kS, 1);  // an hour later: still the burst
  EXPECT_EQ(n, 5u);
}

TEST(TokenBucket, SlowRatesKeepTheirPrecision) {
  TokenBucket b;
  b.configure(3, 2);  // 3 frames/s: one every 333.3 ms
  EXPECT_NEAR(static_cast<double>(passed(b, 6000, 100)), 300.0 + 2.0, 1.0);
}

TEST(TokenBucket, ByteCostsAndHugeRatesDoNotOverflow) {
  TokenBucket b;
  b.configure(TokenBucket::kMaxRate, TokenBucket::kMaxBurst);
  EXPECT_TRUE(b.take(kS, 65536));
  EXPECT_TRUE(b.take(100 * kS, 65536));
  EXPECT_EQ(b.tokens(), TokenBucket::kMaxBurst - 65536);
  TokenBucket bytes;
  bytes.configure(125000, 64000);  // 1 Mbit/s, 64 KB
  uint64_t sent = 0;
  for (uint64_t t = 0; t < 10 * kS; t += kMs)
    while (bytes.take(kS + t, 1500)) sent += 1500;
  EXPECT_NEAR(static_cast<double>(sent), 64000.0 + 1250000.0, 1500.0);
}

TEST(TokenBucket, ZeroPassesNothing) {
  TokenBucket b;
  b.configure(0, 0);
  EXPECT_EQ(passed(b, 1000, 1), 0u);
}

TEST(TokenBucket, ReconfiguringKeepsTokensUpToTheNewBurst) {
  TokenBucket b;
  b.configure(1000, 100);
  EXPECT_TRUE(b.take(kS, 10));
  b.configure(1000, 20);
  EXPECT_EQ(b.tokens(), 20u);
  EXPECT_TRUE(b.take(kS, 20));
  EXPECT_FALSE(b.take(kS, 1));
}

TEST(QueueShare, SplitsByQueuesPolledRoundingUp) {
  EXPECT_EQ(vs::queue_share(1000, 1, 1), 1000u);
  EXPECT_EQ(vs::queue_share(1000, 1, 2), 500u);
  EXPECT_EQ(vs::queue_share(1000, 2, 2), 1000u);  // one worker polls both: the whole rate
  EXPECT_EQ(vs::queue_share(1000, 3, 4), 750u);
  EXPECT_EQ(vs::queue_share(1001, 1, 2), 501u);
  EXPECT_EQ(vs::queue_share(1, 1, 4), 1u);
  EXPECT_EQ(vs::queue_share(0, 1, 4), 0u);
}

TEST(StormQueue, LimitsOnlyTheKindsSetAndSplitsOverQueues) {
  StormQueue q;
  const uint32_t fps[3] = {1000, 0, 0};
  q.configure(0b011, fps, 1, 2);  // broadcast 1000/s, 1 of 2 queues, multicast 0, unknown free
  uint64_t b = 0, m = 0, u = 0;
  for (uint64_t i = 0; i < 100000; ++i) {  // 10 s, 10000 frames/s of each kind
    const uint64_t t = kS + i * 100000;
    b += q.allow(0, t);
    m += q.allow(1, t);
    u += q.allow(2, t);
  }
  EXPECT_GE(b, 5000u);  // this queue's share: 500/s, plus a 50-frame burst
  EXPECT_LE(b, 5000u + 51u);
  EXPECT_EQ(m, 0u);
  EXPECT_EQ(u, 100000u);
  // The same limits again change nothing (the bucket stays empty); new ones apply.
  q.configure(0b011, fps, 1, 2);
  EXPECT_EQ(q.buckets_[0].tokens(), 0u);
  EXPECT_EQ(q.buckets_[0].rate(), 500u);
  q.configure(0b001, fps, 2, 2);
  EXPECT_EQ(q.buckets_[0].rate(), 1000u);
  EXPECT_TRUE(q.allow(1, kS + 10 * kS));  // multicast no longer limited
}

TEST(Policer, HoldsTheAverageAfterTheBurst) {
  vs::Policer p;
  p.configure(1000000, 0, 200000, 1, 1);  // 1 MB/s, 200 KB
  uint64_t sent = 0;
  for (uint64_t t = 0; t < 10 * kS; t += 100000)  // 1500-byte frames at 15 MB/s
    sent += p.allow(kS + t, 1500) ? 1500 : 0;
  EXPECT_NEAR(static_cast<double>(sent), 200000.0 + 10e6, 3000.0);
}

TEST(Policer, PeakLimitsTheShortTerm) {
  vs::Policer p;
  p.configure(1000000, 2000000, 1000000, 1, 1);  // 1 MB/s average, 2 MB/s peak, 1 MB burst
  uint64_t sent = 0;
  for (uint64_t t = 0; t < 100 * kMs; t += 10000)  // 100 ms at 150 MB/s
    sent += p.allow(kS + t, 1500) ? 1500 : 0;
  // The burst alone would let 1 MB through; the peak bucket lets 66 KB + 2 MB/s x 100 ms.
  EXPECT_NEAR(static_cast<double>(sent), 66.0 * 1024 + 200000.0, 3000.0);
}

TEST(Policer, ASuperFrameCanAlwaysPassAndSharesSplitTheRate) {
  vs::Policer p;
  p.configure(10000, 0, 1000, 1, 1);  // tiny rate and burst: the bucket still holds 66 KB
  EXPECT_TRUE(p.allow(kS, 65000));
  vs::Policer half;
  half.configure(1000000, 0, 100000, 1, 2);  // one worker's share of two: 500 KB/s
  uint64_t sent = 0;
  for (uint64_t t = 0; t < 10 * kS; t += 100000) sent += half.allow(kS + t, 1500) ? 1500 : 0;
  EXPECT_NEAR(static_cast<double>(sent), 5e6 + 66.0 * 1024, 3000.0);
  vs::Policer none;
  none.configure(0, 0, 0, 1, 1);
  EXPECT_FALSE(none.limited());
  EXPECT_TRUE(none.allow(kS, 1u << 30));
}

// -- storm_control in the config --------------------------------------------------------------

const std::string kHead = "[[switch]]\nname = \"sw0\"\n[[switch.port]]\nname = \"vm1\"\n";  // 1..4

LoadResult load(const std::string& text) {
  return vs::config::load_config_string(text, "test.toml");
}

// One mistake, appended to a port: exactly one error, at its line, with the file, a caret and a
// hint.
struct Bad {
  std::string body;
  int line;
  std::string message;
};
void expect_one_error(const Bad& c) {
  vstest::expect_one_located_error(load(kHead + c.body), c.body, c.line, c.message);
}

TEST(ConfigStorm, ParsesEachKindAndAbsentMeansNoLimit) {
  LoadResult r = load(kHead + "storm_control = { broadcast = 1000, unknown_unicast = 0 }\n");
  ASSERT_TRUE(r.ok()) << format_errors(r);
  const auto& s = r.config->switches[0].ports[0].storm;
  EXPECT_EQ(s.broadcast, 1000);
  EXPECT_EQ(s.multicast, -1);
  EXPECT_EQ(s.unknown_unicast, 0);
  r = load(kHead);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.config->switches[0].ports[0].storm.any());
}

TEST(ConfigStorm, EachMistakeIsOneErrorWithLineAndCaret) {
  const Bad cases[] = {
      {"storm_control = 1000\n", 5, "storm_control must be a table"},
      {"storm_control = { broadcast = -1 }\n", 5, "broadcast must be 0..100000000"},
      {"storm_control = { multicast = \"5k\" }\n", 5, "multicast must be an integer"},
      {"storm_control = { broadcats = 10 }\n", 5, "unknown key \"broadcats\""},
      {"\n[switch.port.storm_control]\nbroadcast = 10\nunknown = 3\n", 8, "unknown key"},
  };
  for (const Bad& c : cases) expect_one_error(c);
  const LoadResult typo = load(kHead + "storm_control = { broadcats = 10 }\n");
  EXPECT_TRUE(contains(typo.errors.at(0), "did you mean \"broadcast\"")) << typo.errors[0];
}

TEST(ConfigStorm, TheTomlWriterRoundTrips) {
  const LoadResult r = load(kHead + "storm_control = { multicast = 5, unknown_unicast = 7 }\n");
  ASSERT_TRUE(r.ok()) << format_errors(r);
  const LoadResult again = load(vs::config::to_toml(*r.config));
  ASSERT_TRUE(again.ok()) << format_errors(again);
  EXPECT_EQ(again.config->switches[0].ports[0], r.config->switches[0].ports[0]);
}

TEST(ConfigStorm, AChangeIsAppliedInPlace) {
  const LoadResult a = load(kHead + "storm_control = { broadcast = 1000 }\n");
  const LoadResult b = load(kHead + "storm_control = { broadcast = 50, multicast = 9 }\n");
  const LoadResult none = load(kHead);
  ASSERT_TRUE(a.ok() && b.ok() && none.ok());
  for (const auto* to : {&b, &none}) {
    const auto d = vs::config::diff_configs(*a.config, *to->config);
    EXPECT_TRUE(d.replaced.empty() && d.added.empty() && d.removed.empty());
    ASSERT_EQ(d.retagged.size(), 1u);
    EXPECT_EQ(d.retagged[0].port.name, "vm1");
    EXPECT_TRUE(d.restart_needed.empty());
  }
}

TEST(ConfigBandwidth, ParsesLibvirtsKeys) {
  const LoadResult r = load(kHead +
                            "inbound = { average = 1000, peak = 5000, burst = 1024 }\n"
                            "outbound = { average = 128 }\n");
  ASSERT_TRUE(r.ok()) << format_errors(r);
  const auto& p = r.config->switches[0].ports[0];
  EXPECT_EQ(p.inbound, (vs::config::Bandwidth{1000, 5000, 1024}));
  EXPECT_EQ(p.outbound, (vs::config::Bandwidth{128, 0, 0}));
  const LoadResult again = load(vs::config::to_toml(*r.config));
  ASSERT_TRUE(again.ok()) << format_errors(again);
  EXPECT_EQ(again.config->switches[0].ports[0], p);
  const LoadResult changed = load(kHead + "inbound = { average = 2000 }\n");
  ASSERT_TRUE(changed.ok());
  const auto d = vs::config::diff_configs(*r.config, *changed.config);
  EXPECT_TRUE(d.replaced.empty());
  EXPECT_EQ(d.retagged.size(), 1u);
}

TEST(ConfigBandwidth, EachMistakeIsOneErrorWithLineAndCaret) {
  const Bad cases[] = {
      {"inbound = 1000\n", 5, "inbound must be a table"},
      {"outbound = { peak = 10 }\n", 5, "missing key \"average\""},
      {"outbound = { average = 100, peak = 10 }\n", 5, "peak must be at least average"},
      {"inbound = { average = 0 }\n", 5, "average must be 1..100000000"},
      {"inbound = { average = 10, burst = \"1M\" }\n", 5, "burst must be an integer"},
      {"inbound = { average = 10, floor = 3 }\n", 5, "unknown key \"floor\""},
  };
  for (const Bad& c : cases) expect_one_error(c);
}

}  // namespace
