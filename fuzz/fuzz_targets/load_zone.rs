//! Any text through dnsd's zone loader: a zone or errors naming a line, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netfabric_tests::fuzz::check_load;

fuzz_target!(|data: &[u8]| {
    if let Ok(apex) = dnsd::wire::name::Name::from_text("example.com.", None) {
        check_load(&apex, data);
    }
});
