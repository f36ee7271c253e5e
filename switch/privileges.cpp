#include "switch/privileges.hpp"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace vs {
namespace {

int last_capability() {
  int last = CAP_LAST_CAP;
  if (FILE* f = std::fopen("/proc/sys/kernel/cap_last_cap", "r")) {
    if (std::fscanf(f, "%d", &last) != 1) last = CAP_LAST_CAP;
    std::fclose(f);
  }
  return last;
}

std::string failed(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

}  // namespace

std::string drop_all_capabilities() {
  // The bounding set first: dropping from it needs CAP_SETPCAP, which the capset below removes.
  // Without CAP_SETPCAP (vswitchd.service's CapabilityBoundingSet= leaves it out) the bounding set
  // stays as it is: the capset below still empties every set we hold, and no_new_privs keeps an
  // exec from gaining any back, which is all the bounding set would add.
  for (int cap = 0; cap <= last_capability(); ++cap) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0 || errno == EINVAL) continue;
    if (errno == EPERM) break;
    return failed("cannot drop a capability from the bounding set (PR_CAPBSET_DROP)");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return failed("cannot clear the ambient capabilities");
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capset, &header, data) != 0) return failed("capset");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return failed("PR_SET_NO_NEW_PRIVS");
  return {};
}

}  // namespace vs
