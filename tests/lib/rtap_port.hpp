// RtapPort: one net_rtap port made with rte_vdev_init, configured and started in one call, and
// stopped, closed and uninitialised by the destructor whatever the test did.
#pragma once

#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <string>
#include <vector>

namespace vstest {

struct PortConf {
  uint16_t queues = 1;
  uint16_t nb_desc = 256;
  uint64_t rx_offloads = 0;
  uint64_t tx_offloads = 0;
  bool lsc = false;
  bool rxq_intr = false;
  rte_mempool* mp = nullptr;
  std::vector<rte_mempool*> queue_mp;  // rx queue q's pool where set; mp for the others
  rte_mempool* large_mp = nullptr;     // set: every rx queue gets rx_mempools {its pool, this}
};

class RtapPort {
 public:
  RtapPort(std::string vdev, const std::string& args) : vdev_(std::move(vdev)) {
    rc_ = rte_vdev_init(vdev_.c_str(), args.c_str());
    if (rc_ == 0) rc_ = rte_eth_dev_get_port_by_name(vdev_.c_str(), &id_);
  }
  ~RtapPort() { destroy(); }
  RtapPort(const RtapPort&) = delete;
  RtapPort& operator=(const RtapPort&) = delete;

  void destroy() {
    if (rc_ == 0 && id_ != RTE_MAX_ETHPORTS) {
      rte_eth_dev_stop(id_);
      rte_eth_dev_close(id_);
      rte_vdev_uninit(vdev_.c_str());
    }
    id_ = RTE_MAX_ETHPORTS;
  }

  int rc() const { return rc_; }
  uint16_t id() const { return id_; }

  int configure(const PortConf& c) {
    rte_eth_conf conf{};
    conf.rxmode.offloads = c.rx_offloads;
    conf.txmode.offloads = c.tx_offloads;
    conf.intr_conf.lsc = c.lsc;
    conf.intr_conf.rxq = c.rxq_intr;
    int r = rte_eth_dev_configure(id_, c.queues, c.queues, &conf);
    for (uint16_t q = 0; r == 0 && q < c.queues; q++) {
      rte_mempool* m = q < c.queue_mp.size() && c.queue_mp[q] != nullptr ? c.queue_mp[q] : c.mp;
      rte_mempool* pools[2] = {m, c.large_mp};
      rte_eth_rxconf rxc{};
      rxc.rx_mempools = pools;
      rxc.rx_nmempool = 2;
      r = c.large_mp != nullptr
              ? rte_eth_rx_queue_setup(id_, q, c.nb_desc, SOCKET_ID_ANY, &rxc, nullptr)
              : rte_eth_rx_queue_setup(id_, q, c.nb_desc, SOCKET_ID_ANY, nullptr, m);
      if (r == 0) r = rte_eth_tx_queue_setup(id_, q, c.nb_desc, SOCKET_ID_ANY, nullptr);
    }
    return r;
  }
  int start(const PortConf& c) {
    int r = configure(c);
    return r == 0 ? rte_eth_dev_start(id_) : r;
  }

  rte_ether_addr mac() const {
    rte_ether_addr a{};
    rte_eth_macaddr_get(id_, &a);
    return a;
  }

  // Polls queue q until n packets arrived or timeout_ms passed.
  std::vector<rte_mbuf*> rx(uint16_t q, size_t n, int timeout_ms) {
    std::vector<rte_mbuf*> out;
    uint64_t end =
        rte_get_timer_cycles() + rte_get_timer_hz() * static_cast<uint64_t>(timeout_ms) / 1000;
    rte_mbuf* b[64];
    while (out.size() < n && rte_get_timer_cycles() < end) {
      uint16_t k = rte_eth_rx_burst(id_, q, b, 64);
      out.insert(out.end(), b, b + k);
      if (k == 0) rte_delay_us_sleep(100);
    }
    return out;
  }

 private:
  std::string vdev_;
  int rc_ = -1;
  uint16_t id_ = RTE_MAX_ETHPORTS;
};

inline void free_all(std::vector<rte_mbuf*>& v) {
  for (auto* m : v) rte_pktmbuf_free(m);
  v.clear();
}

// Copies a packet's bytes out of its (possibly chained) mbuf.
inline std::vector<uint8_t> bytes_of(const rte_mbuf* m) {
  std::vector<uint8_t> b(m->pkt_len);
  const void* p = rte_pktmbuf_read(m, 0, m->pkt_len, b.data());
  if (p != b.data()) memcpy(b.data(), p, m->pkt_len);
  return b;
}

// An mbuf holding frame (chained into segments of at most seg bytes when seg > 0).
inline rte_mbuf* mbuf_of(rte_mempool* mp, const std::vector<uint8_t>& f, size_t seg = 0) {
  if (seg == 0) seg = f.size();
  rte_mbuf* head = nullptr;
  for (size_t off = 0; off < f.size(); off += seg) {
    rte_mbuf* m = rte_pktmbuf_alloc(mp);
    if (m == nullptr) {
      rte_pktmbuf_free(head);
      return nullptr;
    }
    size_t n = std::min(seg, f.size() - off);
    char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(n));
    if (p == nullptr) {
      rte_pktmbuf_free(m);
      rte_pktmbuf_free(head);
      return nullptr;
    }
    memcpy(p, f.data() + off, n);
    if (head == nullptr)
      head = m;
    else if (rte_pktmbuf_chain(head, m) != 0) {
      rte_pktmbuf_free(m);
      rte_pktmbuf_free(head);
      return nullptr;
    }
  }
  return head;
}

}  // namespace vstest
