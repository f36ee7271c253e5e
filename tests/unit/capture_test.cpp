// Unit tests of packet capture's pieces that need no EAL: the workers' capture rings
// (shm/capture.hpp: records, wrap-around, a full ring, corrupt contents), the capture table's
// seqlock, the pcapng interface renaming (daemon/pcapng_output.hpp), the pcap filter compiler
// (daemon/capture_filter.hpp) and vswitchctl capture's command line (ctl/capture_client.hpp).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ctl/capture_client.hpp"
#include "daemon/capture_filter.hpp"
#include "daemon/pcapng_output.hpp"
#include "shm/capture.hpp"

namespace vs {
namespace {

struct Read {
  CaptureRecord rec;
  std::vector<uint8_t> bytes;
};

bool write_frame(CaptureRing& r, uint32_t len, uint8_t fill, uint64_t id = 1) {
  CaptureRecord h{};
  h.capture_id = id;
  h.port = 3;
  h.orig_len = len;
  h.caplen = len;
  h.direction = kCaptureIn;
  return capture_ring_write(r, h, [fill](uint8_t* dst, uint32_t n) { std::memset(dst, fill, n); });
}

std::vector<Read> read_all(CaptureRing& r, long* rc = nullptr) {
  std::vector<Read> out;
  long n = capture_ring_read(r, [&](const CaptureRecord& h, const uint8_t* b) {
    out.push_back({h, std::vector<uint8_t>(b, b + h.caplen)});
  });
  if (rc) *rc = n;
  return out;
}

std::unique_ptr<CaptureRing> new_ring() {
  auto r = std::make_unique<CaptureRing>();
  r->head = 0;
  r->tail = 0;
  r->copied = 0;
  r->dropped = 0;
  return r;
}

TEST(CaptureRing, RecordsComeOutInOrderWithTheirBytes) {
  auto r = new_ring();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(write_frame(*r, 60 + i, static_cast<uint8_t>(i)));
  std::vector<Read> got = read_all(*r);
  ASSERT_EQ(got.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(got[i].rec.caplen, 60u + i);
    EXPECT_EQ(got[i].bytes, std::vector<uint8_t>(60 + i, static_cast<uint8_t>(i)));
    EXPECT_EQ(got[i].rec.port, 3);
  }
  EXPECT_EQ(r->copied.load(), 10u);
  EXPECT_EQ(r->tail.load(), r->head.load());
}

TEST(CaptureRing, AFullRingDropsTheCopyAndCountsIt) {
  auto r = new_ring();
  const uint32_t len = 60000;
  int written = 0;
  while (write_frame(*r, len, 7)) ++written;
  EXPECT_EQ(written, static_cast<int>(kCaptureRingBytes / capture_record_size(len)));
  EXPECT_EQ(r->dropped.load(), 1u);
  EXPECT_EQ(read_all(*r).size(), static_cast<std::size_t>(written));
  EXPECT_TRUE(write_frame(*r, len, 8));  // room again
}

TEST(CaptureRing, WrapsAroundTheEnd) {
  auto r = new_ring();
  // Fill, drain, then write records that straddle the end many times over.
  uint64_t total = 0;
  for (int round = 0; round < 1000; ++round) {
    for (int i = 0; i < 7; ++i) {
      ASSERT_TRUE(write_frame(*r, 1000 + 113 * i, static_cast<uint8_t>(round + i)));
      ++total;
    }
    std::vector<Read> got = read_all(*r);
    ASSERT_EQ(got.size(), 7u);
    for (int i = 0; i < 7; ++i)
      ASSERT_EQ(got[i].bytes,
                std::vector<uint8_t>(1000 + 113 * i, static_cast<uint8_t>(round + i)));
  }
  EXPECT_GT(r->head.load(), uint64_t{3} * kCaptureRingBytes);
  EXPECT_EQ(r->dropped.load(), 0u);
  EXPECT_EQ(r->copied.load(), total);
}

TEST(CaptureRing, CorruptRecordsEndTheReadWithoutReadingOutside) {
  auto r = new_ring();
  ASSERT_TRUE(write_frame(*r, 100, 1));
  uint32_t bad_size = 12;  // smaller than a header
  std::memcpy(r->data, &bad_size, 4);
  long rc = 0;
  EXPECT_TRUE(read_all(*r, &rc).empty());
  EXPECT_EQ(rc, -1);
  EXPECT_EQ(r->tail.load(), r->head.load());  // skipped
  // caplen larger than the record.
  ASSERT_TRUE(write_frame(*r, 100, 2));
  const std::size_t at = r->tail.load() % kCaptureRingBytes;
  CaptureRecord h;
  std::memcpy(&h, r->data + at, sizeof(h));
  h.caplen = 5000;
  h.orig_len = 5000;
  std::memcpy(r->data + at, &h, sizeof(h));
  EXPECT_TRUE(read_all(*r, &rc).empty());
  EXPECT_EQ(rc, -1);
  // A head beyond what the ring can hold.
  r->head = r->tail.load() + kCaptureRingBytes + 8;
  EXPECT_TRUE(read_all(*r, &rc).empty());
  EXPECT_EQ(rc, -1);
  EXPECT_TRUE(write_frame(*r, 100, 3));  // and the writer goes on
  EXPECT_EQ(read_all(*r).size(), 1u);
}

TEST(CaptureTable, SnapshotSeesWhatWasPublished) {
  const std::size_t size = capture_zone_size(2);
  std::vector<uint64_t> mem(size / 8 + 8);
  auto* shm = reinterpret_cast<SharedCapture*>(mem.data());
  capture_init(*shm, 2);
  EXPECT_EQ(shm->magic, kCaptureMagic);
  auto f = std::make_unique<CaptureFilter>();
  f->id = 42;
  f->snaplen = 96;
  f->ports[0] = 0b1010;
  capture_publish(*shm, 1, *f);
  EXPECT_EQ(shm->generation.load(), 1u);
  auto got = std::make_unique<CaptureFilter>();
  ASSERT_TRUE(capture_snapshot(shm->slots[1], *got));
  EXPECT_EQ(got->id, 42u);
  EXPECT_EQ(got->snaplen, 96u);
  EXPECT_EQ(got->ports[0], 0b1010u);
  // The rings are distinct and inside the zone.
  auto* end = reinterpret_cast<uint8_t*>(shm) + size;
  EXPECT_LE(reinterpret_cast<uint8_t*>(&capture_ring(*shm, kMaxCaptures - 1, 1) + 1), end);
  EXPECT_NE(&capture_ring(*shm, 0, 1), &capture_ring(*shm, 1, 0));
  shm->slots[1].seq.store(3);  // a writer mid-update
  EXPECT_FALSE(capture_snapshot(shm->slots[1], *got, 5));
}

TEST(CaptureFilterCompile, CompilesAndRefusesWithLibpcapsWords) {
  CompiledFilter f;
  std::string error;
  ASSERT_TRUE(compile_pcap_filter("tcp port 80 or icmp", 65535, f, error)) << error;
  EXPECT_GT(f.insns.size(), 4u);
  ASSERT_TRUE(compile_pcap_filter("", 65535, f, error)) << error;
  EXPECT_EQ(f.insns.size(), 1u);  // "ret #snaplen"
  EXPECT_FALSE(compile_pcap_filter("tcp port", 65535, f, error));
  EXPECT_NE(error.find("syntax error"), std::string::npos) << error;
  EXPECT_FALSE(compile_pcap_filter("host nosuchhost.invalid", 65535, f, error));
}

// A pcapng header as librte_pcapng writes it: a section header and two interfaces, the first
// with a name, a MAC and a hardware string, the second with a name only.
std::string option(uint16_t code, const std::string& v) {
  std::string s(4, '\0');
  std::memcpy(s.data(), &code, 2);
  const uint16_t len = static_cast<uint16_t>(v.size());
  std::memcpy(s.data() + 2, &len, 2);
  return s + v + std::string((4 - v.size() % 4) % 4, '\0');
}
std::string block(uint32_t type, const std::string& body) {
  const uint32_t len = static_cast<uint32_t>(body.size() + 12);
  std::string s(8, '\0');
  std::memcpy(s.data(), &type, 4);
  std::memcpy(s.data() + 4, &len, 4);
  s += body;
  s.append(reinterpret_cast<const char*>(&len), 4);
  return s;
}
std::string idb(const std::vector<std::pair<uint16_t, std::string>>& opts) {
  std::string body("\x01\x00\x00\x00\x00\x00\x00\x00", 8);
  for (auto& [c, v] : opts) body += option(c, v);
  return block(1, body + option(0, ""));
}

TEST(PcapngRename, InterfacesGetThePortsNames) {
  const std::string shb = block(0x0A0D0D0A, std::string("\x4d\x3c\x2b\x1a\x01\x00\x00\x00", 8) +
                                                std::string(8, '\xff') + option(0, ""));
  const std::string in =
      shb + idb({{9, std::string(1, '\x09')}, {2, "eth0"}, {6, "abcdef"}}) + idb({{2, "lo"}});
  const std::string out = rename_pcapng_interfaces(in, {"vm1", ""});
  const std::string want =
      shb + idb({{2, "vm1"}, {9, std::string(1, '\x09')}, {6, "abcdef"}}) + idb({{2, "lo"}});
  EXPECT_EQ(out, want);
  EXPECT_EQ(rename_pcapng_interfaces(in.substr(0, in.size() - 3), {"vm1"}), "");  // cut short
}

// ---- vswitchctl capture's command line ------------------------------------------------------

std::optional<CaptureCommand> parse(const std::vector<std::string>& w, std::string* err = nullptr) {
  std::string error;
  auto c = parse_capture_command(w, error);
  if (err) *err = error;
  return c;
}

TEST(CaptureCommandLine, PortsOptionsAndFilter) {
  auto c = parse({"vm1", "vm2,vm3", "--direction", "in", "--count", "5", "--duration", "0.5",
                  "--snaplen", "128", "-w", "/tmp/x.pcapng", "tcp", "port", "80"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->request["ports"], nlohmann::json({"vm1", "vm2", "vm3"}));
  EXPECT_EQ(c->request["direction"], "in");
  EXPECT_EQ(c->request["count"], 5);
  EXPECT_EQ(c->request["duration_ms"], 500);
  EXPECT_EQ(c->request["snaplen"], 128);
  EXPECT_EQ(c->request["filter"], "tcp port 80");
  EXPECT_EQ(c->output, "/tmp/x.pcapng");
  c = parse({"vm1", "--", "icmp"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->request["filter"], "icmp");
  EXPECT_FALSE(c->output_given);
}

TEST(CaptureCommandLine, Refusals) {
  std::string e;
  EXPECT_FALSE(parse({}, &e));
  EXPECT_NE(e.find("at least one port"), std::string::npos);
  EXPECT_FALSE(parse({"vm1", "--count", "0"}, &e));
  EXPECT_FALSE(parse({"vm1", "--duration", "x"}, &e));
  EXPECT_FALSE(parse({"vm1", "--direction", "up"}, &e));
  EXPECT_FALSE(parse({"vm1", "--snaplen", "300000"}, &e));
  EXPECT_FALSE(parse({"vm1", "-x", "1"}, &e));
  EXPECT_NE(e.find("unknown capture option -x"), std::string::npos) << e;
  EXPECT_FALSE(parse({"vm1", "-w"}, &e));
  EXPECT_EQ(e, "-w needs a value");
}

}  // namespace
}  // namespace vs
