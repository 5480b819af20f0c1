//! The DO=1 query rounds of the signing bench: the signed servers left running (dnsd,
//! Knot) and NSD serving dnsd's signed zone (its AXFR), asked the zone's query list
//! with `dnsperf -D` in interleaved rounds; QPS, the server's CPU per query (its
//! process tree's utime + stime over the run), its memory (PSS) — medians and dnsd's
//! ratios to each.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use netfabric_tests::perf::{Dnsperf, median};
use netfabric_tests::procstat;
use netfabric_tests::servers::{Kind, Options, Server, ZoneFile};

use crate::Settings;

/// A signed server kept running.
pub struct Running {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub pid: u32,
    /// Whatever keeps it running (its guard, its folder).
    pub _keep: Box<dyn std::any::Any>,
}

/// One round's figures.
#[derive(Debug, Clone, Copy)]
struct Sample {
    qps: f64,
    cpu_us: f64,
    pss_mib: f64,
}

/// Runs the query rounds against `running` and NSD (given dnsd's signed zone), prints
/// the table, and stops every server.
pub fn queries(
    title: &str,
    zone: &ZoneFile,
    queries: &Path,
    running: &mut Vec<Running>,
    s: &Settings,
    work: &Path,
) {
    if let Some(dnsd) = running.iter().find(|r| r.name == "dnsd") {
        let file = work.join(format!("{}.signed.zone", zone.name));
        axfr_to_file(dnsd.addr, &zone.name, &file);
        let opts = Options {
            ready_timeout: Duration::from_secs(900),
            minimal_responses: true,
            ..Options::default()
        };
        let nsd_zone = ZoneFile {
            name: zone.name.clone(),
            path: file,
        };
        let server = Server::start(Kind::Nsd, std::slice::from_ref(&nsd_zone), &opts);
        running.push(Running {
            name: "nsd",
            addr: server.addr,
            pid: server.pid(),
            _keep: Box::new(server),
        });
    }
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); running.len()];
    for round in 0..s.qps_rounds {
        for k in 0..running.len() {
            let i = (k + round) % running.len();
            let r = &running[i];
            let before = procstat::cpu_micros(r.pid);
            let report = Dnsperf::new(r.addr, queries)
                .seconds(s.qps_seconds)
                .dnssec()
                .run();
            let cpu = procstat::cpu_micros(r.pid).saturating_sub(before);
            let sample = Sample {
                qps: report.qps,
                cpu_us: cpu as f64 / report.completed.max(1) as f64,
                pss_mib: procstat::pss_bytes(r.pid) as f64 / (1 << 20) as f64,
            };
            eprintln!("  {title}, DO=1 round {round}, {}: {sample:?}", r.name);
            samples[i].push(sample);
        }
    }
    println!(
        "\nDO=1 queries, {title} (dnsperf -D, {} s x {} rounds, unpinned)",
        s.qps_seconds, s.qps_rounds
    );
    println!(
        "{:<6} {:>10} {:>12} {:>9}   rounds (QPS)",
        "server", "QPS", "CPU us/q", "PSS MiB"
    );
    let med = |v: &[Sample], f: fn(&Sample) -> f64| median(v.iter().map(f).collect());
    for (r, v) in running.iter().zip(&samples) {
        let each: Vec<String> = v.iter().map(|x| format!("{:.0}", x.qps)).collect();
        println!(
            "{:<6} {:>10.0} {:>12.2} {:>9.0}   {}",
            r.name,
            med(v, |x| x.qps),
            med(v, |x| x.cpu_us),
            med(v, |x| x.pss_mib),
            each.join(" ")
        );
    }
    if let Some(d) = running.iter().position(|r| r.name == "dnsd") {
        for (i, r) in running.iter().enumerate().filter(|&(i, _)| i != d) {
            println!(
                "dnsd/{}: DO=1 QPS {:.2}x, CPU per query {:.2}x, PSS {:.2}x",
                r.name,
                med(&samples[d], |x| x.qps) / med(&samples[i], |x| x.qps),
                med(&samples[d], |x| x.cpu_us) / med(&samples[i], |x| x.cpu_us),
                med(&samples[d], |x| x.pss_mib) / med(&samples[i], |x| x.pss_mib),
            );
        }
    }
    running.clear();
}

/// The zone `name` from `server` by AXFR (dig), as a master file.
fn axfr_to_file(server: SocketAddr, name: &str, file: &Path) {
    let out = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string()])
        .args([
            &format!("{name}."),
            "AXFR",
            "+nocmd",
            "+nostats",
            "+nocomments",
        ])
        .output()
        .expect("run dig (Debian package bind9-dnsutils)");
    assert!(
        out.status.success() && out.stdout.len() > 100,
        "AXFR of {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The closing SOA repeats the first: a master file holds it once.
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() > 1 && lines.first() == lines.last() {
        lines.pop();
    }
    let mut body = lines.join("\n");
    body.push('\n');
    std::fs::write(file, body).expect("write the signed zone");
}
