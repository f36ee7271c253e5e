#!/usr/bin/env bash
# Configure and build one flavour of the project with CMake + Ninja.
#
# Usage: scripts/build.sh [default|asan|release]   (default: "default")
#   default  RelWithDebInfo, in build/default
#   asan     AddressSanitizer + UndefinedBehaviorSanitizer, in build/asan
#   release  Release, in build/release
#   fuzz     the libFuzzer targets only, built with clang, in build/fuzz
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
  fuzz) args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DVSWITCH_FUZZ=ON -DCMAKE_C_COMPILER=clang
              -DCMAKE_CXX_COMPILER=clang++) ;;
  *) die "unknown build flavour '$flavour' (default, asan, release or fuzz)" ;;
esac
dir=$REPO/build/$flavour
cmake -S "$REPO" -B "$dir" -G Ninja "${args[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)" >&2
echo "$dir"
