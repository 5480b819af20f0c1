//! What the resolver benchmarks (`benches/resolver_qps.rs`, `benches/resolver_memory.rs`)
//! share: the four resolvers started alike on one mini-Internet (dnsd, Unbound, Knot
//! Resolver, BIND), query files, and a measured dnsperf run (QPS, the resolver's CPU
//! time per answered query, shared/BENCHMARKING.md).

use std::net::SocketAddr;
use std::path::Path;

use crate::mini_internet::{MiniInternet, resolver_addr};
use crate::perf::Dnsperf;
use crate::procstat;

/// A resolver under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolver {
    /// dnsd's resolver (its default: one UDP worker per core).
    Dnsd,
    /// Unbound, one thread.
    Unbound,
    /// Knot Resolver, one kresd process.
    Kresd,
    /// BIND's named with recursion (its default threads).
    Bind,
}

impl Resolver {
    /// Every resolver, in the order the tables list them.
    pub const ALL: [Resolver; 4] = [
        Resolver::Dnsd,
        Resolver::Unbound,
        Resolver::Kresd,
        Resolver::Bind,
    ];

    /// Its name in tables.
    pub fn label(self) -> &'static str {
        match self {
            Resolver::Dnsd => "dnsd",
            Resolver::Unbound => "unbound",
            Resolver::Kresd => "kresd",
            Resolver::Bind => "bind",
        }
    }

    /// Picks resolvers by name from a comma-separated list (`--only dnsd,unbound`).
    pub fn parse_list(list: &str) -> Vec<Resolver> {
        Self::ALL
            .into_iter()
            .filter(|r| list.split(',').any(|name| name.trim() == r.label()))
            .collect()
    }
}

/// How large a cache a resolver is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheSize {
    /// Its package's default.
    Default,
    /// Large enough to hold every name of a run without eviction (2-4 GB).
    Large,
}

/// A started resolver: its address, pid (whose process tree's CPU is counted) and
/// the guard that stops it.
pub struct Running {
    /// Which one.
    pub resolver: Resolver,
    /// Where it listens, in the namespace.
    pub addr: SocketAddr,
    /// Its process id.
    pub pid: u32,
    _guard: Box<dyn std::any::Any>,
}

/// Starts `resolver` on `RESOLVER_ADDR:port` of `net`, validating with the
/// mini-Internet's anchor. Answers synthesized from cached NSEC records (RFC 8198
/// §5.3: a wildcard's answer for a new name with no query upstream) are off where a
/// switch exists (Unbound `aggressive-nsec: no`, BIND `synth-from-dnssec no`), so that
/// every new name costs each resolver its own resolution and cache entry; kresd has no
/// such switch (the benches show how many of its answers reached the authority).
pub fn start(net: &MiniInternet, resolver: Resolver, port: u16, cache: CacheSize) -> Running {
    let addr = resolver_addr(port);
    let large = cache == CacheSize::Large;
    let (pid, guard): (u32, Box<dyn std::any::Any>) = match resolver {
        Resolver::Dnsd => {
            let dnsd = net.dnsd(addr, if large { "cache-size-mb = 4096\n" } else { "" });
            (dnsd.pid(), Box::new(dnsd))
        }
        Resolver::Unbound => {
            let extra = match large {
                true => {
                    "  rrset-cache-size: 2g\n  msg-cache-size: 2g\n  key-cache-size: 64m\n  \
                     aggressive-nsec: no\n"
                }
                false => "  aggressive-nsec: no\n",
            };
            let unbound = net.unbound_with(addr, extra);
            (unbound.pid(), Box::new(unbound))
        }
        Resolver::Kresd => {
            let extra = if large { "cache.size = 4 * GB\n" } else { "" };
            let kresd = net.kresd_with(addr, extra);
            (kresd.pid(), Box::new(kresd))
        }
        Resolver::Bind => {
            let extra = match large {
                true => "  max-cache-size 4g;\n  synth-from-dnssec no;\n",
                false => "  synth-from-dnssec no;\n",
            };
            let named = net.bind_resolver_with(addr, extra);
            (named.pid(), Box::new(named))
        }
    };
    Running {
        resolver,
        addr,
        pid,
        _guard: guard,
    }
}

/// What stops a measured run.
#[derive(Clone, Copy, Debug)]
pub enum Load {
    /// `-l` seconds, 100 queries outstanding.
    Seconds(u32),
    /// Every query of the file once (`-n 1`), 200 outstanding.
    OnePass,
}

/// The figures of one measured run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Measured {
    /// Queries answered per second.
    pub qps: f64,
    /// The resolver's CPU time (utime+stime of its process tree) per answered query.
    pub cpu_us: f64,
    /// NOERROR share of the answers, percent.
    pub noerror_pct: f64,
    /// Queries answered.
    pub completed: u64,
}

/// Sends the queries of `queries` (DO set) to `running` from the namespace by dnsperf.
pub fn measure(net: &MiniInternet, running: &Running, queries: &Path, load: Load) -> Measured {
    measure_at(net, running.addr, running.pid, queries, load)
}

/// [`measure`] for any server on `addr` in the namespace whose process is `pid` (a
/// bench's floor).
pub fn measure_at(
    net: &MiniInternet,
    addr: SocketAddr,
    pid: u32,
    queries: &Path,
    load: Load,
) -> Measured {
    let before = procstat::cpu_micros(pid);
    let perf = Dnsperf::new(addr, queries).timeout(5).dnssec();
    let perf = match load {
        Load::Seconds(s) => perf.seconds(s).outstanding(100),
        Load::OnePass => perf.passes(1),
    };
    let report = perf.netns(&net.ns).run();
    let cpu = procstat::cpu_micros(pid).saturating_sub(before) as f64;
    Measured {
        qps: report.qps,
        cpu_us: cpu / (report.completed as f64).max(1.0),
        noerror_pct: report.noerror_pct,
        completed: report.completed,
    }
}

/// Writes dnsperf's query file: one `NAME TYPE` line each.
pub fn write_queries<'a>(path: &Path, lines: impl IntoIterator<Item = &'a str>) {
    let text: String = lines.into_iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).expect("write queries");
}

/// The value after `flag` among the program's arguments, else `default`.
pub fn arg<T: std::str::FromStr>(flag: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
