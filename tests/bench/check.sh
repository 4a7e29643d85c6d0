#!/usr/bin/env bash
# Benchmark: `rginx -t` against `nginx -t` on a generated configuration
# (10,000 server blocks x 3 locations, a 10,000-entry map), side by side.
#
# Usage: tests/bench/check.sh [RGINX_BINARY]
#
# Environment:
#   RGINX        rginx binary (default ./target/release/rginx; the argument wins)
#   NGINX        nginx binary (default /usr/sbin/nginx)
#   ROUNDS       measured rounds per program (default 7, at least 5)
#   WARMUP       unmeasured runs of each program first (default 1)
#   CPU          core both programs are pinned to with taskset (default 1)
#   SERVERS      server blocks to generate (default 10000)
#   MAP_ENTRIES  map entries to generate (default 10000)
#   GOAL         largest acceptable rginx/nginx ratio (default 0.25)
#   KEEP=1       keep the generated directory
#
# Runs alternate nginx, rginx, nginx, rginx, ... Each run is timed by
# /usr/bin/time -f "%e %M" (wall seconds, peak RSS in KiB). Both programs
# must exit 0 on every run, or the script fails. Exit status: 0 when both
# runs passed (whether or not the goal is met); 1 on any failure; set
# STRICT=1 to also exit 2 when the goal is missed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RGINX=${1:-${RGINX:-./target/release/rginx}}
NGINX=${NGINX:-/usr/sbin/nginx}
ROUNDS=${ROUNDS:-7}
WARMUP=${WARMUP:-1}
CPU=${CPU:-1}
SERVERS=${SERVERS:-10000}
MAP_ENTRIES=${MAP_ENTRIES:-10000}
GOAL=${GOAL:-0.25}

die() { echo "check.sh: $*" >&2; exit 1; }

[ "$ROUNDS" -ge 5 ] 2>/dev/null || die "ROUNDS must be at least 5 (got $ROUNDS)"
[ -x "$RGINX" ] || die "rginx binary not found or not executable: $RGINX (build with cargo build --release, or pass its path)"
[ -x "$NGINX" ] || die "nginx binary not found: $NGINX"
command -v taskset >/dev/null || die "taskset (util-linux) is missing"
command -v python3 >/dev/null || die "python3 is missing"
if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time (/usr/bin/time) ..." >&2
    apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; } \
        || die "could not install the 'time' package"
fi
RGINX=$(cd "$(dirname "$RGINX")" && pwd)/$(basename "$RGINX")

work=$(mktemp -d /tmp/rginx-bench.XXXXXX)
conf=$work/conf
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi; }
trap cleanup EXIT

python3 "$here/gen_check_config.py" "$conf" --servers "$SERVERS" --map-entries "$MAP_ENTRIES"
conf_bytes=$(wc -c < "$conf/nginx.conf")
conf_lines=$(wc -l < "$conf/nginx.conf")

# run NAME BIN -> appends "NAME seconds rss_kib" to $work/results; fails on non-zero exit
run() {
    local name=$1 bin=$2 record=$3 rc=0
    /usr/bin/time -o "$work/time.out" -f "%e %M" \
        taskset -c "$CPU" "$bin" -t -q -p "$conf/" -c "$conf/nginx.conf" \
        >"$work/stdout" 2>"$work/stderr" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "FAIL: $name exited $rc on the generated config:" >&2
        echo "  command: taskset -c $CPU $bin -t -q -p $conf/ -c $conf/nginx.conf" >&2
        sed 's/^/  stdout: /' "$work/stdout" | head -50 >&2
        sed 's/^/  stderr: /' "$work/stderr" | head -50 >&2
        KEEP=1
        exit 1
    fi
    if [ -s "$work/stderr" ] && [ ! -e "$work/warned.$name" ]; then
        echo "note: $name printed on stderr (exit 0):" >&2
        sed 's/^/  /' "$work/stderr" | head -20 >&2
        : > "$work/warned.$name"
    fi
    if [ "$record" = 1 ]; then
        # the last line of time's output (earlier lines may be "Command exited ...")
        echo "$name $(tail -n 1 "$work/time.out")" >> "$work/results"
    fi
}

echo "rginx -t vs nginx -t: $SERVERS servers x 3 locations, $MAP_ENTRIES-entry map"
echo "config: $conf_lines lines, $conf_bytes bytes; pinned to CPU $CPU; $ROUNDS rounds (+$WARMUP warm-up)"
echo "nginx: $NGINX ($("$NGINX" -v 2>&1 | sed 's/.*version: //'))"
echo "rginx: $RGINX"
echo

for ((i = 0; i < WARMUP; i++)); do
    run nginx "$NGINX" 0
    run rginx "$RGINX" 0
done
: > "$work/results"
for ((i = 0; i < ROUNDS; i++)); do
    run nginx "$NGINX" 1
    run rginx "$RGINX" 1
done

python3 - "$work/results" "$GOAL" "${STRICT:-0}" <<'PY'
import statistics, sys

path, goal, strict = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1"
runs = {"nginx": [], "rginx": []}
order = []
for line in open(path):
    name, secs, rss = line.split()
    runs[name].append((float(secs), int(rss)))
    order.append((name, float(secs), int(rss)))

print(f"{'round':>5}  {'program':<7}  {'time (s)':>9}  {'peak RSS (MB)':>13}")
count = {"nginx": 0, "rginx": 0}
for name, secs, rss in order:
    count[name] += 1
    print(f"{count[name]:>5}  {name:<7}  {secs:>9.2f}  {rss / 1024:>13.1f}")

med = {n: (statistics.median(s for s, _ in r), statistics.median(m for _, m in r))
       for n, r in runs.items()}
print()
print(f"{'median':<14}  {'time (s)':>9}  {'peak RSS (MB)':>13}")
for n in ("nginx", "rginx"):
    print(f"{n:<14}  {med[n][0]:>9.3f}  {med[n][1] / 1024:>13.1f}")

def ratio(a, b):
    return a / b if b else float("inf")

rt = ratio(med["rginx"][0], med["nginx"][0])
rm = ratio(med["rginx"][1], med["nginx"][1])
print(f"{'rginx/nginx':<14}  {rt:>9.3f}  {rm:>13.3f}")
print()
ok_t, ok_m = rt <= goal, rm <= goal
print(f"goal: rginx/nginx <= {goal} for both time and peak RSS")
print(f"  time: {rt:.3f} {'MET' if ok_t else 'NOT met'}")
print(f"  RSS:  {rm:.3f} {'MET' if ok_m else 'NOT met'}")
print(f"GOAL {'MET' if ok_t and ok_m else 'NOT MET'}")
if strict and not (ok_t and ok_m):
    sys.exit(2)
PY
