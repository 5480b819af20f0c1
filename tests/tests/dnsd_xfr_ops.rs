//! Operating transfers: `dnsd ctl status` shows each secondary zone's primary, serial,
//! last attempt and its result, next refresh and time to expiry, and a primary zone's
//! NOTIFYs not yet acknowledged; a SIGHUP applies changed transfer settings (the
//! primaries, their TSIG keys, who may NOTIFY, the notify list) without a restart.
//! The primaries are scripted (`netfabric_tests::xfr_script`) on loopback.

use std::collections::BTreeMap;
use std::net::UdpSocket;

use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::xfr::PATIENCE;
use netfabric_tests::xfr_script::{IxfrMode, Script, ScriptedPrimary, TsigMode, records, test_key};

const ZONE: &str = "example.net.";

fn version(serial: u32) -> String {
    format!(
        "$ORIGIN {ZONE}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n\
         @ NS ns1\nns1 A 198.51.100.1\nwww A 198.51.100.{serial}\n"
    )
}

fn primary(key: &str, secret: &[u8], current: u32) -> ScriptedPrimary {
    let versions: BTreeMap<u32, _> = [1, 2]
        .into_iter()
        .map(|s| (s, records(ZONE, &version(s))))
        .collect();
    ScriptedPrimary::start(
        ZONE,
        Script {
            versions,
            current,
            ixfr: IxfrMode::Good,
            axfr_refused: false,
            key: Some((key.to_string(), secret.to_vec())),
            tsig: TsigMode::Good,
        },
    )
}

fn b64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The configuration: secondary example.net from `primary` with key `key`, and the
/// primary zone probe.test notifying `notify`.
fn config(primary: &ScriptedPrimary, key: &str, secret: &[u8], notify: &UdpSocket) -> String {
    format!(
        "[key.\"{key}\"]\nalgorithm = \"hmac-sha256\"\nsecret = \"{}\"\n\
         [zone.\"example.net\"]\nprimaries = [{{ address = \"{}\", key = \"{key}\" }}]\n\
         [zone.\"probe.test\"]\nnotify = [{{ address = \"{}\" }}]\n",
        b64(secret),
        primary.addr,
        notify.local_addr().expect("address"),
    )
}

fn status(dnsd: &Dnsd, zone: &str) -> String {
    dnsd.ctl(&["status"])
        .into_iter()
        .find(|l| l.starts_with(&format!("zone {zone} ")))
        .unwrap_or_else(|| panic!("no status line for {zone}:\n{}", dnsd.log()))
}

#[test]
fn ctl_status_shows_transfers_and_sighup_applies_new_primaries_keys_and_notify_lists() {
    let (key1, secret1) = ("home-one.", b"the-first-secret-of-32-octets!!!".as_slice());
    let (key2, secret2) = ("home-two.", b"the-second-secret-of-32-octets!!".as_slice());
    let one = primary(key1, secret1, 1);
    let two = primary(key2, secret2, 2);
    // A secondary that never answers NOTIFY, and one that listens.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let listening = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut dnsd = Dnsd::builder()
        .probe("probe.test")
        .zone(
            "probe.test",
            "$ORIGIN probe.test.\n@ 300 SOA ns hm 7 3600 600 86400 300\n@ 300 NS ns\nns 300 A 198.51.100.2\n",
        )
        .config(&config(&one, key1, secret1, &silent))
        .start();
    dnsd.wait_for("the first transfer", |d| d.soa_serial(ZONE) == Some(1));
    // The secondary's state.
    dnsd.wait_for("status with the refresh", |d| {
        status(d, ZONE).contains("last-result=ok")
    });
    let line = status(&dnsd, ZONE);
    for want in [
        " serial=1 ".to_string(),
        format!(" primary={} ", one.addr),
        "last-attempt=".into(),
        "last-success=".into(),
        "next-refresh-in=".into(),
    ] {
        assert!(line.contains(&want), "{want:?} not in {line}");
    }
    let field = |line: &str, name: &str| -> Option<u64> {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name))?
            .trim_end_matches('s')
            .parse()
            .ok()
    };
    let expire = field(&line, "expire-in=").unwrap_or_else(|| panic!("expire-in in {line}"));
    assert!((86_000..=86_400).contains(&expire), "{line}");
    let next = field(&line, "next-refresh-in=").unwrap_or_else(|| panic!("{line}"));
    assert!((3_000..=3_600).contains(&next), "{line}");
    // The primary zone's NOTIFY to a silent secondary stays pending.
    let silent_addr = silent.local_addr().expect("address");
    dnsd.wait_for("the pending NOTIFY shown", |d| {
        status(d, "probe.test.").contains(&format!("notify-pending={silent_addr}@"))
    });
    // Before the SIGHUP: the second primary's NOTIFY is refused.
    let good2 = test_key(key2, secret2);
    let refused = two.notify(dnsd.addr, Some(&good2)).expect("answered");
    assert_ne!(refused[3] & 0x0f, 0, "NOTIFY from a primary not configured");
    // The configuration now names the second primary, its key, and the listening
    // secondary; SIGHUP.
    let path = dnsd.dir().join("dnsd.toml");
    let text = std::fs::read_to_string(&path).expect("dnsd.toml");
    let before = config(&one, key1, secret1, &silent);
    assert!(text.contains(&before), "{text}");
    std::fs::write(
        &path,
        text.replace(&before, &config(&two, key2, secret2, &listening)),
    )
    .expect("rewrite dnsd.toml");
    let pid = dnsd.pid();
    dnsd.signal(libc::SIGHUP);
    dnsd.wait_for("the settings applied", |d| {
        d.log().contains("transfer settings applied")
    });
    assert!(
        !dnsd.log().contains("apply at the next restart"),
        "{}",
        dnsd.log()
    );
    // The second primary's NOTIFY, signed with its key, is admitted and acted on: the
    // zone comes from it, signed with the new key.
    let accepted = two.notify(dnsd.addr, Some(&good2)).expect("answered");
    assert_eq!(accepted[3] & 0x0f, 0, "{}", dnsd.log());
    dnsd.wait_for("serial 2 from the second primary", |d| {
        d.soa_serial(ZONE) == Some(2)
    });
    assert!(two.asked().iter().any(|a| a.qtype != "SOA" && a.signed));
    dnsd.wait_for("status names the second primary", |d| {
        let line = status(d, ZONE);
        line.contains(&format!("primary={}", two.addr)) && line.contains(" serial=2 ")
    });
    // The new notify list: a change of probe.test is announced to the listening one.
    let replies = dnsd.ctl(&["zone probe.test", "add x 300 A 198.51.100.5", "commit"]);
    assert!(
        replies.last().is_some_and(|r| r.starts_with("ok")),
        "{replies:?}"
    );
    listening.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut buf = [0u8; 512];
    let (n, _) = listening
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no NOTIFY to the new target: {e}\n{}", dnsd.log()));
    assert_eq!(buf[2] & 0x78, 0x20, "a NOTIFY ({n} octets)");
    assert_eq!(dnsd.pid(), pid, "no restart");
}
