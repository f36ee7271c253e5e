#include "daemon/capture_filter.hpp"

#include <pcap/pcap.h>

#include <memory>

namespace vs {

bool compile_pcap_filter(const std::string& expression, uint32_t snaplen, CompiledFilter& out,
                         std::string& error) {
  std::unique_ptr<pcap_t, void (*)(pcap_t*)> dead(
      pcap_open_dead(DLT_EN10MB, static_cast<int>(snaplen)), pcap_close);
  if (!dead) {
    error = "libpcap: cannot open a capture handle";
    return false;
  }
  bpf_program prog{};
  if (pcap_compile(dead.get(), &prog, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    error = pcap_geterr(dead.get());
    return false;
  }
  out.insns.assign(prog.bf_insns, prog.bf_insns + prog.bf_len);
  pcap_freecode(&prog);
  return true;
}

}  // namespace vs
