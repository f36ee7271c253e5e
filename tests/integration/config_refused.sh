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

rc=0
"$VSWITCH_BIN_DIR/vswitchd" --config "$T_DIR/missing.toml" >"$T_DIR/missing.log" 2>&1 || rc=$?
check "vswitchd exit code on a missing config" "$rc" -eq 2
grep -q "missing.toml" "$T_DIR/missing.log" || fail "missing file not named: $(cat "$T_DIR/missing.log")"
pass "bad configurations refused with file, line and reason"
