//! dnsd as a primary at "home" with NSD, Knot and BIND as its secondaries on the
//! "vps" namespace: TSIG-signed AXFR of a zone that spans many messages, then IXFR
//! after each of several edits, each announced by dnsd's NOTIFY; after each, the zone as every peer dumps it with its
//! own tools equals the source file (both through `named-compilezone -s full`). Each
//! peer with the wrong secret, an unsigned request and a request from an address the
//! zone does not allow are refused, logged and counted, and change nothing. NOTIFY
//! out to a secondary that does not answer is sent again until it does, and a new
//! serial is announced.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::xfr::{
    HOME, HomeVps, PATIENCE, Peer, PeerServer, Role, TsigKey, VPS, canonical, zone_text,
};

const ZONE: &str = "example.net";

fn dnsd_config(key: &TsigKey, allow: &str) -> String {
    format!(
        "[key.\"{}\"]\nalgorithm = \"{}\"\nsecret = \"{}\"\n\
         [xfr]\nallow-transfer = [{allow}]\n",
        key.name, key.algorithm, key.secret
    )
}

/// Writes `text` as the primary's zone file and waits until dnsd serves `serial`.
fn edit(dnsd: &mut Dnsd, text: &str, serial: u32) {
    let path = dnsd.zones_dir().join(format!("{ZONE}.zone"));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write zone");
    std::fs::rename(&tmp, &path).expect("rename zone");
    dnsd.wait_for(&format!("serial {serial}"), |d| {
        d.ask(&format!("{ZONE}."), 6)
            .and_then(|a| a.answer.values().next().cloned())
            .is_some_and(|soa| {
                soa.iter()
                    .any(|r| r.split_whitespace().nth(2) == Some(&serial.to_string()))
            })
    });
}

/// Waits until `peer`'s own dump of the zone equals `source` (the peers write their
/// dumps in the background, `nsd-control write`, `rndc sync`: no file yet, or the
/// previous version, until they have), then compares.
fn same_zone(peer: &PeerServer, source: &[String], what: &str) {
    let start = Instant::now();
    while peer.dump(ZONE) != source && start.elapsed() < PATIENCE {
        std::thread::sleep(Duration::from_millis(200));
    }
    let dump = peer.dump(ZONE);
    let missing: Vec<&String> = source.iter().filter(|l| !dump.contains(l)).collect();
    let extra: Vec<&String> = dump.iter().filter(|l| !source.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} {what}: missing {:?}, extra {:?}",
        peer.kind.name(),
        &missing[..missing.len().min(10)],
        &extra[..extra.len().min(10)]
    );
}

fn source(dnsd: &Dnsd) -> Vec<String> {
    canonical(ZONE, &dnsd.zones_dir().join(format!("{ZONE}.zone")))
}

#[test]
fn nsd_knot_and_bind_transfer_from_dnsd_with_tsig_axfr_then_ixfr() {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let mut dnsd = Dnsd::builder()
        .in_netns(net.home.clone())
        .listen(SocketAddr::new(HOME, 53))
        .keep_serials()
        .metrics()
        .zone(ZONE, &zone_text(1, 3000, 0))
        .config(&format!(
            "{}notify = [{}]\n",
            dnsd_config(&key, "{ key = \"home-vps\" }"),
            (0..3)
                .map(|i| format!("{{ address = \"{VPS}:{}\", key = \"home-vps\" }}", 5301 + i))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .start();
    let primary = SocketAddr::new(HOME, 53);
    let zones = [ZONE.to_string()];
    let mut peers: Vec<PeerServer> = Peer::ALL
        .iter()
        .enumerate()
        .map(|(i, &kind)| {
            PeerServer::start(
                kind,
                Some(net.vps.clone()),
                SocketAddr::new(VPS, 5301 + i as u16),
                &Role::Secondary {
                    zones: &zones,
                    primary,
                },
                Some(&key),
            )
        })
        .collect();
    for peer in &mut peers {
        peer.wait_serial(ZONE, 1);
        same_zone(peer, &source(&dnsd), "after AXFR");
    }
    let metrics = dnsd.scrape();
    assert!(
        metrics.lines().any(
            |l| l.starts_with("dnsd_xfr_out_total{zone=\"example.net.\"")
                && l.contains("type=\"axfr\",result=\"ok\"")
        ),
        "{metrics}"
    );
    // Edits: dnsd NOTIFYs each peer (their SOA refresh is an hour away), which asks
    // for an IXFR.
    for step in 1..=4u32 {
        let serial = 1 + step;
        edit(&mut dnsd, &zone_text(serial, 3000, step as usize), serial);
        for peer in &mut peers {
            peer.wait_serial(ZONE, serial);
            same_zone(peer, &source(&dnsd), &format!("after edit {step}"));
        }
    }
    let ixfrs: u64 = dnsd
        .scrape()
        .lines()
        .filter(|l| {
            l.starts_with("dnsd_xfr_out_total{") && l.contains("type=\"ixfr\",result=\"ok\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    let logs: String = peers
        .iter()
        .map(|p| format!("--- {}\n{}\n", p.kind.name(), p.log()))
        .collect();
    assert!(ixfrs >= 3 * 4, "{ixfrs} IXFRs:\n{}\n{logs}", dnsd.log());
    assert!(dnsd.log().contains("op=\"ixfr\""), "{}", dnsd.log());
    let acknowledged: u64 = dnsd
        .scrape()
        .lines()
        .filter(|l| {
            l.starts_with("dnsd_notify_out_total{") && l.contains("result=\"acknowledged\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(acknowledged >= 3 * 4, "{acknowledged} NOTIFYs acknowledged");
}

#[test]
fn a_wrong_key_no_key_or_an_address_not_allowed_is_refused_logged_and_counted() {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let dnsd = Dnsd::builder()
        .in_netns(net.home.clone())
        .listen(SocketAddr::new(HOME, 53))
        .keep_serials()
        .metrics()
        .zone(ZONE, &zone_text(1, 50, 0))
        .config(&dnsd_config(
            &key,
            "{ from = \"198.18.0.2\", key = \"home-vps\" }",
        ))
        .start();
    let primary = SocketAddr::new(HOME, 53);
    let zones = [ZONE.to_string()];
    // NSD, Knot and BIND in turn with the right name and a wrong secret: BADSIG,
    // never a zone.
    let wrong = key.with_wrong_secret();
    let badsig = |d: &Dnsd| {
        d.metric("dnsd_tsig_failures_total{error=\"badsig\"}")
            .unwrap_or(0)
    };
    for kind in Peer::ALL {
        let before = badsig(&dnsd);
        let peer = PeerServer::start(
            kind,
            Some(net.vps.clone()),
            SocketAddr::new(VPS, 5301),
            &Role::Secondary {
                zones: &zones,
                primary,
            },
            Some(&wrong),
        );
        let start = Instant::now();
        while badsig(&dnsd) == before {
            assert!(
                start.elapsed() < PATIENCE,
                "no BADSIG counted for {}:\n{}\n{}",
                kind.name(),
                dnsd.log(),
                peer.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(peer.serial(ZONE), None, "{}: {}", kind.name(), peer.log());
        peer.stop();
    }
    assert!(
        dnsd.log().contains("request refused: TSIG"),
        "{}",
        dnsd.log()
    );
    // kdig from the VPS without a key, and with the key from home (not allowed).
    let kdig = |ns: &netfabric_tests::netns::Netns, args: &[&str]| {
        let mut argv = vec!["kdig", "@198.18.0.1", "+tcp", "+noall", "+comments"];
        argv.extend_from_slice(args);
        // kdig reports a refused transfer on standard error.
        let out = ns.exec(&argv);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let unsigned = kdig(&net.vps, &["AXFR", "example.net."]);
    assert!(unsigned.contains("REFUSED"), "{unsigned}");
    let tsig = format!("hmac-sha256:home-vps:{}", key.secret);
    let from_home = kdig(&net.home, &["-y", &tsig, "AXFR", "example.net."]);
    assert!(from_home.contains("REFUSED"), "{from_home}");
    let from_vps = kdig(&net.vps, &["-y", &tsig, "AXFR", "example.net."]);
    assert!(!from_vps.contains("REFUSED"), "{from_vps}");
    let refused: u64 = dnsd
        .scrape()
        .lines()
        .filter(|l| l.starts_with("dnsd_xfr_out_total{") && l.contains("result=\"refused\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(refused >= 2, "{refused} refused:\n{}", dnsd.log());
    assert!(
        dnsd.log()
            .contains("transfer refused: not in allow-transfer")
    );
}

/// The serial of the SOA a NOTIFY carries in its answer section (RFC 1996 §3.7), as
/// dnsd writes it (the owner a pointer to the question, MNAME and RNAME uncompressed).
fn notify_serial(msg: &[u8]) -> Option<u32> {
    let mut at = 12;
    while *msg.get(at)? != 0 {
        at += 1 + usize::from(msg[at]);
    }
    at += 1 + 4; // root label, QTYPE, QCLASS
    at += 2 + 2 + 2 + 4 + 2; // pointer, TYPE, CLASS, TTL, RDLENGTH
    for _ in 0..2 {
        while *msg.get(at)? != 0 {
            at += 1 + usize::from(msg[at]);
        }
        at += 1;
    }
    Some(u32::from_be_bytes(msg.get(at..at + 4)?.try_into().ok()?))
}

/// NOTIFY out (RFC 1996) to a secondary that stays silent is sent again until it
/// answers; then the next serial is announced, and acknowledged at once.
#[test]
fn notify_out_is_sent_again_until_acknowledged() {
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind the secondary");
    peer.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let config = format!(
        "[xfr]\nnotify = [{{ address = \"{}\" }}]\n",
        peer.local_addr().expect("address")
    );
    let mut dnsd = Dnsd::builder()
        .keep_serials()
        .metrics()
        .zone(ZONE, &zone_text(1, 10, 0))
        .config(&config)
        .start();
    let mut buf = [0u8; 4096];
    let mut recv = |what: &str, dnsd: &Dnsd| {
        let (n, from) = peer
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("no NOTIFY ({what}): {e}\n{}", dnsd.log()));
        let msg = buf[..n].to_vec();
        assert_eq!((msg[2] >> 3) & 0x0f, 4, "opcode NOTIFY: {msg:?}");
        (msg, from)
    };
    // The first NOTIFY (dnsd announces its zones at start) goes unanswered.
    let (first, _) = recv("the first", &dnsd);
    assert_eq!(notify_serial(&first), Some(1));
    // It comes again; answered this time.
    let (again, from) = recv("a retry", &dnsd);
    assert_eq!(notify_serial(&again), Some(1));
    let ack = |msg: &[u8], from| {
        let mut answer = msg.to_vec();
        answer[2] |= 0x80;
        peer.send_to(&answer, from).expect("answer the NOTIFY");
    };
    ack(&again, from);
    let acknowledged = |d: &Dnsd| {
        d.scrape()
            .lines()
            .filter(|l| l.starts_with("dnsd_notify_out_total{") && l.contains("\"acknowledged\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    dnsd.wait_for("the NOTIFY acknowledged", |d| acknowledged(d) == 1);
    // A new serial: announced, acknowledged at once.
    let path = dnsd.zones_dir().join(format!("{ZONE}.zone"));
    std::fs::write(&path, zone_text(2, 10, 1)).expect("write zone");
    let (next, from) = recv("the new serial", &dnsd);
    assert_eq!(notify_serial(&next), Some(2), "{}", dnsd.log());
    ack(&next, from);
    dnsd.wait_for("the second NOTIFY acknowledged", |d| acknowledged(d) == 2);
    assert!(dnsd.log().contains("NOTIFY acknowledged"), "{}", dnsd.log());
}
