//! The quick start of the README: examples/primary.toml and examples/secondary.toml,
//! run as they are from the repository's root (two processes on loopback, in a
//! namespace of their own so that their fixed ports meet no other program): the
//! secondary transfers every zone with the key of examples/xfr.key and answers as
//! the primary does; an edit of a file in ./zones reaches it by NOTIFY and IXFR.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::netns::Netns;
use netfabric_tests::xfr::PATIENCE;

/// examples/primary.toml and examples/secondary.toml, run as their headers show (from
/// the repository's root, as they are, two processes on loopback): the secondary
/// transfers both zones from the primary with the key of examples/xfr.key, and
/// answers every name of them as the primary does (the names from the primary's own
/// AXFR, signed with that key by dig).
#[test]
fn the_primary_and_secondary_examples_run_from_the_repository_root() {
    use netfabric_tests::dns::{Query, normalize, udp_exchange};
    let primary: SocketAddr = "127.0.0.1:5310".parse().unwrap();
    let secondary: SocketAddr = "127.0.0.1:5311".parse().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Both in one namespace of their own: 127.0.0.1:5310 and :5311 are always free
    // there, and the secondary reaches the primary on loopback as the examples say.
    let ns = Arc::new(Netns::new("nf-examples"));
    let start = |example: &str, addr: SocketAddr| {
        Dnsd::builder()
            .as_is(
                &root,
                &["--config", &format!("examples/{example}")],
                addr,
                "home.example.net",
            )
            .in_netns(ns.clone())
            .start()
    };
    let primary_dnsd = start("primary.toml", primary);
    // Started means the secondary answers the zone: transferred, or kept from a run
    // before this one in its state folder.
    let secondary_dnsd = start("secondary.toml", secondary);
    let log = |example: &str| match example {
        "primary.toml" => primary_dnsd.log(),
        _ => secondary_dnsd.log(),
    };
    let ask = |server: SocketAddr, name: &str, qtype: u16| {
        ns.run_in(|| {
            udp_exchange(
                server,
                &Query::new(name, qtype).to_bytes(),
                Duration::from_millis(300),
            )
        })
        .and_then(|r| normalize(&r).ok())
    };
    for zone in ["home.example.net.", "100.51.198.in-addr.arpa."] {
        let started = Instant::now();
        loop {
            let (p, s) = (ask(primary, zone, 6), ask(secondary, zone, 6));
            if p.is_some() && p == s {
                break;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{zone}: primary {p:?}, secondary {s:?}\n--- primary:\n{}\n--- secondary:\n{}",
                log("primary.toml"),
                log("secondary.toml")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let axfr = ns
            .command(&["dig"])
            .current_dir(&root)
            .args([
                "@127.0.0.1",
                "-p",
                "5310",
                "-k",
                "examples/xfr.key",
                "+nocmd",
            ])
            .args(["+nostats", "+nocomments", "AXFR", zone])
            .output()
            .expect("dig");
        let text = String::from_utf8_lossy(&axfr.stdout);
        let questions = netfabric_tests::dns::axfr_questions(&text);
        assert!(questions.len() > 3, "the primary's AXFR of {zone}:\n{text}");
        for (name, qtype) in &questions {
            assert_eq!(
                ask(secondary, name, *qtype),
                ask(primary, name, *qtype),
                "{name} {qtype}"
            );
        }
    }
    let secondary_log = log("secondary.toml");
    // A run before this one left the zones in the state folder (.dnsd-state).
    assert!(
        secondary_log.contains("transfer in")
            || secondary_log.contains("secondary zone served from the state folder"),
        "{secondary_log}"
    );
}

/// The examples' quick start, as the README shows it: an edit of a file in ./zones
/// reaches the secondary by NOTIFY and IXFR. Run from a copy of the repository's
/// root (examples/primary.toml, secondary.toml, xfr.key and zones/*.zone as they
/// are), so that the edit is the copy's.
#[test]
fn an_edit_in_zones_reaches_the_examples_secondary_by_notify_and_ixfr() {
    use netfabric_tests::dns::{Query, normalize, udp_exchange};
    let primary: SocketAddr = "127.0.0.1:5310".parse().unwrap();
    let secondary: SocketAddr = "127.0.0.1:5311".parse().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = tempfile::tempdir().expect("temporary folder");
    for (folder, names) in [
        (
            "examples",
            vec!["primary.toml", "secondary.toml", "xfr.key"],
        ),
        ("zones", Vec::new()),
    ] {
        std::fs::create_dir(root.path().join(folder)).expect("mkdir");
        let names: Vec<String> = if names.is_empty() {
            std::fs::read_dir(repo.join(folder))
                .expect("zones/")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".zone"))
                .collect()
        } else {
            names.iter().map(|n| n.to_string()).collect()
        };
        for name in names {
            std::fs::copy(
                repo.join(folder).join(&name),
                root.path().join(folder).join(&name),
            )
            .expect("copy");
        }
    }
    let ns = Arc::new(Netns::new("nf-examples"));
    let start = |example: &str, addr: SocketAddr| {
        Dnsd::builder()
            .as_is(
                root.path(),
                &["--config", &format!("examples/{example}")],
                addr,
                "home.example.net",
            )
            .in_netns(ns.clone())
            .start()
    };
    let primary_dnsd = start("primary.toml", primary);
    let mut secondary_dnsd = start("secondary.toml", secondary);
    let ask = |server: SocketAddr, name: &str, qtype: u16| {
        ns.run_in(|| {
            udp_exchange(
                server,
                &Query::new(name, qtype).to_bytes(),
                Duration::from_millis(300),
            )
        })
        .and_then(|r| normalize(&r).ok())
    };
    secondary_dnsd.wait_for("the secondary at the primary's serial", |_| {
        let p = ask(primary, "home.example.net.", 6);
        p.is_some() && p == ask(secondary, "home.example.net.", 6)
    });
    let file = root.path().join("zones/home.example.net.zone");
    let mut text = std::fs::read_to_string(&file).expect("read the zone");
    text.push_str("audit-edit TXT \"reached the secondary\"\n");
    std::fs::write(&file, text).expect("edit the zone");
    secondary_dnsd.wait_for("the edit on the secondary", |_| {
        ask(secondary, "audit-edit.home.example.net.", 16)
            .is_some_and(|a| a.answer.values().flatten().any(|r| r.contains("reached")))
    });
    assert_eq!(
        ask(secondary, "home.example.net.", 6),
        ask(primary, "home.example.net.", 6),
        "{}",
        primary_dnsd.log()
    );
    let log = secondary_dnsd.log();
    assert!(
        log.contains("NOTIFY received zone=home.example.net.")
            && log
                .lines()
                .any(|l| l.contains("transfer in zone=home.example.net.")
                    && l.contains("op=\"ixfr\"")),
        "{log}"
    );
}
