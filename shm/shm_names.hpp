// Names of the shared objects the primary creates and the workers look up. Memzone and mempool
// names are private to one EAL --file-prefix, so two daemons never collide.
#pragma once
#include <string>

namespace vs {

inline constexpr const char* kTopologyZone = "vs_topology";
inline constexpr const char* kFdbZone = "vs_fdb";
inline std::string learn_ring_name(int worker_id) {
  return "vs_learn_w" + std::to_string(worker_id);
}
inline std::string counter_zone_name(int worker_id) {
  return "vs_wctr_" + std::to_string(worker_id);
}
inline std::string worker_pool_name(int worker_id) {
  return "vs_pool_w" + std::to_string(worker_id);
}
inline std::string large_pool_name(int worker_id) {
  return "vs_large_w" + std::to_string(worker_id);
}

// Exit codes of vswitch-worker, read by the supervisor.
inline constexpr int kWorkerExitOk = 0;
inline constexpr int kWorkerExitUsage = 64;   // bad command line: restarting will not help
inline constexpr int kWorkerExitAttach = 69;  // could not attach to the primary
inline constexpr int kWorkerExitPrimaryGone = 70;

}  // namespace vs
