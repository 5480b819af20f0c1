//! A version signed whole: the first version of a signed zone, and any version after a
//! key or policy change. Every DNSSEC record the version holds (but the apex's key
//! RRsets, set first) is dropped and made again: each RRset's signatures, the whole
//! NSEC or NSEC3 chain and its signatures.
//!
//! # Memory
//! The signed version is written node by node, in canonical order, straight into its
//! arena (`zone::ordered`): the nodes of the version given are walked in order, the
//! NSEC3 owners (children of the apex) merged in among them, and each node's blob is
//! made whole (data, signatures, NSEC) and copied once. No record of the signed zone is
//! ever held as an owned `Record`: at a million names that costs several times the
//! signed zone. The work goes to the machine's cores in batches of nodes; each core
//! hands its batches back in order through a channel of two, so what is in flight is
//! a few batches, not the zone.

use std::num::NonZeroUsize;
use std::sync::mpsc::{Receiver, sync_channel};

use super::{Context, SignError, apex_changes, denial_ttl, params, signable};
use crate::dnssec::nsec::{is_data, nsec_types};
use crate::dnssec::nsec3::{Hash, full_chain, hashed_owner, is_leftover, is_nsec3_node};
use crate::dnssec::rdata::nsec_rdata;
use crate::dnssec::sign::{Scratch, sign_with_all};
use crate::wire::name::{self, Name};
use crate::zone::node::{NodeData, RrsetData};
use crate::zone::ordered::{OrderError, OrderedBuilder};
use crate::zone::txn::{self, Change, Transaction};
use crate::zone::{NodeRef, Rtype, Zone};

/// Nodes per batch handed to a core.
const BATCH: usize = 512;
/// An item of the work: a node of the version (its index), or, with this bit set, an
/// NSEC3 owner (its index in the chain).
const HASHED: u32 = 1 << 31;
/// No next node in the NSEC chain: the apex is next.
const TO_APEX: u32 = u32::MAX;

/// Signs `zone` whole (see the module documentation).
pub fn sign_full(zone: &Zone, ctx: Context<'_>) -> Result<Zone, SignError> {
    if ctx.keys.zsks.is_empty() || ctx.keys.ksks.is_empty() {
        return Err(SignError::NoKeys);
    }
    let mut step1 = Transaction::new();
    apex_changes(zone, ctx, params(ctx.policy), &mut step1);
    // Leftovers (signatures of data that went) would hide an empty non-terminal.
    for node in zone.nodes().filter(is_leftover) {
        step1.push(Change::RemoveName {
            owner: node.owner_name(),
        });
    }
    let zone = if step1.is_empty() {
        zone.clone()
    } else {
        txn::apply(zone, &step1)?.zone
    };
    let apex = zone.apex().as_wire().to_vec();
    let nodes: Vec<NodeRef<'_>> = zone.nodes().filter(|n| !is_nsec3_node(n)).collect();
    let ttl = denial_ttl(&zone);
    if nodes.len() >= HASHED as usize {
        return Err(SignError::Build(crate::zone::BuildError::TooLarge(
            crate::zone::arena::ArenaFull,
        )));
    }

    // NSEC: for each node in the chain, the index of the next one.
    let next: Vec<u32> = match params(ctx.policy) {
        Some(_) => Vec::new(),
        None => {
            let mut out = vec![TO_APEX; nodes.len()];
            let mut after = TO_APEX;
            for i in (0..nodes.len()).rev() {
                out[i] = after;
                if nsec_types(&nodes[i]).is_some() {
                    after = i as u32;
                }
            }
            out
        }
    };
    let chain3 = match params(ctx.policy) {
        Some(p) => full_chain(&zone, p),
        None => Vec::new(),
    };
    let items = merge(&nodes, &chain3, apex.len())?;

    let threads = std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .clamp(1, 16);
    let batches = items.len().div_ceil(BATCH);
    // Reserved, not held: the signed version's arena is written in one chunk.
    let capacity = zone.live_bytes() + nodes.len() * 384 + chain3.len() * 320 + (1 << 20);
    let mut builder = OrderedBuilder::new(zone.apex(), capacity, items.len());
    let work = Work {
        nodes: &nodes,
        next: &next,
        chain3: &chain3,
        items: &items,
        apex: &apex,
        ttl,
        ctx,
    };
    std::thread::scope(|scope| -> Result<(), SignError> {
        let mut receivers: Vec<Receiver<Result<Batch, SignError>>> = Vec::new();
        for t in 0..threads {
            let (tx, rx) = sync_channel(2);
            receivers.push(rx);
            let work = &work;
            scope.spawn(move || {
                let mut scratch = Scratch::default();
                for b in (t..batches).step_by(threads) {
                    if tx.send(work.batch(b, &mut scratch)).is_err() {
                        return;
                    }
                }
            });
        }
        for b in 0..batches {
            let batch = receivers[b % threads]
                .recv()
                .map_err(|_| SignError::Store("a signing thread stopped".into()))??;
            let mut at = 0;
            for &len in &batch.lens {
                builder.push(&batch.blobs[at..at + len as usize])?;
                at += len as usize;
            }
        }
        Ok(())
    })?;
    drop(items);
    drop(nodes);
    Ok(builder.finish()?)
}

/// The nodes' and the NSEC3 owners' items in canonical order: an NSEC3 owner is a
/// child of the apex, placed before the first node whose label below the apex sorts
/// after its own (RFC 4034 §6.1).
fn merge(
    nodes: &[NodeRef<'_>],
    chain3: &[(Hash, Vec<u8>)],
    apex_len: usize,
) -> Result<Vec<u32>, SignError> {
    let mut items = Vec::with_capacity(nodes.len() + chain3.len());
    let mut h = 0;
    for (i, node) in nodes.iter().enumerate() {
        let owner = node.owner();
        if owner.len() > apex_len {
            let top = top_label(owner, apex_len);
            while let Some((hash, _)) = chain3.get(h) {
                let label = crate::dnssec::rdata::base32hex(hash);
                match label[..].cmp(top) {
                    std::cmp::Ordering::Less => {
                        items.push(h as u32 | HASHED);
                        h += 1;
                    }
                    std::cmp::Ordering::Equal => {
                        return Err(OrderError::Order(node.owner_name()).into());
                    }
                    std::cmp::Ordering::Greater => break,
                }
            }
        }
        items.push(i as u32);
    }
    items.extend((h..chain3.len()).map(|h| h as u32 | HASHED));
    Ok(items)
}

/// The label of `owner` just below the apex (whose wire form is `apex_len` long).
fn top_label(owner: &[u8], apex_len: usize) -> &[u8] {
    let relative = &owner[..owner.len() - apex_len];
    let at = name::label_offsets(relative).last().unwrap_or(0);
    let len = usize::from(relative.get(at).copied().unwrap_or(0));
    relative.get(at + 1..at + 1 + len).unwrap_or(&[])
}

/// What every core reads.
struct Work<'a, 'z> {
    nodes: &'a [NodeRef<'z>],
    next: &'a [u32],
    chain3: &'a [(Hash, Vec<u8>)],
    items: &'a [u32],
    apex: &'a [u8],
    ttl: u32,
    ctx: Context<'a>,
}

/// A batch of node blobs, one after the other, and their lengths.
struct Batch {
    blobs: Vec<u8>,
    lens: Vec<u32>,
}

impl Work<'_, '_> {
    /// The blobs of batch `b`.
    fn batch(&self, b: usize, scratch: &mut Scratch) -> Result<Batch, SignError> {
        let items = &self.items[b * BATCH..((b + 1) * BATCH).min(self.items.len())];
        let mut out = Batch {
            blobs: Vec::with_capacity(items.len() * 320),
            lens: Vec::with_capacity(items.len()),
        };
        let mut data = NodeData::empty(Name::root());
        for &item in items {
            let start = out.blobs.len();
            data.rrsets.clear();
            if item & HASHED != 0 {
                let (hash, rdata) = &self.chain3[(item & !HASHED) as usize];
                let owner = hashed_owner(hash, self.apex);
                data.owner = Name::from_wire(&owner).map_err(|_| SignError::OwnerTooLong)?;
                self.push_signed(
                    &owner,
                    Rtype::NSEC3,
                    self.ttl,
                    &[&rdata[..]],
                    &mut data,
                    scratch,
                )?;
                data.encode(0, &mut out.blobs)
                    .map_err(crate::zone::BuildError::from)?;
            } else {
                let i = item as usize;
                let node = &self.nodes[i];
                data.owner = node.owner_name();
                self.node(i, node, &mut data, scratch)?;
                data.encode(node.flags(), &mut out.blobs)
                    .map_err(crate::zone::BuildError::from)?;
            }
            out.lens.push((out.blobs.len() - start) as u32);
        }
        Ok(out)
    }

    /// A node's data, its signatures, and its NSEC with signatures, into `data`.
    fn node(
        &self,
        i: usize,
        node: &NodeRef<'_>,
        data: &mut NodeData,
        scratch: &mut Scratch,
    ) -> Result<(), SignError> {
        let mut rdatas: Vec<&[u8]> = Vec::new();
        for rrset in node.rrsets().filter(|r| is_data(r.rtype)) {
            rdatas.clear();
            rdatas.extend(rrset.rdatas());
            if signable(node, rrset.rtype) {
                self.push_signed(node.owner(), rrset.rtype, rrset.ttl, &rdatas, data, scratch)?;
            } else {
                push_rrset(data, rrset.rtype, rrset.ttl, &rdatas);
            }
        }
        if let Some(&after) = self.next.get(i)
            && let Some(types) = nsec_types(node)
        {
            let next = match after {
                TO_APEX => self.apex,
                n => self.nodes[n as usize].owner(),
            };
            let rdata = nsec_rdata(next, &types);
            self.push_signed(
                node.owner(),
                Rtype::NSEC,
                self.ttl,
                &[&rdata[..]],
                data,
                scratch,
            )?;
        }
        data.rrsets.sort_by_key(RrsetData::sort_key);
        Ok(())
    }

    /// An RRset and its signatures, into `data`.
    fn push_signed(
        &self,
        owner: &[u8],
        rtype: Rtype,
        ttl: u32,
        rdatas: &[&[u8]],
        data: &mut NodeData,
        scratch: &mut Scratch,
    ) -> Result<(), SignError> {
        let ctx = self.ctx;
        let mut sigs = sign_with_all(
            owner,
            rtype,
            ttl,
            || rdatas.iter().copied(),
            self.apex,
            ctx.keys,
            ctx.policy,
            ctx.now,
            scratch,
        )?;
        push_rrset(data, rtype, ttl, rdatas);
        if !sigs.is_empty() {
            sigs.sort_unstable();
            sigs.dedup();
            data.rrsets.push(RrsetData {
                rtype: Rtype::RRSIG,
                ttl,
                rdatas: sigs,
            });
        }
        data.rrsets.sort_by_key(RrsetData::sort_key);
        Ok(())
    }
}

/// An RRset (RDATAs sorted, as the version gives them or as made) into `data`.
fn push_rrset(data: &mut NodeData, rtype: Rtype, ttl: u32, rdatas: &[&[u8]]) {
    let mut rdatas: Vec<Box<[u8]>> = rdatas.iter().map(|&r| r.into()).collect();
    rdatas.sort_unstable();
    rdatas.dedup();
    data.rrsets.push(RrsetData { rtype, ttl, rdatas });
}
