//! A zone file edited again and again (lines changed, added and removed, the serial
//! raised, written as git writes: a new file renamed onto the old) is served exactly as
//! BIND reads the file: after each edit, dnsd's AXFR against `named-compilezone`'s
//! reading of the file (differential). dnsd reads most of these edits as edits
//! (`zone::file_edit`: only the changed runs of entries parsed), some whole; the test
//! checks that both happen and that neither changes what is served.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::netns::Netns;
use netfabric_tests::xfr::{canonical, canonical_axfr, dig_axfr};

const ZONE: &str = "example.net";
const PATIENCE: Duration = Duration::from_secs(60);

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn entry(rng: &mut Rng, i: u64) -> String {
    match rng.below(11) {
        0 => format!("  AAAA 2001:db8::{:x}", rng.below(1 << 16) + 1),
        1 => format!("mx{i} MX ( 10\n    mail{i} ) ; two lines"),
        2 => "; a comment".to_string(),
        3 => format!("t{i} 600 TXT \"text {}\"", rng.below(1 << 30)),
        _ => format!(
            "host{i} A 10.{}.{}.{}",
            rng.below(250),
            rng.below(250),
            rng.below(250)
        ),
    }
}

fn text(serial: u32, lines: &[String]) -> String {
    let mut t = format!(
        "$ORIGIN example.net.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n\
         @ NS ns1\nns1 A 192.0.2.1\n"
    );
    for line in lines {
        t.push_str(line);
        t.push('\n');
    }
    t
}

fn serial(dnsd: &Dnsd) -> Option<u32> {
    let answer = dnsd.ask(&format!("{ZONE}."), 6)?;
    let soa = answer.answer.values().flatten().next()?.clone();
    soa.split_whitespace().nth(2)?.parse().ok()
}

/// The zone as dnsd serves it (AXFR by dig), canonical.
fn served(net: &Netns, addr: SocketAddr) -> Vec<String> {
    canonical_axfr(ZONE, &dig_axfr(net, addr, ZONE))
}

#[test]
fn a_file_edited_many_times_is_served_as_bind_reads_it() {
    let net = Arc::new(Netns::new("fedit"));
    // A namespace of the test's own: its loopback address and port 53 are free.
    let addr: SocketAddr = "127.0.0.1:53".parse().unwrap();
    let mut rng = Rng(0x5eed_f11e_ed17_0001);
    let mut lines: Vec<String> = (0..20_000).map(|i| entry(&mut rng, i)).collect();
    let mut serial_now = 1;
    let mut dnsd = Dnsd::builder()
        .in_netns(net.clone())
        .listen(addr)
        .keep_serials()
        .zone(ZONE, &text(serial_now, &lines))
        .config("[xfr]\nallow-transfer = [{ from = \"127.0.0.1\" }]\n")
        .start();
    let path = dnsd.zones_dir().join(format!("{ZONE}.zone"));
    for round in 0..25u64 {
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(lines.len() as u64) as usize;
            match rng.below(3) {
                0 => lines[at] = entry(&mut rng, 100_000 + round * 10),
                1 => {
                    lines.remove(at);
                }
                _ => lines.insert(at, entry(&mut rng, 200_000 + round * 10)),
            }
        }
        serial_now += 1;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text(serial_now, &lines)).expect("write the zone");
        std::fs::rename(&tmp, &path).expect("rename the zone");
        let start = Instant::now();
        while serial(&dnsd) != Some(serial_now) {
            assert!(
                start.elapsed() < PATIENCE,
                "round {round}: serial {serial_now} not served\n{}",
                dnsd.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let want = canonical(ZONE, &path);
        let got = served(&net, addr);
        let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
        let extra: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "round {round}: missing {:?}, extra {:?}",
            &missing[..missing.len().min(5)],
            &extra[..extra.len().min(5)]
        );
    }
    let log = dnsd.log();
    let edits = log.matches("read as an edit").count();
    assert!(edits >= 15, "{edits} of 25 edits read as edits\n{log}");
    dnsd.terminate(Duration::from_secs(5));
}
