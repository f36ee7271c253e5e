// net_rtap: every queue fd of every port, handed to a starting secondary in one exchange.
//
// A secondary needs the primary's queue fds of each port it attaches. rte_mp carries at most
// RTE_MP_MAX_FD_NUM (8) fds per message and one request per port: a worker attaching 256
// ports made 256 round trips, about 40 ms of its 110 ms start-up, mostly waiting for the
// primary's rte_mp thread to be scheduled (issue #21). So the primary also listens on a
// SOCK_SEQPACKET socket in the EAL's runtime directory, served by its own control thread. At
// its first attach, a secondary connects once and receives the fds of all the primary's ports,
// up to kFdsPerMessage per message with SCM_RIGHTS. Each attach then takes its port's fds from
// that set, if their generation is still the port's. Anything else falls back to rte_mp: the
// socket is missing (an older primary), the port changed since, the port was added later
// (hot-plug), or RTAP_FD_CHANNEL=0. Fds nobody took are closed after kCacheTtlMs.
//
// Who writes what: the primary's channel thread reads each port's fds under its fds_lock and
// sends duplicates, so a re-configuration that closes the originals meanwhile cannot make it
// send a closed or reused fd number. In the secondary, the cache is guarded by cache_lock.
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_string_fns.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "rtap.hpp"
#include "rte_pmd_rtap.h"

namespace rtap {

bool is_rtap_port(const rte_eth_dev* dev);  // rtap_ethdev.cpp

namespace {

constexpr uint32_t kMagic = 0x72746664;   // "rtfd", and the protocol's version
constexpr unsigned kFdsPerMessage = 240;  // below the kernel's SCM_MAX_FD (253)
constexpr unsigned kEntriesPerMessage = 128;
constexpr int kTimeoutS = 5;  // as the rte_mp fd request (kFdRequestTimeoutS)
constexpr int64_t kCacheTtlMs = 3000;
constexpr int kRequestWaitMs = 250;

struct Header {
  uint32_t magic;
  uint16_t nb_entries;
  uint16_t last;  // 1 on the final message
};
struct Entry {
  char port[RTE_ETH_NAME_MAX_LEN];
  uint32_t generation;
  uint16_t count;  // the port's fds, all in this message, in queue order
};
struct Message {
  Header h;
  Entry e[kEntriesPerMessage];
};

int64_t now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}
int64_t now_ms() {
  return now_us() / 1000;
}

std::string socket_path() {
  return std::string(rte_eal_get_runtime_dir()) + "/net_rtap_fds";
}

bool fill_address(sockaddr_un* a, const std::string& path) {
  memset(a, 0, sizeof(*a));
  a->sun_family = AF_UNIX;
  if (path.size() >= sizeof(a->sun_path)) return false;
  memcpy(a->sun_path, path.c_str(), path.size() + 1);
  return true;
}

void set_timeouts(int fd, timeval rcv) {
  timeval snd{kTimeoutS, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
}

// ---- the primary's side -------------------------------------------------------------------------

int listen_fd = -1;
pthread_t server_thread;
bool server_running = false;

bool send_message(int fd, const Message& m, const std::vector<int>& fds) {
  iovec iov{const_cast<Message*>(&m), sizeof(Header) + m.h.nb_entries * sizeof(Entry)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kFdsPerMessage)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  return sendmsg(fd, &msg, MSG_NOSIGNAL) >= 0;
}

void close_all(std::vector<int>* fds) {
  for (int f : *fds) close(f);
  fds->clear();
}

// Sends every rtap port's fds (duplicates, closed once sent), then the final message.
void serve(int conn) {
  Message m{};
  m.h.magic = kMagic;
  std::vector<int> fds;
  bool ok = true;
  auto flush = [&](bool last) {
    m.h.last = last ? 1 : 0;
    ok = ok && send_message(conn, m, fds);
    close_all(&fds);
    m.h.nb_entries = 0;
  };
  std::lock_guard<std::mutex> ports(primary_ports_lock());
  for (uint16_t id = 0; id < RTE_MAX_ETHPORTS && ok; id++) {
    rte_eth_dev* dev = &rte_eth_devices[id];
    if (dev->state == RTE_ETH_DEV_UNUSED || !is_rtap_port(dev)) continue;
    rtap_process* p = proc_of(dev);
    if (p == nullptr || p->secondary) continue;
    std::lock_guard<std::mutex> g(p->fds_lock);
    if (p->nb_fds == 0) continue;
    if (m.h.nb_entries == kEntriesPerMessage || fds.size() + p->nb_fds > kFdsPerMessage)
      flush(false);
    Entry& e = m.e[m.h.nb_entries];
    rte_strscpy(e.port, dev->data->name, sizeof(e.port));
    e.generation = __atomic_load_n(&shared_of(dev)->generation, __ATOMIC_ACQUIRE);
    e.count = 0;
    for (unsigned i = 0; i < p->nb_fds; i++) {
      int d = fcntl(p->fds[i], F_DUPFD_CLOEXEC, 0);
      if (d < 0) break;
      fds.push_back(d);
      e.count++;
    }
    if (e.count == p->nb_fds) {
      m.h.nb_entries++;
    } else {  // out of fds here: the secondary asks for this port over rte_mp
      for (unsigned i = 0; i < e.count; i++) close(fds.back()), fds.pop_back();
    }
  }
  flush(true);
}

bool peer_is_us(int conn) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  return getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == geteuid();
}

void* server_main(void*) {
  for (;;) {
    int conn = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return nullptr;  // shut down (fd_channel_stop)
    }
    // One client at a time: a secondary sends its request right after connecting, so one that
    // says nothing is dropped after kRequestWaitMs and does not hold up the next.
    set_timeouts(conn, timeval{0, kRequestWaitMs * 1000});
    Header req{};
    if (peer_is_us(conn) && recv(conn, &req, sizeof(req), 0) == sizeof(req) && req.magic == kMagic)
      serve(conn);
    close(conn);
  }
}

// ---- the secondary's side -----------------------------------------------------------------------

struct Cached {
  uint32_t generation;
  std::vector<int> fds;
};
std::mutex cache_lock;
std::map<std::string, Cached> cache;
bool cache_tried = false;
int64_t cache_loaded_ms = 0;
std::atomic<bool> cache_nonempty{false};
std::atomic<uint64_t> ports_in_bulk{0}, ports_per_request{0};

bool channel_enabled() {
  const char* v = getenv("RTAP_FD_CHANNEL");
  return v == nullptr || strcmp(v, "0") != 0;
}

// Reads messages until the final one; false on any error (what was read so far is kept).
bool receive_all(int fd) {
  for (;;) {
    Message m{};
    iovec iov{&m, sizeof(m)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kFdsPerMessage)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    std::vector<int> fds;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); n > 0 && c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const int* p = reinterpret_cast<const int*>(CMSG_DATA(c));
      fds.insert(fds.end(), p, p + k);
    }
    const bool whole = n >= static_cast<ssize_t>(sizeof(Header)) && m.h.magic == kMagic &&
                       m.h.nb_entries <= kEntriesPerMessage &&
                       static_cast<size_t>(n) == sizeof(Header) + m.h.nb_entries * sizeof(Entry) &&
                       (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) == 0;
    size_t want = 0;
    for (unsigned i = 0; whole && i < m.h.nb_entries; i++) want += m.e[i].count;
    if (!whole || want != fds.size()) {
      close_all(&fds);
      return false;
    }
    size_t at = 0;
    for (unsigned i = 0; i < m.h.nb_entries; i++) {
      const Entry& e = m.e[i];
      Cached c{e.generation, std::vector<int>(fds.begin() + at, fds.begin() + at + e.count)};
      at += e.count;
      std::string name(e.port, strnlen(e.port, sizeof(e.port)));
      auto old = cache.find(name);
      if (old != cache.end()) close_all(&old->second.fds);
      cache[name] = std::move(c);
    }
    if (m.h.last) return true;
  }
}

void load_cache() {
  const int64_t t0 = now_us();
  sockaddr_un a;
  if (!fill_address(&a, socket_path())) return;
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  set_timeouts(fd, timeval{kTimeoutS, 0});
  const Header req{kMagic, 0, 0};
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      send(fd, &req, sizeof(req), MSG_NOSIGNAL) == sizeof(req) && !receive_all(fd))
    PMD_LOG(WARNING,
            "the primary's fd channel ended early; the ports it did not cover ask over "
            "rte_mp");
  close(fd);
  cache_loaded_ms = now_ms();
  cache_nonempty.store(!cache.empty(), std::memory_order_relaxed);
  size_t nfds = 0;
  for (const auto& [name, c] : cache) nfds += c.fds.size();
  PMD_LOG(INFO, "the queue fds of %zu ports (%zu fds) from the primary in one exchange, %.1f ms",
          cache.size(), nfds, static_cast<double>(now_us() - t0) / 1000.0);
}

void purge_locked() {
  for (auto& [name, c] : cache) close_all(&c.fds);
  cache.clear();
  cache_nonempty.store(false, std::memory_order_relaxed);
}

}  // namespace

std::mutex& primary_ports_lock() {
  static std::mutex m;
  return m;
}

int fd_channel_start() {
  sockaddr_un a;
  const std::string path = socket_path();
  if (!fill_address(&a, path)) return -ENAMETOOLONG;
  listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) return -errno;
  unlink(path.c_str());  // left by a primary of the same prefix that was killed
  int rc = 0;
  if (bind(listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 ||
      chmod(path.c_str(), 0600) < 0 || listen(listen_fd, 16) < 0)
    rc = -errno;
  if (rc == 0)
    rc = rte_ctrl_thread_create(&server_thread, "rtap-fds", nullptr, server_main, nullptr);
  if (rc != 0) {
    close(listen_fd);
    listen_fd = -1;
    unlink(path.c_str());
    PMD_LOG(WARNING, "no fd channel at %s (%s): secondaries ask for each port's fds over rte_mp",
            path.c_str(), strerror(-rc));
    return rc;
  }
  server_running = true;
  return 0;
}

void fd_channel_stop() {
  if (!server_running) return;
  shutdown(listen_fd, SHUT_RDWR);  // accept() fails: the thread returns
  pthread_join(server_thread, nullptr);
  close(listen_fd);
  listen_fd = -1;
  unlink(socket_path().c_str());
  server_running = false;
}

int fd_channel_take(rte_eth_dev* dev) {
  std::lock_guard<std::mutex> g(cache_lock);
  if (!cache_tried) {
    cache_tried = true;  // once per process: a port attached later asks over rte_mp
    if (channel_enabled()) load_cache();
  }
  auto it = cache.find(dev->data->name);
  if (it == cache.end()) return -ENOENT;
  Cached c = std::move(it->second);
  cache.erase(it);
  cache_nonempty.store(!cache.empty(), std::memory_order_relaxed);
  rtap_process* p = proc_of(dev);
  const uint32_t now_generation = __atomic_load_n(&shared_of(dev)->generation, __ATOMIC_ACQUIRE);
  if (c.generation != now_generation || c.fds.size() > kMaxQueues) {
    close_all(&c.fds);  // re-configured since: the current fds come over rte_mp
    return -ENOENT;
  }
  for (size_t i = 0; i < c.fds.size(); i++) p->fds[i] = c.fds[i];
  p->nb_fds = static_cast<uint16_t>(c.fds.size());
  p->generation = c.generation;
  ports_in_bulk.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

void fd_channel_count_request() {
  ports_per_request.fetch_add(1, std::memory_order_relaxed);
}

void fd_channel_purge() {
  if (!cache_nonempty.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> g(cache_lock);
  if (now_ms() - cache_loaded_ms >= kCacheTtlMs) purge_locked();
}

}  // namespace rtap

int rte_pmd_rtap_fd_sources(uint64_t* in_bulk, uint64_t* per_port) {
  if (in_bulk == nullptr || per_port == nullptr) return -EINVAL;
  *in_bulk = rtap::ports_in_bulk.load(std::memory_order_relaxed);
  *per_port = rtap::ports_per_request.load(std::memory_order_relaxed);
  return 0;
}
