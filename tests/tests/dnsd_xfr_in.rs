//! dnsd as the secondary on the "vps" namespace of NSD, Knot and BIND primaries at
//! "home": the first AXFR (TSIG-signed, many messages), then each edit on the primary
//! reaches dnsd by the primary's NOTIFY (the SOA's refresh is an hour) and an IXFR
//! (AXFR from NSD 4.6, which has no IXFR out); after each, the zone dnsd serves (its
//! own AXFR out) equals the primary's file. The primary stopped, dnsd restarted:
//! it serves the last serial from its state folder at once. Before its first transfer
//! a secondary zone answers SERVFAIL with EDE 14 Not Ready. A wrong secret on dnsd's
//! side gets nothing from any of the three; primaries are tried in turn; past the
//! expire with no primary, SERVFAIL until one is back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::xfr::{
    HOME, HomeVps, PATIENCE, Peer, PeerServer, Role, TsigKey, VPS, canonical, canonical_axfr,
    dig_axfr, zone_text,
};

const ZONE: &str = "example.net";
const HOSTS: usize = 2000;

fn secondary_config(key: &TsigKey, primary: SocketAddr) -> String {
    format!(
        "[key.\"{}\"]\nalgorithm = \"{}\"\nsecret = \"{}\"\n\
         [xfr]\nallow-transfer = [{{ from = \"198.18.0.0/24\" }}]\n\
         [zone.\"{ZONE}\"]\nprimaries = [{{ address = \"{primary}\", key = \"{}\" }}]\n",
        key.name, key.algorithm, key.secret, key.name
    )
}

/// The serial dnsd serves for the zone.
fn serial(dnsd: &Dnsd) -> Option<u32> {
    let answer = dnsd.ask(&format!("{ZONE}."), 6)?;
    let (_, rdatas) = answer.answer.iter().find(|(k, _)| k.1 == "SOA")?;
    rdatas
        .iter()
        .next()?
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}

fn wait_serial(dnsd: &Dnsd, want: u32, primary: Option<&PeerServer>) {
    let start = Instant::now();
    while serial(dnsd) != Some(want) {
        assert!(
            start.elapsed() < PATIENCE,
            "dnsd serves {:?}, not {want}:\n{}\n--- primary:\n{}",
            serial(dnsd),
            dnsd.log(),
            primary.map(PeerServer::log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The zone as dnsd serves it: its AXFR out (dig, from the VPS), canonical.
fn dump(dnsd: &Dnsd, net: &HomeVps) -> Vec<String> {
    let text = dig_axfr(&net.vps, SocketAddr::new(VPS, 53), ZONE);
    assert!(
        !text.contains("Transfer failed") && text.contains("SOA"),
        "{text}\n{}",
        dnsd.log()
    );
    canonical_axfr(ZONE, &text)
}

fn counter(dnsd: &Dnsd, prefix: &str, needle: &str) -> u64 {
    dnsd.scrape()
        .lines()
        .filter(|l| l.starts_with(prefix) && l.contains(needle))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn secondary_of(kind: Peer) {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let primary_addr = SocketAddr::new(HOME, 53);
    let vps_addr = SocketAddr::new(VPS, 53);
    let zones = [(ZONE.to_string(), zone_text(1, HOSTS, 0))];
    let mut primary = PeerServer::start(
        kind,
        Some(net.home.clone()),
        primary_addr,
        &Role::Primary {
            zones: &zones,
            notify: Some(vps_addr),
        },
        Some(&key),
    );
    let file = primary.dir().join(format!("{ZONE}.zone"));
    let source = || canonical(ZONE, &file);
    let mut dnsd = Dnsd::builder()
        .in_netns(net.vps.clone())
        .listen(vps_addr)
        .metrics()
        .probe(ZONE)
        .config(&secondary_config(&key, primary_addr))
        .start();
    wait_serial(&dnsd, 1, Some(&primary));
    assert_eq!(dump(&dnsd, &net), source(), "{} → dnsd, AXFR", kind.name());
    assert!(
        counter(&dnsd, "dnsd_xfr_in_total{", "type=\"axfr\",result=\"ok\"") >= 1,
        "{}",
        dnsd.scrape()
    );
    // Edits: NOTIFY (the refresh timer is an hour away), then IXFR (AXFR from NSD).
    for step in 1..=3u32 {
        let serial = 1 + step;
        primary.edit(ZONE, &zone_text(serial, HOSTS, step as usize));
        primary.wait_serial(ZONE, serial);
        wait_serial(&dnsd, serial, Some(&primary));
        assert_eq!(
            dump(&dnsd, &net),
            source(),
            "{} → dnsd after edit {step}:\n{}",
            kind.name(),
            dnsd.log()
        );
    }
    assert!(
        counter(&dnsd, "dnsd_notify_in_total{", "result=\"accepted\"") >= 3,
        "{}",
        dnsd.scrape()
    );
    if kind != Peer::Nsd {
        let ixfrs = counter(&dnsd, "dnsd_xfr_in_total{", "type=\"ixfr\",result=\"ok\"");
        assert!(ixfrs >= 3, "{ixfrs} IXFRs in:\n{}", dnsd.log());
    }
    // The secondary's state in the metrics.
    assert_eq!(
        counter(&dnsd, "dnsd_secondary_serial{zone=\"example.net.\"}", ""),
        4,
        "{}",
        dnsd.scrape()
    );
    assert_eq!(
        counter(&dnsd, "dnsd_secondary_expired{zone=\"example.net.\"}", ""),
        0
    );
    // The primary gone, dnsd restarted: the last serial at once, from its state folder.
    let last = source();
    primary.stop();
    dnsd.restart();
    assert_eq!(serial(&dnsd), Some(4), "{}", dnsd.log());
    assert_eq!(dump(&dnsd, &net), last, "after the restart");
}

#[test]
fn dnsd_is_a_secondary_of_knot() {
    secondary_of(Peer::Knot);
}

#[test]
fn dnsd_is_a_secondary_of_nsd() {
    secondary_of(Peer::Nsd);
}

#[test]
fn dnsd_is_a_secondary_of_bind() {
    secondary_of(Peer::Bind);
}

/// dnsd holding the right key name with a wrong secret, a secondary of Knot, NSD or
/// BIND: its SOA queries get BADSIG from the primary (logged, a refresh failure
/// counted), the primary's NOTIFY (signed with the real secret) is refused as BADSIG
/// by dnsd and counted, and the zone is never served (SERVFAIL, Not Ready) nor
/// transferred.
#[test]
fn dnsd_with_a_wrong_secret_gets_nothing_from_knot() {
    wrong_secret(Peer::Knot);
}

#[test]
fn dnsd_with_a_wrong_secret_gets_nothing_from_nsd() {
    wrong_secret(Peer::Nsd);
}

#[test]
fn dnsd_with_a_wrong_secret_gets_nothing_from_bind() {
    wrong_secret(Peer::Bind);
}

fn wrong_secret(kind: Peer) {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let vps_addr = SocketAddr::new(VPS, 53);
    let zones = [(ZONE.to_string(), zone_text(1, 20, 0))];
    let primary = PeerServer::start(
        kind,
        Some(net.home.clone()),
        SocketAddr::new(HOME, 53),
        &Role::Primary {
            zones: &zones,
            notify: Some(vps_addr),
        },
        Some(&key),
    );
    let dnsd = Dnsd::builder()
        .in_netns(net.vps.clone())
        .listen(vps_addr)
        .metrics()
        .probe("probe.test")
        .zone(
            "probe.test",
            "$ORIGIN probe.test.\n@ 300 SOA ns hm 1 3600 600 86400 300\n@ 300 NS ns\nns 300 A 198.18.0.2\n",
        )
        .config(&secondary_config(
            &key.with_wrong_secret(),
            SocketAddr::new(HOME, 53),
        ))
        .start();
    let logs = || {
        format!(
            "--- dnsd:\n{}\n--- {}:\n{}",
            dnsd.log(),
            kind.name(),
            primary.log()
        )
    };
    let start = Instant::now();
    while counter(
        &dnsd,
        "dnsd_secondary_refresh_failures_total{",
        "example.net.",
    ) == 0
    {
        assert!(
            start.elapsed() < PATIENCE,
            "no refresh failure:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(dnsd.log().contains("BADSIG"), "{}", logs());
    // The primary's NOTIFY of an edit, signed with the real secret: BADSIG at dnsd.
    primary.edit(ZONE, &zone_text(2, 20, 1));
    let start = Instant::now();
    while dnsd
        .metric("dnsd_tsig_failures_total{error=\"badsig\"}")
        .unwrap_or(0)
        == 0
    {
        assert!(start.elapsed() < PATIENCE, "no BADSIG counted:\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(dnsd.log().contains("request refused: TSIG"), "{}", logs());
    // Nothing changed: never transferred, never served.
    assert_eq!(
        counter(&dnsd, "dnsd_xfr_in_total{", "result=\"ok\""),
        0,
        "{}",
        logs()
    );
    let out = net.vps.exec(&["dig", "@198.18.0.2", "example.net.", "SOA"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("status: SERVFAIL"), "{text}\n{}", logs());
}

/// Primaries are tried in turn: the first answers nothing (no server on its port),
/// the second (Knot) is transferred from; the log names the first and why.
#[test]
fn primaries_are_tried_in_turn() {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let zones = [(ZONE.to_string(), zone_text(1, 20, 0))];
    let knot = PeerServer::start(
        Peer::Knot,
        Some(net.home.clone()),
        SocketAddr::new(HOME, 53),
        &Role::Primary {
            zones: &zones,
            notify: None,
        },
        Some(&key),
    );
    let config = secondary_config(&key, SocketAddr::new(HOME, 53)).replace(
        "primaries = [{",
        &format!(
            "primaries = [{{ address = \"{HOME}:5399\", key = \"{}\" }}, {{",
            key.name
        ),
    );
    assert!(config.contains(":5399"), "{config}");
    let dnsd = Dnsd::builder()
        .in_netns(net.vps.clone())
        .listen(SocketAddr::new(VPS, 53))
        .probe(ZONE)
        .config(&config)
        .start();
    assert_eq!(serial(&dnsd), Some(1), "{}\n{}", dnsd.log(), knot.log());
    let log = dnsd.log();
    assert!(
        log.lines()
            .any(|l| l.contains("refresh failed") && l.contains("remote=198.18.0.1:5399")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("transfer in") && l.contains("remote=198.18.0.1:53 ")),
        "{log}"
    );
}

/// A secondary zone whose primary never answers: SERVFAIL with EDE 14 Not Ready
/// (RFC 8914 §4.15), not REFUSED; and no zone to transfer on.
#[test]
fn a_secondary_that_never_loaded_answers_not_ready() {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    // Nobody listens at home.
    let dnsd = Dnsd::builder()
        .in_netns(net.vps.clone())
        .listen(SocketAddr::new(VPS, 53))
        .probe("probe.test")
        .zone(
            "probe.test",
            "$ORIGIN probe.test.\n@ 300 SOA ns hm 1 3600 600 86400 300\n@ 300 NS ns\nns 300 A 198.18.0.2\n",
        )
        .config(&secondary_config(&key, SocketAddr::new(HOME, 53)))
        .start();
    let out = net.vps.exec(&["dig", "@198.18.0.2", "example.net.", "SOA"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("status: SERVFAIL"), "{text}\n{}", dnsd.log());
    assert!(text.contains("EDE: 14"), "{text}");
}

/// The primary gone, a secondary zone serves until the SOA's expire passes with no
/// primary reachable, then answers SERVFAIL with EDE 14 (RFC 1996/1034); a primary
/// back, it serves again. (Timers of seconds: the bounds are lowered for the test.)
#[test]
fn a_secondary_expires_without_its_primary_and_comes_back_with_it() {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let primary_addr = SocketAddr::new(HOME, 53);
    // Refresh 1 s, retry 1 s, expire 8 s.
    let text = zone_text(1, 20, 0).replace("1 3600 600 86400 300", "1 1 1 8 300");
    assert!(text.contains("1 1 1 8 300"));
    let zones = [(ZONE.to_string(), text)];
    let role = Role::Primary {
        zones: &zones,
        notify: None,
    };
    let primary = PeerServer::start(
        Peer::Knot,
        Some(net.home.clone()),
        primary_addr,
        &role,
        Some(&key),
    );
    let config = format!(
        "{}[xfr]\nrefresh-min-seconds = 1\nexpire-min-seconds = 1\n",
        secondary_config(&key, primary_addr).replace(
            "[xfr]\nallow-transfer = [{ from = \"198.18.0.0/24\" }]\n",
            ""
        )
    );
    let mut dnsd = Dnsd::builder()
        .in_netns(net.vps.clone())
        .listen(SocketAddr::new(VPS, 53))
        .probe(ZONE)
        .config(&config)
        .start();
    wait_serial(&dnsd, 1, None);
    primary.stop();
    dnsd.wait_for("the zone to expire", |_| {
        let out = net.vps.exec(&["dig", "@198.18.0.2", "example.net.", "SOA"]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.contains("status: SERVFAIL") && text.contains("EDE: 14")
    });
    assert!(
        dnsd.log().contains("secondary zone expired"),
        "{}",
        dnsd.log()
    );
    // A primary again (the same zone): served again.
    let _back = PeerServer::start(
        Peer::Knot,
        Some(net.home.clone()),
        primary_addr,
        &role,
        Some(&key),
    );
    dnsd.wait_for("the zone served again", |d| serial(d) == Some(1));
}
