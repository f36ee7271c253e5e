#!/usr/bin/env bash
# Runs test suites repeatedly with both cores kept busy by stress-ng, and prints each test's
# failure count: how the timing assertions of the fault, integration and vm tests hold on a
# loaded 2-core machine (issue #19). Not part of CI (it takes an hour per round in the ASan build).
#
# Usage: sudo tests/under_load.sh [ROUNDS] [FLAVOUR] [ctest args...]
#   defaults: 1 round, the asan build, -L 'integration|fault|vm' -LE slow
# The builds must exist (scripts/test.sh or scripts/build.sh FLAVOUR).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-1}
flavour=${2:-asan}
shift 2 || shift $#
args=("$@")
((${#args[@]})) || args=(-L 'integration|fault|vm' -LE slow)
dir=$REPO/build/$flavour
[[ -f $dir/CTestTestfile.cmake ]] || { echo "no $flavour build in $dir (scripts/build.sh $flavour)"; exit 1; }
command -v stress-ng >/dev/null || { echo "stress-ng is missing. Fix: scripts/setup.sh"; exit 1; }

out=$(mktemp -d /tmp/vswitch-under-load.XXXX)
stress-ng --cpu "$(nproc)" --cpu-load 100 --timeout 0 --quiet &
stress=$!
trap 'kill "$stress" 2>/dev/null; wait "$stress" 2>/dev/null || true' EXIT
declare -A failed=()
total=0
for ((r = 1; r <= rounds; r++)); do
  ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
    ctest --test-dir "$dir" --output-on-failure "${args[@]}" >"$out/round-$r.log" 2>&1 || true
  n=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#' "$out/round-$r.log" || true)
  total=$((total + n))
  while read -r t; do failed[$t]=$(( ${failed[$t]:-0} + 1 )); done < <(
    sed -n 's/^ *[0-9]* - \([^ ]*\) (.*/\1/p' "$out/round-$r.log")
  echo "round $r: $n tests, $(sed -n 's/.*tests passed, \([0-9]*\) tests failed.*/\1/p' "$out/round-$r.log") failed (log $out/round-$r.log)"
done
fails=0
for t in "${!failed[@]}"; do echo "  $t failed ${failed[$t]} of $rounds"; fails=$((fails + failed[$t])); done
echo "under load: $fails failures in $total test runs ($rounds rounds, $flavour build); logs in $out"
