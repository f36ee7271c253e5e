// The typed message interfaces of vswitchd's actors (CAF 0.17). Replies are result structs, and
// failures are caf::error values of the vs::errc category with the reason as their context;
// JSON is built only at the control socket (daemon/control_replies.hpp).
//
//   config actor      reload / port add / port del: validate, diff, and apply the diff through
//                     the switch actors, in phases (below)
//   switch actor      one per [[switch]], spawned detached (a thread of its own): it owns that
//                     switch's ports (create, remove, retag, the VM side, its FDB flushes,
//                     down/up), and answers for them (snapshots with the driver's statistics).
//                     DPDK's calls that change the device list (probe, hot-unplug) are
//                     serialized between the switch actors by one lock in PortManager.
//   topology actor    the one writer of the published port/queue table: it merges the switches'
//                     ports and the workers the supervisor allows. It never waits on a driver.
//   supervisor actor  owns the worker processes: exits, restarts, replacement, giving up
//
// A reload's diff is applied in phases, so that it stays all-or-nothing across switches:
//   1. add_atom to every switch: its new ports; a failure anywhere -> undo_atom to the others;
//   2. apply_atom to every switch: VLAN changes, removals, re-creations within the switch, and
//      ports that leave it for another switch;
//   3. add_atom with the ports that arrived from another switch (once their old switch closed
//      them); a failure there re-creates the port as it was, in its old switch.
//
// All messages stay inside the vswitchd process (workers are DPDK secondaries, not actors), so
// the types below are allowed without serialization.
#pragma once
#include <rte_ethdev.h>

#include <caf/all.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/config_diff.hpp"
#include "daemon/supervisor.hpp"

namespace vs {
using ConfigPtr = std::shared_ptr<const config::Config>;
using DiffPtr = std::shared_ptr<const config::ConfigDiff>;

// Why an actor's request failed. The reason for a person (what and how to fix it) is the error's
// context: make_error(errc::..., std::string), read back with error_reason().
enum class errc : uint8_t {
  refused = 1,     // the change was refused as a whole; the running configuration stays
  no_such_port,    // no port of that name (in this switch)
  no_such_switch,  // no switch of that name
  port_failed,     // a port could not be created or re-created (the reason says which, and how)
  timeout,         // an actor did not answer in time
  no_such_worker,  // `worker restart N` out of range
  worker_failed,   // a worker (or its replacement) could not start or did not take over
  stopping,        // vswitchd is stopping
};
const char* to_string(errc e);
// The reason carried by an error of ours, or the error rendered by CAF.
std::string error_reason(const caf::error& e, caf::actor_system* sys = nullptr);

// One switch's share of a configuration diff (see the phases above).
struct SwitchChanges {
  std::vector<config::PortConfig> added;     // phase 1 (and 3: ports arriving from elsewhere)
  std::vector<std::string> removed;          // phase 2: removed, or leaving for another switch
  std::vector<config::PortConfig> retagged;  // phase 2
  std::vector<config::PortChange> replaced;  // phase 2: re-created within this switch
};
using ChangesPtr = std::shared_ptr<const SwitchChanges>;

// Ports re-created by `revive` (and by a reload), and the ones that stay down.
struct Revived {
  std::vector<std::string> recreated;
  std::vector<std::pair<std::string, std::string>> down;  // name, reason
};

// `port reset NAME` done.
struct ResetDone {
  std::string port;
  bool was_down = false;
  double ms = 0;
};

// A port as its switch actor sees it, with the driver's statistics read on that actor's thread.
struct PortSnapshot {
  std::string switch_name, name, driver, netns, vlan_mode;
  uint16_t switch_index = 0, port_id = 0, nb_queues = 0;
  int mtu = 0, vlan = 0, native_vlan = 0;
  std::vector<int> allowed_vlans;
  config::PortSecurityConfig security;  // anti-spoofing and isolation
  config::StormControl storm;
  config::Bandwidth inbound, outbound;
  uint64_t mac = 0;
  bool started = false, down = false;
  bool persist = false;  // rtap persist: the TAP outlives vswitchd
  std::string down_reason;
  uint64_t recreated = 0;
  std::string vm_mode, vm_netdev, vm_device;  // empty: no VM side
  std::string uplink_bridge;                  // the kernel bridge it joined, empty: none
  config::VxlanConfig vxlan;                  // a vxlan port's tunnel (vni 0: not one)
  std::optional<bool> link_up;
  bool stats_ok = false;
  rte_eth_stats stats{};
};

// A switch's ports at `taken`. `stale`: the switch actor did not answer in time (it is busy, in
// a port probe say) and this is the last snapshot it gave.
struct SwitchSnapshot {
  std::string switch_name;
  std::vector<PortSnapshot> ports;
  std::chrono::steady_clock::time_point taken;
  bool stale = false;
};

// `show workers`: each worker's state, and its liveness as its counter block says, at `now_ns`
// (CLOCK_MONOTONIC).
struct WorkersView {
  std::vector<WorkerStatus> status;
  std::vector<WorkerBeat> beats;  // by worker
  uint64_t now_ns = 0;
};

// `worker restart N` done: a running worker replaced (old_pid), or one that was not running
// started now (`was` its state then).
struct Restarted {
  int worker = 0;
  std::string was;  // empty: it was running and was replaced
  pid_t old_pid = 0, new_pid = 0;
  double ms = 0;
};

// What the config actor applied.
struct Applied {
  std::string summary;
  std::vector<std::string> added, removed, recreated, retagged;
  double ms = 0;
};

}  // namespace vs

CAF_ERROR_CODE_ENUM(vs::errc, "vswitch")
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vs::ConfigPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vs::DiffPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vs::ChangesPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vs::Revived)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vs::ResetDone)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vs::SwitchSnapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vs::Applied)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vs::WorkersView)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vs::Restarted)

namespace vs {

using apply_atom = caf::atom_constant<caf::atom("apply")>;
using show_atom = caf::atom_constant<caf::atom("show")>;
using reload_atom = caf::atom_constant<caf::atom("reload")>;
using port_add_atom = caf::atom_constant<caf::atom("port_add")>;
using port_del_atom = caf::atom_constant<caf::atom("port_del")>;
using mirror_add_atom = caf::atom_constant<caf::atom("mirror_add")>;
using mirror_del_atom = caf::atom_constant<caf::atom("mirror_del")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using respawn_atom = caf::atom_constant<caf::atom("respawn")>;
using exited_atom = caf::atom_constant<caf::atom("exited")>;
using workers_atom = caf::atom_constant<caf::atom("workers")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using reclaim_atom = caf::atom_constant<caf::atom("reclaim")>;
using netns_atom = caf::atom_constant<caf::atom("netns")>;
using link_gone_atom = caf::atom_constant<caf::atom("link_gone")>;
using reset_atom = caf::atom_constant<caf::atom("reset")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using publish_atom = caf::atom_constant<caf::atom("publish")>;
using add_atom = caf::atom_constant<caf::atom("add")>;
using undo_atom = caf::atom_constant<caf::atom("undo")>;
using revive_atom = caf::atom_constant<caf::atom("revive")>;
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;

// The published port/queue table, and what `show` reads.
using topology_actor = caf::typed_actor<
    // Publishes the table for the ports as they are now; replies its generation.
    caf::replies_to<publish_atom>::with<uint64_t>,
    // The workers that may poll queues (bit w = worker w), after one was given up or revived:
    // published at once.
    caf::reacts_to<workers_atom, uint64_t>>;

// One switch's ports.
using switch_actor = caf::typed_actor<
    // Phase 1 (and 3): creates the ports in `added`; on a failure closes the ones it made in this
    // call and fails with errc::port_failed.
    caf::replies_to<add_atom, ChangesPtr>::with<bool>,
    // Another switch failed phase 1: closes the ports that `added` made here.
    caf::replies_to<undo_atom, ChangesPtr>::with<bool>,
    // Phase 2: retags, removes, re-creates. Fails with errc::port_failed if a port could not be
    // re-created (it was restored as it was where it could be; the reason says so).
    caf::replies_to<apply_atom, ChangesPtr>::with<bool>,
    // Re-creates every down port whose namespace (if any) exists again.
    caf::replies_to<revive_atom>::with<Revived>,
    // `port reset NAME`: closes and re-creates the port; errc::no_such_port if not this switch's.
    caf::replies_to<reset_atom, std::string>::with<ResetDone>,
    // The ports with the driver's statistics, read on this actor's thread.
    caf::replies_to<snapshot_atom>::with<SwitchSnapshot>,
    // Namespace NAME appeared (true) or went away (false) under /run/netns (netns watcher); the
    // int is the retry count while a new namespace file is not mounted yet.
    caf::reacts_to<netns_atom, std::string, bool, int32_t>,
    // Netdev NAME was deleted from vswitchd's namespace (netns watcher); "" = events were lost.
    caf::reacts_to<link_gone_atom, std::string>,
    // Closes every port (shutdown).
    caf::replies_to<stop_atom>::with<bool>>;

// Worker processes.
using supervisor_actor = caf::typed_actor<
    caf::replies_to<start_atom>::with<bool>,  // start every worker; errc::worker_failed: why not
    caf::replies_to<show_atom>::with<WorkersView>,            // `show workers`
    caf::replies_to<restart_atom, int32_t>::with<Restarted>,  // `worker restart N`
    caf::reacts_to<exited_atom, int32_t>,                     // a pid ended (pidfd watcher)
    caf::reacts_to<respawn_atom, int32_t>,                    // back-off over: start worker N
    caf::reacts_to<reclaim_atom, int32_t>,    // worker N's queues come back once it forwards
    caf::reacts_to<heartbeat_atom>,           // check every worker's heartbeat (periodic)
    caf::replies_to<ping_atom>::with<bool>,   // the watchdog's liveness probe
    caf::replies_to<stop_atom>::with<bool>>;  // stop every worker (shutdown)

// The running configuration. Each change replies what it applied, or fails with errc::refused
// (and the running configuration stays).
using config_actor = caf::typed_actor<
    caf::replies_to<reload_atom>::with<Applied>,  // re-read the file (SIGHUP, `reload`)
    // `port add SWITCH {port as a JSON object}`; `port del NAME`: runtime changes to the running
    // config, also recorded in the runtime drop-in (config/config_store.hpp) so reloads and
    // restarts keep them; the main file is never written.
    caf::replies_to<port_add_atom, std::string, std::string>::with<Applied>,
    caf::replies_to<port_del_atom, std::string>::with<Applied>,
    // `mirror add SWITCH {mirror as a JSON object}`; `mirror del NAME`: the same for mirrors.
    caf::replies_to<mirror_add_atom, std::string, std::string>::with<Applied>,
    caf::replies_to<mirror_del_atom, std::string>::with<Applied>,
    caf::replies_to<ping_atom>::with<bool>>;  // the watchdog's liveness probe

// systemd's watchdog (actors/watchdog_actor.hpp): a tick every period.
using watchdog_actor = caf::typed_actor<caf::reacts_to<tick_atom>>;

}  // namespace vs
