# shellcheck shell=bash
# Small helpers shared by the scripts in scripts/. Source it; it defines functions only.
#   VSWITCH_QUIET=1 silences info (warnings and errors always go to stderr).

info() { [[ ${VSWITCH_QUIET:-0} == 1 ]] || printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }
