// vswitchctl capture, in vswitchd: arms a capture in the workers (shm/capture.hpp: its filter,
// ports, directions and snap length in a slot of the capture table), drains the workers' rings
// for it into the client's output as pcapng (pcapng_output.hpp), and ends it when its count or
// duration is reached, when the client says so (it shuts down its side) or goes away, when the
// output is closed, or when vswitchd stops. One thread per capture, at most kMaxCaptures; the
// service is the one writer of the capture table.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ctl/control_protocol.hpp"
#include "shm/capture.hpp"

namespace prometheus {
class Collectable;
}

namespace vs {

class DatapathMemory;
class PortDirectory;
struct CompiledFilter;

// Converts libpcap's classic BPF to DPDK's eBPF into `f` (its instructions, argument, flag) and
// checks that librte_bpf loads it (its verifier), as the workers will. False with the reason.
bool to_ebpf(const CompiledFilter& cbpf, CaptureFilter& f, std::string& error);

struct CaptureStats {
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> refused{0};  // bad filter, unknown port, no free slot, bad output
  std::atomic<uint64_t> active{0};
  std::atomic<uint64_t> written{0};  // frames written to outputs
  std::atomic<uint64_t> lost{0};     // frames read from a ring but not written (no mbuf)
};

class CaptureService {
 public:
  // `cpus`: where the captures' threads may run (not on the workers' cores: a capture's writer
  // there would slow the forwarding it records); empty = anywhere.
  CaptureService(DatapathMemory& mem, const PortDirectory& ports, std::vector<int> cpus = {});
  ~CaptureService();
  CaptureService(const CaptureService&) = delete;
  CaptureService& operator=(const CaptureService&) = delete;

  // The control socket's taker: owns `conn` and `fds` from here on. Never blocks.
  void start(const ControlRequest& req, int conn, std::vector<int> fds);
  // Ends every capture (their clients get "vswitchd is stopping") and waits for their threads.
  void stop();

  const CaptureStats& stats() const { return stats_; }
  std::shared_ptr<prometheus::Collectable> collector() const;

 private:
  struct Armed;
  void run(ControlRequest::Capture req, int conn, std::vector<int> fds);
  bool arm(const ControlRequest::Capture& req, int out_fd, Armed& armed, std::string& error);
  void disarm(const Armed& armed);

  DatapathMemory& mem_;
  const PortDirectory& ports_;
  CaptureStats stats_;
  std::shared_ptr<prometheus::Collectable> collector_;
  std::mutex mu_;
  std::condition_variable done_;
  bool slot_used_[kMaxCaptures] = {};
  uint64_t next_id_ = 1;
  int running_ = 0;
  std::atomic<bool> stopping_{false};
  std::vector<int> cpus_;
};

}  // namespace vs
