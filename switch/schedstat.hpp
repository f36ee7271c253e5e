// The time a thread has waited for a CPU: the second field of /proc/<pid>/schedstat (run_delay,
// ns). The heartbeat deadline (shm/counters.hpp) leaves it out, so that a worker delayed by
// an overloaded host is not taken for a hung one. Used by the worker and by vswitchd.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>

namespace vs {

// From an open schedstat file (read again from its start); 0 if it cannot be read.
inline uint64_t run_delay_ns(int fd) {
  if (fd < 0) return 0;
  char buf[96];
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long long on_cpu = 0, waited = 0;
  if (std::sscanf(buf, "%llu %llu", &on_cpu, &waited) != 2) return 0;
  return waited;
}

}  // namespace vs
