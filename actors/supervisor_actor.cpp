#include "actors/supervisor_actor.hpp"

#include <signal.h>

#include <algorithm>
#include <cstdio>

#include "daemon/hotplug_gate.hpp"
#include "shm/counters.hpp"

namespace vs {
namespace {

caf::error failed(errc code, const std::string& why) {
  return caf::make_error(code, why);
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Tells the topology actor which workers poll: not the failed ones, not those whose queues are
// lent.
void publish_pollers(supervisor_actor::stateful_pointer<SupervisorState> self) {
  SupervisorState& st = self->state;
  self->send(st.topology, workers_atom::value, active_mask(st.refs->workers.active()) & ~st.lent);
}

// A crashed worker's queues go to the running workers until its new process forwards.
void lend_queues(supervisor_actor::stateful_pointer<SupervisorState> self, int w) {
  SupervisorState& st = self->state;
  bool someone_else = false;
  for (const WorkerStatus& s : st.refs->workers.status())
    someone_else = someone_else || (s.id != w && s.running && !((st.lent >> s.id) & 1));
  if (!someone_else) return;
  st.lent |= 1ull << w;
  publish_pollers(self);
}

// The old process of a replacement was killed before it released its queues: the buffers it had
// posted from the worker's pool are gone, and the new process, which posts its own, cannot give
// them back (a pool sized for one set of rx rings then has too few left for the new process's).
// Only the clean-up after its current process ended refills the pool, so the new process is made
// to stop: the worker restarts as after a crash (its queues lent meanwhile) with a full pool.
// SIGTERM, not SIGKILL: the new process may still be in rte_eal_init, holding a DPDK lock in
// shared memory that a SIGKILL would leave held for good (seen: the next process hung in its
// start-up). It exits at once when asked during its attach, and stops like any worker after.
void restart_after_lost_handover(supervisor_actor::stateful_pointer<SupervisorState> self,
                                 const ExitOutcome& out,
                                 std::map<int, SupervisorState::Pending>::iterator pending) {
  SupervisorState& st = self->state;
  const int w = out.worker;
  const pid_t new_pid = st.refs->workers.status()[static_cast<size_t>(w)].pid;
  std::fprintf(stderr,
               "vswitchd: the old process of worker %d ended (%s) during its replacement, with "
               "the buffers it held; restarting worker %d to refill its pool\n",
               w, out.detail.c_str(), w);
  if (new_pid > 0) kill(new_pid, SIGTERM);
  if (pending == st.replacing.end()) return;
  pending->second.promise.deliver(
      failed(errc::worker_failed, "the old process of worker " + std::to_string(w) + " ended (" +
                                      out.detail + ") during the hand-over; worker " +
                                      std::to_string(w) + " restarts as after a crash"));
  st.replacing.erase(pending);
}

// A worker that polls lent queues posts rx buffers from their owner's pool. If it crashes while
// the owner is down too, nothing alive will give those buffers back: without a refill, the owner
// restarts with too few to post on its own queues (seen in the soak: every later read failed with
// ENOMEM). Once no worker process runs at all, no one can hold an mbuf of a lent pool, so the
// clean-up may refill it. (With a third worker still running, the loss stays: docs/control.md.)
uint64_t orphaned_pools(const SupervisorState& st, const ExitOutcome& out) {
  if (out.kind != ExitOutcome::kRestartLater && out.kind != ExitOutcome::kGaveUp) return 0;
  uint64_t pools = 0;
  for (const WorkerStatus& s : st.refs->workers.status()) {
    if (s.running) return 0;
    if ((st.lent >> s.id) & 1) pools |= 1ull << s.id;
  }
  return pools;
}

// Kills every running worker whose heartbeat is older than the deadline (worker_stall_ms): its
// exit then goes the crash path (queues lent at once, restart with back-off, crash-loop limit).
void check_heartbeats(supervisor_actor::stateful_pointer<SupervisorState> self) {
  SupervisorState& st = self->state;
  WorkerSupervisor& sup = st.refs->workers;
  const auto deadline = sup.stall_after();
  const uint64_t deadline_ns = static_cast<uint64_t>(deadline.count()) * 1000000ull;
  for (const WorkerStatus& s : sup.status()) {
    if (!s.running || s.stalled) continue;
    const WorkerBeat b = st.refs->beat(s.id);
    const uint64_t now = monotonic_ns();  // after the beat was read: never before it
    // Its CPU wait since the beat is read only when the beat alone is past the deadline.
    if (judge_heartbeat(b, s.pid, now, 0, deadline_ns) != StallVerdict::kStalled) continue;
    const uint64_t run_delay = process_run_delay_ns(s.pid);
    if (judge_heartbeat(b, s.pid, now, run_delay, deadline_ns) != StallVerdict::kStalled)
      continue;  // slow: the host did not let it run
    if (!sup.kill_stalled(s.id, s.pid)) continue;
    const auto phase = static_cast<WorkerPhase>(b.phase);
    std::string where;
    if (phase == WorkerPhase::kPolling) {
      std::string name = st.refs->port_name ? st.refs->port_name(b.port) : std::string();
      where = " on port " + (name.empty() ? std::to_string(b.port) : name) + " rx queue " +
              std::to_string(b.queue);
    }
    std::fprintf(stderr,
                 "vswitchd: worker %d (pid %d) stalled: no heartbeat for %.0f ms (%.0f ms of it "
                 "waiting for a CPU; deadline worker_stall_ms = %lld), last phase %s%s; killed "
                 "(SIGKILL), it restarts as after a crash\n",
                 s.id, static_cast<int>(s.pid), static_cast<double>(now - b.beat_ns) / 1e6,
                 static_cast<double>(now - b.beat_ns - stall_age_ns(b, now, run_delay)) / 1e6,
                 static_cast<long long>(deadline.count()),
                 std::string(worker_phase_name(phase)).c_str(), where.c_str());
  }
}

void on_worker_exit(supervisor_actor::stateful_pointer<SupervisorState> self, pid_t pid) {
  SupervisorState& st = self->state;
  ExitOutcome out = st.refs->workers.on_exit(pid);
  if (out.kind == ExitOutcome::kUnknown) return;
  out.held_queues = !((st.lent >> out.worker) & 1);
  out.orphaned_pools = orphaned_pools(st, out);
  st.refs->on_exit(out);
  const int w = out.worker;
  auto pending = st.replacing.find(w);
  switch (out.kind) {
    case ExitOutcome::kHandedOver:
      if (out.lost_buffers) return restart_after_lost_handover(self, out, pending);
      std::fprintf(stderr, "vswitchd: worker %d replaced (old process: %s)\n", w,
                   out.detail.c_str());
      if (pending != st.replacing.end()) {
        pending->second.promise.deliver(Restarted{
            w, "", pending->second.old_pid, st.refs->workers.status()[static_cast<size_t>(w)].pid,
            ms_since(pending->second.since)});
        st.replacing.erase(pending);
      }
      return;
    case ExitOutcome::kReplaceFailed:
      std::fprintf(stderr,
                   "vswitchd: the replacement of worker %d failed (%s); the old one runs on\n", w,
                   out.detail.c_str());
      if (pending != st.replacing.end()) {
        pending->second.promise.deliver(failed(
            errc::worker_failed,
            "the replacement process of worker " + std::to_string(w) + " ended (" + out.detail +
                ") before taking over; the old process still forwards. See vswitchd's log."));
        st.replacing.erase(pending);
      }
      return;
    case ExitOutcome::kRestartLater:
      std::fprintf(stderr, "vswitchd: worker %d ended (%s); restarting in %lld ms\n", w,
                   out.detail.c_str(), static_cast<long long>(out.delay.count()));
      self->delayed_send(self, out.delay, respawn_atom::value, static_cast<int32_t>(w));
      lend_queues(self, w);
      return;
    case ExitOutcome::kGaveUp:
      std::fprintf(
          stderr,
          "vswitchd: worker %d ended (%s) and keeps crashing: given up (state failed); its "
          "queues move to the other workers. `vswitchctl worker restart %d` tries again\n",
          w, out.detail.c_str(), w);
      st.lent &= ~(1ull << w);
      publish_pollers(self);
      return;
    default:
      return;
  }
}

// A worker that starts during a port change can keep a device the primary removes
// (daemon/hotplug_gate.hpp): its restart waits for the change, polled here rather than waited
// for, so that the supervisor keeps answering. Its queues are lent meanwhile. After kHoldBackMax
// the start goes ahead and waits in the gate (bounded there too).
constexpr std::chrono::milliseconds kHoldBackPoll{20};
constexpr std::chrono::milliseconds kHoldBackMax{30000};

bool hold_back_restart(supervisor_actor::stateful_pointer<SupervisorState> self, int32_t w) {
  auto& held = self->state.held_back;
  const auto now = std::chrono::steady_clock::now();
  if (!HotplugGate::instance().change_in_progress()) {
    if (auto it = held.find(w); it != held.end()) {
      std::fprintf(stderr,
                   "vswitchd: worker %d: the port change is over after %lld ms; starting it\n", w,
                   static_cast<long long>(ms_since(it->second)));
      held.erase(it);
    }
    return false;
  }
  auto [it, first] = held.try_emplace(w, now);
  if (first)
    std::fprintf(stderr, "vswitchd: worker %d waits for a port change to end before it starts\n",
                 w);
  if (now - it->second >= kHoldBackMax) {
    held.erase(it);
    return false;
  }
  self->delayed_send(self, kHoldBackPoll, respawn_atom::value, w);
  return true;
}

}  // namespace

std::chrono::milliseconds heartbeat_check_period(std::chrono::milliseconds stall_after) {
  return std::clamp(stall_after / 5, std::chrono::milliseconds(10), std::chrono::milliseconds(100));
}

uint64_t active_mask(const std::vector<bool>& active) {
  uint64_t m = 0;
  for (std::size_t w = 0; w < active.size() && w < 64; ++w)
    if (active[w]) m |= 1ull << w;
  return m;
}

supervisor_actor::behavior_type supervisor_behavior(
    supervisor_actor::stateful_pointer<SupervisorState> self, SupervisorRefs* refs,
    topology_actor topology) {
  self->state.refs = refs;
  self->state.topology = std::move(topology);
  return {
      [self](start_atom) -> caf::result<bool> {
        SupervisorState& st = self->state;
        if (!st.checking && st.refs->beat) {
          st.checking = true;
          self->send(self, heartbeat_atom::value);
        }
        if (std::string err = st.refs->workers.start_all(); !err.empty())
          return failed(errc::worker_failed, err);
        return true;
      },
      [self](heartbeat_atom) {
        SupervisorState& st = self->state;
        if (st.stopping) return;
        check_heartbeats(self);
        self->delayed_send(self, heartbeat_check_period(st.refs->workers.stall_after()),
                           heartbeat_atom::value);
      },
      [](ping_atom) { return true; },
      [self](show_atom) {
        WorkersView v;
        v.status = self->state.refs->workers.status();
        for (const WorkerStatus& s : v.status)
          v.beats.push_back(self->state.refs->beat ? self->state.refs->beat(s.id) : WorkerBeat{});
        v.now_ns = monotonic_ns();
        return v;
      },
      [self](restart_atom, int32_t w) -> caf::result<Restarted> {
        SupervisorState& st = self->state;
        WorkerSupervisor& sup = st.refs->workers;
        if (st.stopping) return failed(errc::stopping, "vswitchd is stopping");
        if (w < 0 || w >= sup.size())
          return failed(errc::no_such_worker, "no worker " + std::to_string(w) +
                                                  " (workers are 0.." +
                                                  std::to_string(sup.size() - 1) + ")");
        const WorkerStatus s = sup.status()[static_cast<size_t>(w)];
        if (!s.running) {  // failed, stopped or waiting for its back-off: start it now
          const auto t0 = std::chrono::steady_clock::now();
          if (std::string err = sup.start(w); !err.empty()) return failed(errc::worker_failed, err);
          if (s.failed) publish_pollers(self);
          if ((st.lent >> w) & 1) self->send(self, reclaim_atom::value, w);  // lent at its crash
          return Restarted{w, s.state(), 0, sup.status()[static_cast<size_t>(w)].pid, ms_since(t0)};
        }
        if (st.replacing.count(w))
          return failed(errc::refused,
                        "worker " + std::to_string(w) + " is already being replaced");
        if (std::string err = sup.begin_replace(w); !err.empty())
          return failed(errc::worker_failed, err);
        auto promise = self->make_response_promise<Restarted>();
        st.replacing[w] = {promise, std::chrono::steady_clock::now(), s.pid};
        return promise;
      },
      [self](exited_atom, int32_t pid) { on_worker_exit(self, static_cast<pid_t>(pid)); },
      [self](respawn_atom, int32_t w) {
        if (self->state.stopping) return;
        WorkerSupervisor& sup = self->state.refs->workers;
        const WorkerStatus s = sup.status()[static_cast<size_t>(w)];
        if (s.running || s.failed || !s.restart_pending) return;  // restarted by hand meanwhile
        if (hold_back_restart(self, w)) return;
        if (std::string err = sup.start(w); !err.empty()) {
          std::fprintf(stderr, "vswitchd: %s\n", err.c_str());
          return;
        }
        if ((self->state.lent >> w) & 1) self->send(self, reclaim_atom::value, w);
      },
      [self](reclaim_atom, int32_t w) {
        SupervisorState& st = self->state;
        if (st.stopping || !((st.lent >> w) & 1)) return;
        const WorkerStatus s = st.refs->workers.status()[static_cast<size_t>(w)];
        if (!s.running) return;  // it died again; the next start asks again
        if (!st.refs->is_forwarding(w)) {
          self->delayed_send(self, std::chrono::milliseconds(5), reclaim_atom::value, w);
          return;
        }
        st.lent &= ~(1ull << w);
        publish_pollers(self);
      },
      [self](stop_atom) {
        self->state.stopping = true;
        for (auto& [w, p] : self->state.replacing)
          p.promise.deliver(failed(errc::stopping, "vswitchd is stopping"));
        self->state.replacing.clear();
        self->state.refs->workers.stop_all(std::chrono::milliseconds(2000));
        // The margin against the stall deadline, for the logs of whole test suites.
        if (self->state.refs->beat)
          for (const WorkerStatus& s : self->state.refs->workers.status())
            std::fprintf(stderr,
                         "vswitchd: worker %d: longest heartbeat gap %.1f ms, %.1f ms of it not "
                         "waiting for a CPU (worker_stall_ms %lld), %llu stalls\n",
                         s.id, static_cast<double>(self->state.refs->beat(s.id).max_gap_ns) / 1e6,
                         static_cast<double>(self->state.refs->beat(s.id).max_stall_ns) / 1e6,
                         static_cast<long long>(self->state.refs->workers.stall_after().count()),
                         static_cast<unsigned long long>(s.stalls));
        return true;
      },
  };
}

}  // namespace vs
