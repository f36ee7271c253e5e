// Starting and tearing down DPDK's EAL for the primary, and the argument lists of both process
// kinds. Every DPDK process of ours gets --no-pci (never touch the host's NICs) and the config's
// --file-prefix (two daemons on one host never share hugepage files or runtime dirs).
#pragma once
#include <string>
#include <vector>

namespace vs {

struct EalOptions {
  std::string file_prefix;
  int main_core = 0;
  std::string log_level = "notice";
  // The primary's hugepage memory, in MB, all reserved at start (--legacy-mem -m): 0 leaves the
  // EAL's default (dynamic memory, which grows and shrinks the heap at run time). Workers take the
  // mode from the primary.
  unsigned memory_mb = 0;
};

std::vector<std::string> primary_eal_args(const EalOptions& opts);
// A worker runs as lcore id `lcore` (worker_lcore(): unique across the processes, because
// mempool caches are per lcore id) on CPU `cpu`.
std::vector<std::string> worker_eal_args(const EalOptions& opts, unsigned lcore, int cpu);
// The lcore id of worker w: w + 1 (the primary is 0), or w + 1 + kMaxWorkers for the process that
// replaces it while it still runs (`vswitchctl worker restart`): the two alternate.
unsigned worker_lcore(int worker_id, bool alternate);

// rte_eal_init as primary; restores the calling thread's CPU affinity afterwards so that threads
// created later (metrics server, actors) are not all pinned to the main lcore.
// Returns an empty string or the reason it failed, with the fix.
std::string init_primary_eal(const std::vector<std::string>& args);

// rte_eal_cleanup, then removes this prefix's hugepage files and runtime directory, which
// DPDK 22.11 leaves behind. Call only once no secondary of the prefix is alive.
void shutdown_primary_eal(const std::string& file_prefix);

// Free hugepage memory in MB, over every hugepage size; -1 if /sys does not say.
long free_hugepage_mb();

// Removes hugepage files and the runtime dir of `file_prefix` (for tests and crashed daemons).
void remove_eal_leftovers(const std::string& file_prefix);

}  // namespace vs
