# bash completion for vswitchctl(8). Installed as
# <datadir>/bash-completion/completions/vswitchctl, which bash-completion loads when vswitchctl is
# first completed; or load it by hand: source ctl/vswitchctl.bash
#
# Completes the commands and subcommands, the options (global ones, show fdb's, fdb flush's and
# port add's, capture's), --driver's and --direction's values, namespaces for --netns, files for config check and --socket,
# and the names of the running daemon's switches and ports and its worker numbers, asked with
# `vswitchctl --json show ...` (through the socket given on the line, if any). When no daemon
# answers within 2 s, those complete to nothing, silently. It works under set -e and pipefail.
# The word lists are those of `vswitchctl help`: tests/docs/man_drift.py compares them.

# The daemon's switches, ports or workers: _vswitchctl_names CMD... -- WHAT KEY
# prints the KEY of each row of `CMD --json show WHAT` (its rows' keys are indented 6 spaces).
_vswitchctl_names() {
  local -a cmd=()
  while [[ $1 != -- ]]; do cmd+=("$1"); shift; done
  local what=$2 key=$3
  timeout 2 "${cmd[@]}" --json show "$what" 2>/dev/null </dev/null |
    sed -n "s/^      \"$key\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p"
  return 0
}

# These two run inside _vswitchctl and see its locals `ask` and `cur`.
_vswitchctl_ask() { _vswitchctl_names "${ask[@]}" -- "$@"; }
_vswitchctl_files() {
  compopt -o filenames 2>/dev/null || true # only inside a real completion
  mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}

_vswitchctl() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=""
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  COMPREPLY=()

  # The words before the cursor without the global options (vswitchctl takes those anywhere);
  # `ask` is the vswitchctl to ask the daemon with, with the --socket of the line.
  local -a args=() ask=("${1:-vswitchctl}")
  local i w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    case $w in
      --socket)
        ((i + 1 < COMP_CWORD)) && ask+=(--socket "${COMP_WORDS[i + 1]}")
        ((i++))
        ;;
      --json | --help | -h) ;;
      *) args+=("$w") ;;
    esac
  done

  local words="" globals="--socket --json"

  if [[ $prev == --socket ]]; then
    _vswitchctl_files
    return 0
  fi

  local n=${#args[@]}
  if ((n == 0)); then
    if [[ $cur == -* ]]; then
      words="$globals --help"
    else
      words="show port mirror fdb capture reload worker config version help"
    fi
  else
    case ${args[0]} in
      show)
        if ((n == 1)); then
          words="switches ports queues workers fdb mirrors"
        elif [[ ${args[1]} == fdb ]]; then
          case $prev in
            --switch) words=$(_vswitchctl_ask switches name) ;;
            --vlan | --mac) ;;
            *) words="--switch --vlan --mac $globals" ;;
          esac
        elif [[ $cur == -* ]]; then
          words=$globals
        fi
        ;;
      port)
        if ((n == 1)); then
          words="add del reset"
        elif [[ ${args[1]} == add ]]; then
          if ((n == 2)); then
            words=$(_vswitchctl_ask switches name)
          elif ((n > 3)) || [[ $cur == -* ]]; then
            case $prev in
              --driver) words="rtap tap" ;;
              --netns) words=$(ls /run/netns 2>/dev/null || true) ;;
              --queues | --mtu | --mac | --address | --vm-macvtap | --vm-tap | --vlan | --trunk | \
                --native-vlan | --allowed-mac | --allowed-ip) ;;
              *)
                # Each option once (but the lists), and never two that exclude each other.
                local o used=" ${args[*]:4} "
                for o in --driver --queues --mtu --mac --netns --address --persist --vm-macvtap \
                  --vm-tap --vlan --trunk --native-vlan --allowed-mac --allowed-ip \
                  --block-dhcp-server --block-ra --isolated; do
                  case $o in --address | --allowed-mac | --allowed-ip) ;; *)
                    [[ $used == *" $o "* ]] && continue ;;
                  esac
                  case $o in
                    --vm-macvtap | --vm-tap) [[ $used == *" --vm-"* ]] && continue ;;
                    --vlan) [[ $used == *" --trunk "* || $used == *" --native-vlan "* ]] && continue ;;
                    --trunk | --native-vlan) [[ $used == *" --vlan "* ]] && continue ;;
                  esac
                  words+=" $o"
                done
                words+=" $globals"
                ;;
            esac
          fi
        elif [[ ${args[1]} == del || ${args[1]} == reset ]] && ((n == 2)); then
          words=$(_vswitchctl_ask ports name)
        fi
        ;;
      mirror)
        if ((n == 1)); then
          words="add del"
        elif [[ ${args[1]} == del ]] && ((n == 2)); then
          words=$(_vswitchctl_ask mirrors name)
        elif [[ ${args[1]} == add ]] && { ((n > 2)) || [[ $cur == -* ]]; }; then
          case $prev in
            --switch) words=$(_vswitchctl_ask switches name) ;;
            --output | --source-ports) words=$(_vswitchctl_ask ports name) ;;
            --direction) words="in out both" ;;
            --source-vlans) ;;
            *)
              local o used=" ${args[*]:3} "
              for o in --switch --source-ports --source-vlans --direction --output; do
                [[ $used == *" $o "* ]] || words+=" $o"
              done
              words+=" $globals"
              ;;
          esac
        fi
        ;;
      fdb)
        if ((n == 1)); then
          words="flush"
        elif [[ ${args[1]} == flush ]]; then
          case $prev in
            --switch) words=$(_vswitchctl_ask switches name) ;;
            --port) words=$(_vswitchctl_ask ports name) ;;
            --vlan) ;;
            *) words="--switch --port --vlan $globals" ;;
          esac
        fi
        ;;
      capture)
        # Ports first, then the options; the filter (a pcap expression) is free text.
        case $prev in
          --direction) words="in out both" ;;
          -w | --write)
            _vswitchctl_files
            return 0
            ;;
          --count | --duration | --snaplen) ;;
          *)
            if [[ $cur == -* ]]; then
              words="--direction --count --duration --snaplen --write $globals"
            elif [[ " ${args[*]:1} " != *" -"* ]]; then
              words=$(_vswitchctl_ask ports name)
            fi
            ;;
        esac
        ;;
      worker)
        if ((n == 1)); then
          words="restart"
        elif [[ ${args[1]} == restart ]] && ((n == 2)); then
          words=$(_vswitchctl_ask workers id)
        fi
        ;;
      config)
        if ((n == 1)); then
          words="check"
        elif [[ ${args[1]} == check ]] && ((n == 2)); then
          _vswitchctl_files
          return 0
        fi
        ;;
      *)
        # reload, version, help: nothing follows but global options.
        [[ $cur == -* ]] && words=$globals
        ;;
    esac
  fi
  mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
  return 0
}

complete -F _vswitchctl vswitchctl
