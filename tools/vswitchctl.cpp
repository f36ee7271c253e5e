// vswitchctl: the operator's command line. All logic lives in actors/ (vswitch_ctl).
#include "ctl/ctl.hpp"

int main(int argc, char** argv) {
  return vs::run_ctl(argc, argv);
}
