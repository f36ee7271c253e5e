#include "eal_env.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_mbuf.h>

#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace vstest {
namespace {

std::string g_prefix;
bool g_ready = false;
std::mutex g_log_mu;
std::string g_log;

ssize_t log_write(void*, const char* buf, size_t n) {
  {
    std::lock_guard<std::mutex> g(g_log_mu);
    g_log.append(buf, n);
  }
  fwrite(buf, 1, n, stderr);
  return static_cast<ssize_t>(n);
}

void cleanup_at_exit() {
  if (!g_prefix.empty()) remove_eal_files(g_prefix);
}

// A crash or a kill by ctest's timeout must not leave hugepage files behind either.
void empty_dir(const std::string& dir, const std::string& starts_with, bool remove_dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.' && strncmp(e->d_name, starts_with.c_str(), starts_with.size()) == 0)
        unlink((dir + "/" + e->d_name).c_str());
    closedir(d);
  }
  if (remove_dir) rmdir(dir.c_str());
}

void on_fatal_signal(int sig) {
  if (!g_prefix.empty()) {
    empty_dir("/dev/hugepages", g_prefix + "map_", false);
    empty_dir("/var/run/dpdk/" + g_prefix, "", true);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

const std::string& EalEnvironment::prefix() {
  return g_prefix;
}
bool EalEnvironment::ready() {
  return g_ready;
}

void EalEnvironment::SetUp() {
  g_prefix = "rtapt" + std::to_string(getpid()) + "_";
  std::atexit(cleanup_at_exit);  // also when a test calls exit() or a fatal failure ends the run
  for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGTERM, SIGINT}) signal(sig, on_fatal_signal);
  cookie_io_functions_t io{};
  io.write = log_write;
  FILE* f = fopencookie(nullptr, "w", io);
  setvbuf(f, nullptr, _IOLBF, 0);
  rte_openlog_stream(f);
  std::vector<std::string> args = {
      "rtap_test", "--no-pci", "--file-prefix=" + g_prefix,    "--iova-mode=va", "--no-telemetry",
      "-l",        "0",        "--log-level=pmd.net.rtap:info"};
  // The driver does no DMA: when another DPDK process (a benchmark's OVS-DPDK, say) holds the
  // hugepages, run on ordinary memory rather than fail for a reason that is not ours.
  long free_pages = std::atol(out("awk '/HugePages_Free/ {print $2}' /proc/meminfo").c_str());
  if (free_pages < 48) {
    fprintf(stderr, "[ eal      ] only %ld free hugepages: running with --no-huge -m 256\n",
            free_pages);
    for (const char* a : {"--no-huge", "-m", "256"}) args.push_back(a);
  }
  for (auto& e : extra_) args.push_back(e);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  // No -m: memory is taken from the hugepages as pools need it, since other suites share them.
  int rc = rte_eal_init(static_cast<int>(argv.size()), argv.data());
  if (rc < 0) {
    // gtest would report every test as skipped; an EAL that cannot start is a failure.
    fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
    exit(1);
  }
  g_ready = true;
}

void EalEnvironment::TearDown() {
  if (g_ready) rte_eal_cleanup();
  g_ready = false;
  remove_eal_files(g_prefix);
}

void remove_eal_files(const std::string& prefix) {
  if (prefix.empty()) return;
  if (DIR* d = opendir("/dev/hugepages")) {
    std::string want = prefix + "map_";
    while (dirent* e = readdir(d))
      if (strncmp(e->d_name, want.c_str(), want.size()) == 0)
        unlink(("/dev/hugepages/" + std::string(e->d_name)).c_str());
    closedir(d);
  }
  run("rm -rf '/var/run/dpdk/" + prefix + "'");
}

std::string log_text() {
  std::lock_guard<std::mutex> g(g_log_mu);
  return g_log;
}

void clear_log() {
  std::lock_guard<std::mutex> g(g_log_mu);
  g_log.clear();
}

rte_mempool* make_pool(unsigned n, uint16_t data_room, const char* ops) {
  static std::atomic<int> seq{0};
  std::string name = "tp" + std::to_string(seq++);
  rte_mempool* mp =
      rte_pktmbuf_pool_create_by_ops(name.c_str(), n, 0, 0, data_room, SOCKET_ID_ANY, ops);
  if (mp == nullptr)
    fprintf(stderr,
            "make_pool(%u): %s; hugepages free: %s (another DPDK process, e.g. OVS-DPDK, may hold "
            "them)\n",
            n, rte_strerror(rte_errno), out("grep HugePages_Free /proc/meminfo").c_str());
  return mp;
}

int run(const std::string& cmd) {
  int rc = system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string out(const std::string& cmd) {
  std::string s;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) s.append(buf, n);
    pclose(p);
  }
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

int count_fds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') n++;
    closedir(d);
  }
  return n - 1;  // the directory stream itself
}

std::string unique_name(const std::string& base) {
  std::string s = base + std::to_string(getpid() % 1000000);
  return s.substr(0, 15);
}

}  // namespace vstest
