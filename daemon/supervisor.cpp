#include "daemon/supervisor.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "daemon/hotplug_gate.hpp"
#include "shm/counters.hpp"
#include "shm/shm_names.hpp"
#include "switch/schedstat.hpp"

namespace vs {
namespace {

int pidfd_open(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// The worker's end of the attach pipe: fds 0-2 are its stdio.
constexpr int kAttachedFd = 3;
// How long a worker start waits for a port change (a removal whose first try times out takes
// about 7 s) and how long a worker may take in rte_eal_init before the gate lets changes by.
constexpr std::chrono::milliseconds kPortChangeWait{25000};
constexpr std::chrono::milliseconds kAttachTimeout{10000};

// Off the supervisor's thread: the worker's EAL start-up takes milliseconds, and its end (the
// pipe closed by the worker, or by its exit) opens the gate to port changes again.
void wait_for_attach(int fd, int worker) {
  std::thread([fd, worker] {
    pollfd p{fd, POLLIN, 0};
    int rc;
    do {
      rc = poll(&p, 1, static_cast<int>(kAttachTimeout.count()));
    } while (rc < 0 && errno == EINTR);
    if (rc == 0)
      std::fprintf(stderr,
                   "vswitchd: worker %d has been in DPDK's start-up for %lld ms; port changes no "
                   "longer wait for it (a worker hung in rte_eal_init: `vswitchctl show workers`, "
                   "then `vswitchctl worker restart %d`)\n",
                   worker, static_cast<long long>(kAttachTimeout.count()), worker);
    close(fd);
    HotplugGate::instance().end_attach();
  }).detach();
}

}  // namespace

std::string WorkerStatus::state() const {
  if (failed) return "failed";
  if (replacing_pid) return "replacing";
  if (stalled) return "stalled";
  if (running) return "running";
  if (restart_pending) return "restarting";
  return "stopped";
}

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t stall_age_ns(const WorkerBeat& b, uint64_t now_ns, uint64_t run_delay_now_ns) {
  if (now_ns <= b.beat_ns) return 0;
  const uint64_t age = now_ns - b.beat_ns;
  const uint64_t waited = run_delay_now_ns > b.run_delay_ns && b.run_delay_ns != 0
                              ? run_delay_now_ns - b.run_delay_ns
                              : 0;
  return age - std::min(age, waited);
}

StallVerdict judge_heartbeat(const WorkerBeat& b, pid_t current, uint64_t now_ns,
                             uint64_t run_delay_now_ns, uint64_t deadline_ns) {
  if (current <= 0 || b.pid != current || b.state != static_cast<uint32_t>(WorkerState::kRunning))
    return StallVerdict::kNotJudged;
  // Handing queues over (claiming a dead process's queues, setting up their interrupts) is not
  // judged: it beats again when done (seen: 520 ms in the ASan build, after a kill).
  if (b.phase == static_cast<uint32_t>(WorkerPhase::kHandOver)) return StallVerdict::kNotJudged;
  return stall_age_ns(b, now_ns, run_delay_now_ns) > deadline_ns ? StallVerdict::kStalled
                                                                 : StallVerdict::kAlive;
}

uint64_t process_run_delay_ns(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/schedstat";
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const uint64_t v = run_delay_ns(fd);
  if (fd >= 0) close(fd);
  return v;
}

WorkerSupervisor::WorkerSupervisor(SupervisorOptions opts, WatchFn watch)
    : opts_(std::move(opts)), watch_(std::move(watch)) {
  workers_.resize(opts_.worker_cpus.size());
  for (size_t i = 0; i < workers_.size(); ++i) {
    workers_[i].st.id = static_cast<int>(i);
    workers_[i].st.cpu = opts_.worker_cpus[i];
    workers_[i].backoff = opts_.backoff_initial;
  }
}

WorkerSupervisor::~WorkerSupervisor() {
  stop_all(std::chrono::milliseconds(2000));
}

std::string WorkerSupervisor::start_all() {
  for (Worker& w : workers_)
    if (std::string err = start(w.st.id); !err.empty()) return err;
  return {};
}

std::string WorkerSupervisor::start(int id) {
  if (id < 0 || id >= size()) return "no worker " + std::to_string(id);
  Worker& w = workers_[static_cast<size_t>(id)];
  if (w.st.running) return "worker " + std::to_string(id) + " is running";
  if (w.st.failed) {  // tried again by hand: a full set of attempts, from the first back-off
    std::lock_guard lock(mu_);
    w.st.failed = false;
    w.st.crashes_in_row = 0;
    w.backoff = opts_.backoff_initial;
  }
  return spawn(w, w.current, w.alternate_lcore, 0);
}

std::string WorkerSupervisor::begin_replace(int id) {
  if (id < 0 || id >= size()) return "no worker " + std::to_string(id);
  Worker& w = workers_[static_cast<size_t>(id)];
  if (!w.st.running)
    return "worker " + std::to_string(id) + " is not running (" + w.st.state() + ")";
  if (w.replacement.pid) return "worker " + std::to_string(id) + " is already being replaced";
  return spawn(w, w.replacement, !w.alternate_lcore, w.current.pid);
}

std::string WorkerSupervisor::spawn(Worker& w, Proc& into, bool alternate, pid_t replace) {
  const int id = w.st.id;
  const unsigned lcore = worker_lcore(id, alternate);
  std::vector<std::string> args = worker_eal_args(opts_.eal, lcore, w.st.cpu);
  args.insert(args.end(), {"--", "--worker-id", std::to_string(id)});
  if (replace) args.insert(args.end(), {"--replace", std::to_string(replace)});
  if (id == opts_.fault_crash_worker) args.push_back("--fault-crash");
  if (id == opts_.fault_stale_locks_worker) {
    args.push_back("--fault-stale-locks");
    opts_.fault_stale_locks_worker = -1;  // its first process only
  }
  if (opts_.fault_hold_lent_ms)
    args.insert(args.end(), {"--fault-hold-lent-ms", std::to_string(opts_.fault_hold_lent_ms)});
  if (id == opts_.fault_spin_worker && !replace) {
    args.push_back("--fault-spin");
    opts_.fault_spin_worker = -1;  // its first process only
  }
  // Its rte_eal_init must not overlap a port change (daemon/hotplug_gate.hpp): wait for the
  // change to end, then count as attaching until the worker closes the pipe's end it inherits.
  if (!HotplugGate::instance().begin_attach(kPortChangeWait))
    std::fprintf(stderr,
                 "vswitchd: worker %d: a port change has been running for %lld ms; starting the "
                 "worker anyway\n",
                 id, static_cast<long long>(kPortChangeWait.count()));
  int attached[2] = {-1, -1};
  if (pipe2(attached, O_CLOEXEC) == 0)
    args.insert(args.end(), {"--attached-fd", std::to_string(kAttachedFd)});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    for (int end : attached)
      if (end >= 0) close(end);
    HotplugGate::instance().end_attach();
    return std::string("cannot fork a worker: ") + std::strerror(err);
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only. Die with the primary; do not inherit its blocked
    // signals or its descriptors (TAP queue fds must not outlive the primary in a worker).
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(kWorkerExitPrimaryGone);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (attached[1] >= 0) {
      if (attached[1] == kAttachedFd)
        fcntl(kAttachedFd, F_SETFD, 0);
      else
        dup2(attached[1], kAttachedFd);  // the copy is not close-on-exec
    }
    close_range(kAttachedFd + 1, ~0U, 0);
    if (attached[1] < 0) close(kAttachedFd);
    execv(opts_.worker_binary.c_str(), argv.data());
    _exit(127);
  }
  if (attached[1] >= 0) {
    close(attached[1]);
    wait_for_attach(attached[0], id);
  } else {
    HotplugGate::instance().end_attach();
  }
  int fd = pidfd_open(pid);
  {
    std::lock_guard lock(mu_);
    into = Proc{pid, fd, lcore, clock::now()};
    if (w.st.starts++ > 0) ++w.st.restarts;
    if (replace) {
      w.st.replacing_pid = pid;
    } else {
      w.st.pid = pid;
      w.st.running = true;
      w.st.restart_pending = false;
      w.st.stalled = false;  // replaced
    }
  }
  std::fprintf(stderr, "vswitchd: worker %d %s, pid %d, cpu %d\n", id,
               replace ? "replacement started" : "started", pid, w.st.cpu);
  if (watch_ && fd >= 0) watch_(pid, fd);
  return {};
}

ExitOutcome WorkerSupervisor::on_exit(pid_t pid) {
  for (Worker& w : workers_) {
    for (Proc* p : {&w.current, &w.replacement}) {
      if (p->pid != pid) continue;
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) <= 0) return {};
      return reap(w, *p, status);
    }
  }
  return {};
}

ExitOutcome WorkerSupervisor::reap(Worker& w, Proc& p, int status) {
  ExitOutcome out;
  out.worker = w.st.id;
  out.graceful = WIFEXITED(status) && WEXITSTATUS(status) == kWorkerExitOk;
  out.lcore = p.lcore;
  out.detail = describe_exit(status);
  const auto ran = clock::now() - p.started;
  if (p.pidfd >= 0) close(p.pidfd);
  std::lock_guard lock(mu_);
  if (&p == &w.current && w.st.stalled) out.detail = "stalled, " + out.detail;
  if (&p == &w.replacement) {  // the replacement died before the old process left
    w.replacement = {};
    w.st.replacing_pid = 0;
    out.kind = ExitOutcome::kReplaceFailed;
    return out;
  }
  w.st.last_exit = out.detail;
  if (w.replacement.pid) {  // the old process left: the replacement forwards from now on
    w.current = w.replacement;
    w.replacement = {};
    w.alternate_lcore = !w.alternate_lcore;
    w.st.pid = w.current.pid;
    w.st.replacing_pid = 0;
    w.st.stalled = false;  // replaced
    out.kind = ExitOutcome::kHandedOver;
    out.lost_buffers = !out.graceful && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    return out;
  }
  w.current = {};
  w.st.pid = 0;
  w.st.running = false;
  if (stopping_ || !opts_.restart) {
    out.kind = ExitOutcome::kStopped;
    return out;
  }
  if (ran >= opts_.healthy_after) {
    w.st.crashes_in_row = 0;
    w.backoff = opts_.backoff_initial;
  }
  ++w.st.crashes_in_row;
  const bool bad_usage = WIFEXITED(status) && WEXITSTATUS(status) == kWorkerExitUsage;
  if (bad_usage || w.st.crashes_in_row >= opts_.crash_loop_limit) {
    w.st.failed = true;
    out.kind = ExitOutcome::kGaveUp;
    return out;
  }
  out.kind = ExitOutcome::kRestartLater;
  out.delay = w.backoff;
  w.st.restart_pending = true;
  w.backoff = std::min(w.backoff * 2, opts_.backoff_max);
  return out;
}

void WorkerSupervisor::stop_all(std::chrono::milliseconds grace) {
  stopping_ = true;
  std::vector<Proc*> procs;
  for (Worker& w : workers_) {
    w.st.restart_pending = false;
    for (Proc* p : {&w.current, &w.replacement})
      if (p->pid) procs.push_back(p);
  }
  for (Proc* p : procs) kill(p->pid, SIGTERM);
  const auto deadline = clock::now() + grace;
  for (Worker& w : workers_) {
    for (Proc* p : {&w.current, &w.replacement}) {
      while (p->pid) {
        int status = 0;
        if (waitpid(p->pid, &status, WNOHANG) > 0) {
          reap(w, *p, status);
          continue;
        }
        if (clock::now() >= deadline) {
          std::fprintf(stderr, "vswitchd: worker %d (pid %d) ignored SIGTERM, killing it\n",
                       w.st.id, p->pid);
          kill(p->pid, SIGKILL);
          if (waitpid(p->pid, &status, 0) > 0) reap(w, *p, status);
          continue;
        }
        pollfd pfd{p->pidfd, POLLIN, 0};
        poll(&pfd, 1, 20);
      }
    }
  }
}

std::vector<WorkerStatus> WorkerSupervisor::status() const {
  std::lock_guard lock(mu_);
  std::vector<WorkerStatus> out;
  for (const Worker& w : workers_) out.push_back(w.st);
  return out;
}

bool WorkerSupervisor::kill_stalled(int id, pid_t pid) {
  if (id < 0 || id >= size()) return false;
  Worker& w = workers_[static_cast<size_t>(id)];
  if (pid <= 0 || w.current.pid != pid || stopping_) return false;
  {
    std::lock_guard lock(mu_);
    w.st.stalled = true;
    ++w.st.stalls;
  }
  // A pidfd signal cannot hit a recycled pid; the exit comes through the watcher as any crash.
  if (w.current.pidfd >= 0)
    syscall(SYS_pidfd_send_signal, w.current.pidfd, SIGKILL, nullptr, 0);
  else
    kill(pid, SIGKILL);
  return true;
}

std::vector<bool> WorkerSupervisor::active() const {
  std::lock_guard lock(mu_);
  std::vector<bool> out;
  for (const Worker& w : workers_) out.push_back(!w.st.failed);
  return out;
}

PidfdWatcher::PidfdWatcher(std::function<void(pid_t)> on_exit) : on_exit_(std::move(on_exit)) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  stopfd_ = eventfd(0, EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, stopfd_, &ev);
  thread_ = std::thread([this] { run(); });
}

PidfdWatcher::~PidfdWatcher() {
  uint64_t one = 1;
  if (write(stopfd_, &one, sizeof(one)) < 0) std::perror("vswitchd: pidfd watcher stop");
  thread_.join();
  close(stopfd_);
  close(epfd_);
}

void PidfdWatcher::watch(pid_t pid, int pidfd) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = static_cast<uint64_t>(pid);
  epoll_ctl(epfd_, EPOLL_CTL_ADD, pidfd, &ev);
}

void PidfdWatcher::run() {
  epoll_event evs[16];
  for (;;) {
    int n = epoll_wait(epfd_, evs, 16, -1);
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.u64 == 0) return;
      on_exit_(static_cast<pid_t>(evs[i].data.u64));
    }
  }
}

}  // namespace vs
