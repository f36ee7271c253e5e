// The capture filter, end to end in one process, against libpcap as the oracle: a pcap expression
// compiled by libpcap, converted to eBPF by the capture service (to_ebpf), loaded and run by the
// workers' capture taps (switch/capture_tap.cpp, JIT where it compiles) on mbufs, some of them
// chains of segments, must select exactly the frames that libpcap's own bpf_filter() selects on
// the same bytes. Frames are built from templates (IPv4 TCP/UDP/ICMP, IPv6, ARP, 802.1Q) and
// then mutated at random (fixed seed), runts included. An EAL primary (eal_env.hpp).
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <rte_mbuf.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "daemon/capture_filter.hpp"
#include "daemon/capture_service.hpp"
#include "eal_env.hpp"
#include "shm/capture.hpp"
#include "switch/capture_tap.hpp"

namespace vs {
namespace {

using Frame = std::vector<uint8_t>;

Frame hex(const char* s) {
  Frame f;
  for (; s[0] && s[1]; s += 2)
    f.push_back(static_cast<uint8_t>(std::stoi(std::string(s, 2), nullptr, 16)));
  return f;
}

// Ethernet + IPv4/TCP to port 80, UDP to 53, ICMP echo, IPv6/ICMPv6, ARP, a VLAN 10 tag.
std::vector<Frame> templates() {
  const char* eth = "0200000000020200000000010800";
  std::vector<Frame> t;
  t.push_back(
      hex((std::string(eth) +
           "4500003c000040004006000a0a0000010a00000204d200500000000000000000a002ffff00000000")
              .c_str()));
  t.push_back(hex(
      (std::string(eth) +
       "4500002c0000400040110000c0a801010808080804d20035001800000102030405060708090a0b0c0d0e0f10")
          .c_str()));
  t.push_back(
      hex((std::string(eth) + "45000054000040004001000a0a0000010a0000030800f7ff00010001").c_str()));
  t.push_back(
      hex("33330000000102000000000186dd6000000000083a40fd000000000000000000000000000001ff0200000000"
          "000000000000000000018000000000010001"));
  t.push_back(
      hex("ffffffffffff0200000000010806000108000604000102000000000a0a000001000000000000a0a000002"));
  t.push_back(
      hex("020000000002020000000001810000640800450000280000400040060000c0a80001c0a8000204d201bb0000"
          "00000000000050020000000000000000"));
  return t;
}

const char* kFilters[] = {
    "icmp",
    "tcp port 80",
    "udp and dst port 53",
    "arp",
    "vlan 10",
    "ip6",
    "icmp6",
    "host 10.0.0.1",
    "net 10.0.0.0/8 and not tcp",
    "ether proto 0x88b5",
    "ip[2:2] > 50",
    "tcp[13] & 2 != 0",
    "ether host 02:00:00:00:00:01",
    "less 80",
    "greater 100",
    "vlan 10 and tcp port 443",
    "not arp and not ip6",
    "ether[0] & 1 != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "ip[6:2] & 0x1fff = 0",
    "len > 100",
    "icmp[icmptype] == icmp-echo",
    "udp[8:2] = 0x0102",
    "ip6 and tcp port 22",
    "ip and ip[8] < 65",
    "(tcp or udp) and not port 53",
    "ether src 02:00:00:00:00:01 or arp",
};

struct Rig {
  std::vector<uint64_t> mem;
  SharedCapture* shm;
  rte_mempool* pool = vstest::make_pool(512, 2048 + 128);
  Rig() : mem(capture_zone_size(1) / 8 + 16) {
    shm = reinterpret_cast<SharedCapture*>(mem.data());
    capture_init(*shm, 1);
  }
  // The frame as an mbuf; `split` > 0 puts the bytes from there on into a second segment.
  rte_mbuf* mbuf(const Frame& f, size_t split) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    const size_t first = split ? std::min(split, f.size()) : f.size();
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(first)), f.data(), first);
    if (first < f.size()) {
      rte_mbuf* tail = rte_pktmbuf_alloc(pool);
      std::memcpy(rte_pktmbuf_append(tail, static_cast<uint16_t>(f.size() - first)),
                  f.data() + first, f.size() - first);
      EXPECT_EQ(rte_pktmbuf_chain(m, tail), 0);
    }
    return m;
  }
};

class CaptureBpf : public ::testing::TestWithParam<bool> {};  // JIT or interpreter

TEST_P(CaptureBpf, WorkersSelectWhatLibpcapSelects) {
  ASSERT_TRUE(vstest::EalEnvironment::ready());
  const bool jit = GetParam();
  if (jit)
    unsetenv("VSWITCH_CAPTURE_NO_JIT");
  else
    setenv("VSWITCH_CAPTURE_NO_JIT", "1", 1);
  Rig rig;
  ASSERT_NE(rig.pool, nullptr);
  std::mt19937 rng(2026);
  std::vector<Frame> frames;
  for (const Frame& t : templates()) frames.push_back(t);
  for (int i = 0; i < 400; ++i) {
    Frame f = frames[rng() % 6];
    for (int k = rng() % 4; k > 0; --k) f[rng() % f.size()] = static_cast<uint8_t>(rng());
    if (rng() % 8 == 0) f.resize(1 + rng() % f.size());  // runts and cut headers
    if (rng() % 4 == 0) f.resize(f.size() + rng() % 200, 0xab);
    frames.push_back(f);
  }
  uint64_t id = 0;
  for (const char* expr : kFilters) {
    SCOPED_TRACE(expr);
    CompiledFilter cbpf;
    std::string error;
    ASSERT_TRUE(compile_pcap_filter(expr, 65535, cbpf, error)) << error;
    auto filter = std::make_unique<CaptureFilter>();
    ASSERT_TRUE(to_ebpf(cbpf, *filter, error)) << error;
    filter->id = ++id;
    filter->snaplen = 65535;
    filter->directions = kCaptureIn;
    filter->ports[0] = 1;  // port 0
    capture_publish(*rig.shm, 0, *filter);
    CaptureTaps taps(rig.shm, 0);
    taps.refresh();
    ASSERT_TRUE(taps.armed());
    EXPECT_EQ(taps.jitted(), jit ? 1 : 0);
    std::vector<bool> want;
    for (size_t i = 0; i < frames.size(); ++i) {
      const Frame& f = frames[i];
      want.push_back(bpf_filter(cbpf.insns.data(), f.data(), static_cast<u_int>(f.size()),
                                static_cast<u_int>(f.size())) != 0);
      rte_mbuf* m = rig.mbuf(f, i % 3 == 0 ? 20 : 0);
      taps.tap(0, 0, kCaptureIn, &m, 1);
      rte_pktmbuf_free(m);
    }
    std::vector<bool> got(frames.size(), false);
    size_t next = 0;
    capture_ring_read(
        capture_ring(*rig.shm, 0, 0), [&](const CaptureRecord& rec, const uint8_t* b) {
          if (rec.capture_id != id) return;
          // Records come in frame order: find this one.
          while (next < frames.size() &&
                 (frames[next].size() != rec.orig_len ||
                  std::memcmp(frames[next].data(), b, rec.caplen) != 0 || !want[next]))
            ++next;
          if (next < frames.size()) got[next++] = true;
        });
    size_t mismatches = 0, selected = 0;
    for (size_t i = 0; i < frames.size(); ++i) {
      selected += want[i];
      if (got[i] != want[i] && ++mismatches <= 3)
        ADD_FAILURE() << "frame " << i << " (" << frames[i].size() << " B): libpcap " << want[i]
                      << ", capture " << got[i];
    }
    EXPECT_EQ(mismatches, 0u) << selected << " frames selected by libpcap";
    EXPECT_EQ(taps.load_failures(), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(JitAndInterpreter, CaptureBpf, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "jit" : "interpreter"; });

}  // namespace
}  // namespace vs

VSTEST_EAL_MAIN();
