#include "actors/supervisor.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "switch/shm_names.hpp"

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

}  // namespace

WorkerSupervisor::WorkerSupervisor(SupervisorOptions opts, ExitHook on_exit)
    : opts_(std::move(opts)), on_exit_(std::move(on_exit)) {
  workers_.resize(opts_.worker_cpus.size());
  for (size_t i = 0; i < workers_.size(); ++i) {
    workers_[i].st.id = static_cast<int>(i);
    workers_[i].backoff = opts_.backoff_initial;
  }
}

WorkerSupervisor::~WorkerSupervisor() {
  stop_all(std::chrono::milliseconds(2000));
}

std::string WorkerSupervisor::start_all() {
  for (Worker& w : workers_) {
    std::string err = spawn(w);
    if (!err.empty()) return err;
  }
  return {};
}

std::string WorkerSupervisor::spawn(Worker& w) {
  std::vector<std::string> args = worker_eal_args(opts_.eal, w.st.id, opts_.worker_cpus[w.st.id]);
  args.insert(args.end(), {"--", "--worker-id", std::to_string(w.st.id)});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return std::string("cannot fork a worker: ") + std::strerror(errno);
  if (pid == 0) {
    // Child: async-signal-safe calls only. Die with the primary; do not inherit its blocked
    // signals or its descriptors (TAP queue fds must not outlive the primary in a worker).
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(kWorkerExitPrimaryGone);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    close_range(3, ~0U, 0);
    execv(opts_.worker_binary.c_str(), argv.data());
    _exit(127);
  }
  int fd = pidfd_open(pid);
  std::lock_guard lock(mu_);
  w.pidfd = fd;
  w.st.pid = pid;
  w.st.running = true;
  if (w.st.starts++ > 0) ++w.st.restarts;
  w.started = clock::now();
  w.restart_pending = false;
  std::fprintf(stderr, "vswitchd: worker %d started, pid %d, cpu %d\n", w.st.id, pid,
               opts_.worker_cpus[w.st.id]);
  return {};
}

void WorkerSupervisor::add_poll_fds(std::vector<pollfd>& fds) const {
  for (const Worker& w : workers_)
    if (w.pidfd >= 0) fds.push_back({w.pidfd, POLLIN, 0});
}

void WorkerSupervisor::on_pidfd_ready(int fd) {
  for (Worker& w : workers_)
    if (w.pidfd == fd) reap(w);
}

void WorkerSupervisor::reap(Worker& w) {
  int status = 0;
  if (waitpid(w.st.pid, &status, WNOHANG) <= 0) return;
  close(w.pidfd);
  auto ran = clock::now() - w.started;
  {
    std::lock_guard lock(mu_);
    w.pidfd = -1;
    w.st.pid = 0;
    w.st.running = false;
    w.st.last_exit = describe_exit(status);
  }
  if (on_exit_) on_exit_(w.st.id);
  if (stopping_) return;
  std::fprintf(stderr, "vswitchd: worker %d ended (%s)\n", w.st.id, w.st.last_exit.c_str());
  if (WIFEXITED(status) && WEXITSTATUS(status) == kWorkerExitUsage) {
    std::lock_guard lock(mu_);
    w.st.failed = true;
    std::fprintf(stderr, "vswitchd: worker %d cannot run (bad usage); not restarting it\n",
                 w.st.id);
    return;
  }
  if (!opts_.restart) return;
  if (ran >= opts_.healthy_after) w.backoff = opts_.backoff_initial;
  w.restart_at = clock::now() + w.backoff;
  w.restart_pending = true;
  w.backoff = std::min(w.backoff * 2, opts_.backoff_max);
}

void WorkerSupervisor::run_due_restarts() {
  auto now = clock::now();
  for (Worker& w : workers_) {
    if (!w.restart_pending || now < w.restart_at || stopping_) continue;
    std::string err = spawn(w);
    if (!err.empty()) std::fprintf(stderr, "vswitchd: %s\n", err.c_str());
  }
}

int WorkerSupervisor::ms_until_next_restart() const {
  int best = -1;
  auto now = clock::now();
  for (const Worker& w : workers_) {
    if (!w.restart_pending) continue;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(w.restart_at - now).count();
    int m = ms < 0 ? 0 : static_cast<int>(ms);
    if (best < 0 || m < best) best = m;
  }
  return best;
}

void WorkerSupervisor::stop_all(std::chrono::milliseconds grace) {
  stopping_ = true;
  for (Worker& w : workers_) {
    w.restart_pending = false;
    if (w.st.running) kill(w.st.pid, SIGTERM);
  }
  auto deadline = clock::now() + grace;
  for (Worker& w : workers_) {
    while (w.st.running && clock::now() < deadline) {
      pollfd p{w.pidfd, POLLIN, 0};
      poll(&p, 1, 20);
      reap(w);
    }
    if (w.st.running) {
      std::fprintf(stderr, "vswitchd: worker %d ignored SIGTERM, killing it\n", w.st.id);
      kill(w.st.pid, SIGKILL);
      while (w.st.running) {
        pollfd p{w.pidfd, POLLIN, 0};
        poll(&p, 1, 100);
        reap(w);
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

}  // namespace vs
