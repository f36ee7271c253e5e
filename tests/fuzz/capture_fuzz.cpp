// libFuzzer target: the two inputs of a capture that come from outside vswitchd's control.
// - A worker's capture ring (shm/capture.hpp) holding any bytes, with any head and tail: a dead
//   or buggy worker can leave them. The reader must never read outside the ring, hand out a
//   record longer than its bytes, or loop forever.
// - The pcap filter expression of a capture request (any text from the control socket), compiled
//   by libpcap (daemon/capture_filter.hpp): refused with a message or compiled, never a crash.
// Input: first byte selects; for the ring, 16 bytes of head/tail offsets then ring contents.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "daemon/capture_filter.hpp"
#include "shm/capture.hpp"

namespace {

vs::CaptureRing& ring() {
  static auto* r = new vs::CaptureRing();
  return *r;
}

void fuzz_ring(const uint8_t* data, size_t size) {
  if (size < 16) return;
  vs::CaptureRing& r = ring();
  uint64_t head, tail;
  std::memcpy(&head, data, 8);
  std::memcpy(&tail, data + 8, 8);
  data += 16;
  size -= 16;
  // Small offsets mostly, so that the records are read; sometimes anything.
  if (!(head >> 63)) head %= 4 * vs::kCaptureRingBytes;
  if (!(tail >> 63)) tail = tail % 8 * 8 + (head > vs::kCaptureRingBytes ? head - 4096 : 0);
  std::memset(r.data, 0, sizeof(r.data));
  const std::size_t at = tail % vs::kCaptureRingBytes;
  std::memcpy(r.data + at, data, std::min(size, vs::kCaptureRingBytes - at));
  r.head = head;
  r.tail = tail;
  uint64_t sum = 0;
  long n = vs::capture_ring_read(r, [&](const vs::CaptureRecord& rec, const uint8_t* bytes) {
    if (rec.caplen > 0) sum += bytes[0] + bytes[rec.caplen - 1];  // ASan checks the bounds
  });
  if (n >= 0 && r.tail.load() != head) __builtin_trap();  // a good read consumes everything
  // The writer goes on from whatever the reader left.
  vs::CaptureRecord h{};
  h.caplen = h.orig_len = static_cast<uint32_t>(size % 2000);
  vs::capture_ring_write(r, h, [](uint8_t* dst, uint32_t len) { std::memset(dst, 1, len); });
  (void)sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] & 1) {
    fuzz_ring(data + 1, size - 1);
    return 0;
  }
  const std::string expression(reinterpret_cast<const char*>(data + 1), size - 1);
  if (expression.find('\0') != std::string::npos) return 0;  // a C string for libpcap
  vs::CompiledFilter f;
  std::string error;
  if (!vs::compile_pcap_filter(expression, 65535, f, error) && error.empty()) __builtin_trap();
  return 0;
}
