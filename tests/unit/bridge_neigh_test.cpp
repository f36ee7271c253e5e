// daemon/bridge_neigh: the AF_BRIDGE neighbour codec byte by byte (requests we build, messages a
// test-side builder writes the way the kernel does, and broken ones), then the socket against
// this machine's kernel, each test in a fresh network namespace with a bridge, a VXLAN device
// and a veth port (skipped when not root).
#include "daemon/bridge_neigh.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using vs::BridgeNeigh;
using vs::NetlinkStatus;

// ---- a test-side message builder, written apart from the library's so they cannot share a bug

using Bytes = std::vector<uint8_t>;

struct Attr {
  uint16_t type;
  Bytes payload;
};

void put_bytes(Bytes& out, const void* data, std::size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  out.insert(out.end(), p, p + size);
  while (out.size() % 4 != 0) out.push_back(0);
}

void patch_length(Bytes& message) {
  const auto length = static_cast<uint32_t>(message.size());
  std::memcpy(message.data(), &length, sizeof(length));
}

Bytes header(uint16_t type, uint32_t seq, uint16_t flags = 0) {
  nlmsghdr hdr{};
  hdr.nlmsg_type = type;
  hdr.nlmsg_seq = seq;
  hdr.nlmsg_flags = flags;
  Bytes out;
  put_bytes(out, &hdr, sizeof(hdr));
  patch_length(out);  // a bare header; the callers that add a body patch it again
  return out;
}

Bytes neigh_message(uint16_t type, uint8_t family, int ifindex, uint16_t state, uint8_t flags,
                    const std::vector<Attr>& attrs) {
  Bytes out = header(type, 0);
  ndmsg ndm{};
  ndm.ndm_family = family;
  ndm.ndm_ifindex = ifindex;
  ndm.ndm_state = state;
  ndm.ndm_flags = flags;
  put_bytes(out, &ndm, sizeof(ndm));
  for (const Attr& attr : attrs) {
    rtattr rta{};
    rta.rta_type = attr.type;
    rta.rta_len = static_cast<unsigned short>(sizeof(rta) + attr.payload.size());
    put_bytes(out, &rta, sizeof(rta));
    put_bytes(out, attr.payload.data(), attr.payload.size());
  }
  patch_length(out);
  return out;
}

Bytes bridge_neigh(uint16_t type, int ifindex, const std::vector<Attr>& attrs) {
  return neigh_message(type, AF_BRIDGE, ifindex, NUD_PERMANENT | NUD_NOARP, NTF_SELF, attrs);
}

Bytes error_message(int32_t error, uint32_t seq) {
  Bytes out = header(NLMSG_ERROR, seq);
  nlmsgerr err{};
  err.error = error;
  err.msg.nlmsg_seq = seq;
  put_bytes(out, &err, sizeof(err));
  patch_length(out);
  return out;
}

Bytes done_message() {
  Bytes out = header(NLMSG_DONE, 1, NLM_F_MULTI);
  const int32_t zero = 0;
  put_bytes(out, &zero, sizeof(zero));
  patch_length(out);
  return out;
}

Attr lladdr(std::initializer_list<uint8_t> bytes) {
  return {NDA_LLADDR, Bytes(bytes)};
}
Attr u32_attr(uint16_t type, uint32_t value) {
  Bytes b(4);
  std::memcpy(b.data(), &value, 4);
  return {type, b};
}
Attr u16_attr(uint16_t type, uint16_t value) {
  Bytes b(2);
  std::memcpy(b.data(), &value, 2);
  return {type, b};
}
uint32_t ipv4(const char* text) {
  in_addr a{};
  inet_pton(AF_INET, text, &a);
  return a.s_addr;  // network byte order
}
Attr dst_v4(const char* text) {
  return u32_attr(NDA_DST, ipv4(text));
}
Attr dst_v6(const char* text) {
  Bytes b(16);
  inet_pton(AF_INET6, text, b.data());
  return {NDA_DST, b};
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Parses from a heap block of exactly the buffer's size (at `misalign` bytes into it), so that a
// sanitizer build catches a read past the end and a misaligned one.
vs::NetlinkParse parse(const Bytes& buf, std::vector<BridgeNeigh>* seen = nullptr,
                       std::size_t misalign = 0) {
  std::unique_ptr<uint8_t[]> block(new uint8_t[buf.size() + misalign]);
  if (!buf.empty()) std::memcpy(block.get() + misalign, buf.data(), buf.size());
  return vs::parse_bridge_neighs(block.get() + misalign, buf.size(), [&](const BridgeNeigh& n) {
    if (seen) seen->push_back(n);
  });
}

template <typename T>
T read_at(const Bytes& buf, std::size_t offset) {
  T value;
  std::memcpy(&value, buf.data() + offset, sizeof(value));
  return value;
}

// ---- requests ---------------------------------------------------------------------------------

TEST(BridgeNeighRequest, AddIsNewNeighWithMasterStateAndLladdr) {
  Bytes out;
  vs::append_bridge_neigh_request(true, 7, 0x0200000000a1, NUD_REACHABLE, 42, out);
  ASSERT_EQ(out.size(), 40u);  // nlmsghdr 16 + ndmsg 12 + NDA_LLADDR 4+6, padded to 12
  EXPECT_EQ(read_at<uint32_t>(out, 0), 40u);
  EXPECT_EQ(read_at<uint16_t>(out, 4), RTM_NEWNEIGH);
  EXPECT_EQ(read_at<uint16_t>(out, 6), NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
  EXPECT_EQ(read_at<uint16_t>(out, 6), 0x0505);
  EXPECT_EQ(read_at<uint32_t>(out, 8), 42u);  // seq
  EXPECT_EQ(read_at<uint32_t>(out, 12), 0u);  // pid
  EXPECT_EQ(out[16], AF_BRIDGE);
  EXPECT_EQ(out[17], 0);
  EXPECT_EQ(read_at<uint16_t>(out, 18), 0);
  EXPECT_EQ(read_at<int32_t>(out, 20), 7);               // ndm_ifindex
  EXPECT_EQ(read_at<uint16_t>(out, 24), NUD_REACHABLE);  // ndm_state
  EXPECT_EQ(out[26], NTF_MASTER);                        // ndm_flags
  EXPECT_EQ(out[27], 0);                                 // ndm_type
  EXPECT_EQ(read_at<uint16_t>(out, 28), 10);             // rta_len
  EXPECT_EQ(read_at<uint16_t>(out, 30), NDA_LLADDR);
  EXPECT_EQ(Bytes(out.begin() + 32, out.end()), (Bytes{0x02, 0, 0, 0, 0, 0xa1, 0, 0}));
}

TEST(BridgeNeighRequest, DeleteIsDelNeighWithTheStateGiven) {
  Bytes out;
  vs::append_bridge_neigh_request(false, 9, 0xfedcba987654, NUD_NOARP, 0xdeadbeef, out);
  ASSERT_EQ(out.size(), 40u);
  EXPECT_EQ(read_at<uint32_t>(out, 0), 40u);
  EXPECT_EQ(read_at<uint16_t>(out, 4), RTM_DELNEIGH);
  EXPECT_EQ(read_at<uint16_t>(out, 6), NLM_F_REQUEST | NLM_F_ACK);
  EXPECT_EQ(read_at<uint32_t>(out, 8), 0xdeadbeefu);
  EXPECT_EQ(out[16], AF_BRIDGE);
  EXPECT_EQ(read_at<int32_t>(out, 20), 9);
  EXPECT_EQ(read_at<uint16_t>(out, 24), NUD_NOARP);
  EXPECT_EQ(out[26], NTF_MASTER);
  EXPECT_EQ(Bytes(out.begin() + 32, out.begin() + 38), (Bytes{0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54}));
}

TEST(BridgeNeighRequest, DumpIsGetNeighWithABareBridgeNdmsg) {
  Bytes out;
  vs::append_bridge_neigh_dump(5, out);
  ASSERT_EQ(out.size(), 28u);  // no attribute: no NDA_MASTER filter
  EXPECT_EQ(read_at<uint32_t>(out, 0), 28u);
  EXPECT_EQ(read_at<uint16_t>(out, 4), RTM_GETNEIGH);
  EXPECT_EQ(read_at<uint16_t>(out, 6), NLM_F_REQUEST | NLM_F_DUMP);
  EXPECT_EQ(read_at<uint32_t>(out, 8), 5u);
  EXPECT_EQ(out[16], AF_BRIDGE);
  EXPECT_EQ(Bytes(out.begin() + 17, out.end()), Bytes(11, 0));
}

TEST(BridgeNeighRequest, ABatchIsAlignedAndItsRequestsParseBack) {
  Bytes out = {0xaa};  // whatever came before: the next message still starts 4-aligned
  vs::append_bridge_neigh_request(true, 3, 0x020000000001, NUD_REACHABLE, 1, out);
  vs::append_bridge_neigh_request(false, 4, 0x020000000002, NUD_REACHABLE, 2, out);
  vs::append_bridge_neigh_dump(3, out);
  ASSERT_EQ(out.size(), 4u + 40 + 40 + 28);
  EXPECT_EQ(read_at<uint16_t>(out, 4 + 4), RTM_NEWNEIGH);
  EXPECT_EQ(read_at<uint16_t>(out, 44 + 4), RTM_DELNEIGH);
  EXPECT_EQ(read_at<uint16_t>(out, 84 + 4), RTM_GETNEIGH);

  // A request is itself an AF_BRIDGE neighbour message: the decoder reads our encoder's output.
  std::vector<BridgeNeigh> seen;
  const auto result = parse(Bytes(out.begin() + 4, out.end()), &seen);
  EXPECT_EQ(result.status, NetlinkStatus::kMore);
  ASSERT_EQ(result.neighbours, 2u);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[0].added);
  EXPECT_EQ(seen[0].ifindex, 3);
  EXPECT_EQ(seen[0].mac, 0x020000000001u);
  EXPECT_EQ(seen[0].state, NUD_REACHABLE);
  EXPECT_EQ(seen[0].flags, NTF_MASTER);
  EXPECT_FALSE(seen[0].has_dst || seen[0].has_vlan || seen[0].has_vni || seen[0].has_master);
  EXPECT_FALSE(seen[1].added);
  EXPECT_EQ(seen[1].ifindex, 4);
  EXPECT_EQ(seen[1].mac, 0x020000000002u);
}

// ---- parsing ----------------------------------------------------------------------------------

TEST(BridgeNeighParse, RemoteMacWithDstVniMasterAndVlan) {
  const Bytes msg = bridge_neigh(RTM_NEWNEIGH, 3,
                                 {lladdr({0x02, 0, 0, 0, 0, 0xb2}),
                                  dst_v4("10.99.0.2"),
                                  u32_attr(NDA_VNI, 100),
                                  u32_attr(NDA_MASTER, 2),
                                  u16_attr(NDA_VLAN, 10),
                                  u16_attr(NDA_PORT, htons(4789)),
                                  {NDA_CACHEINFO, Bytes(16, 0x55)},
                                  {0x7fff, Bytes(3, 1)}});  // unknown ones skipped
  std::vector<BridgeNeigh> seen;
  const auto result = parse(msg, &seen);
  EXPECT_EQ(result.status, NetlinkStatus::kMore);
  ASSERT_EQ(seen.size(), 1u);
  const BridgeNeigh& n = seen[0];
  EXPECT_TRUE(n.added);
  EXPECT_EQ(n.ifindex, 3);
  EXPECT_EQ(n.mac, 0x0200000000b2u);
  EXPECT_EQ(n.state, NUD_PERMANENT | NUD_NOARP);
  EXPECT_EQ(n.flags, NTF_SELF);
  EXPECT_TRUE(n.has_dst);
  EXPECT_EQ(n.dst, ipv4("10.99.0.2"));
  EXPECT_EQ(ntohl(n.dst), 0x0a630002u);
  EXPECT_TRUE(n.has_vni);
  EXPECT_EQ(n.vni, 100u);
  EXPECT_TRUE(n.has_master);
  EXPECT_EQ(n.master, 2);
  EXPECT_TRUE(n.has_vlan);
  EXPECT_EQ(n.vlan, 10);
}

TEST(BridgeNeighParse, AllZeroMacFloodEntry) {
  std::vector<BridgeNeigh> seen;
  parse(bridge_neigh(RTM_NEWNEIGH, 3, {lladdr({0, 0, 0, 0, 0, 0}), dst_v4("10.99.0.4")}), &seen);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].mac, 0u);
  EXPECT_TRUE(seen[0].has_dst);
  EXPECT_EQ(seen[0].dst, ipv4("10.99.0.4"));
  EXPECT_FALSE(seen[0].has_vni);
  EXPECT_FALSE(seen[0].has_master);
}

TEST(BridgeNeighParse, DelNeighIsNotAdded) {
  std::vector<BridgeNeigh> seen;
  parse(bridge_neigh(RTM_DELNEIGH, 3, {lladdr({0x02, 0, 0, 0, 0, 0xb2}), dst_v4("10.99.0.3")}),
        &seen);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_FALSE(seen[0].added);
  EXPECT_EQ(seen[0].mac, 0x0200000000b2u);
  EXPECT_EQ(seen[0].dst, ipv4("10.99.0.3"));
}

TEST(BridgeNeighParse, OtherFamiliesAndMessagesAreSkipped) {
  const Bytes inet = neigh_message(RTM_NEWNEIGH, AF_INET, 3, NUD_REACHABLE, 0,
                                   {dst_v4("10.0.0.1"), lladdr({2, 0, 0, 0, 0, 1})});
  const Bytes link = header(RTM_NEWLINK, 0);  // 16 bytes, no body at all
  const Bytes bridge = bridge_neigh(RTM_NEWNEIGH, 8, {lladdr({2, 0, 0, 0, 0, 2})});
  std::vector<BridgeNeigh> seen;
  const auto result = parse(concat({inet, link, bridge}), &seen);
  EXPECT_EQ(result.status, NetlinkStatus::kMore);
  EXPECT_EQ(result.neighbours, 1u);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].ifindex, 8);
  EXPECT_EQ(seen[0].mac, 0x020000000002u);
}

TEST(BridgeNeighParse, Ipv6DstIsNotADst) {
  std::vector<BridgeNeigh> seen;
  parse(bridge_neigh(RTM_NEWNEIGH, 3, {lladdr({2, 0, 0, 0, 0, 3}), dst_v6("fd00::2")}), &seen);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].mac, 0x020000000003u);
  EXPECT_FALSE(seen[0].has_dst);
  EXPECT_EQ(seen[0].dst, 0u);
}

// Found by the fuzzer: an IPv4 NDA_DST then an IPv6 one left has_dst false with dst still set.
TEST(BridgeNeighParse, RepeatedDstReplacesTheEarlierOneWhole) {
  std::vector<BridgeNeigh> seen;
  parse(bridge_neigh(RTM_NEWNEIGH, 3,
                     {lladdr({2, 0, 0, 0, 0, 3}), dst_v4("10.99.0.2"), dst_v6("fd00::2")}),
        &seen);
  parse(bridge_neigh(RTM_NEWNEIGH, 3,
                     {lladdr({2, 0, 0, 0, 0, 4}), dst_v6("fd00::2"), dst_v4("10.99.0.5")}),
        &seen);
  parse(bridge_neigh(RTM_NEWNEIGH, 3, {lladdr({2, 0, 0, 0, 0, 5}), lladdr({2, 0, 0, 1})}), &seen);
  ASSERT_EQ(seen.size(), 2u);  // the last: its only 6-byte NDA_LLADDR was replaced, so skipped
  EXPECT_FALSE(seen[0].has_dst);
  EXPECT_EQ(seen[0].dst, 0u);
  EXPECT_TRUE(seen[1].has_dst);
  EXPECT_EQ(seen[1].dst, ipv4("10.99.0.5"));
}

TEST(BridgeNeighParse, DoneStops) {
  const Bytes a = bridge_neigh(RTM_NEWNEIGH, 3, {lladdr({2, 0, 0, 0, 0, 1})});
  const Bytes b = bridge_neigh(RTM_NEWNEIGH, 3, {lladdr({2, 0, 0, 0, 0, 2})});
  std::vector<BridgeNeigh> seen;
  const auto result = parse(concat({a, done_message(), b}), &seen);
  EXPECT_EQ(result.status, NetlinkStatus::kDone);
  EXPECT_EQ(result.neighbours, 1u);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].mac, 0x020000000001u);
}

TEST(BridgeNeighParse, ErrorIsReportedWithItsSeqAndStops) {
  const Bytes a = bridge_neigh(RTM_NEWNEIGH, 3, {lladdr({2, 0, 0, 0, 0, 1})});
  const Bytes b = bridge_neigh(RTM_NEWNEIGH, 3, {lladdr({2, 0, 0, 0, 0, 2})});
  const auto result = parse(concat({error_message(0, 8), a, error_message(-17, 9), b}));
  EXPECT_EQ(result.status, NetlinkStatus::kError);
  EXPECT_EQ(result.error, 17);  // EEXIST, made positive
  EXPECT_EQ(result.error_seq, 9u);
  EXPECT_EQ(result.neighbours, 1u);  // a; not b
}

TEST(BridgeNeighParse, AckIsSkipped) {
  const auto result = parse(
      concat({error_message(0, 4), bridge_neigh(RTM_NEWNEIGH, 3, {lladdr({2, 0, 0, 0, 0, 1})})}));
  EXPECT_EQ(result.status, NetlinkStatus::kMore);
  EXPECT_EQ(result.error, 0);
  EXPECT_EQ(result.neighbours, 1u);
}

TEST(BridgeNeighParse, ErrorOfIntMinDoesNotOverflow) {
  const auto result = parse(error_message(INT32_MIN, 3));
  EXPECT_EQ(result.status, NetlinkStatus::kError);
  EXPECT_GT(result.error, 0);
}

TEST(BridgeNeighParse, EveryTruncationIsMalformedUnlessAtAMessageBoundary) {
  const Bytes a = bridge_neigh(RTM_NEWNEIGH, 3, {lladdr({2, 0, 0, 0, 0, 1}), dst_v4("10.99.0.2")});
  const Bytes b = bridge_neigh(RTM_DELNEIGH, 3, {lladdr({2, 0, 0, 0, 0, 2})});
  const Bytes c = error_message(-2, 7);
  const Bytes all = concat({a, b, c});
  for (std::size_t cut = 1; cut < all.size(); ++cut) {
    const auto result = parse(Bytes(all.begin(), all.begin() + cut));
    const std::size_t whole = (cut >= a.size()) + (cut >= a.size() + b.size());
    const bool boundary = cut == a.size() || cut == a.size() + b.size();
    SCOPED_TRACE("cut at " + std::to_string(cut));
    EXPECT_EQ(result.status, boundary ? NetlinkStatus::kMore : NetlinkStatus::kMalformed);
    EXPECT_EQ(result.neighbours, whole);
  }
  EXPECT_EQ(parse(all).status, NetlinkStatus::kError);
}

TEST(BridgeNeighParse, LengthShorterThanItsHeaderIsMalformed) {
  for (uint32_t bad_length : {0u, 1u, 8u, 15u}) {
    Bytes msg = bridge_neigh(RTM_NEWNEIGH, 3, {lladdr({2, 0, 0, 0, 0, 1})});
    std::memcpy(msg.data(), &bad_length, sizeof(bad_length));
    const auto result = parse(msg);
    EXPECT_EQ(result.status, NetlinkStatus::kMalformed) << bad_length;
    EXPECT_EQ(result.neighbours, 0u);
  }
  // An NLMSG_ERROR too short for its error code says nothing reliable either.
  Bytes short_error = header(NLMSG_ERROR, 1);
  short_error.push_back(0xef);
  short_error.push_back(0xff);
  patch_length(short_error);
  EXPECT_EQ(parse(short_error).status, NetlinkStatus::kMalformed);
}

// Decision: an attribute whose rta_len runs past its message (or is below its own 4-byte header)
// makes that message skipped, and parsing goes on with the next message (the framing is sound).
TEST(BridgeNeighParse, AttributeRunningPastItsMessageSkipsThatMessage) {
  Bytes bad = bridge_neigh(RTM_NEWNEIGH, 3, {lladdr({2, 0, 0, 0, 0, 1}), dst_v4("10.99.0.2")});
  // The NDA_DST header sits at 16 + 12 + 12; claim 200 bytes, well into the next message.
  const uint16_t long_len = 200;
  std::memcpy(bad.data() + 40, &long_len, sizeof(long_len));
  Bytes tiny = bridge_neigh(RTM_NEWNEIGH, 3, {lladdr({2, 0, 0, 0, 0, 3}), dst_v4("10.99.0.2")});
  const uint16_t tiny_len = 2;
  std::memcpy(tiny.data() + 40, &tiny_len, sizeof(tiny_len));
  const Bytes good = bridge_neigh(RTM_NEWNEIGH, 3, {lladdr({2, 0, 0, 0, 0, 2})});
  std::vector<BridgeNeigh> seen;
  const auto result = parse(concat({bad, tiny, good, good, good, good}), &seen);
  EXPECT_EQ(result.status, NetlinkStatus::kMore);
  EXPECT_EQ(result.neighbours, 4u);
  for (const BridgeNeigh& n : seen) EXPECT_EQ(n.mac, 0x020000000002u);
}

TEST(BridgeNeighParse, LladdrOtherThanSixBytesOrMissingIsSkipped) {
  const Bytes four = bridge_neigh(RTM_NEWNEIGH, 3, {lladdr({2, 0, 0, 1}), dst_v4("10.99.0.2")});
  const Bytes eight = bridge_neigh(RTM_NEWNEIGH, 3, {lladdr({2, 0, 0, 0, 0, 0, 0, 1})});
  const Bytes none = bridge_neigh(RTM_NEWNEIGH, 3, {dst_v4("10.99.0.2")});
  const Bytes six = bridge_neigh(RTM_NEWNEIGH, 4, {lladdr({2, 0, 0, 0, 0, 6})});
  std::vector<BridgeNeigh> seen;
  const auto result = parse(concat({four, eight, none, six}), &seen);
  EXPECT_EQ(result.status, NetlinkStatus::kMore);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].ifindex, 4);
}

TEST(BridgeNeighParse, NdmsgCutShortIsSkipped) {
  Bytes msg = header(RTM_NEWNEIGH, 0);
  const uint8_t eight[8] = {AF_BRIDGE, 0, 0, 0, 3, 0, 0, 0};
  put_bytes(msg, eight, sizeof(eight));
  patch_length(msg);
  const auto result = parse(concat({msg, done_message()}));
  EXPECT_EQ(result.status, NetlinkStatus::kDone);
  EXPECT_EQ(result.neighbours, 0u);
}

TEST(BridgeNeighParse, WrongSizedVlanVniMasterAreIgnored) {
  std::vector<BridgeNeigh> seen;
  parse(bridge_neigh(RTM_NEWNEIGH, 3,
                     {lladdr({2, 0, 0, 0, 0, 1}),
                      {NDA_VLAN, Bytes(4, 1)},
                      {NDA_VNI, Bytes(2, 1)},
                      {NDA_MASTER, Bytes(1, 1)}}),
        &seen);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_FALSE(seen[0].has_vlan);
  EXPECT_FALSE(seen[0].has_vni);
  EXPECT_FALSE(seen[0].has_master);
}

TEST(BridgeNeighParse, AnyAlignmentOfTheBufferGivesTheSameResult) {
  const Bytes all = concat(
      {bridge_neigh(RTM_NEWNEIGH, 3,
                    {lladdr({2, 0, 0, 0, 0, 1}), dst_v4("10.99.0.2"), u32_attr(NDA_VNI, 100)}),
       done_message()});
  for (std::size_t misalign = 0; misalign < 8; ++misalign) {
    std::vector<BridgeNeigh> seen;
    const auto result = parse(all, &seen, misalign);
    EXPECT_EQ(result.status, NetlinkStatus::kDone);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].dst, ipv4("10.99.0.2"));
    EXPECT_EQ(seen[0].vni, 100u);
  }
}

TEST(BridgeNeighParse, EmptyBufferIsMoreWithNothing) {
  const auto result = parse(Bytes{});
  EXPECT_EQ(result.status, NetlinkStatus::kMore);
  EXPECT_EQ(result.neighbours, 0u);
}

TEST(BridgeNeighText, MacText) {
  EXPECT_EQ(vs::mac_text(0x020000000001), "02:00:00:00:00:01");
  EXPECT_EQ(vs::mac_text(0), "00:00:00:00:00:00");
  EXPECT_EQ(vs::mac_text(0xffffffffffff), "ff:ff:ff:ff:ff:ff");
  EXPECT_EQ(vs::mac_text(0x0a1b2c3d4e5f), "0a:1b:2c:3d:4e:5f");
}

// ---- against the kernel -----------------------------------------------------------------------

int shell(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string shell_output(const std::string& cmd) {
  std::string text;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return text;
  char chunk[512];
  std::size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), pipe)) > 0) text.append(chunk, n);
  pclose(pipe);
  return text;
}

// A named network namespace, deleted (with every interface in it) when the test ends, passed or
// failed. Named after the process and a counter: tests of several processes do not collide.
class ScopedNetns {
 public:
  ScopedNetns() {
    static std::atomic<int> counter{0};
    name_ = "bnt" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    shell("ip netns del " + name_ + " 2>/dev/null");
    created_ = shell("ip netns add " + name_) == 0;
  }
  ~ScopedNetns() {
    if (created_) shell("ip netns del " + name_);
  }
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;

  bool created() const { return created_; }
  int run(const std::string& cmd) const { return shell("ip netns exec " + name_ + " " + cmd); }
  std::string output(const std::string& cmd) const {
    return shell_output("ip netns exec " + name_ + " " + cmd);
  }
  // Runs f on a thread that has joined the namespace: a socket opened there stays there.
  bool inside(const std::function<void()>& f) const {
    bool joined = false;
    std::thread thread([&] {
      const int fd = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
      joined = fd >= 0 && setns(fd, CLONE_NEWNET) == 0;
      if (fd >= 0) close(fd);
      if (joined) f();
    });
    thread.join();
    return joined;
  }

 private:
  std::string name_;
  bool created_ = false;
};

// What one or more drains gave.
struct Collected {
  std::vector<BridgeNeigh> neighs;
  bool dump_done = false;
  bool overrun = false;
  std::vector<std::pair<uint32_t, int>> errors;
  std::size_t acks = 0;
  std::string failure;
};

// Drains until `enough` says so or 3 s have passed.
Collected collect(vs::NeighSocket& socket, const std::function<bool(const Collected&)>& enough) {
  Collected got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!enough(got) && std::chrono::steady_clock::now() < deadline) {
    auto drained = socket.drain([&](const BridgeNeigh& n) { got.neighs.push_back(n); }, 200);
    got.dump_done |= drained.dump_done;
    got.overrun |= drained.overrun;
    got.acks += drained.acks;
    got.errors.insert(got.errors.end(), drained.errors.begin(), drained.errors.end());
    if (got.failure.empty()) got.failure = drained.failure;
  }
  return got;
}

constexpr uint64_t kRemoteMac = 0x0200000000b2;
constexpr uint64_t kPushedMac = 0x0200000000a1;

// The shadow of docs/evpn.md in miniature: bridge brX with VXLAN device vxX (flood entry to
// 10.99.0.2, remote MAC 02:00:00:00:00:b2 at 10.99.0.3) and veth end veA as the shadow port.
class BridgeNeighKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    if (shell("ip -V >/dev/null 2>&1") != 0 || shell("bridge -V >/dev/null 2>&1") != 0)
      GTEST_SKIP() << "needs iproute2's ip and bridge";
    ASSERT_TRUE(ns_.created());
    for (const char* cmd : {
             "ip link add brX type bridge",
             "ip link add vxX type vxlan id 100 local 10.99.0.1 dstport 47890 nolearning",
             "ip link set vxX master brX",
             "ip link add veA type veth peer name veB",
             "ip link set veA master brX",
             "ip link set brX up",
             "ip link set vxX up",
             "ip link set veA up",
             "ip link set veB up",
             "bridge fdb append 00:00:00:00:00:00 dev vxX dst 10.99.0.2",
             "bridge fdb add 02:00:00:00:00:b2 dev vxX dst 10.99.0.3 self",
         })
      ASSERT_EQ(ns_.run(cmd), 0) << cmd;
    ASSERT_TRUE(ns_.inside([&] {
      bridge_ = static_cast<int>(if_nametoindex("brX"));
      vxlan_ = static_cast<int>(if_nametoindex("vxX"));
      port_ = static_cast<int>(if_nametoindex("veA"));
    }));
    ASSERT_GT(bridge_, 0);
    ASSERT_GT(vxlan_, 0);
    ASSERT_GT(port_, 0);
  }

  std::string open(vs::NeighSocket& socket, bool subscribe) {
    std::string error = "could not join the namespace";
    ns_.inside([&] { error = socket.open(subscribe); });
    return error;
  }

  Collected dump(vs::NeighSocket& socket, uint32_t seq) {
    Bytes request;
    vs::append_bridge_neigh_dump(seq, request);
    EXPECT_EQ(socket.send(request), "");
    return collect(socket, [](const Collected& c) { return c.dump_done; });
  }

  Collected request(vs::NeighSocket& socket, bool add, uint64_t mac, uint32_t seq) {
    Bytes msg;
    vs::append_bridge_neigh_request(add, port_, mac, NUD_REACHABLE, seq, msg);
    EXPECT_EQ(socket.send(msg), "");
    return collect(socket, [](const Collected& c) { return c.acks + c.errors.size() >= 1; });
  }

  // The notifications about vxX. The bridge also learns veB's address on veA (IPv6 sends from
  // veB as it comes up) and notifies that too, at a time of its own.
  std::vector<BridgeNeigh> on_vxlan(const Collected& got) const {
    std::vector<BridgeNeigh> seen;
    for (const BridgeNeigh& n : got.neighs)
      if (n.ifindex == vxlan_) seen.push_back(n);
    return seen;
  }

  // The line of `bridge fdb show dev veA` for the pushed MAC, or "".
  std::string pushed_line() {
    const std::string show = ns_.output("bridge fdb show dev veA");
    const auto at = show.find(vs::mac_text(kPushedMac));
    if (at == std::string::npos) return "";
    return show.substr(at, show.find('\n', at) - at);
  }

  ScopedNetns ns_;
  int bridge_ = 0;
  int vxlan_ = 0;
  int port_ = 0;
};

TEST_F(BridgeNeighKernel, DumpHasTheVxlanDevicesTwoEntriesWithTheirDst) {
  vs::NeighSocket socket;
  ASSERT_EQ(open(socket, false), "");
  const Collected got = dump(socket, 1);
  EXPECT_TRUE(got.dump_done);
  EXPECT_EQ(got.failure, "");
  EXPECT_TRUE(got.errors.empty());
  EXPECT_FALSE(got.overrun);

  std::vector<BridgeNeigh> remote;
  for (const BridgeNeigh& n : got.neighs) {
    EXPECT_TRUE(n.added);
    if (n.ifindex != vxlan_) continue;
    if (n.has_dst) {
      remote.push_back(n);
    } else {
      // The bridge's own entry for vxX's address: NDA_MASTER, no NTF_SELF, permanent.
      EXPECT_TRUE(n.has_master);
      EXPECT_EQ(n.master, bridge_);
      EXPECT_EQ(n.flags & NTF_SELF, 0);
      EXPECT_EQ(n.state, NUD_PERMANENT);
    }
  }
  ASSERT_EQ(remote.size(), 2u);
  std::sort(remote.begin(), remote.end(), [](auto& a, auto& b) { return a.mac < b.mac; });
  EXPECT_EQ(remote[0].mac, 0u);
  EXPECT_EQ(remote[0].dst, ipv4("10.99.0.2"));
  EXPECT_EQ(remote[1].mac, kRemoteMac);
  EXPECT_EQ(remote[1].dst, ipv4("10.99.0.3"));
  for (const BridgeNeigh& n : remote) {
    // The VXLAN device's own FDB: NTF_SELF, no NDA_MASTER, no NDA_VNI (it is the device's own
    // VNI), and iproute2's default state for `bridge fdb add`: permanent, noarp.
    EXPECT_EQ(n.flags, NTF_SELF);
    EXPECT_EQ(n.state, NUD_PERMANENT | NUD_NOARP);
    EXPECT_FALSE(n.has_master);
    EXPECT_FALSE(n.has_vni);
  }
}

TEST_F(BridgeNeighKernel, DeletedRemoteMacIsNotifiedWithItsMacAndDst) {
  vs::NeighSocket socket;
  ASSERT_EQ(open(socket, true), "");
  ASSERT_EQ(ns_.run("bridge fdb del 02:00:00:00:00:b2 dev vxX dst 10.99.0.3 self"), 0);
  const Collected got =
      collect(socket, [&](const Collected& c) { return on_vxlan(c).size() >= 1; });
  EXPECT_EQ(got.failure, "");
  const auto seen = on_vxlan(got);
  ASSERT_EQ(seen.size(), 1u);
  const BridgeNeigh& n = seen[0];
  EXPECT_FALSE(n.added);
  EXPECT_EQ(n.ifindex, vxlan_);
  EXPECT_EQ(n.mac, kRemoteMac);
  EXPECT_TRUE(n.has_dst);
  EXPECT_EQ(n.dst, ipv4("10.99.0.3"));
}

TEST_F(BridgeNeighKernel, FloodListChangesAreNotifiedOneDstAtATime) {
  vs::NeighSocket socket;
  ASSERT_EQ(open(socket, true), "");
  ASSERT_EQ(ns_.run("bridge fdb append 00:00:00:00:00:00 dev vxX dst 10.99.0.4"), 0);
  ASSERT_EQ(ns_.run("bridge fdb del 00:00:00:00:00:00 dev vxX dst 10.99.0.2"), 0);
  const Collected got =
      collect(socket, [&](const Collected& c) { return on_vxlan(c).size() >= 2; });
  const auto seen = on_vxlan(got);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[0].added);
  EXPECT_EQ(seen[0].mac, 0u);
  EXPECT_EQ(seen[0].dst, ipv4("10.99.0.4"));  // the appended one only
  EXPECT_FALSE(seen[1].added);
  EXPECT_EQ(seen[1].mac, 0u);
  EXPECT_EQ(seen[1].dst, ipv4("10.99.0.2"));  // the removed one only
}

TEST_F(BridgeNeighKernel, PushedEntryIsDynamicAndIsDeletedTheSameWay) {
  vs::NeighSocket socket;
  ASSERT_EQ(open(socket, false), "");
  const Collected added = request(socket, true, kPushedMac, 100);
  EXPECT_EQ(added.acks, 1u);
  EXPECT_TRUE(added.errors.empty());
  EXPECT_EQ(added.failure, "");
  const std::string line = pushed_line();
  EXPECT_NE(line, "");
  EXPECT_NE(line.find("master brX"), std::string::npos) << line;
  EXPECT_EQ(line.find("permanent"), std::string::npos) << line;
  EXPECT_EQ(line.find("static"), std::string::npos) << line;

  // And as our dump reads it: the bridge's entry on the port, reachable, NDA_MASTER = brX.
  const Collected listed = dump(socket, 101);
  int found = 0;
  for (const BridgeNeigh& n : listed.neighs) {
    if (n.mac != kPushedMac) continue;
    ++found;
    EXPECT_EQ(n.ifindex, port_);
    EXPECT_EQ(n.state, NUD_REACHABLE);
    EXPECT_EQ(n.master, bridge_);
  }
  EXPECT_EQ(found, 1);

  const Collected deleted = request(socket, false, kPushedMac, 102);
  EXPECT_EQ(deleted.acks, 1u);
  EXPECT_TRUE(deleted.errors.empty());
  EXPECT_EQ(pushed_line(), "");
}

TEST_F(BridgeNeighKernel, DeleteOfAMissingEntryIsEnoentWithItsSeq) {
  vs::NeighSocket socket;
  ASSERT_EQ(open(socket, false), "");
  const Collected got = request(socket, false, 0x0200000000a9, 202);
  EXPECT_EQ(got.acks, 0u);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].first, 202u);
  EXPECT_EQ(got.errors[0].second, ENOENT);
}

// One sendto holding a failing delete, an add and a dump: the kernel answers each, and drain
// reads past the error to the ACK and the dump's end.
TEST_F(BridgeNeighKernel, ABatchIsAnsweredInFullPastAnError) {
  vs::NeighSocket socket;
  ASSERT_EQ(open(socket, false), "");
  Bytes batch;
  vs::append_bridge_neigh_request(false, port_, 0x0200000000a9, NUD_REACHABLE, 300, batch);
  vs::append_bridge_neigh_request(true, port_, kPushedMac, NUD_REACHABLE, 301, batch);
  vs::append_bridge_neigh_dump(302, batch);
  ASSERT_EQ(socket.send(batch), "");
  const Collected got = collect(socket, [](const Collected& c) { return c.dump_done; });
  EXPECT_EQ(got.failure, "");
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0], (std::pair<uint32_t, int>{300, ENOENT}));
  EXPECT_EQ(got.acks, 1u);
  EXPECT_TRUE(got.dump_done);
  const auto pushed = std::count_if(got.neighs.begin(), got.neighs.end(), [&](const auto& n) {
    return n.mac == kPushedMac && n.ifindex == port_;
  });
  EXPECT_EQ(pushed, 1);
}

TEST(NeighSocket, UseBeforeOpenSaysSo) {
  vs::NeighSocket socket;
  EXPECT_EQ(socket.fd(), -1);
  EXPECT_NE(socket.send(Bytes(28, 0)), "");
  EXPECT_NE(socket.drain([](const BridgeNeigh&) {}).failure, "");
}

TEST(NeighSocket, OpensNonBlockingAndCloseOnExecOnlyOnce) {
  vs::NeighSocket socket;
  ASSERT_EQ(socket.open(false), "");  // unsubscribed: the host's own neighbours stay out
  ASSERT_GE(socket.fd(), 0);
  EXPECT_TRUE(fcntl(socket.fd(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(fcntl(socket.fd(), F_GETFD) & FD_CLOEXEC);
  EXPECT_NE(socket.open(false), "");  // already open
  // Nothing queued: drain returns at once, with nothing.
  const auto drained = socket.drain([](const BridgeNeigh&) { FAIL(); });
  EXPECT_EQ(drained.failure, "");
  EXPECT_EQ(drained.acks, 0u);
}

}  // namespace
