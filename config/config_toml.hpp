// Writes a Config back as TOML that load_config_string() accepts and that loads to an equal
// Config. vswitchctl's runtime changes (port add/del) are validated by writing the running config
// with the change and loading it again, so they pass exactly the checks a file does.
#pragma once
#include <string>

#include "config/config.hpp"

namespace vs::config {

// `extra_port_toml` (`extra_mirror_toml`), when given, is appended as one more [[switch.port]]
// ([[switch.mirror]]) table of the switch named `extra_switch` (key = value lines, not
// validated here).
std::string to_toml(const Config& cfg, const std::string& extra_switch = "",
                    const std::string& extra_port_toml = "",
                    const std::string& extra_mirror_toml = "");

// One port as a "\n[[switch.port]]\n" table with every key, as to_toml() writes it.
std::string port_table_toml(const PortConfig& p);

// One mirror as a "\n[[switch.mirror]]\n" table, as to_toml() writes it.
std::string mirror_table_toml(const MirrorConfig& m);

// A TOML basic string literal for `s` (quotes and escapes included).
std::string toml_string(const std::string& s);

}  // namespace vs::config
