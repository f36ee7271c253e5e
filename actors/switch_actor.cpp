#include "actors/switch_actor.hpp"

#include <net/if.h>

#include <cstdio>
#include <functional>
#include <thread>

#include "daemon/datapath_memory.hpp"
#include "daemon/fdb_service.hpp"
#include "daemon/netns.hpp"
#include "daemon/port_manager.hpp"
#include "switch/l2.hpp"

namespace vs {
namespace {

// Asks the topology actor to publish the table for the ports as they are now; returns its
// generation (0 if it did not answer). This actor runs detached: waiting here holds only its own
// thread.
uint64_t publish(SwitchState& st) {
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

void flush_port(SwitchRefs& r, const std::string& name) {
  if (const PortRuntime* p = r.ports.find(name))
    r.fdb.flush_learned(r.ports.switch_index(), p->port_id, -1);
}

// Ports that may be in the published table leave it; once every worker has moved past them,
// their learned MACs are flushed and they are closed.
void close_ports(SwitchState& st, const std::vector<std::string>& names) {
  SwitchRefs& r = *st.refs;
  if (names.empty()) return;
  for (const std::string& name : names) r.ports.hide_port(name);
  const uint64_t gen = publish(st);
  for (int w : await_workers(r.mem, gen, std::chrono::milliseconds(2000)))
    std::fprintf(stderr, "vswitchd: worker %d did not confirm the new port table in 2 s\n", w);
  for (const std::string& name : names) {
    flush_port(r, name);
    r.ports.remove_port(name);
  }
  publish(st);
}

// Phase 1 (and 3): the new ports. A failure closes the ones made here and changes nothing else.
// (They can be in the table already: the topology actor publishes for the supervisor too.)
std::string add_ports(SwitchState& st, const std::vector<config::PortConfig>& ports) {
  SwitchRefs& r = *st.refs;
  std::vector<std::string> added;
  for (const config::PortConfig& port : ports) {
    if (std::string err = r.ports.add_port(r.name, port); !err.empty()) {
      close_ports(st, added);
      return err;
    }
    added.push_back(port.name);
  }
  if (!added.empty()) publish(st);
  return {};
}

// Another switch failed phase 1: the ports this one added leave the table, then close.
void undo_added(SwitchState& st, const std::vector<config::PortConfig>& ports) {
  std::vector<std::string> names;
  for (const config::PortConfig& port : ports) names.push_back(port.name);
  close_ports(st, names);
}

// Phase 2: VLAN changes, then the ports to remove or re-create leave the published table; once
// every worker has moved past them their FDB entries are flushed and they are closed; the
// re-created ones come back (or, failing that, as they were).
std::string apply_changes(SwitchState& st, const SwitchChanges& c) {
  SwitchRefs& r = *st.refs;
  for (const config::PortConfig& port : c.retagged) r.ports.retag_port(port);
  std::vector<std::string> going = c.removed;
  for (const config::PortChange& ch : c.replaced) going.push_back(ch.port.name);
  if (going.empty()) {
    publish(st);  // the VLAN changes
    return {};
  }
  close_ports(st, going);  // its first publish carries the VLAN changes too
  std::string errors;
  for (const config::PortChange& ch : c.replaced) {
    std::string err = r.ports.add_port(r.name, ch.port);
    if (err.empty()) continue;
    std::string restore = r.ports.add_port(r.name, ch.previous);
    errors += (errors.empty() ? "" : "; ") + err +
              (restore.empty() ? " (the port was restored as it was)"
                               : " (and restoring it failed: " + restore + ")");
  }
  if (!c.replaced.empty()) publish(st);
  return errors;
}

// A port whose netdev or namespace went away leaves the forwarding: marked down at once (show,
// metrics), left out of the table, its learned MACs flushed (frames for them are then unknown
// unicast, flooded to the other ports or counted as no_destination drops), its device closed in
// vswitchd and every worker, so that nothing of the switch's holds its namespace any more.
void take_down(SwitchState& st, const std::string& name, const std::string& code,
               const std::string& reason, bool netdev_gone) {
  SwitchRefs& r = *st.refs;
  if (!r.ports.mark_down(name, code, reason)) return;
  std::fprintf(stderr, "vswitchd: port %s down: %s\n", name.c_str(), reason.c_str());
  using steady = std::chrono::steady_clock;
  const auto t0 = steady::now();
  r.ports.hide_port(name);
  const uint64_t gen = publish(st);
  for (int w : await_workers(r.mem, gen, std::chrono::milliseconds(2000)))
    std::fprintf(stderr, "vswitchd: worker %d did not confirm the new port table in 2 s\n", w);
  const auto t1 = steady::now();
  flush_port(r, name);
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
std::string bring_back(SwitchState& st, const std::string& name, const std::string& why) {
  SwitchRefs& r = *st.refs;
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

std::vector<std::string> port_names(const SwitchRefs& r,
                                    const std::function<bool(const PortRuntime&)>& pick) {
  std::vector<std::string> out;
  for (const PortRuntime& p : r.ports.ports())
    if (pick(p)) out.push_back(p.cfg.name);
  return out;
}

// Every down port whose namespace (if it has one) exists again: after a reload or another change.
Revived revive_all(SwitchState& st, const std::string& why) {
  Revived out;
  for (const std::string& name :
       port_names(*st.refs, [](const PortRuntime& p) { return p.down; })) {
    if (bring_back(st, name, why).empty()) {
      out.recreated.push_back(name);
    } else if (const PortRuntime* p = st.refs->ports.find(name)) {
      out.down.emplace_back(name, p->down_reason);
    }
  }
  return out;
}

// Namespace `netns` appeared or went away: ports in it whose namespace is not the one they were
// made in go down; down ports come back once a namespace of that name is mounted.
bool on_netns(SwitchState& st, const std::string& netns, bool present) {
  SwitchRefs& r = *st.refs;
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
void on_link_gone(SwitchState& st, const std::string& ifname) {
  for (const std::string& name : port_names(*st.refs, [&ifname](const PortRuntime& p) {
         return p.started && !p.down && p.cfg.netns.empty() &&
                (ifname.empty() || p.cfg.name == ifname);
       })) {
    if (if_nametoindex(name.c_str()) != 0) continue;  // deleted and made again (our own reset)
    take_down(st, name, "netdev_deleted", "netdev " + name + " was deleted", true);
  }
}

caf::result<ResetDone> reset_port(SwitchState& st, const std::string& name) {
  SwitchRefs& r = *st.refs;
  const auto t0 = std::chrono::steady_clock::now();
  const PortRuntime* p = r.ports.find(name);
  if (!p) return caf::make_error(errc::no_such_port, "no port named " + name);
  const bool was_down = p->down;
  if (!was_down) take_down(st, name, "reset", "reset by vswitchctl", false);
  if (std::string err = bring_back(st, name, "port reset"); !err.empty())
    return caf::make_error(errc::port_failed,
                           "port reset " + name + ": the port stays down: " + err);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return ResetDone{name, was_down, ms};
}

// Marks the switch busy for the length of a port change.
class Busy {
 public:
  explicit Busy(SwitchState& st) : flag_(st.refs->busy) { flag_.store(true); }
  ~Busy() { flag_.store(false); }
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;

 private:
  std::atomic<bool>& flag_;
};

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

switch_actor::behavior_type switch_behavior(switch_actor::stateful_pointer<SwitchState> self,
                                            SwitchRefs* refs, topology_actor topology) {
  self->state.refs = refs;
  self->state.topology = std::move(topology);
  self->state.system = &self->system();
  return {
      [self](add_atom, ChangesPtr c) -> caf::result<bool> {
        Busy busy(self->state);
        if (std::string err = add_ports(self->state, c->added); !err.empty())
          return caf::make_error(errc::port_failed, err);
        return true;
      },
      [self](undo_atom, ChangesPtr c) {
        Busy busy(self->state);
        undo_added(self->state, c->added);
        return true;
      },
      [self](apply_atom, ChangesPtr c) -> caf::result<bool> {
        Busy busy(self->state);
        std::string err = apply_changes(self->state, *c);
        if (!err.empty()) return caf::make_error(errc::port_failed, err);
        return true;
      },
      [self](revive_atom) {
        Busy busy(self->state);
        return revive_all(self->state, "configuration applied");
      },
      [self](reset_atom, const std::string& name) {
        Busy busy(self->state);
        return reset_port(self->state, name);
      },
      [refs](snapshot_atom) { return snapshot_ports(refs->ports, refs->name); },
      [self](netns_atom, const std::string& netns, bool present, int32_t attempt) {
        // `ip netns add` creates the file, then mounts the namespace on it: look again shortly.
        Busy busy(self->state);
        if (on_netns(self->state, netns, present) && attempt < 100)
          self->delayed_send(self, std::chrono::milliseconds(20), netns_atom::value, netns, present,
                             attempt + 1);
      },
      [self](link_gone_atom, const std::string& ifname) {
        Busy busy(self->state);
        on_link_gone(self->state, ifname);
      },
      [self](stop_atom) {
        self->state.refs->ports.destroy_all();
        return true;
      },
  };
}

SwitchSnapshot snapshot_ports(const PortManager& ports, const std::string& switch_name) {
  SwitchSnapshot snap;
  snap.switch_name = switch_name;
  for (const PortRuntime& p : ports.ports()) {
    PortSnapshot s;
    s.switch_name = p.switch_name;
    s.switch_index = p.switch_index;
    s.name = p.cfg.name;
    s.driver = p.cfg.is_vxlan() ? "vxlan" : p.cfg.driver;
    s.netns = p.cfg.netns;
    s.persist = p.cfg.persist;
    s.port_id = p.port_id;
    s.nb_queues = p.nb_queues;
    s.mtu = p.cfg.mtu;
    s.vlan_mode = p.cfg.vlan_mode;
    s.vlan = p.cfg.vlan;
    s.native_vlan = p.cfg.native_vlan;
    s.allowed_vlans = p.cfg.allowed_vlans;
    s.security = p.cfg.security;
    s.storm = p.cfg.storm;
    s.inbound = p.cfg.inbound;
    s.outbound = p.cfg.outbound;
    s.started = p.started;
    s.down = p.down;
    s.down_reason = p.down_reason;
    s.recreated = p.recreated;
    s.uplink_bridge = p.cfg.uplink_bridge;
    s.vxlan = p.cfg.vxlan;
    if (p.vm) {
      s.vm_mode = p.vm.mode;
      s.vm_netdev = p.vm.netdev;
      s.vm_device = p.vm.device;
    }
    if (p.started && p.cfg.is_vxlan()) {
      s.link_up = true;  // no device: its sockets are the workers'
    } else if (p.started) {
      if (p.in_netns && p.cfg.driver == "tap") {
        s.link_up = netdev_running_in(p.cfg.netns, p.cfg.name);
      } else if (rte_eth_link ln{}; rte_eth_link_get_nowait(p.port_id, &ln) == 0) {
        s.link_up = ln.link_status == RTE_ETH_LINK_UP;
      }
      rte_ether_addr mac{};
      if (rte_eth_macaddr_get(p.port_id, &mac) == 0) s.mac = mac_from_bytes(mac.addr_bytes);
      s.stats_ok = rte_eth_stats_get(p.port_id, &s.stats) == 0;
    }
    snap.ports.push_back(std::move(s));
  }
  snap.taken = std::chrono::steady_clock::now();
  return snap;
}

}  // namespace vs
