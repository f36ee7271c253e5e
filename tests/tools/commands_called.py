#!/usr/bin/env python3
"""Lists the external commands that the project's shell scripts call, with the Debian package
that provides each on this machine, and checks them against scripts/test-commands.list.

A fresh Debian 12 machine has only the Essential and `required` packages. A test that calls a
program from any other package passes only where someone installed it by hand, so every such
command must be in scripts/test-commands.list, which scripts/setup.sh installs and checks.

Usage: commands_called.py REPO            check; prints each unlisted command with its package
       commands_called.py REPO --list     print "command package file:line" for every command

Commands are found in command position (start of a line, after | ; && || ( { $( ` ! and after
the keywords then/do/else/exec/time/if/while/until, and after `ip netns exec NS`, `timeout N`,
`xargs` and `env`), in tests/ and scripts/ (*.sh, and the files scripts/ runs), comments
removed. A word that no file on this machine's PATH provides cannot be judged here; it is reported
only if it is listed (the list must name installed commands).
"""
import os
import re
import shutil
import subprocess
import sys

PREFIX_WORDS = {"then", "do", "else", "exec", "time", "if", "while", "until", "!", "command",
                "nohup", "sudo", "xargs", "env", "elif", "{", "("}
SHELL_WORDS = {"local", "declare", "export", "return", "shift", "set", "trap", "source",
               "read", "printf", "echo", "wait", "cd", "eval", "test", "true", "false",
               "break", "continue", "exit", "readonly", "unset", "mapfile", "type", "fi",
               "done", "esac", "in", "case", "for", "function", "select", "let", "shopt",
               "builtin", "pushd", "popd", "getopts", "hash", "ulimit", "umask", "kill",
               "disown", "jobs", "caller", "compgen", "complete", "typeset", "alias", "bind"}


def scripts(repo):
    for top in ("tests", "scripts"):
        for root, _, files in os.walk(os.path.join(repo, top)):
            if "/corpus" in root or "/data" in root:
                continue
            for f in files:
                if f == "guest_init.sh":
                    continue  # runs inside a guest, on busybox's applets
                path = os.path.join(root, f)
                if f.endswith(".sh") or (top == "scripts" and "." not in f):
                    yield path


def without_heredocs(text):
    """The text without the bodies of here-documents (python programs, configs)."""
    out, end = [], None
    for line in text.split("\n"):
        if end is not None:
            if line.strip() == end:
                end = None
            out.append("")  # keep the line numbers
            continue
        out.append(line)
        m = re.search(r"<<-?\s*['\"]?([A-Za-z_]+)['\"]?", line)
        if m and "<<<" not in line:
            end = m.group(1)
    return "\n".join(out)


def shell_lines(text):
    """The file's lines without comments and without the text of single-quoted strings (awk,
    sed and PromQL programs, which span lines too); double-quoted text stays, for its $(...)."""
    text = re.sub(r"\$\(\([^()]*(\([^()]*\)[^()]*)*\)\)", "0", without_heredocs(text))
    lines, out, quote, comment = [], [], None, False
    prev = "\n"
    for c in text:
        if c == "\n":
            comment = False
            if quote != "'":
                lines.append("".join(out))
                out = []
            prev = c
            continue
        if comment:
            continue
        if quote == "'":
            if c == "'":
                quote = None
                out.append(c)
        elif quote == '"':
            if c == '"' and prev != "\\":
                quote = None
            # Inside double quotes only $( starts a command.
            out.append(" " if c in "(;|&{`" and prev != "$" else c)
        elif c == "#" and prev in " \t;\n(":
            comment = True
        else:
            if c in "'\"" and prev != "\\":
                quote = c
            out.append(c)
        prev = c
    lines.append("".join(out))
    return lines


SPLIT = re.compile(r"\|\||&&|[|;&`]|\$\(|\(|\{\s|\bthen\b|\bdo\b|\belse\b")
WORD = re.compile(r"[A-Za-z0-9_.+/-]+")


def command_words(line):
    """The words in command position of one line."""
    words = []
    for seg in SPLIT.split(line):
        toks = seg.split()
        i = 0
        while i < len(toks):
            t = toks[i]
            if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", t):  # VAR=value prefix
                i += 1
                continue
            if t in PREFIX_WORDS:
                i += 1
                continue
            if t == "timeout":
                i += 1
                while i < len(toks) and toks[i].startswith("-"):
                    i += 1
                i += 1  # the duration
                continue
            if t == "ip" and toks[i + 1:i + 3] == ["netns", "exec"]:
                words.append("ip")
                i += 4  # ip netns exec NS
                continue
            m = WORD.fullmatch(t)
            if m and not t.startswith("-") and "$" not in t:
                words.append(os.path.basename(t) if t.startswith("/") else t)
            break
    return words


def packages_of(cmds):
    """{command: package} for the commands found on the PATH ("?" where dpkg knows no owner),
    with one dpkg -S for all of them (each dpkg call takes a second on a loaded machine)."""
    paths = {}
    for cmd in cmds:
        path = shutil.which(cmd)
        if not path:
            continue
        cands = {path, os.path.realpath(path)}
        for p in list(cands):
            for a, b in (("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/"), ("/bin/", "/usr/bin/"),
                         ("/sbin/", "/usr/sbin/")):
                if p.startswith(a):
                    cands.add(b + p[len(a):])
        paths[cmd] = cands
    owner = {}
    every = sorted({p for c in paths.values() for p in c})
    r = subprocess.run(["dpkg", "-S"] + every, capture_output=True, text=True)
    for line in r.stdout.splitlines():
        pkgs, _, path = line.partition(": ")
        owner[path.strip()] = pkgs.split(",")[0].split(":")[0].strip()
    result = {}
    for cmd, cands in paths.items():
        result[cmd] = next((owner[p] for p in sorted(cands) if p in owner), "?")
    return result


def every_debian_has(pkgs):
    """The packages among PKGS that every Debian has (Essential, or priority required)."""
    pkgs = sorted(p for p in pkgs if p != "?")
    r = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Essential} ${Priority}\\n"] + pkgs,
                       capture_output=True, text=True)
    base = set()
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 2 and ("yes" in f[1:2] or f[-1] == "required"):
            base.add(f[0])
    return base


def read_list(repo):
    listed = {}
    with open(os.path.join(repo, "scripts", "test-commands.list")) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if line:
                cmd, pkg = line.split()
                listed[cmd] = pkg
    return listed


def main():
    repo = sys.argv[1]
    list_all = "--list" in sys.argv[2:]
    functions, seen = set(), {}
    texts = {}
    for path in scripts(repo):
        with open(path, errors="replace") as f:
            texts[path] = shell_lines(f.read())
        for line in texts[path]:
            m = re.match(r"\s*(?:function\s+)?([A-Za-z_][A-Za-z0-9_-]*)\s*\(\)", line)
            if m:
                functions.add(m.group(1))
    for path, lines in texts.items():
        for n, line in enumerate(lines, 1):
            for w in command_words(line):
                if w in SHELL_WORDS or w in functions:
                    continue
                seen.setdefault(w, f"{os.path.relpath(path, repo)}:{n}")
    listed = read_list(repo)
    owners = packages_of(seen)
    base = every_debian_has(set(owners.values()))
    bad = 0
    for cmd, where in sorted(seen.items()):
        pkg = owners.get(cmd)
        if pkg is None:
            continue  # not a program on this machine (a word, or made by the build)
        if list_all:
            print(cmd, pkg, where)
            continue
        if pkg == "?" or pkg in base:
            continue
        if cmd not in listed:
            print(f"{where}: calls '{cmd}' from package {pkg}, which scripts/test-commands.list "
                  f"does not list (so scripts/setup.sh does not install it). Fix: add the line "
                  f"'{cmd} {pkg}' to scripts/test-commands.list")
            bad += 1
        elif listed[cmd] != pkg:
            # The list names what to install when the program is missing; another package
            # may provide it (gcc-12 for cc, a nodejs build that bundles npm).
            print(f"note: '{cmd}' comes from package {pkg} here; set-up installs "
                  f"{listed[cmd]} where it is missing")
    if not list_all:
        print(f"{len(seen)} commands called by tests/ and scripts/; {bad} not installed by set-up")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
