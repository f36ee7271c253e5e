#include "actors/config_actor.hpp"

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "config/config_toml.hpp"
#include "daemon/mirror_table.hpp"
#include "daemon/port_manager.hpp"
#include "daemon/systemd_notify.hpp"

namespace vs {
namespace {

using nlohmann::json;
using clock_type = std::chrono::steady_clock;

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

caf::error refuse(ConfigState& st, const std::string& why) {
  st.stats->failed.fetch_add(1, std::memory_order_relaxed);
  st.stats->last_ok.store(false);
  std::fprintf(stderr, "vswitchd: configuration change refused, the running one stays:\n%s\n",
               why.c_str());
  return caf::make_error(errc::refused, why);
}

std::vector<std::string> names(const std::vector<config::PortChange>& v) {
  std::vector<std::string> out;
  for (const auto& c : v) out.push_back(c.port.name);
  return out;
}

// Validates `wanted` against the running config; returns the diff to apply, or sets `refusal`.
std::optional<config::ConfigDiff> check(ConfigState& st, const config::Config& wanted,
                                        caf::error& refusal) {
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

using Self = config_actor::stateful_pointer<ConfigState>;
using Targets = std::vector<std::pair<std::size_t, ChangesPtr>>;    // switch index, its share
using Failures = std::vector<std::pair<std::size_t, std::string>>;  // switch index, why

// Sends one message to each target switch and awaits every reply (no other reload is looked at
// meanwhile), then calls `next` with the switches that failed.
template <class Atom>
void fan_out(Self self, Atom atom, const Targets& targets, std::function<void(Failures)> next) {
  if (targets.empty()) return next({});
  struct Gather {
    std::size_t left;
    Failures failed;
    std::function<void(Failures)> next;
  };
  auto g = std::make_shared<Gather>(Gather{targets.size(), {}, std::move(next)});
  for (const auto& [index, changes] : targets) {
    const std::size_t i = index;
    auto done = [g] {
      if (--g->left == 0) g->next(std::move(g->failed));
    };
    self->request(self->state.switches[i].second, std::chrono::seconds(120), atom, changes)
        .await([done](bool) { done(); },
               [self, g, i, done](const caf::error& e) {
                 g->failed.emplace_back(i, error_reason(e, &self->system()));
                 done();
               });
  }
}

// Every switch's down ports that can come back, re-created; `next` gets their names.
void revive_all(Self self, std::function<void(std::vector<std::string>)> next) {
  auto& sw = self->state.switches;
  if (sw.empty()) return next({});
  auto back = std::make_shared<std::vector<std::string>>();
  auto left = std::make_shared<std::size_t>(sw.size());
  for (const auto& [name, actor] : sw) {
    auto done = [back, left, next] {
      if (--*left == 0) next(*back);
    };
    self->request(actor, std::chrono::seconds(120), revive_atom::value)
        .await(
            [back, done](const Revived& r) {
              back->insert(back->end(), r.recreated.begin(), r.recreated.end());
              done();
            },
            [done](const caf::error&) { done(); });
  }
}

// The diff cut into each switch's share, by phase (messages.hpp).
struct Plan {
  Targets phase1;  // added
  Targets phase2;  // retagged, removed (or leaving), replaced within the switch
  Targets phase3;  // arriving from another switch
  // Phase 3's ports, by their new switch: where they were and how, to restore them.
  std::map<std::size_t, std::vector<config::PortChange>> arriving;
};

Plan plan(const ConfigState& st, const config::ConfigDiff& d) {
  const std::size_t n = st.switches.size();
  std::vector<SwitchChanges> p1(n), p2(n), p3(n);
  auto index = [&st](const std::string& sw) {
    for (std::size_t i = 0; i < st.switches.size(); ++i)
      if (st.switches[i].first == sw) return i;
    return st.switches.size();
  };
  Plan out;
  for (const auto& c : d.added)
    if (std::size_t i = index(c.switch_name); i < n) p1[i].added.push_back(c.port);
  for (const auto& c : d.retagged)
    if (std::size_t i = index(c.switch_name); i < n) p2[i].retagged.push_back(c.port);
  for (const std::string& name : d.removed)
    for (const auto& sw : st.running->switches)
      for (const auto& port : sw.ports)
        if (port.name == name && index(sw.name) < n) p2[index(sw.name)].removed.push_back(name);
  for (const auto& c : d.replaced) {
    const std::size_t to = index(c.switch_name), from = index(c.previous_switch);
    if (to >= n || from >= n) continue;
    if (to == from) {
      p2[to].replaced.push_back(c);
    } else {
      p2[from].removed.push_back(c.port.name);
      p3[to].added.push_back(c.port);
      out.arriving[to].push_back(c);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!p1[i].added.empty()) out.phase1.emplace_back(i, std::make_shared<SwitchChanges>(p1[i]));
    if (!p2[i].retagged.empty() || !p2[i].removed.empty() || !p2[i].replaced.empty())
      out.phase2.emplace_back(i, std::make_shared<SwitchChanges>(p2[i]));
    if (!p3[i].added.empty()) out.phase3.emplace_back(i, std::make_shared<SwitchChanges>(p3[i]));
  }
  return out;
}

std::string join(const Failures& failed) {
  std::string out;
  for (const auto& f : failed) out += (out.empty() ? "" : "; ") + f.second;
  return out;
}

// Phase 3 failed in some switches: their arriving ports go back to where they were, as they were.
void restore_arrivals(Self self, const Plan& p, Failures failed,
                      std::function<void(std::string)> next) {
  Targets back;
  std::map<std::size_t, SwitchChanges> by_switch;
  for (const auto& f : failed) {
    auto it = p.arriving.find(f.first);
    if (it == p.arriving.end()) continue;
    for (const config::PortChange& c : it->second)
      for (std::size_t i = 0; i < self->state.switches.size(); ++i)
        if (self->state.switches[i].first == c.previous_switch)
          by_switch[i].added.push_back(c.previous);
  }
  for (auto& [i, c] : by_switch) back.emplace_back(i, std::make_shared<SwitchChanges>(c));
  const std::string why = join(failed);
  fan_out(self, add_atom::value, back, [why, next](Failures restore_failed) {
    next(why + (restore_failed.empty()
                    ? " (the port was restored as it was)"
                    : " (and restoring it failed: " + join(restore_failed) + ")"));
  });
}

// Runs the phases; `done` gets "" or why the change failed.
void run_phases(Self self, std::shared_ptr<const Plan> p, std::function<void(std::string)> done) {
  fan_out(self, add_atom::value, p->phase1, [self, p, done](Failures failed) {
    if (!failed.empty()) {
      // All or nothing: the switches that made their new ports close them again.
      Targets undo;
      for (const auto& t : p->phase1) {
        bool failed_here = false;
        for (const auto& f : failed) failed_here = failed_here || f.first == t.first;
        if (!failed_here) undo.push_back(t);
      }
      const std::string why = join(failed);
      fan_out(self, undo_atom::value, undo, [why, done](Failures) { done(why); });
      return;
    }
    fan_out(self, apply_atom::value, p->phase2, [self, p, done](Failures failed2) {
      const std::string why2 = join(failed2);
      fan_out(self, add_atom::value, p->phase3, [self, p, done, why2](Failures failed3) {
        if (failed3.empty()) return done(why2);
        restore_arrivals(self, *p, std::move(failed3), [done, why2](std::string why3) {
          done(why2.empty() ? why3 : why2 + "; " + why3);
        });
      });
    });
  });
}

bool is_reload(const std::string& what) {
  return what.rfind("reload", 0) == 0;
}

// systemd is told a reload began, and READY=1 once it ended, applied or refused: the unit is in
// state "reloading" in between (systemd_notify.hpp).
void notify_reload_begins(const ConfigState& st) {
  // MONOTONIC_USEC: CLOCK_MONOTONIC, which steady_clock is on Linux.
  const auto usec =
      std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now().time_since_epoch());
  if (st.notify != nullptr)
    st.notify->send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec.count()),
                    "Reloading " + st.path);
}
void notify_reload_ended(const ConfigState& st, const std::string& what, const std::string& error) {
  if (st.notify == nullptr || !is_reload(what)) return;
  st.notify->send("READY=1", error.empty() ? "Forwarding; the last reload was applied"
                                           : "Forwarding; the last reload was refused: " + error);
}

void record_success(ConfigState& s, double secs) {
  s.stats->succeeded.fetch_add(1, std::memory_order_relaxed);
  s.stats->last_success_unix.store(unix_now());
  s.stats->last_duration_s.store(secs);
  s.stats->last_ok.store(true);
}

// Puts the file of a change that did not apply back as it was; says how that went.
std::string undo_file(const ConfigState& st, const std::optional<config::FileChange>& file) {
  if (!file || !file->changes()) return "";
  std::string error;
  if (st.store->undo(*file, error)) return " (" + file->path + " was put back as it was)";
  return " (and putting " + file->path + " back failed: " + error +
         "; it now records a change that was not applied: run `vswitchctl config check " +
         st.store->main_path() + "`, and fix it by hand before a reload or a restart)";
}

// The mirrors of `cfg` into the published table (no port is touched); `then` once published.
void publish_mirrors(Self self, const config::Config& cfg, std::function<void()> then) {
  const MirrorRefs& m = self->state.mirrors;
  if (m.table == nullptr) return then();
  m.table->set(cfg);
  self->request(m.topology, std::chrono::seconds(10), publish_atom::value)
      .then([then](uint64_t) { then(); }, [then](const caf::error&) { then(); });
}

// Applies `wanted` through the switch actors; the reply is delivered when that is done. `file`,
// a runtime change's record (port add/del), is written once the change passed every check and
// before it is applied, and put back if applying fails.
caf::result<Applied> apply(Self self, config::Config wanted, const std::string& what,
                           std::optional<config::FileChange> file = std::nullopt) {
  ConfigState& st = self->state;
  caf::error refusal;
  auto diff = check(st, wanted, refusal);
  if (!diff) {
    notify_reload_ended(st, what, error_reason(refusal, &self->system()));
    return refusal;
  }
  std::string recorded;
  if (file && file->changes()) {
    std::string error;
    if (!st.store->write(*file, error))
      return refuse(st, what + ": " + error +
                            "; nothing was changed (the running configuration and the files "
                            "stay as they were)");
    recorded = "; recorded in " + file->path;
  }
  if (diff->empty()) {
    record_success(st, 0);
    notify_reload_ended(st, what, "");
    Applied unchanged{"no change" + recorded, {}, {}, {}, {}, 0};
    if (!is_reload(what)) return unchanged;
    // A reload also re-creates the ports that are down (their namespace came back, say).
    auto promise = self->make_response_promise<Applied>();
    revive_all(self, [promise, unchanged](std::vector<std::string> back) mutable {
      Applied a = unchanged;
      if (!back.empty()) {
        std::string list;
        for (const auto& n : back) list += (list.empty() ? "" : ", ") + n;
        a.summary = "no change; down ports re-created (" + list + ")";
        a.recreated = back;
      }
      promise.deliver(a);
    });
    return promise;
  }
  auto promise = self->make_response_promise<Applied>();
  auto shared_diff = std::make_shared<const config::ConfigDiff>(std::move(*diff));
  auto next = std::make_shared<const config::Config>(std::move(wanted));
  const auto t0 = clock_type::now();
  auto p = std::make_shared<const Plan>(plan(st, *shared_diff));
  // New mirrors go in before the ports change: a new output port is never a forwarding port,
  // not even for the moment between its creation and the mirror's.
  if (shared_diff->mirrors_differ() && st.mirrors.table != nullptr) st.mirrors.table->set(*next);
  run_phases(self, p, [self, promise, shared_diff, next, t0, what, file](std::string err) mutable {
    ConfigState& s = self->state;
    if (!err.empty()) {
      promise.deliver(refuse(s, what + ": " + err + undo_file(s, file)));
      notify_reload_ended(s, what, err);
      if (shared_diff->mirrors_differ()) publish_mirrors(self, *s.running, [] {});
      return;
    }
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    s.running = next;
    record_success(s, secs);
    notify_reload_ended(s, what, "");
    std::printf("vswitchd: %s applied in %.1f ms: %s\n", what.c_str(), secs * 1e3,
                shared_diff->summary().c_str());
    std::fflush(stdout);
    const std::string where = file && file->changes() ? "; recorded in " + file->path : "";
    Applied applied{shared_diff->summary() + where, names(shared_diff->added),
                    shared_diff->removed,           names(shared_diff->replaced),
                    names(shared_diff->retagged),   secs * 1e3};
    auto deliver = [self, promise, applied]() mutable {
      promise.deliver(applied);
      // A change of the configuration also re-creates the ports that are down, where it can.
      revive_all(self, [](std::vector<std::string>) {});
    };
    if (shared_diff->mirrors_differ())
      publish_mirrors(self, *next, deliver);
    else
      deliver();
  });
  return promise;
}

caf::result<Applied> validated_apply(config_actor::stateful_pointer<ConfigState> self,
                                     const config::LoadResult& loaded, const std::string& what) {
  for (const std::string& n : loaded.notes)
    std::printf("vswitchd: %s: %s\n", what.c_str(), n.c_str());
  if (!loaded.ok()) {
    const std::string errors = config::format_errors(loaded);
    notify_reload_ended(self->state, what, errors);
    return refuse(self->state, errors);
  }
  return apply(self, *loaded.config, what);
}

// A runtime change (port add/del): `loaded` is the running config with the change, validated
// like a file; `plan` records it in the files (validated there too) or refuses.
caf::result<Applied> persisted_apply(
    Self self, const config::LoadResult& loaded, const std::string& what,
    const std::function<std::optional<config::FileChange>(const config::Config&, std::string&)>&
        plan) {
  if (!loaded.ok()) return refuse(self->state, config::format_errors(loaded));
  std::string error;
  auto file = plan(*loaded.config, error);
  if (!file) return refuse(self->state, error);
  return apply(self, *loaded.config, what, std::move(file));
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

// A JSON object (`what`: "port", "mirror") as the key = value lines of a TOML table.
std::string object_json_to_toml(const std::string& text, const std::string& what,
                                std::string& error) {
  json port = json::parse(text, nullptr, false);
  if (port.is_discarded() || !port.is_object()) {
    error = "the " + what + " must be a JSON object";
    return {};
  }
  std::string toml;
  for (const auto& [key, value] : port.items()) {
    if (!is_toml_key(key)) {
      error = what + ": unknown key \"" + key + "\"";
      return {};
    }
    toml += key + " = ";
    if (!json_value_to_toml(value, toml, true)) {
      error = what + "." + key +
              ": use a string, an integer, a boolean, an array of them, or a table of them";
      return {};
    }
    toml += "\n";
  }
  return toml;
}

std::string port_json_to_toml(const std::string& port_json, std::string& error) {
  return object_json_to_toml(port_json, "port", error);
}

config_actor::behavior_type config_behavior(config_actor::stateful_pointer<ConfigState> self,
                                            std::string path, ConfigPtr running,
                                            SwitchActors switches, ReloadStats* stats,
                                            unsigned pool_mbufs, const SystemdNotify* notify,
                                            MirrorRefs mirrors) {
  ConfigState& st = self->state;
  st.mirrors = std::move(mirrors);
  st.notify = notify;
  st.path = std::move(path);
  st.store = std::make_shared<const config::ConfigStore>(st.path);
  st.running = std::move(running);
  st.switches = std::move(switches);
  st.stats = stats;
  st.pool_mbufs = pool_mbufs;
  st.stats->last_success_unix.store(unix_now());
  return {
      [](ping_atom) { return true; },
      [self](reload_atom) -> caf::result<Applied> {
        notify_reload_begins(self->state);
        return validated_apply(self, config::load_config_file(self->state.path),
                               "reload of " + self->state.path);
      },
      [self](port_add_atom, const std::string& sw,
             const std::string& port_json) -> caf::result<Applied> {
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
        return persisted_apply(self, config::load_config_string(text, "<port add>"), "port add",
                               [&s, &sw](const config::Config& next, std::string& error) {
                                 // to_toml put the new port last in its switch.
                                 for (const auto& x : next.switches)
                                   if (x.name == sw && !x.ports.empty())
                                     return s.store->plan_port_add(sw, x.ports.back(), error);
                                 error = "port add: the new port is missing (a bug)";
                                 return std::optional<config::FileChange>();
                               });
      },
      [self](mirror_add_atom, const std::string& sw,
             const std::string& mirror_json) -> caf::result<Applied> {
        ConfigState& s = self->state;
        bool known = false;
        for (const auto& x : s.running->switches) known = known || x.name == sw;
        if (!known) return refuse(s, "mirror add: no switch named \"" + sw + "\"");
        std::string error;
        const std::string toml = object_json_to_toml(mirror_json, "mirror", error);
        if (!error.empty()) return refuse(s, "mirror add: " + error);
        const std::string text = config::to_toml(*s.running, sw, "", toml);
        return persisted_apply(self, config::load_config_string(text, "<mirror add>"), "mirror add",
                               [&s, &sw](const config::Config& next, std::string& error) {
                                 // to_toml put the new mirror last in its switch.
                                 for (const auto& x : next.switches)
                                   if (x.name == sw && !x.mirrors.empty())
                                     return s.store->plan_mirror_add(sw, x.mirrors.back(), error);
                                 error = "mirror add: the new mirror is missing (a bug)";
                                 return std::optional<config::FileChange>();
                               });
      },
      [self](mirror_del_atom, const std::string& name) -> caf::result<Applied> {
        ConfigState& s = self->state;
        config::Config wanted = *s.running;
        bool found = false;
        for (auto& sw : wanted.switches)
          found = found || std::erase_if(sw.mirrors, [&](const auto& m) { return m.name == name; });
        if (!found) return refuse(s, "mirror del: no mirror named \"" + name + "\"");
        return persisted_apply(
            self, config::load_config_string(config::to_toml(wanted), "<mirror del>"), "mirror del",
            [&s, &name](const config::Config&, std::string& error) {
              return s.store->plan_mirror_del(name, error);
            });
      },
      [self](port_del_atom, const std::string& name) -> caf::result<Applied> {
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
        return persisted_apply(self,
                               config::load_config_string(config::to_toml(wanted), "<port del>"),
                               "port del", [&s, &name](const config::Config&, std::string& error) {
                                 return s.store->plan_port_del(name, error);
                               });
      },
  };
}

}  // namespace vs
