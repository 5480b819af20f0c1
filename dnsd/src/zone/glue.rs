//! Which NS targets a zone must hold an address for, and the check of a loaded zone's
//! NS records against that rule.
//!
//! A referral (RFC 1034 §4.3.2 step 3b) names the child's servers; a resolver that
//! gets it must be able to reach one of them. RFC 9471 sorts the targets:
//!
//! - **in-domain** (§2.1): at or below the delegation itself (`lab NS ns.lab`). Only
//!   the parent can give their address, as glue: without it the child is unreachable.
//! - **sibling** (§2.2): below another delegation of the same zone (`lab NS dns.infra`
//!   where `infra` is delegated too). The address is the sibling child's data; the
//!   resolver follows that referral. Glue is optional.
//! - **out of the zone**: the resolver looks it up elsewhere.
//!
//! A target in the zone's own authoritative data (not below any cut) is neither glue
//! nor optional: it must resolve to an address in this zone — an A or AAAA record at
//! the name, or from a wildcard (RFC 4592) — or the NS leads nowhere. NS records below
//! a cut are occluded (never served) and need nothing. NSD accepts every case; Knot,
//! like dnsd, refuses a missing in-domain glue and an authoritative target without an
//! address, and loads the sibling and wildcard cases.

use std::collections::HashSet;

use super::load::{Diagnostics, LoadErrorKind};
use super::parse::Parsed;
use super::record::Rtype;
use crate::wire::name::{self, MAX_NAME_LEN, Name};

/// What a zone must hold for one NS target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressNeed {
    /// Nothing: the target is out of the zone, or below another delegation (sibling
    /// glue is optional, RFC 9471 §2.2).
    Nothing,
    /// Glue: an A or AAAA record at the target itself, since it lies at or below the
    /// delegation (in-domain, RFC 9471 §2.1) and no other server can give it.
    Glue,
    /// An address in the zone's own data: A or AAAA at the target or from a wildcard.
    Authoritative,
}

/// What the NS RRset at `cut` (a delegation point, or the apex for the zone's own NS
/// RRset) of the zone `apex` needs for its target `target`. `target_cut` is the highest
/// zone cut (below the apex) at or above the target, if there is one. Names are
/// lowercased wire format. A pure function: the loader and the zone manager's
/// per-transaction checks both ask it.
pub fn address_need(
    apex: &[u8],
    cut: &[u8],
    target: &[u8],
    target_cut: Option<&[u8]>,
) -> AddressNeed {
    if !name::is_subdomain(target, apex) {
        AddressNeed::Nothing
    } else if cut != apex && name::is_subdomain(target, cut) {
        AddressNeed::Glue
    } else if target_cut.is_some() {
        AddressNeed::Nothing
    } else {
        AddressNeed::Authoritative
    }
}

/// The highest name in `cuts` at or above `owner`, strictly below `apex`.
pub(crate) fn highest_cut<'c>(
    owner: &[u8],
    apex: &[u8],
    cuts: &HashSet<&'c [u8]>,
) -> Option<&'c [u8]> {
    name::label_offsets(owner)
        .map(|at| &owner[at..])
        .take_while(|a| a.len() > apex.len())
        .filter_map(|a| cuts.get(a).copied())
        .last()
}

/// Errors for every NS target of the apex or of a delegation that lacks the address
/// it needs. `records` are sorted by owner and type; `cuts` holds every owner of NS
/// records below the apex.
pub(crate) fn check(
    records: &[Parsed],
    apex: &[u8],
    cuts: &HashSet<&[u8]>,
    diag: &mut Diagnostics,
) {
    let mut lower = [0u8; MAX_NAME_LEN];
    let mut nodes: Option<HashSet<&[u8]>> = None;
    for p in records.iter().filter(|p| p.record.rtype == Rtype::NS) {
        let owner = p.record.owner.as_wire();
        // Only the apex and the highest cuts are served; NS below a cut are occluded.
        let served = owner == apex || highest_cut(owner, apex, cuts) == Some(owner);
        if !served {
            continue;
        }
        let target = name::lowercase_into(&p.record.rdata, &mut lower);
        let kind = match address_need(apex, owner, target, highest_cut(target, apex, cuts)) {
            AddressNeed::Nothing => continue,
            AddressNeed::Glue if has_address(records, target) => continue,
            AddressNeed::Glue => LoadErrorKind::MissingGlue {
                owner: p.record.owner.clone(),
                target: name_of(target),
            },
            AddressNeed::Authoritative => {
                if has_address(records, target) {
                    continue;
                }
                let nodes = nodes.get_or_insert_with(|| node_names(records, apex));
                if !nodes.contains(target) && wildcard_has_address(records, nodes, target, apex) {
                    continue;
                }
                LoadErrorKind::NsTargetWithoutAddress {
                    owner: p.record.owner.clone(),
                    target: name_of(target),
                }
            }
        };
        diag.report(p.file, p.line, kind);
    }
}

/// Whether `records` hold an A or AAAA record owned by `target`.
fn has_address(records: &[Parsed], target: &[u8]) -> bool {
    let from = records.partition_point(|r| r.record.owner.as_wire() < target);
    records[from..]
        .iter()
        .take_while(|r| r.record.owner.as_wire() == target)
        .any(|r| matches!(r.record.rtype, Rtype::A | Rtype::AAAA))
}

/// Every node of the zone: owners and the empty non-terminals above them.
fn node_names<'r>(records: &'r [Parsed], apex: &[u8]) -> HashSet<&'r [u8]> {
    let mut nodes = HashSet::new();
    for p in records {
        let owner = p.record.owner.as_wire();
        for at in name::label_offsets(owner) {
            if owner.len() - at < apex.len() || !nodes.insert(&owner[at..]) {
                break;
            }
        }
    }
    nodes
}

/// Whether the wildcard at `target`'s closest encloser (RFC 4592 §3.3.1) has an A or
/// AAAA record; `target` is no node of the zone.
fn wildcard_has_address(
    records: &[Parsed],
    nodes: &HashSet<&[u8]>,
    target: &[u8],
    apex: &[u8],
) -> bool {
    let Some(encloser) = name::label_offsets(target)
        .skip(1)
        .map(|at| &target[at..])
        .take_while(|a| a.len() >= apex.len())
        .find(|a| nodes.contains(a))
    else {
        return false;
    };
    let mut wildcard = vec![1, b'*'];
    wildcard.extend_from_slice(encloser);
    has_address(records, &wildcard)
}

fn name_of(wire: &[u8]) -> Name {
    Name::from_wire(wire).unwrap_or_else(|_| Name::root())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str) -> Vec<u8> {
        Name::from_text(text, None).unwrap().as_wire().to_vec()
    }

    #[test]
    fn which_targets_need_an_address() {
        let apex = w("example.net.");
        let lab = w("lab.example.net.");
        let infra = w("infra.example.net.");
        let need = |cut: &[u8], target: &str, target_cut: Option<&[u8]>| {
            address_need(&apex, cut, &w(target), target_cut)
        };
        // In-domain: glue.
        assert_eq!(
            need(&lab, "ns.lab.example.net.", Some(&lab)),
            AddressNeed::Glue
        );
        assert_eq!(
            need(&lab, "lab.example.net.", Some(&lab)),
            AddressNeed::Glue
        );
        // Sibling: inside another delegated child, optional.
        assert_eq!(
            need(&lab, "dns.infra.example.net.", Some(&infra)),
            AddressNeed::Nothing
        );
        // The zone's own data: an address must resolve here.
        assert_eq!(
            need(&lab, "ns1.example.net.", None),
            AddressNeed::Authoritative
        );
        assert_eq!(
            need(&apex, "ns1.example.net.", None),
            AddressNeed::Authoritative
        );
        // The apex's servers inside a child: the child answers for them.
        assert_eq!(
            need(&apex, "ns.lab.example.net.", Some(&lab)),
            AddressNeed::Nothing
        );
        // Out of the zone.
        assert_eq!(need(&lab, "ns.example.com.", None), AddressNeed::Nothing);
    }
}
