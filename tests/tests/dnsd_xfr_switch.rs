//! A zone that changes source in one SIGHUP is handed over, never dropped: dnsd on the
//! VPS serves z.test from its zone file; its configuration makes z.test a secondary
//! of dnsd at home, SIGHUP: z.test is answered throughout (never REFUSED), then with
//! home's content and serial; back to its file, SIGHUP: answered throughout, from the
//! file, the serial never lower than one served before; restarted, the VPS serves
//! z.test at once from its state folder (image and journal kept across both switches).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::xfr::{HOME, HomeVps, TsigKey, VPS};
use netfabric_tests::xfr_sighup::{PROBE_ZONE, key_table, polled, sighup, wait};

fn zone(serial: u32, www: u8) -> String {
    format!(
        "$ORIGIN z.test.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n\
         @ NS ns1\nns1 A 198.18.0.1\nwww A 198.51.100.{www}\n"
    )
}

#[test]
fn a_zone_switched_between_file_and_secondary_keeps_being_served() {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let primary = Dnsd::builder()
        .in_netns(net.home.clone())
        .listen(SocketAddr::new(HOME, 53))
        .keep_serials()
        .probe("z.test")
        .zone("z.test", &zone(100, 100))
        .config(&format!(
            "{}[xfr]\nallow-transfer = [{{ from = \"198.18.0.0/24\", key = \"{}\" }}]\n\
             notify = [{{ address = \"198.18.0.2:53\", key = \"{}\" }}]\n",
            key_table(&key),
            key.name,
            key.name
        ))
        .start();
    // The VPS serves z.test from its own file first (serial 5, www .5).
    let mut secondary = Dnsd::builder()
        .in_netns(net.vps.clone())
        .listen(SocketAddr::new(VPS, 53))
        .keep_serials()
        .probe("probe.test")
        .zone("probe.test", PROBE_ZONE)
        .zone("z.test", &zone(5, 5))
        .config(&key_table(&key))
        .start();
    let logs = |s: &Dnsd| format!("--- primary:\n{}\n--- vps:\n{}", primary.log(), s.log());
    assert_eq!(
        secondary.soa_serial("z.test."),
        Some(5),
        "{}",
        logs(&secondary)
    );
    let www = |d: &Dnsd| d.addresses("www.z.test.").unwrap_or_default();

    // The fixture's `[zone."z.test"]` (serial = "keep") gets primaries, and loses them.
    let file_backed = "[zone.\"z.test\"]\nserial = \"keep\"\n".to_string();
    let declared = format!(
        "{file_backed}primaries = [{{ address = \"198.18.0.1:53\", key = \"{}\" }}]\n",
        key.name
    );
    // z.test's SOA is polled for the whole of both switches.
    let ((), seen) = polled(&secondary, "z.test", || {
        let logs = || logs(&secondary);

        // File → secondary: home's content and serial, answered throughout.
        sighup(&secondary, |t| t.replace(&file_backed, &declared), &logs);
        wait(
            "z.test served as a secondary of home (serial 100, www .100)",
            || {
                secondary.soa_serial("z.test.") == Some(100)
                    && www(&secondary) == ["198.51.100.100"]
            },
            &logs,
        );
        // Secondary → file (a new file, serial 200): answered throughout, from the file.
        std::fs::write(secondary.zones_dir().join("z.test.zone"), zone(200, 200))
            .expect("write z.test.zone");
        sighup(&secondary, |t| t.replace(&declared, &file_backed), &logs);
        wait(
            "z.test served from its file again (serial 200, www .200)",
            || {
                secondary.soa_serial("z.test.") == Some(200)
                    && www(&secondary) == ["198.51.100.200"]
            },
            &logs,
        );
        // A little longer: a stop that would close or delete the zone late shows here.
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    assert!(
        seen.problems.is_empty() && seen.answers > 0,
        "z.test must be answered throughout both switches, its serial never lower \
         ({} answers): {:?}\n{}",
        seen.answers,
        seen.problems,
        logs(&secondary)
    );
    let state: Vec<String> = secondary
        .state_dir()
        .read_dir()
        .expect("state folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("z.test"))
        .collect();
    assert!(
        !state.is_empty(),
        "z.test's state (image, journal) kept: {state:?}\n{}",
        logs(&secondary)
    );

    // Restarted with home gone: z.test is served at once, as it was.
    drop(primary);
    secondary.restart();
    assert_eq!(
        secondary.soa_serial("z.test."),
        Some(200),
        "{}",
        secondary.log()
    );
    assert_eq!(www(&secondary), ["198.51.100.200"], "{}", secondary.log());
}
