//! What /proc says about a running server and the processes it forked (NSD forks its
//! workers): CPU time spent and memory held, for benchmarks (shared/BENCHMARKING.md:
//! CPU time per query, and PSS summed over NSD's processes rather than RSS).

use std::fs;

/// The pid and every descendant of it (children, grandchildren, ...).
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.filter_map(Result::ok) {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) =
                stat_fields(pid).and_then(|stat| stat.get(1).and_then(|s| s.parse::<u32>().ok()))
            {
                parents.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree
}

/// The fields of /proc/PID/stat after the command name: field 0 is the state, so
/// ppid is at 1, utime at 11, stime at 12 (proc(5) numbering minus 3).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// CPU time (user + system) used so far by the process tree under `root`, in
/// microseconds.
pub fn cpu_micros(root: u32) -> u64 {
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    process_tree(root)
        .into_iter()
        .filter_map(stat_fields)
        .map(|f| {
            let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
            ticks(11) + ticks(12)
        })
        .sum::<u64>()
        * 1_000_000
        / hz
}

/// CPU time (user + system) used so far by the live threads of `pid` whose name
/// (/proc/PID/task/TID/comm) `pick` accepts, in microseconds: to tell a server's query
/// workers from the rest of it.
pub fn threads_cpu_micros(pid: u32, pick: impl Fn(&str) -> bool) -> u64 {
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| {
            let dir = task.path();
            let comm = fs::read_to_string(dir.join("comm")).ok()?;
            if !pick(comm.trim_end()) {
                return None;
            }
            let stat = fs::read_to_string(dir.join("stat")).ok()?;
            let after = stat.rsplit_once(')')?.1;
            let f: Vec<&str> = after.split_whitespace().collect();
            let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
            Some(ticks(11) + ticks(12))
        })
        .sum::<u64>()
        * 1_000_000
        / hz
}

/// Memory held by the process tree under `root`, in bytes: the sum of PSS
/// (smaps_rollup), which counts memory shared between NSD's forked processes once.
pub fn pss_bytes(root: u32) -> u64 {
    process_tree(root)
        .into_iter()
        .map(|pid| rollup_field(pid, "Pss:"))
        .sum()
}

/// Resident set size of `pid` alone, in bytes.
pub fn rss_bytes(pid: u32) -> u64 {
    rollup_field(pid, "Rss:")
}

fn rollup_field(pid: u32, field: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb * 1024)
}
