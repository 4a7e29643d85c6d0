"""Small helpers for the benchmark scripts (runtime.sh, ws_tls.sh, bridge.sh, via common.sh): free
ports, readiness of an HTTP server, /proc sampling, the descendants of a process, starting a
process in its own session at a priority.

Usage: python3 helper.py COMMAND ARGS... (the cmd_* functions below)."""
import http.client, os, signal, socket, sys, time

def state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    return s[s.rindex(")") + 2:].split()

def alive(pid):
    st = state(pid)
    return st is not None and st[0] not in ("Z", "X")

def tree(root):
    """root and its live descendants (scan of /proc by parent PID)."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = state(d)
            if st is not None:
                kids.setdefault(int(st[1]), []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out

def hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

def cmd_ports(n):
    socks = []
    for _ in range(int(n)):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))

def cmd_sample(pid):
    """ticks (utime+stime+cutime+cstime over the tree), VmHWM KiB summed, process count,
    and the user part of the ticks (utime+cutime): the kernel part is ticks minus that."""
    ticks = hwm = n = user = 0
    for p in tree(int(pid)):
        st = state(p)
        if st is None:
            continue
        # fields 14-17 of /proc/PID/stat; st starts at field 3 (state)
        ticks += sum(int(x) for x in st[11:15])
        user += int(st[11]) + int(st[13])
        hwm += hwm_kib(p)
        n += 1
    print(ticks, hwm, n, user)

def cmd_tree(pid):
    """The live descendants of pid, one "PID STARTTIME" line each (field 22 of /proc/PID/stat,
    so that a PID reused after the process is gone is not taken for it)."""
    for p in tree(int(pid))[1:]:
        st = state(p)
        if st is not None:
            print(p, st[19])

def cmd_stop_listed():
    """Stops the processes listed on stdin as cmd_tree prints them, those still alive with the
    same start time: SIGTERM, up to 5 s, then SIGKILL. They are not the caller's children (their
    parent is gone and init reaps them), so they are only watched."""
    listed = [tuple(line.split()) for line in sys.stdin if line.strip()]
    def left():
        return [int(p) for p, t in listed if (st := state(p)) is not None
                and st[0] not in ("Z", "X") and st[19] == t]
    deadline = time.monotonic() + 5
    sig = signal.SIGTERM
    while (pids := left()):
        if time.monotonic() > deadline:
            sig = signal.SIGKILL
        for p in pids:
            try:
                os.kill(p, sig)
            except OSError:
                pass
        if sig == signal.SIGKILL:
            break
        sig = 0   # SIGTERM once, then only look
        time.sleep(0.1)

def cmd_rt(pid, on):
    """Switch pid to SCHED_RR priority 1 (on=1) or back to SCHED_OTHER (on=0)."""
    if int(on):
        os.sched_setscheduler(int(pid), os.SCHED_RR, os.sched_param(1))
    else:
        os.sched_setscheduler(int(pid), os.SCHED_OTHER, os.sched_param(0))

def cmd_exec(nice, rt, *cmd):
    """Run cmd (exec, same PID) in a new session whose autogroup gets `nice`;
    rt=1: under SCHED_RR priority 1 instead."""
    nice = int(nice)
    if int(rt):
        cmd_rt(0, 1)
    try:
        os.setsid()
        own_session = True
    except OSError:   # already a process group leader: keep the caller's autogroup alone
        own_session = False
    if nice:
        if own_session:
            try:
                with open("/proc/self/autogroup", "w") as f:
                    f.write(str(nice))
            except OSError:
                pass
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    os.execvp(cmd[0], cmd)

def cmd_ready(pid, port, path, length, timeout):
    """Wait until pid answers GET path on port with 200 and a body of `length` bytes."""
    deadline = time.monotonic() + float(timeout)
    last = "no connection"
    while time.monotonic() < deadline:
        if pid != "-" and not alive(int(pid)):
            print(f"process {pid} exited before answering", file=sys.stderr)
            return 1
        try:
            c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            c.close()
        except (OSError, http.client.HTTPException) as e:
            last = repr(e)
            time.sleep(0.05)
            continue
        if r.status == 200 and len(body) == int(length):
            return 0
        print(f"GET {path} on port {port}: status {r.status}, {len(body)} body bytes "
              f"(expected 200 and {length}): {body[:200]!r}", file=sys.stderr)
        return 1
    print(f"GET {path} on port {port}: not ready after {timeout} s ({last})", file=sys.stderr)
    return 1

def baseline_block(rs, keys, labels, fmt):
    """The old rginx (BASELINE) beside nginx and the new rginx in a report: medians of each
    metric and the ratios new/old, old/nginx, new/nginx; printed, and returned for the JSON
    summary. None when the runs have no "old" proxy. labels: (key, label, format) triples."""
    import statistics
    if not any(r["proxy"] == "old" for r in rs):
        return None
    med = {p: {k: statistics.median(r[k] for r in rs if r["proxy"] == p) for k in keys}
           for p in ("nginx", "old", "rginx")}
    print(f"\n  {'old rginx, side by side':<24} {'nginx':>10} {'old':>10} {'new':>10}"
          f" {'new/old':>8} {'old/nginx':>9} {'new/nginx':>9}")
    out = []
    for k, lab, spec in labels:
        if k not in keys:
            continue
        a, o, b = med["nginx"][k], med["old"][k], med["rginx"][k]
        ratios = [b / o if o else None, o / a if a else None, b / a if a else None]
        print(f"  {lab:<24} {fmt(spec, a):>10} {fmt(spec, o):>10} {fmt(spec, b):>10}"
              f" {fmt('{:.3f}', ratios[0]):>8} {fmt('{:.3f}', ratios[1]):>9} {fmt('{:.3f}', ratios[2]):>9}")
        out.append({"metric": k, "nginx": a, "old": o, "rginx": b, "new_over_old": ratios[0],
                    "old_over_nginx": ratios[1], "new_over_nginx": ratios[2]})
    return out

if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    sys.exit(globals()["cmd_" + cmd](*args) or 0)
