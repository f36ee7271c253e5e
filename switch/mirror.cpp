#include "switch/mirror.hpp"

#include <rte_ethdev.h>

namespace vs {

void Mirrors::select(const TopologyTable& t, uint8_t direction, uint16_t sw, uint16_t port,
                     uint16_t vlan, rte_mbuf* m) {
  for (uint16_t slot = 0; slot < t.nb_mirrors && slot < kMaxMirrors; ++slot) {
    const MirrorEntry& e = t.mirrors[slot];
    if (e.switch_index != sw || !(e.direction & direction) || e.output == kNoMirrorOutput) continue;
    if (!mirror_bit(e.source_ports, port) && !mirror_bit(e.source_vlans, vlan)) continue;
    bool served = false;
    for (uint16_t i = 0; i < served_count_ && !served; ++i) served = served_[i] == e.output;
    if (served) continue;  // a frame goes once to an output, whichever mirrors select it
    if (served_count_ < kMaxMirrors) served_[served_count_++] = e.output;
    copy(slot, e.output, m);
  }
}

void Mirrors::copy(uint16_t slot, uint16_t output, rte_mbuf* m) {
  OutputBuffer* buf = nullptr;
  for (uint16_t i = 0; i < out_count_ && buf == nullptr; ++i)
    if (out_[i].port == output) buf = &out_[i];
  if (buf == nullptr && out_count_ < kMaxMirrors) {
    buf = &out_[out_count_++];
    buf->port = output;
    buf->count = 0;
  }
  // One copy per frame and output, flushed after every rx burst: a buffer holds a burst. The
  // check keeps a bad table from overrunning it.
  if (buf == nullptr || buf->count == kBurstSize) {
    counters_.mirrors[slot].drops.add(1);
    return;
  }
  rte_mbuf_refcnt_update(m, 1);  // the copy's reference: the frame goes on as it would
  buf->slot[buf->count] = static_cast<uint8_t>(slot);
  buf->pkts[buf->count++] = m;
}

void Mirrors::flush(uint16_t tx_queue) {
  for (uint16_t i = 0; i < out_count_; ++i) {
    OutputBuffer& buf = out_[i];
    // Summed before the hand-over, as Forwarder::flush does: the driver may free what it took.
    uint32_t len[kBurstSize];
    for (uint16_t k = 0; k < buf.count; ++k) len[k] = rte_pktmbuf_pkt_len(buf.pkts[k]);
    // A tunnel port has no ethdev to send on (the config refuses it as an output: belt and braces).
    const uint16_t sent =
        is_tunnel_port_id(buf.port) ? 0 : rte_eth_tx_burst(buf.port, tx_queue, buf.pkts, buf.count);
    uint64_t bytes = 0;
    for (uint16_t k = 0; k < buf.count; ++k) {
      MirrorCounters& c = counters_.mirrors[buf.slot[k]];
      if (k < sent) {
        c.packets.add(1);
        c.bytes.add(len[k]);
        bytes += len[k];
      } else {
        c.drops.add(1);
      }
    }
    if (sent < buf.count) rte_pktmbuf_free_bulk(buf.pkts + sent, buf.count - sent);
    PortCounters& out = counters_.ports[buf.port];
    out.tx_packets.add(sent);
    out.tx_bytes.add(bytes);
    buf.count = 0;
  }
  out_count_ = 0;
}

}  // namespace vs
