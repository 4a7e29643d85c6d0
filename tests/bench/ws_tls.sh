#!/usr/bin/env bash
# Benchmark: rginx against nginx for WebSocket tunnels and TLS, side by side on the same
# nginx.conf (issue 4's speed goals).
#
# Usage: tests/bench/ws_tls.sh [RGINX_BINARY]
#
# Both proxies get the identical configuration file (each its own prefix directory for logs,
# pid and temp files) and the same command line as nginx:
#   taskset -c PROXY_CPU BIN -p PREFIX/ -c CONF -g 'daemon off; master_process off;'
# with worker_processes 1. The load side is tests/bench/load.rs (the `bench-load` example:
# WebSocket echo upstream, WebSocket and TLS clients) and wrk, all pinned to LOAD_CPU.
# Ports are picked by binding port 0.
#
# Scenarios (SCENARIOS, space separated, default all, in this order):
#   ws_echo   WS_CONNS WebSocket connections through the proxy (ws.conf, the noVNC location),
#             each sending a WS_SIZE-byte binary frame to the echo upstream and waiting for the
#             echo, again and again: the proxy's CPU time per message
#   ws_idle   IDLE_TUNNELS WebSocket tunnels opened through the proxy (upgrade and one echo
#             each), then held idle: (proxy RSS with them - RSS before) / IDLE_TUNNELS
#   tls_new   TLS handshakes (tls.conf: ECDSA P-256 certificate made for the run, TLS_VERSION),
#             a new connection for every `GET /` with `Connection: close`, no session resumption:
#             the proxy's CPU time per handshake
#   tls_ka    HTTPS keep-alive requests under wrk (`return 200`): the proxy's CPU time per request
#
# Each run starts the proxy afresh, checks it answers (a WebSocket upgrade with one echo, or an
# HTTPS GET), runs the load, and stops it. The CPU time is utime+stime of the proxy (its PID and
# any descendants, /proc/PID/stat), sampled by bench-load at the exact edges of its measured
# window (after WARMUP seconds of load on the same connections), or by helper.py around the
# measured wrk run for tls_ka; it is also printed split into user time (utime) and kernel time
# (stime), which shows how much of it a proxy can change at all. Runs alternate nginx, rginx, nginx, rginx, ... (ROUNDS each) per scenario;
# the report uses medians and prints every run. A run that fails (the proxy does not start,
# dies, refuses TLS, answers wrongly) ends its scenario with the reason; the other scenarios
# still run, and the script exits 1 at the end.
#
# Environment:
#   BASELINE      an older rginx binary (say, built from the commit before a change): it runs in
#                 every round between nginx and rginx, and the report adds its medians and the
#                 ratios new/old, old/nginx and new/nginx
#   RGINX         rginx binary (default $CARGO_TARGET_DIR/release/rginx, or target/release/rginx
#                 in the repository; the argument wins)
#   NGINX         nginx binary (default /usr/sbin/nginx)
#   LOAD          the bench-load binary (default: built here with
#                 `cargo build --release --example bench-load`)
#   ROUNDS        measured runs per proxy and scenario (default 3, at least 3)
#   DURATION      seconds measured per run (default 5)
#   WARMUP        seconds of unmeasured load per run before measuring (default 1)
#   WS_CONNS      WebSocket connections for ws_echo (default 50)
#   WS_SIZE       payload bytes per frame for ws_echo (default 32, at most 125)
#   IDLE_TUNNELS  tunnels for ws_idle (default 9000; the proxy needs 2 descriptors a tunnel,
#                 within the open-files hard limit)
#   IDLE_PARALLEL tunnels being opened at once (default 64)
#   IDLE_SETTLE   seconds between the last tunnel opening and the memory sample (default 1)
#   HS_CONNS      concurrent handshaking clients for tls_new (default 32)
#   TLS_VERSION   1.3 (default) or 1.2 for tls_new; wrk in tls_ka takes what OpenSSL offers (1.3)
#   CONNS         wrk connections for tls_ka (default 50)
#   THREADS       wrk threads (default 1: wrk shares LOAD_CPU)
#   PROXY_CPU     core for the proxy under test (default 1)
#   LOAD_CPU      core for the load generators and the upstream (default 0)
#   NICE          priority for the proxy, the load and the upstream (default -10 as root, else
#                 0); each runs in its own session, whose autogroup gets it too
#   SCENARIOS     subset of the scenarios above (default: all)
#   ORDER         ab (default: nginx then rginx in every round), ba, or abba
#   BENCH_JSON    summary file (default $CARGO_TARGET_DIR/bench-ws-tls.json, or
#                 target/bench-ws-tls.json in the repository)
#   KEEP=1        keep the work directory (configs, certificate, logs, raw output)
#   STRICT=1      exit 2 when a goal is missed (otherwise 0 when every run worked)
#
# Exit status: 0 when every run worked; 1 on any failure; 2 with STRICT=1 on a miss.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$repo/target}
RGINX=${1:-${RGINX:-$target_dir/release/rginx}}
NGINX=${NGINX:-/usr/sbin/nginx}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
WS_CONNS=${WS_CONNS:-50}
WS_SIZE=${WS_SIZE:-32}
IDLE_TUNNELS=${IDLE_TUNNELS:-9000}
IDLE_PARALLEL=${IDLE_PARALLEL:-64}
IDLE_SETTLE=${IDLE_SETTLE:-1}
HS_CONNS=${HS_CONNS:-32}
TLS_VERSION=${TLS_VERSION:-1.3}
CONNS=${CONNS:-50}
THREADS=${THREADS:-1}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
if [ "$(id -u)" = 0 ]; then NICE=${NICE:--10}; else NICE=${NICE:-0}; fi
SCENARIOS=${SCENARIOS:-ws_echo ws_idle tls_new tls_ka}
ORDER=${ORDER:-ab}
BENCH_JSON=${BENCH_JSON:-$target_dir/bench-ws-tls.json}
GFLAGS='daemon off; master_process off;'
BODY='hello, world'   # what the TLS server returns, plus "\n"

BENCH_NAME=ws_tls.sh
# shellcheck source=tests/bench/common.sh
. "$here/common.sh"
is_uint() { [ -n "$1" ] && [ "$1" -ge "${2:-0}" ] 2>/dev/null; }

is_uint "$ROUNDS" 3 || die "ROUNDS must be at least 3 (got $ROUNDS)"
is_uint "$DURATION" 1 || die "DURATION must be a whole number of seconds >= 1 (got $DURATION)"
is_uint "$WARMUP" || die "WARMUP must be a whole number of seconds (got $WARMUP)"
is_uint "$WS_CONNS" 1 && is_uint "$HS_CONNS" 1 && is_uint "$CONNS" 1 && is_uint "$THREADS" 1 \
    || die "WS_CONNS, HS_CONNS, CONNS and THREADS must be >= 1"
is_uint "$WS_SIZE" 1 && [ "$WS_SIZE" -le 125 ] || die "WS_SIZE must be 1..125 (got $WS_SIZE)"
is_uint "$IDLE_TUNNELS" 1 && is_uint "$IDLE_PARALLEL" 1 || die "IDLE_TUNNELS and IDLE_PARALLEL must be >= 1"
[ "$NICE" -ge -20 ] 2>/dev/null && [ "$NICE" -le 19 ] || die "NICE must be -20..19 (got $NICE)"
case $TLS_VERSION in 1.2|1.3) ;; *) die "TLS_VERSION must be 1.2 or 1.3 (got $TLS_VERSION)";; esac
case $ORDER in ab|ba|abba) ;; *) die "ORDER must be ab, ba or abba (got $ORDER)";; esac
for s in $SCENARIOS; do
    case $s in ws_echo|ws_idle|tls_new|tls_ka) ;; *) die "unknown scenario '$s' (ws_echo ws_idle tls_new tls_ka)";; esac
done
[ -x "$RGINX" ] || die "rginx binary not found or not executable: $RGINX (build with cargo build --release, or pass its path)"
[ -x "$NGINX" ] || die "nginx binary not found: $NGINX"
command -v taskset >/dev/null || die "taskset (util-linux) is missing"
command -v python3 >/dev/null || die "python3 is missing"
[ "$(nproc --all)" -gt "$PROXY_CPU" ] && [ "$(nproc --all)" -gt "$LOAD_CPU" ] \
    || die "cores $LOAD_CPU and $PROXY_CPU are needed (this machine has $(nproc --all))"

command -v wrk >/dev/null || apt_install wrk
command -v openssl >/dev/null || apt_install openssl

# Every process started here inherits this: 2 descriptors per idle tunnel in the proxy, one
# per tunnel in the client and in the upstream (separate processes).
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -Sn)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
# worker_connections: the tunnels' two connections each, those being opened, and room above
# that: once fewer than 1/16 of its connections are free, nginx closes connections that are
# still waiting for their request ("worker_connections are not enough, reusing connections").
in_use=$((2 * IDLE_TUNNELS + 2 * IDLE_PARALLEL + 64))
WORKER_CONNECTIONS=$((in_use * 16 / 15 + 128))
[ "$WORKER_CONNECTIONS" -lt 4096 ] && WORKER_CONNECTIONS=4096
[ "$WORKER_CONNECTIONS" -le "$NOFILE" ] \
    || die "IDLE_TUNNELS=$IDLE_TUNNELS needs worker_connections $WORKER_CONNECTIONS and as many open files in the proxy; the open-files limit is $NOFILE"

if [ -z "${LOAD:-}" ]; then
    echo "building bench-load (cargo build --release --example bench-load) ..." >&2
    (cd "$repo" && cargo build --release --example bench-load -q) || die "could not build bench-load"
    LOAD=$target_dir/release/examples/bench-load
fi
[ -x "$LOAD" ] || die "bench-load not found: $LOAD"

RGINX=$(cd "$(dirname "$RGINX")" && pwd)/$(basename "$RGINX")
if [ -n "${BASELINE:-}" ]; then
    [ -x "$BASELINE" ] || die "BASELINE binary not found or not executable: $BASELINE"
    BASELINE=$(cd "$(dirname "$BASELINE")" && pwd)/$(basename "$BASELINE")
fi
case $BENCH_JSON in /*) ;; *) BENCH_JSON=$PWD/$BENCH_JSON;; esac

bench_workdir ws-tls    # $work; $pids: every long-running process started here (upstream, proxies)

# on_load CMD...: CMD on the load core, in its own session at NICE
on_load() { on_cpu "$LOAD_CPU" 0 "$@"; }

# wrk prints this line at the end of every run (latencies in microseconds)
cat > "$work/report.lua" <<'LUA'
done = function(s, lat, req)
  local e = s.errors
  io.write(string.format("BENCH requests=%d duration_us=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d p99_us=%d\n",
    s.requests, s.duration, e.connect, e.read, e.write, e.status, e.timeout, lat:percentile(99)))
end
LUA

# ------------------------------------------------------------ the configs ---
read -r UP_PORT WS_PORT TLS_PORT < <(helper ports 3)
mkdir -p "$work/upstream" "$work/nginx/logs" "$work/rginx/logs" "$work/old/logs"

# ECDSA P-256 key and self-signed certificate for localhost, made for this run.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout "$work/key.pem" -out "$work/cert.pem" >"$work/openssl.log" 2>&1 \
    || { cat "$work/openssl.log" >&2; die "openssl could not make the certificate"; }

temp_paths='client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;'

cat > "$work/ws.conf" <<EOF
# WebSocket scenarios: the same file for nginx and rginx (the noVNC location of S6.8)
worker_processes 1;
worker_rlimit_nofile $NOFILE;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections $WORKER_CONNECTIONS; }
http {
    access_log off;
    $temp_paths

    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      close;
    }

    server {
        listen 127.0.0.1:$WS_PORT backlog=4096;

        location /ws {
            proxy_pass http://127.0.0.1:$UP_PORT;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_read_timeout 1h;
        }
    }
}
EOF

cat > "$work/tls.conf" <<EOF
# TLS scenarios: the same file for nginx and rginx
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    $temp_paths

    server {
        listen 127.0.0.1:$TLS_PORT ssl backlog=4096;
        ssl_certificate $work/cert.pem;
        ssl_certificate_key $work/key.pem;
        # nginx 1.22's default is TLSv1 TLSv1.1 TLSv1.2: without this line no TLS 1.3
        ssl_protocols TLSv1.2 TLSv1.3;
        # tls_ka measures requests, not the handshake every 1000th request would add
        keepalive_requests 1000000;

        location / {
            return 200 "$BODY\n";
        }
    }
}
EOF

scenario_conf() { case $1 in ws_*) echo "$work/ws.conf";; *) echo "$work/tls.conf";; esac; }
# proxy_failed NAME PREFIX CONF MESSAGE: print why a run failed, with the proxy's output
proxy_failed() {
    echo "FAIL: $1: $4" >&2
    echo "  command: taskset -c $PROXY_CPU $(proxy_bin "$1") -p $2/ -c $3 -g '$GFLAGS'" >&2
    sed 's/^/  output: /' "$2/output.log" 2>/dev/null | tail -n 30 >&2 || true
    sed 's/^/  error.log: /' "$2/logs/error.log" 2>/dev/null | tail -n 30 >&2 || true
    KEEP=1
}

# ------------------------------------------------------------ the upstream ---
start_on_cpu "$LOAD_CPU" 0 "$work/upstream/output.log" "$LOAD" upstream --listen "127.0.0.1:$UP_PORT"
up_pid=$started_pid
"$LOAD" check "ws://127.0.0.1:$UP_PORT/ws" --expect 101 --pid "$up_pid" \
    || { cat "$work/upstream/output.log" >&2; KEEP=1; die "the WebSocket echo upstream did not start"; }

# -------------------------------------------------------------- one run -----
results=$work/results
: > "$results"
# run_one SCENARIO ROUND PROXY: appends a result line; returns 1 (having said why) on failure
run_one() {
    local sc=$1 round=$2 name=$3 bin prefix conf pid r="" out t0 t1 u0 u1 procs line
    bin=$(proxy_bin "$name")
    prefix=$work/$name
    conf=$(scenario_conf "$sc")
    out=$work/$sc.$round.$name
    rm -f "$prefix/logs/error.log"
    start_on_cpu "$PROXY_CPU" 0 "$prefix/output.log" "$bin" -p "$prefix/" -c "$conf" -g "$GFLAGS"
    pid=$started_pid
    local url
    case $sc in
        ws_*) url=ws://127.0.0.1:$WS_PORT/ws;;
        *) url=https://127.0.0.1:$TLS_PORT/;;
    esac
    local expect=200
    case $sc in ws_*) expect=101;; esac
    if ! "$LOAD" check "$url" --expect "$expect" --pid "$pid" 2>"$out.check"; then
        proxy_failed "$name" "$prefix" "$conf" "$(cat "$out.check")"
        stop_pid "$pid"; forget_pid "$pid"
        return 1
    fi
    local ok=1
    case $sc in
        ws_echo)
            on_load "$LOAD" echo --addr "127.0.0.1:$WS_PORT" --path /ws --conns "$WS_CONNS" --size "$WS_SIZE" \
                --warmup "$WARMUP" --duration "$DURATION" --cpu-of "$pid" >"$out" 2>&1 || ok=0
            ;;
        ws_idle)
            # the client holds the tunnels until it has sampled the proxy's memory
            on_load "$LOAD" idle --addr "127.0.0.1:$WS_PORT" --path /ws --conns "$IDLE_TUNNELS" \
                --parallel "$IDLE_PARALLEL" --settle "$IDLE_SETTLE" --rss-of "$pid" >"$out" 2>&1 || ok=0
            ;;
        tls_new)
            on_load "$LOAD" handshake --addr "127.0.0.1:$TLS_PORT" --path / --tls "$TLS_VERSION" --conns "$HS_CONNS" \
                --warmup "$WARMUP" --duration "$DURATION" --cpu-of "$pid" >"$out" 2>&1 || ok=0
            ;;
        tls_ka)
            local threads=$THREADS wrk_url=https://127.0.0.1:$TLS_PORT/
            [ "$threads" -le "$CONNS" ] || threads=$CONNS
            if [ "$WARMUP" -gt 0 ]; then
                on_load wrk -t"$threads" -c"$CONNS" -d"${WARMUP}s" -s "$work/report.lua" "$wrk_url" >"$out.warmup" 2>&1 || ok=0
            fi
            read -r t0 _ _ u0 < <(helper sample "$pid")
            [ "$ok" = 0 ] || on_load wrk -t"$threads" -c"$CONNS" -d"${DURATION}s" -s "$work/report.lua" "$wrk_url" >"$out" 2>&1 || ok=0
            read -r t1 _ procs u1 < <(helper sample "$pid")
            ;;
    esac
    r=$(grep '^BENCH ' "$out" 2>/dev/null | tail -n 1 | cut -d' ' -f2-) || true
    if [ "$ok" = 0 ] || [ -z "$r" ] || ! alive "$pid"; then
        proxy_failed "$name" "$prefix" "$conf" "$sc: $(cat "$out.warmup" "$out" 2>/dev/null | grep -v '^BENCH ' | tail -n 5)$(alive "$pid" || echo " (the proxy exited)")"
        stop_pid "$pid"; forget_pid "$pid"
        return 1
    fi
    stop_pid "$pid"
    forget_pid "$pid"
    if [ "$sc" = tls_ka ]; then
        if [ "$(field requests "$r")" -eq 0 ] || [ "$(field err_status "$r")" -ne 0 ]; then
            proxy_failed "$name" "$prefix" "$conf" "wrk: $(field requests "$r") requests, $(field err_status "$r") non-2xx/3xx responses"
            return 1
        fi
        r="$r cpu_ticks=$((t1 - t0)) user_ticks=$((u1 - u0)) procs=$procs"
    fi
    line="scenario=$sc round=$round proxy=$name $r"
    echo "$line" >> "$results"
    python3 - "$line" "$(getconf CLK_TCK)" <<'PY'
import sys
kv = dict(x.split("=", 1) for x in sys.argv[1].split())
clk = int(sys.argv[2])
head = f"  {kv['scenario']:<8} round {kv['round']}  {kv['proxy']:<5}"
if kv["scenario"] == "ws_idle":
    n = int(kv["tunnels"])
    per = (int(kv["rss_kib"]) - int(kv["rss_before_kib"])) * 1024 / n
    print(f"{head}  {n} tunnels  RSS {int(kv['rss_before_kib']) / 1024:.1f} -> {int(kv['rss_kib']) / 1024:.1f} MB"
          f"  {per:8.0f} bytes/tunnel  (opened in {int(kv['open_ms']) / 1000:.1f} s)", flush=True)
else:
    unit = next(k for k in ("messages", "handshakes", "requests") if k in kv)
    n, us = int(kv[unit]), int(kv["duration_us"])
    cpu = int(kv["cpu_ticks"]) / clk
    user = int(kv["user_ticks"]) / clk
    errs = sum(int(kv[k]) for k in kv if k.startswith("err_"))
    print(f"{head}  {n / us * 1e6:9.1f} {unit}/s  {cpu / n * 1e6:7.2f} us CPU per {unit[:-1]}"
          f" (user {user / n * 1e6:5.2f}, kernel {(cpu - user) / n * 1e6:5.2f})"
          f"  busy {cpu / us * 1e8:5.1f}%" + (f"  [{errs} socket errors]" if errs else ""), flush=True)
PY
}

# ------------------------------------------------------------------ main ----
echo "rginx vs nginx: WebSocket tunnels and TLS (same nginx.conf)"
echo "nginx: $NGINX ($("$NGINX" -v 2>&1 | sed 's/.*version: //'))"
echo "rginx: $RGINX"
[ -n "${BASELINE:-}" ] && echo "old:   $BASELINE (BASELINE)"
echo "load:  $LOAD"
echo "proxy on CPU $PROXY_CPU; load and upstream on CPU $LOAD_CPU; nice $NICE (autogroup $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo n/a)); open files $NOFILE"
echo "$ROUNDS rounds x ${DURATION}s (+${WARMUP}s warm-up), order $ORDER; scenarios: $SCENARIOS"
echo "ws_echo: $WS_CONNS connections, $WS_SIZE-byte frames; ws_idle: $IDLE_TUNNELS tunnels; tls_new: $HS_CONNS clients, TLS $TLS_VERSION; tls_ka: wrk -c$CONNS"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average at start: $load_start"
echo

started=$(date +%s)
failed=$work/failed
: > "$failed"
for sc in $SCENARIOS; do
    for ((round = 1; round <= ROUNDS; round++)); do
        order=$(proxy_order "$round")
        broken=""
        for name in $order; do
            run_one "$sc" "$round" "$name" || { broken=$name; break; }
        done
        if [ -n "$broken" ]; then
            echo "scenario=$sc proxy=$broken round=$round" >> "$failed"
            echo "  $sc: $broken failed in round $round: the scenario's remaining runs are skipped" >&2
            break
        fi
    done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "load average at end: $load_end; took $(( $(date +%s) - started )) s"

mkdir -p "$(dirname "$BENCH_JSON")"
NGINX="$NGINX" RGINX="$RGINX" ROUNDS="$ROUNDS" DURATION="$DURATION" WARMUP="$WARMUP" WS_CONNS="$WS_CONNS" WS_SIZE="$WS_SIZE" \
IDLE_TUNNELS="$IDLE_TUNNELS" HS_CONNS="$HS_CONNS" TLS_VERSION="$TLS_VERSION" CONNS="$CONNS" THREADS="$THREADS" \
PROXY_CPU="$PROXY_CPU" LOAD_CPU="$LOAD_CPU" NICE="$NICE" ORDER="$ORDER" LOAD_START="$load_start" LOAD_END="$load_end" SCENARIOS="$SCENARIOS" \
BENCH_DIR="$here" python3 - "$results" "$failed" "$BENCH_JSON" "${STRICT:-0}" "$(getconf CLK_TCK)" <<'PY'
import json, os, statistics, sys
sys.path.insert(0, os.environ["BENCH_DIR"])
from helper import baseline_block

path, failed_path, out, strict, clk = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1", int(sys.argv[5])
env = os.environ
meta = {k.lower(): env[k] for k in ("NGINX", "RGINX", "ORDER", "TLS_VERSION", "LOAD_START", "LOAD_END")}
meta.update({k.lower(): int(env[k]) for k in ("ROUNDS", "DURATION", "WARMUP", "WS_CONNS", "WS_SIZE", "IDLE_TUNNELS",
                                              "HS_CONNS", "CONNS", "THREADS", "PROXY_CPU", "LOAD_CPU", "NICE")})
TITLES = {
    "ws_echo": f"WebSocket echo, {env['WS_CONNS']} connections, {env['WS_SIZE']}-byte frames",
    "ws_idle": f"{env['IDLE_TUNNELS']} idle WebSocket tunnels: proxy memory per tunnel",
    "tls_new": f"TLS {env['TLS_VERSION']} handshakes (ECDSA P-256), a new connection per request",
    "tls_ka": f"HTTPS keep-alive requests, wrk -c{env['CONNS']}",
}
# scenario -> metric -> (goal on the rginx/nginx ratio of medians: "ge"/"le", value, counts toward the verdict)
# Throughput goals are judged by CPU time per unit (a proxy needing 1/x of nginx's CPU per unit
# serves x times the units on a core it saturates); the rate itself is printed as (info).
GOALS = {
    "ws_echo": {"cpu_us": ("le", 0.8, True)},
    "ws_idle": {"bytes_per_tunnel": ("le", 0.5, True)},
    "tls_new": {"rate": ("ge", 1.0, False), "cpu_us": ("le", 1.0, True)},
    "tls_ka": {"rate": ("ge", 1.1, False), "cpu_us": ("le", round(1 / 1.1, 2), True)},
}
UNIT = {"ws_echo": "message", "tls_new": "handshake", "tls_ka": "request"}
# metric, label, column head, format
LABELS = [
    ("rate", "{unit}s/s", "{unit}s/s", "{:.1f}"),
    ("cpu_us", "CPU/{unit} (us)", "CPU us", "{:.2f}"),
    ("user_us", "  user part (us)", "user us", "{:.2f}"),
    ("kernel_us", "  kernel part (us)", "kernel us", "{:.2f}"),
    ("busy_pct", "proxy CPU busy (%)", "busy %", "{:.1f}"),
    ("rss_before_mb", "RSS before (MB)", "before MB", "{:.1f}"),
    ("rss_mb", "RSS with tunnels (MB)", "with MB", "{:.1f}"),
    ("bytes_per_tunnel", "bytes/tunnel", "B/tunnel", "{:.0f}"),
    ("open_s", "opening took (s)", "open s", "{:.1f}"),
]

runs = []
for line in open(path):
    kv = dict(x.split("=", 1) for x in line.split())
    sc = kv["scenario"]
    r = {"scenario": sc, "round": int(kv["round"]), "proxy": kv["proxy"], "raw": kv}
    if sc == "ws_idle":
        n = int(kv["tunnels"])
        r.update(tunnels=n, rss_before_mb=int(kv["rss_before_kib"]) / 1024, rss_mb=int(kv["rss_kib"]) / 1024,
                 bytes_per_tunnel=(int(kv["rss_kib"]) - int(kv["rss_before_kib"])) * 1024 / n,
                 open_s=int(kv["open_ms"]) / 1000)
    else:
        n = int(kv[UNIT[sc] + "s"])
        us = int(kv["duration_us"])
        cpu = int(kv["cpu_ticks"]) / clk
        user = int(kv["user_ticks"]) / clk
        r.update(count=n, duration_s=us / 1e6, rate=n / us * 1e6, cpu_s=cpu, cpu_us=cpu / n * 1e6,
                 user_us=user / n * 1e6, kernel_us=(cpu - user) / n * 1e6,
                 busy_pct=cpu / (us / 1e6) * 100, processes=int(kv["procs"]))
    runs.append(r)
failed = {}
for line in open(failed_path):
    kv = dict(x.split("=", 1) for x in line.split())
    failed[kv["scenario"]] = kv

def fmt(spec, v):
    return "-" if v is None else spec.format(v)

summary = {"meta": meta, "scenarios": [], "all_pass": True, "all_ran": not failed}
print()
print("=" * 78)
for sc in env["SCENARIOS"].split():
    rs = [r for r in runs if r["scenario"] == sc]
    unit = UNIT.get(sc, "tunnel")
    print(f"\n{sc}: {TITLES[sc]}")
    if sc in failed:
        f = failed[sc]
        print(f"  FAILED: {f['proxy']} failed in round {f['round']} (reason above); no comparison")
        summary["all_pass"] = False
        summary["scenarios"].append({"name": sc, "title": TITLES[sc], "pass": False, "failed": f, "runs": rs})
        continue
    keys = [k for k, *_ in LABELS if k in rs[0]]
    print(f"  {'round':>5} {'proxy':<5}" + "".join(f" {col.format(unit=unit):>12}" for k, _, col, _ in LABELS if k in keys))
    for r in rs:
        print(f"  {r['round']:>5} {r['proxy']:<5}" + "".join(f" {fmt(spec, r[k]):>12}" for k, _, _, spec in LABELS if k in keys))
    med = {p: {k: statistics.median(r[k] for r in rs if r["proxy"] == p) for k in keys} for p in ("nginx", "rginx")}
    print(f"\n  {'median':<22} {'nginx':>10} {'rginx':>10} {'ratio':>7}  {'goal':<14} result")
    metrics, verdict = [], True
    for k, lab, _, spec in LABELS:
        if k not in keys:
            continue
        a, b = med["nginx"][k], med["rginx"][k]
        ratio = b / a if a else None
        goal = GOALS[sc].get(k)
        res = gtxt = ""
        if goal:
            kind, val, counts = goal
            ok = ratio is not None and (ratio >= val if kind == "ge" else ratio <= val)
            gtxt = f"ratio {'>=' if kind == 'ge' else '<='} {val:.2f}"
            res = ("PASS" if ok else "MISS") + ("" if counts else " (info)")
            if counts:
                verdict &= ok
        metrics.append({"metric": k, "nginx": a, "rginx": b, "ratio": ratio, "goal": gtxt or None,
                        "pass": (res.startswith("PASS") if res else None), "counts": bool(goal and goal[2])})
        print(f"  {lab.format(unit=unit):<22} {fmt(spec, a):>10} {fmt(spec, b):>10} {fmt('{:.3f}', ratio):>7}  {gtxt:<14} {res}")
    print(f"  => {sc}: {'PASS' if verdict else 'MISS'}")
    base = baseline_block(rs, keys, [(k, lab.format(unit=unit), spec) for k, lab, _, spec in LABELS], fmt)
    summary["all_pass"] &= verdict
    summary["scenarios"].append({"name": sc, "title": TITLES[sc], "pass": verdict, "median": med,
                                 "metrics": metrics, "baseline": base, "runs": rs})
print()
print("(info) rows are not part of the verdict: the load core saturates first, so throughput is judged")
print("by the proxy's CPU time per message/handshake/request instead.")
overall = "FAILED" if failed else ("PASS" if summary["all_pass"] else "MISS")
print(f"OVERALL: {overall}   summary: {out}")
with open(out, "w") as f:
    json.dump(summary, f, indent=1)
    f.write("\n")
if failed:
    sys.exit(1)
if strict and not summary["all_pass"]:
    sys.exit(2)
PY
