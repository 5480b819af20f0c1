//! Failover benchmark: the outage a client sees when the VRRP master goes away, netd
//! beside keepalived (Debian's 2.2.7, VRRPv3) on the same topology and intervals, in
//! one run, interleaved.
//!
//! Topology: `netfabric_tests::vrrp::Segment` (two routers and a client on a bridge in
//! namespaces). Master priority 200 on router0, backup 100 on router1, one IPv4
//! virtual address. The client pings it every 10 ms (`ping -D -i 0.01`); the outage is
//! the longest gap between two consecutive replies, minus the 10 ms interval.
//! Failures: a clean shutdown (SIGTERM: priority 0 advert), a crash (SIGKILL of
//! every process, then the master's link down), and a 5 s cable flap (the switch
//! port down, then up) on the master and on the backup. Advert intervals 1 s and
//! 0.1 s. For a flap the outage is the sum of every gap between replies beyond the
//! ping interval (a flap can cause more than one), from the pull to 5 s after the
//! cable is back.
//!
//! Run: `cargo bench -p netfabric-tests --bench vrrp_failover` (as root; builds
//! netd in release first: `cargo build --release -p netd`). `VRRP_BENCH_ROUNDS`
//! (default 3) sets the starts per case; medians are reported. `VRRP_BENCH_CASES`
//! (`clean`, `crash`, `flap`, comma-separated; default all) picks the failures.

use std::process::Stdio;
use std::time::Duration;

use netfabric_tests::process::ProcessGuard;
use netfabric_tests::vrrp::{
    Keepalived, Netd, Segment, VIP4, keepalived_instance, netd_instance, wait_until,
};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Implementation {
    Netd,
    Keepalived,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Failure {
    Clean,
    Crash,
    /// The master's cable out for 5 s.
    FlapMaster,
    /// The backup's cable out for 5 s.
    FlapBackup,
}

/// How long a cable stays out.
const FLAP: Duration = Duration::from_secs(5);

enum Daemon {
    Netd(Netd),
    Keepalived(Keepalived),
}

impl Daemon {
    fn start(imp: Implementation, seg: &Segment, i: usize, priority: u8, cs: u16) -> Self {
        let vip = format!("{VIP4}/24");
        match imp {
            Implementation::Netd => Self::Netd(Netd::start(
                &seg.routers[i],
                &netd_instance("svc", 51, priority, &vip, cs, ""),
            )),
            Implementation::Keepalived => Self::Keepalived(Keepalived::start(
                &seg.routers[i],
                &keepalived_instance("svc", 51, priority, &vip, cs, ""),
            )),
        }
    }

    fn fail(&mut self, failure: Failure) {
        match (self, failure) {
            (Self::Netd(n), Failure::Clean) => n.stop(),
            (Self::Netd(n), Failure::Crash) => n.guard.kill(),
            (Self::Keepalived(k), Failure::Clean) => k.stop(),
            (Self::Keepalived(k), Failure::Crash) => k.kill(),
            (_, Failure::FlapMaster | Failure::FlapBackup) => {}
        }
    }
}

/// One failover; returns the client's outage in milliseconds.
fn run_once(imp: Implementation, cs: u16, failure: Failure) -> Option<f64> {
    let seg = Segment::new("vrbench");
    let _backup = Daemon::start(imp, &seg, 1, 100, cs);
    let mut master = Daemon::start(imp, &seg, 0, 200, cs);
    let settle = Duration::from_secs(15);
    if !wait_until(settle, || seg.holders(VIP4) == [0]) || !seg.ping(VIP4) {
        eprintln!("{imp:?}: no master on router0");
        return None;
    }
    let mut ping = ProcessGuard::spawn(
        "ping",
        seg.client
            .command(&["ping", "-n", "-D", "-i", "0.01", "-w", "30", VIP4])
            .stdout(Stdio::piped()),
    );
    std::thread::sleep(Duration::from_millis(500));
    match failure {
        Failure::Clean | Failure::Crash => {
            master.fail(failure);
            if failure == Failure::Crash {
                seg.set_link(0, false);
            }
            if !wait_until(settle, || seg.holds(1, VIP4)) {
                eprintln!("{imp:?}: backup did not take over");
                return None;
            }
            // Let the client's pings come back for a while after the takeover.
            std::thread::sleep(Duration::from_millis(700));
        }
        Failure::FlapMaster | Failure::FlapBackup => {
            let i = usize::from(failure == Failure::FlapBackup);
            seg.set_cable(i, false);
            std::thread::sleep(FLAP);
            seg.set_cable(i, true);
            std::thread::sleep(Duration::from_secs(5));
        }
    }
    ping.signal(libc::SIGINT);
    let out = ping.wait_output(Duration::from_secs(5));
    let times: Vec<f64> = out
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect();
    let gaps = times.windows(2).map(|w| (w[1] - w[0]) * 1000.0 - 10.0);
    Some(match failure {
        Failure::Clean | Failure::Crash => gaps.fold(0.0, f64::max).max(0.0),
        // Every gap of at least two missed pings adds to a flap's outage.
        Failure::FlapMaster | Failure::FlapBackup => {
            gaps.filter(|g| *g >= 15.0).fold(0.0, |sum, g| sum + g)
        }
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let rounds: usize = std::env::var("VRRP_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let keepalived_version = std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    let wanted = std::env::var("VRRP_BENCH_CASES").unwrap_or_else(|_| "clean,crash,flap".into());
    let wanted: Vec<&str> = wanted.split(',').map(str::trim).collect();
    let cases: Vec<(u16, Failure)> = [100, 10]
        .into_iter()
        .flat_map(|cs| {
            [
                (cs, Failure::Clean),
                (cs, Failure::Crash),
                (cs, Failure::FlapMaster),
                (cs, Failure::FlapBackup),
            ]
        })
        .filter(|(_, f)| {
            let name = match f {
                Failure::Clean => "clean",
                Failure::Crash => "crash",
                Failure::FlapMaster | Failure::FlapBackup => "flap",
            };
            wanted.contains(&name)
        })
        .collect();
    let mut results: Vec<((u16, Failure, Implementation), Vec<f64>)> = Vec::new();
    for round in 0..rounds {
        for &(cs, failure) in &cases {
            // Interleaved, and alternating which goes first.
            let order = if round % 2 == 0 {
                [Implementation::Netd, Implementation::Keepalived]
            } else {
                [Implementation::Keepalived, Implementation::Netd]
            };
            for imp in order {
                let outage = run_once(imp, cs, failure);
                eprintln!("round {round} {imp:?} interval {cs} cs {failure:?}: {outage:?} ms");
                let key = (cs, failure, imp);
                match results.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, v)) => v.extend(outage),
                    None => results.push((key, outage.into_iter().collect())),
                }
            }
        }
    }
    println!(
        "\nVRRP failover outage seen by a client pinging every 10 ms (median of {rounds}, ms)"
    );
    println!("peer: {keepalived_version}\n");
    println!("| advert interval | failure | netd | keepalived | netd runs | keepalived runs |");
    println!("|---|---|---|---|---|---|");
    for &(cs, failure) in &cases {
        let get = |imp| {
            results
                .iter()
                .find(|(k, _)| *k == (cs, failure, imp))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (n, k) = (get(Implementation::Netd), get(Implementation::Keepalived));
        let fmt = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "| {} s | {failure:?} | {:.0} | {:.0} | {} | {} |",
            f64::from(cs) / 100.0,
            median(n.clone()),
            median(k.clone()),
            fmt(&n),
            fmt(&k)
        );
    }
}
