#!/usr/bin/env bash
# worker_stall.sh with a livelocked worker: --fault-spin-worker 0 makes worker 0 spin forever in
# its loop, never polling nor beating, once it gets SIGUSR1 (SIGTERM does not stop it).
STALL_MODE=spin exec bash "$(dirname "$0")/worker_stall.sh"
