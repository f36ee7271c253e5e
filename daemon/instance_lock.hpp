// One vswitchd per runtime directory and per control socket: a file locked with flock(2) for the
// daemon's lifetime. The kernel drops the lock when the process ends, however it ends, so a file
// left by a killed daemon is taken over by the next one; a live holder is named in the refusal.
#pragma once
#include <sys/types.h>

#include <memory>
#include <string>

namespace vs {

class InstanceLock {
 public:
  // Locks `path` (created if absent) and writes our pid into it. On failure returns nullptr and
  // says why in `error`; `holder` is the pid written by the process that holds the lock (0 if
  // unknown). `stale_pid` is set when the file named a process that no longer holds it (taken
  // over).
  static std::unique_ptr<InstanceLock> acquire(const std::string& path, std::string& error,
                                               pid_t& holder, pid_t& stale_pid);
  // Removes the file (while still holding the lock), then releases it.
  ~InstanceLock();
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  InstanceLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

// The pid written in a lock file, 0 if none.
pid_t read_lock_pid(const std::string& path);

}  // namespace vs
