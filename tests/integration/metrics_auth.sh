#!/usr/bin/env bash
# HTTP basic auth on the metrics endpoint ([daemon] metrics_basic_auth_users, bcrypt hashes as in
# Prometheus's web config): curl without, with wrong and with right credentials, and a real
# Prometheus scraping with `basic_auth` keeps up == 1. The 401s are counted.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/prometheus_lib.sh"
ensure_prometheus

# A bcrypt hash made by the system's libcrypt (what htpasswd -B or mkpasswd -m bcrypt make).
hash=$(python3 -c '
import ctypes, random, string
lib = ctypes.CDLL("libcrypt.so.1"); lib.crypt.restype = ctypes.c_char_p
salt = "".join(random.choice("./" + string.ascii_letters + string.digits) for _ in range(21)) + "e"
print(lib.crypt(b"s3cret pass", ("$2b$10$" + salt).encode()).decode())')
[ "${#hash}" -eq 60 ] || fail "cannot make a bcrypt hash: $hash"
write_config "$T_DIR/vswitch.toml" 2 1 "metrics_basic_auth_users = { prom = \"$hash\" }"
start_daemon "$T_DIR/vswitch.toml"
url="http://127.0.0.1:${T_METRICS_PORT}/metrics"

code() { curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' --max-time 5 "$@" "$url"; }
check "no credentials" "$(code)" -eq 401
grep -qi '^WWW-Authenticate: Basic realm="vswitchd"' "$T_DIR/headers" || fail "no Basic challenge: $(cat "$T_DIR/headers")"
check "wrong password" "$(code -u 'prom:wrong')" -eq 401
check "unknown user" "$(code -u 'other:s3cret pass')" -eq 401
t0=${EPOCHREALTIME//[.,]/}
check "right credentials" "$(code -u 'prom:s3cret pass')" -eq 200
log "first authenticated scrape: $(( (${EPOCHREALTIME//[.,]/} - t0) / 1000 )) ms (bcrypt cost 10)"
grep -q '^vswitch_build_info' "$T_DIR/body" || fail "the authenticated scrape has no metrics"
check "unauthorized scrapes counted" "$(sed -n 's/^vswitch_metrics_requests_unauthorized_total //p' "$T_DIR/body")" -eq 3

PROM_SCRAPE_EXTRA="    basic_auth: {username: prom, password: 's3cret pass'}"
start_prometheus  # fails unless up == 1
sleep 3
check "prometheus scrapes with basic_auth (lowest up over 3 s)" "$(prom_value 'min_over_time(up{job="vswitch"}[3s])')" -eq 1
check "prometheus sees the switch" "$(prom_value 'count(vswitch_port_queues{job="vswitch"})')" -eq 2
stop_daemon
pass "basic auth: 401 without or with wrong credentials (counted), 200 with them; prometheus kept up == 1"
