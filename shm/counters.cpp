#include "shm/counters.hpp"

namespace vs {

static_assert(rx_burst_bucket(0) == 0 && rx_burst_bucket(1) == 1 && rx_burst_bucket(2) == 2);
static_assert(rx_burst_bucket(3) == 3 && rx_burst_bucket(4) == 3 && rx_burst_bucket(5) == 4);
static_assert(rx_burst_bucket(8) == 4 && rx_burst_bucket(9) == 5 && rx_burst_bucket(16) == 5);
static_assert(rx_burst_bucket(17) == 6 && rx_burst_bucket(kBurstSize) == 6);
// Every burst size lands in the bucket whose bound is the smallest one >= the size.
constexpr bool buckets_match_bounds() {
  for (unsigned n = 0; n <= kBurstSize; ++n) {
    int b = rx_burst_bucket(n);
    if (b < 0 || b >= kRxBurstBuckets || n > kRxBurstBucketBound[b]) return false;
    if (b > 0 && n <= kRxBurstBucketBound[b - 1]) return false;
  }
  return true;
}
static_assert(buckets_match_bounds());

std::string_view drop_reason_name(DropReason reason) {
  switch (reason) {
    case DropReason::kRunt:
      return "runt";
    case DropReason::kNoDestination:
      return "no_destination";
    case DropReason::kTxFull:
      return "tx_full";
    case DropReason::kVlanNotAllowed:
      return "vlan_not_allowed";
    case DropReason::kBadVlan:
      return "bad_vlan";
    case DropReason::kLoopToIngress:
      return "loop_to_ingress";
    case DropReason::kMtuExceeded:
      return "mtu_exceeded";
    case DropReason::kNoMbuf:
      return "no_mbuf";
    case DropReason::kMirrorOutput:
      return "mirror_output";
    case DropReason::kSpoofedMac:
      return "spoofed_mac";
    case DropReason::kSpoofedIp:
      return "spoofed_ip";
    case DropReason::kSpoofedArp:
      return "spoofed_arp";
    case DropReason::kSpoofedNd:
      return "spoofed_nd";
    case DropReason::kDhcpServer:
      return "dhcp_server";
    case DropReason::kRouterAdvert:
      return "router_advert";
    case DropReason::kIsolated:
      return "isolated";
    case DropReason::kStormBroadcast:
      return "storm_broadcast";
    case DropReason::kStormMulticast:
      return "storm_multicast";
    case DropReason::kStormUnknownUnicast:
      return "storm_unknown_unicast";
    case DropReason::kPolice:
      return "police";
    case DropReason::kPoliceInbound:
      return "police_inbound";
    case DropReason::kVxlanMalformed:
      return "vxlan_malformed";
    case DropReason::kVxlanUnknownVni:
      return "vxlan_unknown_vni";
    case DropReason::kVxlanUnknownVtep:
      return "vxlan_unknown_vtep";
    case DropReason::kVxlanRxOverflow:
      return "vxlan_rx_overflow";
    case DropReason::kVxlanNoVtep:
      return "vxlan_no_vtep";
    case DropReason::kVxlanOversize:
      return "vxlan_oversize";
    case DropReason::kVxlanSendFailed:
      return "vxlan_send_failed";
    case DropReason::kCount:
      break;
  }
  return "unknown";
}

std::string_view worker_phase_name(WorkerPhase phase) {
  switch (phase) {
    case WorkerPhase::kStarting:
      return "starting";
    case WorkerPhase::kPolling:
      return "polling";
    case WorkerPhase::kIdleSleep:
      return "idle_sleep";
    case WorkerPhase::kHousekeeping:
      return "housekeeping";
    case WorkerPhase::kHandOver:
      return "hand_over";
    case WorkerPhase::kStopping:
      return "stopping";
  }
  return "unknown";
}

}  // namespace vs
