#include "daemon/instance_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace vs {

pid_t read_lock_pid(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[32] = {};
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  long v = std::strtol(buf, nullptr, 10);
  return v > 0 ? static_cast<pid_t>(v) : 0;
}

std::unique_ptr<InstanceLock> InstanceLock::acquire(const std::string& path, std::string& error,
                                                    pid_t& holder, pid_t& stale_pid) {
  holder = 0;
  stale_pid = 0;
  // The previous holder unlinks the file before it unlocks: a lock won on a file that has been
  // unlinked meanwhile guards nothing, so check that the path still names the locked file.
  for (int attempt = 0; attempt < 10; ++attempt) {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
      error = "cannot open " + path + ": " + std::strerror(errno);
      return nullptr;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      close(fd);
      if (e == EWOULDBLOCK) {
        holder = read_lock_pid(path);
        error =
            path + " is locked by " +
            (holder ? "vswitchd pid " + std::to_string(holder) : std::string("another process"));
      } else {
        error = "cannot lock " + path + ": " + std::strerror(e);
      }
      return nullptr;
    }
    struct stat by_fd, by_path;
    if (fstat(fd, &by_fd) != 0 || stat(path.c_str(), &by_path) != 0 ||
        by_fd.st_ino != by_path.st_ino || by_fd.st_dev != by_path.st_dev) {
      close(fd);
      continue;
    }
    pid_t old = read_lock_pid(path);
    if (old > 0 && old != getpid()) stale_pid = old;
    const std::string text = std::to_string(getpid()) + "\n";
    if (ftruncate(fd, 0) != 0 ||
        pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
      error = "cannot write " + path + ": " + std::strerror(errno);
      close(fd);
      return nullptr;
    }
    return std::unique_ptr<InstanceLock>(new InstanceLock(path, fd));
  }
  error = path + " keeps being replaced while we lock it";
  return nullptr;
}

InstanceLock::~InstanceLock() {
  unlink(path_.c_str());
  close(fd_);
}

}  // namespace vs
