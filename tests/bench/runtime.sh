#!/usr/bin/env bash
# Benchmark: rginx against nginx as a reverse proxy at run time, side by side on
# the same nginx.conf, under wrk.
#
# Usage: tests/bench/runtime.sh [RGINX_BINARY]
#
# Both proxies get the identical configuration file (each its own prefix
# directory for logs, pid and temp files) and the same command line as nginx:
#   taskset -c PROXY_CPU BIN -p PREFIX/ -c proxy.conf -g 'daemon off; master_process off;'
# with worker_processes 1. The upstream is a second nginx (worker_processes 1)
# and wrk, both pinned to LOAD_CPU. Ports are picked by binding port 0.
#
# Scenarios (SCENARIOS, space separated, default all, in this order):
#   ka         small responses, upstream keep-alive (keepalive 32, HTTP/1.1)
#   new        small responses, a new upstream connection per request (HTTP/1.0)
#   big_buf    1 MiB responses, proxy_buffering on
#   big_nobuf  1 MiB responses, proxy_buffering off
#   slow       100 ms upstream (echo_sleep): latency the proxy adds at p99, i.e.
#              the proxied p99 minus the p99 of a second wrk that hits the
#              upstream directly during the same seconds
#
# Each run starts the proxy afresh, checks one response through it, runs wrk
# for WARMUP seconds unmeasured, then DURATION seconds measured, sampling the
# proxy's utime+stime (/proc/PID/stat, the proxy PID and any descendants)
# right before and after, and its peak RSS (VmHWM) at the end. Runs alternate
# nginx, rginx, nginx, rginx, ... (ROUNDS each) per scenario; the report uses
# medians and prints every run.
#
# Environment:
#   BASELINE     an older rginx binary (say, built from the commit before a change): it runs in
#                every round between nginx and rginx, and the report adds its medians and the
#                ratios new/old, old/nginx and new/nginx
#   RGINX        rginx binary (default $CARGO_TARGET_DIR/release/rginx, or
#                target/release/rginx in the repository; the argument wins)
#   NGINX        nginx binary, also used for the upstream (default /usr/sbin/nginx)
#   ROUNDS       measured runs per proxy and scenario (default 3, at least 3)
#   DURATION     seconds per measured wrk run (default 5)
#   SLOW_DURATION  the same for the slow scenario (default 2 x DURATION: at
#                ~200 requests/s, p99 needs the samples)
#   WARMUP       seconds of unmeasured wrk per run before measuring (default 1)
#   THREADS      wrk threads (default 1: wrk shares LOAD_CPU with the upstream)
#   CONNS        wrk connections for ka/new (default 50)
#   CONNS_BIG    wrk connections for big_buf/big_nobuf (default 10)
#   CONNS_SLOW   wrk connections for slow (default 20)
#   PROXY_CPU    core for the proxy under test (default 1)
#   LOAD_CPU     core for wrk and the upstream nginx (default 0)
#   NICE         priority for the proxy, wrk and the upstream (default -10 as root,
#                else 0). Each of them runs in its own session, and with the
#                kernel's autogroup scheduling on, that session's autogroup gets
#                this nice value too, so other load on a shared machine (builds
#                in other sessions) takes fewer turns on the two cores.
#   SLOW_RT      1 (default as root): in the slow scenario, run the proxy, both
#                wrk and the upstream under SCHED_RR priority 1, so that a busy
#                core (other people's builds) does not delay their wake-ups; the
#                scenario uses ~1% CPU. 0: normal scheduling
#   SCENARIOS    subset of the scenarios above (default: all)
#   ORDER        ab (default: nginx then rginx in every round), ba, or abba
#                (who goes first alternates from round to round)
#   P99_TOLERANCE  largest rginx/nginx p99 ratio still counted "no worse" (default 1.10)
#   BENCH_JSON   summary file (default $CARGO_TARGET_DIR/bench-runtime.json, or
#                target/bench-runtime.json in the repository)
#   KEEP=1       keep the work directory (configs, logs, raw wrk output)
#   STRICT=1     exit 2 when a goal is missed (otherwise 0 when every run worked)
#
# Exit status: 0 when every run worked; 1 on any failure (a proxy that does not
# start, dies, or answers with a wrong status/body); 2 with STRICT=1 on a miss.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$repo/target}
RGINX=${1:-${RGINX:-$target_dir/release/rginx}}
NGINX=${NGINX:-/usr/sbin/nginx}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
SLOW_DURATION=${SLOW_DURATION:-$((2 * DURATION))}
WARMUP=${WARMUP:-1}
THREADS=${THREADS:-1}
CONNS=${CONNS:-50}
CONNS_BIG=${CONNS_BIG:-10}
CONNS_SLOW=${CONNS_SLOW:-20}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
if [ "$(id -u)" = 0 ]; then NICE=${NICE:--10} SLOW_RT=${SLOW_RT:-1}; else NICE=${NICE:-0} SLOW_RT=${SLOW_RT:-0}; fi
SCENARIOS=${SCENARIOS:-ka new big_buf big_nobuf slow}
ORDER=${ORDER:-ab}
P99_TOLERANCE=${P99_TOLERANCE:-1.10}
BENCH_JSON=${BENCH_JSON:-$target_dir/bench-runtime.json}
GFLAGS='daemon off; master_process off;'
SMALL_BODY='hello, world'   # the upstream answers this plus "\n"
BIG_BYTES=1048576

BENCH_NAME=runtime.sh
# shellcheck source=tests/bench/common.sh
. "$here/common.sh"

[ "$ROUNDS" -ge 3 ] 2>/dev/null || die "ROUNDS must be at least 3 (got $ROUNDS)"
[ "$DURATION" -ge 1 ] 2>/dev/null || die "DURATION must be a whole number of seconds >= 1 (got $DURATION)"
[ "$SLOW_DURATION" -ge 1 ] 2>/dev/null || die "SLOW_DURATION must be a whole number of seconds >= 1 (got $SLOW_DURATION)"
[ "$NICE" -ge -20 ] 2>/dev/null && [ "$NICE" -le 19 ] || die "NICE must be -20..19 (got $NICE)"
[ "$WARMUP" -ge 0 ] 2>/dev/null || die "WARMUP must be a whole number of seconds (got $WARMUP)"
case $ORDER in ab|ba|abba) ;; *) die "ORDER must be ab, ba or abba (got $ORDER)";; esac
for s in $SCENARIOS; do
    case $s in ka|new|big_buf|big_nobuf|slow) ;; *) die "unknown scenario '$s' (ka new big_buf big_nobuf slow)";; esac
done
[ -x "$RGINX" ] || die "rginx binary not found or not executable: $RGINX (build with cargo build --release, or pass its path)"
[ -x "$NGINX" ] || die "nginx binary not found: $NGINX"
command -v taskset >/dev/null || die "taskset (util-linux) is missing"
command -v python3 >/dev/null || die "python3 is missing"
[ "$(nproc --all)" -gt "$PROXY_CPU" ] && [ "$(nproc --all)" -gt "$LOAD_CPU" ] \
    || die "cores $LOAD_CPU and $PROXY_CPU are needed (this machine has $(nproc --all))"

command -v wrk >/dev/null || apt_install wrk
echo_module=/usr/lib/nginx/modules/ngx_http_echo_module.so
[ -e "$echo_module" ] || apt_install libnginx-mod-http-echo
[ -e "$echo_module" ] || die "$echo_module is missing after installing libnginx-mod-http-echo"

RGINX=$(cd "$(dirname "$RGINX")" && pwd)/$(basename "$RGINX")
if [ -n "${BASELINE:-}" ]; then
    [ -x "$BASELINE" ] || die "BASELINE binary not found or not executable: $BASELINE"
    BASELINE=$(cd "$(dirname "$BASELINE")" && pwd)/$(basename "$BASELINE")
fi
case $BENCH_JSON in /*) ;; *) BENCH_JSON=$PWD/$BENCH_JSON;; esac

bench_workdir runtime    # $work; $pids: every long-running process started here (upstream, proxies)


# wrk prints this line at the end of every run (latencies in microseconds)
cat > "$work/report.lua" <<'LUA'
done = function(s, lat, req)
  local e = s.errors
  io.write(string.format("BENCH requests=%d duration_us=%d bytes=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f\n",
    s.requests, s.duration, s.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    lat:percentile(50), lat:percentile(90), lat:percentile(99), lat.max, lat.mean))
end
LUA
# for the 100 ms upstream: start the connections' first requests spread over
# 100 ms instead of all at once, so that one scheduling hiccup delays one or two
# responses rather than all CONNS_SLOW of them (wrk does not count the delay in
# the latency; every later request goes out as soon as the previous answer is in)
{ cat "$work/report.lua"; cat <<LUA; } > "$work/slow.lua"
local started = 0
delay = function()
  if started < $CONNS_SLOW then
    started = started + 1
    return math.floor((started - 1) * 100 / $CONNS_SLOW)
  end
  return 0
end
LUA

# ------------------------------------------------------------ the configs ---
read -r UP_PORT PX_PORT < <(helper ports 2)
up=$work/upstream
mkdir -p "$up/logs" "$up/html" "$work/nginx/logs" "$work/rginx/logs" "$work/old/logs"
ln -s "$(dirname "$echo_module")" "$up/modules"
head -c "$BIG_BYTES" /dev/zero | tr '\0' 'x' > "$up/html/big.bin"

temp_paths='client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;'

cat > "$work/upstream.conf" <<EOF
# upstream for runtime.sh: not under test
load_module modules/ngx_http_echo_module.so;
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    $temp_paths
    sendfile on;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$UP_PORT backlog=4096;
        location = /small { return 200 "$SMALL_BODY\n"; }
        location = /slow { echo_sleep 0.1; echo "ok"; }
        location / { root html; }
    }
}
EOF

cat > "$work/proxy.conf" <<EOF
# the proxy under test: the same file for nginx and rginx
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    $temp_paths

    upstream u_keepalive {
        server 127.0.0.1:$UP_PORT;
        keepalive 32;
    }
    upstream u_new {
        server 127.0.0.1:$UP_PORT;
    }

    server {
        listen 127.0.0.1:$PX_PORT backlog=4096;

        # scenario ka (and slow): HTTP/1.1 to the upstream, connections reused
        location /ka/ {
            proxy_pass http://u_keepalive/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        # scenario new: default HTTP/1.0, a new upstream connection per request
        location /new/ {
            proxy_pass http://u_new/;
        }
        # scenarios big_buf and big_nobuf: 1 MiB responses
        location /buf/ {
            proxy_pass http://u_keepalive/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
        }
        location /nobuf/ {
            proxy_pass http://u_keepalive/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
EOF

# scenario -> "path body_length connections"
scenario_params() {
    case $1 in
        ka)        echo "/ka/small $((${#SMALL_BODY} + 1)) $CONNS";;
        new)       echo "/new/small $((${#SMALL_BODY} + 1)) $CONNS";;
        big_buf)   echo "/buf/big.bin $BIG_BYTES $CONNS_BIG";;
        big_nobuf) echo "/nobuf/big.bin $BIG_BYTES $CONNS_BIG";;
        slow)      echo "/ka/slow 3 $CONNS_SLOW";;
    esac
}

# wrk_run OUTFILE SECONDS CONNS URL [RT] -> the BENCH line's fields on stdout
wrk_run() {
    local out=$1 secs=$2 conns=$3 url=$4 rt=${5:-0} threads=$THREADS lua=$work/report.lua
    case $url in */slow) lua=$work/slow.lua;; esac
    [ "$threads" -le "$conns" ] || threads=$conns
    on_cpu "$LOAD_CPU" "$rt" wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s "$lua" "$url" \
        >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed: wrk -t$threads -c$conns -d${secs}s $url"; }
    grep '^BENCH ' "$out" | tail -n 1 | cut -d' ' -f2- | grep . || { cat "$out" >&2; die "no result line from wrk ($url)"; }
}

fail_proxy() {   # NAME PREFIX MESSAGE
    echo "FAIL: $1: $3" >&2
    echo "  command: taskset -c $PROXY_CPU $(proxy_bin "$1") -p $2/ -c $work/proxy.conf -g '$GFLAGS'" >&2
    sed 's/^/  output: /' "$2/output.log" 2>/dev/null | tail -n 30 >&2 || true
    sed 's/^/  error.log: /' "$2/logs/error.log" 2>/dev/null | tail -n 30 >&2 || true
    KEEP=1
    exit 1
}

# ------------------------------------------------------------ the upstream ---
start_on_cpu "$LOAD_CPU" 0 "$up/output.log" "$NGINX" -p "$up/" -c "$work/upstream.conf" -g "$GFLAGS"
up_pid=$started_pid
helper ready "$up_pid" "$UP_PORT" /small $((${#SMALL_BODY} + 1)) 10 \
    && helper ready "$up_pid" "$UP_PORT" /big.bin "$BIG_BYTES" 10 \
    && helper ready "$up_pid" "$UP_PORT" /slow 3 10 \
    || { sed 's/^/  /' "$up/output.log" "$up/logs/error.log" >&2 2>/dev/null; KEEP=1; die "the upstream nginx did not start"; }

# -------------------------------------------------------------- one run -----
results=$work/results
: > "$results"
# run_one SCENARIO ROUND PROXY
run_one() {
    local sc=$1 round=$2 name=$3 bin prefix path len conns url pid r direct="" direct_pid t0 t1 h0 h1 n1 rt=0 secs=$DURATION
    if [ "$sc" = slow ]; then rt=$SLOW_RT secs=$SLOW_DURATION; fi
    bin=$(proxy_bin "$name")
    prefix=$work/$name
    read -r path len conns < <(scenario_params "$sc")
    url=http://127.0.0.1:$PX_PORT$path
    rm -f "$prefix/logs/error.log"
    start_on_cpu "$PROXY_CPU" "$rt" "$prefix/output.log" "$bin" -p "$prefix/" -c "$work/proxy.conf" -g "$GFLAGS"
    pid=$started_pid
    helper ready "$pid" "$PX_PORT" "$path" "$len" 10 2>"$work/ready.err" \
        || fail_proxy "$name" "$prefix" "not serving $path correctly: $(cat "$work/ready.err")"
    if [ "$WARMUP" -gt 0 ]; then
        wrk_run "$work/wrk.$sc.$round.$name.warmup" "$WARMUP" "$conns" "$url" "$rt" >/dev/null
    fi
    if [ "$sc" = slow ]; then
        # a second wrk straight to the upstream at the same time, so both see the same noise
        wrk_run "$work/wrk.$sc.$round.$name.direct" "$secs" "$conns" "http://127.0.0.1:$UP_PORT/slow" "$rt" \
            >"$work/direct.out" &
        direct_pid=$!
    fi
    read -r t0 h0 _ < <(helper sample "$pid")
    r=$(wrk_run "$work/wrk.$sc.$round.$name" "$secs" "$conns" "$url" "$rt")
    read -r t1 h1 n1 _ < <(helper sample "$pid")
    if [ "$sc" = slow ]; then
        wait "$direct_pid" || die "the direct wrk run failed"
        direct=$(cat "$work/direct.out")
    fi
    alive "$pid" || fail_proxy "$name" "$prefix" "exited during the run"
    stop_pid "$pid"
    forget_pid "$pid"
    if [ "$(field requests "$r")" -eq 0 ] || [ "$(field err_status "$r")" -ne 0 ]; then
        fail_proxy "$name" "$prefix" "wrk: $(field requests "$r") requests, $(field err_status "$r") non-2xx/3xx responses on $url"
    fi
    line="scenario=$sc round=$round proxy=$name conns=$conns $r cpu_ticks=$((t1 - t0)) hwm_kib=$h1 procs=$n1"
    [ -z "$direct" ] || line="$line direct_p50_us=$(field p50_us "$direct") direct_p99_us=$(field p99_us "$direct") direct_requests=$(field requests "$direct")"
    echo "$line" >> "$results"
    python3 - "$line" "$(getconf CLK_TCK)" <<'PY'
import sys
kv = dict(x.split("=", 1) for x in sys.argv[1].split())
n, us = int(kv["requests"]), int(kv["duration_us"])
cpu = int(kv["cpu_ticks"]) / int(sys.argv[2])
msg = (f"  {kv['scenario']:<9} round {kv['round']}  {kv['proxy']:<5}  {n / us * 1e6:9.1f} req/s  "
       f"p99 {int(kv['p99_us']) / 1000:8.3f} ms  {cpu / n * 1e6:7.2f} us CPU/req  "
       f"busy {cpu / us * 1e8:5.1f}%  VmHWM {int(kv['hwm_kib']) / 1024:6.1f} MB")
if "direct_p99_us" in kv:
    msg += f"  (direct p99 {int(kv['direct_p99_us']) / 1000:.3f} ms)"
errs = sum(int(kv[k]) for k in kv if k.startswith("err_"))
if errs:
    msg += f"  [{errs} socket errors]"
print(msg, flush=True)
PY
}

# ------------------------------------------------------------------ main ----
echo "rginx vs nginx as a reverse proxy (wrk, same nginx.conf)"
echo "nginx: $NGINX ($("$NGINX" -v 2>&1 | sed 's/.*version: //'))"
echo "rginx: $RGINX"
[ -n "${BASELINE:-}" ] && echo "old:   $BASELINE (BASELINE)"
echo "proxy on CPU $PROXY_CPU; wrk ($THREADS thread(s)) and the upstream nginx on CPU $LOAD_CPU; nice $NICE (autogroup $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo n/a)); slow under SCHED_RR: $SLOW_RT"
echo "$ROUNDS rounds x ${DURATION}s (slow: ${SLOW_DURATION}s) (+${WARMUP}s warm-up) per proxy and scenario, order $ORDER; scenarios: $SCENARIOS"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average at start: $load_start"
echo

started=$(date +%s)
for sc in $SCENARIOS; do
    if [ "$sc" = slow ] && [ "$SLOW_RT" = 1 ]; then helper rt "$up_pid" 1; fi
    for ((round = 1; round <= ROUNDS; round++)); do
        for name in $(proxy_order "$round"); do
            run_one "$sc" "$round" "$name"
        done
    done
    if [ "$sc" = slow ] && [ "$SLOW_RT" = 1 ]; then helper rt "$up_pid" 0; fi
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "load average at end: $load_end; took $(( $(date +%s) - started )) s"

mkdir -p "$(dirname "$BENCH_JSON")"
NGINX="$NGINX" RGINX="$RGINX" ROUNDS="$ROUNDS" DURATION="$DURATION" SLOW_DURATION="$SLOW_DURATION" WARMUP="$WARMUP" THREADS="$THREADS" \
PROXY_CPU="$PROXY_CPU" LOAD_CPU="$LOAD_CPU" NICE="$NICE" SLOW_RT="$SLOW_RT" ORDER="$ORDER" LOAD_START="$load_start" LOAD_END="$load_end" \
BENCH_DIR="$here" python3 - "$results" "$BENCH_JSON" "${STRICT:-0}" "$(getconf CLK_TCK)" "$P99_TOLERANCE" <<'PY'
import json, os, statistics, sys
sys.path.insert(0, os.environ["BENCH_DIR"])
from helper import baseline_block

path, out, strict, clk, p99_tol = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]), float(sys.argv[5])
env = os.environ
meta = {
    "nginx": env["NGINX"], "rginx": env["RGINX"], "rounds": int(env["ROUNDS"]),
    "duration_s": int(env["DURATION"]), "slow_duration_s": int(env["SLOW_DURATION"]), "warmup_s": int(env["WARMUP"]), "wrk_threads": int(env["THREADS"]),
    "proxy_cpu": int(env["PROXY_CPU"]), "load_cpu": int(env["LOAD_CPU"]), "nice": int(env["NICE"]), "slow_rt": env["SLOW_RT"] == "1",
    "order": env["ORDER"], "loadavg_start": env["LOAD_START"], "loadavg_end": env["LOAD_END"], "p99_tolerance": p99_tol,
}
TITLES = {
    "ka": "small responses, upstream keep-alive (keepalive 32, HTTP/1.1)",
    "new": "small responses, new upstream connection per request (HTTP/1.0)",
    "big_buf": "1 MiB responses, proxy_buffering on",
    "big_nobuf": "1 MiB responses, proxy_buffering off",
    "slow": "100 ms upstream: p99 latency added by the proxy",
}
# scenario -> metric -> (goal kind, goal value, counts toward the verdict)
#   goal kinds: "ge"/"le" on the rginx/nginx ratio of medians, "abs_lt" on rginx's own median
GOALS = {
    "ka": {"rps": ("ge", 1.2, False), "p99_ms": ("le", p99_tol, True), "cpu_us_per_req": ("le", 0.83, True)},
    "new": {"rps": ("ge", 1.1, False), "p99_ms": ("le", p99_tol, True), "cpu_us_per_req": ("le", 0.91, True)},
    "big_buf": {"cpu_us_per_req": ("le", 0.8, True)},
    "big_nobuf": {"cpu_us_per_req": ("le", 0.8, True)},
    "slow": {"added_p99_ms": ("abs_lt", 0.5, True)},
}
# metric, label in the medians table, column head in the per-round table, format
LABELS = [
    ("rps", "requests/s", "req/s", "{:.1f}"),
    ("p99_ms", "p99 latency (ms)", "p99 ms", "{:.3f}"),
    ("added_p99_ms", "p99 added (ms)", "+p99 ms", "{:.3f}"),
    ("direct_p99_ms", "direct p99 (ms)", "direct p99", "{:.3f}"),
    ("added_p50_ms", "p50 added (ms)", "+p50 ms", "{:.3f}"),
    ("cpu_us_per_req", "CPU/request (us)", "CPU us/req", "{:.2f}"),
    ("busy_pct", "proxy CPU busy (%)", "busy %", "{:.1f}"),
    ("hwm_mb", "peak RSS (MB)", "RSS MB", "{:.1f}"),
]
DIFFERENCES = {"added_p99_ms", "added_p50_ms"}   # near zero: no ratio

runs = []
for line in open(path):
    kv = dict(x.split("=", 1) for x in line.split())
    n, us = int(kv["requests"]), int(kv["duration_us"])
    cpu = int(kv["cpu_ticks"]) / clk
    r = {
        "scenario": kv["scenario"], "round": int(kv["round"]), "proxy": kv["proxy"],
        "connections": int(kv["conns"]), "requests": n, "duration_s": us / 1e6, "bytes": int(kv["bytes"]),
        "rps": n / us * 1e6, "p50_ms": int(kv["p50_us"]) / 1e3, "p99_ms": int(kv["p99_us"]) / 1e3,
        "max_ms": int(kv["max_us"]) / 1e3, "cpu_s": cpu, "cpu_us_per_req": cpu / n * 1e6,
        "busy_pct": cpu / (us / 1e6) * 100, "hwm_mb": int(kv["hwm_kib"]) / 1024, "processes": int(kv["procs"]),
        "socket_errors": {k[4:]: int(v) for k, v in kv.items() if k.startswith("err_") and k != "err_status"},
    }
    if "direct_p99_us" in kv:
        r["direct_p99_ms"] = int(kv["direct_p99_us"]) / 1e3
        r["added_p99_ms"] = r["p99_ms"] - r["direct_p99_ms"]
        r["direct_p50_ms"] = int(kv["direct_p50_us"]) / 1e3
        r["added_p50_ms"] = r["p50_ms"] - r["direct_p50_ms"]
    runs.append(r)

def fmt(spec, v):
    return "-" if v is None else spec.format(v)

summary = {"meta": meta, "scenarios": [], "all_pass": True}
print()
print("=" * 78)
for sc in dict.fromkeys(r["scenario"] for r in runs):
    rs = [r for r in runs if r["scenario"] == sc]
    print(f"\n{sc}: {TITLES[sc]}  ({rs[0]['connections']} connections, {len(rs) // 2} rounds)")
    # raw rounds
    keys = [k for k, *_ in LABELS if k in rs[0]]
    print(f"  {'round':>5} {'proxy':<5}" + "".join(f" {col:>10}" for k, _, col, _ in LABELS if k in keys)
          + f" {'requests':>9} {'sock.err':>8}")
    for r in rs:
        row = f"  {r['round']:>5} {r['proxy']:<5}"
        for k, _, _, spec in LABELS:
            if k in keys:
                row += f" {fmt(spec, r[k]):>10}"
        print(row + f" {r['requests']:>9} {sum(r['socket_errors'].values()):>8}")
    # medians and ratios
    med = {p: {k: statistics.median(r[k] for r in rs if r["proxy"] == p) for k in keys} for p in ("nginx", "rginx")}
    print(f"\n  {'median':<20} {'nginx':>10} {'rginx':>10} {'ratio':>7}  {'goal':<16} result")
    metrics, verdict = [], True
    for k, lab, _, spec in LABELS:
        if k not in keys:
            continue
        a, b = med["nginx"][k], med["rginx"][k]
        ratio = b / a if a and k not in DIFFERENCES else None
        goal = GOALS[sc].get(k)
        res, gtxt = "", ""
        if goal:
            kind, val, counts = goal
            if kind == "ge":
                ok, gtxt = ratio is not None and ratio >= val, f"ratio >= {val:.2f}"
            elif kind == "le":
                ok, gtxt = ratio is not None and ratio <= val, f"ratio <= {val:.2f}"
            else:
                ok, gtxt = b < val, f"rginx < {val} ms"
            res = ("PASS" if ok else "MISS") + ("" if counts else " (info)")
            if counts:
                verdict &= ok
        metrics.append({"metric": k, "nginx": a, "rginx": b, "ratio": ratio,
                        "goal": gtxt or None, "pass": (res.startswith("PASS") if res else None),
                        "counts": bool(goal and goal[2])})
        print(f"  {lab:<20} {fmt(spec, a):>10} {fmt(spec, b):>10} {fmt('{:.3f}', ratio):>7}  {gtxt:<16} {res}")
    print(f"  => {sc}: {'PASS' if verdict else 'MISS'}")
    base = baseline_block(rs, keys, [(k, lab, spec) for k, lab, _, spec in LABELS], fmt)
    summary["all_pass"] &= verdict
    summary["scenarios"].append({"name": sc, "title": TITLES[sc], "connections": rs[0]["connections"],
                                 "pass": verdict, "median": med, "metrics": metrics,
                                 "baseline": base, "runs": rs})
print()
print("(info) rows are not part of the verdict: with wrk and the upstream sharing one core, that core")
print("saturates first, so throughput is judged by the proxy's CPU time per request instead.")
print(f"OVERALL: {'PASS' if summary['all_pass'] else 'MISS'}   summary: {out}")
with open(out, "w") as f:
    json.dump(summary, f, indent=1)
    f.write("\n")
if strict and not summary["all_pass"]:
    sys.exit(2)
PY
