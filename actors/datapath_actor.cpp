#include "actors/datapath_actor.hpp"

#include <net/if.h>

#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "daemon/datapath_memory.hpp"
#include "daemon/fdb_service.hpp"
#include "daemon/netns.hpp"
#include "daemon/port_manager.hpp"

namespace vs {
namespace {

using nlohmann::json;

// Asks the topology actor to publish the table for the ports as they are now; returns its
// generation (0 if it did not answer). This actor runs detached: waiting here holds only its own
// thread.
uint64_t publish(DatapathState& st) {
  caf::scoped_actor self{*st.system};
  uint64_t gen = 0;
  self->request(st.topology, std::chrono::seconds(10), publish_atom::value)
      .receive([&gen](uint64_t g) { gen = g; },
               [&st](const caf::error& e) {
                 std::fprintf(stderr, "vswitchd: the port table was not published: %s\n",
                              st.system->render(e).c_str());
               });
  return gen;
}

// Reload: new ports first (a failure there undoes them and changes nothing else), then VLAN
// changes, then the ports to remove or re-create leave the published table; once every worker
// has moved past them their FDB entries are flushed and they are closed.
std::string apply_diff(DatapathState& st, const config::ConfigDiff& d) {
  DatapathRefs& r = *st.refs;
  std::vector<std::string> added;
  for (const config::PortChange& c : d.added) {
    if (std::string err = r.ports.add_port(c.switch_name, c.port); !err.empty()) {
      for (const std::string& name : added) r.ports.remove_port(name);
      return err;
    }
    added.push_back(c.port.name);
  }
  for (const config::PortChange& c : d.retagged) r.ports.retag_port(c.port);
  std::vector<std::string> going = d.removed;
  for (const config::PortChange& c : d.replaced) going.push_back(c.port.name);
  for (const std::string& name : going) r.ports.hide_port(name);
  const uint64_t gen = publish(st);
  if (going.empty()) return {};

  for (int w : await_workers(r.mem, gen, std::chrono::milliseconds(2000)))
    std::fprintf(stderr, "vswitchd: worker %d did not confirm the new port table in 2 s\n", w);
  for (const std::string& name : going) {
    if (const PortRuntime* p = r.ports.find(name)) r.fdb.flush_learned(-1, p->port_id, -1);
    r.ports.remove_port(name);
  }
  std::string errors;
  for (const config::PortChange& c : d.replaced) {
    std::string err = r.ports.add_port(c.switch_name, c.port);
    if (err.empty()) continue;
    std::string restore = r.ports.add_port(c.previous_switch, c.previous);
    errors += (errors.empty() ? "" : "; ") + err +
              (restore.empty() ? " (the port was restored as it was)"
                               : " (and restoring it failed: " + restore + ")");
  }
  publish(st);
  return errors;
}

// A port whose netdev or namespace went away leaves the forwarding: marked down at once (show,
// metrics), left out of the table, its learned MACs flushed (frames for them are then unknown
// unicast, flooded to the other ports or counted as no_destination drops), its device closed in
// vswitchd and every worker, so that nothing of the switch's holds its namespace any more.
void take_down(DatapathState& st, const std::string& name, const std::string& code,
               const std::string& reason, bool netdev_gone) {
  DatapathRefs& r = *st.refs;
  if (!r.ports.mark_down(name, code, reason)) return;
  std::fprintf(stderr, "vswitchd: port %s down: %s\n", name.c_str(), reason.c_str());
  using steady = std::chrono::steady_clock;
  const auto t0 = steady::now();
  r.ports.hide_port(name);
  const uint64_t gen = publish(st);
  for (int w : await_workers(r.mem, gen, std::chrono::milliseconds(2000)))
    std::fprintf(stderr, "vswitchd: worker %d did not confirm the new port table in 2 s\n", w);
  const auto t1 = steady::now();
  if (const PortRuntime* p = r.ports.find(name)) r.fdb.flush_learned(-1, p->port_id, -1);
  r.ports.close_down_port(name, netdev_gone);
  publish(st);
  const auto ms = [](steady::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  std::printf(
      "vswitchd: port %s closed: out of the workers' table in %.1f ms, device closed in %.1f "
      "ms\n",
      name.c_str(), ms(t1 - t0), ms(steady::now() - t1));
  std::fflush(stdout);
}

// Re-creates a down port; "" or why it stays down.
std::string bring_back(DatapathState& st, const std::string& name, const std::string& why) {
  DatapathRefs& r = *st.refs;
  std::string err = r.ports.revive(name);
  if (err.empty()) {
    publish(st);
    std::printf("vswitchd: port %s up again: re-created (%s)\n", name.c_str(), why.c_str());
    std::fflush(stdout);
  } else {
    std::fprintf(stderr, "vswitchd: port %s stays down: %s\n", name.c_str(), err.c_str());
  }
  return err;
}

std::vector<std::string> port_names(const DatapathRefs& r,
                                    const std::function<bool(const PortRuntime&)>& pick) {
  std::vector<std::string> out;
  for (const PortRuntime& p : r.ports.ports())
    if (pick(p)) out.push_back(p.cfg.name);
  return out;
}

// Every down port whose namespace (if it has one) exists again: after a reload or another change.
json revive_all(DatapathState& st, const std::string& why) {
  json back = json::array(), down = json::array();
  for (const std::string& name :
       port_names(*st.refs, [](const PortRuntime& p) { return p.down; })) {
    if (bring_back(st, name, why).empty()) {
      back.push_back(name);
    } else if (const PortRuntime* p = st.refs->ports.find(name)) {
      down.push_back({{"name", name}, {"reason", p->down_reason}});
    }
  }
  return json{{"ok", true}, {"recreated", back}, {"down", down}};
}

// Namespace `netns` appeared or went away: ports in it whose namespace is not the one they were
// made in go down; down ports come back once a namespace of that name is mounted.
bool on_netns(DatapathState& st, const std::string& netns, bool present) {
  DatapathRefs& r = *st.refs;
  bool waiting = false;
  for (const std::string& name : port_names(
           r, [&netns](const PortRuntime& p) { return !netns.empty() && p.cfg.netns == netns; })) {
    const uint64_t ino = netns_inode(netns);
    const PortRuntime* p = r.ports.find(name);
    if (p && !p->down && p->netns_ino != 0 && p->netns_ino != ino)
      take_down(st, name, "netns_deleted",
                "namespace " + netns + " was deleted" +
                    (ino ? " (a new one of that name exists already)" : ""),
                true);
    p = r.ports.find(name);
    if (p && p->down && ino != 0)
      bring_back(st, name, "namespace " + netns + " is back");
    else if (p && p->down && present && ino == 0)
      waiting = true;  // the file is there, the namespace not mounted on it yet
  }
  return waiting;
}

// A netdev left vswitchd's namespace: ports whose netdev should be here and is gone go down.
void on_link_gone(DatapathState& st, const std::string& ifname) {
  for (const std::string& name : port_names(*st.refs, [&ifname](const PortRuntime& p) {
         return p.started && !p.down && p.cfg.netns.empty() &&
                (ifname.empty() || p.cfg.name == ifname);
       })) {
    if (if_nametoindex(name.c_str()) != 0) continue;  // deleted and made again (our own reset)
    take_down(st, name, "netdev_deleted", "netdev " + name + " was deleted", true);
  }
}

std::string reset_port(DatapathState& st, const std::string& name) {
  DatapathRefs& r = *st.refs;
  if (name.empty()) return revive_all(st, "reload").dump();
  const auto t0 = std::chrono::steady_clock::now();
  const PortRuntime* p = r.ports.find(name);
  if (!p) return json{{"ok", false}, {"error", "no port named " + name}}.dump();
  const bool was_down = p->down;
  if (!was_down) take_down(st, name, "reset", "reset by vswitchctl", false);
  if (std::string err = bring_back(st, name, "port reset"); !err.empty())
    return json{{"ok", false}, {"error", "port reset " + name + ": the port stays down: " + err}}
        .dump();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return json{{"ok", true}, {"port", name}, {"was", was_down ? "down" : "up"}, {"ms", ms}}.dump();
}

}  // namespace

std::vector<int> await_workers(DatapathMemory& mem, uint64_t generation,
                               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<int> late;
  for (;;) {
    late.clear();
    for (int w = 0; w < mem.nb_workers(); ++w) {
      const WorkerCounterBlock& c = mem.counters(w);
      const bool running =
          c.state.load(std::memory_order_acquire) == static_cast<uint32_t>(WorkerState::kRunning);
      if (running && c.topology_generation.load(std::memory_order_acquire) < generation)
        late.push_back(w);
    }
    if (late.empty() || std::chrono::steady_clock::now() >= deadline) return late;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

datapath_actor::behavior_type datapath_behavior(
    datapath_actor::stateful_pointer<DatapathState> self, DatapathRefs* refs,
    topology_actor topology) {
  self->state.refs = refs;
  self->state.topology = std::move(topology);
  self->state.system = &self->system();
  return {
      [self](apply_atom, DiffPtr diff) -> std::string {
        std::string err = apply_diff(self->state, *diff);
        // A change of the configuration also re-creates the ports that are down, where it can.
        revive_all(self->state, "configuration applied");
        return err;
      },
      [self](netns_atom, const std::string& netns, bool present, int32_t attempt) {
        // `ip netns add` creates the file, then mounts the namespace on it: look again shortly.
        if (on_netns(self->state, netns, present) && attempt < 100)
          self->delayed_send(self, std::chrono::milliseconds(20), netns_atom::value, netns, present,
                             attempt + 1);
      },
      [self](link_gone_atom, const std::string& ifname) { on_link_gone(self->state, ifname); },
      [self](reset_atom, const std::string& name) -> std::string {
        return reset_port(self->state, name);
      },
      [self](stop_atom) {
        self->state.refs->ports.destroy_all();
        return true;
      },
  };
}

}  // namespace vs
