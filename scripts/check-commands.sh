#!/usr/bin/env bash
# Checks that every program the tests and scripts run is installed (scripts/test-commands.list).
#
# Usage: scripts/check-commands.sh [--packages] [LIST]
#   (default)   exits 1 naming each missing command and the package that provides it
#   --packages  prints the packages of the missing commands, one a line (for apt-get install)
# LIST defaults to scripts/test-commands.list. scripts/setup.sh runs both forms.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=check
if [[ ${1:-} == --packages ]]; then
  mode=packages
  shift
fi
list=${1:-$REPO/scripts/test-commands.list}
[[ -r $list ]] || { echo "error: cannot read the command list $list" >&2; exit 2; }

missing=()
declare -A packages=()
while read -r cmd pkg _; do
  [[ -z $cmd || $cmd == \#* ]] && continue
  [[ -n $pkg ]] || { echo "error: $list: '$cmd' names no package" >&2; exit 2; }
  command -v -- "$cmd" >/dev/null 2>&1 && continue
  missing+=("$cmd (package $pkg)")
  packages[$pkg]=1
done <"$list"

if [[ $mode == packages ]]; then
  ((${#packages[@]} == 0)) || printf '%s\n' "${!packages[@]}" | sort
  exit 0
fi
if ((${#missing[@]} > 0)); then
  {
    echo "error: ${#missing[@]} program(s) that the tests run are not installed:"
    printf '  %s\n' "${missing[@]}"
    echo "Fix: sudo scripts/setup.sh (or apt-get install --no-install-recommends $(printf '%s\n' "${!packages[@]}" | sort | paste -sd' '))"
  } >&2
  exit 1
fi
