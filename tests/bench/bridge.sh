#!/usr/bin/env bash
# Benchmark: rginx's built-in websockify (`websockify_pass`) against the deployment it replaces,
# nginx proxying the WebSocket to a websockify process, and against rginx's own proxied
# WebSocket path, side by side in one run, under a noVNC-shaped load.
#
# Usage: tests/bench/bridge.sh [RGINX_BINARY]
#
# Three setups, each "the proxy" whose CPU time and memory are measured, all pinned to PROXY_CPU
# and started as nginx is: taskset -c PROXY_CPU BIN -p PREFIX/ -c CONF -g 'daemon off;
# master_process off;' with worker_processes 1:
#   rginx-bridge      rginx, `websockify_pass 127.0.0.1:TARGET;` in location /websockify
#                     (bridge.conf); the target is `bench-load vnc-target`, a raw TCP "VNC server"
#   nginx+websockify  nginx (pair.conf: proxy_pass with proxy_http_version 1.1 and the Upgrade
#                     and Connection "upgrade" headers) to `websockify 127.0.0.1:WPORT
#                     127.0.0.1:TARGET` (Debian's websockify 0.10, Python, one forked process per
#                     session), websockify on PROXY_CPU too, so the pair competes for the core
#                     rginx has alone; its figures are the sum of nginx and websockify with all
#                     its children
#   rginx-proxy       rginx with the same proxy_pass location as nginx (proxy.conf) to
#                     `bench-load ws-vnc-upstream`, a WebSocket server answering as the target
#                     does: rginx's own proxied WebSocket path
# The load side is `bench-load` (tests/bench/load.rs and load_vnc.rs) on LOAD_CPU, with the
# target and the upstream. Ports are picked by binding port 0; everything is on 127.0.0.1.
#
# Scenarios (SCENARIOS, space separated, default both, in this order):
#   bridge_msg   CONNS WebSocket sessions (subprotocol binary, as noVNC), each in a closed loop:
#                one masked binary message carrying an RFB input event (6, 8 or 10 bytes), then
#                its answer: UPDATES updates of UPDATE_MIN..UPDATE_MAX bytes, which the server
#                writes one by one with TCP_NODELAY (the client counts the answer's bytes, not
#                frames: a bridge sends each read from its target as one message). The proxy's
#                CPU time per message, a message being one event or one update
#   bridge_idle  IDLE_SESSIONS sessions opened (the handshake, then the server's first update:
#                the 12-byte RFB banner) and held idle: (memory with them - memory before) /
#                sessions; VmRSS for rginx, the sum of PSS over nginx, websockify and its
#                children for the pair (their RSS counts the pages the children share with
#                websockify again in every child). The pair holds PAIR_SESSIONS: websockify
#                0.10 cannot hold more than ~500 (below), nor the machine that many processes
#
# Each run starts the setup afresh, checks it (bench-load vnc-check: the upgrade, the banner, one
# event and its answer), runs the load, and stops it. CPU time is utime+stime (/proc/PID/stat) of
# the setup's processes and their descendants, sampled by bench-load at the exact edges of its
# measured window (after WARMUP seconds of load on the same sessions), also printed split into
# user and kernel time. Runs go through the three setups in every round (ORDER), ROUNDS rounds per
# scenario; the report uses medians and prints every run. A run that fails ends its scenario
# with the reason; the other scenario still runs, and the script exits 1 at the end.
#
# Environment:
#   RGINX          rginx binary (default $CARGO_TARGET_DIR/release/rginx, or target/release/rginx
#                  in the repository; the argument wins)
#   NGINX          nginx binary (default /usr/sbin/nginx)
#   WEBSOCKIFY     websockify (default /usr/bin/websockify; apt-get install websockify if absent)
#   LOAD           the bench-load binary (default: built here with
#                  `cargo build --release --example bench-load`)
#   ROUNDS         measured runs per setup and scenario (default 3, at least 3)
#   DURATION       seconds measured per run (default 5)
#   WARMUP         seconds of unmeasured load per run before measuring (default 1)
#   CONNS          sessions for bridge_msg (default 50)
#   UPDATES        updates answering each event (default 4)
#   UPDATE_MIN     bytes of the smallest update (default 200)
#   UPDATE_MAX     bytes of the largest update (default 1500)
#   IDLE_SESSIONS  sessions for bridge_idle (default 5000; the proxies need 2 descriptors a
#                  session, within the open-files hard limit)
#   PAIR_SESSIONS  sessions for nginx+websockify in bridge_idle (default: IDLE_SESSIONS, at most
#                  WEBSOCKIFY_MAX_SESSIONS, and fewer when PAIR_SESSION_MIB each would leave less
#                  than MEM_RESERVE_MIB of the machine's MemAvailable at the start)
#   WEBSOCKIFY_MAX_SESSIONS  most sessions one websockify 0.10 holds (default 480): each session's
#                  process watches its sockets with select(), which fails for descriptors >= 1024
#                  ("filedescriptor out of range in select()"), and websockify's listener keeps 2
#                  descriptors per live session (the accepted socket, which multiprocessing keeps
#                  in the Process object's arguments, and the child's sentinel pipe), which every
#                  child it forks inherits: the sockets of session ~505 are past 1023
#   PAIR_SESSION_MIB  what one websockify session costs the machine, its PSS and the kernel's
#                  share (default 4: measured 3.7 MiB of MemAvailable a session here)
#   MEM_RESERVE_MIB  memory the pair's sessions leave to everything else (default 6144)
#   MEM_FLOOR_MIB  bench-load stops opening sessions (the run fails) if MemAvailable falls below
#                  this (default 2048)
#   IDLE_PARALLEL  sessions being opened at once (default 64; websockify listens with backlog 100)
#   IDLE_SETTLE    seconds between the last session opening and the memory sample (default 1)
#   IDLE_TIMEOUT   seconds allowed to open the sessions (default 600: websockify forks each)
#   PROXY_CPU      core for the setup under test (default 1)
#   LOAD_CPU       core for the load generator, the target and the upstream (default 0)
#   NICE           priority for all of them (default -10 as root, else 0); each runs in its own
#                  session, whose autogroup gets it too
#   SCENARIOS      subset of the scenarios above (default: both)
#   ORDER          ab (nginx+websockify, rginx-bridge, rginx-proxy in every round), ba (the
#                  reverse), or abba (default: the two orders alternate by round)
#   BENCH_JSON     summary file (default $CARGO_TARGET_DIR/bench-bridge.json, or
#                  target/bench-bridge.json in the repository)
#   KEEP=1         keep the work directory (configs, logs, raw output)
#   STRICT=1       exit 2 when a goal is missed (otherwise 0 when every run worked)
#
# Exit status: 0 when every run worked; 1 on any failure; 2 with STRICT=1 on a miss.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$repo/target}
RGINX=${1:-${RGINX:-$target_dir/release/rginx}}
NGINX=${NGINX:-/usr/sbin/nginx}
WEBSOCKIFY=${WEBSOCKIFY:-/usr/bin/websockify}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-50}
UPDATES=${UPDATES:-4}
UPDATE_MIN=${UPDATE_MIN:-200}
UPDATE_MAX=${UPDATE_MAX:-1500}
IDLE_SESSIONS=${IDLE_SESSIONS:-5000}
PAIR_SESSION_MIB=${PAIR_SESSION_MIB:-4}
MEM_RESERVE_MIB=${MEM_RESERVE_MIB:-6144}
MEM_FLOOR_MIB=${MEM_FLOOR_MIB:-2048}
IDLE_PARALLEL=${IDLE_PARALLEL:-64}
IDLE_SETTLE=${IDLE_SETTLE:-1}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-600}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
if [ "$(id -u)" = 0 ]; then NICE=${NICE:--10}; else NICE=${NICE:-0}; fi
SCENARIOS=${SCENARIOS:-bridge_msg bridge_idle}
ORDER=${ORDER:-abba}
BENCH_JSON=${BENCH_JSON:-$target_dir/bench-bridge.json}
GFLAGS='daemon off; master_process off;'
WS_PATH=/websockify

BENCH_NAME=bridge.sh
# shellcheck source=tests/bench/common.sh
. "$here/common.sh"
is_uint() { [ -n "$1" ] && [ "$1" -ge "${2:-0}" ] 2>/dev/null; }

is_uint "$ROUNDS" 3 || die "ROUNDS must be at least 3 (got $ROUNDS)"
is_uint "$DURATION" 1 || die "DURATION must be a whole number of seconds >= 1 (got $DURATION)"
is_uint "$WARMUP" || die "WARMUP must be a whole number of seconds (got $WARMUP)"
is_uint "$CONNS" 1 && is_uint "$UPDATES" 1 || die "CONNS and UPDATES must be >= 1"
is_uint "$UPDATE_MIN" 1 && is_uint "$UPDATE_MAX" "$UPDATE_MIN" && [ "$UPDATE_MAX" -le 65535 ] \
    || die "need 1 <= UPDATE_MIN <= UPDATE_MAX <= 65535 (got $UPDATE_MIN, $UPDATE_MAX)"
is_uint "$IDLE_SESSIONS" 1 && is_uint "$IDLE_PARALLEL" 1 && is_uint "$IDLE_TIMEOUT" 1 \
    || die "IDLE_SESSIONS, IDLE_PARALLEL and IDLE_TIMEOUT must be >= 1"
is_uint "$PAIR_SESSION_MIB" 1 && is_uint "$MEM_RESERVE_MIB" && is_uint "$MEM_FLOOR_MIB" \
    || die "PAIR_SESSION_MIB must be >= 1, MEM_RESERVE_MIB and MEM_FLOOR_MIB whole MiB"
[ "$NICE" -ge -20 ] 2>/dev/null && [ "$NICE" -le 19 ] || die "NICE must be -20..19 (got $NICE)"
case $ORDER in ab|ba|abba) ;; *) die "ORDER must be ab, ba or abba (got $ORDER)";; esac
for s in $SCENARIOS; do
    case $s in bridge_msg|bridge_idle) ;; *) die "unknown scenario '$s' (bridge_msg bridge_idle)";; esac
done
[ -x "$RGINX" ] || die "rginx binary not found or not executable: $RGINX (build with cargo build --release, or pass its path)"
[ -x "$NGINX" ] || die "nginx binary not found: $NGINX"
command -v taskset >/dev/null || die "taskset (util-linux) is missing"
command -v python3 >/dev/null || die "python3 is missing"
[ "$(nproc --all)" -gt "$PROXY_CPU" ] && [ "$(nproc --all)" -gt "$LOAD_CPU" ] \
    || die "cores $LOAD_CPU and $PROXY_CPU are needed (this machine has $(nproc --all))"
[ -x "$WEBSOCKIFY" ] || { apt_install websockify; WEBSOCKIFY=$(command -v websockify) || die "websockify is missing"; }

# Every process started here inherits this: 2 descriptors per idle session in the proxy (nginx
# or rginx), one per session in the client, the target and websockify's listener (its
# multiprocessing sentinels), and each forked websockify child inherits the sentinels of those
# before it.
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -Sn)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
# worker_connections: the sessions' two connections each, those being opened, and room above
# that: once fewer than 1/16 of its connections are free, nginx closes connections that are
# still waiting for their request ("worker_connections are not enough, reusing connections").
in_use=$((2 * IDLE_SESSIONS + 2 * IDLE_PARALLEL + 64))
WORKER_CONNECTIONS=$((in_use * 16 / 15 + 128))
[ "$WORKER_CONNECTIONS" -lt 4096 ] && WORKER_CONNECTIONS=4096
[ "$WORKER_CONNECTIONS" -le "$NOFILE" ] \
    || die "IDLE_SESSIONS=$IDLE_SESSIONS needs worker_connections $WORKER_CONNECTIONS and as many open files in the proxy; the open-files limit is $NOFILE"

# How many sessions the pair holds: websockify 0.10's own limit (WEBSOCKIFY_MAX_SESSIONS, see
# above), and the memory of the forked processes: ~3.4 MB PSS each plus page tables and kernel
# stacks; the machine is shared, so MEM_RESERVE_MIB stays free.
WEBSOCKIFY_MAX_SESSIONS=${WEBSOCKIFY_MAX_SESSIONS:-480}
is_uint "$WEBSOCKIFY_MAX_SESSIONS" 1 || die "WEBSOCKIFY_MAX_SESSIONS must be >= 1"
avail_mib=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
pair_fit=$(( (avail_mib - MEM_RESERVE_MIB) / PAIR_SESSION_MIB ))
[ "$pair_fit" -ge 0 ] || pair_fit=0
if [ -n "${PAIR_SESSIONS:-}" ]; then
    is_uint "$PAIR_SESSIONS" 1 && [ "$PAIR_SESSIONS" -le "$IDLE_SESSIONS" ] \
        || die "PAIR_SESSIONS must be 1..IDLE_SESSIONS (got $PAIR_SESSIONS)"
    pair_why="(PAIR_SESSIONS)"
elif [ "$IDLE_SESSIONS" -le "$WEBSOCKIFY_MAX_SESSIONS" ] && [ "$IDLE_SESSIONS" -le "$pair_fit" ]; then
    PAIR_SESSIONS=$IDLE_SESSIONS
    pair_why=""
elif [ "$WEBSOCKIFY_MAX_SESSIONS" -le "$pair_fit" ]; then
    PAIR_SESSIONS=$WEBSOCKIFY_MAX_SESSIONS
    pair_why="(not $IDLE_SESSIONS: websockify 0.10 fails past ~505 sessions, 'filedescriptor out of range in select()', WEBSOCKIFY_MAX_SESSIONS; per-session figures stay comparable)"
else
    PAIR_SESSIONS=$pair_fit
    pair_why="(not $IDLE_SESSIONS: at ~$PAIR_SESSION_MIB MiB a websockify session, more would leave less than MEM_RESERVE_MIB=$MEM_RESERVE_MIB of the $avail_mib MiB available; per-session figures stay comparable)"
fi
case " $SCENARIOS " in
    *" bridge_idle "*) [ "$PAIR_SESSIONS" -ge 10 ] || die "only $PAIR_SESSIONS websockify sessions fit in memory ($avail_mib MiB available, MEM_RESERVE_MIB=$MEM_RESERVE_MIB): too few for bridge_idle";;
esac

if [ -z "${LOAD:-}" ]; then
    echo "building bench-load (cargo build --release --example bench-load) ..." >&2
    (cd "$repo" && cargo build --release --example bench-load -q) || die "could not build bench-load"
    LOAD=$target_dir/release/examples/bench-load
fi
[ -x "$LOAD" ] || die "bench-load not found: $LOAD"

RGINX=$(cd "$(dirname "$RGINX")" && pwd)/$(basename "$RGINX")
case $BENCH_JSON in /*) ;; *) BENCH_JSON=$PWD/$BENCH_JSON;; esac

bench_workdir bridge    # $work; $pids: every long-running process started here
# websockify forks a process per session: the ones running when the script ends go with it.
websockify_pid=""
trap 'stop_tree "$websockify_pid"; bench_cleanup' EXIT

# on_load CMD...: CMD on the load core, in its own session at NICE
on_load() { on_cpu "$LOAD_CPU" 0 "$@"; }
answer_args=(--updates "$UPDATES" --min-update "$UPDATE_MIN" --max-update "$UPDATE_MAX")

# ------------------------------------------------------------ the configs ---
read -r TARGET_PORT UP_PORT WSFY_PORT PORT < <(helper ports 4)
mkdir -p "$work/load" "$work/pair/logs" "$work/bridge/logs" "$work/proxy/logs" "$work/websockify"

temp_paths='client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;'

# conf FILE LOCATION_BODY: the file all three setups share but for the location's content
conf() {
    cat > "$1" <<EOF
# $(basename "$1" .conf): the location of this setup; the rest is the same for all three
worker_processes 1;
worker_rlimit_nofile $NOFILE;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections $WORKER_CONNECTIONS; }
http {
    access_log off;
    $temp_paths

    server {
        listen 127.0.0.1:$PORT backlog=4096;

        location $WS_PATH {
$2
        }
    }
}
EOF
}
# The noVNC documentation's nginx location in front of websockify (and the same in front of a
# WebSocket server for rginx-proxy)
proxied() {
    cat <<EOF
            proxy_pass http://127.0.0.1:$1;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 1h;
EOF
}
conf "$work/pair.conf" "$(proxied "$WSFY_PORT")"
conf "$work/proxy.conf" "$(proxied "$UP_PORT")"
conf "$work/bridge.conf" "            websockify_pass 127.0.0.1:$TARGET_PORT;
            websockify_read_timeout 1h;
            websockify_send_timeout 1h;"

label() {
    case $1 in
        pair) echo nginx+websockify;;
        bridge) echo rginx-bridge;;
        proxy) echo rginx-proxy;;
    esac
}
setup_bin() { case $1 in pair) echo "$NGINX";; *) echo "$RGINX";; esac; }
# setup_order ROUND: the setups of a round in the order ORDER gives
setup_order() {
    if [ "$ORDER" = ba ] || { [ "$ORDER" = abba ] && [ $(($1 % 2)) = 0 ]; }; then
        echo "proxy bridge pair"
    else
        echo "pair bridge proxy"
    fi
}
# setup_failed NAME MESSAGE: print why a run failed, with the setup's output and logs
setup_failed() {
    local name=$1 prefix=$work/$1
    echo "FAIL: $(label "$name"): $2" >&2
    echo "  command: taskset -c $PROXY_CPU $(setup_bin "$name") -p $prefix/ -c $work/$name.conf -g '$GFLAGS'" >&2
    if [ "$name" = pair ]; then
        echo "  command: taskset -c $PROXY_CPU $WEBSOCKIFY 127.0.0.1:$WSFY_PORT 127.0.0.1:$TARGET_PORT" >&2
        sed 's/^/  websockify: /' "$work/websockify/output.log" 2>/dev/null | tail -n 30 >&2 || true
    fi
    sed 's/^/  output: /' "$prefix/output.log" 2>/dev/null | tail -n 30 >&2 || true
    sed 's/^/  error.log: /' "$prefix/logs/error.log" 2>/dev/null | tail -n 30 >&2 || true
    sed 's/^/  target: /' "$work/load/target.log" 2>/dev/null | tail -n 10 >&2 || true
    KEEP=1
}

# ------------------------------------------------- the target, the upstream ---
start_on_cpu "$LOAD_CPU" 0 "$work/load/target.log" "$LOAD" vnc-target --listen "127.0.0.1:$TARGET_PORT" "${answer_args[@]}"
target_pid=$started_pid
"$LOAD" vnc-check "tcp://127.0.0.1:$TARGET_PORT" "${answer_args[@]}" --pid "$target_pid" \
    || { cat "$work/load/target.log" >&2; KEEP=1; die "the VNC target did not start"; }
start_on_cpu "$LOAD_CPU" 0 "$work/load/upstream.log" "$LOAD" ws-vnc-upstream --listen "127.0.0.1:$UP_PORT" "${answer_args[@]}"
up_pid=$started_pid
"$LOAD" vnc-check "ws://127.0.0.1:$UP_PORT$WS_PATH" "${answer_args[@]}" --pid "$up_pid" \
    || { cat "$work/load/upstream.log" >&2; KEEP=1; die "the WebSocket VNC upstream did not start"; }

# -------------------------------------------------------------- one run -----
results=$work/results
: > "$results"
# stop_setup NAME PID: the setup's processes, by PID (websockify with the children it forked)
stop_setup() {
    stop_pid "$2"; forget_pid "$2"
    if [ "$1" = pair ] && [ -n "$websockify_pid" ]; then
        stop_tree "$websockify_pid"; forget_pid "$websockify_pid"; websockify_pid=""
    fi
}
# run_one SCENARIO ROUND SETUP: appends a result line; returns 1 (having said why) on failure
run_one() {
    local sc=$1 round=$2 name=$3 prefix=$work/$3 pid out line r="" ok=1 roots=() w0="" w1="" n0="" n1=""
    out=$work/$sc.$round.$name
    rm -f "$prefix/logs/error.log"
    if [ "$name" = pair ]; then
        start_on_cpu "$PROXY_CPU" 0 "$work/websockify/output.log" \
            "$WEBSOCKIFY" "127.0.0.1:$WSFY_PORT" "127.0.0.1:$TARGET_PORT"
        websockify_pid=$started_pid
        if ! "$LOAD" vnc-check "ws://127.0.0.1:$WSFY_PORT$WS_PATH" "${answer_args[@]}" --pid "$websockify_pid" 2>"$out.check"; then
            setup_failed "$name" "websockify: $(cat "$out.check")"
            stop_setup pair ""
            return 1
        fi
    fi
    start_on_cpu "$PROXY_CPU" 0 "$prefix/output.log" "$(setup_bin "$name")" -p "$prefix/" -c "$work/$name.conf" -g "$GFLAGS"
    pid=$started_pid
    roots=("$pid")
    if [ "$name" = pair ]; then roots+=("$websockify_pid"); fi
    local pid_args=() r_
    for r_ in "${roots[@]}"; do pid_args+=(--pid "$r_"); done
    if ! "$LOAD" vnc-check "ws://127.0.0.1:$PORT$WS_PATH" "${answer_args[@]}" "${pid_args[@]}" 2>"$out.check"; then
        setup_failed "$name" "$(cat "$out.check")"
        stop_setup "$name" "$pid"
        return 1
    fi
    case $sc in
        bridge_msg)
            local cpu_args=()
            for r_ in "${roots[@]}"; do cpu_args+=(--cpu-of "$r_"); done
            # nginx's and websockify's shares of the pair's CPU, over the whole run (info)
            if [ "$name" = pair ]; then
                read -r n0 _ _ _ < <(helper sample "$pid")
                read -r w0 _ _ _ < <(helper sample "$websockify_pid")
            fi
            on_load "$LOAD" vnc-load --addr "127.0.0.1:$PORT" --path "$WS_PATH" --conns "$CONNS" "${answer_args[@]}" \
                --warmup "$WARMUP" --duration "$DURATION" "${cpu_args[@]}" >"$out" 2>&1 || ok=0
            if [ "$name" = pair ]; then
                read -r n1 _ _ _ < <(helper sample "$pid")
                read -r w1 _ _ _ < <(helper sample "$websockify_pid")
            fi
            ;;
        bridge_idle)
            local n=$IDLE_SESSIONS mem_args=()
            if [ "$name" = pair ]; then n=$PAIR_SESSIONS; fi
            for r_ in "${roots[@]}"; do mem_args+=(--mem-of "$r_"); done
            # the client holds the sessions until it has sampled the setup's memory
            on_load "$LOAD" vnc-idle --addr "127.0.0.1:$PORT" --path "$WS_PATH" --conns "$n" \
                --parallel "$IDLE_PARALLEL" --settle "$IDLE_SETTLE" --timeout "$IDLE_TIMEOUT" \
                --min-available-mib "$MEM_FLOOR_MIB" "${mem_args[@]}" >"$out" 2>&1 || ok=0
            ;;
    esac
    r=$(grep '^BENCH ' "$out" 2>/dev/null | tail -n 1 | cut -d' ' -f2-) || true
    local dead=""
    for r_ in "${roots[@]}"; do alive "$r_" || dead=" (process $r_ exited)"; done
    if [ "$ok" = 0 ] || [ -z "$r" ] || [ -n "$dead" ]; then
        setup_failed "$name" "$sc: $(grep -v '^BENCH \|^FRAMES ' "$out" 2>/dev/null | tail -n 5)$dead"
        stop_setup "$name" "$pid"
        return 1
    fi
    stop_setup "$name" "$pid"
    r="$r $(grep '^FRAMES ' "$out" 2>/dev/null | tail -n 1 | cut -d' ' -f2-)"
    if [ -n "$w1" ]; then r="$r nginx_ticks_run=$((n1 - n0)) websockify_ticks_run=$((w1 - w0))"; fi
    line="scenario=$sc round=$round setup=$name $r"
    echo "$line" >> "$results"
    python3 - "$line" "$(getconf CLK_TCK)" "$(label "$name")" <<'PY'
import sys
kv = dict(x.split("=", 1) for x in sys.argv[1].split())
clk, label = int(sys.argv[2]), sys.argv[3]
head = f"  {kv['scenario']:<11} round {kv['round']}  {label:<16}"
if kv["scenario"] == "bridge_idle":
    n = int(kv["sessions"])
    rss = (int(kv["rss_kib"]) - int(kv["rss_before_kib"])) * 1024 / n
    pss = (int(kv["pss_kib"]) - int(kv["pss_before_kib"])) * 1024 / n
    per, by = (pss, "PSS") if kv["setup"] == "pair" else (rss, "RSS")
    print(f"{head}  {n} sessions  RSS {int(kv['rss_before_kib']) / 1024:.1f} -> {int(kv['rss_kib']) / 1024:.1f} MB"
          f"  PSS {int(kv['pss_before_kib']) / 1024:.1f} -> {int(kv['pss_kib']) / 1024:.1f} MB"
          f"  {per:9.0f} bytes/session ({by})  {kv['procs']} processes  (opened in {int(kv['open_ms']) / 1000:.1f} s)", flush=True)
else:
    n, us = int(kv["messages"]), int(kv["duration_us"])
    cpu = int(kv["cpu_ticks"]) / clk
    user = int(kv["user_ticks"]) / clk
    fpa = int(kv["frames"]) / max(int(kv["answers"]), 1)
    share = ""
    if "websockify_ticks_run" in kv:
        w, g = int(kv["websockify_ticks_run"]), int(kv["nginx_ticks_run"])
        share = f"  websockify {w / max(w + g, 1) * 100:.0f}% of it"
    print(f"{head}  {n / us * 1e6:9.1f} messages/s  {cpu / n * 1e6:7.2f} us CPU per message"
          f" (user {user / n * 1e6:5.2f}, kernel {(cpu - user) / n * 1e6:5.2f})"
          f"  busy {cpu / us * 1e8:5.1f}%  {fpa:.2f} frames/answer  {kv['procs']} processes{share}", flush=True)
PY
}

# ------------------------------------------------------------------ main ----
echo "rginx websockify_pass vs nginx + websockify vs rginx proxying a WebSocket (noVNC-shaped load)"
echo "nginx:      $NGINX ($("$NGINX" -v 2>&1 | sed 's/.*version: //'))"
echo "websockify: $WEBSOCKIFY ($(dpkg-query -W -f '${Version}' websockify 2>/dev/null || echo '?'))"
echo "rginx:      $RGINX"
echo "load:       $LOAD"
echo "setups on CPU $PROXY_CPU (websockify too); load, target and upstream on CPU $LOAD_CPU; nice $NICE (autogroup $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo n/a)); open files $NOFILE"
echo "$ROUNDS rounds x ${DURATION}s (+${WARMUP}s warm-up), order $ORDER; scenarios: $SCENARIOS"
echo "bridge_msg: $CONNS sessions, an event (6-10 bytes) answered by $UPDATES updates of $UPDATE_MIN-$UPDATE_MAX bytes"
echo "bridge_idle: $IDLE_SESSIONS sessions; nginx+websockify: $PAIR_SESSIONS${pair_why:+ $pair_why}"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average at start: $load_start; MemAvailable $avail_mib MiB"
echo

started=$(date +%s)
failed=$work/failed
: > "$failed"
for sc in $SCENARIOS; do
    for ((round = 1; round <= ROUNDS; round++)); do
        broken=""
        for name in $(setup_order "$round"); do
            run_one "$sc" "$round" "$name" || { broken=$name; break; }
        done
        if [ -n "$broken" ]; then
            echo "scenario=$sc setup=$broken round=$round" >> "$failed"
            echo "  $sc: $(label "$broken") failed in round $round: the scenario's remaining runs are skipped" >&2
            break
        fi
    done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "load average at end: $load_end; took $(( $(date +%s) - started )) s"

mkdir -p "$(dirname "$BENCH_JSON")"
NGINX="$NGINX" RGINX="$RGINX" WEBSOCKIFY="$WEBSOCKIFY" ROUNDS="$ROUNDS" DURATION="$DURATION" WARMUP="$WARMUP" \
CONNS="$CONNS" UPDATES="$UPDATES" UPDATE_MIN="$UPDATE_MIN" UPDATE_MAX="$UPDATE_MAX" IDLE_SESSIONS="$IDLE_SESSIONS" \
PAIR_SESSIONS="$PAIR_SESSIONS" PAIR_WHY="$pair_why" PROXY_CPU="$PROXY_CPU" LOAD_CPU="$LOAD_CPU" NICE="$NICE" ORDER="$ORDER" \
LOAD_START="$load_start" LOAD_END="$load_end" SCENARIOS="$SCENARIOS" \
python3 - "$results" "$failed" "$BENCH_JSON" "${STRICT:-0}" "$(getconf CLK_TCK)" <<'PY'
import json, os, statistics, sys

path, failed_path, out, strict, clk = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1", int(sys.argv[5])
env = os.environ
meta = {k.lower(): env[k] for k in ("NGINX", "RGINX", "WEBSOCKIFY", "ORDER", "LOAD_START", "LOAD_END", "PAIR_WHY")}
meta.update({k.lower(): int(env[k]) for k in ("ROUNDS", "DURATION", "WARMUP", "CONNS", "UPDATES", "UPDATE_MIN",
                                              "UPDATE_MAX", "IDLE_SESSIONS", "PAIR_SESSIONS", "PROXY_CPU",
                                              "LOAD_CPU", "NICE")})
SETUPS = ("pair", "bridge", "proxy")
LABEL = {"pair": "nginx+websockify", "bridge": "rginx-bridge", "proxy": "rginx-proxy"}
TITLES = {
    "bridge_msg": f"noVNC-shaped sessions, {env['CONNS']} of them: an event answered by {env['UPDATES']} updates "
                  f"of {env['UPDATE_MIN']}-{env['UPDATE_MAX']} bytes",
    "bridge_idle": f"idle sessions ({env['IDLE_SESSIONS']}; nginx+websockify {env['PAIR_SESSIONS']}): memory per session",
}
# scenario -> metric -> [(numerator, denominator, "le"/"ge", goal, counts toward the verdict)]
# CPU time per message is the throughput measure, as in ws_tls.sh: a setup needing 1/x of the
# other's CPU per message serves x times the messages on a core it saturates.
GOALS = {
    "bridge_msg": {"cpu_us": [("bridge", "pair", "le", 0.3, True), ("bridge", "proxy", "le", 1.0, True)]},
    "bridge_idle": {"bytes_per_session": [("bridge", "pair", "le", 0.3, True), ("bridge", "proxy", "le", 1.0, False)]},
}
# metric, label, format
LABELS = [
    ("rate", "messages/s", "{:.1f}"),
    ("cpu_us", "CPU/message (us)", "{:.2f}"),
    ("user_us", "  user part (us)", "{:.2f}"),
    ("kernel_us", "  kernel part (us)", "{:.2f}"),
    ("busy_pct", "CPU busy (% of a core)", "{:.1f}"),
    ("frames_per_answer", "frames per answer", "{:.2f}"),
    ("sessions", "sessions", "{:.0f}"),
    ("rss_before_mb", "RSS before (MB)", "{:.1f}"),
    ("rss_mb", "RSS with sessions (MB)", "{:.1f}"),
    ("pss_before_mb", "PSS before (MB)", "{:.1f}"),
    ("pss_mb", "PSS with sessions (MB)", "{:.1f}"),
    ("rss_per_session", "RSS bytes/session", "{:.0f}"),
    ("pss_per_session", "PSS bytes/session", "{:.0f}"),
    ("bytes_per_session", "bytes/session (*)", "{:.0f}"),
    ("open_s", "opening took (s)", "{:.1f}"),
]
LABEL_OF = {k: lab.strip() for k, lab, _ in LABELS}

runs = []
for line in open(path):
    kv = dict(x.split("=", 1) for x in line.split())
    sc = kv["scenario"]
    r = {"scenario": sc, "round": int(kv["round"]), "setup": kv["setup"], "raw": kv}
    if sc == "bridge_idle":
        n = int(kv["sessions"])
        rss = (int(kv["rss_kib"]) - int(kv["rss_before_kib"])) * 1024 / n
        pss = (int(kv["pss_kib"]) - int(kv["pss_before_kib"])) * 1024 / n
        r.update(sessions=n, rss_before_mb=int(kv["rss_before_kib"]) / 1024, rss_mb=int(kv["rss_kib"]) / 1024,
                 pss_before_mb=int(kv["pss_before_kib"]) / 1024, pss_mb=int(kv["pss_kib"]) / 1024,
                 rss_per_session=rss, pss_per_session=pss,
                 bytes_per_session=pss if kv["setup"] == "pair" else rss,
                 open_s=int(kv["open_ms"]) / 1000, processes=int(kv["procs"]))
    else:
        n = int(kv["messages"])
        us = int(kv["duration_us"])
        cpu = int(kv["cpu_ticks"]) / clk
        user = int(kv["user_ticks"]) / clk
        r.update(count=n, duration_s=us / 1e6, rate=n / us * 1e6, cpu_s=cpu, cpu_us=cpu / n * 1e6,
                 user_us=user / n * 1e6, kernel_us=(cpu - user) / n * 1e6, busy_pct=cpu / (us / 1e6) * 100,
                 frames_per_answer=int(kv["frames"]) / max(int(kv["answers"]), 1), processes=int(kv["procs"]))
        if "websockify_ticks_run" in kv:
            w, g = int(kv["websockify_ticks_run"]), int(kv["nginx_ticks_run"])
            r["websockify_share"] = w / max(w + g, 1)
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
    print(f"\n{sc}: {TITLES[sc]}")
    if sc in failed:
        f = failed[sc]
        print(f"  FAILED: {LABEL[f['setup']]} failed in round {f['round']} (reason above); no comparison")
        summary["all_pass"] = False
        summary["scenarios"].append({"name": sc, "title": TITLES[sc], "pass": False, "failed": f, "runs": rs})
        continue
    keys = [k for k, *_ in LABELS if k in rs[0]]
    heads = {"rate": "msg/s", "cpu_us": "CPU us", "user_us": "user us", "kernel_us": "kernel us", "busy_pct": "busy %",
             "frames_per_answer": "frames/ans", "sessions": "sessions", "rss_before_mb": "RSS0 MB", "rss_mb": "RSS MB",
             "pss_before_mb": "PSS0 MB", "pss_mb": "PSS MB", "rss_per_session": "RSS B/s", "pss_per_session": "PSS B/s",
             "bytes_per_session": "B/session", "open_s": "open s"}
    print(f"  {'round':>5} {'setup':<16}" + "".join(f" {heads[k]:>10}" for k in keys))
    for r in rs:
        print(f"  {r['round']:>5} {LABEL[r['setup']]:<16}" + "".join(f" {fmt(spec, r[k]):>10}" for k, _, spec in LABELS if k in keys))
    med = {s: {k: statistics.median(r[k] for r in rs if r["setup"] == s) for k in keys} for s in SETUPS}
    print(f"\n  {'median':<24} {'nginx+wsfy':>10} {'r-bridge':>10} {'r-proxy':>10} {'b/(n+w)':>8} {'b/proxy':>8}")
    for k, lab, spec in LABELS:
        if k not in keys:
            continue
        m = med
        # the pair may hold fewer sessions than rginx: a ratio of the counts says nothing
        rb = lambda d: m["bridge"][k] / m[d][k] if m[d][k] and k != "sessions" else None
        print(f"  {lab:<24} {fmt(spec, m['pair'][k]):>10} {fmt(spec, m['bridge'][k]):>10} {fmt(spec, m['proxy'][k]):>10}"
              f" {fmt('{:.3f}', rb('pair')):>8} {fmt('{:.3f}', rb('proxy')):>8}")
    if sc == "bridge_idle":
        print("  (*) bytes/session: VmRSS for rginx; for nginx+websockify the sum of PSS over nginx, websockify and its")
        print("      children, because RSS counts the pages each forked child shares with websockify again in every")
        print("      child (the RSS bytes/session row shows by how much).")
        if env["PAIR_WHY"]:
            print(f"      nginx+websockify held {env['PAIR_SESSIONS']} sessions {env['PAIR_WHY']}")
    if sc == "bridge_msg":
        shares = [r["websockify_share"] for r in rs if "websockify_share" in r]
        if shares:
            print(f"  websockify's part of the pair's CPU (whole runs, median): {statistics.median(shares) * 100:.0f}%")
        print("  a message is one client event or one server update. Frames per answer: the WebSocket frames")
        print(f"  that carried an answer of {env['UPDATES']} updates (a bridge sends each read from its target as one")
        print("  message, so updates read together travel as one; the proxied path passes the upstream's on)")
    print(f"\n  {'goal':<52} {'ratio':>7}  {'target':<10} result")
    metrics, verdict = [], True
    for k, goals in GOALS[sc].items():
        for num, den, kind, val, counts in goals:
            a, b = med[num][k], med[den][k]
            ratio = a / b if b else None
            ok = ratio is not None and (ratio >= val if kind == "ge" else ratio <= val)
            res = ("PASS" if ok else "MISS") + ("" if counts else " (info)")
            if counts:
                verdict &= ok
            name = f"{LABEL_OF[k]}: {LABEL[num]} / {LABEL[den]}"
            print(f"  {name:<52} {fmt('{:.3f}', ratio):>7}  {('<= ' if kind == 'le' else '>= ') + str(val):<10} {res}")
            metrics.append({"metric": k, "numerator": num, "denominator": den, "ratio": ratio,
                            "goal": f"{'<=' if kind == 'le' else '>='} {val}", "pass": ok, "counts": counts})
    print(f"  => {sc}: {'PASS' if verdict else 'MISS'}")
    summary["all_pass"] &= verdict
    summary["scenarios"].append({"name": sc, "title": TITLES[sc], "pass": verdict, "median": med,
                                 "metrics": metrics, "runs": rs})
print()
print("CPU per message is the throughput measure (the load core saturates first, so messages/s mostly")
print("measures the load generator); messages/s is printed for information.")
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
