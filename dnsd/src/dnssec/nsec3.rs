//! The NSEC3 chain (RFC 5155 §7.1): one NSEC3 record per name with authoritative
//! data, delegation or empty non-terminal, owned by the name's hash (SHA-1 of the
//! name and salt, iterated, in base32hex, under the apex) and chained in hash order.
//! dnsd uses RFC 9276 §3.1's parameters: no salt, no additional iterations.
//!
//! After a change, the names that changed (and their ancestors, which may have become
//! or ceased to be empty non-terminals) join, leave or change their record in the
//! chain; the records before those that joined or left get a new "next hashed owner".
//! The chain of the old version is walked through the store's hash-ordered index and
//! the records' own next fields; joins and leaves are laid over it
//! ([`nsec3_changes`]).

use std::collections::{BTreeMap, BTreeSet};

use ring::digest;

use super::rdata::{base32hex, from_base32hex, nsec3_parts, nsec3_rdata};
use crate::wire::name;
use crate::zone::{NodeRef, Rtype, Zone};

use super::nsec::is_data;

/// A SHA-1 NSEC3 hash.
pub type Hash = [u8; 20];

/// The NSEC3 hash of `owner` (lowercased wire format; RFC 5155 §5).
pub fn nsec3_hash(owner: &[u8], salt: &[u8], iterations: u16) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(owner);
    ctx.update(salt);
    let mut hash: Hash = [0; 20];
    hash.copy_from_slice(ctx.finish().as_ref());
    for _ in 0..iterations {
        let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
        ctx.update(&hash);
        ctx.update(salt);
        hash.copy_from_slice(ctx.finish().as_ref());
    }
    hash
}

/// The owner name of the NSEC3 record of `hash` in the zone `apex`.
pub fn hashed_owner(hash: &Hash, apex: &[u8]) -> Vec<u8> {
    let label = base32hex(hash);
    let mut owner = Vec::with_capacity(1 + label.len() + apex.len());
    owner.push(label.len() as u8);
    owner.extend_from_slice(&label);
    owner.extend_from_slice(apex);
    owner
}

/// The hash an NSEC3 owner's first label spells, if it is one.
pub fn hash_of_owner(owner: &[u8]) -> Option<Hash> {
    let len = usize::from(*owner.first()?);
    from_base32hex(owner.get(1..1 + len)?)?.try_into().ok()
}

/// Whether `node` holds an NSEC3 RRset and nothing else but signatures (a name that
/// holds only signatures is a leftover of removed data, not an NSEC3 owner).
pub fn is_nsec3_node(node: &NodeRef<'_>) -> bool {
    node.rrset(Rtype::NSEC3).is_some()
        && node
            .rrsets()
            .all(|r| matches!(r.rtype, Rtype::NSEC3 | Rtype::RRSIG))
}

/// Whether `node` is a leftover: it holds records, but none the chains describe nor
/// an NSEC3 (signatures of data that went, an NSEC of a name that left the chain).
pub fn is_leftover(node: &NodeRef<'_>) -> bool {
    !node.is_empty() && !node.rrsets().any(|r| is_data(r.rtype)) && !is_nsec3_node(node)
}

/// The types an NSEC3 for `node` lists, sorted; None when the name has no NSEC3: it is
/// below a zone cut, an NSEC3 owner itself, a leftover with no data, or (with
/// `opt_out`) a delegation without DS. Empty for an empty non-terminal. RRSIG is
/// listed where the name holds signed data (RFC 5155 §3.2); NSEC3 never.
pub fn nsec3_types(node: &NodeRef<'_>, opt_out: bool) -> Option<Vec<u16>> {
    if node.is_below_cut() {
        return None;
    }
    if node.is_empty() {
        return Some(Vec::new());
    }
    let delegation = node.is_delegation();
    let mut types: Vec<u16> = node
        .rrsets()
        .map(|r| r.rtype)
        .filter(|&t| is_data(t) && (!delegation || matches!(t, Rtype::NS | Rtype::DS)))
        .map(|t| t.0)
        .collect();
    types.dedup();
    if types.is_empty() {
        return None;
    }
    let has_ds = types.contains(&Rtype::DS.0);
    if delegation && opt_out && !has_ds {
        return None;
    }
    if !delegation || has_ds {
        types.push(Rtype::RRSIG.0);
        types.sort_unstable();
    }
    Some(types)
}

/// The types an NSEC3 for `node` lists ([`nsec3_types`]), and NSEC with RRSIG where the
/// name holds an NSEC RRset: while one chain is built beside the other (`rechain`) a
/// name may hold both kinds, and RFC 5155 §3.2's bitmap lists every type at the name
/// (what `dnssec-verify` and `kzonecheck` check).
pub fn types_beside_nsec(node: &NodeRef<'_>, opt_out: bool) -> Option<Vec<u16>> {
    let mut types = nsec3_types(node, opt_out)?;
    if node.rrset(Rtype::NSEC).is_some() {
        types.extend([Rtype::RRSIG.0, Rtype::NSEC.0]);
        types.sort_unstable();
        types.dedup();
    }
    Some(types)
}

/// The chain's parameters.
#[derive(Clone, Copy, Debug)]
pub struct Params<'a> {
    /// The salt (empty under RFC 9276).
    pub salt: &'a [u8],
    /// Additional iterations (0 under RFC 9276).
    pub iterations: u16,
    /// Whether insecure delegations are left out of the chain (Opt-Out).
    pub opt_out: bool,
    /// The Opt-Out flag of the records written: `opt_out`, but for a chain whose
    /// Opt-Out is turned off in place (`rechain`): set until every insecure delegation
    /// has its record again.
    pub opt_out_flag: bool,
}

impl Params<'_> {
    /// The NSEC3 flags field.
    pub fn flags(&self) -> u8 {
        if self.opt_out_flag {
            super::rdata::NSEC3_OPT_OUT
        } else {
            0
        }
    }
}

/// An NSEC3 record to hold: its hash owner and RDATA (None: the record goes).
pub type Nsec3Change = (Hash, Option<Vec<u8>>);

/// Whether an NSEC3 RDATA is of the chain of `params` (RFC 5155 §3.2: the hash
/// algorithm, iterations and salt name a chain; the flags do not).
pub fn of_chain(rdata: &[u8], params: Params<'_>) -> bool {
    rdata.first() == Some(&1)
        && rdata.get(2..4) == Some(&params.iterations.to_be_bytes()[..])
        && rdata.get(4).map(|&l| usize::from(l)) == Some(params.salt.len())
        && rdata.get(5..5 + params.salt.len()) == Some(params.salt)
}

/// Whether `node` holds an NSEC3 record of the chain of `params`.
pub fn node_of_chain(node: &NodeRef<'_>, params: Params<'_>) -> bool {
    node.rrset(Rtype::NSEC3)
        .and_then(|r| r.rdatas().next())
        .is_some_and(|r| of_chain(r, params))
}

/// The chain of some parameters as a version holds it (the "old" chain a change is
/// laid over). The records of another chain (a change of parameters under way,
/// `rechain`) are passed over, as BIND's `dns_nsec3_addnsec3` does.
struct OldChain<'z, 'p> {
    zone: &'z Zone,
    params: Params<'p>,
    /// The version holds no record of the chain: nothing to look for (a chain built
    /// beside another one starts so; every lookup would pass over the other).
    empty: bool,
}

/// The last hash label there is: every NSEC3 owner's sorts at or below it.
const LAST_LABEL: [u8; 32] = [b'v'; 32];

impl<'z, 'p> OldChain<'z, 'p> {
    fn new(zone: &'z Zone, params: Params<'p>) -> Self {
        let empty = !zone.nsec3_nodes().any(|n| node_of_chain(&n, params));
        Self {
            zone,
            params,
            empty,
        }
    }

    /// What the chain holds at a hash: the record's flags, next hash and bitmap.
    fn record_at(&self, hash: &Hash) -> Option<(u8, Hash, Vec<u8>)> {
        if self.empty {
            return None;
        }
        let owner = hashed_owner(hash, self.zone.apex().as_wire());
        let node = self.zone.node(&owner)?;
        let rdata = node.rrset(Rtype::NSEC3)?.rdatas().next()?;
        if !of_chain(rdata, self.params) {
            return None;
        }
        let (flags, next, bitmap) = nsec3_parts(rdata)?;
        Some((flags, next.try_into().ok()?, bitmap.to_vec()))
    }

    /// The greatest hash of the chain at or before `hash`, cyclically (the last one
    /// when none is).
    fn at_or_before(&self, hash: &Hash) -> Option<Hash> {
        if self.empty {
            return None;
        }
        let of_chain = |n: &NodeRef<'_>| node_of_chain(n, self.params);
        self.zone
            .nsec3_nodes_down_from(&base32hex(hash))
            .find(of_chain)
            .or_else(|| self.zone.nsec3_nodes_down_from(&LAST_LABEL).find(of_chain))
            .and_then(|n| hash_of_owner(n.owner()))
    }

    /// The hash of the chain just before `hash` (strictly), cyclically.
    fn before(&self, hash: &Hash) -> Option<Hash> {
        let mut lower = *hash;
        // hash - 1, big-endian; 0 wraps to the largest hash.
        for b in lower.iter_mut().rev() {
            let (v, borrow) = b.overflowing_sub(1);
            *b = v;
            if !borrow {
                break;
            }
        }
        self.at_or_before(&lower)
    }

    /// The hash of the chain just after `hash` (strictly), cyclically: the next field
    /// of the record at or before it.
    fn after(&self, hash: &Hash) -> Option<Hash> {
        let at = self.at_or_before(hash)?;
        self.record_at(&at).map(|(_, next, _)| next)
    }

    /// The chain once `leaves` have left and `joins` joined: the member after
    /// (`forward`) or before `hash`, cyclically; None when the chain is empty.
    fn neighbour(
        &self,
        hash: &Hash,
        leaves: &BTreeSet<Hash>,
        joins: &BTreeSet<Hash>,
        forward: bool,
    ) -> Option<Hash> {
        let step = |h: &Hash| {
            if forward {
                self.after(h)
            } else {
                self.before(h)
            }
        };
        let mut old = step(hash);
        let mut guard = 0;
        while let Some(h) = old {
            if !leaves.contains(&h) {
                break;
            }
            guard += 1;
            if guard > leaves.len() || h == *hash {
                old = None;
                break;
            }
            old = step(&h);
        }
        let joined = if forward {
            joins
                .range((std::ops::Bound::Excluded(*hash), std::ops::Bound::Unbounded))
                .next()
                .or_else(|| joins.iter().next())
        } else {
            joins
                .range(..*hash)
                .next_back()
                .or_else(|| joins.iter().next_back())
        };
        // The nearer one, cyclically: after `hash` the least of those above it (else
        // the least), before it the greatest of those below it (else the greatest).
        let nearer = |o: Hash, j: Hash| {
            if forward {
                if (o <= *hash, o) <= (j <= *hash, j) {
                    o
                } else {
                    j
                }
            } else if (o < *hash, o) >= (j < *hash, j) {
                o
            } else {
                j
            }
        };
        match (old, joined.copied()) {
            (None, j) => j,
            (o, None) => o,
            (Some(o), Some(j)) => Some(nearer(o, j)),
        }
    }
}

/// The names whose NSEC3 may change when `changed` names changed: themselves and
/// their ancestors up to the apex (empty non-terminals come and go with them).
pub fn with_ancestors(apex: &[u8], changed: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out: BTreeSet<Vec<u8>> = BTreeSet::new();
    for owner in changed {
        for at in std::iter::once(0).chain(name::label_offsets(owner).skip(1)) {
            let ancestor = &owner[at..];
            if ancestor.len() < apex.len() || !out.insert(ancestor.to_vec()) {
                break;
            }
        }
    }
    out.into_iter().collect()
}

/// The NSEC3 records that differ from what `zone` needs around the names `changed`
/// (with their ancestors: [`with_ancestors`]), given the chain's parameters; each
/// RDATA holds its final next hash. The old chain must be whole (what a previous
/// signing left).
pub fn nsec3_changes(zone: &Zone, changed: &[Vec<u8>], params: Params<'_>) -> Vec<Nsec3Change> {
    // What each changed name wants (types) and has (bitmap), by hash.
    let mut wanted: BTreeMap<Hash, Option<Vec<u16>>> = BTreeMap::new();
    let mut joins = BTreeSet::new();
    let mut leaves = BTreeSet::new();
    let old = OldChain::new(zone, params);
    for owner in changed {
        if zone.node(owner).is_some_and(|n| is_nsec3_node(&n)) {
            continue;
        }
        let hash = nsec3_hash(owner, params.salt, params.iterations);
        let want = zone
            .node(owner)
            .and_then(|n| types_beside_nsec(&n, params.opt_out));
        let have = old.record_at(&hash);
        match (&want, &have) {
            (Some(_), None) => {
                joins.insert(hash);
            }
            (None, Some(_)) => {
                leaves.insert(hash);
            }
            _ => {}
        }
        wanted.insert(hash, want);
    }
    // Every record to write: the changed names' own, and their new neighbours before.
    let mut out: BTreeMap<Hash, Option<Vec<u8>>> = BTreeMap::new();
    let mut rewrite: BTreeSet<Hash> = BTreeSet::new();
    for hash in joins.iter().chain(&leaves) {
        if let Some(previous) = old.neighbour(hash, &leaves, &joins, false) {
            rewrite.insert(previous);
        }
    }
    for (hash, want) in &wanted {
        match want {
            None => {
                if leaves.contains(hash) {
                    out.insert(*hash, None);
                }
            }
            Some(_) => {
                rewrite.insert(*hash);
            }
        }
    }
    for hash in rewrite {
        let next = old.neighbour(&hash, &leaves, &joins, true).unwrap_or(hash);
        let have = old.record_at(&hash);
        let bitmap = match wanted.get(&hash) {
            Some(Some(types)) => {
                let mut b = Vec::new();
                super::rdata::bitmap_into(types, &mut b);
                b
            }
            Some(None) => continue,
            None => match &have {
                Some((_, _, bitmap)) => bitmap.clone(),
                None => continue,
            },
        };
        let unchanged = have
            .as_ref()
            .is_some_and(|(f, n, b)| *f == params.flags() && *n == next && *b == bitmap);
        if !unchanged {
            let mut rdata =
                super::rdata::nsec3param_rdata(params.flags(), params.iterations, params.salt);
            rdata.push(20);
            rdata.extend_from_slice(&next);
            rdata.extend_from_slice(&bitmap);
            out.insert(hash, Some(rdata));
        }
    }
    out.into_iter().collect()
}

/// The whole chain of `zone`: every name's hash and types, sorted by hash; then each
/// record's RDATA with its next hash.
pub fn full_chain(zone: &Zone, params: Params<'_>) -> Vec<(Hash, Vec<u8>)> {
    let mut entries: Vec<(Hash, Vec<u16>)> = zone
        .nodes()
        .filter(|n| !is_nsec3_node(n))
        .filter_map(|n| {
            let types = nsec3_types(&n, params.opt_out)?;
            Some((nsec3_hash(n.owner(), params.salt, params.iterations), types))
        })
        .collect();
    entries.sort_unstable_by_key(|a| a.0);
    entries.dedup_by(|a, b| a.0 == b.0);
    let count = entries.len();
    (0..count)
        .map(|i| {
            let next = entries[(i + 1) % count].0;
            let rdata = nsec3_rdata(
                params.flags(),
                params.iterations,
                params.salt,
                &next,
                &entries[i].1,
            );
            (entries[i].0, rdata)
        })
        .collect()
}

#[cfg(test)]
#[path = "nsec3_tests.rs"]
mod tests;
