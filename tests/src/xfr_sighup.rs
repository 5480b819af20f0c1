//! Helpers for tests that reconfigure a running dnsd's transfers: the configuration
//! table of a TSIG key, a probe zone, waiting for a condition, a SIGHUP that checks it
//! was applied without needing a restart, and a poll of a zone's SOA throughout a
//! hand-over.

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

/// What a poll of a zone's SOA saw wrong while the zone changed hands: an answer that
/// was not NOERROR with the SOA, or a serial lower than one served before.
#[derive(Debug, Default)]
pub struct Seen {
    /// The highest serial answered.
    pub highest: Option<u32>,
    /// Each answer that was wrong, said.
    pub problems: Vec<String>,
    /// Answers received (a lost datagram proves nothing either way).
    pub answers: usize,
}

/// Runs `body` while a thread polls `zone`'s SOA on `dnsd` every 200 ms (slow enough
/// for response rate limiting to let every answer through); returns what `body`
/// returned and what the poll saw. A panic in `body` stops the poll too.
pub fn polled<R>(dnsd: &Dnsd, zone: &str, body: impl FnOnce() -> R) -> (R, Seen) {
    let seen = std::sync::Mutex::new(Seen::default());
    let done = std::sync::atomic::AtomicBool::new(false);
    let name = format!("{}.", zone.trim_end_matches('.'));
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(answer) = dnsd.ask(&name, 6) {
                    let serial = answer
                        .answer
                        .iter()
                        .find(|(k, _)| k.1 == "SOA")
                        .and_then(|(_, v)| v.iter().next())
                        .and_then(|soa| soa.split_whitespace().nth(2)?.parse::<u32>().ok());
                    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                    seen.answers += 1;
                    match serial {
                        Some(serial) if answer.rcode == 0 => {
                            if let Some(highest) = seen.highest
                                && serial < highest
                            {
                                seen.problems
                                    .push(format!("serial {serial} after {highest}"));
                            }
                            seen.highest = Some(seen.highest.map_or(serial, |h| h.max(serial)));
                        }
                        _ => seen
                            .problems
                            .push(format!("rcode {} without the SOA", answer.rcode)),
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let _stop = Stop(&done);
        body()
    });
    (result, seen.into_inner().unwrap_or_else(|e| e.into_inner()))
}
