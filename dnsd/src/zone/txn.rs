//! Transactions: the one way a zone version becomes the next. A [`Transaction`] lists
//! changes (add or remove records, replace or remove an RRset, remove a name);
//! [`apply`] checks them and derives the next version and its [`ZoneDiff`], in time
//! and memory proportional to the change times the log of the zone's size.
//!
//! # Steps
//! 1. The changes are grouped by owner and applied to each owner's node, unpacked
//!    ([`NodeData`]); the records actually removed and added make the diff.
//! 2. Structure: a new name gets the empty non-terminals above it (RFC 4592 §2.2.2);
//!    a name left empty stays as an empty non-terminal while names lie below it, or
//!    goes, and takes with it the empty non-terminals it alone kept.
//! 3. Flags: a node's apex/delegation/below-cut flags are recomputed where its own NS
//!    records changed or a cut above it appeared or went (the whole subtree then).
//! 4. Checks on what changed: one SOA, at the apex only; a CNAME alone but for its
//!    RRSIG and NSEC (RFC 2181 §10.1), one per name, never beside a DNAME (RFC 6672
//!    §2.4); every NS target has the address it needs (RFC 9471: glue inside its
//!    delegation, an address for one in the zone's own data; `zone::glue`), also when
//!    an address is removed. Occluded data is accepted with a warning, as from a file.
//! 5. The changed nodes are written to the zone's arena and the indexes updated by
//!    copying the paths to them; everything else is shared with the old version.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::arena::Ref;
use super::canonical::{self, Labels};
use super::diff::ZoneDiff;
use super::glue::{AddressNeed, address_need};
use super::node::{APEX, BELOW_CUT, DELEGATION, EncodeError, NodeData, RrsetData, covered_of};
use super::record::{Record, Rtype};
use super::snapshot::{BuildError, Zone, name_in};
use crate::wire::name::{self, Name};

/// One change to a zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Adds a record. An RRset that exists with another TTL takes this record's TTL
    /// (all records of an RRset share one, RFC 2181 §5.2), as BIND does.
    Add(Record),
    /// Removes a record, whatever its TTL.
    Remove(Record),
    /// Makes the RRset (owner, type) exactly these RDATAs with this TTL; none removes
    /// it. For RRSIG, the RDATAs are grouped by the type they cover.
    Replace {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: Rtype,
        /// The TTL.
        ttl: u32,
        /// The RDATAs.
        rdatas: Vec<Box<[u8]>>,
    },
    /// Removes the RRset (owner, type); for RRSIG, every RRSIG at the owner.
    RemoveRrset {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: Rtype,
    },
    /// Removes every RRset at the owner (not those of names below it).
    RemoveName {
        /// The owner.
        owner: Name,
    },
}

impl TxnError {
    /// The name the error is about, when it is about one.
    pub fn owner(&self) -> Option<&Name> {
        match self {
            Self::OutOfZone { owner, .. }
            | Self::MetaType { owner, .. }
            | Self::NotInZone { owner, .. }
            | Self::AlreadyInZone { owner, .. }
            | Self::SoaNotAtApex { owner }
            | Self::CnameAndOther { owner, .. }
            | Self::MultipleAlias { owner, .. }
            | Self::CnameAndDname { owner } => Some(owner),
            Self::MissingGlue { cut, .. } => Some(cut),
            _ => None,
        }
    }
}

impl Change {
    fn owner(&self) -> &Name {
        match self {
            Change::Add(r) | Change::Remove(r) => &r.owner,
            Change::Replace { owner, .. }
            | Change::RemoveRrset { owner, .. }
            | Change::RemoveName { owner } => owner,
        }
    }
}

/// Changes applied together, as one step from a version to the next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    /// The changes, in order.
    pub changes: Vec<Change>,
    /// Whether adding a record already there or removing one that is not is an error
    /// (what an incremental transfer requires, RFC 1995 §4) rather than nothing.
    pub strict: bool,
}

impl Transaction {
    /// An empty, lenient transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a change.
    pub fn push(&mut self, change: Change) -> &mut Self {
        self.changes.push(change);
        self
    }

    /// Whether there is no change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Why a transaction was refused; the zone is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// A record whose owner is not at or below the apex.
    #[error("{owner} is outside the zone {apex}")]
    OutOfZone {
        /// The owner.
        owner: Name,
        /// The apex.
        apex: Name,
    },
    /// A type that cannot be stored in a zone (OPT, ANY, AXFR, ...).
    #[error("type {rtype} cannot be stored in a zone (at {owner})")]
    MetaType {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: Rtype,
    },
    /// A strict transaction removes a record the zone does not hold.
    #[error("record to remove is not in the zone: {owner} {rtype}")]
    NotInZone {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: Rtype,
    },
    /// A strict transaction adds a record the zone holds already.
    #[error("record to add is already in the zone: {owner} {rtype}")]
    AlreadyInZone {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: Rtype,
    },
    /// The apex would have no SOA.
    #[error("the zone apex {0} would have no SOA record")]
    NoSoa(Name),
    /// The apex would have more than one SOA record.
    #[error("the zone apex {0} would have more than one SOA record")]
    MultipleSoa(Name),
    /// SOA RDATA that is not two names and five 32-bit fields (RFC 1035 §3.3.13).
    #[error("malformed SOA RDATA at {0}")]
    BadSoa(Name),
    /// A SOA record below the apex.
    #[error("SOA record at {owner}, which is not the zone apex")]
    SoaNotAtApex {
        /// The owner.
        owner: Name,
    },
    /// A CNAME beside other data (RFC 2181 §10.1).
    #[error("CNAME at {owner} beside other data ({other})")]
    CnameAndOther {
        /// The owner.
        owner: Name,
        /// One other type there.
        other: Rtype,
    },
    /// More than one CNAME, or DNAME, at a name (RFC 1034 §3.6.2, RFC 6672 §2.4).
    #[error("more than one {rtype} at {owner}")]
    MultipleAlias {
        /// The owner.
        owner: Name,
        /// CNAME or DNAME.
        rtype: Rtype,
    },
    /// CNAME and DNAME at one name (RFC 6672 §2.4).
    #[error("CNAME and DNAME at {owner}")]
    CnameAndDname {
        /// The owner.
        owner: Name,
    },
    /// A delegation whose name server lies inside it has no address (RFC 9471 §2.1).
    #[error(
        "NS target {target} of the delegation {cut} is inside it but has no A or AAAA record (missing glue)"
    )]
    MissingGlue {
        /// The delegation point.
        cut: Name,
        /// The name server.
        target: Name,
    },
    /// A node that cannot be stored.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The zone's store is full.
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// A change accepted with a remark (occluded data, as a zone file's loader warns).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnWarning {
    /// Data below a zone cut that is not glue, never served (RFC 1034 §4.2.1).
    #[error("{rtype} at {owner} is below the delegation {cut} and will not be served (occluded)")]
    OccludedByDelegation {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: Rtype,
        /// The cut.
        cut: Name,
    },
}

/// What [`apply`] gives: the next version, what changed, and remarks.
pub struct Applied {
    /// The new version.
    pub zone: Zone,
    /// Records removed and added (the SOA first in each list when it changed).
    pub diff: ZoneDiff,
    /// Remarks on accepted changes.
    pub warnings: Vec<TxnWarning>,
}

/// One owner's node during a transaction.
struct Edit {
    /// Its ref in the old version, if it was a node there.
    old: Option<Ref>,
    /// Its content before (empty for a new name).
    before: NodeData,
    /// Its content after.
    after: NodeData,
    /// Whether it is a node of the new version (a name or an empty non-terminal).
    exists: bool,
}

/// Applies `txn` to `zone`, giving the next version (with the same SOA serial unless
/// the transaction changes it) and the diff between them.
pub fn apply(zone: &Zone, txn: &Transaction) -> Result<Applied, TxnError> {
    let prepared = prepare(zone, txn)?;
    let mut next = zone.clone();
    let (diff, warnings) = prepared.write(&mut next);
    Ok(Applied {
        zone: next,
        diff,
        warnings,
    })
}

/// Applies `txn` to `zone` in place, for a writer that owns the version it changes
/// (a group commit's working copy, never published): the index pages that an earlier
/// transaction of the batch copied are changed where they are, not copied again.
/// Returns the diff and remarks; on refusal `zone` is unchanged.
pub fn apply_in_place(
    zone: &mut Zone,
    txn: &Transaction,
) -> Result<(ZoneDiff, Vec<TxnWarning>), TxnError> {
    Ok(prepare(zone, txn)?.write(zone))
}

/// A checked transaction: what changed, and the writes that make the next version
/// (every node already stored in the arena, so that writing cannot fail).
struct Prepared {
    diff: ZoneDiff,
    warnings: Vec<TxnWarning>,
    removals: Vec<(Vec<u8>, Ref)>,
    writes: Vec<Write>,
}

/// A node written by a transaction: its owner, the ref it replaces, the ref of its new
/// blob in the arena and what the indexes need to know of it.
struct Write {
    owner: Vec<u8>,
    old: Option<Ref>,
    new: Ref,
    len: usize,
    nsec3: bool,
    cut: bool,
}

impl Prepared {
    /// Makes `zone` (the version `prepare` read) the next version. Infallible: every
    /// check passed and every node is in the arena.
    fn write(self, zone: &mut Zone) -> (ZoneDiff, Vec<TxnWarning>) {
        for (owner, old) in &self.removals {
            zone.remove_node(owner, *old);
        }
        for w in &self.writes {
            zone.link_node(w);
        }
        zone.record_count = zone.record_count + self.diff.added.len() - self.diff.removed.len();
        (self.diff, self.warnings)
    }
}

/// Checks `txn` against `zone` and stores the nodes it writes in the zone's arena
/// (unreferenced until [`Prepared::write`]: garbage if it never comes).
fn prepare(zone: &Zone, txn: &Transaction) -> Result<Prepared, TxnError> {
    let apex = zone.apex().clone();
    let mut edits: HashMap<Vec<u8>, Edit> = HashMap::new();

    // 1. Changes, owner by owner, in the order given.
    for change in &txn.changes {
        let owner = change.owner().to_lowercase();
        if !owner.is_subdomain_of(&apex) {
            return Err(TxnError::OutOfZone { owner, apex });
        }
        let edit = edits
            .entry(owner.as_wire().to_vec())
            .or_insert_with(|| load(zone, &owner));
        change_node(&mut edit.after, change, txn.strict)?;
    }

    // 2. Structure: names that appear get their ancestors; names left empty go, with
    //    the empty non-terminals above them that nothing else keeps.
    let appeared: Vec<Vec<u8>> = edits
        .iter()
        .filter(|(_, e)| !e.after.is_empty() && e.old.is_none())
        .map(|(k, _)| k.clone())
        .collect();
    for owner in appeared {
        for at in name::label_offsets(&owner).skip(1) {
            let ancestor = &owner[at..];
            if ancestor.len() < apex.as_wire().len() {
                break;
            }
            let edit = edits
                .entry(ancestor.to_vec())
                .or_insert_with(|| load(zone, &name_of(ancestor)));
            if edit.exists {
                break;
            }
            edit.exists = true;
        }
    }
    for edit in edits.values_mut() {
        if !edit.after.is_empty() {
            edit.exists = true;
        }
    }
    let mut emptied: Vec<Vec<u8>> = edits
        .iter()
        .filter(|(k, e)| e.after.is_empty() && e.exists && k.len() > apex.as_wire().len())
        .map(|(k, _)| k.clone())
        .collect();
    // Deepest first, so that a name's children are settled before it.
    emptied.sort_by_key(|k| std::cmp::Reverse(name::label_offsets(k).count()));
    let mut gone: HashSet<Vec<u8>> = HashSet::new();
    while let Some(owner) = emptied.pop() {
        if gone.contains(&owner) || has_descendant(zone, &edits, &gone, &owner) {
            continue;
        }
        gone.insert(owner.clone());
        if let Some(edit) = edits.get_mut(&owner) {
            edit.exists = false;
        }
        // The parent may have been an empty non-terminal for this name alone.
        if let Some(at) = name::label_offsets(&owner).nth(1) {
            let parent = owner[at..].to_vec();
            if parent.len() > apex.as_wire().len() {
                let edit = edits
                    .entry(parent.clone())
                    .or_insert_with(|| load(zone, &name_of(&parent)));
                if edit.after.is_empty() && edit.exists {
                    emptied.push(parent);
                }
            }
        }
    }

    // 3. Flags: where delegations appear or go, the whole subtree below is rechecked.
    let cuts_moved: Vec<Vec<u8>> = edits
        .iter()
        .filter(|(k, e)| {
            k.len() > apex.as_wire().len()
                && e.before.rrset(Rtype::NS).is_some()
                    != (e.exists && e.after.rrset(Rtype::NS).is_some())
        })
        .map(|(k, _)| k.clone())
        .collect();
    for cut in &cuts_moved {
        let below: Vec<NodeData> = zone
            .subtree(cut)
            .skip(1)
            .filter(|n| !edits.contains_key(n.owner()))
            .map(|n| n.to_data())
            .collect();
        for data in below {
            let old = zone.find(data.owner.as_wire());
            edits.insert(
                data.owner.as_wire().to_vec(),
                Edit {
                    old,
                    before: data.clone(),
                    after: data,
                    exists: true,
                },
            );
        }
    }

    // 4. Checks, and the diff.
    let view = View {
        zone,
        edits: &edits,
    };
    let mut warnings = Vec::new();
    for (owner, edit) in &edits {
        if edit.exists && edit.after != edit.before {
            check_node(&apex, owner, &edit.after)?;
            warnings.extend(view.occlusion(&apex, owner, &edit.after));
        }
    }
    view.check_glue(&apex)?;
    let diff = diff_of(zone, &edits);

    // 5. The nodes that changed, content or flags, encoded and stored (only once
    //    every node has encoded: the arena gets nodes of accepted transactions); the
    //    indexes are updated by `Prepared::write`.
    let mut removals = Vec::new();
    let mut writes = Vec::new();
    let mut blobs = Vec::new();
    for (owner, edit) in &edits {
        let flags = view.flags(&apex, owner, edit);
        let old_flags = edit.old.map(|r| zone.node_at(r).flags());
        match edit.old {
            Some(old) if !edit.exists => removals.push((owner.clone(), old)),
            _ if edit.exists && (edit.after != edit.before || old_flags != Some(flags)) => {
                let start = blobs.len();
                edit.after.encode(flags, &mut blobs)?;
                writes.push(Write {
                    owner: owner.clone(),
                    old: edit.old,
                    new: Ref(0),
                    len: blobs.len() - start,
                    nsec3: edit.after.rrset(Rtype::NSEC3).is_some(),
                    cut: flags & DELEGATION != 0,
                });
            }
            _ => {}
        }
    }
    let mut start = 0;
    for w in &mut writes {
        w.new = zone
            .arena
            .append(&blobs[start..start + w.len])
            .map_err(BuildError::from)?;
        start += w.len;
    }
    Ok(Prepared {
        diff,
        warnings,
        removals,
        writes,
    })
}

/// The edit of `owner` before any change: its node in `zone`, or nothing.
fn load(zone: &Zone, owner: &Name) -> Edit {
    match zone.find(owner.as_wire()) {
        Some(r) => {
            let data = zone.node_at(r).to_data();
            Edit {
                old: Some(r),
                before: data.clone(),
                after: data,
                exists: true,
            }
        }
        None => Edit {
            old: None,
            before: NodeData::empty(owner.clone()),
            after: NodeData::empty(owner.clone()),
            exists: false,
        },
    }
}

fn name_of(wire: &[u8]) -> Name {
    Name::from_wire(wire).unwrap_or_else(|_| Name::root())
}

/// Whether a name below `owner` remains in the new version.
fn has_descendant(
    zone: &Zone,
    edits: &HashMap<Vec<u8>, Edit>,
    gone: &HashSet<Vec<u8>>,
    owner: &[u8],
) -> bool {
    let below = |n: &[u8]| n.len() > owner.len() && name::is_subdomain(n, owner);
    let kept_old = zone.subtree(owner).skip(1).any(|n| {
        let o = n.owner();
        !gone.contains(o) && edits.get(o).is_none_or(|e| e.exists)
    });
    kept_old
        || edits
            .iter()
            .any(|(k, e)| e.exists && below(k) && !gone.contains(k))
}

/// Applies one change to an owner's node.
fn change_node(node: &mut NodeData, change: &Change, strict: bool) -> Result<(), TxnError> {
    let meta = |rtype: Rtype| {
        if rtype.is_meta() {
            Err(TxnError::MetaType {
                owner: node.owner.clone(),
                rtype,
            })
        } else {
            Ok(())
        }
    };
    match change {
        Change::Add(record) => {
            meta(record.rtype)?;
            let key = (record.rtype, covered_of(record.rtype, Some(&record.rdata)));
            match node.rrsets.iter_mut().find(|r| r.sort_key() == key) {
                Some(rrset) => {
                    rrset.ttl = record.ttl;
                    match rrset.rdatas.binary_search(&record.rdata) {
                        Ok(_) if strict => {
                            return Err(TxnError::AlreadyInZone {
                                owner: node.owner.clone(),
                                rtype: record.rtype,
                            });
                        }
                        Ok(_) => {}
                        Err(i) => rrset.rdatas.insert(i, record.rdata.clone()),
                    }
                }
                None => insert_rrset(
                    node,
                    RrsetData {
                        rtype: record.rtype,
                        ttl: record.ttl,
                        rdatas: vec![record.rdata.clone()],
                    },
                ),
            }
        }
        Change::Remove(record) => {
            let key = (record.rtype, covered_of(record.rtype, Some(&record.rdata)));
            let found = node
                .rrsets
                .iter()
                .position(|r| r.sort_key() == key)
                .and_then(|i| {
                    let at = node.rrsets[i].rdatas.binary_search(&record.rdata).ok()?;
                    Some((i, at))
                });
            match found {
                Some((i, at)) => {
                    node.rrsets[i].rdatas.remove(at);
                    if node.rrsets[i].rdatas.is_empty() {
                        node.rrsets.remove(i);
                    }
                }
                None if strict => {
                    return Err(TxnError::NotInZone {
                        owner: node.owner.clone(),
                        rtype: record.rtype,
                    });
                }
                None => {}
            }
        }
        Change::Replace {
            rtype, ttl, rdatas, ..
        } => {
            meta(*rtype)?;
            node.rrsets.retain(|r| r.rtype != *rtype);
            let mut groups: BTreeMap<Rtype, Vec<Box<[u8]>>> = BTreeMap::new();
            for rdata in rdatas {
                groups
                    .entry(covered_of(*rtype, Some(rdata)))
                    .or_default()
                    .push(rdata.clone());
            }
            for (_, mut rdatas) in groups {
                rdatas.sort_unstable();
                rdatas.dedup();
                insert_rrset(
                    node,
                    RrsetData {
                        rtype: *rtype,
                        ttl: *ttl,
                        rdatas,
                    },
                );
            }
        }
        Change::RemoveRrset { rtype, .. } => node.rrsets.retain(|r| r.rtype != *rtype),
        Change::RemoveName { .. } => node.rrsets.clear(),
    }
    Ok(())
}

fn insert_rrset(node: &mut NodeData, rrset: RrsetData) {
    let at = node
        .rrsets
        .partition_point(|r| r.sort_key() < rrset.sort_key());
    node.rrsets.insert(at, rrset);
}

/// The rules one node must keep whatever the rest of the zone holds.
fn check_node(apex: &Name, owner: &[u8], node: &NodeData) -> Result<(), TxnError> {
    let at_apex = owner == apex.as_wire();
    match node.rrset(Rtype::SOA) {
        Some(_) if !at_apex => {
            return Err(TxnError::SoaNotAtApex {
                owner: node.owner.clone(),
            });
        }
        Some(soa) if soa.rdatas.len() > 1 => return Err(TxnError::MultipleSoa(apex.clone())),
        Some(soa)
            if soa
                .rdatas
                .iter()
                .any(|r| super::snapshot::soa_fields(r).is_none()) =>
        {
            return Err(TxnError::BadSoa(apex.clone()));
        }
        None if at_apex => return Err(TxnError::NoSoa(apex.clone())),
        _ => {}
    }
    for rtype in [Rtype::CNAME, Rtype::DNAME] {
        if node.rrset(rtype).is_some_and(|r| r.rdatas.len() > 1) {
            return Err(TxnError::MultipleAlias {
                owner: node.owner.clone(),
                rtype,
            });
        }
    }
    if node.rrset(Rtype::CNAME).is_some() {
        if node.rrset(Rtype::DNAME).is_some() {
            return Err(TxnError::CnameAndDname {
                owner: node.owner.clone(),
            });
        }
        if let Some(other) = node
            .rrsets
            .iter()
            .find(|r| !matches!(r.rtype, Rtype::CNAME | Rtype::RRSIG | Rtype::NSEC))
        {
            return Err(TxnError::CnameAndOther {
                owner: node.owner.clone(),
                other: other.rtype,
            });
        }
    }
    Ok(())
}

/// The new version as the transaction sees it: edited nodes over the old version.
struct View<'a> {
    zone: &'a Zone,
    edits: &'a HashMap<Vec<u8>, Edit>,
}

impl View<'_> {
    /// Whether `owner` holds an RRset of `rtype` in the new version.
    fn has(&self, owner: &[u8], rtype: Rtype) -> bool {
        match self.edits.get(owner) {
            Some(edit) => edit.exists && edit.after.rrset(rtype).is_some(),
            None => self
                .zone
                .node(owner)
                .is_some_and(|n| n.rrset(rtype).is_some()),
        }
    }

    /// The NS targets of `owner` in the new version.
    fn ns_targets(&self, owner: &[u8]) -> Vec<Vec<u8>> {
        let mut buf = [0u8; name::MAX_NAME_LEN];
        let lower =
            |r: &[u8], buf: &mut [u8; name::MAX_NAME_LEN]| name::lowercase_into(r, buf).to_vec();
        match self.edits.get(owner) {
            Some(edit) if edit.exists => edit
                .after
                .rrset(Rtype::NS)
                .map(|r| r.rdatas.iter().map(|t| lower(t, &mut buf)).collect())
                .unwrap_or_default(),
            Some(_) => Vec::new(),
            None => self
                .zone
                .node(owner)
                .and_then(|n| n.rrset(Rtype::NS))
                .map(|r| r.rdatas().map(|t| lower(t, &mut buf)).collect())
                .unwrap_or_default(),
        }
    }

    /// The highest delegation point strictly above `owner` (below the apex).
    fn cut_above(&self, apex: &Name, owner: &[u8]) -> Option<Vec<u8>> {
        let mut cut = None;
        for at in name::label_offsets(owner).skip(1) {
            let ancestor = &owner[at..];
            if ancestor.len() <= apex.as_wire().len() {
                break;
            }
            if self.has(ancestor, Rtype::NS) {
                cut = Some(ancestor.to_vec());
            }
        }
        cut
    }

    /// The flags of an edited node in the new version.
    fn flags(&self, apex: &Name, owner: &[u8], edit: &Edit) -> u8 {
        if owner == apex.as_wire() {
            return APEX;
        }
        let mut flags = 0;
        if edit.after.rrset(Rtype::NS).is_some() {
            flags |= DELEGATION;
        }
        if self.cut_above(apex, owner).is_some() {
            flags |= BELOW_CUT;
        }
        flags
    }

    /// The NS RRsets that lead somewhere (the apex's, and those of delegations that
    /// are not below another), in the new version: their owners.
    fn ns_owners(&self, apex: &Name) -> Vec<Vec<u8>> {
        let mut owners: Vec<Vec<u8>> = vec![apex.as_wire().to_vec()];
        owners.extend(
            self.zone
                .delegations()
                .map(|n| n.owner().to_vec())
                .filter(|o| !self.edits.contains_key(o)),
        );
        owners.extend(
            self.edits
                .iter()
                .filter(|(o, e)| {
                    e.exists && e.after.rrset(Rtype::NS).is_some() && o.len() > apex.as_wire().len()
                })
                .map(|(o, _)| o.clone()),
        );
        owners.retain(|o| o.len() == apex.as_wire().len() || self.cut_above(apex, o).is_none());
        owners
    }

    /// Whether the new version meets what `need` asks of `target`.
    fn address_met(&self, apex: &Name, need: AddressNeed, target: &[u8]) -> bool {
        let at = |t: &[u8]| self.has(t, Rtype::A) || self.has(t, Rtype::AAAA);
        match need {
            AddressNeed::Nothing => true,
            AddressNeed::Glue => at(target),
            AddressNeed::Authoritative => {
                if at(target) {
                    return true;
                }
                if self.exists(target) {
                    return false;
                }
                // From a wildcard at the closest encloser (RFC 4592 §4.1).
                let Some(encloser) = name::label_offsets(target)
                    .skip(1)
                    .map(|i| &target[i..])
                    .take_while(|a| a.len() >= apex.as_wire().len())
                    .find(|a| self.exists(a))
                else {
                    return false;
                };
                let mut wild = vec![1, b'*'];
                wild.extend_from_slice(encloser);
                at(&wild)
            }
        }
    }

    /// Whether `owner` is a node of the new version.
    fn exists(&self, owner: &[u8]) -> bool {
        match self.edits.get(owner) {
            Some(edit) => edit.exists,
            None => self.zone.node(owner).is_some(),
        }
    }

    /// RFC 9471 (`zone::glue`): every NS target needs what the rule says — glue at a
    /// target inside its delegation, an address in the zone's own data for a target
    /// there. Checked for every NS RRset that changed, and for every NS RRset that names
    /// a name that lost its addresses.
    fn check_glue(&self, apex: &Name) -> Result<(), TxnError> {
        let apex_wire = apex.as_wire();
        let lost: HashSet<&[u8]> = self
            .edits
            .iter()
            .filter(|(o, e)| {
                (e.before.rrset(Rtype::A).is_some() || e.before.rrset(Rtype::AAAA).is_some())
                    && !(self.has(o, Rtype::A) || self.has(o, Rtype::AAAA))
            })
            .map(|(o, _)| o.as_slice())
            .collect();
        let ns_changed = |o: &[u8]| {
            self.edits
                .get(o)
                .is_some_and(|e| e.after.rrset(Rtype::NS) != e.before.rrset(Rtype::NS))
        };
        let owners = if lost.is_empty() {
            self.edits
                .keys()
                .filter(|o| ns_changed(o))
                .filter(|o| o.len() == apex_wire.len() || self.cut_above(apex, o).is_none())
                .cloned()
                .collect()
        } else {
            self.ns_owners(apex)
        };
        for owner in owners {
            let changed = ns_changed(&owner);
            for target in self.ns_targets(&owner) {
                if !changed && !lost.contains(target.as_slice()) {
                    continue;
                }
                let target_cut = self.cut_above(apex, &target).or_else(|| {
                    (target.len() > apex_wire.len() && self.has(&target, Rtype::NS))
                        .then(|| target.clone())
                });
                let need = address_need(apex_wire, &owner, &target, target_cut.as_deref());
                if !self.address_met(apex, need, &target) {
                    return Err(TxnError::MissingGlue {
                        cut: name_of(&owner),
                        target: name_of(&target),
                    });
                }
            }
        }
        Ok(())
    }

    /// Warnings for data of a changed node that no query reaches.
    fn occlusion(&self, apex: &Name, owner: &[u8], node: &NodeData) -> Vec<TxnWarning> {
        let Some(cut) = self.cut_above(apex, owner) else {
            return Vec::new();
        };
        let glue = self.ns_targets(&cut).iter().any(|t| t == owner);
        node.rrsets
            .iter()
            .filter(|r| !(glue && matches!(r.rtype, Rtype::A | Rtype::AAAA)))
            .map(|r| TxnWarning::OccludedByDelegation {
                owner: node.owner.clone(),
                rtype: r.rtype,
                cut: name_of(&cut),
            })
            .collect()
    }
}

/// The records the edits remove and add, the SOA first in each list.
fn diff_of(zone: &Zone, edits: &HashMap<Vec<u8>, Edit>) -> ZoneDiff {
    let mut removed = Vec::new();
    let mut added = Vec::new();
    let mut owners: Vec<&Vec<u8>> = edits.keys().collect();
    owners.sort_by(|a, b| canonical::compare(a, b));
    for owner in owners {
        let edit = &edits[owner];
        let after = if edit.exists {
            &edit.after.rrsets[..]
        } else {
            &[][..]
        };
        rrset_diff(
            &edit.before,
            &edit.before.rrsets,
            after,
            &mut removed,
            &mut added,
        );
    }
    let soa_first = |list: &mut Vec<Record>| {
        if let Some(i) = list.iter().position(|r| r.rtype == Rtype::SOA) {
            let soa = list.remove(i);
            list.insert(0, soa);
        }
    };
    soa_first(&mut removed);
    soa_first(&mut added);
    let serial_of = |list: &[Record]| {
        list.first()
            .filter(|r| r.rtype == Rtype::SOA)
            .and_then(|r| super::snapshot::soa_fields(&r.rdata))
            .map(|f| f[0])
    };
    let old_serial = zone.serial().unwrap_or(0);
    ZoneDiff {
        old_serial,
        new_serial: serial_of(&added).unwrap_or(old_serial),
        removed,
        added,
    }
}

/// Records of `before` not in `after` (removed) and the other way round (added); an
/// RRset whose TTL changed is removed and added whole, as IXFR carries it.
fn rrset_diff(
    node: &NodeData,
    before: &[RrsetData],
    after: &[RrsetData],
    removed: &mut Vec<Record>,
    added: &mut Vec<Record>,
) {
    let record = |rrset: &RrsetData, rdata: &[u8]| Record {
        owner: node.owner.clone(),
        rtype: rrset.rtype,
        ttl: rrset.ttl,
        rdata: rdata.into(),
    };
    for old in before {
        let new = after.iter().find(|r| r.sort_key() == old.sort_key());
        for rdata in &old.rdatas {
            let kept =
                new.is_some_and(|n| n.ttl == old.ttl && n.rdatas.binary_search(rdata).is_ok());
            if !kept {
                removed.push(record(old, rdata));
            }
        }
    }
    for new in after {
        let old = before.iter().find(|r| r.sort_key() == new.sort_key());
        for rdata in &new.rdatas {
            let kept =
                old.is_some_and(|o| o.ttl == new.ttl && o.rdatas.binary_search(rdata).is_ok());
            if !kept {
                added.push(record(new, rdata));
            }
        }
    }
}

//------------ Zone: the writes of a transaction -------------------------------

impl Zone {
    /// Links a node that [`prepare`] stored into the indexes (replacing its old ref,
    /// if any).
    fn link_node(&mut self, w: &Write) {
        let (owner, old, new, nsec3, cut) = (&w.owner[..], w.old, w.new, w.nsec3, w.cut);
        let h = super::index::hash(owner);
        let mut editor = self.names.edit();
        match old {
            Some(old) => {
                editor.replace(h, old, new);
            }
            None => editor.insert_new(h, new),
        }
        let labels = Labels::of(owner);
        let arena = &self.arena;
        let cmp = |r: Ref| canonical::compare_labels(owner, &labels, name_in(arena, r)).reverse();
        match old {
            Some(_) => {
                self.order.replace(new, cmp);
            }
            None => {
                self.order.insert(new, cmp);
            }
        }
        let by_hash = |r: Ref| first_label(name_in(arena, r)).cmp(first_label(owner));
        let had = old.is_some_and(|o| self.node_at(o).rrset(Rtype::NSEC3).is_some());
        match (had, nsec3) {
            (true, true) => {
                self.nsec3.replace(new, by_hash);
            }
            (true, false) => {
                self.nsec3.remove(by_hash);
            }
            (false, true) => {
                self.nsec3.insert(new, by_hash);
            }
            (false, false) => {}
        }
        let was_cut = old.is_some_and(|o| self.node_at(o).is_delegation());
        let by_name =
            |r: Ref| canonical::compare_labels(owner, &labels, name_in(arena, r)).reverse();
        match (was_cut, cut) {
            (true, true) => {
                self.cuts.replace(new, by_name);
            }
            (true, false) => {
                self.cuts.remove(by_name);
            }
            (false, true) => {
                self.cuts.insert(new, by_name);
            }
            (false, false) => {}
        }
        if let Some(old) = old {
            self.live_bytes -= self.node_at(old).stored_len();
        }
        self.live_bytes += w.len.next_multiple_of(4);
        if owner == self.apex.as_wire() {
            self.apex_ref = new;
        }
    }

    /// Removes the node `owner` (at `old`).
    fn remove_node(&mut self, owner: &[u8], old: Ref) {
        let h = super::index::hash(owner);
        let mut editor = self.names.edit();
        editor.remove(h, old);
        let labels = Labels::of(owner);
        let arena = &self.arena;
        self.order
            .remove(|r| canonical::compare_labels(owner, &labels, name_in(arena, r)).reverse());
        if self.node_at(old).rrset(Rtype::NSEC3).is_some() {
            self.nsec3
                .remove(|r| first_label(name_in(arena, r)).cmp(first_label(owner)));
        }
        if self.node_at(old).is_delegation() {
            self.cuts
                .remove(|r| canonical::compare_labels(owner, &labels, name_in(arena, r)).reverse());
        }
        self.live_bytes -= self.node_at(old).stored_len();
    }
}

fn first_label(wire: &[u8]) -> &[u8] {
    let len = wire.first().map_or(0, |&l| l as usize);
    wire.get(1..1 + len).unwrap_or(&[])
}

#[cfg(test)]
#[path = "txn_tests.rs"]
mod tests;
