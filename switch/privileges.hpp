// Least privilege for a worker: once attached to the primary, a worker needs no capability. Its
// TAP queues are fds the primary passed it, its shared memory is mapped, its io_uring rings and
// eventfds need none, and files it may still open (hugepage segments of ports hot-plugged later,
// the EAL's runtime files) belong to its own uid. So it drops every capability (effective,
// permitted, inheritable, ambient and the bounding set) and sets no_new_privs: a worker taken
// over through a malicious frame cannot configure the host's network, load modules, trace other
// processes or regain capabilities through execve.
#pragma once
#include <string>

namespace vs {

// Returns an empty string, or what could not be dropped (the worker then runs on, and says so).
std::string drop_all_capabilities();

}  // namespace vs
