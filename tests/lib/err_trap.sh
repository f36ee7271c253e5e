# shellcheck shell=bash
# An ERR trap for the test scripts (sourced by tests/lib/harness.sh and tests/vm/guest_lib.sh):
# a command that ends a `set -e` script is named, with its exit status, file, line and the
# function stack, so no test ends without saying why. Installed once; a script that has its own
# ERR trap keeps it.
#
# Only the script's own shell reports: a command failing inside $(...) or ( ... ) makes the
# outer command fail, and that one is reported with the line that called it.
_err_trap_report() {
  local rc=$1 line=$2 src=$3 cmd=$4 stack="" i
  ((BASH_SUBSHELL == 0)) || return 0
  # FUNCNAME[i] (i >= 1) is a function on the failing path; it was called at
  # BASH_SOURCE[i+1]:BASH_LINENO[i].
  for ((i = 1; i + 1 < ${#FUNCNAME[@]}; i++)); do
    stack+=", in ${FUNCNAME[i]} called at ${BASH_SOURCE[i + 1]##*/}:${BASH_LINENO[i]}"
  done
  printf '[%s] FAIL: command `%s` exited with status %s at %s:%s%s\n' "$(date +%T.%3N)" \
    "$cmd" "$rc" "${src##*/}" "$line" "$stack" >&2
}
if [[ -z $(trap -p ERR) ]]; then
  set -o errtrace
  trap '_err_trap_report "$?" "$LINENO" "${BASH_SOURCE[0]:-$0}" "$BASH_COMMAND"' ERR
fi
