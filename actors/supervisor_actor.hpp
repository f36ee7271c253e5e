// The supervisor actor: drives WorkerSupervisor. Worker exits arrive as messages from the pidfd
// watcher; restarts wait out their back-off as delayed messages; a worker given up (or revived)
// changes which workers the topology actor lets poll; `worker restart N` answers once the new
// process forwards.
#pragma once
#include <chrono>
#include <functional>
#include <map>

#include "actors/messages.hpp"
#include "daemon/supervisor.hpp"

namespace vs {

struct SupervisorRefs {
  WorkerSupervisor& workers;
  // The daemon's clean-up of an exited process's shared objects (learn ring, mempool cache).
  std::function<void(const ExitOutcome&)> on_exit;
  // True once worker w's (new) process forwards: its counter block says so.
  std::function<bool(int)> is_forwarding;
  // Worker w's heartbeat from its counter block (the stall deadline).
  std::function<WorkerBeat(int)> beat;
  // A DPDK port id's name, for the log line of a stall ("" if unknown).
  std::function<std::string(uint16_t)> port_name;
};

struct SupervisorState {
  static inline const char* name = "supervisor";
  SupervisorRefs* refs = nullptr;
  topology_actor topology;
  struct Pending {
    caf::typed_response_promise<Restarted> promise;
    std::chrono::steady_clock::time_point since;
    pid_t old_pid = 0;
  };
  std::map<int, Pending> replacing;
  // Workers whose queues are lent to the others while they restart: a crashed worker's queues
  // are polled again within one housekeeping period instead of after an EAL start-up.
  uint64_t lent = 0;
  // Restarts held back while a port change runs (daemon/hotplug_gate.hpp): since when.
  std::map<int, std::chrono::steady_clock::time_point> held_back;
  bool stopping = false;
  bool checking = false;  // the periodic heartbeat check is scheduled
};

supervisor_actor::behavior_type supervisor_behavior(
    supervisor_actor::stateful_pointer<SupervisorState> self, SupervisorRefs* refs,
    topology_actor topology);

// The period of the heartbeat check: a fifth of the deadline, 10..100 ms.
std::chrono::milliseconds heartbeat_check_period(std::chrono::milliseconds stall_after);

// Bit w set = worker w may poll queues.
uint64_t active_mask(const std::vector<bool>& active);

}  // namespace vs
