#!/usr/bin/env python3
"""systemd's side of the notify protocol, for tests: receives datagrams on an AF_UNIX socket and
logs each as one JSON line {"t_ms": monotonic ms, "pid": sender (SO_PASSCRED), "msg": text}.

  notify_recv.py SOCKET_PATH LOG_FILE     (writes LOG_FILE.ready once it listens; stops on SIGTERM)
"""
import json
import os
import signal
import socket
import struct
import sys
import time


def main():
    path, log = sys.argv[1], sys.argv[2]
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    s.bind(path)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(log, "a", buffering=1) as out:
        open(log + ".ready", "w").close()
        while True:
            msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
            pid = -1
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", data[:12])[0]
            out.write(json.dumps({"t_ms": time.monotonic() * 1000, "pid": pid,
                                  "msg": msg.decode(errors="replace")}) + "\n")


if __name__ == "__main__":
    main()
