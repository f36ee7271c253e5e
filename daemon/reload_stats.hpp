// Reload outcomes, written by the config actor and read by the metrics exporter at scrape time.
#pragma once
#include <atomic>
#include <cstdint>

namespace vs {

struct ReloadStats {
  std::atomic<uint64_t> succeeded{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<double> last_success_unix{0};  // the start-up config counts as the first success
  std::atomic<double> last_duration_s{0};    // of the last successful apply
  std::atomic<bool> last_ok{true};           // the last reload was applied
};

}  // namespace vs
