#!/usr/bin/env python3
"""Frames of the anti-spoofing test (policy_spoof.sh), sent and counted on an AF_PACKET socket.

  policy_frames.py send IFACE KIND SRC_MAC COUNT MARKER ARG
    KIND udp4:       IPv4 UDP 4000 -> 4001 broadcast from source address ARG
         dhcp_offer: IPv4 UDP 67 -> 68 broadcast (a DHCP server's reply) from ARG
         arp:        a gratuitous ARP reply: sender SRC_MAC / ARG
         na:         an unsolicited neighbour advertisement for target ARG (from a link-local
                     source, target link-layer option SRC_MAC)
    MARKER (16 bytes, padded with dots) ends each frame (the UDP payload, or a trailer past the ARP/IPv6 packet)
  policy_frames.py recv IFACE MARKER SECONDS: prints "ready", then after SECONDS the number
    of frames received (not sent) on IFACE that carry MARKER.
"""
import socket
import struct
import sys
import time


def mac(text):
    return bytes.fromhex(text.replace(":", ""))


def ip_checksum(header):
    s = sum(struct.unpack("!%dH" % (len(header) // 2), header))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ipv4_udp(src, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton("255.255.255.255"))
    hdr = hdr[:10] + struct.pack("!H", ip_checksum(hdr)) + hdr[12:]
    return hdr + udp


def frame(kind, src_mac, marker, arg):
    bcast = b"\xff" * 6
    if kind in ("udp4", "dhcp_offer"):
        ports = (4000, 4001) if kind == "udp4" else (67, 68)
        return bcast + src_mac + b"\x08\x00" + ipv4_udp(arg, *ports, marker)
    if kind == "arp":
        spa = socket.inet_aton(arg)
        body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + src_mac + spa + bcast + spa
        return bcast + src_mac + b"\x08\x06" + body + marker
    if kind == "na":
        na = bytes([136, 0, 0, 0, 0x20, 0, 0, 0]) + socket.inet_pton(socket.AF_INET6, arg)
        na += bytes([2, 1]) + src_mac
        ip6 = struct.pack("!IHBB", 0x60000000, len(na), 58, 255)
        ip6 += socket.inet_pton(socket.AF_INET6, "fe80::77:ff:fe00:1")
        ip6 += socket.inet_pton(socket.AF_INET6, "ff02::1")
        return mac("33:33:00:00:00:01") + src_mac + b"\x86\xdd" + ip6 + na + marker
    sys.exit("unknown kind " + kind)


def main():
    mode, iface = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind((iface, 0))
    if mode == "send":
        kind, src, count, marker, arg = sys.argv[3:8]
        f = frame(kind, mac(src), marker.encode()[:16].ljust(16, b"."), arg)
        for _ in range(int(count)):
            s.send(f)
        return
    marker, seconds = sys.argv[3].encode()[:16].ljust(16, b"."), float(sys.argv[4])
    print("ready", flush=True)
    s.settimeout(0.05)
    deadline, n = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        try:
            data, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] != socket.PACKET_OUTGOING and marker in data:
            n += 1
    print(n, flush=True)


main()
