// vswitch-worker: a DPDK secondary process that polls the rx queues the primary assigned to it
// and forwards every frame within its switch, run to completion, on its own tx queue of each port.
#pragma once

namespace vs {

// argv: EAL arguments, then "--", then worker options (--worker-id N). Returns the exit code.
int run_worker(int argc, char** argv);

}  // namespace vs
