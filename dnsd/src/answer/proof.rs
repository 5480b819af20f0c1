//! DNSSEC in answers to queries with the DO bit (RFC 3225, RFC 4035 §3.1): the denial
//! of existence records a validator needs beside the answer, and the DS of a referral
//! (or its denial). The signatures of every RRset travel with it (`Item::sigs`, set
//! where the RRset is added; `render` writes them right after it, with the TTL of RFC
//! 4035 §2.2 / RFC 4034 §3: the RRset's, cut to the signature's remaining validity).
//!
//! The zone's records say how it denies: an NSEC3PARAM at the apex (RFC 5155 §4) makes
//! it an NSEC3 zone, an NSEC at the apex an NSEC zone; a zone with neither is unsigned
//! and gets no proofs. Signed by dnsd or loaded pre-signed, the records are served as
//! they are stored: nothing here signs.
//!
//! - NSEC (RFC 4035 §3.1.3): the NSEC that matches a name (NODATA), or the one that
//!   covers it — the nearest node before it in canonical order holding an NSEC
//!   (empty non-terminals and occluded names hold none): NXDOMAIN (the name and the
//!   wildcard at its closest encloser), wildcard answers (the name), wildcard NODATA
//!   (the name, and the wildcard's own NSEC).
//! - NSEC3 (RFC 5155 §7.2): the closest (provable) encloser's matching NSEC3, and
//!   the NSEC3 covering the next closer name, and that covering (NXDOMAIN) or matching
//!   (wildcard NODATA) the wildcard; a wildcard answer needs only the next closer
//!   name's cover (§7.2.6); a DS question at an opt-out delegation without its own
//!   NSEC3 gets the closest provable encloser proof (§7.2.4).
//!
//! Per query this costs a few ordered-index probes and, for NSEC3, one SHA-1 per name
//! proved (RFC 9276 parameters: no iterations), all on the stack.

use crate::dnssec::nsec3::nsec3_hash;
use crate::zone::rdata_dnssec::base32hex_encode;

use super::response::{Data, Item, NameRef, Response, Section};
use crate::wire::name::{MAX_NAME_LEN, label_offsets};
use crate::zone::{NodeRef, Rtype, Zone};

/// Most nodes walked back over (empty non-terminals, occluded names) to reach the NSEC
/// that covers a name. Past it the proof is left out (the validator then calls the
/// answer bogus): only a zone with thousands of names under one cut gets there.
const MAX_WALK: usize = 256;
/// Most NSEC3 iterations hashed per name; RFC 9276 §3.2 says 0, validators give up
/// past 150 (RFC 9276 §3.2, BIND and Unbound), so a zone beyond gets no proof.
const MAX_ITERATIONS: u16 = 150;
/// Length of a SHA-1 hash in base32hex (RFC 5155 §3.3).
const HASH_LABEL: usize = 32;

/// The signatures of `node`'s `rtype` RRset, when the response carries them.
pub fn sigs<'z>(
    response: &Response<'z>,
    node: NodeRef<'z>,
    rtype: Rtype,
) -> Option<crate::zone::RrsetRef<'z>> {
    if response.dnssec {
        node.rrsig(rtype)
    } else {
        None
    }
}

/// How a zone denies existence.
enum Chain<'z> {
    Nsec,
    Nsec3 { salt: &'z [u8], iterations: u16 },
}

fn chain(zone: &Zone) -> Option<Chain<'_>> {
    let apex = zone.apex_node();
    if let Some(param) = apex.rrset(Rtype::NSEC3PARAM) {
        // RFC 5155 §4: SHA-1 (1); flags must be 0 for the chain the server uses.
        return param.rdatas().find_map(|rdata| {
            let (&algorithm, &flags) = (rdata.first()?, rdata.get(1)?);
            let iterations = u16::from_be_bytes([*rdata.get(2)?, *rdata.get(3)?]);
            let salt = rdata.get(5..5 + usize::from(*rdata.get(4)?))?;
            (algorithm == 1 && flags == 0 && iterations <= MAX_ITERATIONS)
                .then_some(Chain::Nsec3 { salt, iterations })
        });
    }
    apex.rrset(Rtype::NSEC).map(|_| Chain::Nsec)
}

/// NXDOMAIN for `lower`, whose closest encloser is `encloser`: the name and the
/// wildcard that could have answered do not exist (RFC 4035 §3.1.3.2, RFC 5155 §7.2.2).
pub fn nxdomain<'z>(
    zone: &'z Zone,
    lower: &[u8],
    encloser: NodeRef<'z>,
    response: &mut Response<'z>,
    qname: &[u8],
) {
    let mut wild = [0u8; MAX_NAME_LEN];
    match chain(zone) {
        None => {}
        Some(Chain::Nsec) => {
            push(response, nsec_covering(zone, lower), Rtype::NSEC, qname);
            if let Some(wild) = wildcard_of(encloser.owner(), &mut wild) {
                push(response, nsec_covering(zone, wild), Rtype::NSEC, qname);
            }
        }
        Some(Chain::Nsec3 { salt, iterations }) => {
            let params = (salt, iterations);
            let Some(encloser) =
                provable_encloser(zone, params, lower, encloser.owner(), response, qname)
            else {
                return;
            };
            if let Some(wild) = wildcard_of(encloser, &mut wild) {
                push(
                    response,
                    nsec3_covering(zone, params, wild),
                    Rtype::NSEC3,
                    qname,
                );
            }
        }
    }
}

/// NODATA at `node` (which exists, maybe as an empty non-terminal); `expanded` is the
/// closest encloser when `node` is the wildcard that answered `lower` (RFC 4035
/// §3.1.3.1 and §3.1.3.4, RFC 5155 §7.2.3 to §7.2.5).
pub fn nodata<'z>(
    zone: &'z Zone,
    lower: &[u8],
    node: NodeRef<'z>,
    expanded: Option<NodeRef<'z>>,
    response: &mut Response<'z>,
    qname: &[u8],
) {
    match chain(zone) {
        None => {}
        Some(Chain::Nsec) => {
            if expanded.is_some() {
                push(response, nsec_covering(zone, lower), Rtype::NSEC, qname);
            }
            if node.rrset(Rtype::NSEC).is_some() {
                push(response, Some(node), Rtype::NSEC, qname);
            } else {
                // An empty non-terminal: the NSEC before it, whose next name is below it.
                push(
                    response,
                    nsec_covering(zone, node.owner()),
                    Rtype::NSEC,
                    qname,
                );
            }
        }
        Some(Chain::Nsec3 { salt, iterations }) => {
            let params = (salt, iterations);
            if let Some(encloser) = expanded {
                // §7.2.5: the closest encloser proof for the name, and the wildcard's NSEC3.
                push(
                    response,
                    nsec3_matching(zone, params, encloser.owner()),
                    Rtype::NSEC3,
                    qname,
                );
                push(
                    response,
                    nsec3_covering(zone, params, next_closer(lower, encloser.owner().len())),
                    Rtype::NSEC3,
                    qname,
                );
            }
            match nsec3_matching(zone, params, node.owner()) {
                Some(matching) => push(response, Some(matching), Rtype::NSEC3, qname),
                // §7.2.4: an opt-out delegation (asked for DS) has no NSEC3 of its own.
                None => {
                    let parent = parent_of(node.owner());
                    provable_encloser(zone, params, node.owner(), parent, response, qname);
                }
            }
        }
    }
}

/// An answer synthesized from the wildcard at `encloser`: no closer name matched
/// `lower` (RFC 4035 §3.1.3.3, RFC 5155 §7.2.6).
pub fn expansion<'z>(
    zone: &'z Zone,
    lower: &[u8],
    encloser: NodeRef<'z>,
    response: &mut Response<'z>,
    qname: &[u8],
) {
    match chain(zone) {
        None => {}
        Some(Chain::Nsec) => push(response, nsec_covering(zone, lower), Rtype::NSEC, qname),
        Some(Chain::Nsec3 { salt, iterations }) => {
            let next = next_closer(lower, encloser.owner().len());
            push(
                response,
                nsec3_covering(zone, (salt, iterations), next),
                Rtype::NSEC3,
                qname,
            );
        }
    }
}

/// A referral to `cut`: its DS RRset, signed, or the proof that it has none (RFC 4035
/// §3.1.4, RFC 5155 §7.2.7).
pub fn delegation<'z>(zone: &'z Zone, cut: NodeRef<'z>, response: &mut Response<'z>, qname: &[u8]) {
    if let Some(ds) = cut.rrset(Rtype::DS) {
        let owner = NameRef::Wire(cut.owner());
        let data = Data::Rrset(ds);
        if !response.contains(owner, &data, qname) {
            response.push(Item {
                section: Section::Authority,
                owner,
                rtype: Rtype::DS,
                ttl: ds.ttl,
                data,
                required: true,
                sigs: cut.rrsig(Rtype::DS),
            });
        }
        return;
    }
    nodata(zone, cut.owner(), cut, None, response, qname);
}

/// Adds `node`'s `rtype` RRset (NSEC or NSEC3) and its signatures to the authority
/// section, once.
fn push<'z>(response: &mut Response<'z>, node: Option<NodeRef<'z>>, rtype: Rtype, qname: &[u8]) {
    let Some(node) = node else {
        return;
    };
    let Some(rrset) = node.rrset(rtype) else {
        return;
    };
    let owner = NameRef::Wire(node.owner());
    let data = Data::Rrset(rrset);
    if response.contains(owner, &data, qname) {
        return;
    }
    response.push(Item {
        section: Section::Authority,
        owner,
        rtype,
        ttl: rrset.ttl,
        data,
        required: true,
        sigs: node.rrsig(rtype),
    });
}

/// The NSEC that covers `lower` (a name that does not exist): the nearest node before
/// it that holds an NSEC.
fn nsec_covering<'z>(zone: &'z Zone, lower: &[u8]) -> Option<NodeRef<'z>> {
    let mut node = zone.predecessor(lower)?;
    for _ in 0..MAX_WALK {
        if node.rrset(Rtype::NSEC).is_some() {
            return Some(node);
        }
        node = zone.predecessor(node.owner())?;
    }
    None
}

/// `*.<owner>` in `buf`, if it is a valid name.
fn wildcard_of<'b>(owner: &[u8], buf: &'b mut [u8; MAX_NAME_LEN]) -> Option<&'b [u8]> {
    if owner.len() + 2 > MAX_NAME_LEN {
        return None;
    }
    buf[0] = 1;
    buf[1] = b'*';
    buf[2..2 + owner.len()].copy_from_slice(owner);
    Some(&buf[..2 + owner.len()])
}

/// The suffix of `lower` one label longer than its ancestor of `encloser_len` octets
/// (RFC 5155 §1.3, "next closer name").
fn next_closer(lower: &[u8], encloser_len: usize) -> &[u8] {
    let mut closer = lower;
    for at in label_offsets(lower) {
        let suffix = &lower[at..];
        if suffix.len() <= encloser_len {
            break;
        }
        closer = suffix;
    }
    closer
}

/// The name one label up from `lower` (itself at the root).
fn parent_of(lower: &[u8]) -> &[u8] {
    match lower.first() {
        Some(&len) if len > 0 => lower.get(1 + usize::from(len)..).unwrap_or(lower),
        _ => lower,
    }
}

/// The closest encloser proof of RFC 5155 §7.2.1 for `lower`, starting from
/// `encloser` (an ancestor of it): the nearest ancestor at or above `encloser` that
/// has a matching NSEC3 (in an opt-out span, names may have none), and the NSEC3 that
/// covers the next closer name. Returns that ancestor.
fn provable_encloser<'z, 'n>(
    zone: &'z Zone,
    params: (&[u8], u16),
    lower: &[u8],
    encloser: &'n [u8],
    response: &mut Response<'z>,
    qname: &[u8],
) -> Option<&'n [u8]> {
    let mut candidate = encloser;
    loop {
        if let Some(matching) = nsec3_matching(zone, params, candidate) {
            push(response, Some(matching), Rtype::NSEC3, qname);
            let next = next_closer(lower, candidate.len());
            push(
                response,
                nsec3_covering(zone, params, next),
                Rtype::NSEC3,
                qname,
            );
            return Some(candidate);
        }
        if candidate.len() <= zone.apex().as_wire().len() {
            return None;
        }
        candidate = parent_of(candidate);
    }
}

/// The base32hex label of `lower`'s NSEC3 hash (RFC 5155 §5), lowercase, in `out`.
fn hash_label(lower: &[u8], (salt, iterations): (&[u8], u16), out: &mut [u8; HASH_LABEL]) {
    let hash = nsec3_hash(lower, salt, iterations);
    // 20 octets are 160 bits: exactly HASH_LABEL characters of 5 bits.
    let mut at = 0;
    base32hex_encode(&hash, |c| {
        out[at] = c;
        at += 1;
    });
}

/// The NSEC3 node whose owner is `lower`'s hash, if any.
fn nsec3_matching<'z>(zone: &'z Zone, params: (&[u8], u16), lower: &[u8]) -> Option<NodeRef<'z>> {
    let mut label = [0u8; HASH_LABEL];
    hash_label(lower, params, &mut label);
    zone.nsec3_covering(&label).filter(|node| {
        node.owner().get(1..1 + HASH_LABEL) == Some(&label[..])
            && node.owner().first() == Some(&(HASH_LABEL as u8))
    })
}

/// The NSEC3 node that covers (or matches) `lower`'s hash: the greatest hash not above
/// it, or the last of the chain when every hash is above it (RFC 5155 §7.2.1).
fn nsec3_covering<'z>(zone: &'z Zone, params: (&[u8], u16), lower: &[u8]) -> Option<NodeRef<'z>> {
    let mut label = [0u8; HASH_LABEL];
    hash_label(lower, params, &mut label);
    // While the zone's NSEC3 parameters change, the records of another chain lie
    // between those of the one the NSEC3PARAM names (RFC 5155 §7.2: the server's
    // proofs use that one): the nearest record of this chain, passing over the
    // other's (a few at most, the chains' hashes being spread evenly); failing that,
    // as before.
    let of_chain = |node: &NodeRef<'_>| uses_params(node, params);
    zone.nsec3_nodes_down_from(&label)
        .take(OTHER_CHAIN_RECORDS)
        .find(of_chain)
        .or_else(|| {
            zone.nsec3_nodes_down_from(&[b'v'; HASH_LABEL])
                .take(OTHER_CHAIN_RECORDS)
                .find(of_chain)
        })
        .or_else(|| zone.nsec3_covering(&label).or_else(|| zone.nsec3_last()))
}

/// NSEC3 records of another chain passed over, at most, looking for one of the
/// served chain's.
const OTHER_CHAIN_RECORDS: usize = 64;

/// Whether `node`'s NSEC3 record has the hash parameters `(salt, iterations)` (RFC
/// 5155 §3.2: algorithm, flags, iterations, salt length, salt).
fn uses_params(node: &NodeRef<'_>, (salt, iterations): (&[u8], u16)) -> bool {
    node.rrset(Rtype::NSEC3)
        .and_then(|r| r.rdatas().next())
        .is_some_and(|r| {
            r.get(2..4) == Some(&iterations.to_be_bytes()[..])
                && r.get(4).map(|&l| usize::from(l)) == Some(salt.len())
                && r.get(5..5 + salt.len()) == Some(salt)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_label_spells_rfc_5155_appendix_a() {
        // RFC 5155 Appendix A: example, salt aabbccdd, 12 iterations.
        let name = crate::wire::name::Name::from_text("example.", None).unwrap();
        let mut label = [0u8; HASH_LABEL];
        hash_label(name.as_wire(), (&[0xaa, 0xbb, 0xcc, 0xdd], 12), &mut label);
        assert_eq!(&label, b"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom");
    }

    #[test]
    fn the_next_closer_name_is_one_label_below_the_encloser() {
        let w = |t: &str| {
            crate::wire::name::Name::from_text(t, None)
                .unwrap()
                .as_wire()
                .to_vec()
        };
        let lower = w("a.b.c.example.");
        assert_eq!(
            next_closer(&lower, w("example.").len()),
            &w("c.example.")[..]
        );
        assert_eq!(
            next_closer(&lower, w("b.c.example.").len()),
            &w("a.b.c.example.")[..]
        );
        assert_eq!(parent_of(&w("b.example.")), &w("example.")[..]);
    }
}
