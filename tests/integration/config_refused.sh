#!/usr/bin/env bash
# A bad configuration is refused as a whole, with the file, the line and the reason, and nothing
# is started: no EAL, no TAP, no namespace.
source "$(dirname "$0")/../lib/harness.sh"

write_config "$T_DIR/good.toml" 2
sed 's/^workers = 1/workers = 0/; s/driver = "tap"/driver = "tapp"/' "$T_DIR/good.toml" >"$T_DIR/bad.toml"
bad_line=$(grep -n '^workers = 0' "$T_DIR/bad.toml" | cut -d: -f1)

rc=0
"$VSWITCH_BIN_DIR/vswitchctl" config check "$T_DIR/good.toml" >"$T_DIR/check_good.log" 2>&1 || rc=$?
check "vswitchctl config check on a valid file" "$rc" -eq 0
grep -q "valid (1 switch, 2 ports, 1 worker)" "$T_DIR/check_good.log" || fail "$(cat "$T_DIR/check_good.log")"

rc=0
"$VSWITCH_BIN_DIR/vswitchctl" config check "$T_DIR/bad.toml" >"$T_DIR/check_bad.log" 2>&1 || rc=$?
check "vswitchctl config check on a bad file" "$rc" -eq 2
grep -q "bad.toml: 3 errors" "$T_DIR/check_bad.log" || fail "expected 3 errors: $(cat "$T_DIR/check_bad.log")"
grep -q "bad.toml" "$T_DIR/check_bad.log" || fail "error does not name the file"
grep -qE "^ *${bad_line} \| workers = 0" "$T_DIR/check_bad.log" || fail "error does not show line $bad_line"

rc=0
"$VSWITCH_BIN_DIR/vswitchd" --config "$T_DIR/bad.toml" >"$T_DIR/vswitchd.log" 2>&1 || rc=$?
check "vswitchd exit code on a bad config" "$rc" -eq 2
grep -q "configuration refused, nothing was started" "$T_DIR/vswitchd.log" || fail "$(cat "$T_DIR/vswitchd.log")"
check "things left by the refused start" "$(settled_leftovers | grep -c . || true)" -eq 0

# More ports than a daemon holds (256, all switches together): refused before anything starts,
# not after 256 TAPs were made. The DPDK build (scripts/setup.sh) allows more ports per process
# than that (RTE_MAX_ETHPORTS), so the validator's limit is the one a user meets.
max_ports=$(sed -n 's/^#define RTE_MAX_ETHPORTS \([0-9]*\).*/\1/p' \
  "$VSWITCH_SOURCE_DIR/build/dpdk/include/rte_build_config.h" 2>/dev/null | head -1 || true)
[ -n "$max_ports" ] || fail "RTE_MAX_ETHPORTS not found in build/dpdk/include/rte_build_config.h"
check "ports per process in our DPDK build" "$max_ports" -ge 257
write_config "$T_DIR/many.toml" 257
rc=0
"$VSWITCH_BIN_DIR/vswitchd" --config "$T_DIR/many.toml" >"$T_DIR/many.log" 2>&1 || rc=$?
check "vswitchd exit code with 257 ports" "$rc" -eq 2
grep -q "too many ports: at most 256 in total" "$T_DIR/many.log" ||
  fail "the port limit is not named: $(cat "$T_DIR/many.log")"
grep -q "configuration refused, nothing was started" "$T_DIR/many.log" || fail "$(cat "$T_DIR/many.log")"
check "things left by the refused start (too many ports)" "$(settled_leftovers | grep -c . || true)" -eq 0

# More hugepage memory than is free: refused before the EAL starts, with the free memory as it
# really is (read after a failed EAL start it said 0).
free_mb=$(awk '{ s += $1 } END { print s }' /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
free_mb=$((free_mb * 2))
T_MBUFS=$(( (free_mb + 512) * 1024 / 2 ))  # about 2 KB each: more than all of it for one worker
write_config "$T_DIR/big.toml" 2
rc=0
"$VSWITCH_BIN_DIR/vswitchd" --config "$T_DIR/big.toml" >"$T_DIR/big.log" 2>&1 || rc=$?
check "vswitchd exit code with pools larger than the free hugepages" "$rc" -eq 1
line=$(grep -m1 "this configuration needs [0-9]* MB of hugepages" "$T_DIR/big.log") ||
  fail "the hugepage shortage is not named: $(cat "$T_DIR/big.log")"
said_free=$(sed -n 's/.*), \([0-9]*\) MB are free.*/\1/p' <<<"$line")
log "refused: ${line#vswitchd: }"
check "free hugepage memory named (MB; /sys says $free_mb)" "$said_free" -eq "$free_mb"
grep -q "EAL" "$T_DIR/big.log" && fail "the EAL was started: $(cat "$T_DIR/big.log")"
check "things left by the refused start (hugepages)" "$(settled_leftovers | grep -c . || true)" -eq 0
T_MBUFS=

rc=0
"$VSWITCH_BIN_DIR/vswitchd" --config "$T_DIR/missing.toml" >"$T_DIR/missing.log" 2>&1 || rc=$?
check "vswitchd exit code on a missing config" "$rc" -eq 2
grep -q "missing.toml" "$T_DIR/missing.log" || fail "missing file not named: $(cat "$T_DIR/missing.log")"
pass "bad configurations refused with file, line and reason; too many ports ($((max_ports + 1)) > $max_ports) and too little hugepage memory ($free_mb MB free) refused before start"
