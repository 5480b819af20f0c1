//! Any bytes through dnsd's message path: a response or nothing, never a panic; a
//! response parses, echoes the id and fits the transport (netfabric_tests::fuzz).
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use dnsd::zone::ZoneSet;
use libfuzzer_sys::fuzz_target;
use netfabric_tests::fuzz::{check_respond, zone_set};
use netfabric_tests::servers::ZoneFile;

fn zones() -> &'static ZoneSet {
    static ZONES: OnceLock<ZoneSet> = OnceLock::new();
    ZONES.get_or_init(|| {
        let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/zones/cases");
        let files: Vec<(String, PathBuf)> = ZoneFile::all_in(&dir)
            .into_iter()
            .map(|z| (z.name, z.path))
            .collect();
        zone_set(&files)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    check_respond(zones(), data, &mut out);
});
