// The control socket: a unix stream socket (mode 0600, owned by root) on which vswitchctl sends
// one request line and reads one reply line (control_protocol.hpp). Its clients are served at
// once by one I/O thread (bounded_server.hpp): each request must arrive whole within
// [daemon] control_request_timeout_ms and be at most kMaxControlRequest bytes, at most
// [daemon] control_max_clients connections are open at once, and a request goes to the actors
// as soon as it is whole; the reply is written when they answer, whatever other clients do.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ctl/control_protocol.hpp"
#include "daemon/bounded_server.hpp"

namespace vs {

class ControlServer {
 public:
  // Turns a request into actor requests; calls `reply` once, from any thread, with the reply
  // line (without the newline). Must not block.
  using Reply = BoundedServer::Reply;
  using Handler = std::function<void(const ControlRequest&, Reply reply)>;

  // A request that keeps its connection (capture): gets the request, the connection's fd and
  // the fds passed with it, and owns them all from then on. Called on the I/O thread: must not
  // block. Without a taker, such requests are refused.
  using Taker = std::function<void(const ControlRequest&, int fd, std::vector<int> fds)>;

  ControlServer(std::string path, ServerLimits limits, Handler handler, Taker taker = nullptr);
  ~ControlServer();

  // Binds and starts serving. Returns an empty string or why not, with the fix.
  std::string start();
  void stop();
  const ServerCounters& counters() const { return server_->counters(); }

 private:
  std::string path_;
  std::unique_ptr<BoundedServer> server_;
  bool started_ = false;
};

// The control socket's words for a connection it ends early (one JSON line).
std::string control_refusal(BoundedServer::Refusal why, const std::string& detail,
                            const ServerLimits& limits);
// The framing of a control request: one line, or what came before the client shut down its side.
std::ptrdiff_t control_frame(std::string_view buf, bool eof, std::string& error);

}  // namespace vs
