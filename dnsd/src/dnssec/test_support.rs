//! What the signing tests share: names, zones parsed from text, the RDATAs of an
//! apex RRset, a policy's timeline view with fixed TTLs.

use std::path::Path;

use super::policy::Policy;
use super::timeline::Env;
use crate::wire::name::Name;
use crate::zone::{Rtype, Zone};

/// A name from its text.
pub(crate) fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

/// Zone `apex` parsed from the master-file `text`.
pub(crate) fn parse_zone(text: &str, apex: &str) -> Zone {
    crate::zone::load::load_zone_from_bytes(
        text.as_bytes(),
        Path::new(&format!("{apex}zone")),
        &n(apex),
    )
    .unwrap_or_else(|e| panic!("{e:?}"))
    .zone
}

/// The RDATAs of the apex RRset of `rtype` (none when there is none).
pub(crate) fn apex_rdatas(zone: &Zone, rtype: Rtype) -> Vec<Vec<u8>> {
    zone.apex_node()
        .rrset(rtype)
        .map(|r| r.rdatas().map(<[u8]>::to_vec).collect())
        .unwrap_or_default()
}

/// The timeline's view of a zone whose DNSKEY TTL is an hour and largest TTL two.
pub(crate) fn env(policy: &Policy) -> Env<'_> {
    Env {
        policy,
        dnskey_ttl: 3600,
        max_ttl: &|| 7200,
    }
}

/// What the daemon's parent check does, against a parent that publishes the DS
/// RDATAs `parent` at `t`: tells the signer which of the DS it waits for are there,
/// and re-signs when one is.
pub(crate) fn answer_ds_check(zone: &crate::manager::ZoneHandle, t: u64, parent: &[Vec<u8>]) {
    if let Some(Some(check)) = zone.with_signer(|s, z| s.ds_check(z, t)) {
        let seen: Vec<u16> = check
            .wanted
            .iter()
            .filter(|(_, ds)| parent.contains(ds))
            .map(|(tag, _)| *tag)
            .collect();
        if !seen.is_empty() {
            zone.with_signer(|s, _| s.ds_seen(&seen, t))
                .unwrap()
                .unwrap();
            zone.refresh_signatures().unwrap();
        }
    }
}

/// A zone's options signing it under `policy`.
pub(crate) fn options(policy: &Policy) -> crate::manager::ZoneOptions {
    crate::manager::ZoneOptions {
        dnssec: Some(policy.clone()),
        ..crate::manager::ZoneOptions::default()
    }
}

/// Whether a re-sign walk of the (signed, loaded) zone is under way.
pub(crate) fn resigning(zone: &crate::manager::ZoneHandle) -> bool {
    zone.with_signer(|s, _| s.resigning()).unwrap()
}
