//! The authoritative lookup of RFC 1034 §4.3.2, step by step as NSD 4.6 takes it:
//! find the zone, the closest encloser (or a DNAME above it, whose redirect occludes
//! everything below, RFC 6672 §2.4), a zone cut above it (referral), then the exact
//! match, a DNAME at the closest encloser (RFC 6672), a wildcard (RFC 4592), or
//! nothing (NXDOMAIN). A CNAME, or the CNAME synthesized from a DNAME, restarts the
//! lookup with its target, in whichever zone we serve holds it, as NSD does.
//!
//! The chain stops at a loop (an RRset already in the answer), at a name in no zone we
//! serve, or after `MAX_CHAIN` aliases: the resolver then follows the rest itself.

use super::response::{Data, Item, NameRef, Response, Section};
use super::{additional, negative, proof, referral, wildcard};
use crate::wire::message::rcode;
use crate::wire::name::{MAX_NAME_LEN, label_offsets, lowercase_into};
use crate::zone::{NodeRef, RrsetRef, Rtype, Zone, ZoneSet};

/// Most CNAME and DNAME steps followed for one query.
pub const MAX_CHAIN: usize = 12;

/// What is asked, beyond the name.
#[derive(Clone, Copy, Debug)]
pub struct Query<'q> {
    /// The question's name, as the client sent it.
    pub qname: &'q [u8],
    /// The question's type.
    pub qtype: Rtype,
    /// QCLASS ANY: NSD answers from the IN data but without AA and without SOA in
    /// negative answers (the SOA would claim a class).
    pub class_any: bool,
}

/// Fills `response` with the answer to `query` from `zones`.
pub fn resolve<'z>(zones: &'z ZoneSet, query: &Query<'_>, response: &mut Response<'z>) {
    let mut current = NameRef::Question;
    let mut steps = 0;
    let mut buf = [0u8; MAX_NAME_LEN];
    loop {
        let name_len = response.name(current, query.qname).len();
        let lower = {
            let wire = response.name(current, query.qname);
            lowercase_into(wire, &mut buf)
        };
        let Some(mut zone) = zones.find(lower).map(|z| &**z) else {
            // A name in no zone of ours: REFUSED for the question itself (recursion comes
            // later); after an alias, the answer so far stands.
            if steps == 0 {
                response.rcode = rcode::REFUSED;
            }
            return;
        };
        if zone.is_expired() {
            // A secondary zone past its expire time (RFC 1034 §4.3.5): no data.
            if steps == 0 {
                response.rcode = rcode::SERVFAIL;
            }
            return;
        }
        let at_apex = lower.len() == zone.apex().as_wire().len();
        // The closest encloser whose wildcard answers, for the proofs (DO only).
        let mut expanded = None;
        if query.qtype == Rtype::DS && at_apex {
            // RFC 4035 §3.1.4.1: DS belongs to the parent side of the cut.
            match parent_zone(zones, zone) {
                Some(parent) => zone = parent,
                None => {
                    response.authoritative = !query.class_any;
                    negative::nodata(zone, query, response);
                    if response.dnssec {
                        proof::nodata(zone, lower, zone.apex_node(), None, response, query.qname);
                    }
                    return;
                }
            }
        }
        let (exact, encloser) = wildcard::closest_encloser(zone, lower);
        // RFC 6672 §2.4: below a DNAME only the redirect applies. A zone may still hold
        // data there (from a source that let it in): it is never served.
        let (exact, encloser) = match dname_above(zone, encloser) {
            Some(dname) => (false, dname),
            None => (exact, encloser),
        };
        if let Some(cut) = referral::cut_above(zone, encloser)
            && !(exact && query.qtype == Rtype::DS && cut.owner() == encloser.owner())
        {
            // After an alias the answer is ours, the referral only completes it (NSD).
            response.authoritative = steps > 0;
            referral::refer(zone, cut, response, query.qname);
            return;
        }
        response.authoritative = !query.class_any;
        let matched = if exact {
            encloser
        } else if let Some(dname) = encloser.rrset(Rtype::DNAME) {
            let owner = NameRef::Wire(encloser.owner());
            let data = Data::Rrset(dname);
            if response.contains(owner, &data, query.qname) || steps == MAX_CHAIN {
                return;
            }
            let sigs = proof::sigs(response, encloser, Rtype::DNAME);
            push_answer(response, owner, Rtype::DNAME, dname.ttl, data, sigs);
            // RFC 6672 §2.2: replace the DNAME's owner at the end of the name by its target.
            let Some(target) = dname.rdatas().next() else {
                return;
            };
            let prefix_len = name_len - encloser.owner().len();
            let mut prefix = [0u8; MAX_NAME_LEN];
            prefix[..prefix_len]
                .copy_from_slice(&response.name(current, query.qname)[..prefix_len]);
            if prefix_len + target.len() > MAX_NAME_LEN {
                response.rcode = rcode::YXDOMAIN;
                return;
            }
            let Some(next) = response.synthesize(&[&prefix[..prefix_len], target]) else {
                return;
            };
            push_answer(
                response,
                current,
                Rtype::CNAME,
                dname.ttl,
                Data::Cname(next),
                None,
            );
            // The synthesized CNAME is itself the answer to a CNAME question (NSD, Knot).
            if query.qtype == Rtype::CNAME {
                return;
            }
            current = next;
            steps += 1;
            continue;
        } else if let Some(source) = wildcard::source(zone, encloser) {
            response.wildcard.get_or_insert(encloser.owner());
            if response.dnssec {
                expanded = Some(encloser);
                proof::expansion(zone, lower, encloser, response, query.qname);
            }
            source
        } else {
            response.rcode = rcode::NXDOMAIN;
            negative::nxdomain(zone, query, response);
            if response.dnssec {
                proof::nxdomain(zone, lower, encloser, response, query.qname);
            }
            return;
        };

        // The node that answers: `matched`, under the owner name `current`.
        if query.qtype == Rtype::ANY {
            match any_rrset(matched) {
                Some(rrset) => {
                    let sigs = proof::sigs(response, matched, rrset.rtype);
                    push_answer(
                        response,
                        current,
                        rrset.rtype,
                        rrset.ttl,
                        Data::Rrset(rrset),
                        sigs,
                    );
                    additional::add_for(zone, rrset, None, response, query.qname);
                }
                None => {
                    negative::nodata(zone, query, response);
                    if response.dnssec {
                        proof::nodata(zone, lower, matched, expanded, response, query.qname);
                    }
                }
            }
            return;
        }
        if query.qtype == Rtype::RRSIG && matched.rrset(Rtype::RRSIG).is_some() {
            // Every RRSIG RRset at the name, one per type covered, each with its own
            // TTL (RFC 4034 §3), as NSD answers.
            for rrset in matched.rrsets_of(Rtype::RRSIG) {
                push_answer(
                    response,
                    current,
                    rrset.rtype,
                    rrset.ttl,
                    Data::Rrset(rrset),
                    None,
                );
            }
            return;
        }
        if let Some(rrset) = matched.rrset(query.qtype) {
            let sigs = proof::sigs(response, matched, rrset.rtype);
            push_answer(
                response,
                current,
                rrset.rtype,
                rrset.ttl,
                Data::Rrset(rrset),
                sigs,
            );
            additional::add_for(zone, rrset, None, response, query.qname);
            return;
        }
        let Some(cname) = matched.rrset(Rtype::CNAME) else {
            negative::nodata(zone, query, response);
            if response.dnssec {
                proof::nodata(zone, lower, matched, expanded, response, query.qname);
            }
            return;
        };
        let data = Data::Rrset(cname);
        if response.contains(current, &data, query.qname) || steps == MAX_CHAIN {
            return;
        }
        let sigs = proof::sigs(response, matched, Rtype::CNAME);
        push_answer(response, current, Rtype::CNAME, cname.ttl, data, sigs);
        // A CNAME RRset has one record (RFC 2181 §10.1); NSD follows the first.
        let Some(target) = cname.rdatas().next() else {
            return;
        };
        current = NameRef::Wire(target);
        steps += 1;
    }
}

fn push_answer<'z>(
    response: &mut Response<'z>,
    owner: NameRef<'z>,
    rtype: Rtype,
    ttl: u32,
    data: Data<'z>,
    sigs: Option<RrsetRef<'z>>,
) {
    response.push(Item {
        section: Section::Answer,
        owner,
        rtype,
        ttl,
        data,
        required: true,
        sigs,
    });
}

/// The highest node strictly above `node`, from the apex down, that holds a DNAME:
/// every name below it, `node` included, is redirected (RFC 6672 §2.4). One probe
/// per label between the apex and `node`.
fn dname_above<'z>(zone: &'z Zone, node: NodeRef<'z>) -> Option<NodeRef<'z>> {
    let owner = node.owner();
    let apex_len = zone.apex().as_wire().len();
    if owner.len() <= apex_len {
        return None;
    }
    let mut highest = None;
    for at in label_offsets(owner).skip(1) {
        let ancestor = &owner[at..];
        if ancestor.len() < apex_len {
            break;
        }
        if let Some(up) = zone
            .node(ancestor)
            .filter(|n| n.rrset(Rtype::DNAME).is_some())
        {
            highest = Some(up);
        }
    }
    highest
}

/// The zone we serve that holds the parent side of `zone`'s apex.
fn parent_zone<'z>(zones: &'z ZoneSet, zone: &Zone) -> Option<&'z Zone> {
    let apex = zone.apex().as_wire();
    if apex.len() <= 1 {
        return None; // The root has no parent.
    }
    let parent = apex.get(1 + usize::from(apex[0])..)?;
    zones.find(parent).map(|z| &**z)
}

/// The one RRset that answers QTYPE ANY (RFC 8482 §4.1), chosen as NSD 4.6 does: a
/// small, popular type first (SOA, A, AAAA, MX, PTR), then any other, then the large
/// DNSSEC ones. NSD takes the first in zone-file order within each group; the snapshot
/// keeps no file order, so dnsd takes the order listed here, then the type number.
fn any_rrset<'z>(node: NodeRef<'z>) -> Option<crate::zone::RrsetRef<'z>> {
    const PREFERRED: [Rtype; 5] = [Rtype::SOA, Rtype::A, Rtype::AAAA, Rtype::MX, Rtype::PTR];
    const LAST: [Rtype; 4] = [Rtype::DNSKEY, Rtype::RRSIG, Rtype::NSEC, Rtype::NSEC3];
    PREFERRED
        .iter()
        .find_map(|&t| node.rrset(t))
        .or_else(|| node.rrsets().find(|r| !LAST.contains(&r.rtype)))
        .or_else(|| node.rrsets().next())
}
