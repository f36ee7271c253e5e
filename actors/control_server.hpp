// The control socket: a unix stream socket (mode 0600, owned by root) on which vswitchctl sends
// one request line and reads one reply line (control_protocol.hpp). It runs on its own thread
// and serves one client at a time; the handler turns a request into actor requests.
#pragma once
#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "actors/control_protocol.hpp"

namespace vs {

class ControlServer {
 public:
  using Handler = std::function<std::string(const ControlRequest&)>;

  ControlServer(std::string path, Handler handler);
  ~ControlServer();

  // Binds and starts serving. Returns an empty string or why not, with the fix.
  std::string start();
  void stop();

 private:
  void run();
  void serve_one(int fd);

  std::string path_;
  Handler handler_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;
  std::thread thread_;
};

}  // namespace vs
