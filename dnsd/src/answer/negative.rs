//! Negative answers (RFC 2308 §2): NXDOMAIN and NODATA carry the zone's SOA in the
//! authority section, with the TTL a resolver may cache the absence for:
//! min(SOA TTL, SOA MINIMUM) (RFC 2308 §3, §5).

use super::lookup::Query;
use super::response::{Data, Item, NameRef, Response, Section};
use crate::zone::{Rtype, Zone};

/// The name does not exist (the caller sets the RCODE).
pub fn nxdomain<'z>(zone: &'z Zone, query: &Query<'_>, response: &mut Response<'z>) {
    add_soa(zone, query, response);
}

/// The name exists but has no data of the type asked.
pub fn nodata<'z>(zone: &'z Zone, query: &Query<'_>, response: &mut Response<'z>) {
    add_soa(zone, query, response);
}

fn add_soa<'z>(zone: &'z Zone, query: &Query<'_>, response: &mut Response<'z>) {
    // With QCLASS ANY, NSD leaves the SOA out: its class would not answer the question.
    if query.class_any {
        return;
    }
    // One walk of the apex node for the RRset, its MINIMUM and its signatures.
    let apex = zone.apex_node();
    let Some(soa) = apex.rrset(Rtype::SOA) else {
        return;
    };
    let minimum = soa
        .rdatas()
        .next()
        .and_then(crate::zone::snapshot::soa_fields)
        .map(|f| f[4]);
    let ttl = soa.ttl.min(minimum.unwrap_or(soa.ttl));
    let sigs = super::proof::sigs(response, apex, Rtype::SOA);
    response.push(Item {
        section: Section::Authority,
        owner: NameRef::Wire(zone.apex().as_wire()),
        rtype: Rtype::SOA,
        ttl,
        data: Data::Rrset(soa),
        required: true,
        sigs,
    });
}
