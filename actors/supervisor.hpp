// Starts the vswitch-worker processes, watches each through a pidfd, and restarts a worker that
// exits with exponential back-off. The daemon's event loop polls the pidfds.
#pragma once
#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "actors/eal.hpp"

namespace vs {

struct SupervisorOptions {
  std::string worker_binary;
  EalOptions eal;
  std::vector<int> worker_cpus;  // one per worker
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds healthy_after{10000};  // a run this long resets the back-off
  bool restart = true;
};

struct WorkerStatus {
  int id = 0;
  pid_t pid = 0;  // 0 when not running
  bool running = false;
  bool failed = false;  // gave up: the worker cannot start (bad usage)
  uint64_t starts = 0;
  uint64_t restarts = 0;  // starts after the first
  std::string last_exit;  // "exit 70", "signal 9", ...
};

class WorkerSupervisor {
 public:
  using clock = std::chrono::steady_clock;
  // Called (from the event loop) after a worker exited and before it is restarted.
  using ExitHook = std::function<void(int worker_id)>;

  WorkerSupervisor(SupervisorOptions opts, ExitHook on_exit);
  ~WorkerSupervisor();

  std::string start_all();
  void add_poll_fds(std::vector<pollfd>& fds) const;
  void on_pidfd_ready(int fd);
  void run_due_restarts();
  int ms_until_next_restart() const;  // -1 when none is due
  void stop_all(std::chrono::milliseconds grace);
  std::vector<WorkerStatus> status() const;

 private:
  struct Worker {
    WorkerStatus st;
    int pidfd = -1;
    clock::time_point started;
    clock::time_point restart_at;
    bool restart_pending = false;
    std::chrono::milliseconds backoff{0};
  };
  std::string spawn(Worker& w);
  void reap(Worker& w);

  SupervisorOptions opts_;
  ExitHook on_exit_;
  mutable std::mutex mu_;  // guards workers_ status against the metrics thread
  std::vector<Worker> workers_;
  bool stopping_ = false;
};

}  // namespace vs
