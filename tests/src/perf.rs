//! dnsperf (Debian's package), the load generator of the benchmarks: one bounded run
//! (`-l` seconds or `-n` passes, so it always stops by itself, shared/TESTNET.md), the
//! figures of its report, and the median the benchmarks quote
//! (shared/BENCHMARKING.md: several starts, medians and ratios).
//!
//! ```text
//! let report = Dnsperf::new(server, &queries).seconds(5).cpus("1").run();
//! println!("{:.0} qps, {} lost", report.qps, report.lost);
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::netns::Netns;

/// One dnsperf run: where, what, for how long, with which settings.
pub struct Dnsperf<'a> {
    server: SocketAddr,
    queries: PathBuf,
    bound: Bound,
    clients: u32,
    outstanding: u32,
    timeout_s: u32,
    dnssec: bool,
    edns_option: Option<String>,
    cpus: Option<String>,
    netns: Option<&'a Netns>,
}

/// What stops the run.
enum Bound {
    Seconds(u64),
    Passes(u32),
}

impl<'a> Dnsperf<'a> {
    /// dnsperf sending the queries of `queries` (dnsperf's data file) to `server`:
    /// 10 s, 2 clients (`-c`), 200 queries outstanding (`-q`), 2 s timeout (`-t`).
    pub fn new(server: SocketAddr, queries: &Path) -> Self {
        Self {
            server,
            queries: queries.to_path_buf(),
            bound: Bound::Seconds(10),
            clients: 2,
            outstanding: 200,
            timeout_s: 2,
            dnssec: false,
            edns_option: None,
            cpus: None,
            netns: None,
        }
    }

    /// Runs for `seconds` (`-l`).
    pub fn seconds(mut self, seconds: impl Into<u64>) -> Self {
        self.bound = Bound::Seconds(seconds.into());
        self
    }

    /// Sends the file `passes` times, then stops (`-n`).
    pub fn passes(mut self, passes: u32) -> Self {
        self.bound = Bound::Passes(passes);
        self
    }

    /// Keeps `n` queries outstanding (`-q`).
    pub fn outstanding(mut self, n: u32) -> Self {
        self.outstanding = n;
        self
    }

    /// Counts a query lost after `seconds` (`-t`).
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout_s = seconds;
        self
    }

    /// Sets the DO bit (`-D`).
    pub fn dnssec(mut self) -> Self {
        self.dnssec = true;
        self
    }

    /// Adds the EDNS option `code:hex` to every query (`-E`).
    pub fn edns_option(mut self, option: &str) -> Self {
        self.edns_option = Some(option.to_string());
        self
    }

    /// Runs dnsperf under `taskset -c CPUS`.
    pub fn cpus(mut self, cpus: &str) -> Self {
        self.cpus = Some(cpus.to_string());
        self
    }

    /// Runs dnsperf inside `netns` (through nsenter).
    pub fn netns(mut self, netns: &'a Netns) -> Self {
        self.netns = Some(netns);
        self
    }

    /// The command line.
    fn argv(&self) -> Vec<String> {
        let mut argv: Vec<String> = Vec::new();
        if let Some(cpus) = &self.cpus {
            argv.extend(["taskset".into(), "-c".into(), cpus.clone()]);
        }
        argv.extend([
            "dnsperf".into(),
            "-s".into(),
            self.server.ip().to_string(),
            "-p".into(),
            self.server.port().to_string(),
            "-d".into(),
            self.queries.display().to_string(),
        ]);
        match self.bound {
            Bound::Seconds(s) => argv.extend(["-l".into(), s.to_string()]),
            Bound::Passes(n) => argv.extend(["-n".into(), n.to_string()]),
        }
        argv.extend([
            "-c".into(),
            self.clients.to_string(),
            "-q".into(),
            self.outstanding.to_string(),
            "-t".into(),
            self.timeout_s.to_string(),
        ]);
        if self.dnssec {
            argv.push("-D".into());
        }
        if let Some(option) = &self.edns_option {
            argv.extend(["-E".into(), option.clone()]);
        }
        argv
    }

    /// Runs dnsperf to its end and reads its report; panics, with its output, when
    /// it cannot run or completes no query.
    pub fn run(&self) -> Report {
        let argv = self.argv();
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut cmd = match self.netns {
            Some(ns) => ns.command(&argv),
            None => {
                let mut cmd = Command::new(argv[0]);
                cmd.args(&argv[1..]);
                cmd
            }
        };
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {argv:?} (Debian package dnsperf): {e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let report = Report::parse(&text);
        assert!(
            report.completed > 0,
            "{argv:?} completed no query ({}):\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        report
    }
}

/// The figures of one dnsperf report.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// "Queries per second".
    pub qps: f64,
    /// "Average Latency (s)", in microseconds.
    pub latency_us: f64,
    /// "Queries completed".
    pub completed: u64,
    /// "Queries lost".
    pub lost: u64,
    /// The NOERROR share of "Response codes", in percent.
    pub noerror_pct: f64,
}

impl Report {
    /// Reads dnsperf's report `text`; a figure missing reads 0.
    pub fn parse(text: &str) -> Self {
        let field = |label: &str| -> f64 {
            text.lines()
                .find(|l| l.trim_start().starts_with(label))
                .and_then(|l| l.split(':').nth(1))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        Self {
            qps: field("Queries per second"),
            latency_us: field("Average Latency (s)") * 1e6,
            completed: field("Queries completed") as u64,
            lost: field("Queries lost") as u64,
            // "Response codes:       NOERROR 190000 (95.00%), NXDOMAIN 10000 (5.00%)"
            noerror_pct: text
                .lines()
                .find(|l| l.trim_start().starts_with("Response codes"))
                .and_then(|l| l.split("NOERROR").nth(1))
                .and_then(|rest| rest.split('(').nth(1))
                .and_then(|pct| pct.split('%').next())
                .and_then(|pct| pct.parse().ok())
                .unwrap_or(0.0),
        }
    }
}

/// The median of `v` (the mean of the two middle values when their number is even);
/// 0 when `v` is empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_as_dnsperf_prints_it() {
        let text = "Statistics:\n\n  Queries sent:         200000\n\
                    \x20 Queries completed:    199990 (99.99%)\n\
                    \x20 Queries lost:         10 (0.01%)\n\n\
                    \x20 Response codes:       NOERROR 190000 (95.00%), NXDOMAIN 9990 (5.00%)\n\
                    \x20 Queries per second:   39997.812345\n\n\
                    \x20 Average Latency (s):  0.000250 (min 0.000020, max 0.003000)\n";
        let r = Report::parse(text);
        assert_eq!((r.completed, r.lost), (199_990, 10));
        assert!((r.qps - 39_997.812_345).abs() < 1e-6);
        assert!((r.latency_us - 250.0).abs() < 1e-6);
        assert!((r.noerror_pct - 95.0).abs() < 1e-9);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(Vec::new()), 0.0);
    }
}
