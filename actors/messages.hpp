// The typed message interfaces of vswitchd's actors (CAF 0.17). Replies meant for vswitchctl are
// JSON documents as text ({"ok": true, ...} or {"ok": false, "error": "..."}), so the control
// socket forwards them without knowing every command's shape.
//
//   config actor      reload / port add / port del: validate, diff, apply through the datapath
//   datapath actor    owns every port: the one caller of DPDK's port control path (probe,
//                     configure, start, stop, remove), which can take seconds. It runs detached,
//                     on a thread of its own, so that nothing else waits on a scheduler thread
//                     behind it.
//   topology actor    the one writer of the published port/queue table (the ports as the
//                     datapath actor made them, the workers as the supervisor allows); answers
//                     `show`. It never waits on a driver or a worker.
//   supervisor actor  owns the worker processes: exits, restarts, replacement, giving up
//
// All messages stay inside the vswitchd process (workers are DPDK secondaries, not actors), so
// the shared-pointer payloads below are allowed without serialization.
#pragma once
#include <caf/all.hpp>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "config/config_diff.hpp"

namespace vs {
using ConfigPtr = std::shared_ptr<const config::Config>;
using DiffPtr = std::shared_ptr<const config::ConfigDiff>;
}  // namespace vs

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vs::ConfigPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vs::DiffPtr)

namespace vs {

using apply_atom = caf::atom_constant<caf::atom("apply")>;
using show_atom = caf::atom_constant<caf::atom("show")>;
using reload_atom = caf::atom_constant<caf::atom("reload")>;
using port_add_atom = caf::atom_constant<caf::atom("port_add")>;
using port_del_atom = caf::atom_constant<caf::atom("port_del")>;
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

// The published port/queue table, and what `show` reads.
using topology_actor = caf::typed_actor<
    // Publishes the table for the ports as they are now; replies its generation.
    caf::replies_to<publish_atom>::with<uint64_t>,
    // The workers that may poll queues (bit w = worker w), after one was given up or revived:
    // published at once.
    caf::reacts_to<workers_atom, uint64_t>,
    // `show switches|ports|queues|fdb`, filters as a JSON object text; replies JSON.
    caf::replies_to<show_atom, std::string, std::string>::with<std::string>>;

// The ports.
using datapath_actor = caf::typed_actor<
    // Applies a reload's port changes; replies "" or why it failed (then nothing changed, except
    // as the message says).
    caf::replies_to<apply_atom, DiffPtr>::with<std::string>,
    // Namespace NAME appeared (true) or went away (false) under /run/netns (netns watcher); the
    // int is the retry count while a new namespace file is not mounted yet.
    caf::reacts_to<netns_atom, std::string, bool, int32_t>,
    // Netdev NAME was deleted from vswitchd's namespace (netns watcher); "" = events were lost.
    caf::reacts_to<link_gone_atom, std::string>,
    // `port reset NAME`: closes and re-creates the port; "" = every port that is down (reload).
    // Replies JSON.
    caf::replies_to<reset_atom, std::string>::with<std::string>,
    // Closes every port (shutdown).
    caf::replies_to<stop_atom>::with<bool>>;

// Worker processes.
using supervisor_actor = caf::typed_actor<
    caf::replies_to<start_atom>::with<std::string>,             // start every worker; "" or why not
    caf::replies_to<show_atom>::with<std::string>,              // `show workers`, JSON
    caf::replies_to<restart_atom, int32_t>::with<std::string>,  // `worker restart N`, JSON
    caf::reacts_to<exited_atom, int32_t>,                       // a pid ended (pidfd watcher)
    caf::reacts_to<respawn_atom, int32_t>,                      // back-off over: start worker N
    caf::reacts_to<reclaim_atom, int32_t>,    // worker N's queues come back once it forwards
    caf::reacts_to<heartbeat_atom>,           // check every worker's heartbeat (periodic)
    caf::replies_to<stop_atom>::with<bool>>;  // stop every worker (shutdown)

// The running configuration.
using config_actor = caf::typed_actor<
    caf::replies_to<reload_atom>::with<std::string>,  // re-read the file (SIGHUP, `reload`)
    // `port add SWITCH {port as a JSON object}`; `port del NAME`: runtime changes to the running
    // config (the file is not written; the next reload returns to it).
    caf::replies_to<port_add_atom, std::string, std::string>::with<std::string>,
    caf::replies_to<port_del_atom, std::string>::with<std::string>>;

}  // namespace vs
