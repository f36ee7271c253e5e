#!/usr/bin/env python3
"""Flame graph and "where the worker's time goes" table from one `perf record -g` file.

bench/run records `perf record -g -p <worker pid>` during its TCP, 64 B and ping-pong runs and
calls, for each recording,

    flame.py --perf-data FILE.data --out PREFIX --title "TEXT" [--min-share 0.002]

which runs `perf script -i FILE.data -F comm,tid,ip,sym,dso --no-inline` (dso tells kernel from
user-space frames; --no-inline skips the addr2line look-ups that make perf script slow), folds
every sample's call chain root->leaf into "comm;frame;...;leaf" (kernel frames get the suffix
"_[k]", as flamegraph.pl's folders do; a symbol perf cannot name becomes "[dso basename]" or
"[unknown]"; a sample without frames becomes "comm;[unknown]") and writes, next to the results:

  PREFIX.folded  "stack count" lines, most samples first; stacks below --min-share of all samples
                 (or beyond ~200 KB) are summed into one "[other];..." line, so counts still add
                 up to the number of samples.
  PREFIX.svg     a self-contained flame graph (no JavaScript): root at the bottom, 1200 px wide,
                 frames under 0.1% left out, a <title> tooltip per frame; kernel frames in
                 orange/yellow, user-space frames in red/pink, the comm and root frames grey.
  PREFIX.md      the table below, also printed on stdout.

Every row of the table is inclusive (as `perf report --children`): a sample counts if any frame
of its chain matches (after dropping a ".cold"/".isra.0"/... suffix). tun write path: tun_get_user;
of which copy_from_iter: a COPY_FROM frame below it; of which the receiving stack: an RX_STACK frame
below it (the netns's receive path, and softirqs run when bottom halves are re-enabled, that
tun_get_user runs in the worker's context). tun read path: a TUN_READ frame; of which
copy_to_iter: a COPY_TO frame below it. io_uring task work: a TASK_WORK frame. io_uring entry: an
URING_ENTRY frame (overlaps the rows above). The last three split the samples none of these
rows has: other system calls (an entry_SYSCALL_64* frame), user space only (no kernel frame),
everything else (interrupts, page faults, ...).
Exit status 2 when the perf.data is missing or empty or perf script fails.
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import zlib
from xml.sax.saxutils import escape

PERF_SCRIPT = ["perf", "script", "-F", "comm,tid,ip,sym,dso", "--no-inline"]
KERNEL_ADDR = 0xFFFF800000000000
COPY_FROM = ("_copy_from_iter", "copy_from_iter", "copyin", "copy_page_from_iter",
             "skb_copy_datagram_from_iter")
COPY_TO = ("_copy_to_iter", "copy_to_iter", "copyout", "simple_copy_to_iter",
           "skb_copy_datagram_iter", "copy_page_to_iter")
RX_STACK = ("netif_receive_skb", "__netif_receive_skb", "netif_rx", "__netif_rx",
            "napi_gro_receive", "napi_gro_frags", "gro_receive_skb", "tun_napi_poll",
            "__napi_poll", "net_rx_action", "process_backlog", "do_softirq", "__do_softirq",
            "handle_softirqs", "do_xdp_generic", "ip_rcv", "ip_list_rcv", "ip_local_deliver",
            "ipv6_rcv", "ipv6_list_rcv", "ip6_input", "tcp_v4_rcv", "tcp_v6_rcv", "udp_rcv",
            "udpv6_rcv", "icmp_rcv", "icmpv6_rcv", "arp_rcv", "br_handle_frame")
TUN_READ = ("tun_do_read", "tun_recvmsg", "tun_chr_read_iter")
TASK_WORK = ("task_work_run", "tctx_task_work", "io_handle_tw_list", "io_run_task_work",
             "io_run_local_work", "__io_run_local_work", "io_arm_poll_handler",
             "__io_arm_poll_handler", "io_arm_apoll", "io_poll_", "__io_poll_", "io_apoll_",
             "io_req_task_")
URING_ENTRY = ("io_submit_sqes", "__do_sys_io_uring_enter", "__x64_sys_io_uring_enter",
               "__se_sys_io_uring_enter", "io_uring_enter")
HEADER = re.compile(r"(.*\S)\s+-?\d+")
HEADER_IP = re.compile(r"(.*?\S)\s+-?\d+\s+([0-9a-fA-F]+\s.*)")
SUFFIX = re.compile(r"\.(cold|isra|constprop|part|lto_priv|llvm)\b.*$")


def die(msg):
    print(f"flame.py: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_frame(line):
    """'addr sym[+off] (dso)' -> (name, is_kernel)."""
    parts = line.split(None, 1)
    rest = parts[1] if len(parts) > 1 else "[unknown]"
    dso = ""
    cut = rest.rfind(" (")
    if rest.endswith(")") and cut >= 0:
        rest, dso = rest[:cut], rest[cut + 2:-1]
    sym = re.sub(r"\+0x[0-9a-fA-F]+$", "", rest.strip()).replace(";", ":")
    addr = parts[0] if re.fullmatch(r"[0-9a-fA-F]+", parts[0]) else "0"
    kernel = int(addr, 16) >= KERNEL_ADDR or dso.startswith("[kernel") or dso.endswith(".ko")
    if not sym or sym == "[unknown]":
        sym = f"[{os.path.basename(dso)}]" if dso and dso != "[unknown]" else "[unknown]"
    return sym, kernel


def add(stacks, comm, frames):
    stacks[(comm, tuple(reversed(frames)) or (("[unknown]", False),))] += 1


def parse_header(line):
    """'comm tid' (or 'comm tid addr sym (dso)' for a sample without call chain)."""
    m = HEADER.fullmatch(line.strip()) or HEADER_IP.fullmatch(line.strip())
    comm = (m.group(1) if m else line.strip()).replace(";", ":") or "[unknown]"
    return comm, [parse_frame(m.group(2))] if m and m.lastindex == 2 else []


def read_samples(perf_data):
    """Runs perf script; returns a Counter {(comm, ((name, is_kernel), ... root->leaf)): n}."""
    if not os.path.isfile(perf_data) or os.path.getsize(perf_data) == 0:
        die(f"{perf_data}: missing or empty")
    errf = tempfile.TemporaryFile("w+", errors="replace")  # a file: no pipe to fill up
    try:
        proc = subprocess.Popen(PERF_SCRIPT + ["-i", perf_data], stdout=subprocess.PIPE,
                                stderr=errf, text=True, errors="replace")
    except OSError as e:
        die(f"cannot run perf: {e}")
    stacks = collections.Counter()
    comm, frames = None, []
    for line in proc.stdout:
        if line.startswith("\t"):
            if comm is not None:
                frames.append(parse_frame(line.strip()))
            continue
        if comm is not None:
            add(stacks, comm, frames)
        comm, frames = parse_header(line) if line.strip() else (None, [])
    if comm is not None:
        add(stacks, comm, frames)
    proc.wait()
    errf.seek(0)
    err = errf.read().strip()
    if proc.returncode != 0:
        die(f"perf script failed ({proc.returncode}): {err[-500:]}")
    if not stacks:
        die(f"{perf_data}: no samples ({err[-300:] or 'perf script printed nothing'})")
    return stacks


def find(names, prefixes, exact=False):
    """Index of the first (root-most) frame matching, or -1."""
    for i, n in enumerate(names):
        b = SUFFIX.sub("", n)
        if (b in prefixes) if exact else b.startswith(prefixes):
            return i
    return -1


def classify(frames):
    """The table rows (keys) a chain counts in."""
    names = [n for n, _ in frames]
    knames = [n for n, k in frames if k]
    rows = set()
    w = find(names, ("tun_get_user",), exact=True)
    if w >= 0:
        rows.add("tunw")
        if find(names[w + 1:], COPY_FROM) >= 0:
            rows.add("tunw_copy")
        if find(names[w + 1:], RX_STACK) >= 0:
            rows.add("tunw_rx")
    r = find(names, TUN_READ, exact=True)
    if r >= 0:
        rows.add("tunr")
        if find(names[r + 1:], COPY_TO) >= 0:
            rows.add("tunr_copy")
    if find(knames, TASK_WORK) >= 0:
        rows.add("tw")
    if find(knames, URING_ENTRY, exact=True) >= 0:
        rows.add("uring")
    if not rows:
        if not knames:
            rows.add("user")
        elif find(knames, ("entry_SYSCALL_64",)) >= 0:
            rows.add("syscall")
        else:
            rows.add("else")
    return rows


ROWS = [("tunw", "tun write path (`tun_get_user`)"),
        ("tunw_copy", "… of which `copy_from_iter` (copy of the frame into the skb)"),
        ("tunw_rx", "… of which the receiving stack run in the worker's context"),
        ("tunr", "tun read path (`tun_do_read`, `tun_recvmsg`, `tun_chr_read_iter`)"),
        ("tunr_copy", "… of which `copy_to_iter` (copy of the frame to user space)"),
        ("tw", "io_uring task work and poll arming"),
        ("uring", "io_uring submission and completion entry (inclusive: overlaps the rows above)"),
        ("syscall", "other system calls"),
        ("user", "user space only (no kernel frame)"),
        ("else", "everything else (interrupts, faults, …)")]


def pct(n, total):
    return f"{100.0 * n / total:.1f}%"


def markdown(stacks, title):
    total = sum(stacks.values())
    rows, leaves = collections.Counter(), collections.Counter()
    for (_, frames), n in stacks.items():
        for key in classify(frames):
            rows[key] += n
        name, kernel = frames[-1]
        leaves[f"`{name}`" + (" (kernel)" if kernel else "")] += n
    out = [f"### {title}", "", "| where the time goes | share of samples |", "|---|---:|"]
    out += [f"| {label} | {pct(rows[key], total)} |" for key, label in ROWS]
    out += ["", f"{total} samples", "", "top 15 leaf functions (self):", "",
            "| function | share |", "|---|---:|"]
    out += [f"| {name} | {pct(n, total)} |" for name, n in leaves.most_common(15)]
    return "\n".join(out) + "\n"


def folded_lines(stacks):
    """{"comm;f;f": n}, kernel frames suffixed _[k]."""
    lines = collections.Counter()
    for (comm, frames), n in stacks.items():
        lines[";".join([comm] + [f + "_[k]" if k else f for f, k in frames])] += n
    return lines


def write_folded(path, lines, min_share, max_bytes=200_000):
    total = sum(lines.values())
    kept, other, dropped, size = [], 0, 0, 0
    for stack, n in sorted(lines.items(), key=lambda kv: (-kv[1], kv[0])):
        if n >= min_share * total and size + len(stack) < max_bytes:
            kept.append(f"{stack} {n}")
            size += len(stack) + 10
        else:
            other, dropped = other + n, dropped + 1
    if other:
        kept.append(f"[other];[{dropped} smaller stacks] {other}")
    with open(path, "w") as f:
        f.write("\n".join(kept) + "\n")


def build_tree(lines):
    """Nested {name: [count, children]} from the folded stacks."""
    root = [0, {}]
    for stack, n in lines.items():
        root[0] += n
        node = root
        for frame in stack.split(";"):
            node = node[1].setdefault(frame, [0, {}])
            node[0] += n
    return root


def colour(name, depth):
    h = zlib.crc32(name.encode())
    a, b = (h & 0xFF) / 255, ((h >> 8) & 0xFF) / 255
    if depth <= 1 or name.startswith("[unknown"):
        v = 180 + int(40 * a)
        return f"rgb({v},{v},{v - 10})"
    if name.endswith("_[k]"):       # kernel: orange to yellow
        return f"rgb({230 + int(25 * a)},{120 + int(90 * b)},{int(50 * a)})"
    return f"rgb({205 + int(50 * a)},{int(90 * b)},{40 + int(50 * b)})"  # user: red to pink


def layout(tree, min_frac):
    """[(name, count, depth, x in samples)] of the frames >= min_frac of all samples."""
    rects, todo = [], [(tree, "all", 0, 0)]
    while todo:
        (count, children), name, depth, x = todo.pop()
        rects.append((name, count, depth, x))
        for child, node in sorted(children.items()):
            if node[0] >= min_frac * tree[0]:
                todo.append((node, child, depth + 1, x))
            x += node[0]
    return rects


def svg(tree, title, width=1200, row=16, pad=10, min_frac=0.001):
    total, scale = tree[0], (width - 2 * pad) / tree[0]
    rects = layout(tree, min_frac)
    height = (max(r[2] for r in rects) + 1) * row + 60
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Verdana,sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="#f8f8f0"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15">{escape(title)}</text>',
           f'<text x="{width / 2}" y="38" text-anchor="middle" fill="#555">{total} samples; '
           'kernel frames orange/yellow, user-space frames red/pink; width = share of samples</text>']
    for name, count, depth, x in rects:
        label = "all" if depth == 0 else name[:-4] if name.endswith("_[k]") else name
        w, x, y = count * scale, pad + x * scale, height - pad - (depth + 1) * row
        tip = f"{label} ({count} samples, {pct(count, total)})"
        out.append(f'<g><title>{escape(tip)}</title><rect x="{x:.1f}" y="{y}" width='
                   f'"{max(w - 0.5, 0.1):.1f}" height="{row - 1}" fill="{colour(name, depth)}"/>')
        chars = int((w - 6) / 6.6)  # ~6.6 px per character of 11 px Verdana
        if chars >= 3:
            text = label if len(label) <= chars else label[:chars - 2] + ".."
            out.append(f'<text x="{x + 3:.1f}" y="{y + row - 4}">{escape(text)}</text>')
        out.append("</g>")
    return "\n".join(out + ["</svg>"]) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--perf-data", required=True)
    ap.add_argument("--out", required=True, help="output prefix: PREFIX.{folded,svg,md}")
    ap.add_argument("--title", default="")
    ap.add_argument("--min-share", type=float, default=0.002)
    args = ap.parse_args()
    title = args.title or os.path.basename(args.perf_data)
    stacks = read_samples(args.perf_data)
    lines = folded_lines(stacks)
    write_folded(args.out + ".folded", lines, args.min_share)
    with open(args.out + ".svg", "w") as f:
        f.write(svg(build_tree(lines), title))
    md = markdown(stacks, title)
    with open(args.out + ".md", "w") as f:
        f.write(md)
    sys.stdout.write(md)


if __name__ == "__main__":
    main()
