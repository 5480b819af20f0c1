//! Where a name falls in a zone, and wildcard synthesis (RFC 4592).
//!
//! Every owner name and every empty non-terminal is a node of the snapshot, so the
//! closest encloser (RFC 4592 §3.3.1) is the longest ancestor of the name that is a
//! node: a name that exists, even as an empty non-terminal, is never answered from a
//! wildcard (§2.2.2), and a query for `*.example.` itself is an exact match (§2.2.1).

use crate::wire::name::{MAX_NAME_LEN, label_offsets};
use crate::zone::{NodeRef, Zone};

/// The node of `lower` (a lowercased name at or below the apex) if it exists — `(true,
/// node)` — or else its closest encloser — `(false, encloser)`.
pub fn closest_encloser<'z>(zone: &'z Zone, lower: &[u8]) -> (bool, NodeRef<'z>) {
    if let Some(node) = zone.node(lower) {
        return (true, node);
    }
    let apex_len = zone.apex().as_wire().len();
    for at in label_offsets(lower).skip(1) {
        let ancestor = &lower[at..];
        if ancestor.len() <= apex_len {
            break;
        }
        if let Some(node) = zone.node(ancestor) {
            return (false, node);
        }
    }
    (false, zone.apex_node())
}

/// The wildcard `*.<encloser>` that answers for a name below `encloser`, if any
/// (RFC 4592 §3.3.1, the "source of synthesis").
pub fn source<'z>(zone: &'z Zone, encloser: NodeRef<'z>) -> Option<NodeRef<'z>> {
    let owner = encloser.owner();
    if owner.len() + 2 > MAX_NAME_LEN {
        return None;
    }
    let mut buf = [0u8; MAX_NAME_LEN];
    buf[0] = 1;
    buf[1] = b'*';
    buf[2..2 + owner.len()].copy_from_slice(owner);
    zone.node(&buf[..2 + owner.len()])
}
