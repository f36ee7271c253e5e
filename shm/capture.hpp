// Packet capture (vswitchctl capture): the armed captures, and one ring per worker and capture
// into which that worker copies the frames that match. It lives in one DPDK memzone that vswitchd
// reserves at start (kCaptureZone), sized for the configured workers.
//
// Two single-writer protocols, no lock:
// - The capture table (`slots`): vswitchd's capture service is the one writer. Each slot is a
//   seqlock (`seq` odd while the service writes it, as in topology.hpp); `generation` is raised
//   after every change, so a worker checks one word per poll and re-reads the slots only when
//   it moved. A worker killed while it copies a slot leaves nothing behind.
// - A capture ring (`CaptureRing`, one per slot and worker): the worker is the one writer
//   (`head`, `copied`, `dropped`), the capture service the one reader (`tail`). Both positions
//   only grow (byte offsets, modulo the ring's size): the writer publishes a whole record by
//   moving `head` (release) after writing it, so a worker killed mid-copy publishes nothing, and
//   its replacement continues at `head`. A record that does not fit between `head` and `tail`
//   is not written: the copy is dropped and counted, the frame itself is forwarded as usual.
//   The reader treats the bytes as untrusted: a record with impossible sizes ends the read
//   (counted), it never makes the reader read outside the ring.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "shm/limits.hpp"

namespace vs {

inline constexpr const char* kCaptureZone = "vs_capture";
inline constexpr uint32_t kCaptureMagic = 0x76736370;  // "vscp"
inline constexpr uint32_t kCaptureLayoutVersion = 1;
inline constexpr int kMaxCaptures = 4;                   // captures running at once
inline constexpr uint32_t kCaptureRingBytes = 1u << 20;  // per worker and capture
inline constexpr uint32_t kMaxCaptureInsns = 4096;       // eBPF instructions of one filter
// Bytes of a frame a capture keeps at most: what fits one 64 KB mbuf with its pcapng block
// (daemon/pcapng_output.cpp). A 64 KB TSO super-frame loses its last bytes; its length stays.
inline constexpr uint32_t kMaxSnaplen = 65280;
inline constexpr uint8_t kCaptureIn = 1;   // frames the switch receives from a port
inline constexpr uint8_t kCaptureOut = 2;  // frames the switch sends to a port

// One armed capture, as the workers see it. Writer: the capture service; readers: the workers.
struct CaptureFilter {
  uint64_t id;          // unique per vswitchd run; 0 = slot free
  uint32_t snaplen;     // bytes copied per frame, at most
  uint8_t directions;   // kCaptureIn | kCaptureOut
  uint8_t has_program;  // 0: every frame of the ports matches
  uint16_t reserved;
  uint32_t nb_insns;  // eBPF instructions (DPDK's struct ebpf_insn, 8 bytes each)
  uint32_t arg_size;  // rte_bpf_arg of the converted program: size and buf_size
  uint32_t arg_buf_size;
  uint32_t reserved2;
  uint64_t ports[kMaxPortIds / 64];  // bit p: DPDK port id p is captured
  uint64_t insns[kMaxCaptureInsns];
};

struct CaptureSlot {
  std::atomic<uint64_t> seq;  // odd while the service writes `filter`
  CaptureFilter filter;
};

// What a worker writes before each copied frame; records are 8-byte aligned.
struct CaptureRecord {
  uint32_t size;   // the whole record, header included, a multiple of 8; kCaptureWrap = the
                   // rest of the ring up to its end is padding, continue at offset 0
  uint16_t port;   // DPDK port id
  uint16_t queue;  // rx queue (in) or tx queue (out)
  uint64_t capture_id;
  uint64_t tsc;       // rte_rdtsc() when the burst was received or sent
  uint32_t orig_len;  // the frame's length
  uint32_t caplen;    // bytes that follow
  uint8_t direction;  // kCaptureIn or kCaptureOut
  uint8_t reserved[7];
};
static_assert(sizeof(CaptureRecord) == 40);
inline constexpr uint32_t kCaptureWrap = 0xffffffffu;

struct alignas(64) CaptureRing {
  std::atomic<uint64_t> head;              // wo worker: bytes published
  std::atomic<uint64_t> copied;            // wo worker: records published
  std::atomic<uint64_t> dropped;           // wo worker: copies that did not fit
  alignas(64) std::atomic<uint64_t> tail;  // wo capture service: bytes consumed
  alignas(64) uint8_t data[kCaptureRingBytes];
};
static_assert(std::atomic<uint64_t>::is_always_lock_free);

struct SharedCapture {
  uint32_t magic;           // wo vswitchd at start
  uint32_t layout_version;  // wo vswitchd at start
  uint32_t nb_workers;      // wo vswitchd at start: rings per slot
  uint32_t reserved;
  std::atomic<uint64_t> generation;  // wo capture service, after each slot change
  CaptureSlot slots[kMaxCaptures];
  // Followed by kMaxCaptures * nb_workers CaptureRing, slot-major (capture_ring()).
};

std::size_t capture_zone_size(int nb_workers);
void capture_init(SharedCapture& shm, int nb_workers);
CaptureRing& capture_ring(SharedCapture& shm, int slot, int worker);

// Writer side of the table (the capture service).
void capture_publish(SharedCapture& shm, int slot, const CaptureFilter& filter);
// Reader side: a consistent copy of a slot, false if the writer kept interfering.
bool capture_snapshot(const CaptureSlot& slot, CaptureFilter& out, int max_attempts = 100);

// Writer side of a ring (a worker). `copy(dst, len)` writes the frame's first `caplen` bytes.
// Returns false (and counts a drop) if the record did not fit.
template <class CopyFn>
bool capture_ring_write(CaptureRing& r, const CaptureRecord& hdr, CopyFn&& copy);

// Reader side (the capture service): calls `fn(record, bytes)` for each published record and
// frees their space. Returns the number of records read, or -1 if the ring held a record with
// impossible sizes (the rest of what was published is skipped).
template <class Fn>
long capture_ring_read(CaptureRing& r, Fn&& fn, long max_records = 1L << 30);

// ---- implementation of the two templates ----

inline uint32_t capture_record_size(uint32_t caplen) {
  return (static_cast<uint32_t>(sizeof(CaptureRecord)) + caplen + 7u) & ~7u;
}

template <class CopyFn>
bool capture_ring_write(CaptureRing& r, const CaptureRecord& hdr, CopyFn&& copy) {
  const uint32_t size = capture_record_size(hdr.caplen);
  // Always a multiple of 8, unless the memory was overwritten: then realign, and the reader
  // skips what lies between (it treats the bytes as untrusted).
  const uint64_t head = (r.head.load(std::memory_order_relaxed) + 7) & ~uint64_t{7};
  const uint64_t tail = r.tail.load(std::memory_order_acquire);
  const uint32_t off = static_cast<uint32_t>(head % kCaptureRingBytes);
  const uint32_t to_end = kCaptureRingBytes - off;
  const uint64_t need = to_end < size ? uint64_t{to_end} + size : size;
  if (size > kCaptureRingBytes || head - tail + need > kCaptureRingBytes) {
    r.dropped.store(r.dropped.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return false;
  }
  uint64_t at = head;
  if (to_end < size) {  // `to_end` is a multiple of 8: the marker always fits
    CaptureRecord wrap{};
    wrap.size = kCaptureWrap;
    __builtin_memcpy(r.data + off, &wrap.size, sizeof(wrap.size));
    at += to_end;
  }
  uint8_t* dst = r.data + at % kCaptureRingBytes;
  CaptureRecord h = hdr;
  h.size = size;
  __builtin_memcpy(dst, &h, sizeof(h));
  copy(dst + sizeof(h), hdr.caplen);
  r.copied.store(r.copied.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  r.head.store(at + size, std::memory_order_release);
  return true;
}

template <class Fn>
long capture_ring_read(CaptureRing& r, Fn&& fn, long max_records) {
  uint64_t tail = r.tail.load(std::memory_order_relaxed);
  const uint64_t head = r.head.load(std::memory_order_acquire);
  long n = 0;
  bool bad = head < tail || head - tail > kCaptureRingBytes;
  while (!bad && tail < head && n < max_records) {
    const uint32_t off = static_cast<uint32_t>(tail % kCaptureRingBytes);
    const uint32_t to_end = kCaptureRingBytes - off;
    if (to_end < sizeof(uint32_t) || off % 8 != 0) {
      bad = true;
      break;
    }
    uint32_t size;
    __builtin_memcpy(&size, r.data + off, sizeof(size));
    if (size == kCaptureWrap) {
      if (to_end >= head - tail) {  // a wrap is always followed by the record it made room for
        bad = true;
        break;
      }
      tail += to_end;
      continue;
    }
    CaptureRecord h;
    if (to_end < sizeof(h) || size < sizeof(h) || size > to_end || size % 8 != 0 ||
        size > head - tail) {
      bad = true;
      break;
    }
    __builtin_memcpy(&h, r.data + off, sizeof(h));
    if (h.caplen > size - sizeof(h) || h.caplen > h.orig_len) {
      bad = true;
      break;
    }
    fn(h, static_cast<const uint8_t*>(r.data + off + sizeof(h)));
    tail += size;
    ++n;
  }
  if (bad) tail = head;  // skip what cannot be read, keep reading what comes next
  r.tail.store(tail, std::memory_order_release);
  return bad ? -1 : n;
}

}  // namespace vs
