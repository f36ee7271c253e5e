#include "actors/messages.hpp"

namespace vs {

const char* to_string(errc e) {
  switch (e) {
    case errc::refused:
      return "refused";
    case errc::no_such_port:
      return "no_such_port";
    case errc::no_such_switch:
      return "no_such_switch";
    case errc::port_failed:
      return "port_failed";
    case errc::timeout:
      return "timeout";
    case errc::no_such_worker:
      return "no_such_worker";
    case errc::worker_failed:
      return "worker_failed";
    case errc::stopping:
      return "stopping";
  }
  return "unknown";
}

std::string error_reason(const caf::error& e, caf::actor_system* sys) {
  if (e.category() == caf::atom("vswitch") && e.context().match_elements<std::string>())
    return e.context().get_as<std::string>(0);
  if (e.category() == caf::atom("vswitch")) return to_string(static_cast<errc>(e.code()));
  return sys ? sys->render(e) : caf::to_string(e);
}

}  // namespace vs
