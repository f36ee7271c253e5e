#include "daemon/bounded_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace vs {
namespace {

using Clock = std::chrono::steady_clock;

// After the reply (or an error) is sent, the server stops writing and reads what the client may
// still send for this long, so that closing with unread data does not reset the connection
// before the client has read the reply.
constexpr auto kLinger = std::chrono::milliseconds(1000);
constexpr int kAcceptsPerPoll = 64;

// One non-blocking try: a connection that is refused or evicted gets its reason if its socket
// buffer takes it, and is closed at once in any case.
void send_and_close(int fd, const std::string& msg) {
  if (!msg.empty()) {
    ssize_t n = send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
  }
  shutdown(fd, SHUT_WR);
  close(fd);
}

// The fds a client passed (SCM_RIGHTS) until they are handed over; closed otherwise.
class PassedFds {
 public:
  PassedFds() = default;
  PassedFds(PassedFds&& o) noexcept : fds_(std::move(o.fds_)) { o.fds_.clear(); }
  PassedFds& operator=(PassedFds&& o) noexcept {
    reset();
    fds_ = std::move(o.fds_);
    o.fds_.clear();
    return *this;
  }
  ~PassedFds() { reset(); }
  void add(int fd) { fds_.push_back(fd); }
  std::vector<int>& fds() { return fds_; }
  void reset() {
    for (int fd : fds_) close(fd);
    fds_.clear();
  }

 private:
  std::vector<int> fds_;
};

// recv() that also takes the fds passed with the bytes (up to kMaxPassedFds; the kernel closes
// any beyond what the buffer holds).
ssize_t recv_with_fds(int fd, char* buf, std::size_t len, PassedFds& passed) {
  iovec iov{buf, len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * BoundedServer::kMaxPassedFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int passed_fd;
      std::memcpy(&passed_fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      passed.add(passed_fd);
    }
  }
  return n;
}

}  // namespace

struct BoundedServer::Inbox {
  std::mutex mu;
  std::vector<std::pair<uint64_t, std::string>> replies;
  int wake_fd = -1;
  bool stopping = false;
  bool closed = false;

  void wake() {
    uint64_t one = 1;
    if (write(wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN) std::perror("vswitchd: wake");
  }
  void post(uint64_t id, std::string reply) {
    std::lock_guard lock(mu);
    if (closed) return;
    replies.emplace_back(id, std::move(reply));
    wake();
  }
};

struct BoundedServer::Conn {
  enum class State { kReading, kWaiting, kWriting, kDraining };
  int fd = -1;
  State state = State::kReading;
  Clock::time_point deadline;
  std::string in, out;
  std::size_t out_off = 0;
  bool refused = false;  // `out` is an error reply, not the handler's
  PassedFds passed;
};

BoundedServer::BoundedServer(std::string name, ServerLimits limits, Protocol protocol)
    : name_(std::move(name)), limits_(limits), protocol_(std::move(protocol)) {
  counters_.limit = static_cast<int64_t>(limits_.max_clients);
}

BoundedServer::~BoundedServer() {
  stop();
}

std::string BoundedServer::start(int listen_fd) {
  if (fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK) != 0) {
    close(listen_fd);
    return name_ + ": " + std::strerror(errno);
  }
  inbox_ = std::make_shared<Inbox>();
  inbox_->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (inbox_->wake_fd < 0) {
    close(listen_fd);
    return name_ + ": eventfd: " + std::strerror(errno);
  }
  listen_fd_ = listen_fd;
  thread_ = std::thread([this] { run(); });
  return {};
}

void BoundedServer::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(inbox_->mu);
    inbox_->stopping = true;
    inbox_->wake();
  }
  thread_.join();
  {
    std::lock_guard lock(inbox_->mu);
    inbox_->closed = true;  // replies that come later are dropped
    close(inbox_->wake_fd);
    inbox_->wake_fd = -1;
  }
  close(listen_fd_);
  listen_fd_ = -1;
}

void BoundedServer::run() {
  std::map<uint64_t, Conn> conns;  // by accept order: the first is the oldest
  uint64_t next_id = 1;
  Clock::time_point accept_paused_until{};
  std::vector<pollfd> fds;
  std::vector<uint64_t> ids;
  const auto forever = Clock::time_point::max();

  auto finish = [](Conn& c, std::string msg, Clock::time_point now, Clock::duration within) {
    c.out = std::move(msg);
    c.out_off = 0;
    c.state = Conn::State::kWriting;
    c.deadline = now + within;
    c.refused = within == kLinger;
  };
  // Writes what it can; false when the connection is done with.
  auto flush = [&](Conn& c, Clock::time_point now) {
    while (c.out_off < c.out.size()) {
      ssize_t n = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      if (n <= 0) return false;
      c.out_off += static_cast<std::size_t>(n);
    }
    shutdown(c.fd, SHUT_WR);
    c.out.clear();
    c.state = Conn::State::kDraining;
    c.deadline = now + kLinger;
    return true;
  };
  // Reads what is there; false when the connection is done with.
  auto on_readable = [&](uint64_t id, Conn& c, Clock::time_point now) {
    char buf[16384];
    for (;;) {
      ssize_t n = recv_with_fds(c.fd, buf, sizeof(buf), c.passed);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      const bool eof = n <= 0;
      if (c.state == Conn::State::kDraining) {
        if (eof) return false;
        continue;  // discarded
      }
      if (c.state != Conn::State::kReading) return !eof;
      if (!eof) c.in.append(buf, static_cast<std::size_t>(n));
      std::string error;
      std::ptrdiff_t len = protocol_.frame(c.in, eof, error);
      if (len < 0) {
        finish(c, protocol_.refusal(Refusal::kBadRequest, error), now, kLinger);
        return flush(c, now);
      }
      if (len > 0 && static_cast<std::size_t>(len) <= limits_.max_request) {
        c.in.resize(static_cast<std::size_t>(len));
        if (protocol_.take && protocol_.take(c.in, c.fd, c.passed.fds())) {
          c.passed.fds().clear();  // theirs now, and so is the connection
          c.fd = -1;
          return false;
        }
        c.passed.reset();
        c.state = Conn::State::kWaiting;
        c.deadline = forever;
        std::shared_ptr<Inbox> inbox = inbox_;
        protocol_.handle(std::move(c.in),
                         [inbox, id](std::string reply) { inbox->post(id, std::move(reply)); });
        c.in = std::string();
        return true;
      }
      if (len > 0 || c.in.size() > limits_.max_request) {
        counters_.oversized.fetch_add(1, std::memory_order_relaxed);
        finish(c, protocol_.refusal(Refusal::kTooLarge, {}), now, kLinger);
        return flush(c, now);
      }
      if (eof) return false;  // gone before its request was whole
    }
  };
  auto accept_new = [&](Clock::time_point now) {
    for (int i = 0; i < kAcceptsPerPoll; ++i) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          std::fprintf(stderr,
                       "vswitchd: %s: cannot accept a connection: %s (raise the fd limit, "
                       "ulimit -n / LimitNOFILE, or lower the connection cap)\n",
                       name_.c_str(), std::strerror(errno));
          accept_paused_until = now + std::chrono::milliseconds(100);
        }
        return;
      }
      counters_.accepted.fetch_add(1, std::memory_order_relaxed);
      if (protocol_.admit) {
        if (std::string why = protocol_.admit(fd); !why.empty()) {
          send_and_close(fd, why);
          continue;
        }
      }
      if (conns.size() >= limits_.max_clients) {
        counters_.at_cap.fetch_add(1, std::memory_order_relaxed);
        auto idle = std::find_if(conns.begin(), conns.end(), [](const auto& kv) {
          return kv.second.state == Conn::State::kReading;
        });
        if (idle == conns.end()) {
          counters_.refused.fetch_add(1, std::memory_order_relaxed);
          send_and_close(fd, protocol_.refusal(Refusal::kAtCap, {}));
          continue;
        }
        counters_.evicted.fetch_add(1, std::memory_order_relaxed);
        send_and_close(idle->second.fd, protocol_.refusal(Refusal::kEvicted, {}));
        conns.erase(idle);
      }
      Conn c;
      c.fd = fd;
      c.deadline = now + limits_.request_timeout;
      conns.emplace(next_id++, std::move(c));
    }
  };

  for (;;) {
    auto now = Clock::now();
    Clock::time_point next = forever;
    fds.clear();
    ids.clear();
    fds.push_back({inbox_->wake_fd, POLLIN, 0});
    const bool accepting = now >= accept_paused_until;
    fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
    if (!accepting) next = accept_paused_until;
    for (auto& [id, c] : conns) {
      short ev = 0;
      if (c.state == Conn::State::kReading || c.state == Conn::State::kDraining) ev = POLLIN;
      if (c.state == Conn::State::kWriting) ev = POLLOUT;
      fds.push_back({c.fd, ev, 0});
      ids.push_back(id);
      next = std::min(next, c.deadline);
    }
    counters_.open.store(static_cast<int64_t>(conns.size()), std::memory_order_relaxed);
    int timeout_ms = -1;
    if (next != forever)
      timeout_ms = static_cast<int>(std::clamp<int64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1, 0, 60000));
    if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
      std::perror("vswitchd: poll");
      return;
    }
    now = Clock::now();
    if (fds[0].revents) {
      uint64_t n;
      if (read(inbox_->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN) std::perror("vswitchd");
      std::vector<std::pair<uint64_t, std::string>> replies;
      {
        std::lock_guard lock(inbox_->mu);
        if (inbox_->stopping) break;
        replies.swap(inbox_->replies);
      }
      for (auto& [id, reply] : replies) {
        auto it = conns.find(id);
        if (it == conns.end() || it->second.state != Conn::State::kWaiting) continue;
        finish(it->second, std::move(reply), now, limits_.reply_timeout);
        if (!flush(it->second, now)) {
          close(it->second.fd);
          conns.erase(it);
        }
      }
    }
    for (std::size_t i = 2; i < fds.size(); ++i) {
      const short rev = fds[i].revents;
      if (!rev) continue;
      auto it = conns.find(ids[i - 2]);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      bool keep = true;
      if (c.state == Conn::State::kWriting && (rev & POLLOUT))
        keep = flush(c, now);
      else if (rev & (POLLIN | POLLHUP | POLLERR))
        keep = (c.state == Conn::State::kWaiting || c.state == Conn::State::kWriting)
                   ? !(rev & (POLLHUP | POLLERR))
                   : on_readable(it->first, c, now);
      if (!keep) {
        if (c.fd >= 0) close(c.fd);
        conns.erase(it);
      }
    }
    for (auto it = conns.begin(); it != conns.end();) {
      Conn& c = it->second;
      if (now < c.deadline) {
        ++it;
        continue;
      }
      if (c.state == Conn::State::kReading) {
        counters_.timed_out.fetch_add(1, std::memory_order_relaxed);
        finish(c, protocol_.refusal(Refusal::kTimeout, {}), now, kLinger);
        if (flush(c, now)) {
          ++it;
          continue;
        }
      } else if (c.state == Conn::State::kWriting && !c.refused) {
        counters_.timed_out.fetch_add(1, std::memory_order_relaxed);  // reply not taken
      }
      close(c.fd);
      it = conns.erase(it);
    }
    if (fds[1].revents & POLLIN) accept_new(now);
  }
  for (auto& [id, c] : conns) close(c.fd);
  counters_.open.store(0, std::memory_order_relaxed);
}

}  // namespace vs
