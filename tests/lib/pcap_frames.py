#!/usr/bin/env python3
"""Lists the frames of a pcapng or pcap file, one per line: interface name, direction, original
length, captured bytes in hex. The capture tests compare these lines with what the namespaces'
own tcpdump saw, and read the numbered frames of vs-rawframe in them.

  pcap_frames.py FILE [--tag TAG]   with --tag: "seq" lines (vs-rawframe's sequence numbers)
  pcap_frames.py FILE --summary      one line: frames, longest original length, most bytes kept,
                                     first and last timestamp (seconds, pcapng files)
"""
import struct
import sys

DIRECTIONS = {0: "-", 1: "in", 2: "out"}
TIMES = []


def options(body):
    out, at = {}, 0
    while at + 4 <= len(body):
        code, length = struct.unpack_from("<HH", body, at)
        if code == 0:
            break
        out.setdefault(code, body[at + 4:at + 4 + length])
        at += 4 + (length + 3) // 4 * 4
    return out


def pcapng_frames(data):
    names, at = [], 0
    while at + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, at)
        if blen < 12 or at + blen > len(data):
            raise ValueError(f"bad block at {at}")
        body = data[at + 8:at + blen - 4]
        if btype == 1:  # interface description
            names.append(options(body[8:]).get(2, b"?").decode())
        elif btype == 6:  # enhanced packet
            ifid, hi, lo, caplen, origlen = struct.unpack_from("<IIIII", body, 0)
            frame = body[20:20 + caplen]
            flags = options(body[20 + (caplen + 3) // 4 * 4:]).get(2, b"\0\0\0\0")
            direction = DIRECTIONS.get(struct.unpack("<I", flags)[0] & 3, "?")
            TIMES.append((hi << 32 | lo) / 1e9)
            yield names[ifid], direction, origlen, frame
        at += blen


def pcap_frames(data):
    at = 24
    while at + 16 <= len(data):
        _s, _us, caplen, origlen = struct.unpack_from("<IIII", data, at)
        yield "-", "-", origlen, data[at + 16:at + 16 + caplen]
        at += 16 + caplen


def main():
    data = open(sys.argv[1], "rb").read()
    tag = sys.argv[3].encode() if len(sys.argv) > 3 and sys.argv[2] == "--tag" else None
    frames = pcapng_frames(data) if data[:4] == b"\x0a\x0d\x0d\x0a" else pcap_frames(data)
    if sys.argv[2:3] == ["--summary"]:
        n = longest = kept = 0
        for _name, _direction, origlen, frame in frames:
            n, longest, kept = n + 1, max(longest, origlen), max(kept, len(frame))
        print(n, longest, kept, f"{min(TIMES, default=0):.6f}", f"{max(TIMES, default=0):.6f}")
        return
    for name, direction, origlen, frame in frames:
        if tag is None:
            print(name, direction, origlen, frame.hex())
        elif frame[12:14] == b"\x88\xb5" and frame[14:22] == tag[:8].ljust(8, b"\0"):
            print(name, direction, struct.unpack(">I", frame[22:26])[0])


if __name__ == "__main__":
    main()
