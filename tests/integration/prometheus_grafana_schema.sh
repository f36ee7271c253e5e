#!/usr/bin/env bash
# Every Grafana dashboard in dashboards/grafana/ type-checks against Grafana's own dashboard type
# (npm @grafana/schema, `satisfies Dashboard` under tsc --strict), and the check is not vacuous:
# copies of a dashboard broken in three typical ways (bad enum value, missing required field,
# wrong field type) must each fail it. typescript and @grafana/schema are installed once, pinned,
# into /var/cache/vswitch/grafana-schema (needs npm and the npm registry the first time).
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/prometheus_lib.sh"

CACHE=/var/cache/vswitch/grafana-schema
TS_VERSION=5.9.3
SCHEMA_VERSION=13.2.3

installed() {  # installed PACKAGE VERSION
  [ "$(node -p "require('$CACHE/node_modules/$1/package.json').version" 2>/dev/null)" = "$2" ]
}
command -v node >/dev/null && command -v npm >/dev/null ||
  fail "node and npm are needed for the Grafana schema check (Debian: apt-get install npm)"
mkdir -p "$CACHE" /run/lock
(
  flock 9
  if ! installed typescript "$TS_VERSION" || ! installed @grafana/schema "$SCHEMA_VERSION"; then
    cd "$CACHE"
    [ -f package.json ] || echo '{"private": true}' >package.json
    npm install --no-audit --no-fund --save-exact --loglevel=error \
      "typescript@$TS_VERSION" "@grafana/schema@$SCHEMA_VERSION"
  fi
) 9>/run/lock/vswitch-grafana-schema.lock >"$T_DIR/npm.log" 2>&1 || fail "npm install failed: $(tail -5 "$T_DIR/npm.log")"
installed typescript "$TS_VERSION" && installed @grafana/schema "$SCHEMA_VERSION" ||
  fail "typescript $TS_VERSION / @grafana/schema $SCHEMA_VERSION not in $CACHE"
log "typescript $TS_VERSION, @grafana/schema $SCHEMA_VERSION from $CACHE"

work="$T_DIR/tscheck"
mkdir -p "$work"
ln -s "$CACHE/node_modules" "$work/node_modules"
echo '{"type": "module"}' >"$work/package.json"
# to_ts JSON TS: the dashboard as a TypeScript constant that must satisfy Grafana's Dashboard.
# JSON cannot name a TypeScript enum member (ThresholdsMode.Absolute), only its value
# ("absolute"): Json<T> accepts the values of string enums and is otherwise T itself.
to_ts() {
  printf '%s\n' \
    "import type { Dashboard } from '@grafana/schema';" \
    "type Json<T> = T extends string ? \`\${T}\` : T extends (infer U)[] ? Json<U>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T;" \
    "export const dashboard = $(cat "$1") satisfies Json<Dashboard>;" >"$2"
}
tsc() {
  (cd "$work" && node node_modules/typescript/bin/tsc --noEmit --strict --module nodenext \
    --moduleResolution nodenext --skipLibCheck "$@")
}

dashboards=("$DASH_DIR"/grafana/*.json)
check "dashboards" "${#dashboards[@]}" -ge 3
for f in "${dashboards[@]}"; do
  python3 -m json.tool "$f" >/dev/null || fail "$f is not valid JSON"
  to_ts "$f" "$work/$(basename "$f" .json).ts"
done
(cd "$work" && ls ./*.ts) >"$T_DIR/good.list"
tsc $(cat "$T_DIR/good.list") >"$T_DIR/tsc-good.log" 2>&1 ||
  fail "dashboards do not type-check against @grafana/schema: $(head -20 "$T_DIR/tsc-good.log")"
pass "${#dashboards[@]} dashboards satisfy @grafana/schema's Dashboard (tsc --strict)"

# Negative cases: each broken copy of the overview dashboard must fail on its own.
python3 - "$DASH_DIR/grafana/vswitch-overview.json" "$work" <<'PYEOF'
import copy, json, sys
good = json.load(open(sys.argv[1]))
cases = {
    "bad-enum": lambda d: d.update(graphTooltip=7),                 # 0, 1 or 2
    "bad-missing": lambda d: d.pop("schemaVersion"),                # required
    "bad-type": lambda d: d["panels"][1]["gridPos"].update(w="4"),  # a number
}
for name, breakit in cases.items():
    d = copy.deepcopy(good)
    breakit(d)
    json.dump(d, open(f"{sys.argv[2]}/{name}.json", "w"))
PYEOF
for bad in bad-enum bad-missing bad-type; do
  to_ts "$work/$bad.json" "$work/$bad.ts"
  if tsc "$bad.ts" >"$T_DIR/tsc-$bad.log" 2>&1; then
    fail "the broken dashboard $bad passed the type check"
  fi
  log "ok: $bad refused: $(grep -o 'error TS[0-9]*:.*' "$T_DIR/tsc-$bad.log" | head -1 | cut -c1-110)"
done
pass "broken dashboards fail the check"
