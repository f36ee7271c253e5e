#!/usr/bin/env bash
# The programs the tests and scripts run are all installed by scripts/setup.sh, and a missing one
# is named: (1) every program of a non-Essential package that tests/ and scripts/ call is in
# scripts/test-commands.list; (2) with ethtool hidden from the PATH, scripts/check-commands.sh
# fails and names ethtool and its package; (3) so it does for a listed program that no package
# of this machine has.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/tests/lib/err_trap.sh"
tmp=$(mktemp -d /tmp/vswitch-commands.XXXX)
trap 'rm -rf -- "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

python3 "$REPO/tests/tools/commands_called.py" "$REPO" || fail "a called program is not listed (above)"

# (2) The PATH with every program but ethtool.
mkdir "$tmp/bin"
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  # One ln per directory; the first directory on the PATH wins, as in a lookup.
  [[ -d $d ]] && ln -s -t "$tmp/bin" -- "$d"/* 2>/dev/null || true
done
rm -f -- "$tmp/bin/ethtool"
if out=$(PATH=$tmp/bin "$REPO/scripts/check-commands.sh" 2>&1); then
  fail "check-commands.sh passed with ethtool hidden: $out"
fi
grep -q 'ethtool (package ethtool)' <<<"$out" || fail "the message does not name ethtool and its package: $out"
echo "ok: with ethtool hidden: $(head -n 2 <<<"$out" | tr '\n' ' ')"
[[ $(PATH=$tmp/bin "$REPO/scripts/check-commands.sh" --packages) == ethtool ]] ||
  fail "--packages does not name the package to install"

# (3) A listed program that nothing provides.
{ cat "$REPO/scripts/test-commands.list"; echo "vs-no-such-tool vs-no-such-package"; } >"$tmp/list"
if out=$("$REPO/scripts/check-commands.sh" "$tmp/list" 2>&1); then fail "a missing program passed"; fi
grep -q 'vs-no-such-tool (package vs-no-such-package)' <<<"$out" || fail "not named: $out"
echo "ok: a missing program is named with its package"
echo "PASS: every program the tests run is listed, and a missing one is named"
