#include "switch/capture_tap.hpp"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_memcpy.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <memory>

namespace vs {

static_assert(sizeof(ebpf_insn) == sizeof(uint64_t), "CaptureFilter::insns holds ebpf_insn");

CaptureTaps::~CaptureTaps() {
  for (Active& a : active_) unload(a);
}

void CaptureTaps::unload(Active& a) {
  if (a.bpf != nullptr) rte_bpf_destroy(a.bpf);
  a = Active{};
}

void CaptureTaps::reload() {
  seen_ = shm_->generation.load(std::memory_order_acquire);
  auto filter = std::make_unique<CaptureFilter>();
  for (int s = 0; s < kMaxCaptures; ++s) {
    Active& a = active_[s];
    // A slot being rewritten right now is read again at the next change of `generation`.
    if (!capture_snapshot(shm_->slots[s], *filter)) continue;
    if (filter->id == a.id) continue;
    unload(a);
    armed_ &= static_cast<uint8_t>(~(1u << s));
    if (filter->id == 0) continue;
    a.id = filter->id;
    a.snaplen = std::min(filter->snaplen, kMaxSnaplen);
    a.directions = filter->directions;
    std::copy(std::begin(filter->ports), std::end(filter->ports), a.ports);
    a.ring = &capture_ring(*shm_, s, worker_);
    if (filter->has_program) {
      rte_bpf_prm prm{};
      prm.ins = reinterpret_cast<const ebpf_insn*>(filter->insns);
      prm.nb_ins = std::min(filter->nb_insns, kMaxCaptureInsns);
      prm.prog_arg.type = RTE_BPF_ARG_PTR_MBUF;
      prm.prog_arg.size = filter->arg_size;
      prm.prog_arg.buf_size = filter->arg_buf_size;
      a.bpf = rte_bpf_load(&prm);  // process-private memory (mmap), JIT where it compiles
      if (a.bpf == nullptr) {
        ++load_failures_;
        std::fprintf(stderr, "vswitch-worker %d: capture %llu: cannot load its filter: %s\n",
                     worker_, static_cast<unsigned long long>(a.id), rte_strerror(rte_errno));
        a = Active{};
        continue;
      }
      rte_bpf_jit jit{};
      if (std::getenv("VSWITCH_CAPTURE_NO_JIT") == nullptr && rte_bpf_get_jit(a.bpf, &jit) == 0)
        a.jit = jit.func;
    }
    armed_ |= static_cast<uint8_t>(1u << s);
  }
}

bool CaptureTaps::matches(const Active& a, rte_mbuf* m) const {
  if (a.bpf == nullptr) return true;
  return (a.jit != nullptr ? a.jit(m) : rte_bpf_exec(a.bpf, m)) != 0;
}

void CaptureTaps::tap(uint16_t port, uint16_t queue, uint8_t direction, rte_mbuf* const* pkts,
                      uint16_t n) {
  if (port >= kMaxPortIds) return;
  uint64_t tsc = 0;
  for (int s = 0; s < kMaxCaptures; ++s) {
    if (!(armed_ & (1u << s))) continue;
    const Active& a = active_[s];
    if (!(a.directions & direction) || !((a.ports[port >> 6] >> (port & 63)) & 1)) continue;
    if (tsc == 0) tsc = rte_rdtsc();
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = pkts[i];
      if (!matches(a, m)) continue;
      CaptureRecord hdr{};
      hdr.port = port;
      hdr.queue = queue;
      hdr.capture_id = a.id;
      hdr.tsc = tsc;
      hdr.orig_len = rte_pktmbuf_pkt_len(m);
      hdr.caplen = std::min(hdr.orig_len, a.snaplen);
      hdr.direction = direction;
      capture_ring_write(*a.ring, hdr, [m](uint8_t* dst, uint32_t len) {
        // Into the ring directly: rte_pktmbuf_read copies only when the bytes span segments.
        const void* src = rte_pktmbuf_read(m, 0, len, dst);
        if (src != dst) rte_memcpy(dst, src, len);
      });
    }
  }
}

}  // namespace vs
