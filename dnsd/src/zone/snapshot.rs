//! A version of a zone: immutable, and sharing every node it did not change with the
//! version it came from.
//!
//! # Design
//! A zone of a million names must load fast, stay small, answer without allocating,
//! and take a one-record change in time and memory proportional to the change. So a
//! version is three shared structures over node blobs kept in an [`Arena`]:
//!
//! - the nodes themselves (`node`): owner name, RRsets, RDATA ready to be copied into
//!   a response, and flags computed when the node is written (apex, delegation point,
//!   below a zone cut); every owner name and every empty non-terminal (RFC 4592
//!   §2.2.2) is a node;
//! - `names` ([`NameIndex`]): exact lookup of a lowercased owner name, one hash probe;
//! - `order` ([`OrderIndex`]): the nodes in DNS canonical order (RFC 4034 §6.1), for
//!   AXFR, NSEC chains, predecessor queries and subtrees; `cuts`, the delegation
//!   points (what a change to a name server's address must be checked against); and
//!   `nsec3`, the nodes
//!   holding an NSEC3 RRset in hash order.
//!
//! A version is never changed once published: [`Zone::build`] loads one from records,
//! and a transaction (`zone::txn`) derives the next from it, appending the nodes it
//! rewrites to the same arena and copying only the index paths that lead to them.

use std::sync::Arc;

use super::arena::{Arena, ArenaFull, ChunkedWriter, Ref};
use super::canonical::{self, Labels};
use super::index::{self, NameIndex};
use super::node::{self, APEX, BELOW_CUT, DELEGATION, EncodeError, covered_of};
pub use super::node::{NodeRef, RrsetRef};
use super::order::{Cursor, OrderIndex};
use super::record::{Record, Rtype};
use crate::wire::name::{self, Name};

/// Why a set of records does not make a zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// No SOA record at the apex.
    #[error("no SOA record at the zone apex {0}")]
    NoSoa(Name),
    /// More than one SOA record at the apex.
    #[error("more than one SOA record at the zone apex {0}")]
    MultipleSoa(Name),
    /// A SOA record whose RDATA is not a valid SOA.
    #[error("malformed SOA RDATA at {0}")]
    BadSoa(Name),
    /// A record whose owner is not at or below the apex.
    #[error("{owner} is outside the zone {apex}")]
    OutOfZone {
        /// The offending owner name.
        owner: Name,
        /// The zone's apex.
        apex: Name,
    },
    /// A node that does not fit a blob (an RRset of more than 65535 records).
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The zone does not fit the store's 32-bit references.
    #[error("zone too large: {0}")]
    TooLarge(#[from] ArenaFull),
}

/// An immutable version of a zone (see the module documentation).
#[derive(Clone)]
pub struct Zone {
    pub(super) apex: Name,
    pub(super) arena: Arc<Arena>,
    pub(super) names: NameIndex,
    pub(super) order: OrderIndex,
    pub(super) nsec3: OrderIndex,
    pub(super) cuts: OrderIndex,
    pub(super) apex_ref: Ref,
    pub(super) record_count: usize,
    /// Bytes of the nodes this version refers to (the arena may hold more: garbage).
    pub(super) live_bytes: usize,
    /// A secondary zone past its expire time: answered SERVFAIL (RFC 1034 §4.3.5).
    pub(super) expired: bool,
}

/// The node refs a builder collected, each list in canonical order but `nsec3`
/// (sorted by hash in [`Zone::assemble`]).
pub(super) struct Orders {
    pub(super) refs: Vec<Ref>,
    pub(super) nsec3: Vec<Ref>,
    pub(super) cuts: Vec<Ref>,
}

/// One owner's records in the sorted input of a build.
struct Group {
    start: usize,
    end: usize,
}

impl Zone {
    /// Builds a zone from records. Owner names may be in any case; duplicate records are
    /// merged (RFC 2181 §5); an RRset takes the TTL of its first record (RRSIGs: one
    /// RRset per type covered). The apex must hold exactly one SOA and every owner must
    /// be at or below `apex`. Semantic checks with file and line (CNAME beside other
    /// data, missing glue, ...) are `zone::check`'s business, before this.
    pub fn build(apex: &Name, mut records: Vec<Record>) -> Result<Zone, BuildError> {
        let apex = apex.to_lowercase();
        for record in &mut records {
            if !record.owner.is_subdomain_of(&apex) {
                return Err(BuildError::OutOfZone {
                    owner: record.owner.clone(),
                    apex,
                });
            }
            // Sources that lowercase owners already (the zone-file loader) cost no copy.
            if record.owner.as_wire().iter().any(u8::is_ascii_uppercase) {
                record.owner = record.owner.to_lowercase();
            }
        }
        // Stable: the first record of an RRset in source order gives its TTL.
        records.sort_by(|a, b| {
            (
                a.owner.as_wire(),
                a.rtype,
                covered_of(a.rtype, Some(&a.rdata[..])),
            )
                .cmp(&(
                    b.owner.as_wire(),
                    b.rtype,
                    covered_of(b.rtype, Some(&b.rdata[..])),
                ))
        });
        let mut soa_rdatas: Vec<&[u8]> = records
            .iter()
            .filter(|r| r.rtype == Rtype::SOA && r.owner == apex)
            .map(|r| &r.rdata[..])
            .collect();
        soa_rdatas.sort_unstable();
        soa_rdatas.dedup();
        match soa_rdatas.len() {
            0 => return Err(BuildError::NoSoa(apex)),
            1 => {}
            _ => return Err(BuildError::MultipleSoa(apex)),
        }

        // One group per owner, visited in canonical order by their sort keys.
        let mut groups = Vec::new();
        let mut i = 0;
        while i < records.len() {
            let end = records[i..]
                .iter()
                .position(|r| r.owner != records[i].owner)
                .map_or(records.len(), |n| i + n);
            groups.push(Group { start: i, end });
            i = end;
        }
        let apex_len = apex.as_wire().len();
        let order = canonical_order(&groups, &records, apex_len);

        // An upper bound, so that the first chunk is allocated once: growing it by
        // doubling would copy it and, at a million names, leave up to twice the memory
        // committed. Empty non-terminals are counted at a name's full length.
        let bound: usize = records.iter().map(|r| 2 + r.rdata.len() + 3).sum::<usize>()
            + groups
                .iter()
                .map(|g| 2 * (node::NODE_HEADER + records[g.start].owner.as_wire().len()) + 3)
                .sum::<usize>()
            + groups.len() * 2 * node::RRSET_ENTRY
            + 64;
        let mut build = Bulk::new(ChunkedWriter::with_capacity(bound), groups.len(), apex_len);
        for &g in &order {
            let group = &groups[g];
            build.owner(
                records[group.start].owner.as_wire(),
                &records[group.start..group.end],
            )?;
        }
        drop(records);
        build.finish(apex)
    }

    /// The last step of every builder (`build`, `zone::ordered`): the NSEC3 index put in
    /// hash order, the version made of its arena and indexes, its SOA checked.
    pub(super) fn assemble(
        apex: Name,
        writer: ChunkedWriter,
        names: NameIndex,
        mut orders: Orders,
        (apex_ref, record_count, live_bytes): (Ref, usize, usize),
    ) -> Result<Zone, BuildError> {
        orders.nsec3.sort_by(|&a, &b| {
            first_label(NodeRef::new(writer.get(a)).owner())
                .cmp(first_label(NodeRef::new(writer.get(b)).owner()))
        });
        let zone = Zone {
            apex: apex.clone(),
            arena: Arc::new(writer.finish()?),
            names,
            order: OrderIndex::from_sorted(&orders.refs),
            nsec3: OrderIndex::from_sorted(&orders.nsec3),
            cuts: OrderIndex::from_sorted(&orders.cuts),
            apex_ref,
            record_count,
            live_bytes,
            expired: false,
        };
        if zone.serial().is_none() {
            return Err(BuildError::BadSoa(apex));
        }
        Ok(zone)
    }

    pub(super) fn node_at(&self, r: Ref) -> NodeRef<'_> {
        // SAFETY: every ref of a version points at a whole blob appended before the
        // version was made; the header and entries are read first, then the blob.
        unsafe {
            let header: [u8; 4] = self.arena.bytes(r, 4).try_into().unwrap_or([0; 4]);
            let head = self.arena.bytes(r, node::head_len(header));
            let len = node::blob_len(head).unwrap_or(head.len());
            NodeRef::new(self.arena.bytes(r, len))
        }
    }

    fn name_at(&self, r: Ref) -> &[u8] {
        // SAFETY: as in `node_at`; the name follows the 4-octet header.
        unsafe {
            let header = self.arena.bytes(r, 4);
            let len = node::NODE_HEADER + header[1] as usize;
            &self.arena.bytes(r, len)[node::NODE_HEADER..]
        }
    }

    /// The ref of the node whose owner is `lower`.
    pub(crate) fn find(&self, lower: &[u8]) -> Option<Ref> {
        self.names
            .find(index::hash(lower), lower, |r| self.name_at(r))
    }

    /// The hash the exact-match index files `lower` under, for [`Zone::prefetch`] and
    /// [`Zone::node_hashed`].
    pub fn owner_hash(lower: &[u8]) -> u64 {
        index::hash(lower)
    }

    /// Starts fetching the index slot of an owner whose hash is `h` (see
    /// [`Zone::owner_hash`]), for a lookup made a little later: a bulk reader of
    /// owners (a zone file matched against this version) overlaps the memory latency
    /// of one lookup with the work on the previous owner.
    #[inline]
    pub fn prefetch(&self, h: u64) {
        self.names.prefetch(h);
    }

    /// Starts fetching the node an owner whose hash is `h` most likely has, once its
    /// index slot is in cache (after [`Zone::prefetch`]): the second step of a batch's
    /// prefetch, so the lookup that follows finds both in cache.
    #[inline]
    pub fn prefetch_node(&self, h: u64) {
        if let Some(r) = self.names.candidate(h) {
            self.arena.prefetch(r);
        }
    }

    /// [`Zone::node`] for an owner whose hash `h` is known.
    #[inline]
    pub fn node_hashed(&self, h: u64, lower: &[u8]) -> Option<NodeRef<'_>> {
        self.names
            .find(h, lower, |r| self.name_at(r))
            .map(|r| self.node_at(r))
    }

    /// The apex, lowercased.
    pub fn apex(&self) -> &Name {
        &self.apex
    }

    /// The node whose owner is `lower`, a lowercased wire-format name.
    #[inline]
    pub fn node(&self, lower: &[u8]) -> Option<NodeRef<'_>> {
        self.find(lower).map(|r| self.node_at(r))
    }

    /// The apex node.
    pub fn apex_node(&self) -> NodeRef<'_> {
        self.node_at(self.apex_ref)
    }

    /// The apex SOA RRset.
    pub fn soa(&self) -> Option<RrsetRef<'_>> {
        self.apex_node().rrset(Rtype::SOA)
    }

    /// The SOA RDATA's fixed fields after MNAME and RNAME (serial, refresh, retry,
    /// expire, minimum).
    fn soa_fields(&self) -> Option<[u32; 5]> {
        let rdata = self.soa()?.rdatas().next()?;
        soa_fields(rdata)
    }

    /// The SOA serial.
    pub fn serial(&self) -> Option<u32> {
        self.soa_fields().map(|f| f[0])
    }

    /// The SOA MINIMUM field (negative-caching TTL, RFC 2308 §4).
    pub fn soa_minimum(&self) -> Option<u32> {
        self.soa_fields().map(|f| f[4])
    }

    /// Replaces the SOA serial: this version becomes one that differs from the old
    /// only there (for a version not yet published, e.g. by the serial policy).
    pub fn set_serial(&mut self, serial: u32) {
        let apex = self.apex_node();
        let mut data = apex.to_data();
        let flags = apex.flags();
        let Some(soa) = data.rrsets.iter_mut().find(|r| r.rtype == Rtype::SOA) else {
            return;
        };
        let Some(rdata) = soa.rdatas.first_mut() else {
            return;
        };
        let Some(names) = soa_names_len(rdata) else {
            return;
        };
        rdata[names..names + 4].copy_from_slice(&serial.to_be_bytes());
        let mut blob = Vec::new();
        if data.encode(flags, &mut blob).is_err() {
            return;
        }
        let Ok(new) = self.arena.append(&blob) else {
            return;
        };
        let old = self.apex_ref;
        let h = index::hash(self.apex.as_wire());
        let mut editor = self.names.edit();
        editor.replace(h, old, new);
        let apex = self.apex.as_wire().to_vec();
        let labels = Labels::of(&apex);
        let arena = self.arena.clone();
        let order_cmp =
            move |r: Ref| canonical::compare_labels(&apex, &labels, name_in(&arena, r)).reverse();
        self.order.replace(new, order_cmp);
        self.apex_ref = new;
    }

    /// The same version, marked expired: every query gets SERVFAIL (a secondary zone
    /// whose primaries stayed unreachable past the SOA's expire, RFC 1034 §4.3.5).
    pub fn expired_copy(&self) -> Zone {
        Zone {
            expired: true,
            ..self.clone()
        }
    }

    /// Whether this version is served as expired.
    pub fn is_expired(&self) -> bool {
        self.expired
    }

    /// Every node, empty non-terminals included, in canonical order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeRef<'_>> {
        self.order.iter().map(move |r| self.node_at(r))
    }

    /// The nodes from `lower` on (the first at or after it), in canonical order.
    pub fn nodes_from(&self, lower: &[u8]) -> impl Iterator<Item = NodeRef<'_>> {
        self.seek(lower).map(move |r| self.node_at(r))
    }

    /// `lower` and the nodes below it, in canonical order.
    pub fn subtree<'z>(&'z self, lower: &'z [u8]) -> impl Iterator<Item = NodeRef<'z>> + 'z {
        self.nodes_from(lower)
            .take_while(move |n| name::is_subdomain(n.owner(), lower))
    }

    /// The node before `lower` in canonical order (whether or not `lower` is a node):
    /// what an NSEC record covering `lower` is owned by.
    pub fn predecessor(&self, lower: &[u8]) -> Option<NodeRef<'_>> {
        let labels = Labels::of(lower);
        self.order
            .before(|r| canonical::compare_labels(lower, &labels, self.name_at(r)).reverse())
            .map(|r| self.node_at(r))
    }

    /// The first node after `lower` in canonical order.
    pub fn successor(&self, lower: &[u8]) -> Option<NodeRef<'_>> {
        let mut cursor = self.seek(lower);
        match cursor.peek() {
            Some(r) if self.name_at(r) == lower => {
                cursor.next();
                cursor.peek()
            }
            other => other,
        }
        .map(|r| self.node_at(r))
    }

    fn seek(&self, lower: &[u8]) -> Cursor<'_> {
        let labels = Labels::of(lower);
        self.order
            .seek(|r| canonical::compare_labels(lower, &labels, self.name_at(r)).reverse())
    }

    /// The nodes holding an NSEC3 RRset, in hash order (RFC 5155 §7.2).
    pub fn nsec3_nodes(&self) -> impl Iterator<Item = NodeRef<'_>> {
        self.nsec3.iter().map(move |r| self.node_at(r))
    }

    /// The NSEC3 node whose hash (first label, base32hex) is the greatest not above
    /// `hash_label`: the one that matches or covers that hash. None if every NSEC3
    /// owner sorts above it (the last one then covers it, RFC 5155 §7.2.1).
    pub fn nsec3_covering(&self, hash_label: &[u8]) -> Option<NodeRef<'_>> {
        let mut cursor = self
            .nsec3
            .seek(|r| first_label(self.name_at(r)).cmp(hash_label));
        match cursor.peek() {
            Some(r) if first_label(self.name_at(r)) == hash_label => Some(r),
            _ => cursor.prev(),
        }
        .map(|r| self.node_at(r))
    }

    /// The NSEC3 nodes from the one [`Zone::nsec3_covering`] gives back to the first,
    /// in reverse hash order: while NSEC3 parameters change, a zone holds two chains,
    /// and the nearest record of one is found by passing over the other's.
    pub fn nsec3_nodes_down_from(&self, hash_label: &[u8]) -> impl Iterator<Item = NodeRef<'_>> {
        let mut cursor = self
            .nsec3
            .seek(|r| first_label(self.name_at(r)).cmp(hash_label));
        let mut at = cursor
            .peek()
            .filter(|&r| first_label(self.name_at(r)) == hash_label);
        std::iter::from_fn(move || at.take().or_else(|| cursor.prev()))
            .map(move |r| self.node_at(r))
    }

    /// The NSEC3 nodes whose hash label is not below `hash_label`, in hash order.
    pub fn nsec3_nodes_from(&self, hash_label: &[u8]) -> impl Iterator<Item = NodeRef<'_>> {
        self.nsec3
            .seek(|r| first_label(self.name_at(r)).cmp(hash_label))
            .map(move |r| self.node_at(r))
    }

    /// The last NSEC3 node in hash order: it covers the hashes below the first
    /// (RFC 5155 §7.2.1, the chain wraps).
    pub fn nsec3_last(&self) -> Option<NodeRef<'_>> {
        self.nsec3
            .before(|_| std::cmp::Ordering::Less)
            .map(|r| self.node_at(r))
    }

    /// The delegation points (NS records below the apex, occluded ones included), in
    /// canonical order.
    pub fn delegations(&self) -> impl Iterator<Item = NodeRef<'_>> {
        self.cuts.iter().map(move |r| self.node_at(r))
    }

    /// Every record of the zone (owners lowercased), in canonical order.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.nodes().flat_map(|node| node.records())
    }

    /// Number of nodes (owner names and empty non-terminals).
    pub fn node_count(&self) -> usize {
        self.names.len()
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.record_count
    }

    /// Where the chunks of the arena holding this version's nodes lie: (address,
    /// length); every node blob of the version is inside one (`marks` uses them).
    pub fn arena_spans(&self) -> Vec<(usize, usize)> {
        self.arena.spans()
    }

    /// Bytes of node blobs this version refers to.
    pub fn live_bytes(&self) -> usize {
        self.live_bytes
    }

    /// Bytes of the arena this version's nodes do not use: older versions' nodes, or
    /// garbage once those are gone. Compaction pays when it passes `live_bytes`.
    pub fn garbage_bytes(&self) -> usize {
        self.arena.used().saturating_sub(self.live_bytes)
    }

    /// Whether this version's arena holds more octets of nodes that earlier versions
    /// left behind than of its own, and enough of them to matter (4 MiB): then a copy
    /// into an arena of its own (`ordered::compact`) frees at least half. Checked after
    /// each commit, this keeps a zone's arena under twice its live size plus the floor
    /// however many transactions it takes — a re-sign of every RRSIG, a steady flow of
    /// updates — at the price of one copy per live size's worth of rewrites.
    pub fn compaction_due(&self) -> bool {
        const FLOOR: usize = 4 << 20;
        let garbage = self.garbage_bytes();
        garbage > FLOOR && garbage > self.live_bytes
    }

    /// Memory of this version's indexes (shared parts counted in full).
    pub fn index_bytes(&self) -> usize {
        self.names.heap_bytes()
            + self.order.heap_bytes()
            + self.nsec3.heap_bytes()
            + self.cuts.heap_bytes()
    }
}

/// The name in the node blob at `r` (a free function: the transaction code borrows
/// the arena alone).
pub(crate) fn name_in(arena: &Arena, r: Ref) -> &[u8] {
    // SAFETY: `r` comes from a version over this arena.
    unsafe {
        let header = arena.bytes(r, 4);
        let len = node::NODE_HEADER + header[1] as usize;
        &arena.bytes(r, len)[node::NODE_HEADER..]
    }
}

/// The state of a bulk build.
/// A version written node by node, owners in canonical order (`Zone::build` after
/// its sort, `zone::stream` as records arrive).
pub(super) struct Bulk {
    written: Written,
    /// A node's record indexes, RRset by RRset (`node`'s scratch).
    order: Vec<usize>,
    /// A node's RRsets: type, TTL, and their indexes' span in `order`.
    runs: Vec<(Rtype, u32, usize, usize)>,
    blob: Vec<u8>,
    /// The nodes on the path from the apex to the last one written, with their flags.
    stack: Vec<(Vec<u8>, u8)>,
    apex_len: usize,
}

/// The nodes a builder wrote to a new arena, in canonical order, and what the version's
/// indexes need of them: shared by the builders that write nodes in order (`Bulk`,
/// `zone::ordered`).
pub(super) struct Written {
    writer: ChunkedWriter,
    refs: Vec<Ref>,
    hashes: Vec<u64>,
    nsec3: Vec<Ref>,
    cuts: Vec<Ref>,
    apex_ref: Option<Ref>,
    record_count: usize,
    live_bytes: usize,
}

impl Written {
    /// Nodes to be written to `writer`, about `nodes` of them.
    pub(super) fn new(writer: ChunkedWriter, nodes: usize) -> Self {
        Self {
            writer,
            refs: Vec::with_capacity(nodes),
            hashes: Vec::with_capacity(nodes),
            nsec3: Vec::new(),
            cuts: Vec::new(),
            apex_ref: None,
            record_count: 0,
            live_bytes: 0,
        }
    }

    /// Writes the node `blob` of `owner` (after every node written before, in canonical
    /// order), with its `flags`, whether it holds NSEC3 and its number of `records`.
    pub(super) fn push(
        &mut self,
        owner: &[u8],
        blob: &[u8],
        flags: u8,
        nsec3: bool,
        records: usize,
    ) -> Result<(), BuildError> {
        let r = self.writer.next_ref(blob.len())?;
        self.writer.write(blob);
        self.live_bytes += blob.len().next_multiple_of(4);
        self.record_count += records;
        self.refs.push(r);
        self.hashes.push(index::hash(owner));
        if flags & APEX != 0 {
            self.apex_ref = Some(r);
        }
        if flags & DELEGATION != 0 {
            self.cuts.push(r);
        }
        if nsec3 {
            self.nsec3.push(r);
        }
        Ok(())
    }

    /// Whether no node was written.
    pub(super) fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    /// The nodes written so far, in canonical order.
    pub(super) fn nodes(&self) -> impl Iterator<Item = NodeRef<'_>> {
        self.refs.iter().map(|&r| NodeRef::new(self.writer.get(r)))
    }

    /// The version of every node written.
    pub(super) fn finish(self, apex: Name) -> Result<Zone, BuildError> {
        let Written {
            writer,
            refs,
            hashes,
            nsec3,
            cuts,
            apex_ref,
            record_count,
            live_bytes,
        } = self;
        let apex_ref = apex_ref.ok_or_else(|| BuildError::NoSoa(apex.clone()))?;
        let names = NameIndex::build(hashes.iter().copied().zip(refs.iter().copied()));
        drop(hashes);
        Zone::assemble(
            apex,
            writer,
            names,
            Orders { refs, nsec3, cuts },
            (apex_ref, record_count, live_bytes),
        )
    }
}

impl Bulk {
    /// A version of the zone whose apex is `apex_len` octets long, written to
    /// `writer`, of about `nodes` nodes.
    pub(super) fn new(writer: ChunkedWriter, nodes: usize, apex_len: usize) -> Self {
        Self {
            written: Written::new(writer, nodes),
            order: Vec::new(),
            runs: Vec::new(),
            blob: Vec::new(),
            stack: Vec::new(),
            apex_len,
        }
    }

    /// Writes the node `owner` (lowercased, at or below the apex, after every owner
    /// written before in canonical order) holding `records` (its records, sorted by
    /// type and type covered), after the empty non-terminals above it not written yet.
    pub(super) fn owner(&mut self, owner: &[u8], records: &[Record]) -> Result<(), BuildError> {
        let apex_len = self.apex_len;
        // Canonical order visits ancestors before descendants (a pre-order walk of the
        // name tree), so a stack of the nodes on the path from the apex gives each name
        // its missing ancestors (empty non-terminals, written here in order) and the
        // cut above it.
        while self
            .stack
            .last()
            .is_some_and(|(a, _)| !name::is_subdomain(owner, a) || a.len() == owner.len())
        {
            self.stack.pop();
        }
        if owner.len() > apex_len {
            let known = self.stack.last().map_or(0, |(a, _)| a.len());
            let missing: Vec<usize> = name::label_offsets(owner)
                .skip(1)
                .filter(|&at| owner.len() - at > known.max(apex_len - 1))
                .collect();
            for &at in missing.iter().rev() {
                let ent = &owner[at..];
                let flags = child_flags(&self.stack, ent.len() == apex_len, false);
                self.node(ent, flags, &[])?;
                self.stack.push((ent.to_vec(), flags));
            }
        }
        let at_apex = owner.len() == apex_len;
        let has_ns = records.iter().any(|r| r.rtype == Rtype::NS);
        let flags = child_flags(&self.stack, at_apex, has_ns);
        self.node(owner, flags, records)?;
        self.stack.push((owner.to_vec(), flags));
        Ok(())
    }

    /// The nodes written so far, in canonical order.
    pub(super) fn nodes(&self) -> impl Iterator<Item = NodeRef<'_>> {
        self.written.nodes()
    }

    /// The version of every node written.
    pub(super) fn finish(self, apex: Name) -> Result<Zone, BuildError> {
        self.written.finish(apex)
    }

    /// Writes the node `owner` with `flags` and the records `rrsets` (sorted by
    /// type and type covered, one owner). Each RRset's RDATAs are sorted and
    /// deduplicated as indexes into `records` and encoded from there: no record is
    /// copied on the way.
    fn node(&mut self, owner: &[u8], flags: u8, records: &[Record]) -> Result<(), BuildError> {
        let order = &mut self.order;
        order.clear();
        order.extend(0..records.len());
        // (type, TTL, start, end) of each RRset's indexes in `order`.
        let runs = &mut self.runs;
        runs.clear();
        let mut records_kept = 0;
        let mut i = 0;
        while i < records.len() {
            let key = (
                records[i].rtype,
                covered_of(records[i].rtype, Some(&records[i].rdata[..])),
            );
            let run = records[i..]
                .iter()
                .take_while(|r| (r.rtype, covered_of(r.rtype, Some(&r.rdata[..]))) == key)
                .count();
            let slice = &mut order[i..i + run];
            if run > 1 {
                slice.sort_unstable_by(|&a, &b| records[a].rdata.cmp(&records[b].rdata));
            }
            // Duplicates (RFC 2181 §5) moved to the end of the run and left out.
            let mut kept = 1;
            for k in 1..run {
                if records[slice[k]].rdata != records[slice[kept - 1]].rdata {
                    slice.swap(kept, k);
                    kept += 1;
                }
            }
            records_kept += kept;
            runs.push((key.0, records[i].ttl, i, i + kept));
            i += run;
        }
        self.blob.clear();
        node::encode_parts(
            owner,
            flags,
            runs.iter().map(|&(rtype, ttl, start, end)| {
                (
                    rtype,
                    ttl,
                    order[start..end].iter().map(|&k| &records[k].rdata[..]),
                )
            }),
            &mut self.blob,
        )?;
        let has_nsec3 = runs.iter().any(|r| r.0 == Rtype::NSEC3);
        self.written
            .push(owner, &self.blob, flags, has_nsec3, records_kept)
    }
}

/// The flags of a node whose parent is the top of `stack` (the nodes on the path from
/// the apex).
fn child_flags(stack: &[(Vec<u8>, u8)], at_apex: bool, has_ns: bool) -> u8 {
    if at_apex {
        return APEX;
    }
    let mut flags = if has_ns { DELEGATION } else { 0 };
    if stack
        .last()
        .is_some_and(|&(_, parent)| parent & (DELEGATION | BELOW_CUT) != 0)
    {
        flags |= BELOW_CUT;
    }
    flags
}

/// The groups' indexes in the canonical order of their owners.
fn canonical_order(groups: &[Group], records: &[Record], apex_len: usize) -> Vec<usize> {
    let mut keys = Vec::new();
    // (first 8 key octets, key start, key end, group): most comparisons end on the
    // prefix, as names below one apex differ early in their keys.
    let mut spans: Vec<(u64, u32, u32, u32)> = Vec::with_capacity(groups.len());
    for (g, group) in groups.iter().enumerate() {
        let start = keys.len();
        canonical::sort_key(records[group.start].owner.as_wire(), apex_len, &mut keys);
        let key = &keys[start..];
        let mut prefix = [0u8; 8];
        let n = key.len().min(8);
        prefix[..n].copy_from_slice(&key[..n]);
        spans.push((
            u64::from_be_bytes(prefix),
            start as u32,
            keys.len() as u32,
            g as u32,
        ));
    }
    spans.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| keys[a.1 as usize..a.2 as usize].cmp(&keys[b.1 as usize..b.2 as usize]))
    });
    spans.into_iter().map(|s| s.3 as usize).collect()
}

/// The first label of a wire name, without its length octet.
fn first_label(wire: &[u8]) -> &[u8] {
    let len = wire.first().map_or(0, |&l| l as usize);
    wire.get(1..1 + len).unwrap_or(&[])
}

/// Length of MNAME + RNAME at the start of SOA RDATA, if the RDATA is a valid SOA.
pub(crate) fn soa_names_len(rdata: &[u8]) -> Option<usize> {
    let mname = name::wire_len(rdata)?;
    let rname = name::wire_len(&rdata[mname..])?;
    (rdata.len() >= mname + rname + 20).then_some(mname + rname)
}

/// A SOA RDATA with its serial left out: two SOAs that differ only in serial give the
/// same.
pub(crate) fn soa_without_serial(rdata: &[u8]) -> Option<Vec<u8>> {
    let names = soa_names_len(rdata)?;
    let mut without = rdata[..names].to_vec();
    without.extend_from_slice(&rdata[names + 4..]);
    Some(without)
}

/// The five 32-bit fields of SOA RDATA.
pub(crate) fn soa_fields(rdata: &[u8]) -> Option<[u32; 5]> {
    let at = soa_names_len(rdata)?;
    let mut fields = [0u32; 5];
    for (i, field) in fields.iter_mut().enumerate() {
        let b = rdata.get(at + 4 * i..at + 4 * i + 4)?;
        *field = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    }
    Some(fields)
}
#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Name {
        Name::from_text(text, None).unwrap()
    }

    fn soa_rdata(serial: u32) -> Box<[u8]> {
        let mut rdata = n("ns1.example.org.").as_wire().to_vec();
        rdata.extend_from_slice(n("hostmaster.example.org.").as_wire());
        for v in [serial, 3600, 900, 604800, 300] {
            rdata.extend_from_slice(&v.to_be_bytes());
        }
        rdata.into()
    }

    fn rec(owner: &str, rtype: Rtype, ttl: u32, rdata: &[u8]) -> Record {
        Record {
            owner: n(owner),
            rtype,
            ttl,
            rdata: rdata.into(),
        }
    }

    fn example() -> Zone {
        let apex = n("Example.org.");
        let records = vec![
            Record {
                owner: apex.clone(),
                rtype: Rtype::SOA,
                ttl: 3600,
                rdata: soa_rdata(7),
            },
            rec(
                "example.org.",
                Rtype::NS,
                3600,
                n("ns1.example.org.").as_wire(),
            ),
            rec("ns1.example.org.", Rtype::A, 300, &[198, 51, 100, 1]),
            rec("WWW.example.org.", Rtype::A, 300, &[198, 51, 100, 2]),
            rec("www.example.org.", Rtype::A, 600, &[198, 51, 100, 3]),
            rec("www.example.org.", Rtype::A, 300, &[198, 51, 100, 2]),
            rec("a.b.c.example.org.", Rtype::TXT, 300, b"\x02hi"),
            rec(
                "sub.example.org.",
                Rtype::NS,
                300,
                n("ns.sub.example.org.").as_wire(),
            ),
            rec("ns.sub.example.org.", Rtype::A, 300, &[198, 51, 100, 9]),
        ];
        Zone::build(&apex, records).unwrap()
    }

    #[test]
    fn builds_nodes_rrsets_and_empty_non_terminals() {
        let zone = example();
        assert_eq!(zone.apex(), &n("example.org."));
        assert_eq!(zone.serial(), Some(7));
        assert_eq!(zone.soa_minimum(), Some(300));
        let www = zone.node(n("www.example.org.").as_wire()).unwrap();
        let a = www.rrset(Rtype::A).unwrap();
        assert_eq!(a.len(), 2, "duplicates merged");
        assert_eq!(a.ttl, 300, "the first record in source order gives the TTL");
        assert_eq!(
            a.rdatas().collect::<Vec<_>>(),
            vec![&[198, 51, 100, 2][..], &[198, 51, 100, 3][..]]
        );
        assert_eq!(&a.wire()[..2], &[0, 4]);
        for ent in ["b.c.example.org.", "c.example.org."] {
            let node = zone.node(n(ent).as_wire()).unwrap();
            assert!(node.is_empty(), "{ent} is an empty non-terminal");
        }
        assert!(zone.node(n("d.example.org.").as_wire()).is_none());
        assert_eq!(zone.record_count(), 8);
        assert_eq!(zone.records().count(), 8);
    }

    #[test]
    fn flags_apex_delegations_and_glue() {
        let zone = example();
        assert!(zone.apex_node().is_apex());
        assert!(
            !zone.apex_node().is_delegation(),
            "apex NS is no delegation"
        );
        let sub = zone.node(n("sub.example.org.").as_wire()).unwrap();
        assert!(sub.is_delegation() && !sub.is_below_cut());
        let glue = zone.node(n("ns.sub.example.org.").as_wire()).unwrap();
        assert!(glue.is_below_cut() && !glue.is_delegation());
        let www = zone.node(n("www.example.org.").as_wire()).unwrap();
        assert!(!www.is_below_cut() && !www.is_delegation() && !www.is_apex());
    }

    #[test]
    fn set_serial_rewrites_the_soa() {
        let mut zone = example();
        zone.set_serial(2026112201);
        assert_eq!(zone.serial(), Some(2026112201));
        assert_eq!(zone.soa_minimum(), Some(300));
    }

    #[test]
    fn rejects_zones_without_one_soa_or_with_outside_names() {
        let apex = n("example.org.");
        let ns = rec("example.org.", Rtype::NS, 1, n("ns.example.org.").as_wire());
        assert_eq!(
            Zone::build(&apex, vec![ns.clone()]).err(),
            Some(BuildError::NoSoa(apex.clone()))
        );
        let soa = Record {
            owner: apex.clone(),
            rtype: Rtype::SOA,
            ttl: 1,
            rdata: soa_rdata(1),
        };
        let soa2 = Record {
            rdata: soa_rdata(2),
            ..soa.clone()
        };
        assert_eq!(
            Zone::build(&apex, vec![soa.clone(), soa2]).err(),
            Some(BuildError::MultipleSoa(apex.clone()))
        );
        let outside = rec("example.com.", Rtype::A, 1, &[1, 2, 3, 4]);
        assert!(matches!(
            Zone::build(&apex, vec![soa.clone(), outside]),
            Err(BuildError::OutOfZone { .. })
        ));
        let bad_soa = Record {
            rdata: Box::new([0, 0, 1]),
            ..soa
        };
        assert_eq!(
            Zone::build(&apex, vec![bad_soa]).err(),
            Some(BuildError::BadSoa(apex))
        );
    }
}
