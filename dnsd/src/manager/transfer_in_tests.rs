//! Transfer leases in the zone manager, with no socket: a transfer fetched by a
//! secondary task that reaches the writer after the zone was handed over (to its zone
//! file, or to a newer task) is refused, and the zone keeps the version served.

use super::*;
use crate::manager::{FileContent, Manager, ZoneOptions};
use crate::wire::name::Name;

fn n(text: &str) -> Name {
    Name::from_text(text, None).expect("name")
}

fn soa(serial: u32) -> Record {
    let mut rdata = n("ns1.example.org.").as_wire().to_vec();
    rdata.extend_from_slice(n("hostmaster.example.org.").as_wire());
    for v in [serial, 3600, 900, 604800, 300] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    Record {
        owner: n("example.org."),
        rtype: Rtype::SOA,
        ttl: 3600,
        rdata: rdata.into(),
    }
}

/// example.org at `serial`, www at 198.51.100.`www`.
fn zone(serial: u32, www: u8) -> Zone {
    let records = vec![
        soa(serial),
        Record {
            owner: n("example.org."),
            rtype: Rtype::NS,
            ttl: 3600,
            rdata: n("ns1.example.org.").as_wire().into(),
        },
        Record {
            owner: n("www.example.org."),
            rtype: Rtype::A,
            ttl: 300,
            rdata: vec![198, 51, 100, www].into(),
        },
    ];
    Zone::build(&n("example.org."), records).expect("zone")
}

fn www(handle: &ZoneHandle) -> Vec<u8> {
    let zone = handle.zone().expect("served");
    let node = zone.node(n("www.example.org.").as_wire()).expect("www");
    node.rrset(Rtype::A)
        .and_then(|set| set.rdatas().next().map(<[u8]>::to_vec))
        .unwrap_or_default()
}

fn options() -> ZoneOptions {
    ZoneOptions {
        serial: crate::zone::serial::SerialPolicy::Keep,
        ..ZoneOptions::default()
    }
}

#[test]
fn a_transfer_that_lands_after_the_file_took_the_zone_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let manager = Manager::new(dir.path(), || 1_700_000_000);
    let handle = manager.open(&n("example.org."), options());
    let lease = handle.claim_transfers();
    handle
        .replace_axfr(lease, zone(10, 10))
        .expect("first AXFR");
    assert_eq!(handle.zone().and_then(|z| z.serial()), Some(10));

    // Handed over to its zone file (SIGHUP), while the task's next AXFR is in flight.
    handle
        .load_file(FileContent::from(zone(20, 20)))
        .expect("file load");
    assert_eq!(www(&handle), [198, 51, 100, 20]);
    let late = handle.replace_axfr(lease, zone(30, 30));
    assert_eq!(late, Err(TransferError::NotOwner("its zone file")));
    let late = handle.apply_ixfr(
        lease,
        &[Delta {
            old_soa: soa(20),
            removed: vec![],
            new_soa: soa(31),
            added: vec![],
        }],
    );
    assert_eq!(late, Err(TransferError::NotOwner("its zone file")));
    assert_eq!(handle.zone().and_then(|z| z.serial()), Some(20));
    assert_eq!(www(&handle), [198, 51, 100, 20]);
}

#[test]
fn only_the_newest_secondary_task_commits() {
    let dir = tempfile::tempdir().expect("dir");
    let manager = Manager::new(dir.path(), || 1_700_000_000);
    let handle = manager.open(&n("example.org."), options());
    let old = handle.claim_transfers();
    handle.replace_axfr(old, zone(10, 10)).expect("first AXFR");
    // Back from file to secondary: a new task claims the zone.
    handle
        .load_file(FileContent::from(zone(20, 20)))
        .expect("file load");
    let new = handle.claim_transfers();
    assert_eq!(
        handle.replace_axfr(old, zone(30, 30)),
        Err(TransferError::NotOwner("another secondary task"))
    );
    assert_eq!(www(&handle), [198, 51, 100, 20]);
    let outcome = handle
        .replace_axfr(new, zone(40, 40))
        .expect("new task's AXFR");
    assert_eq!(outcome.new_serial, 40);
    assert_eq!(www(&handle), [198, 51, 100, 40]);
}
