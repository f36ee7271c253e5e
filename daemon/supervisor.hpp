// The mechanics of worker supervision: starting vswitch-worker processes, reaping them, the
// restart back-off, giving up on a crash-looping worker, and replacing a running worker by a new
// process that takes over its identity (`vswitchctl worker restart`, binary upgrades).
//
// Single-threaded: the supervisor actor (supervisor_actor.hpp) drives it; the exits come from a
// PidfdWatcher thread as messages. status() may be called from any thread.
#pragma once
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/eal.hpp"

namespace vs {

struct SupervisorOptions {
  std::string worker_binary;
  EalOptions eal;
  std::vector<int> worker_cpus;  // one per worker
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds healthy_after{10000};  // a run this long resets the crash count
  int crash_loop_limit = 5;  // quick crashes in a row before the worker is given up
  // A running worker whose heartbeat is older than this is killed as stalled ([daemon]
  // worker_stall_ms).
  std::chrono::milliseconds stall_after{500};
  bool restart = true;
  int fault_crash_worker = -1;  // fault injection: this worker aborts once attached, every time
  // fault injection: this worker's first process dies holding DPDK locks (daemon/dpdk_locks.hpp)
  int fault_stale_locks_worker = -1;
  // fault injection: this worker's first process spins forever once it gets SIGUSR1 (a livelock)
  int fault_spin_worker = -1;
  // fault injection: every worker holds a rx queue its new table moves away this long before
  // letting go of it (the returning worker's first claim then meets a live holder)
  unsigned fault_hold_lent_ms = 0;
};

struct WorkerStatus {
  int id = 0;
  int cpu = 0;
  pid_t pid = 0;  // 0 when not running
  bool running = false;
  bool failed = false;  // given up: crash loop or bad usage; its queues went to the others
  bool restart_pending = false;
  pid_t replacing_pid = 0;  // a replacement process is attaching
  uint64_t starts = 0;
  uint64_t restarts = 0;  // starts after the first, including replacements
  int crashes_in_row = 0;
  // Its process missed the heartbeat deadline and was killed; until a new process starts, the
  // state says "stalled".
  bool stalled = false;
  uint64_t stalls = 0;        // processes killed for a stall (vswitch_worker_stalls_total)
  std::string last_exit;      // "exit 70", "signal 9", "stalled, signal 9", ...
  std::string state() const;  // running, restarting, replacing, stalled, failed, stopped
};

// A worker's liveness as its counter block says (shm/counters.hpp), read by the supervisor.
struct WorkerBeat {
  pid_t pid = 0;              // the process that owns the block
  uint32_t state = 0;         // WorkerState
  uint64_t beat_ns = 0;       // CLOCK_MONOTONIC of its last beat
  uint64_t run_delay_ns = 0;  // its thread's wait for a CPU until that beat
  uint64_t max_gap_ns = 0;
  uint64_t max_stall_ns = 0;  // the longest gap less the CPU wait in it
  uint32_t phase = 0;         // WorkerPhase
  uint16_t port = 0;          // the rx queue it last polled
  uint16_t queue = 0;
};

// The stall decision for the process `current` of a worker, at `now_ns` (CLOCK_MONOTONIC, read
// after `b`). Judged only once that process said it forwards: the block names it and its state
// is running (not while it attaches in rte_eal_init, takes over from an old process or sets up
// its queues, not while it hands queues over at a port table change, and not once it stops). Then
// stalled when its last beat is more than `deadline_ns` old, not counting the time its thread
// waited for a CPU since (`run_delay_now_ns`, 0 when unknown): a worker that an overloaded host
// does not let run is slow, not hung. A stopped (SIGSTOP), spinning or blocked worker does not wait
// for a CPU, so its time counts in full. The clock is the workers' own, so a vswitchd that was
// itself stopped judges by fresh beats when it resumes, not by the time it lost.
enum class StallVerdict { kNotJudged, kAlive, kStalled };
StallVerdict judge_heartbeat(const WorkerBeat& b, pid_t current, uint64_t now_ns,
                             uint64_t run_delay_now_ns, uint64_t deadline_ns);
// The age of the beat that counts against the deadline: now - beat less the CPU wait since.
uint64_t stall_age_ns(const WorkerBeat& b, uint64_t now_ns, uint64_t run_delay_now_ns);
// Worker process `pid`'s main thread (its poll loop)'s total wait for a CPU; 0 if unknown.
uint64_t process_run_delay_ns(pid_t pid);
uint64_t monotonic_ns();  // CLOCK_MONOTONIC, as the workers' beats

// What an exit means for the rest of the daemon.
struct ExitOutcome {
  enum Kind {
    kUnknown,        // not a process of ours (already reaped)
    kStopped,        // exited while stopping, or restarts are off
    kRestartLater,   // crashed or exited: restart after `delay`
    kGaveUp,         // crash loop or bad usage: failed, move its queues
    kHandedOver,     // the old process of a replacement exited; the new one forwards
    kReplaceFailed,  // the replacement died before taking over; the old one still forwards
  };
  Kind kind = kUnknown;
  int worker = -1;
  bool graceful = false;  // exit status 0: it left its learn ring and queues in order
  unsigned lcore = 0;     // the lcore id the exited process ran as (its mempool cache)
  std::chrono::milliseconds delay{0};
  std::string detail;       // "signal 9", ...
  bool held_queues = true;  // it polled its queues when it died (they were not lent out)
  // Workers (bit w) whose queues were lent out and whose pools no live process can hold an mbuf
  // of any more: this crash ended the last running process. The clean-up refills those pools.
  uint64_t orphaned_pools = 0;
  // kHandedOver only: the old process was killed instead of stopping (a worker handles SIGTERM
  // and exits 0), so the rx buffers it had posted from the worker's pool are lost with it.
  bool lost_buffers = false;
};

class WorkerSupervisor {
 public:
  using clock = std::chrono::steady_clock;
  // Called with every process started and its pidfd (for the watcher).
  using WatchFn = std::function<void(pid_t pid, int pidfd)>;

  WorkerSupervisor(SupervisorOptions opts, WatchFn watch);
  ~WorkerSupervisor();

  std::string start_all();
  std::string start(int worker);  // (re)start a worker that is not running; clears `failed`
  // Starts a process that takes over `worker` once attached; the old one exits gracefully.
  std::string begin_replace(int worker);
  ExitOutcome on_exit(pid_t pid);
  void stop_all(std::chrono::milliseconds grace);
  std::vector<WorkerStatus> status() const;
  int size() const { return static_cast<int>(workers_.size()); }
  std::vector<bool> active() const;  // workers not given up
  // Kills worker `id`'s process `pid` (SIGKILL) for a missed heartbeat deadline, if it is still
  // its current process: its exit then goes the crash path (on_exit). False if it is not.
  bool kill_stalled(int id, pid_t pid);
  std::chrono::milliseconds stall_after() const { return opts_.stall_after; }

 private:
  struct Proc {
    pid_t pid = 0;
    int pidfd = -1;
    unsigned lcore = 0;
    clock::time_point started;
  };
  struct Worker {
    WorkerStatus st;
    Proc current;
    Proc replacement;  // pid 0 when none
    bool alternate_lcore = false;
    std::chrono::milliseconds backoff{0};
  };
  std::string spawn(Worker& w, Proc& into, bool alternate, pid_t replace);
  ExitOutcome reap(Worker& w, Proc& p, int status);

  SupervisorOptions opts_;
  WatchFn watch_;
  mutable std::mutex mu_;  // guards workers_ against status() from other threads
  std::vector<Worker> workers_;
  bool stopping_ = false;
};

// Watches pidfds on its own thread and reports each exit once, by pid.
class PidfdWatcher {
 public:
  explicit PidfdWatcher(std::function<void(pid_t)> on_exit);
  ~PidfdWatcher();
  void watch(pid_t pid, int pidfd);

 private:
  void run();
  std::function<void(pid_t)> on_exit_;
  int epfd_ = -1;
  int stopfd_ = -1;
  std::thread thread_;
};

}  // namespace vs
