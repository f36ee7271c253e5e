#!/usr/bin/env bash
# SIGKILL during a change (issue #10): the system ends in either the old or the new config, never
# in between, and it forwards. Four kinds of change, each a few times with random delays:
#   a. a worker killed during a reload that adds one port and removes another;
#   b. a worker killed during `vswitchctl port del` and `port add`;
#   c. the new process, or the old one, killed during `vswitchctl worker restart N`;
#   d. vswitchd killed during a reload: workers exit within 1 s, a new vswitchd starts on the
#      (new) file with exactly its ports.
# After every kill: the port set is exactly the old or the new one and agrees with the reply
# (ok -> new, refused -> old), every worker index has exactly one running process, every listed
# port forwards (pings from vm1), every rx queue of vm1's port forwards (UDP flows spread over
# the queues), and a further change succeeds.
source "$(dirname "$0")/../lib/harness.sh"

cfg=$T_DIR/vswitch.toml
# The pools are sized as usual: for the three ports of the config (worker 0 polls 2 of each
# port's 3 queues). While a reload briefly holds four ports, the added port's queues of worker 0
# get their rx buffers once the removed port has given its back.
limit_ms=1000
[ "${VSWITCH_SANITIZED:-0}" = 1 ] && limit_ms=3000
SUMMARY=()

# A VM keeps its MAC when its port is removed and added again (as a real VM would), so the
# other VMs' ARP entries stay right.
vm_fixed_mac() { printf '02:77:00:00:00:%02x' "$1"; }
# The test kills workers far more often than once per 10 s: raise crash_loop_limit (default 5)
# so that the supervisor never gives one up.
write_set() {  # write_set VM...: sw0 with the ports of these VMs, two workers
  config_daemon "$cfg" 2 "crash_loop_limit = 100"
  config_switch "$cfg" sw0
  for n in "$@"; do config_port "$cfg" "$n" "mac = \"$(vm_fixed_mac "$n")\""; done
}
names_of() { for n in "$@"; do vm_if "$n"; done | LC_ALL=C sort | paste -sd' '; }
ports_now() { ctl --json show ports | json_get '" ".join(sorted(p["name"] for p in j["ports"]))'; }
rand_ms() { echo $(( RANDOM % $1 )); }
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }

# workers_settled: within 20 s every worker is running and forwarding (vswitch_worker_up: its
# process has attached, which took over 3 s on a loaded machine), each worker index has exactly
# one live process, the one vswitchd reports, and every rx queue is back with its own worker
# (queue q with worker q % 2: a restarted worker gets its lent queues back once it forwards).
# Then 0.2 s for the workers to adopt that table (they look every 50 ms).
workers_settled() {
  local j="" q="" deadline=$((SECONDS + 20))
  while [ "$SECONDS" -lt "$deadline" ]; do
    [ "$(metric vswitch_worker_up 2>/dev/null)" = 2 ] && j=$(ctl --json show workers 2>/dev/null) &&
      q=$(ctl --json show queues 2>/dev/null) || { sleep 0.05; continue; }
    python3 - "$j" "$T_PREFIX" "$q" <<'EOF' && { sleep 0.2; return 0; }
import json, os, sys
workers = json.loads(sys.argv[1])["workers"]
procs = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        continue
    argv = [a.decode(errors="replace") for a in argv]
    if state == "Z" or f"--file-prefix={sys.argv[2]}" not in argv or "--worker-id" not in argv:
        continue
    procs.setdefault(int(argv[argv.index("--worker-id") + 1]), []).append(int(pid))
ok = all(w["state"] == "running" and procs.get(w["id"]) == [w["pid"]] for w in workers)
home = all(q["worker"] == q["queue"] % len(workers) for q in json.loads(sys.argv[3])["queues"])
sys.exit(0 if ok and home and len(procs) == len(workers) else 1)
EOF
    sleep 0.05
  done
  fail "workers did not settle: $j; queues: $q; processes: $(pgrep -af -- "--file-prefix=${T_PREFIX}( |$)" | cut -c1-60 | tr '\n' ';')"
}

# forwards VM...: vm1 pings each other VM, and the last one pings vm1 back: 4 pings each, all
# answered. A run that loses some (seen right after a new vswitchd started) is tried once more,
# and counted in FIRST_TRY_LOSS; the second must lose nothing.
FIRST_TRY_LOSS=0
ping4() {  # ping4 FROM TO: 0 if all 4 pings were answered
  ip netns exec "$(vm_ns "$1")" ping -q -c 4 -i 0.05 -W 1 "10.77.0.$2" >"$T_DIR/ping.log" 2>&1 &&
    grep -q " 0% packet loss" "$T_DIR/ping.log"
}
forwards() {
  local last="" pair
  for b in "$@"; do [ "$b" = 1 ] || last=$b; done
  for pair in $(for b in "$@"; do [ "$b" = 1 ] || echo "1,$b"; done) ${last:+"$last,1"}; do
    ping4 "${pair%,*}" "${pair#*,}" && continue
    FIRST_TRY_LOSS=$((FIRST_TRY_LOSS + 1))
    log "vm${pair%,*} -> vm${pair#*,}: $(grep transmitted "$T_DIR/ping.log"); once more"
    ping4 "${pair%,*}" "${pair#*,}" ||
      fail "vm${pair%,*} -> vm${pair#*,} lost pings twice: $(grep transmitted "$T_DIR/ping.log")"
  done
}

# udp_receiver_start: a UDP receiver in vm2 for the whole test (python's start in a namespace
# takes seconds on a loaded machine): it logs the payload of every datagram to udp-recv.log.
udp_receiver_start() {
  [ -n "${UDP_RECV_PID:-}" ] && kill "$UDP_RECV_PID" 2>/dev/null
  ip netns exec "$(vm_ns 2)" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind(("10.77.0.2", 9999))
print("ready", flush=True)
while True:
    print(s.recv(64).decode(), flush=True)' >"$T_DIR/udp-recv.log" 2>&1 &
  UDP_RECV_PID=$!
  T_PIDS+=("$UDP_RECV_PID")
  local deadline=$((SECONDS + 20))
  until grep -q ready "$T_DIR/udp-recv.log"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the UDP receiver in vm2 did not start"
    sleep 0.05
  done
}

# queues_forward: 96 UDP flows from vm1 to vm2 (different source ports, so the TAP spreads them
# over its queues): vm2 receives every datagram and every rx queue of vm1's port carried some.
batch=0
queues_forward() {
  local before after got=0 deadline
  batch=$((batch + 1))
  before=$(ctl --json show queues)
  ip netns exec "$(vm_ns 1)" python3 -c '
import socket, sys
for port in range(20000, 20096):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.77.0.1", port)); s.sendto(sys.argv[1].encode(), ("10.77.0.2", 9999)); s.close()' \
    "batch$batch"
  deadline=$((SECONDS + 10))
  while [ "$SECONDS" -lt "$deadline" ]; do
    got=$(grep -cx "batch$batch" "$T_DIR/udp-recv.log" || true)
    [ "$got" -ge 96 ] && break
    sleep 0.05
  done
  after=$(ctl --json show queues)
  [ "$got" = 96 ] || fail "vm2 received $got of 96 UDP datagrams (batch $batch)"
  python3 - "$before" "$after" "$(vm_if 1)" <<'EOF' || fail "an rx queue of vm1's port carried nothing"
import json, sys
b = {(q["port"], q["queue"]): q["rx_packets"] for q in json.loads(sys.argv[1])["queues"]}
a = [q for q in json.loads(sys.argv[2])["queues"] if q["port"] == sys.argv[3]]
d = {q["queue"]: q["rx_packets"] - b.get((q["port"], q["queue"]), 0) for q in a}
print("    rx frames per queue of vm1's port during the UDP flows:", d)
sys.exit(0 if d and all(v > 0 for v in d.values()) and all(q["worker"] is not None for q in a) else 1)
EOF
}

# verdict OLD NEW RC WHAT: the port set must be OLD or NEW, and NEW exactly when the change
# succeeded (RC 0); the kernel agrees (a TAP exists exactly for the listed ports of VMs 1-4).
# Prints "old" or "new".
verdict() {
  local old=$1 new=$2 rc=$3 what=$4 now taps=""
  now=$(ports_now)
  for n in 1 2 3 4; do
    ip netns exec "$(vm_ns "$n")" ip link show "$(vm_if "$n")" >/dev/null 2>&1 && taps+=" $(vm_if "$n")"
  done
  [ "${taps# }" = "$now" ] || fail "$what: vswitchd lists [$now], the kernel has TAPs [${taps# }]"
  if [ "$now" = "$new" ] && [ "$rc" -eq 0 ]; then echo new
  elif [ "$now" = "$old" ] && [ "$rc" -ne 0 ]; then echo old
  elif [ "$now" = "$old" ] && [ "$old" = "$new" ]; then echo new
  else fail "$what: ports are [$now] after exit code $rc; old [$old], new [$new]"
  fi
}

# in_background OUT CMD...: runs CMD with its output in OUT and its exit code in OUT.rc; its pid
# in BG_PID.
in_background() {
  local out=$1
  shift
  rm -f "$out.rc"
  ( rc=0; "$@" >"$out" 2>&1 || rc=$?; echo "$rc" >"$out.rc" ) &
  BG_PID=$!
}

# kill_worker_during W DELAY_MS CMD...: runs CMD in the background, SIGKILLs worker W's process
# DELAY_MS later and waits for CMD. Sets PID (the killed one), RC (CMD's exit code), T_KILL and
# TOOK (ms from CMD's start to the kill and to its end).
kill_worker_during() {
  local w=$1 delay=$2 t0
  shift 2
  PID=$(worker_pid "$w")
  t0=$(ms_now)
  in_background "$T_DIR/change.out" "$@"
  sleep "$(printf '0.%03d' "$delay")"
  kill -KILL "$PID" 2>/dev/null ||
    fail "worker $w (pid $PID) ended by itself before the kill, $(( $(ms_now) - t0 )) ms into \`$*\`: $(grep -E "worker $w\b" "$T_DIR/vswitchd.log" | tail -3 | paste -sd'|')"
  T_KILL=$(( $(ms_now) - t0 ))
  wait "$BG_PID"
  RC=$(cat "$T_DIR/change.out.rc")
  TOOK=$(( $(ms_now) - t0 ))
}

sets=("1 2 3" "1 2 4")
write_set ${sets[0]}
start_daemon "$cfg"
wait_metric vswitch_worker_up '' -eq 2 15
forwards 1 2 3
udp_receiver_start
cur=0

# ---- a. a worker killed during a reload that adds one port and removes another ------------------
for round in 1 2 3; do
  next=$((1 - cur))
  old=$(names_of ${sets[$cur]}) new=$(names_of ${sets[$next]})
  write_set ${sets[$next]}
  w=$((RANDOM % 2))
  kill_worker_during "$w" "$(rand_ms 500)" ctl --json reload
  v=$(verdict "$old" "$new" "$RC" "reload round $round")
  log "a$round: worker $w (pid $PID) killed ${T_KILL} ms into a reload that returned $RC after ${TOOK} ms: $v config"
  SUMMARY+=("a$round reload, worker $w killed at ${T_KILL}/${TOOK} ms: $v")
  workers_settled
  [ "$v" = new ] && cur=$next
  forwards ${sets[$cur]}
  # The file says "next": a second reload gets there (or finds nothing to do) and forwards.
  j=$(ctl --json reload) || fail "the reload after the kill was refused: $j"
  check "a$round: ports after a second reload" "$(ports_now)" = "$new"
  cur=$next
  forwards ${sets[$cur]}
done
queues_forward

# ---- b. a worker killed during port del and port add --------------------------------------------
# The third port (vm3 or vm4) goes and comes back: never more ports than the pools were sized for.
read -r _ _ p <<<"${sets[$cur]}"
full=$(names_of ${sets[$cur]})
less=$(names_of 1 2)
addp() {
  ctl --json port add sw0 "$(vm_if "$p")" --driver rtap --netns "$(vm_ns "$p")" \
    --address "10.77.0.$p/24" --mac "$(vm_fixed_mac "$p")"
}
delp() { ctl --json port del "$(vm_if "$p")"; }
for round in 1 2; do
  for op in del add; do
    if [ "$op" = add ]; then old=$less new=$full; else old=$full new=$less; fi
    w=$((RANDOM % 2))
    kill_worker_during "$w" "$(rand_ms 400)" "${op}p"
    v=$(verdict "$old" "$new" "$RC" "port $op round $round")
    log "b$round: worker $w (pid $PID) killed ${T_KILL} ms into a port $op that returned $RC after ${TOOK} ms: $v config"
    SUMMARY+=("b$round port $op vm$p, worker $w killed at ${T_KILL}/${TOOK} ms: $v")
    workers_settled
    if [ "$v" = old ]; then  # refused: the same change again, without a kill, must succeed
      "${op}p" >/dev/null || fail "port $op after a refused one failed"
      check "b$round: ports after a second port $op" "$(ports_now)" = "$new"
    fi
    if [ "$op" = add ]; then forwards ${sets[$cur]}; else forwards 1 2; fi
  done
done
# port add/del are recorded in the runtime drop-in (docs/config.md, "Drop-in files"), while parts
# c and d change the ports by the file alone and expect exactly its ports: the record goes (part b
# ended with the port added back, as the file has it).
rm -f "$T_DIR/vswitch.d/zz-vswitchctl.toml"

# ---- c. the new or the old process killed during `worker restart N` -----------------------------
# Also no mbuf may be lost: an old process killed before it released its queues leaves its
# posted rx buffers behind, so vswitchd restarts the worker to refill the pool.
workers_settled
free0=("$(metric vswitch_worker_mbufs_free 'worker="0"')" "$(metric vswitch_worker_mbufs_free 'worker="1"')")
log "free mbufs per worker before the replacements: ${free0[*]}"
for round in 1 2 3 4; do
  victim=new
  [ $((round % 2)) = 0 ] && victim=old
  w=$((RANDOM % 2)) delay=$(rand_ms 250)
  old_pid=$(worker_pid "$w")
  t0=$(ms_now)
  in_background "$T_DIR/change.out" ctl --json worker restart "$w"
  # The kill lands within 250 ms of the new process's start: in its EAL attach (~200 ms on
  # this machine) or the hand-over, or just after.
  new_pid=""
  for _ in $(seq 400); do
    new_pid=$(pgrep -f -- "--file-prefix=${T_PREFIX}( |$).*--worker-id $w --replace $old_pid" || true)
    [ -n "$new_pid" ] && break
    sleep 0.005
  done
  [ -n "$new_pid" ] || fail "c$round: no replacement process of worker $w appeared"
  sleep "$(printf '0.%03d' "$delay")"
  target_pid=$new_pid
  [ "$victim" = old ] && target_pid=$old_pid
  target="$victim process $target_pid"
  kill -KILL "$target_pid" 2>/dev/null || target="$target (already gone)"
  t_kill=$(( $(ms_now) - t0 ))
  wait "$BG_PID"
  rc=$(cat "$T_DIR/change.out.rc")
  took=$(( $(ms_now) - t0 ))
  log "c$round: worker $w: $target killed ${t_kill} ms into a restart that returned $rc after ${took} ms: $(tr -d ' \n' <"$T_DIR/change.out" | head -c 160)"
  workers_settled
  now_pid=$(worker_pid "$w")
  free=$(metric vswitch_worker_mbufs_free "worker=\"$w\"")
  SUMMARY+=("c$round worker restart $w, $target killed at ${t_kill}/${took} ms: rc $rc, worker $w now pid $now_pid, $free mbufs free")
  forwards ${sets[$cur]}
  queues_forward
  for x in 0 1; do wait_metric vswitch_worker_mbufs_free "worker=\"$x\"" -ge $((free0[x] - 64)) 5; done
done

# ---- d. vswitchd killed during a reload --------------------------------------------------------
for round in 1 2; do
  next=$((1 - cur))
  new=$(names_of ${sets[$next]})
  write_set ${sets[$next]}
  delay=$(rand_ms 500)
  workers=$(worker_pids)
  t0=$(ms_now)
  in_background "$T_DIR/change.out" ctl --json reload
  sleep "$(printf '0.%03d' "$delay")"
  kill -KILL "$T_DAEMON_PID"
  t_kill=$(ms_now)
  wait "$T_DAEMON_PID" 2>/dev/null || true
  T_DAEMON_PID=""
  for p in $workers; do
    while proc_alive "$p"; do
      [ $(( $(ms_now) - t_kill )) -lt $limit_ms ] || fail "d$round: worker $p alive $limit_ms ms after vswitchd died"
      sleep 0.01
    done
  done
  gone=$(( $(ms_now) - t_kill ))
  wait "$BG_PID"
  rc=$(cat "$T_DIR/change.out.rc")
  log "d$round: vswitchd killed $((t_kill - t0)) ms into a reload (vswitchctl exit $rc); workers gone after ${gone} ms"
  # A worker the reload was starting is not in $workers: wait for every process of the prefix.
  wait_gone $(( (limit_ms + 999) / 1000 )) "d$round: a process of the killed switch" \
    pgrep -f -- "--file-prefix=${T_PREFIX}( |$)"
  for n in 1 2 3 4; do  # the TAPs went with the processes' fds
    wait_gone 5 "d$round: TAP of vm$n" ip netns exec "$(vm_ns "$n")" ip link show "$(vm_if "$n")"
  done
  # Moved, not copied: start_daemon's shell may look for "ready" before its background job has
  # truncated the log, and would find the killed vswitchd's line.
  mv "$T_DIR/vswitchd.log" "$T_DIR/vswitchd-killed-$round.log"
  start_daemon "$cfg"
  check "d$round: ports of the new vswitchd" "$(ports_now)" = "$new"
  workers_settled
  udp_receiver_start  # vm2's TAP and address are new
  cur=$next
  SUMMARY+=("d$round vswitchd killed at $((t_kill - t0)) ms of a reload: workers gone in ${gone} ms, restarted on the file: new")
  forwards ${sets[$cur]}
done
queues_forward

log "summary (kill at ms / change took ms: config the system ended in):"
for s in "${SUMMARY[@]}"; do log "  $s"; done
log "ping runs that lost a frame on the first try (then passed): $FIRST_TRY_LOSS"
stop_daemon
pass "every kill left the old or the new config, forwarding on every port and queue"
