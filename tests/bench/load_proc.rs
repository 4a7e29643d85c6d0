//! `/proc` readings for `bench-load` (`load.rs` and `load_vnc.rs`): whether a process lives,
//! its tree of descendants, and that tree's CPU time and memory, summed over one or more roots
//! (nginx and websockify are two processes, websockify's sessions its forked children).

/// One `/proc` reading of a process tree.
#[derive(Clone, Copy, Default)]
pub struct Sample {
    pub ticks: u64,
    /// The user part of `ticks` (utime + cutime).
    pub user_ticks: u64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub processes: u32,
}

/// The fields of `/proc/PID/stat` after the command name, from field 3 (state) on.
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let mut it = rest.split_ascii_whitespace();
    let state = it.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // Field 3 (the state letter) is not a number; keep the positions with a placeholder.
    Some(
        std::iter::once(0)
            .chain(it.map(|x| x.parse().unwrap_or(0)))
            .collect(),
    )
}

pub fn alive(pid: u32) -> bool {
    stat_fields(pid).is_some()
}

/// PID and its live descendants, found by scanning `/proc` for parent PIDs.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            if let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
                if let Some(f) = stat_fields(pid) {
                    children.push((f[1] as u32, pid));
                }
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(
            children
                .iter()
                .filter(|(p, _)| *p == parent)
                .map(|(_, c)| *c),
        );
        i += 1;
    }
    out
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn sample(roots: &[u32]) -> Sample {
    let mut s = Sample::default();
    for p in roots.iter().flat_map(|&r| tree(r)) {
        let Some(f) = stat_fields(p) else { continue };
        // fields 14-17 of /proc/PID/stat: utime, stime, cutime, cstime (f[0] is field 3)
        s.ticks += f[11] + f[12] + f[13] + f[14];
        s.user_ticks += f[11] + f[13];
        s.rss_kib += status_kib(p, "VmRSS:");
        s.hwm_kib += status_kib(p, "VmHWM:");
        s.processes += 1;
    }
    s
}

/// The sum of `Pss:` (`/proc/PID/smaps_rollup`) over the trees of `roots`, in KiB, and the
/// number of processes read. Proportional set size is the measure for forked processes:
/// websockify's sessions share their parent's pages copy-on-write, which each child's RSS
/// counts again in full.
pub fn pss_kib(roots: &[u32]) -> (u64, u32) {
    let (mut kib, mut n) = (0, 0);
    for p in roots.iter().flat_map(|&r| tree(r)) {
        let Ok(s) = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")) else {
            continue;
        };
        if let Some(v) = s
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        {
            kib += v;
            n += 1;
        }
    }
    (kib, n)
}

/// `MemAvailable` of `/proc/meminfo` in KiB (0 if unreadable).
pub fn mem_available_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}
