// libFuzzer target: any text as a configuration file. Loading must never crash or throw, and
// must give either a config or at least one error, never both.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  vs::config::LoadResult r = vs::config::load_config_string(text, "fuzz.toml");
  if (r.ok() == !r.errors.empty()) __builtin_trap();
  if (!r.ok() && vs::config::format_errors(r).empty()) __builtin_trap();
  return 0;
}
