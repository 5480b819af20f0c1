//! Bad input (issue 2 point 10), on the stable toolchain in CI: the properties of the
//! fuzz targets in `fuzz/` (see `netfabric_tests::fuzz`) checked on a bounded,
//! seeded set of inputs: real queries (every request of the differential test),
//! mutations of them, random bytes, and mutations of real zone files.

#[path = "dnsd_vs_nsd/cases.rs"]
#[allow(dead_code)]
mod cases;

use std::path::{Path, PathBuf};

use netfabric_tests::fuzz::{
    Rng, check_load, check_respond, check_transactions, mutate, mutate_zone, zone_set,
};
use netfabric_tests::servers::ZoneFile;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf()
}

fn case_zones() -> Vec<ZoneFile> {
    ZoneFile::all_in(&repo_root().join("tests/zones/cases"))
}

/// Every request of the differential test, the seeds of the mutations.
fn seeds() -> Vec<Vec<u8>> {
    cases::cases().into_iter().map(|c| c.request).collect()
}

#[test]
fn no_request_makes_the_message_path_panic() {
    let zones: Vec<(String, PathBuf)> =
        case_zones().into_iter().map(|z| (z.name, z.path)).collect();
    let set = zone_set(&zones);
    let seeds = seeds();
    let mut out = Vec::new();
    let answered: usize = seeds.iter().map(|s| check_respond(&set, s, &mut out)).sum();
    // The real queries are answered (but the few that deserve silence), so the checks
    // above did look at responses.
    assert!(
        answered > seeds.len(),
        "only {answered} responses to {} queries",
        seeds.len()
    );
    let mut rng = Rng(0x00d5_d00d);
    let mut mutated = 0;
    for _ in 0..300_000 {
        let a = &seeds[rng.below(seeds.len())];
        let b = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, a, b);
        mutated += check_respond(&set, &input, &mut out);
    }
    let mut random = 0;
    for _ in 0..50_000 {
        let len = rng.below(600);
        let input = rng.bytes(len);
        random += check_respond(&set, &input, &mut out);
    }
    println!(
        "responses: {answered} to real queries, {mutated} to mutations, {random} to random bytes"
    );
}

#[test]
fn no_zone_text_makes_the_loader_panic() {
    let mut texts: Vec<(String, Vec<u8>)> = Vec::new();
    for dir in ["tests/zones/cases", "zones", "zones/bad"] {
        let entries = std::fs::read_dir(repo_root().join(dir))
            .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"));
        for e in entries.filter_map(Result::ok) {
            let path = e.path();
            if path.is_file() {
                let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
                let apex = if name.contains('.') {
                    name
                } else {
                    "example.com"
                };
                texts.push((apex.to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    assert!(!texts.is_empty());
    let mut rng = Rng(0x2072_0ae5);
    let loaded = texts
        .iter()
        .filter(|(apex, text)| {
            let apex = dnsd::wire::name::Name::from_text(&format!("{apex}."), None).unwrap();
            check_load(&apex, text)
        })
        .count();
    assert!(loaded >= 3, "the case zones load");
    let mut mutated = 0;
    for _ in 0..10_000 {
        let (apex, a) = &texts[rng.below(texts.len())];
        let (_, b) = &texts[rng.below(texts.len())];
        let apex = dnsd::wire::name::Name::from_text(&format!("{apex}."), None).unwrap();
        let input = mutate_zone(&mut rng, a, b);
        mutated += usize::from(check_load(&apex, &input));
    }
    println!(
        "{loaded} of {} files loaded, {mutated} of 10000 mutations",
        texts.len()
    );
}

#[test]
fn no_sequence_of_transactions_breaks_a_zone() {
    let mut rng = Rng(0x7c_a5e5);
    let mut accepted = 0;
    for _ in 0..2000 {
        let len = rng.below(200);
        accepted += check_transactions(&rng.bytes(len));
    }
    println!("{accepted} transactions accepted");
    assert!(accepted > 200, "only {accepted} transactions accepted");
}
