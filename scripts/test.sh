#!/usr/bin/env bash
# Set up, build and run the whole test suite: the normal build, then the ASan+UBSan build, each
# with ctest (unit, integration and fault tests; "slow" ones excluded), then the libFuzzer targets
# (clang) for a bounded time each. Exits non-zero if any test fails in any build.
#
# Usage: sudo scripts/test.sh [--no-asan] [ctest args...]   (--no-asan also skips the fuzzers)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

flavours=(default asan fuzz)
if [ "${1:-}" = "--no-asan" ]; then
  flavours=(default)
  shift
fi

"$REPO/scripts/setup.sh" --quiet
rc=0
for flavour in "${flavours[@]}"; do
  "$REPO/scripts/build.sh" "$flavour" >/dev/null
  dir=$REPO/build/$flavour
  echo "=== ctest: $flavour build ($dir) ==="
  # halt_on_error: a sanitizer finding fails the test; detect_leaks stays on.
  ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
    ctest --test-dir "$dir" --output-on-failure -LE slow "$@" || rc=1
done
exit "$rc"
