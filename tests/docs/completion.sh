#!/usr/bin/env bash
# vswitchctl's bash completion (ctl/vswitchctl.bash), called as bash calls it: COMP_WORDS and
# COMP_CWORD set, the function given the command's name, COMPREPLY checked.
# The names it asks the daemon for come from `vswitchctl --json show ...`: here a fake vswitchctl,
# first on the PATH, stands in for the daemon; it answers with rows indented as vswitchctl's
# JSON output is (nlohmann's dump(2)) and logs its arguments. The real vswitchctl is used too,
# on a socket where no daemon listens, to check that completion then offers nothing, silently.
# The word lists themselves are compared with `vswitchctl --help` by man_drift.py.
# Environment: VSWITCH_SOURCE_DIR, VSWITCH_BIN_DIR.
set -euo pipefail
source "$(dirname "$0")/../lib/err_trap.sh"
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d /tmp/vswitch-completion.XXXX)
trap 'rm -rf -- "$tmp"' EXIT

mkdir "$tmp/bin" "$tmp/files"
cat >"$tmp/bin/vswitchctl" <<'EOF'
#!/usr/bin/env bash
# A fake vswitchctl: the daemon's answers to --json show switches|ports|workers.
echo "$*" >>"$FAKE_LOG"
case ${FAKE_MODE:-} in
  down) echo "vswitchctl: cannot reach vswitchd on /run/vswitch/vswitchd.sock" >&2; exit 3 ;;
  hang) exec sleep 10 ;;  # one process, as vswitchctl is: the completion's timeout ends it
esac
case ${*: -1} in
  switches) printf '%s\n' '{' '  "ok": true,' '  "switches": [' '    {' '      "fdb_entries": 3,' \
    '      "name": "sw0",' '      "ports": 2' '    },' '    {' '      "name": "lab",' '      "ports": 0' \
    '    }' '  ]' '}' ;;
  ports) printf '%s\n' '{' '  "ok": true,' '  "ports": [' '    {' '      "driver": "rtap",' \
    '      "name": "vm1",' '      "switch": "sw0",' '      "vm": {' '        "name": "not-a-port",' \
    '        "netdev": "mvt-vm1"' '      }' '    },' '    {' '      "name": "vm2",' \
    '      "switch": "sw0"' '    }' '  ]' '}' ;;
  workers) printf '%s\n' '{' '  "ok": true,' '  "workers": [' '    {' '      "id": 0,' \
    '      "pid": 1234' '    },' '    {' '      "id": 1,' '      "pid": 1235' '    }' '  ]' '}' ;;
  mirrors) printf '%s\n' '{' '  "ok": true,' '  "mirrors": [' '    {' '      "name": "m1",' \
    '      "output": "vm2"' '    }' '  ]' '}' ;;
esac
EOF
chmod +x "$tmp/bin/vswitchctl"
touch "$tmp/files/vswitch.toml" "$tmp/files/other.toml"
export FAKE_LOG=$tmp/log PATH=$tmp/bin:$PATH LC_ALL=C
: >"$FAKE_LOG"
# shellcheck source=../../ctl/vswitchctl.bash
source "$VSWITCH_SOURCE_DIR/ctl/vswitchctl.bash"
[[ $(complete -p vswitchctl) == "complete -F _vswitchctl vswitchctl" ]] ||
  fail "the completion is not registered for vswitchctl: $(complete -p vswitchctl)"

# complete CMD WORD... : runs the completion for `CMD WORD...` (the last word is being completed)
# and sets `got` to COMPREPLY, sorted, on one line.
complete_line() {
  local cmd=$1
  shift
  COMP_WORDS=("$cmd" "$@")
  COMP_CWORD=$#
  COMPREPLY=()
  _vswitchctl "$cmd" "${@: -1}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>"$tmp/stderr"
  [[ ! -s $tmp/stderr ]] || fail "completing '$*' printed on stderr: $(<"$tmp/stderr")"
  got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | paste -sd ' ' -)
}
expect() {  # expect "WANT" WORD... : the completion of `vswitchctl WORD...` is WANT (sorted)
  local want=$1
  shift
  complete_line vswitchctl "$@"
  [[ $got == "$want" ]] || fail "completing 'vswitchctl $*': got '$got', want '$want'"
  echo "ok: vswitchctl $* -> ${want:-(nothing)}"
}

expect "capture config fdb help mirror port reload show version worker" ""
expect "port" "p"
expect "--help --json --socket" "-"
expect "fdb mirrors ports queues switches workers" "show" ""
expect "add del reset" "port" ""
expect "restart" "worker" ""
expect "add del" "mirror" ""
expect "m1" "mirror" "del" ""
expect "both in out" "mirror" "add" "m2" "--direction" ""
expect "vm1 vm2" "mirror" "add" "m2" "--output" ""
expect "--direction --json --socket --source-ports --source-vlans --switch" \
  "mirror" "add" "m2" "--output" "vm2" "-"
expect "flush" "fdb" ""
expect "check" "config" ""
expect "--count --direction --duration --json --snaplen --socket --write" "capture" "vm1" "-"
expect "both in out" "capture" "vm1" "--direction" ""
expect "" "reload" ""
# Global options anywhere, and skipped when counting words.
expect "add del reset" "--json" "port" ""
expect "fdb mirrors ports queues switches workers" "--socket" "/x.sock" "show" ""

# From the daemon (the fake): switches, ports, worker numbers; nested keys are not rows.
: >"$FAKE_LOG"
expect "lab sw0" "port" "add" ""
expect "sw0" "port" "add" "s"
expect "vm1 vm2" "port" "del" ""
expect "vm1 vm2" "port" "reset" "vm"
expect "0 1" "worker" "restart" ""
expect "lab sw0" "show" "fdb" "--switch" ""
expect "vm1 vm2" "fdb" "flush" "--vlan" "10" "--port" ""
grep -qx -- "--json show switches" "$FAKE_LOG" || fail "the daemon was not asked for switches: $(<"$FAKE_LOG")"
# The line's --socket is passed on.
: >"$FAKE_LOG"
expect "0 1" "--socket" "/run/other.sock" "worker" "restart" ""
grep -qx -- "--socket /run/other.sock --json show workers" "$FAKE_LOG" ||
  fail "the line's --socket was not passed to vswitchctl: $(<"$FAKE_LOG")"
# Positions that take no name: the new port's name, a worker after the first.
expect "" "port" "add" "sw0" ""
expect "" "worker" "restart" "0" ""

# port add's options: each once (but --address), exclusive ones left out, values of --driver.
all="--address --allowed-ip --allowed-mac --block-dhcp-server --block-ra --driver --isolated --json --mac --mtu --native-vlan --netns --persist --queues --socket --trunk --vlan --vm-macvtap --vm-tap"
expect "$all" "port" "add" "sw0" "vm9" ""
expect "--address --allowed-ip --allowed-mac --block-dhcp-server --block-ra --isolated --json --netns --persist --queues --socket --vm-macvtap --vm-tap" \
  "port" "add" "sw0" "vm9" "--vlan" "10" "--driver" "rtap" "--address" "10.0.0.9/24" "--mac" "02:00:00:00:00:09" "--mtu" "9000" "-"
expect "rtap tap" "port" "add" "sw0" "vm9" "--driver" ""
expect "" "port" "add" "sw0" "vm9" "--queues" ""
expect "--address --allowed-ip --allowed-mac --block-dhcp-server --block-ra --driver --isolated --json --mac --mtu --native-vlan --netns --persist --queues --socket --trunk --vlan" \
  "port" "add" "sw0" "vm9" "--vm-tap" "vnet9" "-"
expect "--address --allowed-ip --allowed-mac --block-dhcp-server --block-ra --driver --isolated --json --mac --mtu --native-vlan --netns --persist --queues --socket --vm-macvtap --vm-tap" \
  "port" "add" "sw0" "vm9" "--trunk" "10,20" ""
expect "--json --mac --socket --switch --vlan" "show" "fdb" "-"

# Files: config check FILE and --socket PATH.
expect "$tmp/files/other.toml $tmp/files/vswitch.toml" "config" "check" "$tmp/files/"
expect "$tmp/files/vswitch.toml" "--socket" "$tmp/files/v"
expect "" "config" "check" "$tmp/files/vswitch.toml" ""

# No daemon: nothing, silently, and at once.
export FAKE_MODE=down
expect "" "port" "del" ""
export FAKE_MODE=hang
start=$SECONDS
expect "" "worker" "restart" ""
((SECONDS - start <= 4)) || fail "a daemon that does not answer held the completion $((SECONDS - start)) s"
unset FAKE_MODE
# The real vswitchctl, on a socket where nothing listens.
[[ -x $VSWITCH_BIN_DIR/vswitchctl ]] || fail "$VSWITCH_BIN_DIR/vswitchctl is not built"
complete_line "$VSWITCH_BIN_DIR/vswitchctl" --socket "$tmp/none.sock" port del ""
[[ -z $got ]] || fail "with no daemon the real vswitchctl completed port names: '$got'"
echo "ok: the real vswitchctl with no daemon -> (nothing)"
echo "PASS: the completion offers what vswitchctl takes"
