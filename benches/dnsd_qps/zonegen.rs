//! The benchmark's zone and query file, generated deterministically: zone `bench.example`
//! with `size` names, a mix a self-hoster's zone might have (mostly A, some AAAA, MX,
//! TXT and CNAME), and a dnsperf query file of existing names with their types plus 5%
//! names that do not exist (NXDOMAIN). Files are kept in target/ and reused.

use std::io::Write;
use std::path::{Path, PathBuf};

use netfabric_tests::servers::ZoneFile;

/// The zone's apex.
pub const APEX: &str = "bench.example";

/// A small deterministic generator (splitmix64), so every run serves the same zone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What name `i` holds: its types, for the zone and the queries.
fn kinds(i: usize) -> &'static [&'static str] {
    match i % 50 {
        0..=39 => &["A"],
        40..=43 => &["A", "AAAA"],
        44..=45 => &["MX"],
        46..=47 => &["TXT"],
        _ => &["CNAME"],
    }
}

fn name(i: usize) -> String {
    format!("host{i}")
}

/// Writes (or reuses) `dir/bench.example.zone` and `dir/queries.txt`.
pub fn generate(dir: &Path, size: usize) -> (ZoneFile, PathBuf) {
    std::fs::create_dir_all(dir).expect("bench zone folder");
    let zone_path = dir.join(format!("{APEX}.zone"));
    let queries = dir.join("queries.txt");
    if !zone_path.exists() || !queries.exists() {
        write_zone(&zone_path, size);
        write_queries(&queries, size);
    }
    (
        ZoneFile {
            name: APEX.to_string(),
            path: zone_path,
        },
        queries,
    )
}

fn write_zone(path: &Path, size: usize) {
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).expect("create zone file");
    let mut w = std::io::BufWriter::new(file);
    let mut rng = Rng(size as u64);
    writeln!(
        w,
        "$ORIGIN {APEX}.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
         @ NS ns1\n@ NS ns2\nns1 A 198.51.100.1\nns2 A 198.51.100.2\n@ A 198.51.100.3"
    )
    .expect("write zone");
    for i in 0..size {
        let n = name(i);
        for kind in kinds(i) {
            let r = rng.next();
            let line = match *kind {
                "A" => format!(
                    "{n} A 198.{}.{}.{}",
                    18 + (r & 1),
                    (r >> 8) as u8,
                    (r >> 16) as u8
                ),
                "AAAA" => format!(
                    "{n} AAAA 2001:db8:{:x}::{:x}",
                    (r >> 8) as u16,
                    (r >> 24) as u16
                ),
                "MX" => format!("{n} MX 10 {}", name(rng.below(size as u64) as usize)),
                "TXT" => format!("{n} TXT \"v=spf1 ip4:198.18.{}.0/24 -all\"", r as u8),
                _ => {
                    // A CNAME to a name that holds an A record (host0 always does).
                    let t = rng.below(size as u64) as usize;
                    let t = if kinds(t) == ["A"] { t } else { 0 };
                    format!("{n} CNAME {}", name(t))
                }
            };
            writeln!(w, "{line}").expect("write zone");
        }
    }
    w.flush().expect("write zone");
    drop(w);
    std::fs::rename(&tmp, path).expect("rename zone file");
}

fn write_queries(path: &Path, size: usize) {
    let file = std::fs::File::create(path).expect("create query file");
    let mut w = std::io::BufWriter::new(file);
    let mut rng = Rng(0x5eed ^ size as u64);
    for _ in 0..200_000 {
        let i = rng.below(size as u64) as usize;
        if rng.below(100) < 5 {
            writeln!(w, "nx{i}.{APEX} A").expect("write queries");
            continue;
        }
        let types = kinds(i);
        let t = match types[rng.below(types.len() as u64) as usize] {
            "CNAME" => "A",
            t => t,
        };
        writeln!(w, "{}.{APEX} {t}", name(i)).expect("write queries");
    }
    w.flush().expect("write queries");
}
