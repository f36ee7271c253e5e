// A stand-in for systemd's side of the notify protocol (daemon/systemd_notify.hpp): a datagram
// socket that receives what a SystemdNotify sends, with the sender's pid (SO_PASSCRED).
#pragma once
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace vs::test {

class NotifyListener {
 public:
  // `path`: a file path, or "@name" for an abstract socket.
  explicit NotifyListener(std::string path) : path_(std::move(path)) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path_.data(), path_.size());
    if (path_[0] == '@') sa.sun_path[0] = '\0';
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size() +
                                            (path_[0] == '@' ? 0 : 1));
    int on = 1;
    setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on));
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~NotifyListener() {
    if (fd_ >= 0) close(fd_);
    if (!path_.empty() && path_[0] == '/') unlink(path_.c_str());
  }
  bool ok() const { return fd_ >= 0; }

  // The next datagram within `timeout_ms`, or "" (and sender -1).
  std::string next(int timeout_ms = 1000, pid_t* sender = nullptr) {
    if (sender != nullptr) *sender = -1;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return "";
    char buf[4096];
    char ctl[CMSG_SPACE(sizeof(ucred))];
    iovec iov{buf, sizeof(buf)};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof(ctl);
    const ssize_t n = recvmsg(fd_, &m, 0);
    if (n < 0) return "";
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && sender != nullptr)
        *sender = reinterpret_cast<ucred*>(CMSG_DATA(c))->pid;
    return std::string(buf, static_cast<size_t>(n));
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace vs::test
