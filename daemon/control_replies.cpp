#include "daemon/control_replies.hpp"

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

json error_json(const caf::error& e, caf::actor_system* sys) {
  return json{{"ok", false}, {"error", error_reason(e, sys)}};
}

}  // namespace vs
