#!/usr/bin/env bash
# The shipped Prometheus files are valid without a server: dashboards/prometheus.yml passes
# `promtool check config`, dashboards/alerts.yml passes `promtool check rules` and its unit tests
# (dashboards/alerts_test.yml: each alert fires when it should, with its labels and text), and
# every PromQL expression of the Grafana dashboards, wrapped into a recording rule after the
# Grafana variables are replaced, passes `promtool check rules`. A broken expression must fail.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/prometheus_lib.sh"

ensure_prometheus
promtool check config "$DASH_DIR/prometheus.yml" >"$T_DIR/config.log" 2>&1 ||
  fail "promtool check config dashboards/prometheus.yml: $(cat "$T_DIR/config.log")"
pass "dashboards/prometheus.yml is a valid configuration"

promtool check rules "$DASH_DIR/alerts.yml" >"$T_DIR/rules.log" 2>&1 ||
  fail "promtool check rules dashboards/alerts.yml: $(cat "$T_DIR/rules.log")"
pass "dashboards/alerts.yml: $(grep -o '[0-9]* rules found' "$T_DIR/rules.log" | head -1)"

(cd "$DASH_DIR" && promtool test rules alerts_test.yml) >"$T_DIR/rules-test.log" 2>&1 ||
  fail "promtool test rules dashboards/alerts_test.yml: $(cat "$T_DIR/rules-test.log")"
pass "dashboards/alerts_test.yml: alert unit tests pass"

dashboard_exprs "$T_DIR/exprs.tsv"
n=$(wc -l <"$T_DIR/exprs.tsv")
check "PromQL expressions in the dashboards" "$n" -ge 30
dashboard_rules "$T_DIR/exprs.tsv" "$T_DIR/dashboard-rules.yml"
promtool check rules "$T_DIR/dashboard-rules.yml" >"$T_DIR/dash-rules.log" 2>&1 ||
  fail "dashboard PromQL does not parse: $(cat "$T_DIR/dash-rules.log")"
check "dashboard expressions accepted by promtool check rules" \
  "$(grep -o '[0-9]* rules found' "$T_DIR/dash-rules.log" | head -1 | cut -d' ' -f1)" -eq "$n"

# The check is not vacuous: one bad expression among them is reported with its position.
{ cat "$T_DIR/dashboard-rules.yml"; echo '      - record: broken'; echo '        expr: "sum by (port (rate(x[1m]))"'; } \
  >"$T_DIR/broken-rules.yml"
if promtool check rules "$T_DIR/broken-rules.yml" >"$T_DIR/broken.log" 2>&1; then
  fail "promtool accepted a broken expression"
fi
grep -q "parse error" "$T_DIR/broken.log" || fail "no parse error for the broken expression: $(cat "$T_DIR/broken.log")"
pass "a broken expression is refused: $(grep -o 'parse error.*' "$T_DIR/broken.log" | head -1)"
