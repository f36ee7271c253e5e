// libFuzzer target: any text as a configuration file, and as a main file with drop-ins. Loading
// must never crash or throw, and must give either a config or at least one error, never both.
// The input is cut at each line "%%" (at most 4 cuts): the first part is the main file, each
// further part a drop-in merged after it (docs/config.md, "Drop-in files").
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace {

void check(const vs::config::LoadResult& r) {
  if (r.ok() == !r.errors.empty()) __builtin_trap();
  if (!r.ok() && vs::config::format_errors(r).empty()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  check(vs::config::load_config_string(text, "fuzz.toml"));

  std::vector<std::string> parts;
  std::size_t at = 0;
  while (parts.size() < 4) {
    const std::size_t cut = text.find("\n%%\n", at);
    if (cut == std::string::npos) break;
    parts.push_back(text.substr(at, cut + 1 - at));
    at = cut + 4;
  }
  if (parts.empty()) return 0;
  parts.push_back(text.substr(at));
  std::vector<std::pair<std::string, std::string>> dropins;
  for (std::size_t i = 1; i < parts.size(); ++i)
    dropins.emplace_back("fuzz.d/" + std::to_string(i) + "0-dropin.toml", parts[i]);
  check(vs::config::load_config_strings(parts[0], "fuzz.toml", dropins));
  return 0;
}
