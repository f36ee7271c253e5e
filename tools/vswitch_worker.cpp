// vswitch-worker: a forwarding process started by vswitchd. All logic lives in switch/.
#include "switch/worker.hpp"

int main(int argc, char** argv) {
  return vs::run_worker(argc, argv);
}
