// vswitchd: the primary. Loads the config, starts the EAL, creates the ports, publishes the
// port/queue table, starts and supervises the workers, serves metrics, and tears everything down
// on SIGTERM/SIGINT. (The CAF actor system takes over this event loop in the control-plane work.)
#pragma once

namespace vs {

int run_daemon(int argc, char** argv);

}  // namespace vs
