#include "daemon/evpn_feed.hpp"

#include "shm/topology.hpp"
#include "switch/tunnel.hpp"

#include <arpa/inet.h>
#include <linux/neighbour.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace vs {
namespace {

constexpr uint32_t kResyncPeriodS = 60;
constexpr int kAnswerWaitMs = 200;  // for the kernel's answers to a dump or a batch of pushes
constexpr std::size_t kPushBatch = 256;

void set(std::atomic<uint64_t>& g, uint64_t v) {
  g.store(v, std::memory_order_relaxed);
}
void bump(std::atomic<uint64_t>& c) {
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

}  // namespace

EvpnFeed::EvpnFeed(FdbWriter& writer, const FdbTable& table, VtepTable& vteps)
    : writer_(writer), table_(table), vteps_(vteps) {}

std::string EvpnFeed::attach(const EvpnTunnel& cfg, uint32_t now_s) {
  if (events_.fd() < 0) {
    // The subscription first: what changes during the dump below is then read after it.
    const char* fix = " (a netlink socket: check vswitchd's open-file limit, `ulimit -n`)";
    if (std::string err = events_.open(true); !err.empty())
      return "the EVPN feed cannot follow the kernel's FDB: " + err + fix;
    if (std::string err = requests_.open(false); !err.empty())
      return "the EVPN feed cannot talk to the kernel: " + err + fix;
  }
  detach(cfg.port_id);  // a port id is never attached twice; be safe
  Tunnel& t = tunnels_[cfg.port_id];
  t.cfg = cfg;
  std::map<int, Snapshot> snap;
  if (!dump(snap))
    std::fprintf(stderr, "vswitchd: port %s: the first EVPN dump failed\n", cfg.name.c_str());
  resync(t, snap[cfg.vxlan_ifindex], now_s);
  for (uint64_t mac : snap[cfg.port_ifindex].pushed) t.pushed.insert(mac);
  t.dirty.insert(t.pushed.begin(), t.pushed.end());
  mark_local_macs(t);
  push_due();
  std::printf(
      "vswitchd: port %s: EVPN feed on (VNI %u): %zu remote MACs, %zu flood VTEPs, %zu "
      "local MACs pushed\n",
      cfg.name.c_str(), cfg.vni, t.remotes.size(), t.flood.size(), t.pushed.size());
  std::fflush(stdout);
  return {};
}

void EvpnFeed::detach(uint16_t port_id) {
  auto it = tunnels_.find(port_id);
  if (it == tunnels_.end()) return;
  tunnels_.erase(it);  // first: the flush below calls fdb_changed for each entry
  writer_.flush_port(port_id);
  const uint32_t none[kMaxVteps] = {};
  vtep_set_write(vtep_set(vteps_, port_id), none, 0);
  // The local MACs pushed go with the shadow devices, which the port manager removes.
}

EvpnFeed::Tunnel* EvpnFeed::by_ifindex(int ifindex) {
  for (auto& [id, t] : tunnels_)
    if (t.cfg.vxlan_ifindex == ifindex || t.cfg.port_ifindex == ifindex) return &t;
  return nullptr;
}

void EvpnFeed::fdb_changed(uint16_t sw, uint64_t key, uint16_t port_id) {
  for (auto& [id, t] : tunnels_) {
    if (t.cfg.switch_index != sw || t.cfg.vlan != fdb_key_vlan(key)) continue;
    const uint64_t mac = fdb_key_mac(key);
    // A local learn took a remote MAC (a VM moved here): the FDB no longer holds it as remote.
    auto r = t.remotes.find(mac);
    if (r != t.remotes.end() && port_id != kFdbNoPort && port_id != t.cfg.port_id) {
      unref(t, r->second);
      t.remotes.erase(r);
      publish(t);
    }
    t.dirty.insert(mac);
  }
}

void EvpnFeed::poll(uint32_t now_s) {
  if (tunnels_.empty()) return;
  const NeighSocket::Drained d = events_.drain([&](const BridgeNeigh& n) { apply(n, now_s); });
  if (!d.failure.empty()) std::fprintf(stderr, "vswitchd: EVPN feed: %s\n", d.failure.c_str());
  if (d.overrun || now_s - last_resync_s_ >= kResyncPeriodS) {
    if (d.overrun)
      std::fprintf(stderr,
                   "vswitchd: EVPN feed: notifications lost (socket overrun): dumping "
                   "the kernel's FDB again\n");
    resync(now_s);
  }
  for (auto& [id, t] : tunnels_) publish(t);
  push_due();
}

void EvpnFeed::apply(const BridgeNeigh& n, uint32_t now_s) {
  Tunnel* t = by_ifindex(n.ifindex);
  if (t == nullptr) return;
  if (n.ifindex == t->cfg.port_ifindex) {  // our pushes, or someone removing them
    if (!n.added && t->pushed.erase(n.mac)) t->dirty.insert(n.mac);
    return;
  }
  // The VXLAN device's own entries carry the VTEP; the bridge's copies of them do not.
  if (!n.has_dst || n.dst == 0) return;
  if (n.mac == 0) {
    n.added ? flood_add(*t, n.dst) : flood_del(*t, n.dst);
  } else if (n.added) {
    remote_add(*t, n.mac, n.dst, now_s);
  } else if (auto r = t->remotes.find(n.mac); r != t->remotes.end() && r->second == n.dst) {
    remote_del(*t, n.mac);
  }
}

void EvpnFeed::remote_add(Tunnel& t, uint64_t mac, uint32_t vtep, uint32_t now_s) {
  auto old = t.remotes.find(mac);
  const uint32_t was = old != t.remotes.end() ? old->second : 0;
  const int slot = ref(t, vtep);
  if (slot < 0) {
    bump(t.stats->no_vtep_slot);
    return;
  }
  publish(t);  // the slot before the entry that names it
  const uint64_t key = fdb_key(mac, t.cfg.vlan);
  if (!writer_.install_remote(t.cfg.switch_index, key, t.cfg.port_id,
                              static_cast<uint16_t>(slot + 1), now_s)) {
    bump(t.stats->not_stored);
    unref(t, vtep);
    return;
  }
  if (was != 0) unref(t, was);
  t.remotes[mac] = vtep;
  update_gauges(t);
}

void EvpnFeed::remote_del(Tunnel& t, uint64_t mac) {
  auto r = t.remotes.find(mac);
  if (r == t.remotes.end()) return;
  const uint32_t vtep = r->second;
  t.remotes.erase(r);  // first: remove_remote calls fdb_changed
  writer_.remove_remote(t.cfg.switch_index, fdb_key(mac, t.cfg.vlan), t.cfg.port_id);
  unref(t, vtep);
  update_gauges(t);
}

void EvpnFeed::flood_add(Tunnel& t, uint32_t vtep) {
  if (t.flood.count(vtep)) return;
  if (ref(t, vtep) < 0) {
    bump(t.stats->no_vtep_slot);
    return;
  }
  t.flood.insert(vtep);
  update_gauges(t);
}

void EvpnFeed::flood_del(Tunnel& t, uint32_t vtep) {
  if (!t.flood.erase(vtep)) return;
  unref(t, vtep);
  update_gauges(t);
}

// The slot of `vtep`, taken once more; a free slot if it has none. -1: all slots are in use.
int EvpnFeed::ref(Tunnel& t, uint32_t vtep) {
  int free_slot = -1;
  for (int i = 0; i < kMaxVteps; ++i) {
    if (t.slots[i] == vtep) {
      ++t.refs[i];
      return i;
    }
    if (t.slots[i] == 0 && free_slot < 0) free_slot = i;
  }
  if (free_slot < 0) {
    std::fprintf(stderr,
                 "vswitchd: port %s: VTEP %s refused: all %d VTEP slots of the port are in use; "
                 "its MACs and floods are left out (vswitch_evpn_no_vtep_slot_total): an EVPN "
                 "port reaches at most that many other hosts of its VNI\n",
                 t.cfg.name.c_str(), ipv4_text(vtep).c_str(), kMaxVteps);
    return -1;
  }
  t.slots[free_slot] = vtep;
  t.refs[free_slot] = 1;
  t.slots_changed = true;
  return free_slot;
}

void EvpnFeed::unref(Tunnel& t, uint32_t vtep) {
  for (int i = 0; i < kMaxVteps; ++i) {
    if (t.slots[i] != vtep) continue;
    if (t.refs[i] > 0 && --t.refs[i] == 0) {
      t.slots[i] = 0;
      t.slots_changed = true;
    }
    return;
  }
}

// The VtepSet the workers read, when the slots or the flood list changed.
void EvpnFeed::publish(Tunnel& t) {
  uint32_t flood = 0;
  for (int i = 0; i < kMaxVteps; ++i)
    if (t.slots[i] != 0 && t.flood.count(t.slots[i])) flood |= 1u << i;
  VtepSet& s = vtep_set(vteps_, t.cfg.port_id);
  if (!t.slots_changed && flood == s.flood.load(std::memory_order_relaxed)) return;
  vtep_set_write(s, t.slots, flood);
  t.slots_changed = false;
}

void EvpnFeed::update_gauges(Tunnel& t) {
  uint64_t used = 0;
  for (uint32_t a : t.slots) used += a != 0;
  set(t.stats->remote_macs, t.remotes.size());
  set(t.stats->vteps, used);
  set(t.stats->flood_vteps, t.flood.size());
  set(t.stats->local_macs, t.pushed.size());
}

// The kernel's whole bridge FDB, split by the tunnels' shadow devices.
bool EvpnFeed::dump(std::map<int, Snapshot>& out) {
  std::vector<uint8_t> req;
  append_bridge_neigh_dump(seq_++, req);
  if (std::string err = requests_.send(req); !err.empty()) {
    std::fprintf(stderr, "vswitchd: EVPN feed: cannot dump the kernel's FDB: %s\n", err.c_str());
    return false;
  }
  const auto collect = [&](const BridgeNeigh& n) {
    Tunnel* t = by_ifindex(n.ifindex);
    if (t == nullptr || !n.added) return;
    Snapshot& s = out[n.ifindex];
    if (n.ifindex == t->cfg.port_ifindex) {
      s.pushed.insert(n.mac);
    } else if (n.has_dst && n.dst != 0) {
      n.mac == 0 ? void(s.flood.insert(n.dst)) : void(s.remotes[n.mac] = n.dst);
    }
  };
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < until) {
    const NeighSocket::Drained d = requests_.drain(collect, kAnswerWaitMs);
    if (d.dump_done) return true;
    if (!d.failure.empty() || !d.errors.empty()) break;
  }
  std::fprintf(stderr, "vswitchd: EVPN feed: the kernel's FDB dump did not complete\n");
  return false;
}

void EvpnFeed::resync(uint32_t now_s) {
  std::map<int, Snapshot> snap;
  last_resync_s_ = now_s;
  if (!dump(snap)) return;
  for (auto& [id, t] : tunnels_) {
    bump(t.stats->resyncs);
    resync(t, snap[t.cfg.vxlan_ifindex], now_s);
    // Pushes the kernel lost (or never had) are sent again; those it has that we do not want go.
    std::set<uint64_t>& actual = snap[t.cfg.port_ifindex].pushed;
    for (uint64_t mac : t.pushed)
      if (!actual.count(mac)) t.dirty.insert(mac);
    for (uint64_t mac : actual) t.dirty.insert(mac);
    t.pushed = actual;
  }
}

// Brings the tunnel's remote MACs and flood list to what the kernel holds.
void EvpnFeed::resync(Tunnel& t, const Snapshot& s, uint32_t now_s) {
  std::vector<uint64_t> gone;
  for (const auto& [mac, vtep] : t.remotes) {
    auto it = s.remotes.find(mac);
    if (it == s.remotes.end() || it->second != vtep) gone.push_back(mac);
  }
  for (uint64_t mac : gone) remote_del(t, mac);
  for (const auto& [mac, vtep] : s.remotes)
    if (!t.remotes.count(mac)) remote_add(t, mac, vtep, now_s);
  std::vector<uint32_t> left;
  for (uint32_t vtep : t.flood)
    if (!s.flood.count(vtep)) left.push_back(vtep);
  for (uint32_t vtep : left) flood_del(t, vtep);
  for (uint32_t vtep : s.flood) flood_add(t, vtep);
  publish(t);
  update_gauges(t);
}

// Every MAC the FDB holds in the tunnel's switch and VLAN, to be checked for a push.
void EvpnFeed::mark_local_macs(Tunnel& t) {
  for (uint32_t b = 0; b <= table_.bucket_mask; ++b)
    for (const FdbSlot& s : table_.buckets[b].slots)
      if ((s.flags & kFdbValid) && s.switch_index == t.cfg.switch_index &&
          fdb_key_vlan(s.key) == t.cfg.vlan)
        t.dirty.insert(fdb_key_mac(s.key));
}

// Each dirty MAC: pushed if the FDB holds it on a local port, withdrawn if not.
void EvpnFeed::push_due() {
  for (auto& [id, t] : tunnels_) {
    while (!t.dirty.empty()) {
      std::vector<uint8_t> batch;
      std::map<uint32_t, std::pair<bool, uint64_t>> sent;  // seq -> (add, mac)
      while (!t.dirty.empty() && sent.size() < kPushBatch) {
        const uint64_t mac = *t.dirty.begin();
        t.dirty.erase(t.dirty.begin());
        FdbHit hit;
        const bool local = fdb_lookup(table_, t.cfg.switch_index, fdb_key(mac, t.cfg.vlan), hit) &&
                           !is_tunnel_port_id(hit.port_id);
        if (local == static_cast<bool>(t.pushed.count(mac))) continue;
        const uint32_t seq = seq_++;
        append_bridge_neigh_request(local, t.cfg.port_ifindex, mac, NUD_REACHABLE, seq, batch);
        sent[seq] = {local, mac};
        local ? void(t.pushed.insert(mac)) : void(t.pushed.erase(mac));
      }
      if (sent.empty()) break;
      if (std::string err = requests_.send(batch); !err.empty()) {
        std::fprintf(stderr, "vswitchd: port %s: cannot push local MACs: %s\n", t.cfg.name.c_str(),
                     err.c_str());
        for (const auto& [seq, what] : sent) {
          bump(t.stats->push_errors);
          what.first ? void(t.pushed.erase(what.second)) : void(t.pushed.insert(what.second));
        }
        break;
      }
      std::size_t answered = 0;
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (answered < sent.size() && std::chrono::steady_clock::now() < until) {
        const NeighSocket::Drained d = requests_.drain([](const BridgeNeigh&) {}, kAnswerWaitMs);
        answered += d.acks + d.errors.size();
        for (const auto& [seq, err] : d.errors) {
          auto it = sent.find(seq);
          if (it == sent.end()) continue;
          const auto [add, mac] = it->second;
          if (!add && err == ENOENT) continue;  // already gone: zebra or the kernel took it
          bump(t.stats->push_errors);
          std::fprintf(stderr, "vswitchd: port %s: the kernel refused to %s %s on %s: %s\n",
                       t.cfg.name.c_str(), add ? "add" : "remove", mac_text(mac).c_str(),
                       ("vssh" + std::to_string(t.cfg.vni)).c_str(), std::strerror(err));
          add ? void(t.pushed.erase(mac)) : void(t.pushed.insert(mac));
        }
      }
    }
    update_gauges(t);
  }
}

std::vector<EvpnFeed::Row> EvpnFeed::rows() const {
  std::vector<Row> out;
  for (const auto& [id, t] : tunnels_) out.push_back({t.cfg.name, t.cfg.vni, t.stats.get()});
  return out;
}

uint32_t EvpnFeed::vtep_address(uint16_t port_id, uint16_t vtep) const {
  auto it = tunnels_.find(port_id);
  if (it == tunnels_.end() || vtep == 0 || vtep > kMaxVteps) return 0;
  return it->second.slots[vtep - 1];
}

}  // namespace vs
