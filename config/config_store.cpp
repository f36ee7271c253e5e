#include "config/config_store.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "config/config_toml.hpp"

namespace vs::config {
namespace {

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string indent(const std::string& errors) {
  std::string out;
  std::istringstream in(errors);
  for (std::string line; std::getline(in, line);) out += "  " + line + "\n";
  return out;
}

}  // namespace

std::string RuntimeLayer::render() const {
  std::ostringstream o;
  o << "# Written by vswitchd: the changes made with `vswitchctl port add` and `port del`.\n"
       "# It is merged after the main file and the other drop-ins (docs/config.md, \"Drop-in\n"
       "# files\"). vswitchd rewrites it at each such command: edit it only while vswitchd is\n"
       "# stopped, or move its ports into the main file, delete it and `vswitchctl reload`.\n";
  if (!removed_ports.empty()) {
    o << "\n[remove]\nports = [";
    for (std::size_t i = 0; i < removed_ports.size(); ++i)
      o << (i ? ", " : "") << toml_string(removed_ports[i]);
    o << "]\n";
  }
  // One [[switch]] per switch, its ports in the order they were added.
  std::vector<std::string> order;
  for (const auto& [sw, port] : ports)
    if (std::find(order.begin(), order.end(), sw) == order.end()) order.push_back(sw);
  for (const std::string& sw : order) {
    o << "\n[[switch]]\nname = " << toml_string(sw) << "\n";
    for (const auto& [s, port] : ports)
      if (s == sw) o << port_table_toml(port);
  }
  return o.str();
}

RuntimeLayer RuntimeLayer::from(const LoadResult& loaded, const std::string& path) {
  RuntimeLayer layer;
  if (const auto r = loaded.removals.find(path); r != loaded.removals.end())
    layer.removed_ports = r->second;
  if (!loaded.config) return layer;
  for (const SwitchConfig& sw : loaded.config->switches) {
    for (const PortConfig& p : sw.ports) {
      const auto f = loaded.port_files.find(p.name);
      if (f != loaded.port_files.end() && f->second == path) layer.ports.emplace_back(sw.name, p);
    }
  }
  return layer;
}

std::optional<FileChange> ConfigStore::plan_port_add(const std::string& sw, const PortConfig& port,
                                                     std::string& error) const {
  const LoadResult disk = load_config_file(main_path_);
  RuntimeLayer layer = RuntimeLayer::from(disk, runtime_path());
  // A port of the layer that is not running (an earlier undo failed) is replaced.
  std::erase_if(layer.ports, [&](const auto& sp) { return sp.second.name == port.name; });
  layer.ports.emplace_back(sw, port);
  return plan("port add", port.name, disk, layer, std::make_pair(sw, port), error);
}

std::optional<FileChange> ConfigStore::plan_port_del(const std::string& name,
                                                     std::string& error) const {
  const LoadResult disk = load_config_file(main_path_);
  RuntimeLayer layer = RuntimeLayer::from(disk, runtime_path());
  const auto in_layer = std::find_if(layer.ports.begin(), layer.ports.end(),
                                     [&](const auto& sp) { return sp.second.name == name; });
  if (in_layer != layer.ports.end()) {
    layer.ports.erase(in_layer);  // added at run time: forgotten
  } else if (disk.config && disk.config->find_port(name) != nullptr &&
             std::find(layer.removed_ports.begin(), layer.removed_ports.end(), name) ==
                 layer.removed_ports.end()) {
    layer.removed_ports.push_back(name);  // another file's port: recorded as removed
  }
  return plan("port del", name, disk, layer, std::nullopt, error);
}

std::optional<FileChange> ConfigStore::plan(
    const std::string& what, const std::string& port_name, const LoadResult& disk,
    const RuntimeLayer& layer, const std::optional<std::pair<std::string, PortConfig>>& expect,
    std::string& error) const {
  const std::string check = "`vswitchctl config check " + main_path_ + "`";
  if (!disk.ok()) {
    error = what +
            ": the configuration files on disk do not load, so the change cannot be "
            "recorded in them; nothing was changed. Fix them first (" +
            check + "):\n" + indent(format_errors(disk));
    return std::nullopt;
  }
  FileChange change;
  change.path = runtime_path();
  change.before = read_text(change.path);
  if (!layer.empty()) change.after = layer.render();
  LoadOptions with;
  with.overrides[change.path] = change.after;
  const LoadResult next = load_config_file(main_path_, with);
  if (!next.ok()) {
    error = what +
            ": with this change the configuration files would not load, so nothing was "
            "changed (" +
            check + " shows the files as they are):\n" + indent(format_errors(next));
    return std::nullopt;
  }
  const PortConfig* found = next.config->find_port(port_name);
  std::string where;
  if (const auto f = next.port_files.find(port_name); f != next.port_files.end()) where = f->second;
  if (expect) {
    bool in_switch = false;
    for (const SwitchConfig& s : next.config->switches)
      if (s.name == expect->first)
        for (const PortConfig& p : s.ports) in_switch = in_switch || &p == found;
    if (found == nullptr || !in_switch || !(*found == expect->second) || where != change.path) {
      error = what + ": the configuration files would not hold port \"" + port_name +
              "\" as given" + (where.empty() ? "" : " (" + where + " defines it)") +
              "; nothing was changed";
      return std::nullopt;
    }
  } else if (found != nullptr) {
    error = what + ": port \"" + port_name + "\" is defined in " + where +
            ", which is merged after " + change.path +
            ", so a removal recorded there cannot remove it; nothing was changed. Delete the "
            "port from " +
            where + " and `vswitchctl reload`";
    return std::nullopt;
  }
  return change;
}

bool ConfigStore::put(const std::string& path, const std::optional<std::string>& text,
                      std::string& error) const {
  remove_stale_temp_files(path);
  if (text) return write_file_atomically(path, *text, error, ops_);
  return remove_file_durably(path, error);
}

bool ConfigStore::write(const FileChange& change, std::string& error) const {
  if (!change.changes()) return true;
  return put(change.path, change.after, error);
}

bool ConfigStore::undo(const FileChange& change, std::string& error) const {
  if (!change.changes()) return true;
  return put(change.path, change.before, error);
}

}  // namespace vs::config
