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

// The files hold `name` (a port or a mirror, `kind`) as `expect` says, from `path`; or not at
// all (`expect` empty). `found` and `where`: the item in the loaded files, and its file.
template <class T>
std::string holds_as(const std::string& kind, const std::string& name, const LoadResult& next,
                     const std::string& path, const T* found, const std::string& where,
                     const std::optional<std::pair<std::string, T>>& expect,
                     const std::vector<T> SwitchConfig::*list) {
  if (expect) {
    bool in_switch = false;
    for (const SwitchConfig& s : next.config->switches)
      if (s.name == expect->first)
        for (const T& x : s.*list) in_switch = in_switch || &x == found;
    if (found == nullptr || !in_switch || !(*found == expect->second) || where != path)
      return "the configuration files would not hold " + kind + " \"" + name + "\" as given" +
             (where.empty() ? "" : " (" + where + " defines it)") + "; nothing was changed";
  } else if (found != nullptr) {
    return kind + " \"" + name + "\" is defined in " + where + ", which is merged after " + path +
           ", so a removal recorded there cannot remove it; nothing was changed. Delete the " +
           kind + " from " + where + " and `vswitchctl reload`";
  }
  return "";
}

std::string file_of(const std::map<std::string, std::string>& files, const std::string& name) {
  const auto f = files.find(name);
  return f == files.end() ? "" : f->second;
}

ConfigStore::Holds holds_port(const std::string& name,
                              std::optional<std::pair<std::string, PortConfig>> expect) {
  return [name, expect](const LoadResult& next, const std::string& path) {
    return holds_as<PortConfig>("port", name, next, path, next.config->find_port(name),
                                file_of(next.port_files, name), expect, &SwitchConfig::ports);
  };
}

ConfigStore::Holds holds_mirror(const std::string& name,
                                std::optional<std::pair<std::string, MirrorConfig>> expect) {
  return [name, expect](const LoadResult& next, const std::string& path) {
    return holds_as<MirrorConfig>("mirror", name, next, path, next.config->find_mirror(name),
                                  file_of(next.mirror_files, name), expect, &SwitchConfig::mirrors);
  };
}

}  // namespace

std::string RuntimeLayer::render() const {
  std::ostringstream o;
  o << "# Written by vswitchd: the changes made with `vswitchctl port add|del`, `mirror add|del`.\n"
       "# It is merged after the main file and the other drop-ins (docs/config.md, \"Drop-in\n"
       "# files\"). vswitchd rewrites it at each such command: edit it only while vswitchd is\n"
       "# stopped, or move its ports into the main file, delete it and `vswitchctl reload`.\n";
  auto list = [&o](const char* key, const std::vector<std::string>& names) {
    if (names.empty()) return;
    o << key << " = [";
    for (std::size_t i = 0; i < names.size(); ++i) o << (i ? ", " : "") << toml_string(names[i]);
    o << "]\n";
  };
  if (!removed_ports.empty() || !removed_mirrors.empty()) {
    o << "\n[remove]\n";
    list("ports", removed_ports);
    list("mirrors", removed_mirrors);
  }
  // One [[switch]] per switch, its ports then its mirrors in the order they were added.
  std::vector<std::string> order;
  for (const auto& [sw, port] : ports)
    if (std::find(order.begin(), order.end(), sw) == order.end()) order.push_back(sw);
  for (const auto& [sw, mirror] : mirrors)
    if (std::find(order.begin(), order.end(), sw) == order.end()) order.push_back(sw);
  for (const std::string& sw : order) {
    o << "\n[[switch]]\nname = " << toml_string(sw) << "\n";
    for (const auto& [s, port] : ports)
      if (s == sw) o << port_table_toml(port);
    for (const auto& [s, mirror] : mirrors)
      if (s == sw) o << mirror_table_toml(mirror);
  }
  return o.str();
}

RuntimeLayer RuntimeLayer::from(const LoadResult& loaded, const std::string& path) {
  RuntimeLayer layer;
  if (const auto r = loaded.removals.find(path); r != loaded.removals.end())
    layer.removed_ports = r->second;
  if (const auto r = loaded.mirror_removals.find(path); r != loaded.mirror_removals.end())
    layer.removed_mirrors = r->second;
  if (!loaded.config) return layer;
  for (const SwitchConfig& sw : loaded.config->switches) {
    for (const MirrorConfig& m : sw.mirrors) {
      const auto f = loaded.mirror_files.find(m.name);
      if (f != loaded.mirror_files.end() && f->second == path)
        layer.mirrors.emplace_back(sw.name, m);
    }
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
  return plan("port add", disk, layer, holds_port(port.name, std::make_pair(sw, port)), error);
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
  return plan("port del", disk, layer, holds_port(name, std::nullopt), error);
}

std::optional<FileChange> ConfigStore::plan_mirror_add(const std::string& sw,
                                                       const MirrorConfig& mirror,
                                                       std::string& error) const {
  const LoadResult disk = load_config_file(main_path_);
  RuntimeLayer layer = RuntimeLayer::from(disk, runtime_path());
  std::erase_if(layer.mirrors, [&](const auto& sm) { return sm.second.name == mirror.name; });
  layer.mirrors.emplace_back(sw, mirror);
  return plan("mirror add", disk, layer, holds_mirror(mirror.name, std::make_pair(sw, mirror)),
              error);
}

std::optional<FileChange> ConfigStore::plan_mirror_del(const std::string& name,
                                                       std::string& error) const {
  const LoadResult disk = load_config_file(main_path_);
  RuntimeLayer layer = RuntimeLayer::from(disk, runtime_path());
  const auto in_layer = std::find_if(layer.mirrors.begin(), layer.mirrors.end(),
                                     [&](const auto& sm) { return sm.second.name == name; });
  if (in_layer != layer.mirrors.end()) {
    layer.mirrors.erase(in_layer);
  } else if (disk.config && disk.config->find_mirror(name) != nullptr &&
             std::find(layer.removed_mirrors.begin(), layer.removed_mirrors.end(), name) ==
                 layer.removed_mirrors.end()) {
    layer.removed_mirrors.push_back(name);
  }
  return plan("mirror del", disk, layer, holds_mirror(name, std::nullopt), error);
}

std::optional<FileChange> ConfigStore::plan(const std::string& what, const LoadResult& disk,
                                            const RuntimeLayer& layer, const Holds& holds,
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
  if (std::string wrong = holds(next, change.path); !wrong.empty()) {
    error = what + ": " + wrong;
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
