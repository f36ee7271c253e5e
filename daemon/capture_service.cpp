#include "daemon/capture_service.hpp"

#include <poll.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <pthread.h>
#include <rte_bpf.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "daemon/capture_filter.hpp"
#include "daemon/datapath_memory.hpp"
#include "daemon/pcapng_output.hpp"
#include "daemon/port_manager.hpp"

namespace vs {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Bytes a capture keeps pending for a slow output before it stops draining its rings (the
// workers' copies are then dropped, and counted).
constexpr std::size_t kMaxPending = 4u << 20;
constexpr long kRecordsPerRead = 256;
// After the slot is disarmed, copies a worker made in the poll it was in are still arriving.
constexpr auto kSettle = std::chrono::milliseconds(5);
constexpr auto kBusyFor = std::chrono::milliseconds(50);
constexpr auto kIdleAfter = std::chrono::seconds(1);

void send_line(int conn, const json& j) {
  const std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::size_t off = 0;
  for (int tries = 0; off < line.size() && tries < 100; ++tries) {
    ssize_t n = send(conn, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{conn, POLLOUT, 0};
      poll(&p, 1, 10);
    } else {
      return;
    }
  }
}

}  // namespace

namespace {

// Two defects of DPDK 22.11's BPF, worked around by rewriting the converted program:
// - rte_bpf_convert translates classic BPF's indirect loads (`ld [x + k]`, which libpcap emits
//   for every transport-header test, e.g. `tcp port 80`) with the index register A (r0) instead
//   of X (r7): such filters read the wrong bytes. Each gets its index copied into r2 first.
// - The x86 JIT emits `jset #k` (libpcap's bit tests, e.g. `tcp[13] & 2 != 0`) as a `test` whose
//   immediate is one byte short: the CPU then executes the next instructions' bytes as part of
//   it. Each becomes r2 = A, r2 &= k, `jne r2, 0`.
// r2 is free for this: the converted program keeps A in r0, X in r7 and scratch in r8, and
// loads clobber r1-r5 anyway. Every jump is re-aimed over the inserted instructions.
// tests/unit/capture_bpf_test.cpp compares the result, JIT-compiled, with libpcap's bpf_filter().
std::vector<ebpf_insn> rewrite(const ebpf_insn& in) {
  const uint8_t cls = in.code & 0x07, op = in.code & 0xf0;
  if (cls == BPF_LD && (in.code & 0xe0) == BPF_IND) {
    ebpf_insn mov{EBPF_ALU64 | EBPF_MOV | BPF_X, EBPF_REG_2, EBPF_REG_7, 0, 0};
    ebpf_insn load = in;
    load.src_reg = EBPF_REG_2;
    return {mov, load};
  }
  if (cls == BPF_JMP && op == BPF_JSET && (in.code & BPF_X) == 0) {
    ebpf_insn mov{EBPF_ALU64 | EBPF_MOV | BPF_X, EBPF_REG_2, in.dst_reg, 0, 0};
    ebpf_insn and_k{EBPF_ALU64 | BPF_AND | BPF_K, EBPF_REG_2, 0, 0, in.imm};
    ebpf_insn jne{BPF_JMP | EBPF_JNE | BPF_K, EBPF_REG_2, 0, in.off, 0};
    return {mov, and_k, jne};
  }
  return {in};
}

std::vector<ebpf_insn> work_around_dpdk_bpf(const ebpf_insn* in, uint32_t n) {
  std::vector<std::vector<ebpf_insn>> parts;
  std::vector<int32_t> pos(n + 1);  // where old instruction i starts in the new program
  int32_t at = 0;
  for (uint32_t i = 0; i < n; ++i) {
    pos[i] = at;
    parts.push_back(rewrite(in[i]));
    at += static_cast<int32_t>(parts.back().size());
  }
  pos[n] = at;
  std::vector<ebpf_insn> out;
  for (uint32_t i = 0; i < n; ++i) {
    ebpf_insn& last = parts[i].back();  // a jump is always the last of its part
    const uint8_t op = last.code & 0xf0;
    if ((last.code & 0x07) == BPF_JMP && op != EBPF_CALL && op != EBPF_EXIT) {
      const int64_t target = static_cast<int64_t>(i) + 1 + in[i].off;
      const int32_t self = pos[i] + static_cast<int32_t>(parts[i].size()) - 1;
      if (target >= 0 && target <= n) last.off = static_cast<int16_t>(pos[target] - (self + 1));
    }
    out.insert(out.end(), parts[i].begin(), parts[i].end());
  }
  return out;
}
}  // namespace

bool to_ebpf(const CompiledFilter& cbpf, CaptureFilter& f, std::string& error) {
  bpf_program prog{static_cast<u_int>(cbpf.insns.size()), const_cast<bpf_insn*>(cbpf.insns.data())};
  rte_bpf_prm* prm = rte_bpf_convert(&prog);
  if (prm == nullptr) {
    error =
        std::string("the filter cannot be converted for DPDK's BPF: ") + rte_strerror(rte_errno);
    return false;
  }
  const std::vector<ebpf_insn> insns = work_around_dpdk_bpf(prm->ins, prm->nb_ins);
  bool ok = insns.size() <= kMaxCaptureInsns;
  if (!ok) {
    error = "the filter is too long: " + std::to_string(insns.size()) + " eBPF instructions, " +
            std::to_string(kMaxCaptureInsns) + " at most";
  } else {
    rte_bpf_prm fixed = *prm;
    fixed.ins = insns.data();
    fixed.nb_ins = static_cast<uint32_t>(insns.size());
    if (rte_bpf* bpf = rte_bpf_load(&fixed); bpf == nullptr) {
      ok = false;
      error = std::string("DPDK's BPF refused the filter: ") + rte_strerror(rte_errno);
    } else {
      rte_bpf_destroy(bpf);
      std::memcpy(f.insns, insns.data(), insns.size() * sizeof(uint64_t));
      f.nb_insns = fixed.nb_ins;
      f.arg_size = static_cast<uint32_t>(prm->prog_arg.size);
      f.arg_buf_size = static_cast<uint32_t>(prm->prog_arg.buf_size);
      f.has_program = 1;
    }
  }
  rte_free(prm);
  return ok;
}

namespace {

class CaptureCollector : public prometheus::Collectable {
 public:
  CaptureCollector(DatapathMemory& mem, const CaptureStats& stats) : mem_(mem), stats_(stats) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> out;
    auto single = [&out](const char* name, const char* help, MetricType type, uint64_t v) {
      prometheus::ClientMetric m;
      (type == MetricType::Counter ? m.counter.value : m.gauge.value) = static_cast<double>(v);
      out.push_back({name, help, type, {m}});
    };
    single("vswitch_captures_active", "Captures running now (vswitchctl capture).",
           MetricType::Gauge, stats_.active.load());
    single("vswitch_captures_started_total", "Captures started.", MetricType::Counter,
           stats_.started.load());
    single("vswitch_captures_refused_total",
           "Capture requests refused (bad filter, unknown port, no free slot, bad output).",
           MetricType::Counter, stats_.refused.load());
    single("vswitch_capture_written_total", "Captured frames written to the captures' outputs.",
           MetricType::Counter, stats_.written.load());
    single("vswitch_capture_lost_total",
           "Captured frames read from a worker's ring but not written (no buffer in vswitchd).",
           MetricType::Counter, stats_.lost.load());
    prometheus::MetricFamily copies{"vswitch_capture_copies_total",
                                    "Frames a worker copied for the captures (all of them).",
                                    MetricType::Counter,
                                    {}};
    prometheus::MetricFamily drops{"vswitch_capture_copy_drops_total",
                                   "Copies a worker dropped because the capture's ring was full "
                                   "(the frames themselves were forwarded).",
                                   MetricType::Counter,
                                   {}};
    SharedCapture& shm = mem_.capture();
    for (int w = 0; w < static_cast<int>(shm.nb_workers); ++w) {
      uint64_t c = 0, d = 0;
      for (int s = 0; s < kMaxCaptures; ++s) {
        const CaptureRing& r = capture_ring(shm, s, w);
        c += r.copied.load(std::memory_order_relaxed);
        d += r.dropped.load(std::memory_order_relaxed);
      }
      prometheus::ClientMetric m;
      m.label = {{"worker", std::to_string(w)}};
      m.counter.value = static_cast<double>(c);
      copies.metric.push_back(m);
      m.counter.value = static_cast<double>(d);
      drops.metric.push_back(m);
    }
    out.push_back(std::move(copies));
    out.push_back(std::move(drops));
    return out;
  }

 private:
  DatapathMemory& mem_;
  const CaptureStats& stats_;
};

}  // namespace

struct CaptureService::Armed {
  int slot = -1;
  uint64_t id = 0;
  std::vector<uint16_t> ports;
  std::vector<uint64_t> dropped_before;  // per worker: the ring's drops when armed
  std::unique_ptr<PcapngOutput> out;
};

CaptureService::CaptureService(DatapathMemory& mem, const PortDirectory& ports,
                               std::vector<int> cpus)
    : mem_(mem),
      ports_(ports),
      collector_(std::make_shared<CaptureCollector>(mem, stats_)),
      cpus_(std::move(cpus)) {}

CaptureService::~CaptureService() {
  stop();
}

std::shared_ptr<prometheus::Collectable> CaptureService::collector() const {
  return collector_;
}

void CaptureService::start(const ControlRequest& req, int conn, std::vector<int> fds) {
  std::lock_guard lock(mu_);
  if (stopping_) {
    send_line(conn, {{"ok", false}, {"error", "vswitchd is stopping"}});
    close(conn);
    for (int fd : fds) close(fd);
    return;
  }
  ++running_;
  std::thread([this, c = req.capture, conn, fds = std::move(fds)]() mutable {
    run(std::move(c), conn, std::move(fds));
  }).detach();
}

void CaptureService::stop() {
  std::unique_lock lock(mu_);
  stopping_ = true;
  done_.wait_for(lock, std::chrono::seconds(5), [this] { return running_ == 0; });
}

bool CaptureService::arm(const ControlRequest::Capture& req, int out_fd, Armed& armed,
                         std::string& error) {
  // `out_fd` is ours: the output takes it, or it is closed here.
  std::unique_ptr<int, void (*)(int*)> fd_guard(&out_fd, [](int* fd) { close(*fd); });
  auto filter = std::make_unique<CaptureFilter>();
  for (const std::string& name : req.ports) {
    const int id = ports_.port_id(name);
    if (id < 0 || id >= kMaxPortIds) {
      error = "no port '" + name + "' (vswitchctl show ports lists them)";
      return false;
    }
    armed.ports.push_back(static_cast<uint16_t>(id));
    filter->ports[id >> 6] |= 1ull << (id & 63);
  }
  if (!req.filter.empty()) {
    CompiledFilter cbpf;
    if (!compile_pcap_filter(req.filter, req.snaplen, cbpf, error)) {
      error = "invalid filter '" + req.filter + "': " + error;
      return false;
    }
    if (!to_ebpf(cbpf, *filter, error)) return false;
  }
  filter->snaplen = std::min(req.snaplen, kMaxSnaplen);
  filter->directions = req.directions;
  {
    std::lock_guard lock(mu_);
    for (int s = 0; s < kMaxCaptures && armed.slot < 0; ++s) {
      if (!slot_used_[s]) {
        slot_used_[s] = true;
        armed.slot = s;
      }
    }
    armed.id = next_id_++;
  }
  if (armed.slot < 0) {
    error = std::to_string(kMaxCaptures) + " captures are running, the most at once: end one first";
    return false;
  }
  armed.out = std::make_unique<PcapngOutput>(mem_.capture_pool(), rte_get_tsc_hz());
  std::string comment = "vswitch capture";
  if (!req.filter.empty()) comment += ", filter: " + req.filter;
  fd_guard.release();
  error = armed.out->open(
      out_fd, [this](uint16_t port) { return ports_.name_of(port); }, comment);
  if (!error.empty()) {
    disarm(armed);
    return false;
  }
  SharedCapture& shm = mem_.capture();
  for (int w = 0; w < static_cast<int>(shm.nb_workers); ++w) {
    CaptureRing& ring = capture_ring(shm, armed.slot, w);
    capture_ring_read(ring, [](const CaptureRecord&, const uint8_t*) {});  // an old capture's
    armed.dropped_before.push_back(ring.dropped.load(std::memory_order_relaxed));
  }
  filter->id = armed.id;
  capture_publish(shm, armed.slot, *filter);
  return true;
}

void CaptureService::disarm(const Armed& armed) {
  if (armed.slot < 0) return;
  auto none = std::make_unique<CaptureFilter>();
  capture_publish(mem_.capture(), armed.slot, *none);
  std::lock_guard lock(mu_);
  slot_used_[armed.slot] = false;
}

void CaptureService::run(ControlRequest::Capture req, int conn, std::vector<int> fds) {
  // A reader that went away makes write() fail with EPIPE here, not kill vswitchd.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  if (!cpus_.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : cpus_) CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  }

  Armed armed;
  std::string error;
  if (fds.size() != 1) {
    error = "capture needs its output: one fd passed with the request (vswitchctl capture does)";
    for (int fd : fds) close(fd);
  } else {
    arm(req, fds[0], armed, error);  // takes the fd
  }
  if (!error.empty()) {
    stats_.refused.fetch_add(1);
    send_line(conn, {{"ok", false}, {"error", error}});
  } else {
    stats_.started.fetch_add(1);
    stats_.active.fetch_add(1);
    send_line(conn, {{"ok", true},
                     {"capture", armed.id},
                     {"ports", req.ports},
                     {"filter", req.filter},
                     {"snaplen", std::min(req.snaplen, kMaxSnaplen)}});
    SharedCapture& shm = mem_.capture();
    const auto started = Clock::now();
    const auto deadline = req.duration_ms ? started + std::chrono::milliseconds(req.duration_ms)
                                          : Clock::time_point::max();
    std::vector<uint64_t> per_port(kMaxPortIds, 0);
    uint64_t captured = 0;
    auto drain = [&] {
      long got = 0;
      for (int w = 0; w < static_cast<int>(shm.nb_workers); ++w) {
        if (armed.out->pending() > kMaxPending) break;
        got += std::max(0L, capture_ring_read(
                                capture_ring(shm, armed.slot, w),
                                [&](const CaptureRecord& rec, const uint8_t* bytes) {
                                  if (rec.capture_id != armed.id || rec.port >= kMaxPortIds) return;
                                  if (req.count && captured >= req.count) return;
                                  if (!armed.out->add(rec, bytes)) return;
                                  ++captured;
                                  ++per_port[rec.port];
                                },
                                kRecordsPerRead));
      }
      return got;
    };
    std::string reason;
    auto last_frame = started;
    while (reason.empty()) {
      const long got = drain();
      if (!armed.out->write_some()) {
        reason = "output closed: " + armed.out->write_error();
        break;
      }
      if (req.count && captured >= req.count)
        reason = "count";
      else if (Clock::now() >= deadline)
        reason = "duration";
      else if (stopping_)
        reason = "vswitchd is stopping";
      if (!reason.empty()) break;
      pollfd p[2] = {{conn, POLLIN | POLLRDHUP, 0},
                     {armed.out->fd(), static_cast<short>(armed.out->pending() ? POLLOUT : 0), 0}};
      // A ring of 1 MB holds 16 TSO super-frames, 1.7 ms of 10 Gbit/s, or 9,000 small frames:
      // while frames come, wake every 100 µs; after 50 ms without one, every 2 ms; after a
      // second, every 10 ms (a capture waiting for rare frames costs 100 wake-ups a second).
      const auto now = Clock::now();
      if (got > 0) last_frame = now;
      const auto quiet = now - last_frame;
      const long wait_ns = got > 0              ? 0
                           : quiet < kBusyFor   ? 100000
                           : quiet < kIdleAfter ? 2000000
                                                : 10000000;
      const timespec wait{0, wait_ns};
      ppoll(p, 2, &wait, nullptr);
      if (p[0].revents & (POLLHUP | POLLERR)) {
        reason = "client gone";
      } else if (p[0].revents & (POLLIN | POLLRDHUP)) {
        char b[64];
        if (recv(conn, b, sizeof(b), MSG_DONTWAIT) <= 0) reason = "stopped by the client";
      }
      if (p[1].revents & (POLLERR | POLLHUP)) reason = "output closed";
    }
    disarm(armed);
    std::this_thread::sleep_for(kSettle);
    drain();
    // What is still pending gets a moment to go out (a file takes it at once).
    for (int i = 0; i < 200 && armed.out->pending() && armed.out->write_some(); ++i) {
      pollfd p{armed.out->fd(), POLLOUT, 0};
      poll(&p, 1, 10);
    }
    uint64_t dropped = 0;
    for (int w = 0; w < static_cast<int>(shm.nb_workers); ++w)
      dropped += capture_ring(shm, armed.slot, w).dropped.load(std::memory_order_relaxed) -
                 armed.dropped_before[w];
    for (std::size_t i = 0; i < armed.ports.size(); ++i)
      armed.out->write_stats(armed.ports[i], per_port[armed.ports[i]],
                             i == 0 ? "vswitch: " + std::to_string(dropped) +
                                          " copies dropped by the workers (ring full), all ports"
                                    : std::string());
    const uint64_t lost = armed.out->lost();
    stats_.written.fetch_add(captured);
    stats_.lost.fetch_add(lost);
    armed.out.reset();  // closes the output: the reader sees its end before our summary
    send_line(conn, {{"ok", true},
                     {"done", true},
                     {"captured", captured},
                     {"dropped", dropped + lost},
                     {"reason", reason},
                     {"seconds", std::chrono::duration<double>(Clock::now() - started).count()}});
    stats_.active.fetch_sub(1);
  }
  close(conn);
  std::lock_guard lock(mu_);
  --running_;
  done_.notify_all();
}

}  // namespace vs
