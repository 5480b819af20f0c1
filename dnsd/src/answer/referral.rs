//! Referrals (RFC 1034 §4.3.2 step 3b, RFC 2181 §6.1): a name at or below a zone cut is
//! not ours to answer; the response names the child's servers (NS in authority, no AA)
//! and gives the addresses we hold for them (glue) in additional.

use super::additional;
use super::response::{Data, Item, NameRef, Response, Section};
use crate::wire::name::label_offsets;
use crate::zone::{NodeRef, Rtype, Zone};

/// The highest zone cut at or above `node` (below the apex), as NSD picks it: data
/// below a lower cut is occluded by the higher one.
pub fn cut_above<'z>(zone: &'z Zone, node: NodeRef<'z>) -> Option<NodeRef<'z>> {
    if !node.is_delegation() && !node.is_below_cut() {
        return None;
    }
    let owner = node.owner();
    let apex_len = zone.apex().as_wire().len();
    let mut highest = node.is_delegation().then_some(node);
    for at in label_offsets(owner).skip(1) {
        let ancestor = &owner[at..];
        if ancestor.len() <= apex_len {
            break;
        }
        if let Some(up) = zone.node(ancestor).filter(|n| n.is_delegation()) {
            highest = Some(up);
        }
    }
    highest
}

/// Adds the referral to the cut `cut` of `zone`.
pub fn refer<'z>(zone: &'z Zone, cut: NodeRef<'z>, response: &mut Response<'z>, qname: &[u8]) {
    let Some(ns) = cut.rrset(Rtype::NS) else {
        return;
    };
    response.push(Item {
        section: Section::Authority,
        owner: NameRef::Wire(cut.owner()),
        rtype: Rtype::NS,
        ttl: ns.ttl,
        data: Data::Rrset(ns),
        required: true,
        // NS at a cut is not signed (RFC 4035 §2.2): the child's data.
        sigs: None,
    });
    additional::add_for(zone, ns, Some(cut.owner()), response, qname);
    // DS and its proofs belong to a signed zone's referrals (RFC 4035 §3.1.4): an
    // unsigned zone's DS records are data, not a chain of trust, and NSD and Knot
    // leave them out.
    if response.dnssec && zone.apex_node().rrset(Rtype::DNSKEY).is_some() {
        super::proof::delegation(zone, cut, response, qname);
    }
}
