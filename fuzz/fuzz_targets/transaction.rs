//! Any sequence of transactions against a small zone: accepted or refused, never a
//! panic, and an accepted one gives the version its diff says (tests/src/fuzz.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netfabric_tests::fuzz::check_transactions;

fuzz_target!(|data: &[u8]| {
    check_transactions(data);
});
