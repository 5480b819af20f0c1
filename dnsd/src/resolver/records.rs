//! Small readings of hickory records the iterator needs: CNAME targets, NS names,
//! addresses, and a section grouped into RRsets (RFC 2181 §5).

use std::net::IpAddr;

use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The target of the first CNAME of `records`.
pub fn cname_target(records: &[Record]) -> Option<Name> {
    records.iter().find_map(|r| match &r.data {
        RData::CNAME(t) => Some(t.0.clone()),
        _ => None,
    })
}

/// The name server an NS record names.
pub fn ns_name(record: &Record) -> Option<Name> {
    match &record.data {
        RData::NS(ns) => Some(ns.0.clone()),
        _ => None,
    }
}

/// The address an A or AAAA record holds.
pub fn address_of(record: &Record) -> Option<IpAddr> {
    match &record.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
        _ => None,
    }
}

/// The records of `section` grouped by (owner, type), RRSIGs left out.
pub fn rrsets(section: &[Record]) -> Vec<(Name, RecordType, Vec<Record>)> {
    let mut sets: Vec<(Name, RecordType, Vec<Record>)> = Vec::new();
    for record in section {
        let rtype = record.record_type();
        if rtype == RecordType::RRSIG {
            continue;
        }
        match sets
            .iter_mut()
            .find(|(owner, t, _)| *t == rtype && *owner == record.name)
        {
            Some((_, _, records)) => records.push(record.clone()),
            None => sets.push((record.name.clone(), rtype, vec![record.clone()])),
        }
    }
    sets
}
