//! A catalog member that gets a zone file of its own, in one SIGHUP, is handed over,
//! never dropped: dnsd on the VPS serves a.test as a member of home's catalog; a file
//! a.test.zone put in its zones folder, SIGHUP: a.test is answered throughout (never
//! REFUSED), from the file, and home's next edit no longer reaches it; the file
//! removed, SIGHUP: answered throughout, a member again, home's content and serial,
//! the serial never lower than one served before.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::xfr::{HOME, HomeVps, TsigKey, VPS};
use netfabric_tests::xfr_sighup::{PROBE_ZONE, key_table, polled, sighup, wait};

const CATALOG: &str = "catalog.invalid";

fn zone(serial: u32) -> String {
    format!(
        "$ORIGIN a.test.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n\
         @ NS ns1\nns1 A 198.18.0.1\nwww A 198.51.100.{}\n",
        serial % 256
    )
}

fn write_zone(dir: &std::path::Path, text: &str) {
    let tmp = dir.join(".a.test.tmp");
    std::fs::write(&tmp, text).expect("write zone");
    std::fs::rename(&tmp, dir.join("a.test.zone")).expect("rename zone");
}

#[test]
fn a_catalog_member_switched_to_its_file_and_back_keeps_being_served() {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let primary = Dnsd::builder()
        .in_netns(net.home.clone())
        .listen(SocketAddr::new(HOME, 53))
        .keep_serials()
        .probe("a.test")
        .zone("a.test", &zone(100))
        .config(&format!(
            "{}[xfr]\ncatalog = \"{CATALOG}\"\n\
             allow-transfer = [{{ from = \"198.18.0.0/24\", key = \"{k}\" }}]\n\
             notify = [{{ address = \"198.18.0.2:53\", key = \"{k}\" }}]\n",
            key_table(&key),
            k = key.name
        ))
        .start();
    // The VPS keeps a file's own serial, so that a file above home's serial is served
    // as it says.
    let secondary = Dnsd::builder()
        .in_netns(net.vps.clone())
        .listen(SocketAddr::new(VPS, 53))
        .probe("probe.test")
        .zone("probe.test", PROBE_ZONE)
        .config(&format!(
            "serial = \"keep\"\n{}[zone.\"{CATALOG}\"]\ncatalog = true\n\
             primaries = [{{ address = \"198.18.0.1:53\", key = \"{}\" }}]\n",
            key_table(&key),
            key.name
        ))
        .start();
    let logs = || {
        format!(
            "--- primary:\n{}\n--- vps:\n{}",
            primary.log(),
            secondary.log()
        )
    };
    let served = |serial: u32| {
        secondary.soa_serial("a.test.") == Some(serial)
            && secondary.addresses("www.a.test.").unwrap_or_default()
                == [format!("198.51.100.{}", serial % 256)]
    };
    wait(
        "a.test served as a member of home's catalog (serial 100)",
        || served(100),
        &logs,
    );
    let ((), seen) = polled(&secondary, "a.test", || {
        // Member → file (serial 200): from the file, answered throughout.
        write_zone(&secondary.zones_dir(), &zone(200));
        sighup(&secondary, |t| t, &logs);
        wait(
            "a.test served from its file (serial 200)",
            || served(200),
            &logs,
        );
        // Home's edit (NOTIFY) no longer reaches it: the file has it.
        write_zone(&primary.zones_dir(), &zone(250));
        wait(
            "home serves serial 250",
            || primary.soa_serial("a.test.") == Some(250),
            &logs,
        );
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            assert!(served(200), "a.test is its file's, not home's:\n{}", logs());
            std::thread::sleep(Duration::from_millis(200));
        }
        // File → member: home's content and serial, answered throughout.
        std::fs::remove_file(secondary.zones_dir().join("a.test.zone")).expect("remove a.test");
        sighup(&secondary, |t| t, &logs);
        wait(
            "a.test served as a member again (home's serial 250)",
            || served(250),
            &logs,
        );
        // A little longer: a close or a stop that comes late shows here.
        std::thread::sleep(Duration::from_secs(2));
    });
    assert!(
        seen.problems.is_empty() && seen.answers > 0,
        "a.test must be answered throughout both switches, its serial never lower \
         ({} answers): {:?}\n{}",
        seen.answers,
        seen.problems,
        logs()
    );
    assert!(served(250), "{}", logs());
}
