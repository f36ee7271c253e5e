#include "daemon/daemon.hpp"

#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <rte_mempool.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/config_actor.hpp"
#include "actors/supervisor_actor.hpp"
#include "actors/switch_actor.hpp"
#include "actors/topology_actor.hpp"
#include "actors/watchdog_actor.hpp"
#include "config/config.hpp"
#include "daemon/capture_service.hpp"
#include "daemon/control_replies.hpp"
#include "daemon/control_server.hpp"
#include "daemon/datapath_memory.hpp"
#include "daemon/dpdk_locks.hpp"
#include "daemon/eal.hpp"
#include "daemon/fdb_service.hpp"
#include "daemon/instance_lock.hpp"
#include "daemon/metrics.hpp"
#include "daemon/mirror_table.hpp"
#include "daemon/netns.hpp"
#include "daemon/netns_watch.hpp"
#include "daemon/port_manager.hpp"
#include "daemon/port_show.hpp"
#include "daemon/rate_balancer.hpp"
#include "daemon/supervisor.hpp"
#include "daemon/switch_snapshots.hpp"
#include "daemon/systemd_notify.hpp"

namespace vs {
namespace {

struct DaemonArgs {
  std::string config_path = "/etc/vswitch/vswitch.toml";
  std::string log_level = "notice";
  std::string worker_binary;
  bool restart = true;
  bool create_netns = true;
  int fault_crash_worker = -1;
  int fault_stale_locks_worker = -1;
  int fault_spin_worker = -1;
  unsigned fault_pool_mbufs = 0;     // 0: the pools are sized as usual
  unsigned fault_hang_probe_ms = 0;  // 0: port probes after start-up run as usual
  unsigned fault_hold_lent_ms = 0;   // 0: a lent rx queue is given back at once
};

void usage(FILE* to) {
  std::fprintf(
      to,
      "usage: vswitchd [--config FILE] [--log-level LEVEL] [--worker-binary PATH] "
      "[--no-restart] [--no-create-netns]\n"
      "  --config FILE        the switch configuration (default /etc/vswitch/vswitch.toml)\n"
      "  --log-level LEVEL    DPDK log level: error, warning, notice, info, debug\n"
      "  --worker-binary PATH vswitch-worker to start (default: beside vswitchd, else\n"
      "                       ../libexec/vswitch/vswitch-worker from it)\n"
      "  --no-restart         do not restart workers that exit (for fault tests)\n"
      "  --no-create-netns    never create a port's namespace: its port stays down until the\n"
      "                       namespace exists (vswitchd.service, whose mounts are private)\n"
      "  --fault-crash-worker N  fault injection: worker N aborts at every start (tests)\n"
      "  --fault-stale-locks-worker N  fault injection: worker N's first process dies holding\n"
      "                          DPDK's memory-hotplug lock (write) and tailq lock (read)\n"
      "  --fault-spin-worker N   fault injection: worker N's first process spins forever\n"
      "                          without polling or beating once it gets SIGUSR1\n"
      "  --fault-pool-mbufs N    fault injection: exactly N mbufs per worker pool, even fewer\n"
      "                          than the rx rings and frames in flight need (tests)\n"
      "  --fault-hang-probe-ms N fault injection: every port probe after start-up (port add,\n"
      "                          reload, reset, re-creation) first hangs N ms (tests)\n"
      "  --fault-hold-lent-ms N  fault injection: a worker giving back a lent rx queue (or any\n"
      "                          queue its new table moves away) holds it N ms first (tests)\n");
}

bool parse_args(int argc, char** argv, DaemonArgs& a) {
  static const option longopts[] = {{"config", required_argument, nullptr, 'c'},
                                    {"log-level", required_argument, nullptr, 'l'},
                                    {"worker-binary", required_argument, nullptr, 'w'},
                                    {"no-restart", no_argument, nullptr, 'n'},
                                    {"no-create-netns", no_argument, nullptr, 'N'},
                                    {"fault-crash-worker", required_argument, nullptr, 'f'},
                                    {"fault-pool-mbufs", required_argument, nullptr, 'm'},
                                    {"fault-stale-locks-worker", required_argument, nullptr, 's'},
                                    {"fault-spin-worker", required_argument, nullptr, 'p'},
                                    {"fault-hang-probe-ms", required_argument, nullptr, 'H'},
                                    {"fault-hold-lent-ms", required_argument, nullptr, 'L'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "c:h", longopts, nullptr)) != -1) {
    switch (c) {
      case 'c':
        a.config_path = optarg;
        break;
      case 'l':
        a.log_level = optarg;
        break;
      case 'w':
        a.worker_binary = optarg;
        break;
      case 'n':
        a.restart = false;
        break;
      case 'N':
        a.create_netns = false;
        break;
      case 'f':
        a.fault_crash_worker = std::atoi(optarg);
        break;
      case 's':
        a.fault_stale_locks_worker = std::atoi(optarg);
        break;
      case 'p':
        a.fault_spin_worker = std::atoi(optarg);
        break;
      case 'm':
        a.fault_pool_mbufs = static_cast<unsigned>(std::strtoul(optarg, nullptr, 10));
        break;
      case 'H':
        a.fault_hang_probe_ms = static_cast<unsigned>(std::strtoul(optarg, nullptr, 10));
        break;
      case 'L': {  // the worker accepts 0..60000 ms: refuse here what it would refuse there
        char* end = nullptr;
        const long ms = std::strtol(optarg, &end, 10);
        if (*optarg == '\0' || *end != '\0' || ms < 0 || ms > 60000) {
          std::fprintf(stderr, "vswitchd: --fault-hold-lent-ms wants 0..60000 ms, not '%s'\n",
                       optarg);
          return false;
        }
        a.fault_hold_lent_ms = static_cast<unsigned>(ms);
        break;
      }
      case 'h':
        usage(stdout);
        std::exit(0);
      default:
        return false;
    }
  }
  return optind == argc;
}

// The worker beside vswitchd (the build tree), else where `cmake --install` puts it relative to
// vswitchd (VSWITCH_WORKER_RELPATH, e.g. ../libexec/vswitch/vswitch-worker from /usr/sbin).
std::string default_worker_binary() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "vswitch-worker";
  buf[n] = '\0';
  const std::filesystem::path dir = std::filesystem::path(buf).parent_path();
  std::error_code ec;
  if (std::filesystem::exists(dir / "vswitch-worker", ec)) return (dir / "vswitch-worker").string();
  return (dir / VSWITCH_WORKER_RELPATH).lexically_normal().string();
}

// CPUs for the workers: the configured ones, else the CPUs we may run on other than the main
// core, round robin (all of them if the main core is the only one).
std::vector<int> choose_worker_cpus(const config::DaemonConfig& d) {
  if (!d.worker_cores.empty()) return d.worker_cores;
  cpu_set_t set;
  std::vector<int> usable, others;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (!CPU_ISSET(cpu, &set)) continue;
      usable.push_back(cpu);
      if (cpu != d.main_core) others.push_back(cpu);
    }
  }
  if (others.empty()) others = usable.empty() ? std::vector<int>{0} : usable;
  std::vector<int> cpus;
  for (int w = 0; w < d.workers; ++w)
    cpus.push_back(others[static_cast<size_t>(w) % others.size()]);
  return cpus;
}

// CPUs for vswitchd's busy helper threads (a capture's writer): those we may run on that no
// worker polls on; empty (no pinning) when the workers have them all.
std::vector<int> cpus_without_workers(const std::vector<int>& worker_cpus) {
  cpu_set_t set;
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set) &&
        std::find(worker_cpus.begin(), worker_cpus.end(), cpu) == worker_cpus.end())
      cpus.push_back(cpu);
  }
  return cpus;
}

// One daemon per runtime directory and per control socket (instance_lock.hpp): the pid file and
// a lock file beside the socket stay locked while vswitchd runs. Refuses, naming the holder, when
// another vswitchd has either; takes over files left by a daemon that was killed.
struct InstanceLocks {
  std::unique_ptr<InstanceLock> pid_file, socket;
};

bool lock_instance(const config::DaemonConfig& d, InstanceLocks& out) {
  const std::string pid_path = d.runtime_dir + "/vswitchd.pid";
  const std::string sock = d.control_socket_path();
  const std::string sock_lock = sock + ".lock";
  std::string err;
  pid_t holder = 0, stale = 0;
  out.pid_file = InstanceLock::acquire(pid_path, err, holder, stale);
  if (!out.pid_file) {
    if (holder)
      std::fprintf(stderr,
                   "vswitchd: another vswitchd (pid %d) runs with runtime_dir %s (it holds %s); "
                   "nothing was started. Stop it first (`kill %d`, or `scripts/run.sh stop "
                   "ITS_CONFIG`), or give this daemon its own [daemon] runtime_dir, file_prefix, "
                   "control_socket and metrics_listen\n",
                   holder, d.runtime_dir.c_str(), pid_path.c_str(), holder);
    else
      std::fprintf(stderr, "vswitchd: %s; nothing was started\n", err.c_str());
    return false;
  }
  if (stale)
    std::printf("vswitchd: %s named pid %d, which is gone (killed?): taken over\n",
                pid_path.c_str(), stale);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(sock).parent_path(), ec);
  out.socket = InstanceLock::acquire(sock_lock, err, holder, stale);
  if (!out.socket) {
    if (holder)
      std::fprintf(stderr,
                   "vswitchd: the control socket %s belongs to another vswitchd (pid %d, which "
                   "holds %s); nothing was started. Stop it first (`kill %d`), or set another "
                   "[daemon] control_socket (and runtime_dir, file_prefix, metrics_listen)\n",
                   sock.c_str(), holder, sock_lock.c_str(), holder);
    else
      std::fprintf(stderr, "vswitchd: %s; nothing was started\n", err.c_str());
    return false;
  }
  if (stale && access(sock.c_str(), F_OK) == 0)
    std::printf("vswitchd: control socket %s was left by pid %d, which is gone: taken over\n",
                sock.c_str(), stale);
  return true;
}

// Blocks the stop signals in every thread (EAL and metrics threads inherit the mask) and returns
// a signalfd that the event loop reads them from.
int block_signals_into_fd() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return signalfd(-1, &set, SFD_CLOEXEC);
}

// Blocks SIGIO and the real-time signals while it lives: threads created meanwhile (FDB service,
// actors, control socket, pidfd watcher) inherit the mask, so net_tap's rx signals never
// interrupt them; the main thread takes them, as before the threads existed.
class AsyncSignalsBlocked {
 public:
  AsyncSignalsBlocked() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGIO);
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig) sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~AsyncSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t old_;
};

caf::actor_system_config actor_config(const config::DaemonConfig& d) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", static_cast<size_t>(d.actor_threads));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  return cfg;
}

// Pools of workers whose lent queues a crashed borrower had posted buffers to, now that no worker
// process runs (supervisor_actor.cpp, orphaned_pools).
void reclaim_orphaned_pools(const ExitOutcome& out, DatapathMemory& mem) {
  for (int o = 0; o < mem.nb_workers(); ++o) {
    if (((out.orphaned_pools >> o) & 1) == 0) continue;
    const DatapathMemory::Reclaimed r = mem.reclaim_pool(o);
    if (r.mbufs)
      std::printf(
          "vswitchd: worker %d's pool: %u mbufs recovered (posted to its lent queues by worker "
          "%d, which died)\n",
          o, r.mbufs, out.worker);
    if (r.ring_reset)
      std::printf("vswitchd: worker %d's pool: its ring was left half-moved by worker %d; reset\n",
                  o, out.worker);
  }
}

// The clean-up after a worker process ended, before anything restarts it: its learn ring (a
// killed producer may have left half an event), its counter block's state, and the mbufs the
// process held (a SIGKILL returns none of them).
void clean_up_after(const ExitOutcome& out, DatapathMemory& mem, FdbService& fdb,
                    const PortDirectory& ports) {
  const int w = out.worker;
  if (out.kind == ExitOutcome::kHandedOver || out.kind == ExitOutcome::kReplaceFailed) {
    // The worker's other process runs on: only this process's mempool cache is ours to empty.
    mem.flush_cache(w, out.lcore);
    return;
  }
  if (!out.graceful) fdb.reset_learn_ring(w);
  mem.counters(w).state.store(static_cast<uint32_t>(WorkerState::kStopped));
  const bool all_rtap = ports.all_rtap();
  if (all_rtap) reclaim_orphaned_pools(out, mem);
  if (!out.held_queues) {
    // Its queues were lent out, so it had posted nothing; another worker may be posting from
    // its pool right now (a queue's buffers come from its owner's pool), so no reset.
    mem.flush_cache(w, out.lcore);
    return;
  }
  if (all_rtap) {
    const DatapathMemory::Reclaimed r = mem.reclaim_pool(w);
    if (r.mbufs)
      std::printf("vswitchd: worker %d: %u mbufs it held recovered into its pool\n", w, r.mbufs);
    if (r.ring_reset)
      std::printf(
          "vswitchd: worker %d died inside a get or put of its mbuf pool, which left the pool's "
          "ring half-moved; the ring was reset (without that, its next process would spin)\n",
          w);
    return;
  }
  mem.flush_cache(w, out.lcore);
}

// The liveness fields of a worker's counter block (the supervisor's stall deadline).
WorkerBeat read_beat(const WorkerCounterBlock& c) {
  WorkerBeat b;
  b.pid = c.pid.load(std::memory_order_acquire);  // then the beat it wrote before
  b.state = c.state.load(std::memory_order_acquire);
  b.beat_ns = c.heartbeat_ns.load(std::memory_order_acquire);
  b.run_delay_ns = c.heartbeat_run_delay_ns.load(std::memory_order_relaxed);
  b.max_gap_ns = c.heartbeat_max_gap_ns.load(std::memory_order_relaxed);
  b.max_stall_ns = c.heartbeat_max_stall_ns.load(std::memory_order_relaxed);
  b.phase = c.phase.load(std::memory_order_relaxed);
  b.port = c.phase_port.load(std::memory_order_relaxed);
  b.queue = c.phase_queue.load(std::memory_order_relaxed);
  return b;
}

// Start-up: every worker whose process runs says "running" in its counter block (it attached,
// claimed its queues and polls), or `timeout` passed. READY=1 means forwarding, not only
// "processes spawned": a worker's attach takes tens of ms after its start. A worker whose first
// process already exited (a crash at start) is not waited for: it is the supervisor's to restart.
// A signal waiting on `sigfd` (SIGTERM, say) ends the wait at once: a stop during start-up is not
// held up by a worker that cannot attach (and stop's clean-up is what such a worker may need).
bool wait_until_workers_forward(caf::actor_system& sys, const supervisor_actor& supervisor,
                                DatapathMemory& mem, int sigfd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  caf::scoped_actor self{sys};
  for (;;) {
    std::vector<WorkerStatus> status;
    self->request(supervisor, std::chrono::seconds(1), show_atom::value)
        .receive([&status](const WorkersView& v) { status = v.status; }, [](const caf::error&) {});
    bool settled = !status.empty();
    for (const WorkerStatus& st : status) {
      const WorkerBeat b = read_beat(mem.counters(st.id));
      const bool forwards =
          b.pid == st.pid && b.state == static_cast<uint32_t>(WorkerState::kRunning);
      // Only a first process is waited for: one that replaced a process that died at start
      // may wait long (on locks the dead one held: dpdk_locks.hpp), and is the supervisor's.
      if (st.running && st.pid != 0 && st.restarts == 0 && !forwards) settled = false;
    }
    if (settled) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    pollfd pending{sigfd, POLLIN, 0};
    if (poll(&pending, 1, 2) > 0) return true;
  }
}

// What the control socket's requests reach: the actors, and the objects read without them.
struct ControlContext {
  caf::actor_system& sys;
  config_actor cfg_actor;
  std::vector<switch_actor> switches;
  supervisor_actor supervisor;
  SwitchSnapshots& snapshots;
  FdbService& fdb;
  DatapathMemory& mem;
  const PortDirectory& ports;
  const config::Config& startup;
  const MirrorTable& mirrors;
};

// How long `show` waits for the switch actors' snapshots before it shows a busy switch's last one
// (marked stale): a switch in a port probe must not hold up `show ports`.
constexpr auto kShowSnapshotWait = std::chrono::milliseconds(500);

// `port reset NAME`: every switch actor is asked; the one that has the port answers.
void reset_port(caf::event_based_actor* self, const ControlContext& c, const std::string& port,
                const std::function<void(std::string)>& reply) {
  using nlohmann::json;
  struct Gather {
    std::size_t left;
    std::optional<std::string> answer;  // the owner's reply
  };
  auto g = std::make_shared<Gather>(Gather{c.switches.size(), std::nullopt});
  auto finish = [g, reply, port] {
    if (--g->left != 0) return;
    reply(g->answer ? *g->answer : json{{"ok", false}, {"error", "no port named " + port}}.dump());
  };
  if (c.switches.empty()) return reply(json{{"ok", false}, {"error", "no switches"}}.dump());
  for (const switch_actor& sw : c.switches) {
    self->request(sw, std::chrono::seconds(120), reset_atom::value, port)
        .then(
            [g, finish](const ResetDone& r) {
              g->answer = reply_json(r).dump();
              finish();
            },
            [g, finish, &sys = c.sys](const caf::error& e) {
              if (e != errc::no_such_port) g->answer = error_json(e, &sys).dump();
              finish();
            });
  }
}

// A control request as actor requests. Each request gets a short-lived actor that asks the
// owning actors and hands their answer to `reply` (the control socket's I/O thread writes it):
// the socket is a way into the actors, and no client waits for another's request. The actors
// reply typed results; their JSON is made here (daemon/control_replies.hpp, port_show.hpp).
void handle_control(const ControlContext& c, const ControlRequest& req,
                    ControlServer::Reply reply) {
  using Cmd = ControlRequest::Cmd;
  using nlohmann::json;
  if (req.cmd == Cmd::kVersion) {
    reply(json{{"ok", true}, {"version", VSWITCH_VERSION}, {"pid", getpid()}}.dump());
    return;
  }
  c.sys.spawn(
      [&c, reply](caf::event_based_actor* self, const ControlRequest& req) {
        auto text = [reply](const std::string& r) { reply(r); };
        auto applied = [reply](const Applied& a) { reply(reply_json(a).dump()); };
        auto on_error = [reply, &c](const caf::error& e) {
          reply(json{{"ok", false},
                     {"error", e.category() == caf::atom("vswitch")
                                   ? error_reason(e, &c.sys)
                                   : "vswitchd did not answer: " + c.sys.render(e)}}
                    .dump());
        };
        const auto timeout = std::chrono::seconds(120);
        switch (req.cmd) {
          case Cmd::kVersion:
            return;
          case Cmd::kShow: {
            if (req.what == "workers") {
              self->request(c.supervisor, timeout, show_atom::value)
                  .then([reply](const WorkersView& v) { reply(reply_json(v).dump()); }, on_error);
              return;
            }
            const std::string what = req.what, filters = req.filters_json();
            c.snapshots.fetch_async(self, kShowSnapshotWait,
                                    [&c, reply, what, filters](std::vector<SwitchSnapshot> snaps) {
                                      PortViewRefs refs{snaps, c.mem, c.fdb, c.startup, &c.mirrors};
                                      reply(show_json(refs, what, filters));
                                    });
            return;
          }
          case Cmd::kCapture:  // the capture service takes these with their connection
            return reply(json{{"ok", false}, {"error", "capture is not served here"}}.dump());
          case Cmd::kReload:
            self->request(c.cfg_actor, timeout, reload_atom::value).then(applied, on_error);
            return;
          case Cmd::kPortAdd:
            self->request(c.cfg_actor, timeout, port_add_atom::value, req.switch_name, req.port)
                .then(applied, on_error);
            return;
          case Cmd::kPortDel:
            self->request(c.cfg_actor, timeout, port_del_atom::value, req.port)
                .then(applied, on_error);
            return;
          case Cmd::kMirrorAdd:
            self->request(c.cfg_actor, timeout, mirror_add_atom::value, req.switch_name, req.mirror)
                .then(applied, on_error);
            return;
          case Cmd::kMirrorDel:
            self->request(c.cfg_actor, timeout, mirror_del_atom::value, req.mirror)
                .then(applied, on_error);
            return;
          case Cmd::kPortReset:
            reset_port(self, c, req.port, text);
            return;
          case Cmd::kWorkerRestart:
            self->request(c.supervisor, timeout, restart_atom::value,
                          static_cast<int32_t>(req.worker))
                .then([reply](const Restarted& r) { reply(reply_json(r).dump()); }, on_error);
            return;
          case Cmd::kFdbFlush: {
            int sw = -1, port = -1;
            for (std::size_t i = 0; i < c.startup.switches.size(); ++i)
              if (c.startup.switches[i].name == req.switch_name) sw = static_cast<int>(i);
            if (!req.switch_name.empty() && sw < 0)
              return reply(
                  json{{"ok", false}, {"error", "no switch named " + req.switch_name}}.dump());
            if (!req.port.empty()) {
              port = c.ports.port_id(req.port);
              if (port < 0)
                return reply(json{{"ok", false}, {"error", "no port named " + req.port}}.dump());
            }
            return reply(
                json{{"ok", true}, {"flushed", c.fdb.flush_learned(sw, port, req.vlan)}}.dump());
          }
        }
        reply(json{{"ok", false}, {"error", "unknown command"}}.dump());
      },
      req);  // an argument: CAF 0.17 binds a null tuple for none (UBSan)
}

// Returns the signal that asked us to stop.
int wait_for_stop(int sigfd, const config_actor& cfg_actor) {
  for (;;) {
    signalfd_siginfo si;
    ssize_t n = read(sigfd, &si, sizeof(si));
    if (n < 0 && errno == EINTR) continue;
    if (n != sizeof(si)) return 0;
    if (si.ssi_signo != SIGHUP) return static_cast<int>(si.ssi_signo);
    std::printf("vswitchd: SIGHUP: reloading the configuration\n");
    std::fflush(stdout);
    caf::anon_send(cfg_actor, reload_atom::value);  // the config actor logs the outcome
  }
}

struct Datapath {
  DatapathMemory mem;
  std::vector<std::unique_ptr<PortManager>> switches;  // one per [[switch]], in order
  PortDirectory ports;                                 // all of them, for their readers
  unsigned pool_mbufs = 0;

  void destroy_ports() {
    for (auto it = switches.rbegin(); it != switches.rend(); ++it) (*it)->destroy_all();
  }
};

// The mbufs of each worker's pool: enough for its rx rings, or what a fault test asks for.
unsigned size_worker_pools(const config::Config& cfg, unsigned fault_pool_mbufs) {
  const auto& d = cfg.daemon;
  unsigned mbufs = mbufs_needed_per_worker(cfg);
  if (mbufs > static_cast<unsigned>(d.mbufs_per_worker))
    std::printf("vswitchd: %u mbufs per worker (mbufs_per_worker %d is too few for the rx rings)\n",
                mbufs, d.mbufs_per_worker);
  // The sizing above leaves 2048 mbufs beyond the rx rings' reserve (none for net_rtap, which
  // takes buffers only for a burst's reads), more than any traffic holds at once: only a smaller
  // pool lets a test exhaust it.
  if (fault_pool_mbufs) {
    std::printf("vswitchd: fault injection: %u mbufs per worker (sized: %u)\n", fault_pool_mbufs,
                mbufs);
    mbufs = fault_pool_mbufs;
  }
  return mbufs;
}

uint32_t total_fdb_entries(const config::Config& cfg) {
  uint32_t entries = 0;
  for (const auto& sw : cfg.switches) entries += static_cast<uint32_t>(sw.fdb_max_entries);
  return entries;
}

std::string build_datapath(const config::Config& cfg, Datapath& dp, unsigned pool_mbufs) {
  dp.pool_mbufs = pool_mbufs;
  std::string err = dp.mem.create(cfg.daemon.workers, pool_mbufs, total_fdb_entries(cfg));
  if (!err.empty()) return err;
  std::vector<const PortManager*> all;
  for (std::size_t i = 0; i < cfg.switches.size(); ++i) {
    dp.switches.push_back(std::make_unique<PortManager>(cfg, dp.mem, static_cast<int>(i)));
    all.push_back(dp.switches.back().get());
  }
  dp.ports = PortDirectory(all);
  for (auto& sw : dp.switches) {
    if (std::string err = sw->create_all(); !err.empty()) {
      dp.destroy_ports();
      return err;
    }
  }
  return {};
}

// The actors and threads of a running daemon, from start to stop.
int run_control_plane(const config::Config& cfg, const DaemonArgs& args, int sigfd, Datapath& dp,
                      StaleLockWatch& locks, const SystemdNotify& notify) {
  const auto& d = cfg.daemon;
  // Before any thread starts: with net_tap ports the kernel signals vswitchd for every frame,
  // and a thread that takes those signals can spend all its time in their handler under a
  // flood (seen: the FDB service starved, then not stopping within 10 s, under ASan).
  auto quiet_threads = std::make_unique<AsyncSignalsBlocked>();
  FdbService fdb(dp.mem, cfg, dp.ports);
  // The EVPN tunnel ports started from now on tell the FDB service's feed; until it is gone.
  struct EvpnSinkSet {
    Datapath& dp;
    EvpnSinkSet(Datapath& d, EvpnSink* sink) : dp(d) {
      for (auto& sw : dp.switches) sw->set_evpn_sink(sink);
    }
    ~EvpnSinkSet() {
      for (auto& sw : dp.switches) sw->set_evpn_sink(nullptr);
    }
  } evpn_sink_set(dp, &fdb);
  if (std::string err = fdb.start(); !err.empty()) {
    std::fprintf(stderr, "vswitchd: %s\n", err.c_str());
    return 1;
  }
  SupervisorOptions so;
  so.worker_binary = args.worker_binary.empty() ? default_worker_binary() : args.worker_binary;
  so.eal = EalOptions{d.file_prefix, d.main_core, args.log_level};
  so.worker_cpus = choose_worker_cpus(d);
  so.backoff_initial = std::chrono::milliseconds(d.restart_backoff_ms);
  so.crash_loop_limit = d.crash_loop_limit;
  so.restart = args.restart;
  so.fault_crash_worker = args.fault_crash_worker;
  so.fault_stale_locks_worker = args.fault_stale_locks_worker;
  so.fault_spin_worker = args.fault_spin_worker;
  so.fault_hold_lent_ms = args.fault_hold_lent_ms;
  so.stall_after = std::chrono::milliseconds(d.worker_stall_ms);

  caf::actor_system_config caf_cfg = actor_config(d);
  caf::actor_system sys{caf_cfg};
  std::unique_ptr<PidfdWatcher> watcher;
  WorkerSupervisor workers(so, [&watcher](pid_t pid, int fd) { watcher->watch(pid, fd); });
  MirrorTable mirrors(dp.mem);
  mirrors.set(cfg);
  TopologyRefs topo_refs{dp.mem.topology(), d.workers,
                         [&dp, &mirrors](const std::vector<bool>& active, TopologyTable& out) {
                           PortManager::build_topology(dp.ports.managers(), active, out);
                           mirrors.fill(out);
                         }};
  publish_table(topo_refs, ~0ull);  // before any actor runs: the workers start with it
  auto topology = sys.spawn(topology_behavior, &topo_refs);
  // One actor per switch, detached: its probes and hot-unplugs may take seconds, and must not
  // take a scheduler thread.
  std::vector<std::unique_ptr<SwitchRefs>> switch_refs;
  std::vector<switch_actor> switches;
  SwitchActors named_switches;
  std::vector<std::string> switch_names;
  for (std::size_t i = 0; i < cfg.switches.size(); ++i) {
    switch_refs.push_back(std::unique_ptr<SwitchRefs>(
        new SwitchRefs{cfg.switches[i].name, *dp.switches[i], dp.mem, fdb}));
    switches.push_back(
        sys.spawn<caf::detached>(switch_behavior, switch_refs.back().get(), topology));
    named_switches.emplace_back(cfg.switches[i].name, switches.back());
    switch_names.push_back(cfg.switches[i].name);
  }
  SupervisorRefs sup_refs{
      workers, [&dp, &fdb](const ExitOutcome& out) { clean_up_after(out, dp.mem, fdb, dp.ports); },
      [&dp](int w) {
        return dp.mem.counters(w).state.load(std::memory_order_acquire) ==
               static_cast<uint32_t>(WorkerState::kRunning);
      },
      [&dp](int w) { return read_beat(dp.mem.counters(w)); },
      [&dp](uint16_t port_id) { return dp.ports.name_of(port_id); }};
  // Detached: it forks workers and, at shutdown, polls them for up to 2 s; neither may hold a
  // scheduler thread that the topology and config actors need (docs/control.md, who waits where).
  auto supervisor = sys.spawn<caf::detached>(supervisor_behavior, &sup_refs, topology);
  watcher = std::make_unique<PidfdWatcher>(
      [supervisor](pid_t pid) { caf::anon_send(supervisor, exited_atom::value, int32_t{pid}); });
  ReloadStats reload_stats;
  auto cfg_actor = sys.spawn(config_behavior, args.config_path,
                             std::make_shared<const config::Config>(cfg), named_switches,
                             &reload_stats, dp.pool_mbufs, &notify, MirrorRefs{&mirrors, topology});
  std::vector<const std::atomic<bool>*> busy;
  for (const auto& r : switch_refs) busy.push_back(&r->busy);
  SwitchSnapshots snapshots(sys, switches, switch_names, busy);
  MetricsExporter metrics(
      dp.mem, [&snapshots](std::chrono::milliseconds wait) { return snapshots.fetch(wait); },
      workers);
  metrics.add_collectable(fdb.collector());
  metrics.add_collectable(locks.collector());
  metrics.add_collectable(port_state_collector(dp.ports));
  metrics.add_collectable(mirror_collector(mirrors));
  // Namespaces and netdevs that go away or come back: events become every switch's messages.
  NetnsWatcher netns_watch(
      NetnsWatcher::Handlers{[&switches](const std::string& netns, bool present) {
                               for (const switch_actor& sw : switches)
                                 caf::anon_send(sw, netns_atom::value, netns, present, int32_t{0});
                             },
                             [&switches](const std::string& ifname) {
                               for (const switch_actor& sw : switches)
                                 caf::anon_send(sw, link_gone_atom::value, ifname);
                             }});
  if (std::string err = netns_watch.start(); !err.empty())
    std::fprintf(stderr,
                 "vswitchd: warning: ports whose namespace or netdev goes away will not be "
                 "noticed: %s\n",
                 err.c_str());
  locks.start();
  metrics.set_reload_stats(&reload_stats);
  ServerLimits control_limits;
  control_limits.max_clients = static_cast<std::size_t>(d.control_max_clients);
  control_limits.request_timeout = std::chrono::milliseconds(d.control_request_timeout_ms);
  const ControlContext control_context{sys, cfg_actor, switches, supervisor, snapshots,
                                       fdb, dp.mem,    dp.ports, cfg,        mirrors};
  // Rate limits split over the workers where the traffic is (shm/rate_shares.hpp).
  std::vector<const WorkerCounterBlock*> counter_blocks;
  for (int w = 0; w < d.workers; ++w) counter_blocks.push_back(&dp.mem.counters(w));
  RateBalancer rate_balancer(dp.mem.topology(), counter_blocks, dp.mem.rate_shares());
  rate_balancer.start();
  CaptureService capture(dp.mem, dp.ports, cpus_without_workers(so.worker_cpus));
  metrics.add_collectable(capture.collector());
  ControlServer control(
      d.control_socket_path(), control_limits,
      [&control_context](const ControlRequest& req, ControlServer::Reply reply) {
        handle_control(control_context, req, std::move(reply));
      },
      [&capture](const ControlRequest& req, int conn, std::vector<int> fds) {
        capture.start(req, conn, std::move(fds));
      });
  metrics.add_server("control", &control.counters());

  std::string err;
  {
    caf::scoped_actor self{sys};
    self->request(supervisor, caf::infinite, start_atom::value)
        .receive([](bool) {}, [&err, &sys](const caf::error& e) { err = error_reason(e, &sys); });
  }
  if (err.empty()) {
    ServerLimits metrics_limits;
    metrics_limits.max_clients = static_cast<std::size_t>(d.metrics_max_connections);
    metrics_limits.request_timeout = std::chrono::milliseconds(d.metrics_request_timeout_ms);
    err = metrics.start(d.metrics_listen, metrics_limits, d.metrics_threads,
                        d.metrics_basic_auth_users);
  }
  if (err.empty()) err = control.start();
  if (err.empty() &&
      !wait_until_workers_forward(sys, supervisor, dp.mem, sigfd, std::chrono::seconds(10)))
    std::fprintf(stderr,
                 "vswitchd: warning: not every worker forwards 10 s after its start (see "
                 "`vswitchctl show workers`); ready anyway, the supervisor restarts them\n");
  WatchdogRefs watchdog_refs{&notify, cfg_actor, supervisor, notify.watchdog_period()};
  watchdog_actor watchdog;  // pings systemd's watchdog while the actors answer (if asked to)
  int rc = 1;
  if (!err.empty()) {
    std::fprintf(stderr, "vswitchd: %s\n", err.c_str());
    notify.send("", "Start-up failed: " + err);
  } else {
    std::printf(
        "vswitchd: ready: %zu ports, %d workers; metrics on http://%s/metrics; control "
        "socket %s\n",
        dp.ports.size(), d.workers, d.metrics_listen.c_str(), d.control_socket_path().c_str());
    std::fflush(stdout);
    notify.send("READY=1", "Forwarding: " + std::to_string(dp.ports.size()) + " ports, " +
                               std::to_string(d.workers) + " workers");
    if (watchdog_refs.period.count() > 0) watchdog = sys.spawn(watchdog_behavior, &watchdog_refs);
    quiet_threads.reset();  // every thread is started; the main thread takes those signals
    int sig = wait_for_stop(sigfd, cfg_actor);
    std::printf("vswitchd: %s received, stopping\n", sig ? strsignal(sig) : "error");
    std::fflush(stdout);
    notify.send("STOPPING=1", std::string("Stopping (") + (sig ? strsignal(sig) : "error") + ")");
    if (watchdog) caf::anon_send_exit(watchdog, caf::exit_reason::user_shutdown);
    rc = 0;
  }
  metrics.stop();  // it reads the control socket's counters
  control.stop();
  capture.stop();  // after the socket: no new capture comes
  netns_watch.stop();
  {
    caf::scoped_actor self{sys};
    self->request(supervisor, caf::infinite, stop_atom::value)
        .receive([](bool) {}, [](const caf::error&) {});
    fdb.stop();
    for (const switch_actor& sw : switches)
      self->request(sw, caf::infinite, stop_atom::value)
          .receive([](bool) {}, [](const caf::error&) {});
  }
  for (const caf::actor_addr& a : {cfg_actor.address(), supervisor.address(), topology.address()})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  for (const switch_actor& sw : switches) caf::anon_send_exit(sw, caf::exit_reason::user_shutdown);
  // The actors hold references to objects of this frame: let them finish first.
  sys.await_all_actors_done();
  return rc;
}

// What no configuration file can change: DPDK's compiled-in port table. "" if the ports fit.
std::string beyond_build_limits(const config::Config& cfg) {
  std::size_t ports = 0;
  for (const auto& sw : cfg.switches) ports += sw.ports.size();
  if (ports <= RTE_MAX_ETHPORTS) return {};
  return "the configuration has " + std::to_string(ports) + " ports; this DPDK build allows " +
         std::to_string(RTE_MAX_ETHPORTS) +
         " per process (RTE_MAX_ETHPORTS, fixed when DPDK was built: scripts/setup.sh builds "
         "it with 512). "
         "Spread the ports over several vswitchd instances, each with its own runtime_dir and "
         "file_prefix (docs/operations.md)";
}

// The EAL is told to reserve `needed_mb` (--legacy-mem -m): check before it starts. Read after a
// failed start, the free count is wrong (the EAL had mapped the pages it found: "0 MB free").
std::string hugepages_short(unsigned needed_mb, long free_mb, const config::DaemonConfig& d,
                            unsigned pool_mbufs) {
  if (free_mb < 0 || free_mb >= static_cast<long>(needed_mb)) return {};
  return "this configuration needs " + std::to_string(needed_mb) + " MB of hugepages (" +
         std::to_string(d.workers) + " workers x " + std::to_string(pool_mbufs) +
         " mbufs, FDB, ports), " + std::to_string(free_mb) +
         " MB are free (/sys/kernel/mm/hugepages): reserve more (scripts/setup.sh, or "
         "`dpdk-hugepages.py --reserve`), stop what holds them, or lower [daemon] workers, "
         "mbufs_per_worker or the ports' queues";
}

int serve(const config::Config& cfg, const DaemonArgs& args, int sigfd,
          const SystemdNotify& notify) {
  const auto& d = cfg.daemon;
  const unsigned pool_mbufs = size_worker_pools(cfg, args.fault_pool_mbufs);
  EalOptions eal{d.file_prefix, d.main_core, args.log_level};
  eal.memory_mb = hugepage_memory_mb(d.workers, pool_mbufs, total_fdb_entries(cfg));
  const long free_mb = free_hugepage_mb();
  if (std::string err = hugepages_short(eal.memory_mb, free_mb, d, pool_mbufs); !err.empty()) {
    std::fprintf(stderr, "vswitchd: %s\nvswitchd: nothing was started\n", err.c_str());
    return 1;
  }
  std::printf(
      "vswitchd: reserving %u MB of hugepage memory (%d workers x %u mbufs, FDB, ports; %ld MB "
      "free)\n",
      eal.memory_mb, d.workers, pool_mbufs, free_mb);
  if (std::string err = init_primary_eal(primary_eal_args(eal)); !err.empty()) {
    std::fprintf(stderr, "vswitchd: %s\n", err.c_str());
    return 1;
  }
  int rc = 1;
  {
    Datapath dp;
    StaleLockWatch locks;
    if (std::string err = locks.open(d.file_prefix); !err.empty())
      std::fprintf(stderr,
                   "vswitchd: warning: DPDK locks left held by a killed worker will not be "
                   "released: %s\n",
                   err.c_str());
    if (std::string err = build_datapath(cfg, dp, pool_mbufs); !err.empty()) {
      std::fprintf(stderr, "vswitchd: %s\n", err.c_str());
    } else {
      for (auto& sw : dp.switches)
        sw->set_fault_probe_hang(std::chrono::milliseconds(args.fault_hang_probe_ms));
      rc = run_control_plane(cfg, args, sigfd, dp, locks, notify);
    }
    // Every worker has ended and vswitchd's other threads are done: a DPDK lock still held was
    // left by a killed worker, and the frees and rte_eal_cleanup below would wait on it forever.
    locks.stop();
    for (const std::string& line : locks.release_all())
      std::fprintf(stderr, "vswitchd: at stop: %s\n", line.c_str());
    dp.destroy_ports();
    dp.mem.destroy();
  }
  shutdown_primary_eal(d.file_prefix);
  return rc;
}

}  // namespace

// Every rtap port costs each process about 4 fds per queue pair (the queue, two io_urings, an
// eventfd): hundreds of ports pass the usual soft limit of 1024. The soft limit goes up to the
// hard one (systemd's default is 524288); the workers inherit it.
static void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
  lim.rlim_cur = lim.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
    std::fprintf(stderr, "vswitchd: cannot raise the open-file limit: %s\n", std::strerror(errno));
}

int run_daemon(int argc, char** argv) {
  // One line at a time, also into a file or a pipe (journald): a log line that waits in a buffer
  // until exit is no use to an operator, and stdout and stderr lines keep their order.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  // First: no child (a worker, `ip`) may inherit $NOTIFY_SOCKET and speak for vswitchd.
  std::string notify_error;
  const SystemdNotify notify = SystemdNotify::from_environment(notify_error);
  if (!notify_error.empty()) std::fprintf(stderr, "vswitchd: %s\n", notify_error.c_str());
  DaemonArgs args;
  if (!parse_args(argc, argv, args)) {
    usage(stderr);
    return 64;
  }
  netns_allow_creation(args.create_netns);
  config::LoadResult loaded = config::load_config_file(args.config_path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\nvswitchd: configuration refused, nothing was started\n",
                 config::format_errors(loaded).c_str());
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr,
                 "vswitchd: must run as root (it creates TAP interfaces and uses "
                 "hugepages)\n");
    return 1;
  }
  for (const std::string& d : loaded.dropins)
    std::printf("vswitchd: %s: merged drop-in %s\n", args.config_path.c_str(), d.c_str());
  for (const std::string& n : loaded.notes) std::printf("vswitchd: %s\n", n.c_str());
  const config::Config& cfg = *loaded.config;
  if (std::string err = beyond_build_limits(cfg); !err.empty()) {
    std::fprintf(stderr, "vswitchd: %s\nvswitchd: configuration refused, nothing was started\n",
                 err.c_str());
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(cfg.daemon.runtime_dir, ec);
  if (ec) {
    std::fprintf(stderr, "vswitchd: cannot create runtime_dir %s: %s\n",
                 cfg.daemon.runtime_dir.c_str(), ec.message().c_str());
    return 1;
  }
  InstanceLocks instance;
  if (!lock_instance(cfg.daemon, instance)) return 1;
  raise_fd_limit();
  int sigfd = block_signals_into_fd();
  int rc = serve(cfg, args, sigfd, notify);
  close(sigfd);
  return rc;
}

}  // namespace vs
