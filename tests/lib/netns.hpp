// NetnsVm: a named network namespace standing in for a VM. Creates /run/netns/NAME, can take an
// interface in, configure it and run commands inside; deletes the namespace (and with it every
// interface still inside) in its destructor.
#pragma once

#include <functional>
#include <string>

namespace vstest {

class NetnsVm {
 public:
  explicit NetnsVm(std::string name);
  ~NetnsVm();
  NetnsVm(const NetnsVm&) = delete;
  NetnsVm& operator=(const NetnsVm&) = delete;

  const std::string& name() const { return name_; }
  // Runs `sh -c cmd` inside the namespace; returns the exit status / stdout.
  int sh(const std::string& cmd) const;
  std::string out(const std::string& cmd) const;
  // Moves ifname (from the caller's namespace) in, then configures it.
  void adopt(const std::string& ifname) const;
  void configure(const std::string& ifname, unsigned mtu, const std::string& cidr,
                 bool up = true) const;
  // Runs f on a thread that has joined the namespace (sockets opened there stay there).
  int in(const std::function<int()>& f) const;

 private:
  std::string name_;
};

// AF_PACKET socket bound to one interface, optionally inside a namespace.
class PacketSocket {
 public:
  PacketSocket(const std::string& ifname, const NetnsVm* ns = nullptr, bool vnet_hdr = false);
  ~PacketSocket();
  bool ok() const { return fd_ >= 0; }
  int send(const void* frame, size_t len);
  // One frame, or -1 after timeout_ms.
  int recv(void* buf, size_t cap, int timeout_ms);
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  int ifindex_ = 0;
};

}  // namespace vstest
