#include "actors/daemon.hpp"

#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <rte_mempool.h>
#include <sched.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "actors/datapath_memory.hpp"
#include "actors/eal.hpp"
#include "actors/fdb_service.hpp"
#include "actors/metrics.hpp"
#include "actors/port_manager.hpp"
#include "actors/supervisor.hpp"
#include "config/config.hpp"

namespace vs {
namespace {

struct DaemonArgs {
  std::string config_path = "/etc/vswitch/vswitch.toml";
  std::string log_level = "notice";
  std::string worker_binary;
  bool restart = true;
};

void usage(FILE* to) {
  std::fprintf(
      to,
      "usage: vswitchd [--config FILE] [--log-level LEVEL] [--worker-binary PATH] "
      "[--no-restart]\n"
      "  --config FILE        the switch configuration (default /etc/vswitch/vswitch.toml)\n"
      "  --log-level LEVEL    DPDK log level: error, warning, notice, info, debug\n"
      "  --worker-binary PATH vswitch-worker to start (default: beside vswitchd)\n"
      "  --no-restart         do not restart workers that exit (for fault tests)\n");
}

bool parse_args(int argc, char** argv, DaemonArgs& a) {
  static const option longopts[] = {{"config", required_argument, nullptr, 'c'},
                                    {"log-level", required_argument, nullptr, 'l'},
                                    {"worker-binary", required_argument, nullptr, 'w'},
                                    {"no-restart", no_argument, nullptr, 'n'},
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
      case 'h':
        usage(stdout);
        std::exit(0);
      default:
        return false;
    }
  }
  return optind == argc;
}

std::string default_worker_binary() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "vswitch-worker";
  buf[n] = '\0';
  return (std::filesystem::path(buf).parent_path() / "vswitch-worker").string();
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

class PidFile {
 public:
  explicit PidFile(std::string path) : path_(std::move(path)) {
    std::ofstream(path_) << getpid() << "\n";
  }
  ~PidFile() { std::remove(path_.c_str()); }

 private:
  std::string path_;
};

// Blocks the stop signals in every thread (EAL and metrics threads inherit the mask) and returns
// a signalfd that the event loop reads them from.
int block_signals_into_fd() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return signalfd(-1, &set, SFD_CLOEXEC);
}

// Returns the signal that asked us to stop.
int event_loop(int sigfd, WorkerSupervisor& sup) {
  for (;;) {
    std::vector<pollfd> fds{{sigfd, POLLIN, 0}};
    sup.add_poll_fds(fds);
    int timeout = sup.ms_until_next_restart();
    int n = poll(fds.data(), fds.size(), timeout < 0 ? 1000 : timeout);
    if (n < 0 && errno != EINTR) return 0;
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si;
      if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
          std::fprintf(stderr, "vswitchd: SIGHUP: configuration reload is not implemented yet\n");
        } else {
          return static_cast<int>(si.ssi_signo);
        }
      }
    }
    for (size_t i = 1; i < fds.size(); ++i)
      if (fds[i].revents) sup.on_pidfd_ready(fds[i].fd);
    sup.run_due_restarts();
  }
}

int serve(const config::Config& cfg, const DaemonArgs& args, int sigfd) {
  const auto& d = cfg.daemon;
  EalOptions eal{d.file_prefix, d.main_core, args.log_level};
  if (std::string err = init_primary_eal(primary_eal_args(eal)); !err.empty()) {
    std::fprintf(stderr, "vswitchd: %s\n", err.c_str());
    return 1;
  }
  int rc = 1;
  {
    DatapathMemory mem;
    std::unique_ptr<PortManager> ports;
    unsigned mbufs = mbufs_needed_per_worker(cfg);
    if (mbufs > static_cast<unsigned>(d.mbufs_per_worker))
      std::printf(
          "vswitchd: %u mbufs per worker (mbufs_per_worker %d is too few for %u-descriptor "
          "rx rings)\n",
          mbufs, d.mbufs_per_worker, kRxRingSize);
    uint32_t fdb_entries = 0;
    for (const auto& sw : cfg.switches) fdb_entries += static_cast<uint32_t>(sw.fdb_max_entries);
    std::string err = mem.create(d.workers, mbufs, fdb_entries);
    if (err.empty()) {
      ports = std::make_unique<PortManager>(cfg, mem);
      err = ports->create_all();
    }
    if (!err.empty()) {
      std::fprintf(stderr, "vswitchd: %s\n", err.c_str());
    } else {
      topology_publish(mem.topology(), ports->topology());
      SupervisorOptions so;
      so.worker_binary = args.worker_binary.empty() ? default_worker_binary() : args.worker_binary;
      so.eal = eal;
      so.worker_cpus = choose_worker_cpus(d);
      so.backoff_initial = std::chrono::milliseconds(d.restart_backoff_ms);
      so.restart = args.restart;
      // A dead worker cannot write its block or return the mbufs cached for its lcore: the
      // primary takes over as the single writer until the next start.
      FdbService fdb(mem, cfg, *ports);
      const bool all_rtap = ports->all_rtap();
      auto on_worker_exit = [&mem, &fdb, all_rtap](int w) {
        fdb.reset_learn_ring(w);
        mem.counters(w).state.store(static_cast<uint32_t>(WorkerState::kStopped));
        if (all_rtap) {
          if (unsigned n = mem.reclaim_pool(w))
            std::printf("vswitchd: worker %d: %u mbufs it held recovered into its pool\n", w, n);
          return;
        }
        rte_mempool* mp = mem.pool(w);
        if (rte_mempool_cache* cache = rte_mempool_default_cache(mp, static_cast<unsigned>(w + 1)))
          rte_mempool_cache_flush(cache, mp);
      };
      WorkerSupervisor sup(so, on_worker_exit);
      MetricsExporter metrics(mem, *ports, sup);
      metrics.add_collectable(fdb.collector());
      err = fdb.start();
      if (err.empty()) err = sup.start_all();
      if (err.empty()) err = metrics.start(d.metrics_listen);
      if (!err.empty()) {
        std::fprintf(stderr, "vswitchd: %s\n", err.c_str());
      } else {
        std::printf("vswitchd: ready: %zu ports, %d workers; metrics on http://%s/metrics\n",
                    ports->ports().size(), d.workers, d.metrics_listen.c_str());
        std::fflush(stdout);
        int sig = event_loop(sigfd, sup);
        std::printf("vswitchd: %s received, stopping\n", sig ? strsignal(sig) : "error");
        std::fflush(stdout);
        rc = 0;
      }
      sup.stop_all(std::chrono::milliseconds(2000));
      fdb.stop();
    }
    if (ports) ports->destroy_all();
    mem.destroy();
  }
  shutdown_primary_eal(d.file_prefix);
  return rc;
}

}  // namespace

int run_daemon(int argc, char** argv) {
  DaemonArgs args;
  if (!parse_args(argc, argv, args)) {
    usage(stderr);
    return 64;
  }
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
  const config::Config& cfg = *loaded.config;
  std::error_code ec;
  std::filesystem::create_directories(cfg.daemon.runtime_dir, ec);
  if (ec) {
    std::fprintf(stderr, "vswitchd: cannot create runtime_dir %s: %s\n",
                 cfg.daemon.runtime_dir.c_str(), ec.message().c_str());
    return 1;
  }
  int sigfd = block_signals_into_fd();
  PidFile pid_file(cfg.daemon.runtime_dir + "/vswitchd.pid");
  int rc = serve(cfg, args, sigfd);
  close(sigfd);
  return rc;
}

}  // namespace vs
