# Shell helpers shared by the benchmarks that run nginx and rginx side by side (runtime.sh,
# ws_tls.sh, bridge.sh). Sourced, not run: the script sets BENCH_NAME (for messages), NGINX,
# RGINX and NICE first, then calls bench_workdir once from its top level.
#
# Defines: die, as_root, apt_install, helper (helper.py), on_cpu, start_on_cpu, bench_workdir (work, pids,
# cleanup traps), stop_pid, stop_tree, alive, forget_pid, field, proxy_bin.

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# apt_install PACKAGE...: as tests/run.sh does it (apt-get update only when needed)
apt_install() {
    echo "installing $* ..." >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
        || { as_root apt-get update -qq >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive \
                 apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } \
        || die "could not install: $*"
}

helper() { python3 "$bench_dir/helper.py" "$@"; }

# on_cpu CPU RT CMD...: runs CMD pinned to CPU, in its own session at NICE (its autogroup too),
# under SCHED_RR priority 1 when RT is 1, and waits for it
on_cpu() {
    local cpu=$1 rt=$2
    shift 2
    python3 "$bench_dir/helper.py" exec "$NICE" "$rt" taskset -c "$cpu" "$@"
}
# start_on_cpu CPU RT LOG CMD...: the same in the background, output to LOG; sets $started_pid to
# CMD's PID (python, taskset and CMD exec in turn, so $! is CMD itself: `on_cpu ... &` would be
# a subshell's PID) and adds it to $pids
start_on_cpu() {
    local cpu=$1 rt=$2 log=$3
    shift 3
    python3 "$bench_dir/helper.py" exec "$NICE" "$rt" taskset -c "$cpu" "$@" >"$log" 2>&1 &
    started_pid=$!
    pids+=("$started_pid")
}

# bench_workdir NAME: a fresh work directory in $work and the traps that stop every PID in
# $pids and remove $work (kept with KEEP=1) when the script ends, Ctrl-C included
bench_workdir() {
    work=$(mktemp -d "/tmp/rginx-$1.XXXXXX")
    pids=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
bench_cleanup() {
    local pid
    for pid in "${pids[@]}"; do stop_pid "$pid"; done
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}

# stop_pid PID: SIGTERM, up to 5 s, then SIGKILL; reaps it (all PIDs here are our children)
stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
# stop_tree PID: stop_pid for a process that forks its own children (websockify: one per
# session), then, by PID, the descendants it left behind (helper.py stop_listed: SIGTERM, up to
# 5 s, SIGKILL; each checked by its start time, so a PID reused meanwhile is left alone)
stop_tree() {
    local pid=$1 kids
    [ -n "$pid" ] || return 0
    kids=$(helper tree "$pid" 2>/dev/null) || kids=""
    stop_pid "$pid"
    [ -z "$kids" ] || helper stop_listed <<< "$kids" || true
}
# alive PID: the process exists and is not a zombie (bash only, no fork)
alive() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    [ "${s%% *}" != Z ] && [ "${s%% *}" != X ]
}
# forget_pid PID: drop PID from $pids (it was stopped)
forget_pid() {
    local keep=() p
    for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    pids=("${keep[@]+"${keep[@]}"}")
}

# field NAME "k=v k=v ..." -> v (0 when absent)
field() { local kv; for kv in $2; do [ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }; done; echo 0; }

proxy_bin() {
    case $1 in
        nginx) echo "$NGINX";;
        old) echo "$BASELINE";;
        *) echo "$RGINX";;
    esac
}

# proxy_order ROUND: the proxies of a round, in the order ORDER gives (ab: nginx first; ba:
# rginx first; abba: alternating by round). With BASELINE (an older rginx binary), it runs
# between the two: nginx, old, rginx (or the reverse), so the three share every round.
proxy_order() {
    local names="nginx rginx"
    [ -n "${BASELINE:-}" ] && names="nginx old rginx"
    if [ "$ORDER" = ba ] || { [ "$ORDER" = abba ] && [ $(($1 % 2)) = 0 ]; }; then
        echo "$names" | awk '{ for (i = NF; i > 0; i--) printf "%s%s", $i, (i > 1 ? " " : "\n") }'
    else
        echo "$names"
    fi
}
