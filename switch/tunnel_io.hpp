// A worker's VXLAN tunnel ports (issue #26, docs/evpn.md "Step two"): one UDP socket per tunnel
// port in each worker, bound to the local VTEP with SO_REUSEPORT, so the kernel spreads the
// tunnels' flows over the workers and no socket is shared between processes. The kernel routes
// and resolves the underlay's next hop; the worker writes and checks the 8-byte VXLAN header.
//
// Receive: recvmmsg into mbufs kept posted between bursts (the VXLAN header lands in a scratch
// iovec, the inner frame in the mbufs). Send: sendmmsg, an mbuf's segments as the iovec behind
// the header, one message per remote VTEP for a flood (head-end replication). A TSO super-frame
// or a frame with a partial checksum is finished in software first (switch/tunnel.hpp): nothing
// behind the tunnel would finish it. IP_PMTUDISC_DO: a datagram over the path MTU fails with
// EMSGSIZE and is counted, never fragmented.
//
// Owned by the worker's loop thread alone.
#pragma once
#include <netinet/in.h>
#include <rte_mbuf.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shm/counters.hpp"
#include "shm/topology.hpp"
#include "shm/vtep.hpp"
#include "switch/tunnel.hpp"

namespace vs {

class TunnelIo {
 public:
  // vteps: the EVPN-fed ports' remote VTEPs (shm/vtep.hpp).
  TunnelIo(WorkerCounterBlock& counters, rte_mempool* pool, int worker_id, const VtepTable* vteps);
  ~TunnelIo();
  TunnelIo(const TunnelIo&) = delete;
  TunnelIo& operator=(const TunnelIo&) = delete;

  // Opens a socket for each tunnel port of `table` (keeping those whose tunnel did not change)
  // and closes those of ports that are gone. A socket that cannot be opened is reported on
  // stderr; its port then receives nothing and counts what it should send as vxlan_send_failed.
  void sync(const TopologyTable& table);
  // The socket of a tunnel port, -1 if none (rx interrupts: the worker sleeps on it too).
  int fd(uint16_t port_id) const;

  // Counts the datagrams each socket dropped since the last call (vxlan_rx_overflow): the
  // worker calls it at its housekeeping tick and before it stops.
  void count_drops();
  // Up to `max` received frames of the port; vteps[i]: the remote VTEP (index + 1) frame i came
  // from. Datagrams that are not for the port are counted on it and freed.
  uint16_t receive(uint16_t port_id, rte_mbuf** pkts, uint16_t* vteps, uint16_t max);
  // Sends every frame (vteps[i] == 0: to the flood list) and frees them all. Counts what the
  // underlay refused on the port by reason; returns the datagrams sent and their inner bytes.
  uint16_t send(uint16_t port_id, rte_mbuf** pkts, const uint16_t* vteps, uint16_t count,
                uint64_t& bytes);

 private:
  struct Port;
  Port* find(uint16_t port_id) const;
  void send_batch(Port& p, uint16_t& sent, uint64_t& bytes);
  uint16_t coalesce(rte_mbuf** pkts, uint16_t* vteps, uint16_t n);
  bool add_zero_copy(Port& p, rte_mbuf* m, const uint32_t* dests, unsigned nb_dests);
  FinishResult add_finished(Port& p, rte_mbuf* m, const uint32_t* dests, unsigned nb_dests);

  WorkerCounterBlock& counters_;
  rte_mempool* pool_;
  int worker_id_;
  const VtepTable* vteps_;
  std::vector<std::unique_ptr<Port>> ports_;
};

}  // namespace vs
