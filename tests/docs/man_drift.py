#!/usr/bin/env python3
"""The man pages and the bash completion say what the binaries do (ctest unit.man_drift).

Compares, both ways, and fails naming every missing item:
- the commands of `vswitchctl --help` with the COMMANDS of vswitchctl(8) and the words the
  completion (ctl/vswitchctl.bash) offers for the command and its subcommands;
- the options of each command in `vswitchctl --help` with those the man page gives that command
  and those the completion offers after it;
- the global options of `vswitchctl --help` with vswitchctl(8)'s SYNOPSIS and OPTIONS, and
- the options of `vswitchd --help` with vswitchd(8)'s SYNOPSIS and OPTIONS.

Environment (set by docs/CMakeLists.txt): VSWITCH_BIN_DIR (vswitchctl, vswitchd),
VSWITCH_MAN_DIR (the generated pages), VSWITCH_SOURCE_DIR.
"""
import os
import re
import subprocess
import sys

BIN = os.environ["VSWITCH_BIN_DIR"]
MAN = os.environ["VSWITCH_MAN_DIR"]
SRC = os.environ["VSWITCH_SOURCE_DIR"]
COMPLETION = os.path.join(SRC, "ctl", "vswitchctl.bash")
OPT = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
# Both programs take --help (and -h) without listing it in their own help text.
UNLISTED = {"--help"}

failures = []


def fail(msg):
    failures.append(msg)


def help_text(prog):
    r = subprocess.run([os.path.join(BIN, prog), "--help"], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0:
        sys.exit(f"FAIL: {prog} --help exited {r.returncode}: {r.stderr}")
    return r.stdout


def ctl_help():
    """(commands {"show fdb": {options}}, global options) from `vswitchctl --help`."""
    commands, global_opts, section, current = {}, set(), None, None
    for line in help_text("vswitchctl").splitlines():
        if re.match(r"^[a-z ]+:$", line):
            section = line[:-1]
            continue
        if section == "commands":
            m = re.match(r"^  ([a-z]+(?: [a-z]+)?)(?= |$)", line)
            if m:
                current = m.group(1)
                commands[current] = set()
            if current:
                commands[current] |= set(OPT.findall(line))
        elif section == "options":
            global_opts |= set(OPT.findall(line))
    if not commands or not global_opts:
        sys.exit("FAIL: cannot find the commands: and options: sections in vswitchctl --help")
    return commands, global_opts


def roff_text(s):
    s = re.sub(r"\\f(\[[^]]*\]|.)", "", s)
    return s.replace("\\-", "-").replace("\\:", "").replace("\\[aq]", "'")


def man_page(name):
    """{section: [(depth, term, body lines)]} and {section: text} of a generated page."""
    path = os.path.join(MAN, name)
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        sys.exit(f"FAIL: cannot read the generated man page {path} ({e}); build the 'man' target")
    terms, text, section, depth, i = {}, {}, None, 0, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(".SH "):
            section = roff_text(line[4:]).strip('"')
            terms.setdefault(section, [])
            text.setdefault(section, "")
        elif line == ".RS" or line.startswith(".RS "):
            depth += 1
        elif line == ".RE" or line.startswith(".RE "):
            depth -= 1
        elif line == ".TP" and i + 1 < len(lines):
            i += 1
            terms[section].append((depth, roff_text(lines[i])))
            text[section] += roff_text(lines[i]) + "\n"
        elif section and not line.startswith("."):
            text[section] += roff_text(line) + "\n"
        i += 1
    return terms, text


def man_commands(terms):
    """{"port add": {options}} from vswitchctl(8)'s COMMANDS: a top-level term names a command
    (its first two words if the second is lower case), and its options are those in its term and
    in the nested terms that follow it."""
    commands, current = {}, None
    for depth, term in terms.get("COMMANDS", []):
        if depth == 0:
            m = re.match(r"([a-z]+(?: [a-z]+)?)(?= |$)", term)
            if not m:
                fail(f"vswitchctl(8): COMMANDS has a term that names no command: {term!r}")
                current = None
                continue
            current = m.group(1)
            commands[current] = set()
        if current:
            commands[current] |= set(OPT.findall(term))
    return commands


def complete(*words):
    """What the completion offers for `vswitchctl WORDS...` (the last word is the one completed).
    The daemon is never asked here: its vswitchctl is a path that does not exist."""
    script = (f'source "{COMPLETION}"\n'
              'COMP_WORDS=(vswitchctl "$@"); COMP_CWORD=$#\n'
              '_vswitchctl /nonexistent/vswitchctl\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    r = subprocess.run(["bash", "-c", script, "bash", *words], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0 or r.stderr:
        fail(f"completion of {' '.join(words)!r} failed: rc {r.returncode}, stderr {r.stderr!r}")
    return {w for w in r.stdout.split("\n") if w}


def compare(what, have, want, where, source):
    for item in sorted(want - have):
        fail(f"{where} lacks {what} '{item}' (in {source})")
    for item in sorted(have - want):
        fail(f"{where} has {what} '{item}', which {source} does not have")


def main():
    cmds, ctl_globals = ctl_help()
    terms, text = man_page("vswitchctl.8")
    man_cmds = man_commands(terms)

    # Commands and their options: vswitchctl(8).
    compare("command", set(man_cmds), set(cmds), "vswitchctl(8) COMMANDS", "vswitchctl --help")
    for c in sorted(set(cmds) & set(man_cmds)):
        compare("option", man_cmds[c], cmds[c], f"vswitchctl(8)'s '{c}'",
                f"the '{c}' line of vswitchctl --help")
    man_globals = set(OPT.findall(text.get("SYNOPSIS", "") + text.get("OPTIONS", "")))
    compare("global option", man_globals, ctl_globals | UNLISTED,
            "vswitchctl(8) SYNOPSIS/OPTIONS", "vswitchctl --help (options:, and --help)")

    # The completion: commands, subcommands, and the options after each command.
    first = {c.split()[0] for c in cmds}
    compare("command", complete(""), first, "the completion of 'vswitchctl '",
            "vswitchctl --help")
    for f in sorted(first):
        subs = {c.split()[1] for c in cmds if c.startswith(f + " ")}
        if subs:
            compare("subcommand", complete(f, ""), subs,
                    f"the completion of 'vswitchctl {f} '", "vswitchctl --help")
    compare("global option", complete("-"), ctl_globals | UNLISTED,
            "the completion of 'vswitchctl -'", "vswitchctl --help (options:, and --help)")
    # Where a command takes options, after its positional words (port add: SWITCH NAME).
    positional = {"port add": ["sw0", "vm9"]}
    for c in sorted(cmds):
        if not cmds[c]:
            continue
        words = c.split() + positional.get(c, []) + ["-"]
        compare("option", complete(*words), cmds[c] | ctl_globals,
                f"the completion of 'vswitchctl {' '.join(words)}'",
                f"the '{c}' line and options: of vswitchctl --help")

    # vswitchd(8).
    d_opts = set(OPT.findall(help_text("vswitchd")))
    _, d_text = man_page("vswitchd.8")
    d_man = set(OPT.findall(d_text.get("SYNOPSIS", "") + d_text.get("OPTIONS", "")))
    compare("option", d_man, d_opts | UNLISTED, "vswitchd(8) SYNOPSIS/OPTIONS",
            "vswitchd --help (and --help)")

    if failures:
        for f in failures:
            print("FAIL:", f)
        sys.exit(1)
    print(f"PASS: {len(cmds)} commands of vswitchctl, {sum(map(len, cmds.values()))} command "
          f"options, {len(ctl_globals)} global options and {len(d_opts)} options of vswitchd "
          "agree with the man pages and the completion")


main()
