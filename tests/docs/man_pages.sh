#!/usr/bin/env bash
# The generated man pages (docs/CMakeLists.txt) are good roff: groff reports no warning at all
# (-ww), man renders each at 80 columns without a message, NAME and SYNOPSIS are there and
# whatis's parser (lexgrog) reads the NAME line, and no include of docs/man/man.lua was left.
# Environment: VSWITCH_MAN_DIR, the directory of the generated pages.
set -euo pipefail
source "$(dirname "$0")/../lib/err_trap.sh"
fail() { echo "FAIL: $*"; exit 1; }
[[ -n ${VSWITCH_MAN_DIR:-} ]] || fail "VSWITCH_MAN_DIR is not set (run under ctest)"

declare -A title=([vswitchd.8]="VSWITCHD(8)" [vswitchctl.8]="VSWITCHCTL(8)"
                  [vswitch.toml.5]="VSWITCH.TOML(5)")
for page in vswitchd.8 vswitchctl.8 vswitch.toml.5; do
  f=$VSWITCH_MAN_DIR/$page
  [[ -s $f ]] || fail "$f is missing or empty (build the 'man' target)"

  # -k: preconv, as man runs it (the pages hold UTF-8); -t: tbl; -z: no output, only messages.
  warnings=$(groff -man -ww -z -t -k "$f" 2>&1) || fail "groff failed on $page: $warnings"
  [[ -z $warnings ]] || fail "groff warns about $page: $warnings"

  err=$(mktemp)
  text=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$f" 2>"$err") || fail "man -l $page failed: $(<"$err")"
  [[ ! -s $err ]] || fail "man -l $page printed: $(<"$err")"
  rm -f -- "$err"
  text=${text//?$'\b'/}  # no overstrike, should a setting of man keep it
  [[ $(head -n 1 <<<"$text") == "${title[$page]}"* ]] ||
    fail "$page's first line is not its title ${title[$page]}: $(head -n 1 <<<"$text")"
  for section in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
    grep -qx "$section" <<<"$text" || fail "$page has no $section section"
  done
  if grep -nE '^:::|\{\.include|\]\(' <<<"$text"; then
    fail "$page holds an include that was not expanded, or a Markdown link (above)"
  fi
  # whatis/apropos read the NAME line: "vswitchd - ...".
  name=${page%.*}
  whatis_line=$(lexgrog "$f") || fail "lexgrog cannot parse the NAME section of $page"
  [[ $whatis_line == *": \"$name - "* ]] || fail "lexgrog reads $page's NAME as: $whatis_line"
  echo "ok: $page ($(wc -l <<<"$text") lines at 80 columns): $whatis_line"
done
echo "PASS: the man pages render without a warning"
