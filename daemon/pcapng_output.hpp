// The pcapng stream of one capture, written with DPDK's librte_pcapng: a section header, one
// interface block per DPDK port (named after the vswitch port), an enhanced packet block per
// captured frame (timestamp in ns, direction flag, queue), and interface statistics at the end.
#pragma once
#include <rte_mempool.h>
#include <rte_pcapng.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "shm/capture.hpp"

namespace vs {

class PcapngOutput {
 public:
  // `name_of(port_id)`: the vswitch port's name for a DPDK port id ("" if none).
  using NameOf = std::function<std::string(uint16_t port_id)>;
  PcapngOutput(rte_mempool* pool, uint64_t tsc_hz) : pool_(pool), tsc_hz_(tsc_hz) {}
  ~PcapngOutput();
  PcapngOutput(const PcapngOutput&) = delete;
  PcapngOutput& operator=(const PcapngOutput&) = delete;

  // Writes the header blocks to `fd` and keeps it (closed by the destructor), non-blocking
  // from then on: a reader that stalls (a pipe into tshark) makes the capture drop copies, it
  // never blocks the thread. "" or why not.
  std::string open(int fd, const NameOf& name_of, const std::string& comment);
  int fd() const { return fd_; }
  // Adds one frame to what is pending; false if it could not (no mbuf: counted in `lost()`).
  bool add(const CaptureRecord& rec, const uint8_t* bytes);
  std::size_t pending() const { return pending_.size() - written_; }
  // Writes what it can of the pending bytes without blocking. False when the output is gone (a
  // closed pipe, a full disk): write_error() says why.
  bool write_some();
  const std::string& write_error() const { return write_error_; }
  // Interface statistics for `port` (once nothing is pending): frames captured, a comment.
  void write_stats(uint16_t port, uint64_t captured, const std::string& comment);
  uint64_t lost() const { return lost_; }

 private:
  rte_mbuf* frame_mbuf(const CaptureRecord& rec, const uint8_t* bytes);

  rte_mempool* pool_;
  uint64_t tsc_hz_;
  rte_pcapng_t* pcapng_ = nullptr;
  int64_t base_ns_ = 0;    // CLOCK_REALTIME at open ...
  uint64_t base_tsc_ = 0;  // ... and the TSC then
  int fd_ = -1;
  uint32_t port_index_[kMaxPortIds] = {};  // DPDK port id -> interface index in the file
  std::string pending_;
  std::size_t written_ = 0;
  uint64_t lost_ = 0;
  std::string write_error_;
};

// The interface blocks that rte_pcapng_fdopen wrote into `blocks` (a section header and
// interface blocks), with each interface's if_name option replaced by `names[i]` (i: the
// interface's index, in block order). Exposed for its unit test. Empty on malformed input.
std::string rename_pcapng_interfaces(const std::string& blocks,
                                     const std::vector<std::string>& names);

}  // namespace vs
