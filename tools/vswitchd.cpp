// vswitchd: the switch's primary process. All logic lives in actors/ (vswitch_control).
#include "daemon/daemon.hpp"

int main(int argc, char** argv) {
  return vs::run_daemon(argc, argv);
}
