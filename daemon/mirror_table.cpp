#include "daemon/mirror_table.hpp"

#include <cstdio>
#include <cstring>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "daemon/datapath_memory.hpp"

namespace vs {

void MirrorTable::sums(int slot, uint64_t out[3]) const {
  out[0] = out[1] = out[2] = 0;
  for (int w = 0; w < mem_.nb_workers(); ++w) {
    const MirrorCounters& c = mem_.counters(w).mirrors[slot];
    out[0] += c.packets.get();
    out[1] += c.bytes.get();
    out[2] += c.drops.get();
  }
}

void MirrorTable::set(const config::Config& cfg) {
  std::lock_guard guard(mu_);
  bool keep[kMaxMirrors] = {};
  std::vector<std::pair<uint16_t, const config::MirrorConfig*>> fresh;
  for (std::size_t sw = 0; sw < cfg.switches.size(); ++sw) {
    for (const config::MirrorConfig& m : cfg.switches[sw].mirrors) {
      int found = -1;
      for (int s = 0; s < kMaxMirrors && found < 0; ++s)
        if (slots_[s].used && slots_[s].cfg.name == m.name) found = s;
      if (found < 0) {
        fresh.emplace_back(static_cast<uint16_t>(sw), &m);
        continue;
      }
      keep[found] = true;
      slots_[found].cfg = m;  // changed in place: same slot, counters go on
      slots_[found].switch_index = static_cast<uint16_t>(sw);
      slots_[found].switch_name = cfg.switches[sw].name;
    }
  }
  for (int s = 0; s < kMaxMirrors; ++s)
    if (!keep[s]) slots_[s].used = false;
  for (const auto& [sw, m] : fresh) {
    int s = 0;
    while (s < kMaxMirrors && slots_[s].used) ++s;
    if (s == kMaxMirrors) break;  // the validator allows at most kMaxMirrors
    Slot& slot = slots_[s];
    slot = Slot{true, cfg.switches[sw].name, sw, *m, {}};
    sums(s, slot.base);
  }
}

namespace {

int find_port(const TopologyTable& t, uint16_t sw, const std::string& name) {
  for (uint16_t i = 0; i < t.nb_ports; ++i)
    if (t.ports[i].switch_index == sw && name == t.ports[i].name) return i;
  return -1;
}

}  // namespace

void MirrorTable::fill(TopologyTable& t) const {
  std::lock_guard guard(mu_);
  t.nb_mirrors = 0;
  for (int s = 0; s < kMaxMirrors; ++s) {
    MirrorEntry& e = t.mirrors[s];
    std::memset(&e, 0, sizeof(e));
    e.switch_index = kMaxSwitches;  // matches no switch
    e.output = kNoMirrorOutput;
    const Slot& slot = slots_[s];
    if (!slot.used) continue;
    t.nb_mirrors = static_cast<uint16_t>(s + 1);
    std::snprintf(e.name, sizeof(e.name), "%s", slot.cfg.name.c_str());
    e.switch_index = slot.switch_index;
    const std::string& dir = slot.cfg.direction;
    e.direction = (dir != "out" ? kMirrorIn : 0) | (dir != "in" ? kMirrorOut : 0);
    // A port that is down is not in the table: as a source it sends nothing, as an output the
    // mirror waits for it.
    if (int out = find_port(t, slot.switch_index, slot.cfg.output); out >= 0) {
      e.output = t.ports[out].dpdk_port_id;
      t.ports[out].flags |= kPortMirrorOutput;
    }
    for (const std::string& p : slot.cfg.source_ports)
      if (int i = find_port(t, slot.switch_index, p); i >= 0)
        mirror_set_bit(e.source_ports, t.ports[i].dpdk_port_id);
    for (int v : slot.cfg.source_vlans) mirror_set_bit(e.source_vlans, static_cast<uint16_t>(v));
  }
}

std::vector<MirrorTable::View> MirrorTable::view() const {
  std::lock_guard guard(mu_);
  std::vector<View> out;
  for (int s = 0; s < kMaxMirrors; ++s) {
    const Slot& slot = slots_[s];
    if (!slot.used) continue;
    uint64_t now[3];
    sums(s, now);
    out.push_back(View{slot.switch_name, slot.cfg, now[0] - slot.base[0], now[1] - slot.base[1],
                       now[2] - slot.base[2]});
  }
  return out;
}

namespace {

class MirrorCollector : public prometheus::Collectable {
 public:
  explicit MirrorCollector(const MirrorTable& mirrors) : mirrors_(mirrors) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    prometheus::MetricFamily packets{"vswitch_mirror_packets_total",
                                     "Frames a mirror copied to its output port (accepted by "
                                     "the output's tx queue), since the mirror was made.",
                                     MetricType::Counter,
                                     {}};
    prometheus::MetricFamily bytes{
        "vswitch_mirror_bytes_total", "Bytes of those copies.", MetricType::Counter, {}};
    prometheus::MetricFamily drops{"vswitch_mirror_drops_total",
                                   "Copies a mirror lost (the output's tx queue was full); the "
                                   "mirrored frames themselves are never dropped for a copy.",
                                   MetricType::Counter,
                                   {}};
    for (const MirrorTable::View& v : mirrors_.view()) {
      const std::vector<prometheus::ClientMetric::Label> labels{
          {"switch", v.switch_name}, {"mirror", v.cfg.name}, {"output", v.cfg.output}};
      const std::pair<prometheus::MetricFamily*, uint64_t> values[] = {
          {&packets, v.packets}, {&bytes, v.bytes}, {&drops, v.drops}};
      for (const auto& [fam, value] : values) {
        prometheus::ClientMetric m;
        m.label = labels;
        m.counter.value = static_cast<double>(value);
        fam->metric.push_back(std::move(m));
      }
    }
    return {std::move(packets), std::move(bytes), std::move(drops)};
  }

 private:
  const MirrorTable& mirrors_;
};

}  // namespace

std::shared_ptr<prometheus::Collectable> mirror_collector(const MirrorTable& mirrors) {
  return std::make_shared<MirrorCollector>(mirrors);
}

}  // namespace vs
