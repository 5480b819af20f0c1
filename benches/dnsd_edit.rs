//! Benchmark (issue 7 point 6, issue 16 point 6): how long a one-line edit of a zone
//! file takes to be served, dnsd against Knot and NSD in the same run.
//!
//! Run: `cargo build --profile ci -p dnsd && cargo bench -p netfabric-tests --bench
//! dnsd_edit` (`-- --names N` for the zone's size, default 100; `--edits N`, default 20).
//! NSD is not run (see `main`).
//!
//! Each edit rewrites the zone file (`www` gets a new address, the SOA serial goes up)
//! and then does what each server needs: nothing for dnsd (it watches the file and
//! applies a complete file at once), `knotc zone-reload` for Knot (SIGHUP for NSD). The
//! time is from the start of the write to the first answer with the new address
//! (polled over UDP every 200 µs). The servers run side by side and the edits are
//! interleaved (server order rotated per edit); medians and the 90th percentile, and
//! dnsd's ratio to each peer. The machine is shared: compare ratios, not absolutes.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use netfabric_tests::dns::{Query, normalize, udp_exchange};
use netfabric_tests::servers::{Kind, Options, Server, ZoneFile};

/// Longest wait for one edit to be served.
const GIVE_UP: Duration = Duration::from_secs(10);

fn zone_text(names: usize, serial: u32, www: &str) -> String {
    let mut text = format!(
        "$ORIGIN edit.test.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 900 604800 300\n\
         @ NS ns1\nns1 A 198.51.100.1\nwww A {www}\n"
    );
    for i in 0..names {
        text.push_str(&format!("h{i} A 198.51.100.{}\n", i % 250 + 1));
    }
    text
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Where each server reads the zone from.
fn zone_path(server: &Server, original: &Path) -> std::path::PathBuf {
    match server.kind {
        Kind::Dnsd => server.dir().join("zones/edit.test.zone"),
        _ => original.to_path_buf(),
    }
}

fn answered(server: &Server, want: &str) -> bool {
    let q = Query::new("www.edit.test.", 1).to_bytes();
    udp_exchange(server.addr, &q, Duration::from_millis(50))
        .and_then(|r| normalize(&r).ok())
        .is_some_and(|n| n.rcode == 0 && n.answer.values().flatten().any(|a| a == want))
}

/// One edit of `server`'s zone; the time until served, None when it never was.
fn edit(server: &Server, path: &Path, names: usize, serial: u32, www: &str) -> Option<Duration> {
    let start = Instant::now();
    std::fs::write(path, zone_text(names, serial, www)).expect("write the zone");
    match server.kind {
        Kind::Dnsd => {}
        Kind::Knot => {
            let status = Command::new("knotc")
                .arg("-s")
                .arg(server.dir().join("knot.sock"))
                .args(["zone-reload", "edit.test."])
                .output()
                .expect("knotc");
            assert!(status.status.success(), "knotc: {status:?}");
        }
        Kind::Nsd => {
            // SAFETY: kill(2) on the pid of a process this bench started.
            unsafe { libc::kill(server.pid() as i32, libc::SIGHUP) };
        }
    }
    while start.elapsed() < GIVE_UP {
        if answered(server, www) {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    None
}

fn main() {
    let names = arg("--names", 100);
    let edits = arg("--edits", 20);
    let dir = tempfile::Builder::new()
        .prefix("nf-bench-edit-")
        .tempdir()
        .expect("temporary folder");
    // NSD is left out: the shared fixture runs it with `zonefiles-check: no` and no
    // remote control, so neither SIGHUP nor nsd-control would reread the file.
    let kinds = [Kind::Dnsd, Kind::Knot];
    let mut servers = Vec::new();
    for kind in kinds {
        // Each peer reads its own copy (dnsd's fixture copies it into its folder).
        let own = dir.path().join(kind.name());
        std::fs::create_dir(&own).unwrap();
        let path = own.join("edit.test.zone");
        std::fs::write(&path, zone_text(names, 1, "198.51.100.200")).unwrap();
        let zone = ZoneFile {
            name: "edit.test".into(),
            path: path.clone(),
        };
        let server = Server::start(kind, &[zone], &Options::default());
        let path = zone_path(&server, &path);
        servers.push((server, path, Vec::new()));
    }
    for i in 0..edits {
        let serial = 2 + i as u32;
        let www = format!("198.51.100.{}", 1 + i % 199);
        let n = servers.len();
        for k in 0..n {
            let (server, path, times) = &mut servers[(i + k) % n];
            times.push(edit(server, path, names, serial, &www));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("one-line edit of a {names}-name zone, {edits} edits, until served:");
    let mut medians = Vec::new();
    for (server, _, times) in &servers {
        let mut ok: Vec<Duration> = times.iter().flatten().copied().collect();
        ok.sort();
        let missed = times.len() - ok.len();
        let median = ok.get(ok.len() / 2).copied();
        let p90 = ok.get(ok.len() * 9 / 10).copied();
        println!(
            "  {:5} median {:>10} p90 {:>10}  not served: {missed}",
            server.kind.name(),
            median.map_or("-".into(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3)),
            p90.map_or("-".into(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3)),
        );
        medians.push((server.kind, median));
    }
    if let Some((_, Some(dnsd))) = medians.first() {
        for (kind, median) in &medians[1..] {
            if let Some(m) = median {
                println!(
                    "  dnsd / {}: {:.2}",
                    kind.name(),
                    dnsd.as_secs_f64() / m.as_secs_f64()
                );
            }
        }
    }
    for (server, _, _) in servers {
        server.stop();
    }
}
