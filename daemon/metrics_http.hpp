// The metrics endpoint's HTTP server: GET /metrics over HTTP/1.1, one request per connection.
// One I/O thread (bounded_server.hpp) reads each request head within a deadline and a size
// limit, with a cap on connections, so no client can hold a thread; `threads` threads render the
// scrapes, so a scrape never waits for another.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "daemon/bounded_server.hpp"

namespace vs {

inline constexpr std::size_t kMaxHttpRequest = 8 * 1024;  // the request line and headers

// > 0: a whole request head of that many bytes; 0: not yet; < 0: malformed.
std::ptrdiff_t http_frame(std::string_view buf, bool eof, std::string& error);
// The reply for a connection ended early (503, 408, 431, 400).
std::string http_refusal(BoundedServer::Refusal why, const std::string& detail,
                         const ServerLimits& limits);
// The reply to a whole request head: 200 with `body()` for GET (or HEAD) /metrics, else 404/405.
std::string http_reply(std::string_view request, const std::function<std::string()>& body);

class MetricsHttpServer {
 public:
  MetricsHttpServer(ServerLimits limits, int threads, std::function<std::string()> render);
  ~MetricsHttpServer();
  // HTTP basic auth (user -> bcrypt hash, Prometheus's `basic_auth_users`); call before start().
  // Empty: no authentication.
  void set_basic_auth(std::map<std::string, std::string> users) { users_ = std::move(users); }
  // Requests answered 401 (no, or wrong, credentials).
  uint64_t unauthorized() const { return unauthorized_.load(std::memory_order_relaxed); }
  // "a.b.c.d:port" or "[v6]:port" (port 0: any free one). Empty string or why not.
  std::string start(const std::string& listen);
  void stop();
  int port() const { return port_; }
  const ServerCounters& counters() const { return server_->counters(); }

 private:
  void work();
  bool authorized(std::string_view request);

  std::function<std::string()> render_;
  int nb_threads_;
  std::unique_ptr<BoundedServer> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, BoundedServer::Reply>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  int port_ = 0;
  std::map<std::string, std::string> users_;
  std::mutex auth_mu_;
  std::set<std::string> auth_ok_;  // "user:password" pairs already checked (bcrypt is slow)
  std::atomic<uint64_t> unauthorized_{0};
};

}  // namespace vs
