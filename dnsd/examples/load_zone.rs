//! Loads one zone file the way dnsd does and prints the time it took and the process's
//! memory: `cargo run --release -p dnsd --example load_zone -- FILE [APEX]` (APEX
//! defaults to the file name without `.zone`). For measuring, not a test.

use std::path::PathBuf;
use std::time::Instant;

use dnsd::wire::name::Name;
use dnsd::zone::load_zone;

/// `VmRSS` and `VmHWM` (peak) from /proc/self/status, in kB.
fn memory_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: load_zone FILE [APEX]");
        return std::process::ExitCode::FAILURE;
    };
    let apex = args.next().unwrap_or_else(|| {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        format!("{}.", stem.unwrap_or_default())
    });
    let Ok(apex) = Name::from_text(&apex, None) else {
        eprintln!("bad apex {apex}");
        return std::process::ExitCode::FAILURE;
    };
    let start = Instant::now();
    let result = load_zone(&path, &apex);
    let elapsed = start.elapsed();
    let (rss, peak) = memory_kb();
    match result {
        Ok(loaded) => {
            if std::env::var_os("LOAD_ZONE_DUMP").is_some() {
                for r in loaded.zone.records() {
                    let hex: String = r.rdata.iter().map(|b| format!("{b:02x}")).collect();
                    println!(
                        "{} {} IN TYPE{} \\# {} {hex}",
                        r.owner,
                        r.ttl,
                        r.rtype.0,
                        r.rdata.len()
                    );
                }
            }
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "loaded {} records, {} nodes in {:.3} s; RSS after load {} MB, peak {} MB; {} warnings",
                loaded.zone.record_count(),
                loaded.zone.node_count(),
                elapsed.as_secs_f64(),
                rss / 1024,
                peak / 1024,
                loaded.warnings.len()
            );
            let zone = &loaded.zone;
            let capacity: usize = zone.arena_spans().iter().map(|s| s.1).sum();
            println!(
                "node blobs {} MB (arena capacity {} MB), indexes {} MB",
                zone.live_bytes() >> 20,
                capacity >> 20,
                zone.index_bytes() >> 20
            );
            std::process::ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
