// A request/reply server for the daemon's management sockets (the control socket, the metrics
// endpoint) that no client can stall: one I/O thread polls every connection, reads each request
// whole within a deadline and a size limit, hands it on (the handler answers later, from any
// thread) and writes the reply without blocking. The number of connections is capped: at the cap
// the oldest connection that has not sent its request yet is closed to make room, and only when
// every connection has a request being answered is the new one refused. Each of these ends gets
// an error reply (the protocol words it) and is counted.
#pragma once
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace vs {

struct ServerLimits {
  std::size_t max_clients = 64;
  std::chrono::milliseconds request_timeout{5000};  // from accept to the whole request
  std::chrono::milliseconds reply_timeout{10000};   // for the client to take a ready reply
  std::size_t max_request = 64 * 1024;              // bytes of one request
};

// Written by the I/O thread only, read by the metrics exporter.
struct ServerCounters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> refused{0};    // every slot had a request being answered
  std::atomic<uint64_t> evicted{0};    // closed at the cap to make room: had sent no request yet
  std::atomic<uint64_t> timed_out{0};  // request not whole in time, or reply not taken in time
  std::atomic<uint64_t> oversized{0};  // request larger than the limit
  std::atomic<uint64_t> at_cap{0};     // connections that arrived with every slot taken
  std::atomic<int64_t> open{0};        // connections now
  std::atomic<int64_t> limit{0};       // the cap
};

class BoundedServer {
 public:
  // Why a connection ends early; the protocol turns it into its own error reply.
  enum class Refusal { kAtCap, kEvicted, kTimeout, kTooLarge, kBadRequest };
  // Called once per request, on the I/O thread; must not block. `reply` may be called once,
  // from any thread, now or later (also after stop(): then it does nothing).
  using Reply = std::function<void(std::string)>;
  struct Protocol {
    // > 0: a whole request of that many bytes is at the start of `buf`; 0: not yet whole;
    // < 0: malformed (reply `error` and close). `eof`: the client will send no more.
    std::function<std::ptrdiff_t(std::string_view buf, bool eof, std::string& error)> frame;
    std::function<void(std::string request, Reply reply)> handle;
    std::function<std::string(Refusal, const std::string& detail)> refusal;
    // Optional: checks a new peer; a non-empty return is sent and the connection closed.
    std::function<std::string(int fd)> admit;
    // Optional: a request that keeps its connection (a capture streams until it ends). Called
    // on the I/O thread, before `handle`, with the whole request, the connection's fd and the
    // fds the client passed with the request (SCM_RIGHTS, at most kMaxPassedFds). Returning
    // true hands them all over and the server forgets the connection; false: `handle` answers
    // as usual, and the passed fds are closed. Must not block.
    std::function<bool(const std::string& request, int fd, std::vector<int>& fds)> take;
  };
  static constexpr int kMaxPassedFds = 4;

  BoundedServer(std::string name, ServerLimits limits, Protocol protocol);
  ~BoundedServer();
  BoundedServer(const BoundedServer&) = delete;
  BoundedServer& operator=(const BoundedServer&) = delete;

  // Serves connections accepted on `listen_fd` (a listening socket; the server closes it).
  std::string start(int listen_fd);
  void stop();
  const ServerCounters& counters() const { return counters_; }
  const ServerLimits& limits() const { return limits_; }

 private:
  struct Inbox;
  struct Conn;
  void run();

  std::string name_;
  ServerLimits limits_;
  Protocol protocol_;
  ServerCounters counters_;
  std::shared_ptr<Inbox> inbox_;
  int listen_fd_ = -1;
  std::thread thread_;
};

}  // namespace vs
