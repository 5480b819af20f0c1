//! dnsd's resolver against the replay scenarios others wrote: Unbound's
//! `testdata/{val,iter}_*.rpl` and Deckard's `sets/resolver/{val,iter}_*.rpl` (the
//! RANGE/ENTRY/STEP format, netfabric_tests::replay), each run against the real dnsd
//! in a pair of namespaces of its own.
//!
//! The scenarios are not in this repository: `test.sh` fetches the Debian source
//! packages of unbound and knot-resolver (whose tarball carries Deckard) into
//! `/var/cache/netfabric-tests/src` (`NETFABRIC_REPLAY_SOURCES` elsewhere); this test
//! checks each tarball's SHA-256 against its `.dsc` and unpacks the scenarios into a
//! temporary folder.
//!
//! Scenarios that need what dnsd does not claim are skipped, each with its reason
//! (the tables below, and rules on the scenario's content). The others run, at most
//! `PARALLEL` at once; the test prints each result, the pass rate and the failures
//! grouped by reason, and fails when a scenario of `resolver_replay/expected-pass.txt`
//! fails (a regression); scenarios that pass and are not listed are printed, to be
//! added. `REPLAY_ONLY=substring` runs the matching scenarios only, with their traffic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use netfabric_tests::replay::parse::{self, Scenario, StepKind};
use netfabric_tests::replay::runner::{self, Outcome};
use netfabric_tests::replay::wire::Grade;

/// Scenarios run at once (each is one dnsd and two namespaces).
const PARALLEL: usize = 4;

/// DNSKEY algorithms dnsd validates (RFC 8624's MUST validate, issue 11): RSA/SHA-1
/// (5, and 7 with NSEC3), RSA/SHA-256 and SHA-512, ECDSA P-256 and P-384, Ed25519.
const ALGORITHMS: &[u8] = &[5, 7, 8, 10, 13, 14, 15];

/// Configuration options (key, or key=value) of features dnsd does not have, and why.
const CONFIG_SKIPS: &[(&str, &str)] = &[
    (
        "forward-first",
        "forward-first: dnsd has no fallback from forwarders to iteration",
    ),
    (
        "stub-first",
        "stub-first: dnsd has no fallback from a stub to iteration",
    ),
    ("stub-prime", "stub-prime: dnsd does not prime stub zones"),
    ("module-config", "module-config: dnsd's modules are fixed"),
    (
        "access-control",
        "access-control: tested by dnsd's own ACL tests",
    ),
    (
        "private-address",
        "private-address: dnsd has no rebinding protection",
    ),
    (
        "private-domain",
        "private-domain: dnsd has no rebinding protection",
    ),
    (
        "do-not-query-localhost",
        "do-not-query-localhost: not configurable in dnsd",
    ),
    (
        "trust-anchor-file",
        "trust-anchor-file with RFC 5011 state: not replayed",
    ),
    (
        "auto-trust-anchor-file",
        "RFC 5011 anchor updates: not replayed",
    ),
    ("prefetch-key", "prefetch-key: dnsd has no key prefetch"),
    (
        "aggressive-nsec=yes",
        "aggressive-nsec: RFC 8198 is another point of issue 11",
    ),
    (
        "harden-referral-path=yes",
        "harden-referral-path: dnsd does not validate referral paths",
    ),
    (
        "harden-algo-downgrade=yes",
        "harden-algo-downgrade: not in dnsd",
    ),
    (
        "harden-dnssec-stripped=no",
        "harden-dnssec-stripped=no: dnsd always hardens",
    ),
    (
        "harden-glue=no",
        "harden-glue=no: dnsd always scrubs out-of-bailiwick glue",
    ),
    (
        "val-nsec3-keysize-iterations",
        "val-nsec3-keysize-iterations: dnsd uses RFC 9276's limit",
    ),
    (
        "serve-expired=yes",
        "serve-expired: dnsd's serve-stale follows RFC 8767, not Unbound's",
    ),
    (
        "feature-list",
        "Deckard feature-list: options for other resolvers",
    ),
];

/// Scenarios skipped by name, and why (what the rules above do not catch).
const SKIPS: &[(&str, &str)] = &[];

/// Why `s` (file `name`) is skipped; None when it runs.
fn skip_reason(name: &str, s: &Scenario) -> Option<String> {
    if let Some((_, why)) = SKIPS.iter().find(|(n, _)| *n == name) {
        return Some(why.to_string());
    }
    for (key, value) in &s.config.options {
        let pair = format!("{key}={value}");
        if let Some((_, why)) = CONFIG_SKIPS.iter().find(|(k, _)| *k == key || *k == pair) {
            return Some(why.to_string());
        }
    }
    for z in s.config.stubs.iter().chain(&s.config.forwards) {
        for (key, value) in &z.options {
            let pair = format!("{key}={value}");
            if let Some((_, why)) = CONFIG_SKIPS.iter().find(|(k, _)| *k == key || *k == pair) {
                return Some(why.to_string());
            }
        }
    }
    let anchors: Vec<&str> = s.config.all("trust-anchor").collect();
    if s.config.get("val-override-timestamp").is_none()
        && let Some(date) = s.config.get("val-override-date")
        && (date.len() != 14 || !date.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(format!(
            "val-override-date {date:?}: not a date the runner can set"
        ));
    }
    for step in &s.steps {
        match &step.kind {
            StepKind::Query | StepKind::CheckAnswer | StepKind::Traffic => {}
            StepKind::TimePasses(_) => {
                return Some(
                    "TIME_PASSES: the runner does not move dnsd's (monotonic) cache clock".into(),
                );
            }
            StepKind::Other(kind) => {
                return Some(format!(
                    "STEP {kind}: the runner plays client queries and answers only"
                ));
            }
        }
        if step.entry.is_none() && matches!(step.kind, StepKind::Query | StepKind::CheckAnswer) {
            return Some(format!("STEP {} without an entry", step.n));
        }
    }
    let entries = s
        .ranges
        .iter()
        .flat_map(|r| &r.entries)
        .chain(s.steps.iter().filter_map(|st| st.entry.as_ref()));
    let mut algorithms = std::collections::BTreeSet::new();
    for e in entries {
        if let Some(what) = e.unsupported.first() {
            return Some(format!(
                "{what} in the entry at line {}: not implemented by the runner",
                e.line
            ));
        }
        algorithms.extend(e.sections.iter().flatten().filter_map(|l| algorithm_of(l)));
    }
    algorithms.extend(anchors.iter().filter_map(|l| algorithm_of(l)));
    // Algorithms matter only where something is validated (a trust anchor).
    let unsupported: Vec<u8> = algorithms
        .iter()
        .copied()
        .filter(|a| !ALGORITHMS.contains(a))
        .collect();
    if !unsupported.is_empty() && !anchors.is_empty() {
        return Some(format!(
            "DNSSEC algorithms {unsupported:?} (3 DSA, 6 DSA-NSEC3-SHA1, …): dnsd validates {ALGORITHMS:?} only (others are insecure, RFC 6840 §5.2)"
        ));
    }
    None
}

/// The DNSSEC algorithm of a DNSKEY, DS or RRSIG record in text (number or mnemonic).
fn algorithm_of(line: &str) -> Option<u8> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| {
        ["DNSKEY", "DS", "RRSIG"]
            .iter()
            .any(|t| w.eq_ignore_ascii_case(t))
    })?;
    let offset = if words[at].eq_ignore_ascii_case("DNSKEY") {
        3
    } else {
        2
    };
    let word = words.get(at + offset)?;
    const NAMES: &[(&str, u8)] = &[
        ("RSAMD5", 1),
        ("DH", 2),
        ("DSA", 3),
        ("RSASHA1", 5),
        ("DSA-NSEC3-SHA1", 6),
        ("RSASHA1-NSEC3-SHA1", 7),
        ("RSASHA256", 8),
        ("RSASHA512", 10),
        ("ECC-GOST", 12),
        ("ECDSAP256SHA256", 13),
        ("ECDSAP384SHA384", 14),
        ("ED25519", 15),
        ("ED448", 16),
    ];
    word.parse().ok().or_else(|| {
        NAMES
            .iter()
            .find(|(n, _)| word.eq_ignore_ascii_case(n))
            .map(|(_, a)| *a)
    })
}

/// Where test.sh keeps the Debian source packages.
fn sources() -> PathBuf {
    std::env::var_os("NETFABRIC_REPLAY_SOURCES").map_or_else(
        || PathBuf::from("/var/cache/netfabric-tests/src"),
        PathBuf::from,
    )
}

/// The tarball of source package `package` in `dir` (`NAME_VERSION.orig.tar.*`),
/// after checking its SHA-256 against the `.dsc` beside it.
fn verified_tarball(dir: &Path, package: &str) -> PathBuf {
    let prefix = format!("{package}_");
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e} (test.sh fetches the scenarios)", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    let find = |what: &str| {
        entries
            .iter()
            .find(|p| p.to_string_lossy().contains(what) && !p.to_string_lossy().ends_with(".asc"))
            .cloned()
            .unwrap_or_else(|| panic!("no {package} {what} in {} (run test.sh)", dir.display()))
    };
    let (tarball, dsc) = (find(".orig.tar."), find(".dsc"));
    let dsc_text =
        std::fs::read_to_string(&dsc).unwrap_or_else(|e| panic!("{}: {e}", dsc.display()));
    let file = tarball
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let want = dsc_text
        .split("Checksums-Sha256:")
        .nth(1)
        .and_then(|rest| rest.lines().find(|l| l.trim_end().ends_with(file)))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{}: no SHA-256 of {file}", dsc.display()))
        .to_string();
    let out = Command::new("sha256sum")
        .arg(&tarball)
        .output()
        .expect("sha256sum");
    let got = String::from_utf8_lossy(&out.stdout);
    assert!(
        got.starts_with(&want),
        "{}: SHA-256 {got} is not the .dsc's {want}",
        tarball.display()
    );
    tarball
}

/// Unpacks the `{val,iter}_*.rpl` under `folder` of `tarball` into `into`: (set, path).
fn unpack(tarball: &Path, folder: &str, into: &Path, set: &str) -> Vec<(String, PathBuf)> {
    let dest = into.join(set);
    std::fs::create_dir_all(&dest).expect("folder");
    let status = Command::new("tar")
        .arg("xaf")
        .arg(tarball)
        .arg("-C")
        .arg(&dest)
        .args(["--wildcards", "--no-anchored", "--strip-components=1"])
        .arg(format!("{folder}/val_*.rpl"))
        .arg(format!("{folder}/iter_*.rpl"))
        .status()
        .expect("tar");
    assert!(status.success(), "unpacking {}", tarball.display());
    let mut files = Vec::new();
    let mut stack = vec![dest];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rpl") {
                let name = p
                    .file_stem()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_string();
                files.push((format!("{set}/{name}"), p));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn replay_scenarios_of_unbound_and_deckard() {
    let dir = sources();
    let work = tempfile::Builder::new()
        .prefix("nf-rpl-")
        .tempdir()
        .expect("temporary folder");
    let mut files = unpack(
        &verified_tarball(&dir, "unbound"),
        "testdata",
        work.path(),
        "unbound",
    );
    files.extend(unpack(
        &verified_tarball(&dir, "knot-resolver"),
        "tests/integration/deckard/sets/resolver",
        work.path(),
        "deckard",
    ));
    let only = std::env::var("REPLAY_ONLY").ok();
    files.retain(|(name, _)| only.as_ref().is_none_or(|o| name.contains(o.as_str())));
    let mut skipped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut runnable: Vec<(String, Scenario)> = Vec::new();
    for (name, path) in files {
        let text =
            String::from_utf8_lossy(&std::fs::read(&path).expect("read scenario")).into_owned();
        let short = name.rsplit('/').next().unwrap_or_default().to_string();
        match parse::parse(&text) {
            Err(e) => skipped
                .entry(format!("does not parse: {e}"))
                .or_default()
                .push(name),
            Ok(mut s) => match skip_reason(&short, &s) {
                Some(why) => skipped.entry(why).or_default().push(name),
                None => {
                    s.deckard = name.starts_with("deckard/");
                    runnable.push((name, s))
                }
            },
        }
    }
    let dnsd = netfabric_tests::bins::path("dnsd");
    let queue = Mutex::new(runnable.iter());
    let results: Mutex<BTreeMap<String, Outcome>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue").next();
                    let Some((name, s)) = next else { break };
                    let outcome = std::panic::catch_unwind(|| runner::run(s, &dnsd))
                        .unwrap_or_else(|_| Outcome::failed("the runner panicked (above)".into()));
                    let grade = match outcome.grade {
                        Grade::Full => "pass",
                        Grade::Verdict => "pass (answer; other sections differ)",
                        Grade::Fail => "FAIL",
                    };
                    println!("{name}: {grade}");
                    if only.is_some() || outcome.grade != Grade::Full {
                        for r in &outcome.reasons {
                            println!("    {r}");
                        }
                    }
                    if only.is_some() {
                        for t in &outcome.traffic {
                            println!("    traffic: {t}");
                        }
                    }
                    results
                        .lock()
                        .expect("results")
                        .insert(name.clone(), outcome);
                }
            });
        }
    });
    let results = results.into_inner().expect("results");
    report(&skipped, &results, only.is_none());
}

/// Prints the pass rate, the skips and the failures grouped; fails on a regression.
fn report(skipped: &BTreeMap<String, Vec<String>>, results: &BTreeMap<String, Outcome>, all: bool) {
    let count = |g: Grade| results.values().filter(|o| o.grade == g).count();
    let (full, verdict, failed) = (
        count(Grade::Full),
        count(Grade::Verdict),
        count(Grade::Fail),
    );
    println!(
        "\nskipped ({}):",
        skipped.values().map(Vec::len).sum::<usize>()
    );
    for (why, names) in skipped {
        println!("  {} x {why}: {}", names.len(), names.join(" "));
    }
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, o) in results.iter().filter(|(_, o)| o.grade == Grade::Fail) {
        let first = o
            .reasons
            .first()
            .map_or("(no reason)".to_string(), |r| reason_class(r));
        groups.entry(first).or_default().push(name);
    }
    println!("\nfailures by first reason:");
    for (why, names) in &groups {
        println!("  {} x {why}: {}", names.len(), names.join(" "));
    }
    let ran = results.len();
    println!(
        "\nran {ran}: {} pass on flags, rcode and answer ({full} of them on every section), {failed} fail: pass rate {:.0}%",
        full + verdict,
        100.0 * (full + verdict) as f64 / ran.max(1) as f64
    );
    let expected = include_str!("resolver_replay/expected-pass.txt");
    let expected: Vec<&str> = expected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let regressions: Vec<&&str> = expected
        .iter()
        .filter(|n| {
            results.get(**n).is_some_and(|o| o.grade == Grade::Fail)
                || (all && !results.contains_key(**n))
        })
        .collect();
    let new: Vec<&String> = results
        .iter()
        .filter(|(n, o)| o.grade != Grade::Fail && !expected.contains(&n.as_str()))
        .map(|(n, _)| n)
        .collect();
    if !new.is_empty() {
        println!("\npassing, not yet in resolver_replay/expected-pass.txt:");
        for n in new {
            println!("{n}");
        }
    }
    assert!(
        regressions.is_empty(),
        "scenarios that passed before fail (or did not run): {regressions:?}"
    );
}

/// A failure reason without its step numbers and record data, for grouping.
fn reason_class(reason: &str) -> String {
    let tail = reason
        .split("): ")
        .nth(1)
        .or_else(|| reason.split(": ").nth(1))
        .unwrap_or(reason);
    let words: Vec<&str> = tail.split_whitespace().take(4).collect();
    words.join(" ")
}
