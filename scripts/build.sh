#!/usr/bin/env bash
# Configure and build one flavour of the project with CMake + Ninja.
#
# Usage: scripts/build.sh [default|asan|release]   (default: "default")
#   default  RelWithDebInfo, in build/default
#   asan     AddressSanitizer + UndefinedBehaviorSanitizer, in build/asan
#   release  Release, in build/release
# Prints the build directory on its last line. Run scripts/setup.sh first (the README commands do).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/common.sh
source "$REPO/scripts/lib/common.sh"

flavour=${1:-default}
case $flavour in
  default) args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan) args=(-DCMAKE_BUILD_TYPE=Debug -DVSWITCH_SANITIZE=ON) ;;
  release) args=(-DCMAKE_BUILD_TYPE=Release -DVSWITCH_TESTS=OFF) ;;
  *) die "unknown build flavour '$flavour' (default, asan or release)" ;;
esac
dir=$REPO/build/$flavour
cmake -S "$REPO" -B "$dir" -G Ninja "${args[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)" >&2
echo "$dir"
