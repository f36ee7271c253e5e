#include "daemon/pcapng_output.hpp"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "daemon/port_manager.hpp"

namespace vs {
namespace {

constexpr uint32_t kSectionBlock = 0x0A0D0D0A;
constexpr uint32_t kInterfaceBlock = 1;
constexpr uint16_t kOptEnd = 0;
constexpr uint16_t kOptIfName = 2;

// The fields of an enhanced packet block (pcapng spec, section 4.3) that are patched below.
constexpr std::size_t kEpbInterfaceId = 8;
constexpr std::size_t kEpbTimestampHi = 12;
constexpr std::size_t kEpbTimestampLo = 16;
constexpr std::size_t kEpbOriginalLength = 24;

// librte_pcapng keeps its TSC-to-time state in one process-wide variable that each copy updates:
// copies from several captures' threads go one at a time.
std::mutex& pcapng_copy_lock() {
  static std::mutex mu;
  return mu;
}

uint32_t get32(const std::string& s, std::size_t at) {
  uint32_t v;
  std::memcpy(&v, s.data() + at, sizeof(v));
  return v;
}
uint16_t get16(const std::string& s, std::size_t at) {
  uint16_t v;
  std::memcpy(&v, s.data() + at, sizeof(v));
  return v;
}
template <class T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof(v));
}
void put_option(std::string& s, uint16_t code, const std::string& value) {
  put(s, code);
  put(s, static_cast<uint16_t>(value.size()));
  s += value;
  s.append((4 - value.size() % 4) % 4, '\0');
}

bool write_all(int fd, const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  lseek(fd, 0, SEEK_SET);
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

std::string rename_pcapng_interfaces(const std::string& blocks,
                                     const std::vector<std::string>& names) {
  std::string out;
  std::size_t at = 0;
  std::size_t index = 0;
  while (at < blocks.size()) {
    if (blocks.size() - at < 12) return {};
    const uint32_t type = get32(blocks, at);
    const uint32_t len = get32(blocks, at + 4);
    if (len < 12 || len % 4 != 0 || len > blocks.size() - at) return {};
    if (type != kInterfaceBlock) {
      if (type != kSectionBlock) return {};
      out.append(blocks, at, len);
      at += len;
      continue;
    }
    if (len < 20) return {};
    // Body: link type (2), reserved (2), snap length (4), then options up to the trailing length.
    std::string body(blocks, at + 8, 8);
    if (index < names.size() && !names[index].empty())
      put_option(body, kOptIfName, names[index].substr(0, 255));
    std::size_t opt = at + 16;
    const std::size_t end = at + len - 4;
    while (opt + 4 <= end) {
      const uint16_t code = get16(blocks, opt);
      const uint16_t olen = get16(blocks, opt + 2);
      const std::size_t padded = (olen + 3u) & ~3u;
      if (code == kOptEnd || opt + 4 + padded > end) break;
      if (code != kOptIfName || index >= names.size() || names[index].empty())
        body.append(blocks, opt, 4 + padded);
      opt += 4 + padded;
    }
    put_option(body, kOptEnd, {});
    const uint32_t new_len = static_cast<uint32_t>(body.size() + 12);
    put(out, kInterfaceBlock);
    put(out, new_len);
    out += body;
    put(out, new_len);
    at += len;
    ++index;
  }
  return out;
}

PcapngOutput::~PcapngOutput() {
  if (pcapng_ != nullptr) rte_pcapng_close(pcapng_);  // closes the fd
}

std::string PcapngOutput::open(int fd, const NameOf& name_of, const std::string& comment) {
  // DPDK 22.11's librte_pcapng names each interface after the ifindex of its netdev, looked up
  // in vswitchd's namespace, which names the wrong device for a port whose TAP lives in a VM's
  // namespace. It writes the header blocks at once, into its fd: let it write them into a memfd,
  // rename the interfaces, write the result to the output, then point its fd at the output.
  int scratch = memfd_create("vswitch-capture", MFD_CLOEXEC);
  if (scratch < 0) {
    close(fd);
    return std::string("memfd_create: ") + std::strerror(errno);
  }
  utsname un{};
  uname(&un);
  const std::string os = std::string(un.sysname) + " " + un.release;
  std::vector<uint16_t> ports;
  {
    auto lock = device_list_lock();  // the same port list for the blocks and for the names
    pcapng_ = rte_pcapng_fdopen(scratch, os.c_str(), nullptr, "vswitchd", comment.c_str());
    uint16_t port;
    RTE_ETH_FOREACH_DEV(port) ports.push_back(port);
  }
  if (pcapng_ == nullptr) {
    close(scratch);
    close(fd);
    return std::string("cannot start the pcapng output: ") + rte_strerror(rte_errno);
  }
  std::vector<std::string> names;
  for (uint16_t port : ports) {
    if (port < kMaxPortIds) port_index_[port] = static_cast<uint32_t>(names.size());
    names.push_back(name_of(port));
  }
  const std::string header = rename_pcapng_interfaces(read_all(scratch), names);
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  base_tsc_ = rte_get_tsc_cycles();
  base_ns_ = static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  const bool written = !header.empty() && write_all(fd, header);
  const int err = errno;
  const bool redirected = dup3(fd, scratch, O_CLOEXEC) >= 0;  // rte_pcapng_close closes it
  close(fd);
  if (header.empty()) return "librte_pcapng wrote header blocks this version cannot read";
  if (!written) return std::string("cannot write to the capture's output: ") + std::strerror(err);
  if (!redirected) return std::string("dup3: ") + std::strerror(errno);
  fd_ = scratch;
  fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  return {};
}

rte_mbuf* PcapngOutput::frame_mbuf(const CaptureRecord& rec, const uint8_t* bytes) {
  // The frame as one chain of the pool's mbufs, for rte_pcapng_copy to copy from.
  rte_mbuf* head = nullptr;
  rte_mbuf* last = nullptr;
  uint32_t off = 0;
  do {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    if (m == nullptr) {
      rte_pktmbuf_free(head);
      return nullptr;
    }
    const uint32_t n = std::min<uint32_t>(rec.caplen - off, rte_pktmbuf_tailroom(m));
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(n)), bytes + off, n);
    off += n;
    if (head == nullptr) {
      head = m;
    } else {
      last->next = m;
      head->nb_segs++;
      head->pkt_len += n;
    }
    last = m;
  } while (off < rec.caplen);
  head->port = rec.port;
  return head;
}

bool PcapngOutput::add(const CaptureRecord& rec, const uint8_t* bytes) {
  rte_mbuf* frame = frame_mbuf(rec, bytes);
  if (frame == nullptr) {
    ++lost_;
    return false;
  }
  rte_mbuf* block;
  {
    std::lock_guard lock(pcapng_copy_lock());
    // The time is set below from the record: the library's own conversion assumes that
    // timestamps never go back, which frames from several workers' rings do.
    block = rte_pcapng_copy(
        rec.port, rec.queue, frame, pool_, rec.caplen, rte_get_tsc_cycles(),
        rec.direction == kCaptureIn ? RTE_PCAPNG_DIRECTION_IN : RTE_PCAPNG_DIRECTION_OUT);
  }
  rte_pktmbuf_free(frame);
  if (block == nullptr) {
    ++lost_;
    return false;
  }
  const auto since = static_cast<__int128>(static_cast<int64_t>(rec.tsc - base_tsc_));
  const auto ns = static_cast<uint64_t>(
      base_ns_ + static_cast<int64_t>(since * 1000000000 / static_cast<__int128>(tsc_hz_)));
  const uint32_t hi = static_cast<uint32_t>(ns >> 32);
  const uint32_t lo = static_cast<uint32_t>(ns);
  const uint32_t ifindex = rec.port < kMaxPortIds ? port_index_[rec.port] : 0;
  auto* epb = rte_pktmbuf_mtod(block, uint8_t*);
  std::memcpy(epb + kEpbInterfaceId, &ifindex, 4);
  std::memcpy(epb + kEpbTimestampHi, &hi, 4);
  std::memcpy(epb + kEpbTimestampLo, &lo, 4);
  std::memcpy(epb + kEpbOriginalLength, &rec.orig_len, 4);
  for (rte_mbuf* seg = block; seg != nullptr; seg = seg->next)
    pending_.append(rte_pktmbuf_mtod(seg, const char*), rte_pktmbuf_data_len(seg));
  rte_pktmbuf_free(block);
  return true;
}

bool PcapngOutput::write_some() {
  while (write_error_.empty() && written_ < pending_.size()) {
    ssize_t n = write(fd_, pending_.data() + written_, pending_.size() - written_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {
      write_error_ = n < 0 ? std::strerror(errno) : "the output took no more bytes";
      break;
    }
    written_ += static_cast<std::size_t>(n);
  }
  if (written_ == pending_.size() || written_ > (1u << 20)) {
    pending_.erase(0, written_);
    written_ = 0;
  }
  return write_error_.empty();
}

void PcapngOutput::write_stats(uint16_t port, uint64_t captured, const std::string& comment) {
  if (pcapng_ == nullptr || !write_error_.empty() || pending() != 0) return;
  std::lock_guard lock(pcapng_copy_lock());  // it converts the time, as rte_pcapng_copy does
  rte_pcapng_write_stats(pcapng_, port, comment.empty() ? nullptr : comment.c_str(), 0, 0, captured,
                         UINT64_MAX);
}

}  // namespace vs
