# Helpers of the prometheus_* integration tests (sourced after tests/lib/harness.sh): a real
# Prometheus server scraping the test's vswitchd every second, queries of its HTTP API, and the
# PromQL found in dashboards/. Not a test by itself.

VSWITCH_SOURCE_DIR=${VSWITCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
DASH_DIR="$VSWITCH_SOURCE_DIR/dashboards"
PROM_PID=""
PROM_PORT=""
PROM_DATA=""

# Installs Debian's prometheus (server + promtool) if missing; idempotent, one apt at a time.
ensure_prometheus() {
  command -v prometheus >/dev/null && command -v promtool >/dev/null && return 0
  log "installing Debian's prometheus (apt-get --no-install-recommends)"
  mkdir -p /run/lock
  (
    flock 9
    command -v prometheus >/dev/null && exit 0
    compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
      --no-install-recommends prometheus >"$T_DIR/apt.log" 2>&1
  ) 9>/run/lock/vswitch-setup.lock || fail "cannot install prometheus: $(tail -5 "$T_DIR/apt.log")"
  command -v promtool >/dev/null || fail "prometheus installed but promtool is missing"
}

free_tcp_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The test's cleanup: Prometheus first (its data dir goes with it), then the harness's.
prom_stop() {
  if [ -n "$PROM_PID" ]; then
    kill -TERM "$PROM_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$PROM_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PROM_PID" 2>/dev/null
    wait "$PROM_PID" 2>/dev/null
    PROM_PID=""
  fi
  [ -n "$PROM_DATA" ] && rm -rf "$PROM_DATA"
  return 0
}
trap 'rc=$?; set +e; trap - ERR; prom_stop; (exit $rc); cleanup' EXIT

# start_prometheus RULE_FILE...: a Prometheus on 127.0.0.1:<free port> scraping this test's
# vswitchd (job "vswitch") every second and evaluating the given rule files every second.
start_prometheus() {
  local cfg="$T_DIR/prometheus.yml" f
  PROM_PORT=$(free_tcp_port)
  PROM_DATA="$T_DIR/prometheus-data"
  {
    echo "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}"
    echo "rule_files:"
    for f in "$@"; do echo "  - $f"; done
    echo "scrape_configs:"
    echo "  - job_name: vswitch"
    echo "    static_configs: [{targets: ['127.0.0.1:${T_METRICS_PORT}']}]"
    # PROM_SCRAPE_EXTRA: more lines of the job (e.g. basic_auth), indented by 4 spaces.
    [ -z "${PROM_SCRAPE_EXTRA:-}" ] || echo "$PROM_SCRAPE_EXTRA"
  } >"$cfg"
  promtool check config "$cfg" >"$T_DIR/promtool-config.log" 2>&1 ||
    fail "promtool check config: $(cat "$T_DIR/promtool-config.log")"
  prometheus --config.file="$cfg" --storage.tsdb.path="$PROM_DATA" \
    --web.listen-address="127.0.0.1:${PROM_PORT}" --storage.tsdb.retention.time=1h \
    >"$T_DIR/prometheus.log" 2>&1 &
  PROM_PID=$!
  for _ in $(seq 100); do
    curl -sf --max-time 1 "http://127.0.0.1:${PROM_PORT}/-/ready" >/dev/null 2>&1 && break
    kill -0 "$PROM_PID" 2>/dev/null || fail "prometheus exited: $(tail -5 "$T_DIR/prometheus.log")"
    sleep 0.1
  done
  log "prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') on 127.0.0.1:${PROM_PORT}"
  # The target is up once the first scrape succeeded.
  for _ in $(seq 100); do
    [ "$(prom_value 'up{job="vswitch"}')" = 1 ] && return 0
    sleep 0.1
  done
  fail "prometheus never scraped vswitchd: $(curl -s "http://127.0.0.1:${PROM_PORT}/api/v1/targets")"
}

# prom_api PATH [curl args...]: GET/POST to the HTTP API, prints the JSON.
prom_api() {
  local path=$1
  shift
  curl -sS --max-time 10 "http://127.0.0.1:${PROM_PORT}${path}" "$@"
}

# prom_query EXPR [TIME]: the raw JSON of an instant query (status error included).
prom_query() {
  local args=(--data-urlencode "query=$1")
  [ -n "${2:-}" ] && args+=(--data-urlencode "time=$2")
  prom_api /api/v1/query "${args[@]}"
}

# prom_value EXPR [TIME]: the value of a query that returns one sample ("" if none).
prom_value() {
  prom_query "$@" 2>/dev/null | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
res = r.get("data", {}).get("result", [])
if r.get("status") == "success" and len(res) == 1:
    v = res[0]["value"][1]
    print(int(float(v)) if float(v).is_integer() else v)
' || true
}

# dashboard_exprs OUTFILE: every PromQL expression of dashboards/grafana/*.json (panel targets,
# rows included, and the label_values() of template variables turned into count by), with the
# Grafana variables replaced, one per line as "dashboard<TAB>panel<TAB>expr".
dashboard_exprs() {
  python3 - "$DASH_DIR/grafana" >"$1" <<'EOF'
import glob, json, os, re, sys
SUBST = [("$__rate_interval", "20s"), ("$__range", "1m"), ("$__interval", "5s")]
def substitute(expr):
    for k, v in SUBST:
        expr = expr.replace(k, v)
    return re.sub(r"\$\{?\w+\}?", ".*", expr)  # $instance, ${port}: every value
def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    d = json.load(open(path))
    name = os.path.basename(path)
    for p in panels(d.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                print(f"{name}\t{p['title']} ({t['refId']})\t{substitute(t['expr'])}")
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q or "", re.S)
        if v.get("type") == "query" and m:
            print(f"{name}\tvariable {v['name']}\tcount by ({m.group(2)}) ({substitute(m.group(1))})")
        elif v.get("type") == "query":
            sys.exit(f"{name}: variable {v['name']}: query {q!r} is not label_values(metric, label)")
EOF
}

# dashboard_rules EXPRS RULEFILE: the dashboards' expressions as recording rules, for promtool.
dashboard_rules() {
  python3 - "$1" >"$2" <<'EOF'
import json, sys
print("groups:\n  - name: dashboards\n    rules:")
for i, line in enumerate(open(sys.argv[1])):
    dash, panel, expr = line.rstrip("\n").split("\t")
    print(f"      # {dash}: {panel}")
    print(f"      - record: dashboard_expr_{i}")
    print(f"        expr: {json.dumps(expr)}")
EOF
}
