#include "switch/counters.hpp"

namespace vs {

std::string_view drop_reason_name(DropReason reason) {
  switch (reason) {
    case DropReason::kRunt: return "runt";
    case DropReason::kNoDestination: return "no_destination";
    case DropReason::kTxFull: return "tx_full";
    case DropReason::kCount: break;
  }
  return "unknown";
}

}  // namespace vs
