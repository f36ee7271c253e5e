#!/usr/bin/env bash
# SIGKILL of one of two workers, KILLS times (default 20) under traffic (issue #10: "other workers
# lose nothing; its queues resume within 200 ms"). Four VMs and two witness pings at 200/s at once:
#   A, vm1 -> vm2, polled by the victim. Its outage is the longest gap between two of its replies
#     that ends after the kill (the dead worker's queues are lent to the other worker at once);
#     the median over the kills must be <= 200 ms (400 ms in the sanitizer build). All outages and
#     the max are printed.
#   B, vm3 -> vm4, polled only by the other worker both ways (the rx queue of vm3's port with the
#     requests, of vm4's port with the replies). It runs from before the kill until the killed
#     worker's new process has its queues back, and must lose nothing: sent == received, counting
#     the requests sent until the stop and their replies (witness_stop).
# Each round also checks that the worker came back (a first crash) with its queues. At the end:
# vswitchd's fds, this test's hugepage files and the workers' free mbufs against before the kills.
#
# Which worker polls a flow: a multi-queue TAP puts a frame on the queue its flow table names (the
# one a frame of that flow was last written to: the tx queue of the worker that forwarded the
# other way), else on one picked by hash. So a flow stays with one worker both ways, and a kill
# moves the victim's flows to the survivor for good. The hash of a ping covers its addresses but
# not its ICMP id (kernel 6.18: a restarted ping lands on the same queue every time), so the test
# moves a witness by restarting it on another address pair: each VM has PAIRS more subnets
# 10.77.k.n/24 on its wire. The roles are read from `vswitchctl --json show queues` deltas; the
# test learns where each pair lands and moves B to the last victim, so that the kills alternate
# between the workers. A round whose roles do not fit after MAX_TRIES tries says so and skips its
# B check; B must be checked in at least 3/4 of the rounds (each try lands B on the wanted worker
# with odds of at least 1 in 3 even before anything is learned; in 212 rounds of 11 runs every
# round fitted, 16 of them at the second try, none later).
#
# A worker is killed only after its process ran 10 s: one that dies sooner counts towards a crash
# loop (doubled back-off, given up after crash_loop_limit), and each kill here is to be a first
# crash, restarted after restart_backoff_ms. With the kills alternating this costs little waiting.
source "$(dirname "$0")/../lib/harness.sh"

kills=${KILLS:-20}
pairs=${PAIRS:-12}
max_tries=${MAX_TRIES:-5}
healthy_ms=10300  # the supervisor's healthy_after (10 s) and a margin

write_config "$T_DIR/vswitch.toml" 4 2
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up '' -eq 2 15
for n in 1 2 3 4; do ping_ok "$n" $((n % 4 + 1)) 2 || fail "vm$n cannot ping vm$((n % 4 + 1))"; done
for n in 1 2 3 4; do
  for k in $(seq "$pairs"); do echo "addr add 10.77.$k.$n/24 dev $(vm_if "$n")"; done |
    ip -n "$(vm_ns "$n")" -batch - || fail "cannot add vm$n's extra addresses"
done

now_s() { echo "${EPOCHREALTIME/,/.}"; }
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
hugepage_files() { local f n=0; for f in /dev/hugepages/"${T_PREFIX}"map_*; do [ -e "$f" ] && n=$((n + 1)); done; echo "$n"; }
proc_age_ms() {  # how long process PID has run
  awk -v hz="$(getconf CLK_TCK)" 'NR == FNR { up = $1; next }
    { sub(/.*\) /, ""); printf "%d\n", (up - $20 / hz) * 1000 }' /proc/uptime "/proc/$1/stat"
}
last_reply_age_ms() {  # since witness NAME's last reply
  awk -v now="$(now_s)" '/bytes from/ { t = substr($1, 2, length($1) - 2) }
    END { printf "%d\n", t ? (now - t) * 1000 : 999999 }' "$(witness_log "$1")"
}
wait_replies() {  # NAME WHAT: until witness NAME's replies come (at most 6 s)
  local deadline=$(( $(now_ms) + 6000 ))
  until [ "$(last_reply_age_ms "$1")" -le 100 ]; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "$2: witness $1 has had no reply for $(last_reply_age_ms "$1") ms"
    sleep 0.05
  done
}
# w_gaps NAME T_KILL (after w_stop): "GAP GAP_AT GAP_BEFORE": the longest time between two of
# witness NAME's replies that ends after the kill and when it began (ms after the kill), and the
# longest one before the kill (the loaded machine's own, for comparison).
w_gaps() {
  awk -v tk="$2" '/bytes from/ { t = substr($1, 2, length($1) - 2) + 0
      if (last) { g = (t - last) * 1000
        if (t > tk) { if (g > gap) { gap = g; at = (last - tk) * 1000 } } else if (g > pre) pre = g }
      last = t }
    END { printf "%.0f %.0f %.0f\n", gap, at, pre }' "$(witness_log "$1")"
}

# The witnesses: A from vm1 to vm2, B from vm3 to vm4, on address pair k (0: 10.77.0.n).
declare -A from=([A]=1 [B]=3) to=([A]=2 [B]=4) cur=([A]=0 [B]=0) lands=() stopped=() fresh_k=()
w_start() {  # X K
  local dst=${to[$1]}
  [ "$2" -eq 0 ] || dst="10.77.$2.${to[$1]}"
  cur[$1]=$2
  witness_start "${from[$1]}" "$dst" 0.005 "$1"
}
w_stop() {  # X: stops witness X; its "SENT RECEIVED MAX_GAP_MS" go to $T_DIR/stats-X
  stopped[$1:${cur[$1]}]=$(now_ms)
  witness_stop "$1" >"$T_DIR/stats-$1"
}
w_restart() {  # X WANT: witness X on a pair that should land on worker WANT
  local k
  w_stop "$1"
  k=$(pick_pair "$1" "$2")
  fresh_k[$1]=0
  if fresh "$1" "$k"; then fresh_k[$1]=1; fi
  w_start "$1" "$k"
}
fresh() { [ $(( $(now_ms) - ${stopped[$1:$2]:-0} )) -ge 6000 ]; }  # the TAP forgot the flow (3 s)
pick_pair() {  # X WANT: a pair of witness X not used for 6 s that lands on worker WANT, else one
  local k        # not tried yet, else the current one
  for k in $(seq 0 "$pairs"); do
    fresh "$1" "$k" && [ "${lands[$1:$k]:-}" = "$2" ] && { echo "$k"; return; }
  done
  for k in $(seq 0 "$pairs"); do
    fresh "$1" "$k" && [ -z "${lands[$1:$k]:-}" ] && { echo "$k"; return; }
  done
  echo "${cur[$1]}"
}

settle() {  # witnesses stopped, the killed worker back: what is in flight comes home
  sleep 2
  wait_metric vswitch_worker_up '' -eq 2 10
}
qmap0=$(qmap)
log "rx queue -> worker map (4 ports x 3 queues): $qmap0"
settle
fds0=$(ls "/proc/$T_DAEMON_PID/fd" | wc -l)
hp0=$(hugepage_files)
mb0=$(metric vswitch_worker_mbufs_free)
heap0=$(metric vswitch_dpdk_heap_allocated_bytes)
restarts0=$(metric vswitch_worker_restarts_total)
log "before the kills: vswitchd ${fds0} fds, ${hp0} hugepage files, ${mb0} free mbufs, ${heap0} heap bytes allocated"

outages=() b_rounds=0 b_sent=0 b_got=0 a_sent=0 a_got=0 victim=-1 t_start=$(now_ms) waited=0
declare -A killed=()
for round in $(seq "$kills"); do
  # Wanted: A on the worker that survived the last kill (A is already there), B on the other.
  want=$(( victim < 0 ? -1 : 1 - victim ))
  fit=0
  for try in $(seq "$max_tries"); do
    if [ "$try" -eq 1 ]; then
      # A and B were on the survivor when stopped; a pair stopped under 2.5 s ago is still there.
      for x in A B; do
        wx=$want
        if [ "$x" = B ] && [ "$want" -ge 0 ]; then wx=$((1 - want)); fi
        k=${cur[$x]}
        if [ "$want" -ge 0 ] && { [ "$wx" != "$(( 1 - victim ))" ] ||
          [ $(( $(now_ms) - ${stopped[$x:$k]:-0} )) -ge 2500 ]; }; then
          k=$(pick_pair "$x" "$wx")
        fi
        fresh_k[$x]=0
        if fresh "$x" "$k"; then fresh_k[$x]=1; fi
        w_start "$x" "$k"
      done
    fi
    sleep 0.2
    read -r wa fa wa2 fa2 wb fb wb2 fb2 < <(hot_queue_workers 0.4 "$(vm_if 1)" "$(vm_if 2)" \
      "$(vm_if 3)" "$(vm_if 4)" | paste -sd ' ')
    for x in A B; do
      w=$wa; [ "$x" = B ] && w=$wb
      if [ "${fresh_k[$x]}" = 1 ]; then lands[$x:${cur[$x]}]=$w; fi
    done
    role="A (pair ${cur[A]}) on worker $wa ($fa frames; replies $wa2, $fa2), B (pair ${cur[B]}) on $wb ($fb) and $wb2 ($fb2)"
    if [ "$fa" -ge 20 ] && [ "$fb" -ge 20 ] && [ "$fb2" -ge 20 ] && [ "$wb" = "$wb2" ] &&
      [ "$wa" != "$wb" ]; then
      fit=1
      break
    fi
    log "round $round try $try: roles do not fit: $role"
    [ "$try" -lt "$max_tries" ] || break
    [ "$want" -ge 0 ] || want=$wa
    if [ "$wa" != "$want" ] || [ "$fa" -lt 20 ]; then
      w_restart A "$want"
    else
      fresh_k[A]=0
    fi
    if [ "$wb" != "$((1 - want))" ] || [ "$wb2" != "$wb" ] || [ "$fb" -lt 20 ] || [ "$fb2" -lt 20 ]; then
      w_restart B "$((1 - want))"
    else
      fresh_k[B]=0
    fi
  done
  victim=$wa
  [ "$fit" -eq 1 ] || log "round $round: roles did not fit in $max_tries tries: B not checked this round"

  # Kill only a worker that ran 10 s (see the header).
  pid=$(worker_field "$victim" pid)
  if [ -n "${killed[$victim]:-}" ]; then
    age=$(proc_age_ms "$pid")
    if [ "$age" -lt "$healthy_ms" ]; then
      sleep "$(awk -v ms=$((healthy_ms - age)) 'BEGIN { printf "%.3f", ms / 1000 }')"
      waited=$((waited + healthy_ms - age))
    fi
  fi
  t_kill=$(now_s)
  kill -KILL "$pid"
  killed[$victim]=1
  # A's outage ends when its replies come again (a gap longer than this sleep is still going on).
  sleep 0.3
  wait_replies A "kill $round"
  sleep 0.1
  w_stop A
  # B goes on until the new process has its queues back: the hand-back must not cost it anything.
  newpid="" state="" crashes=""
  deadline=$(( $(now_ms) + 20000 ))
  until read -r newpid state crashes < <(worker_field "$victim" "pid state crashes_in_row") &&
    [ "$newpid" != "$pid" ] && [ "$state" = running ]; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "kill $round: worker $victim not running again 20 s after the kill (pid $newpid, $state)"
    sleep 0.05
  done
  t_running=$(now_s)
  deadline=$(( $(now_ms) + 10000 ))
  until [ "$(qmap)" = "$qmap0" ]; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "kill $round: worker $victim's queues not back 10 s after it ran again: $(qmap)"
    sleep 0.05
  done
  t_back=$(now_s)
  sleep 0.2
  w_stop B
  read -r sa ga _ <"$T_DIR/stats-A"
  read -r sb gb _ <"$T_DIR/stats-B"
  read -r gap gap_at pre < <(w_gaps A "$t_kill")
  read -r gap_b gap_b_at pre_b < <(w_gaps B "$t_kill")
  log "kill $round of worker $victim (pid $pid -> $newpid running after $(ms_between "$t_kill" "$t_running") ms, its queues back after $(ms_between "$t_kill" "$t_back") ms): $role"
  log "kill $round: A sent $sa, received $ga, outage $gap ms (from +$gap_at ms; longest gap before the kill $pre ms); B sent $sb, received $gb, longest gap after the kill $gap_b ms (from +$gap_b_at ms; before $pre_b ms)"
  outages+=("$gap")
  a_sent=$((a_sent + sa)) a_got=$((a_got + ga))
  if [ "$fit" -eq 1 ]; then
    check "kill $round: B's pings lost (polled by worker $((1 - victim)))" "$((sb - gb))" -eq 0
    check "kill $round: B's pings sent" "$sb" -ge 100
    b_rounds=$((b_rounds + 1)) b_sent=$((b_sent + sb)) b_got=$((b_got + gb))
  fi
  check "kill $round: crashes in a row of worker $victim (a first crash)" "$crashes" -eq 1
  log "ok: kill $round: queues back with their worker ($qmap0)"
done
t_kills=$(( $(now_ms) - t_start ))

sorted=$(printf '%s\n' "${outages[@]}" | sort -n)
median=$(echo "$sorted" | awk '{ a[NR] = $1 } END { printf "%.0f\n", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
max=$(echo "$sorted" | tail -n 1)
log "A's outage (longest gap between replies, ms) per kill: ${outages[*]}"
log "A's outage over $kills kills: median ${median} ms, max ${max} ms; A sent $a_sent, received $a_got"
log "B checked in $b_rounds of $kills rounds: sent $b_sent, received $b_got"
log "$kills kills in $((t_kills / 1000)) s, $((waited / 1000)) s of it waiting for the next victim to have run 10 s"
# 200 ms is the goal, checked in the normal build. ASan+UBSan slow the lending path down about
# twofold (CI: median 222 ms there, 90-117 ms in the normal build), so that build gets 400 ms.
limit_ms=200
[ "${VSWITCH_SANITIZED:-0}" = 1 ] && limit_ms=400
check "median outage after a worker kill (ms)" "$median" -le "$limit_ms"
check "rounds whose B was checked (bound: 3/4 of the kills)" "$b_rounds" -ge $(( (kills * 3 + 3) / 4 ))
check "B's pings lost over all checked rounds" "$((b_sent - b_got))" -eq 0
check "restarts counted" "$(( $(metric vswitch_worker_restarts_total) - restarts0 ))" -eq "$kills"

# Leaks: what the kills left in vswitchd, in the hugepages and in the mbuf pools.
settle
fds1=$(ls "/proc/$T_DAEMON_PID/fd" | wc -l)
hp1=$(hugepage_files)
# A frame on its way holds an mbuf for a moment: a loss is one that stays (3 samples, 0.5 s apart).
for _ in 1 2 3; do mb1=$(metric vswitch_worker_mbufs_free); [ "$mb1" -lt "$mb0" ] || break; sleep 0.5; done
heap1=$(metric vswitch_dpdk_heap_allocated_bytes)
log "after the kills: vswitchd ${fds1} fds, ${hp1} hugepage files, ${mb1} free mbufs, ${heap1} heap bytes allocated"
# Every worker lifetime used to leave 155904 bytes (EAL's service tables) in the shared DPDK heap,
# which then grew by a 2 MB page, a hugepage file and a vswitchd fd every ~13 kills. Workers free
# those tables right after attaching now (switch/worker.cpp): nothing may stay.
check "DPDK heap bytes still allocated after the kills (kills' leftovers)" "$((heap1 - heap0))" -eq 0
check "vswitchd fd growth" "$((fds1 - fds0))" -eq 0
check "hugepage file growth" "$((hp1 - hp0))" -eq 0
# The pools of a killed worker are refilled at its crash; the known leak (docs/control.md: a
# worker killed while it polls lent queues) needs a kill while the other worker is down, which
# this test never does: each round waits for the queues to be back.
check "free mbufs lost" "$((mb0 - mb1))" -le 0
stop_daemon
pass "$kills kills of a worker under traffic: median outage ${median} ms (max ${max} ms), the other worker's flow lost 0 of $b_sent in $b_rounds rounds, no heap byte, hugepage, fd or mbuf left behind"
