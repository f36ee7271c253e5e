// The configuration files of one vswitchd, and the one file of them that vswitchd writes.
//
// The main file (e.g. /etc/vswitch/vswitch.toml) is the operator's and is never written. Its
// drop-in directory (<dir>/<stem>.d, e.g. /etc/vswitch/vswitch.d) holds drop-ins the loader
// merges in name order (config.hpp, docs/config.md "Drop-in files"). vswitchd's runtime
// changes go into one drop-in of that directory, the runtime layer `zz-vswitchctl.toml`, which
// sorts after the usual "NN-name.toml" drop-ins: `port add` appends a port to it, `port del`
// takes a port out of it or, for a port of another file, lists it under [remove].
//
// A change is planned (the new text of the runtime layer), validated (the main file and every
// drop-in merged with the new text must load, and hold exactly the change), then written
// atomically (atomic_file.hpp); undo() puts the previous text back. The config actor is the only
// caller, so there is one writer. `mirror add` / `mirror del` are recorded the same way
// ([[switch.mirror]] tables, [remove] mirrors); runtime commands to come (policy) add their
// tables to RuntimeLayer and a plan_* function here.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/atomic_file.hpp"
#include "config/config.hpp"

namespace vs::config {

// What the runtime commands changed, as kept in the runtime layer.
struct RuntimeLayer {
  std::vector<std::string> removed_ports;                     // [remove] ports = [...]
  std::vector<std::pair<std::string, PortConfig>> ports;      // (switch, port) added at run time
  std::vector<std::string> removed_mirrors;                   // [remove] mirrors = [...]
  std::vector<std::pair<std::string, MirrorConfig>> mirrors;  // (switch, mirror) added

  bool empty() const {
    return removed_ports.empty() && ports.empty() && removed_mirrors.empty() && mirrors.empty();
  }
  // The drop-in's text: a header comment that says who writes it, then the tables.
  std::string render() const;
  // The layer as `loaded` (a load_config_file result) read it from the file `path`.
  static RuntimeLayer from(const LoadResult& loaded, const std::string& path);
};

// One file's change: its text before and after (nullopt: the file does not exist).
struct FileChange {
  std::string path;
  std::optional<std::string> before;
  std::optional<std::string> after;
  bool changes() const { return before != after; }
};

class ConfigStore {
 public:
  // What is wrong with the files as they would load with a change ("" if they hold it).
  using Holds = std::function<std::string(const LoadResult& next, const std::string& path)>;
  static constexpr const char* kRuntimeDropin = "zz-vswitchctl.toml";

  explicit ConfigStore(std::string main_path, FileOps ops = default_file_ops())
      : main_path_(std::move(main_path)), ops_(ops) {}

  const std::string& main_path() const { return main_path_; }
  std::string runtime_path() const { return dropin_dir_for(main_path_) + "/" + kRuntimeDropin; }

  // The change that records `port` (validated already) as a port of switch `sw`, or nullopt and
  // `error` (the files on disk do not load, or would not load, or would not hold the port so).
  std::optional<FileChange> plan_port_add(const std::string& sw, const PortConfig& port,
                                          std::string& error) const;
  // The change that records the removal of port `name`, or nullopt and `error`.
  std::optional<FileChange> plan_port_del(const std::string& name, std::string& error) const;
  // The same for a mirror (validated already) of switch `sw`, and for a mirror's removal.
  std::optional<FileChange> plan_mirror_add(const std::string& sw, const MirrorConfig& mirror,
                                            std::string& error) const;
  std::optional<FileChange> plan_mirror_del(const std::string& name, std::string& error) const;

  // Writes the change's `after` (atomically; removes the file for nullopt); undo() writes back
  // `before`. Both return false with `error` naming the path, the reason and the fix.
  bool write(const FileChange& change, std::string& error) const;
  bool undo(const FileChange& change, std::string& error) const;

 private:
  std::optional<FileChange> plan(const std::string& what, const LoadResult& disk,
                                 const RuntimeLayer& layer, const Holds& holds,
                                 std::string& error) const;
  bool put(const std::string& path, const std::optional<std::string>& text,
           std::string& error) const;

  std::string main_path_;
  FileOps ops_;
};

}  // namespace vs::config
