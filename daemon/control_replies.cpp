#include "daemon/control_replies.hpp"

#include "shm/counters.hpp"

namespace vs {

using nlohmann::json;

json reply_json(const Applied& a) {
  return json{{"ok", true},
              {"summary", a.summary},
              {"added", a.added},
              {"removed", a.removed},
              {"recreated", a.recreated},
              {"retagged", a.retagged},
              {"ms", a.ms}};
}

json reply_json(const ResetDone& r) {
  return json{{"ok", true}, {"port", r.port}, {"was", r.was_down ? "down" : "up"}, {"ms", r.ms}};
}

json reply_json(const Revived& r) {
  json down = json::array();
  for (const auto& [name, reason] : r.down) down.push_back({{"name", name}, {"reason", reason}});
  return json{{"ok", true}, {"recreated", r.recreated}, {"down", down}};
}

namespace {

json worker_json(const WorkerStatus& s, const WorkerBeat& b, uint64_t now) {
  const bool own = s.running && b.pid == s.pid && b.beat_ns != 0;
  return {{"id", s.id},
          {"pid", s.pid},
          {"state", s.state()},
          {"cpu", s.cpu},
          {"starts", s.starts},
          {"restarts", s.restarts},
          {"crashes_in_row", s.crashes_in_row},
          {"stalls", s.stalls},
          // Since the running process's last beat (-1: none running); the longest gap between
          // two beats of any of its processes (the margin against the stall deadline).
          {"heartbeat_age_ms",
           own ? static_cast<double>(now > b.beat_ns ? now - b.beat_ns : 0) / 1e6 : -1.0},
          {"heartbeat_max_gap_ms", static_cast<double>(b.max_gap_ns) / 1e6},
          {"heartbeat_max_stall_ms", static_cast<double>(b.max_stall_ns) / 1e6},
          {"phase", std::string(worker_phase_name(static_cast<WorkerPhase>(b.phase)))},
          {"last_exit", s.last_exit}};
}

}  // namespace

json reply_json(const WorkersView& v) {
  json workers = json::array();
  for (std::size_t i = 0; i < v.status.size(); ++i)
    workers.push_back(
        worker_json(v.status[i], i < v.beats.size() ? v.beats[i] : WorkerBeat{}, v.now_ns));
  return json{{"ok", true}, {"workers", workers}};
}

json reply_json(const Restarted& r) {
  json out{{"ok", true}, {"worker", r.worker}, {"new_pid", r.new_pid}, {"ms", r.ms}};
  if (r.was.empty())
    out["old_pid"] = r.old_pid;
  else
    out["was"] = r.was;
  return out;
}

json error_json(const caf::error& e, caf::actor_system* sys) {
  return json{{"ok", false}, {"error", error_reason(e, sys)}};
}

}  // namespace vs
