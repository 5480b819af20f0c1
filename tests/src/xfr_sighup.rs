//! Helpers for tests that reconfigure a running dnsd's transfers: the configuration
//! table of a TSIG key, a probe zone, waiting for a condition, and a SIGHUP that
//! checks it was applied without needing a restart.

use std::time::{Duration, Instant};

use crate::dnsd::Dnsd;
use crate::xfr::{PATIENCE, TsigKey};

/// The `[key."NAME"]` table of `key`, as dnsd's configuration writes it.
pub fn key_table(key: &TsigKey) -> String {
    format!(
        "[key.\"{}\"]\nalgorithm = \"{}\"\nsecret = \"{}\"\n",
        key.name, key.algorithm, key.secret
    )
}

/// A zone a dnsd serves so that the fixture can see it answer before the zones
/// under test exist.
pub const PROBE_ZONE: &str =
    "$ORIGIN probe.test.\n@ 300 SOA ns hm 1 3600 600 86400 300\n@ 300 NS ns\nns 300 A 198.18.0.2\n";

/// Waits until `check` holds, with what to show otherwise.
pub fn wait(what: &str, mut check: impl FnMut() -> bool, logs: &dyn Fn() -> String) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < PATIENCE, "{what}:\n{}", logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Rewrites `dnsd`'s configuration with `edit` and sends SIGHUP; waits until the
/// transfer tasks applied it, and checks that the reload needs no restart.
pub fn sighup(dnsd: &Dnsd, edit: impl FnOnce(String) -> String, logs: &dyn Fn() -> String) {
    let file = dnsd.dir().join("dnsd.toml");
    let text = std::fs::read_to_string(&file).expect("read dnsd.toml");
    std::fs::write(&file, edit(text)).expect("write dnsd.toml");
    let applied = |d: &Dnsd| d.log().matches("SIGHUP: transfer settings applied").count();
    let before = applied(dnsd);
    dnsd.signal(libc::SIGHUP);
    wait("the SIGHUP applied", || applied(dnsd) > before, logs);
    assert!(
        !dnsd.log().contains("next restart"),
        "nothing needs a restart:\n{}",
        logs()
    );
}
