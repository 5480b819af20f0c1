//! Zones with no file (issue 10: "a zone may also be purely dynamic"): their apex — SOA
//! and NS — comes from the configuration (`[dynamic-zone."NAME"]`), everything else
//! from dynamic sources (containers, RFC 2136, the API).
//!
//! [`open_dynamic`] opens such a zone and loads its apex as if it were the zone's
//! file: the first time it gives the zone its content; after a restart (the zone
//! restored from the state folder, with its dynamic records) it changes nothing unless
//! the configured apex changed, and then changes only the apex. So the SOA and the apex
//! NS are owned by the configuration as a file's are, and dynamic sources own the rest.

use super::{CommitError, FileOutcome, Manager, ZoneHandle, ZoneOptions};
use crate::wire::name::Name;
use crate::zone::{Record, Rtype, Zone};

/// A dynamic zone's apex, from the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApexSettings {
    /// The apex NS targets (names outside the zone, or in it with addresses added by
    /// a dynamic source later is not possible: the NS check wants them at once).
    pub ns: Vec<Name>,
    /// The SOA RNAME (the mailbox, as a name).
    pub hostmaster: Name,
    /// TTL of the SOA and NS records, and the SOA minimum (negative caching).
    pub ttl: u32,
    /// The zone's options (serial policy, journal bounds); `file` is ignored.
    pub options: ZoneOptions,
}

/// The serial the configured apex carries as its "file serial": the served serial is
/// chosen by the zone's serial policy from it (`date` by default), as for a file.
const APEX_SERIAL: u32 = 1;

/// The apex records: SOA (MNAME the first NS; refresh 3600, retry 600, expire
/// 1209600, minimum `ttl`) and NS.
pub fn apex_records(apex: &Name, settings: &ApexSettings) -> Vec<Record> {
    let mname = settings.ns.first().cloned().unwrap_or_else(|| apex.clone());
    let mut soa = Vec::new();
    soa.extend_from_slice(mname.as_wire());
    soa.extend_from_slice(settings.hostmaster.as_wire());
    for field in [APEX_SERIAL, 3600, 600, 1_209_600, settings.ttl] {
        soa.extend_from_slice(&field.to_be_bytes());
    }
    let mut records = vec![Record {
        owner: apex.clone(),
        rtype: Rtype::SOA,
        ttl: settings.ttl,
        rdata: soa.into(),
    }];
    for ns in &settings.ns {
        records.push(Record {
            owner: apex.clone(),
            rtype: Rtype::NS,
            ttl: settings.ttl,
            rdata: ns.as_wire().into(),
        });
    }
    records
}

/// Opens the dynamic zone `apex` and gives it the configured apex (see the module
/// documentation). Errors say why the apex could not be loaded; the zone is then open
/// with what it had.
pub fn open_dynamic(
    manager: &Manager,
    apex: &Name,
    settings: &ApexSettings,
) -> Result<(ZoneHandle, FileOutcome), CommitError> {
    let mut options = settings.options.clone();
    options.file = None;
    let handle = manager.open(apex, options);
    let zone = Zone::build(apex, apex_records(apex, settings))
        .map_err(|e| CommitError::Journal(format!("the configured apex of {apex}: {e}")))?;
    let outcome = handle.load_file(zone)?;
    Ok((handle, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::txn::{Change, Transaction};

    fn name(text: &str) -> Name {
        Name::from_text(text, None).expect("name")
    }

    fn settings() -> ApexSettings {
        ApexSettings {
            ns: vec![name("ns1.example.net.")],
            hostmaster: name("hostmaster.example.net."),
            ttl: 300,
            options: ZoneOptions::default(),
        }
    }

    /// Each transaction appends the node it rewrites to the zone's arena; a zone that
    /// keeps changing must still hold about its own size, not every version it had.
    #[test]
    fn a_zone_that_keeps_changing_keeps_its_size() {
        let dir = tempfile::tempdir().expect("dir");
        let apex = name("svc.test.");
        let manager = Manager::new(dir.path(), || 1_700_000_000);
        let (zone, _) = open_dynamic(&manager, &apex, &settings()).expect("open");
        let owner = name("big.svc.test.");
        let txt = |i: u32| -> Record {
            // 12 strings of 250 octets: 4,000 versions of it are 12 MB of nodes.
            let mut rdata = Vec::new();
            for _ in 0..12 {
                rdata.push(250u8);
                rdata.extend(std::iter::repeat_n((i % 251) as u8, 250));
            }
            Record {
                owner: owner.clone(),
                rtype: Rtype::TXT,
                ttl: 30,
                rdata: rdata.into(),
            }
        };
        for i in 0..4_000u32 {
            let mut txn = Transaction::new();
            if i > 0 {
                txn.push(Change::Remove(txt(i - 1)));
            }
            txn.push(Change::Add(txt(i)));
            zone.submit("containers", txn).expect("submit");
        }
        let served = zone.zone().expect("served");
        assert!(
            served.garbage_bytes() <= (4 << 20) + (64 << 10),
            "{} bytes of replaced nodes kept beside {} live",
            served.garbage_bytes(),
            served.live_bytes()
        );
        assert!(manager.stats().zone("svc.test.").compactions >= 2);
        // 24 MB of journal entries: images are written as they pile up, so the entries
        // kept in memory (every one since the last image) stay bounded too.
        manager.wait_images();
        assert!(manager.stats().zone("svc.test.").images_written >= 3);
        let node = served.node(owner.as_wire()).expect("the name is served");
        let rrset = node.rrset(Rtype::TXT).expect("TXT");
        assert_eq!(rrset.rdatas().next(), Some(&txt(3_999).rdata[..]));
        manager.wait_images();
        drop((zone, served, manager));
        // What was journaled is what comes back.
        let manager = Manager::new(dir.path(), || 1_700_000_000);
        let (zone, _) = open_dynamic(&manager, &apex, &settings()).expect("reopen");
        let served = zone.zone().expect("served");
        let node = served.node(owner.as_wire()).expect("kept across a restart");
        assert_eq!(
            node.rrset(Rtype::TXT).and_then(|r| r.rdatas().next()),
            Some(&txt(3_999).rdata[..])
        );
    }

    #[test]
    fn a_dynamic_zone_is_served_keeps_its_records_and_serial_across_restarts() {
        let dir = tempfile::tempdir().expect("dir");
        let apex = name("svc.test.");
        let serial = {
            let manager = Manager::new(dir.path(), || 1_700_000_000);
            let (zone, outcome) = open_dynamic(&manager, &apex, &settings()).expect("open");
            assert!(matches!(outcome, FileOutcome::Loaded { .. }), "{outcome:?}");
            let mut txn = Transaction::new();
            txn.push(Change::Add(Record {
                owner: name("web.svc.test."),
                rtype: Rtype::A,
                ttl: 30,
                rdata: vec![198, 51, 100, 1].into(),
            }));
            let serial = zone.submit("containers", txn).expect("submit");
            manager.wait_images();
            serial
        };
        let manager = Manager::new(dir.path(), || 1_700_000_000);
        let (zone, outcome) = open_dynamic(&manager, &apex, &settings()).expect("reopen");
        assert_eq!(outcome, FileOutcome::Unchanged { serial });
        let served = zone.zone().expect("served");
        assert!(served.node(name("web.svc.test.").as_wire()).is_some());
        // A new name server is a change of the apex alone.
        let mut more = settings();
        more.ns.push(name("ns2.example.net."));
        let (zone, outcome) = open_dynamic(&manager, &apex, &more).expect("apex change");
        assert!(
            matches!(outcome, FileOutcome::Changed { .. }),
            "{outcome:?}"
        );
        assert!(
            zone.zone()
                .expect("served")
                .node(name("web.svc.test.").as_wire())
                .is_some()
        );
    }
}
