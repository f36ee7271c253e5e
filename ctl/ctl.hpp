// vswitchctl's commands. Those that need no daemon (config check) run here; the ones that talk to
// a running vswitchd arrive with its control socket.
#pragma once

namespace vs {

int run_ctl(int argc, char** argv);

}  // namespace vs
