// The control socket's JSON replies, built from the actors' typed results and errors: the only
// place where their JSON shapes are made (docs/control.md lists them).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "actors/messages.hpp"

namespace vs {

nlohmann::json reply_json(const Applied& a);
nlohmann::json reply_json(const ResetDone& r);
nlohmann::json reply_json(const Revived& r);      // `port reset` of every down port (a reload)
nlohmann::json reply_json(const WorkersView& v);  // `show workers`
nlohmann::json reply_json(const Restarted& r);
// {"ok": false, "error": REASON}, the reason as the actor gave it.
nlohmann::json error_json(const caf::error& e, caf::actor_system* sys = nullptr);

}  // namespace vs
