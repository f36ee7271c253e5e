// libFuzzer target for the EVPN feed's netlink decoder (daemon/bridge_neigh): any bytes as one
// datagram read from a NETLINK_ROUTE socket. ASan/UBSan catch a read outside the buffer or a
// misaligned load; the checks below catch a decoder that miscounts or reports impossible values.
// Each neighbour reported is also encoded again as a request and decoded back, which must give
// the same entry.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "daemon/bridge_neigh.hpp"

namespace {

constexpr uint64_t kMaxMac = 0xffffffffffffULL;
constexpr uint8_t kNtfMaster = 0x04;  // NTF_MASTER, what every request carries

void check(bool ok) {
  if (!ok) std::abort();
}

void check_round_trip(const vs::BridgeNeigh& neigh) {
  std::vector<uint8_t> request;
  vs::append_bridge_neigh_request(neigh.added, neigh.ifindex, neigh.mac, neigh.state, 7, request);
  std::size_t calls = 0;
  const auto again =
      vs::parse_bridge_neighs(request.data(), request.size(), [&](const vs::BridgeNeigh& back) {
        ++calls;
        check(back.added == neigh.added && back.ifindex == neigh.ifindex && back.mac == neigh.mac &&
              back.state == neigh.state && back.flags == kNtfMaster);
        check(!back.has_dst && !back.has_vlan && !back.has_vni && !back.has_master);
      });
  check(again.status == vs::NetlinkStatus::kMore && again.neighbours == 1 && calls == 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::size_t calls = 0;
  const auto result = vs::parse_bridge_neighs(data, size, [&](const vs::BridgeNeigh& neigh) {
    ++calls;
    check(neigh.mac <= kMaxMac);
    check(neigh.has_dst || neigh.dst == 0);
    check(neigh.has_vlan || neigh.vlan == 0);
    check(neigh.has_vni || neigh.vni == 0);
    check(neigh.has_master || neigh.master == 0);
    check_round_trip(neigh);
  });
  check(result.neighbours == calls);
  // Every neighbour message is at least a header, an ndmsg and a 6-byte NDA_LLADDR: 40 bytes
  // with its padding, which the last message of a datagram may lack (38).
  check(result.neighbours * 40 <= size + 2);
  if (result.status == vs::NetlinkStatus::kError) {
    check(result.error > 0);
  } else {
    check(result.error == 0 && result.error_seq == 0);
  }
  return 0;
}
