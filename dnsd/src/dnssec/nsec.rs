//! The NSEC chain (RFC 4034 §4, RFC 4035 §2.3): one NSEC record per name that holds
//! authoritative data or a delegation, in canonical order, each naming the next and
//! listing the types at its own name; the last one names the apex.
//!
//! Which names are in the chain depends on each name's own data and on whether a zone
//! cut lies above it, both of which the store's nodes carry ([`nsec_types`]). So after
//! a change the chain is repaired from the new version alone: the NSEC of every name
//! that changed, and of the name before it in the chain, is computed again and kept
//! if it is what the zone holds ([`nsec_changes`]).

use crate::zone::{NodeRef, Rtype, Zone};

use super::rdata::nsec_rdata;

/// Whether an RRset of `rtype` is data the chains describe (not the signer's own
/// RRSIG, NSEC and NSEC3 records).
pub fn is_data(rtype: Rtype) -> bool {
    !matches!(rtype, Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3)
}

/// The types an NSEC at `node` lists, sorted; None when the name is not in the chain:
/// an empty non-terminal, a name below a zone cut (glue, occluded data), or a name
/// with none but DNSSEC records (NSEC3 owners, leftovers of a removed name). At a
/// delegation only NS and DS are listed (RFC 4035 §2.3); RRSIG and NSEC always.
pub fn nsec_types(node: &NodeRef<'_>) -> Option<Vec<u16>> {
    if node.is_below_cut() {
        return None;
    }
    let delegation = node.is_delegation();
    let mut types: Vec<u16> = node
        .rrsets()
        .map(|r| r.rtype)
        .filter(|&t| is_data(t) && (!delegation || matches!(t, Rtype::NS | Rtype::DS)))
        .map(|t| t.0)
        .collect();
    if types.is_empty() {
        return None;
    }
    types.extend([Rtype::RRSIG.0, Rtype::NSEC.0]);
    types.sort_unstable();
    types.dedup();
    Some(types)
}

/// The first name after `owner` (a node or not) that is in the chain, or the apex when
/// none is (the last NSEC names the apex, RFC 4034 §4.1.1).
pub fn next_in_chain<'z>(zone: &'z Zone, owner: &[u8]) -> &'z [u8] {
    zone.nodes_from(owner)
        .filter(|n| n.owner() != owner)
        .find(|n| nsec_types(n).is_some())
        .map_or(zone.apex().as_wire(), |n| n.owner())
}

/// The last name before `owner` in canonical order that is in the chain (the apex at
/// worst: it always is).
pub fn previous_in_chain<'z>(zone: &'z Zone, owner: &[u8]) -> Option<NodeRef<'z>> {
    let mut at = zone.predecessor(owner)?;
    while nsec_types(&at).is_none() {
        at = zone.predecessor(at.owner())?;
    }
    Some(at)
}

/// The NSEC RDATA `owner` should hold in `zone`, if any.
pub fn wanted_nsec(zone: &Zone, node: &NodeRef<'_>) -> Option<Vec<u8>> {
    let types = nsec_types(node)?;
    Some(nsec_rdata(next_in_chain(zone, node.owner()), &types))
}

/// The NSEC records that differ from what `zone` needs, around `changed` (the names
/// whose data, or whose place under a zone cut, changed): for each of them and for
/// the name before each in the chain, the NSEC RDATA to hold (None: no NSEC), where it
/// differs from what the zone holds. Sorted by owner, no duplicates.
pub fn nsec_changes(zone: &Zone, changed: &[Vec<u8>]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let apex = zone.apex().as_wire();
    let mut owners: Vec<Vec<u8>> = Vec::with_capacity(changed.len() * 2);
    for owner in changed {
        owners.push(owner.clone());
        if owner.as_slice() != apex
            && let Some(previous) = previous_in_chain(zone, owner)
        {
            owners.push(previous.owner().to_vec());
        }
    }
    owners.sort_unstable();
    owners.dedup();
    let mut out = Vec::new();
    for owner in owners {
        let node = zone.node(&owner);
        let have = node
            .and_then(|n| n.rrset(Rtype::NSEC))
            .and_then(|r| r.rdatas().next());
        let want = node.and_then(|n| wanted_nsec(zone, &n));
        if have != want.as_deref() && !(have.is_none() && want.is_none()) {
            out.push((owner, want));
        }
    }
    out.sort_by(|a, b| crate::zone::canonical::compare(&a.0, &b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnssec::rdata::{bitmap_types, nsec_parts};
    use crate::wire::name::Name;
    use crate::zone::txn::{Change, Transaction, apply};

    fn w(text: &str) -> Vec<u8> {
        Name::from_text(text, None).unwrap().as_wire().to_vec()
    }

    pub(crate) fn zone(text: &str) -> Zone {
        let text = format!(
            "$ORIGIN example.org.\n$TTL 300\n@ SOA ns h 1 3600 900 604800 300\n@ NS ns\nns A 198.51.100.1\n{text}"
        );
        crate::zone::load::load_zone_from_bytes(
            text.as_bytes(),
            std::path::Path::new("t.zone"),
            &Name::from_text("example.org.", None).unwrap(),
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
        .zone
    }

    /// The chain as (owner, next) text pairs, from a zone whose NSECs are all wanted.
    fn chain(zone: &Zone) -> Vec<(String, String)> {
        zone.nodes()
            .filter_map(|n| {
                let rdata = wanted_nsec(zone, &n)?;
                let (next, _) = nsec_parts(&rdata)?;
                Some((
                    n.owner_name().to_string(),
                    Name::from_wire(next).unwrap().to_string(),
                ))
            })
            .collect()
    }

    #[test]
    fn the_chain_skips_empty_non_terminals_glue_and_wraps_to_the_apex() {
        let zone = zone(
            "a.b.c A 198.51.100.2\nsub NS ns.sub\nns.sub A 198.51.100.3\nsub DS 1 13 2 abababababababababababababababababababababababababababababababab\n*.w TXT x\n",
        );
        assert_eq!(
            chain(&zone),
            vec![
                ("example.org.".into(), "a.b.c.example.org.".into()),
                ("a.b.c.example.org.".into(), "ns.example.org.".into()),
                ("ns.example.org.".into(), "sub.example.org.".into()),
                ("sub.example.org.".into(), "*.w.example.org.".into()),
                ("*.w.example.org.".into(), "example.org.".into()),
            ]
        );
        let sub = zone.node(&w("sub.example.org.")).unwrap();
        let types: Vec<u16> = nsec_types(&sub).unwrap();
        assert_eq!(
            types,
            vec![2, 43, 46, 47],
            "NS, DS, RRSIG, NSEC at a delegation"
        );
        let rdata = wanted_nsec(&zone, &zone.apex_node()).unwrap();
        let (_, bitmap) = nsec_parts(&rdata).unwrap();
        assert_eq!(bitmap_types(bitmap).collect::<Vec<_>>(), vec![2, 6, 46, 47]);
    }

    /// Gives every name its wanted NSEC, as a signer that starts from nothing would.
    fn with_chain(zone: &Zone) -> Zone {
        let mut txn = Transaction::new();
        for node in zone.nodes() {
            if let Some(rdata) = wanted_nsec(zone, &node) {
                txn.push(Change::Replace {
                    owner: node.owner_name(),
                    rtype: Rtype::NSEC,
                    ttl: 300,
                    rdatas: vec![rdata.into()],
                });
            }
        }
        apply(zone, &txn).unwrap().zone
    }

    #[test]
    fn changes_repair_only_the_links_around_them() {
        let signed = with_chain(&zone("b A 198.51.100.2\nd A 198.51.100.4\nz.y TXT x\n"));
        let mut txn = Transaction::new();
        txn.push(Change::Add(crate::zone::Record {
            owner: Name::from_text("c.example.org.", None).unwrap(),
            rtype: Rtype::A,
            ttl: 300,
            rdata: Box::new([198, 51, 100, 3]),
        }));
        txn.push(Change::RemoveName {
            owner: Name::from_text("z.y.example.org.", None).unwrap(),
        });
        let next = apply(&signed, &txn).unwrap().zone;
        let changed = vec![w("c.example.org."), w("z.y.example.org.")];
        let changes = nsec_changes(&next, &changed);
        let owners: Vec<String> = changes
            .iter()
            .map(|(o, _)| Name::from_wire(o).unwrap().to_string())
            .collect();
        // b now points to c, c is new, ns (before the removed z.y) now ends the chain;
        // z.y's NSEC went with its name.
        assert_eq!(
            owners,
            vec!["b.example.org.", "c.example.org.", "ns.example.org."]
        );
        let (next_of_ns, _) = nsec_parts(changes[2].1.as_deref().unwrap()).unwrap();
        assert_eq!(next_of_ns, w("example.org."));
        // Applying them gives the chain a signer from scratch makes.
        let mut fix = Transaction::new();
        for (owner, rdata) in changes {
            let owner = Name::from_wire(&owner).unwrap();
            fix.push(match rdata {
                Some(r) => Change::Replace {
                    owner,
                    rtype: Rtype::NSEC,
                    ttl: 300,
                    rdatas: vec![r.into()],
                },
                None => Change::RemoveRrset {
                    owner,
                    rtype: Rtype::NSEC,
                },
            });
        }
        let repaired = apply(&next, &fix).unwrap().zone;
        let fresh = with_chain(&next);
        let nsecs =
            |z: &Zone| -> Vec<_> { z.records().filter(|r| r.rtype == Rtype::NSEC).collect() };
        assert_eq!(nsecs(&repaired), nsecs(&fresh));
        assert!(nsec_changes(&repaired, &changed).is_empty());
    }
}
