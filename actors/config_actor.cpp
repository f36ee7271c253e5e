#include "actors/config_actor.hpp"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "config/config_toml.hpp"
#include "daemon/port_manager.hpp"

namespace vs {
namespace {

using nlohmann::json;
using clock_type = std::chrono::steady_clock;

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string refuse(ConfigState& st, const std::string& why) {
  st.stats->failed.fetch_add(1, std::memory_order_relaxed);
  st.stats->last_ok.store(false);
  std::fprintf(stderr, "vswitchd: configuration change refused, the running one stays:\n%s\n",
               why.c_str());
  return json{{"ok", false}, {"error", why}}.dump();
}

json names(const std::vector<config::PortChange>& v) {
  json a = json::array();
  for (const auto& c : v) a.push_back(c.port.name);
  return a;
}

// Validates `wanted` against the running config; returns the diff to apply, or an error reply.
std::optional<config::ConfigDiff> check(ConfigState& st, const config::Config& wanted,
                                        std::string& refusal) {
  config::ConfigDiff d = config::diff_configs(*st.running, wanted);
  if (!d.restart_needed.empty()) {
    std::string list;
    for (const auto& r : d.restart_needed) list += "\n  " + r;
    refusal = refuse(st,
                     "these changes need a restart of vswitchd (`systemctl restart vswitchd`), "
                     "a reload cannot apply them:" +
                         list);
    return std::nullopt;
  }
  const unsigned need = mbufs_needed_per_worker(wanted);
  if (need > st.pool_mbufs) {
    refusal = refuse(st, "the new ports need " + std::to_string(need) +
                             " mbufs per worker, the pools have " + std::to_string(st.pool_mbufs) +
                             ": raise [daemon] mbufs_per_worker to at least " +
                             std::to_string(need) + " and restart vswitchd");
    return std::nullopt;
  }
  return d;
}

// Applies `wanted` through the datapath actor; the reply is delivered when that is done.
caf::result<std::string> apply(config_actor::stateful_pointer<ConfigState> self,
                               config::Config wanted, const std::string& what) {
  ConfigState& st = self->state;
  std::string refusal;
  auto diff = check(st, wanted, refusal);
  if (!diff) return refusal;
  if (diff->empty()) {
    st.stats->succeeded.fetch_add(1, std::memory_order_relaxed);
    st.stats->last_success_unix.store(unix_now());
    st.stats->last_ok.store(true);
    const std::string unchanged = json{{"ok", true}, {"summary", "no change"}, {"ms", 0}}.dump();
    if (what.rfind("reload", 0) != 0) return unchanged;
    // A reload also re-creates the ports that are down (their namespace came back, say).
    auto promise = self->make_response_promise<std::string>();
    self->request(st.datapath, std::chrono::seconds(120), reset_atom::value, std::string())
        .await(
            [promise, unchanged](const std::string& r) mutable {
              json j = json::parse(r, nullptr, false);
              json back = j.is_object() ? j.value("recreated", json::array()) : json::array();
              if (back.empty()) {
                promise.deliver(unchanged);
                return;
              }
              std::string list;
              for (const auto& n : back) list += (list.empty() ? "" : ", ") + n.get<std::string>();
              promise.deliver(json{
                  {"ok", true},
                  {"summary", "no change; down ports re-created (" + list + ")"},
                  {"recreated", back},
                  {"ms", 0}}.dump());
            },
            [promise, unchanged](const caf::error&) mutable { promise.deliver(unchanged); });
    return promise;
  }
  auto promise = self->make_response_promise<std::string>();
  auto shared_diff = std::make_shared<const config::ConfigDiff>(std::move(*diff));
  auto next = std::make_shared<const config::Config>(std::move(wanted));
  const auto t0 = clock_type::now();
  // await: no other reload is looked at until this one is applied.
  self->request(st.datapath, std::chrono::seconds(120), apply_atom::value, shared_diff)
      .await(
          [self, promise, shared_diff, next, t0, what](const std::string& err) mutable {
            ConfigState& s = self->state;
            if (!err.empty()) {
              promise.deliver(refuse(s, what + ": " + err));
              return;
            }
            const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
            s.running = next;
            s.stats->succeeded.fetch_add(1, std::memory_order_relaxed);
            s.stats->last_success_unix.store(unix_now());
            s.stats->last_duration_s.store(secs);
            s.stats->last_ok.store(true);
            std::printf("vswitchd: %s applied in %.1f ms: %s\n", what.c_str(), secs * 1e3,
                        shared_diff->summary().c_str());
            std::fflush(stdout);
            promise.deliver(json{
                {"ok", true},
                {"summary", shared_diff->summary()},
                {"added", names(shared_diff->added)},
                {"removed", shared_diff->removed},
                {"recreated", names(shared_diff->replaced)},
                {"retagged", names(shared_diff->retagged)},
                {"ms",
                 secs * 1e3}}.dump());
          },
          [self, promise, what](const caf::error& e) mutable {
            promise.deliver(refuse(self->state, what + ": the datapath did not answer (" +
                                                    self->system().render(e) + ")"));
          });
  return promise;
}

caf::result<std::string> validated_apply(config_actor::stateful_pointer<ConfigState> self,
                                         const config::LoadResult& loaded,
                                         const std::string& what) {
  if (!loaded.ok()) return refuse(self->state, config::format_errors(loaded));
  return apply(self, *loaded.config, what);
}

}  // namespace

namespace {

bool is_toml_key(const std::string& key) {
  return !key.empty() && key.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string::npos;
}

// A JSON value as TOML: a scalar, an array of scalars, or (one level deep, for the port's vm
// table) an inline table of them. The validator then checks it like a file.
bool json_value_to_toml(const json& v, std::string& out, bool table_allowed) {
  if (v.is_string()) {
    out += config::toml_string(v.get<std::string>());
  } else if (v.is_number_integer()) {
    out += v.dump();  // as written: get<long long>() wraps integers above INT64_MAX
  } else if (v.is_boolean()) {
    out += v.get<bool>() ? "true" : "false";
  } else if (v.is_array()) {
    out += "[";
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i) out += ", ";
      if (v[i].is_array() || v[i].is_object() || !json_value_to_toml(v[i], out, false))
        return false;
    }
    out += "]";
  } else if (v.is_object() && table_allowed) {
    out += "{";
    bool first = true;
    for (const auto& [key, value] : v.items()) {
      if (!is_toml_key(key) || value.is_object()) return false;
      out += (first ? " " : ", ") + key + " = ";
      first = false;
      if (!json_value_to_toml(value, out, false)) return false;
    }
    out += " }";
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::string port_json_to_toml(const std::string& port_json, std::string& error) {
  json port = json::parse(port_json, nullptr, false);
  if (port.is_discarded() || !port.is_object()) {
    error = "the port must be a JSON object";
    return {};
  }
  std::string toml;
  for (const auto& [key, value] : port.items()) {
    if (!is_toml_key(key)) {
      error = "port: unknown key \"" + key + "\"";
      return {};
    }
    toml += key + " = ";
    if (!json_value_to_toml(value, toml, true)) {
      error = "port." + key +
              ": use a string, an integer, a boolean, an array of them, or a table of them";
      return {};
    }
    toml += "\n";
  }
  return toml;
}

config_actor::behavior_type config_behavior(config_actor::stateful_pointer<ConfigState> self,
                                            std::string path, ConfigPtr running,
                                            datapath_actor datapath, ReloadStats* stats,
                                            unsigned pool_mbufs) {
  ConfigState& st = self->state;
  st.path = std::move(path);
  st.running = std::move(running);
  st.datapath = std::move(datapath);
  st.stats = stats;
  st.pool_mbufs = pool_mbufs;
  st.stats->last_success_unix.store(unix_now());
  return {
      [self](reload_atom) -> caf::result<std::string> {
        return validated_apply(self, config::load_config_file(self->state.path),
                               "reload of " + self->state.path);
      },
      [self](port_add_atom, const std::string& sw,
             const std::string& port_json) -> caf::result<std::string> {
        ConfigState& s = self->state;
        bool known = false;
        for (const auto& x : s.running->switches) known = known || x.name == sw;
        if (!known) return refuse(s, "port add: no switch named \"" + sw + "\"");
        std::string error;
        std::string port_toml = port_json_to_toml(port_json, error);
        if (!error.empty()) return refuse(s, "port add: " + error);
        if (port_toml.empty())
          return refuse(s, "port add: the port has no keys; give at least its name");
        const std::string text = config::to_toml(*s.running, sw, port_toml);
        return validated_apply(self, config::load_config_string(text, "<port add>"), "port add");
      },
      [self](port_del_atom, const std::string& name) -> caf::result<std::string> {
        ConfigState& s = self->state;
        config::Config wanted = *s.running;
        bool found = false;
        for (auto& sw : wanted.switches) {
          for (auto it = sw.ports.begin(); it != sw.ports.end(); ++it) {
            if (it->name != name) continue;
            sw.ports.erase(it);
            found = true;
            break;
          }
        }
        if (!found) return refuse(s, "port del: no port named \"" + name + "\"");
        return validated_apply(
            self, config::load_config_string(config::to_toml(wanted), "<port del>"), "port del");
      },
  };
}

}  // namespace vs
