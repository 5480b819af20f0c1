//! Additional section processing (RFC 1034 §4.3.2 step 6, RFC 2782): the addresses (A,
//! then AAAA) we hold for the targets of NS, MX and SRV records put in the response,
//! looked up in the zone being answered, as NSD does.
//!
//! - A target below a zone cut is glue: only a referral or an NS answer may carry it;
//!   for MX and SRV it is skipped (its data is not authoritative).
//! - A target that does not exist is looked up through the wildcard of its closest
//!   encloser (NSD does this too).
//! - An RRset already in the response is not repeated.
//! - In a referral, glue for name servers at or below the cut is required (RFC 9471 §3):
//!   if it does not fit, the response is truncated rather than sent without it.

use super::response::{Data, Item, NameRef, Response, Section};
use super::wildcard;
use crate::wire::name::{self, MAX_NAME_LEN, lowercase_into};
use crate::zone::{RrsetRef, Rtype, Zone};

/// Adds the addresses of the targets of `rrset` (NS, MX or SRV; other types have none).
/// `referral_cut` is the cut's owner when `rrset` is a referral's NS RRset.
pub fn add_for<'z>(
    zone: &'z Zone,
    rrset: RrsetRef<'z>,
    referral_cut: Option<&[u8]>,
    response: &mut Response<'z>,
    qname: &[u8],
) {
    let (offset, allow_glue) = match rrset.rtype {
        Rtype::NS => (0, true),
        Rtype::MX => (2, false),
        Rtype::SRV => (6, false),
        _ => return,
    };
    for rtype in [Rtype::A, Rtype::AAAA] {
        for rdata in rrset.rdatas() {
            let Some(target) = rdata.get(offset..) else {
                continue;
            };
            if name::wire_len(target) != Some(target.len()) {
                continue;
            }
            add_addresses(
                zone,
                target,
                rtype,
                allow_glue,
                referral_cut,
                response,
                qname,
            );
        }
    }
}

fn add_addresses<'z>(
    zone: &'z Zone,
    target: &'z [u8],
    rtype: Rtype,
    allow_glue: bool,
    referral_cut: Option<&[u8]>,
    response: &mut Response<'z>,
    qname: &[u8],
) {
    let mut buf = [0u8; MAX_NAME_LEN];
    let lower = lowercase_into(target, &mut buf);
    if !name::is_subdomain(lower, zone.apex().as_wire()) {
        return;
    }
    let (exact, encloser) = wildcard::closest_encloser(zone, lower);
    if !allow_glue && (encloser.is_delegation() || encloser.is_below_cut()) {
        return;
    }
    let node = if exact {
        encloser
    } else if encloser.is_delegation() || encloser.is_below_cut() {
        return;
    } else {
        match wildcard::source(zone, encloser) {
            Some(source) => source,
            None => return,
        }
    };
    let Some(addresses) = node.rrset(rtype) else {
        return;
    };
    let owner = NameRef::Wire(target);
    let data = Data::Rrset(addresses);
    if response.contains(owner, &data, qname) {
        return;
    }
    let required = referral_cut.is_some_and(|cut| name::is_subdomain(lower, cut));
    let sigs = super::proof::sigs(response, node, rtype);
    response.push(Item {
        section: Section::Additional,
        owner,
        rtype,
        ttl: addresses.ttl,
        data,
        required,
        sigs,
    });
}
