#include "switch/l2.hpp"

namespace vs {

DropReason parse_ethernet(const uint8_t* data, std::size_t len, EthInfo& out) {
  if (len < 14) return DropReason::kRunt;
  out.dst = mac_from_bytes(data);
  out.src = mac_from_bytes(data + 6);
  uint16_t type = static_cast<uint16_t>(data[12] << 8 | data[13]);
  out.tagged = type == kEtherTypeVlan;
  if (!out.tagged) {
    out.vid = out.tci = 0;
    out.ethertype = type;
    return DropReason::kCount;
  }
  if (len < 18) return DropReason::kRunt;
  out.tci = static_cast<uint16_t>(data[14] << 8 | data[15]);
  out.vid = out.tci & 0xfff;
  out.ethertype = static_cast<uint16_t>(data[16] << 8 | data[17]);
  if (out.vid == 0xfff) return DropReason::kBadVlan;
  return DropReason::kCount;
}

DropReason ingress_vlan(const PortEntry& port, const EthInfo& eth, uint16_t& vlan) {
  bool untagged = !eth.tagged || eth.vid == 0;  // a priority tag carries no VLAN
  if (port.vlan_mode == VlanMode::kAccess) {
    if (!untagged && eth.vid != port.access_vlan) return DropReason::kVlanNotAllowed;
    vlan = port.access_vlan;
    return DropReason::kCount;
  }
  if (untagged) {
    if (port.native_vlan == 0) return DropReason::kVlanNotAllowed;
    vlan = port.native_vlan;
    return DropReason::kCount;
  }
  if (!vlan_allowed(port, eth.vid)) return DropReason::kVlanNotAllowed;
  vlan = eth.vid;
  return DropReason::kCount;
}

EgressTag egress_tag(const PortEntry& port, uint16_t vlan) {
  if (port.vlan_mode == VlanMode::kAccess)
    return vlan == port.access_vlan ? EgressTag::kUntagged : EgressTag::kRefused;
  if (vlan == port.native_vlan && vlan != 0) return EgressTag::kUntagged;
  return vlan_allowed(port, vlan) ? EgressTag::kTagged : EgressTag::kRefused;
}

}  // namespace vs
