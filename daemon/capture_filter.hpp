// The filter of a capture: a pcap expression ("tcp port 80", "icmp or arp", as tcpdump takes),
// compiled by libpcap for Ethernet into classic BPF. The capture service converts the program to
// eBPF for DPDK's librte_bpf (capture_service.cpp); this part needs no DPDK, so it is fuzzed
// alone (tests/fuzz/capture_fuzz.cpp).
#pragma once
#include <pcap/pcap.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vs {

struct CompiledFilter {
  std::vector<bpf_insn> insns;  // classic BPF, as pcap_compile made it
};

// Returns false and libpcap's message (e.g. "syntax error") when `expression` does not compile.
// An empty expression compiles to "accept everything".
bool compile_pcap_filter(const std::string& expression, uint32_t snaplen, CompiledFilter& out,
                         std::string& error);

}  // namespace vs
