//! A version signed whole: the first version of a signed zone, and any version after a
//! key or policy change. Every DNSSEC record the version holds (but the apex's key
//! RRsets, set first) is dropped and made again: each RRset's signatures, the whole
//! NSEC or NSEC3 chain and its signatures. The work is split across the machine's
//! cores by ranges of names; the records are then built into a version at once
//! (`Zone::build`), which costs less than a transaction of that size.

use std::num::NonZeroUsize;

use super::{Context, SignError, apex_changes, denial_ttl, params, signable};
use crate::dnssec::nsec::{is_data, nsec_types};
use crate::dnssec::nsec3::{full_chain, hashed_owner, is_leftover, is_nsec3_node};
use crate::dnssec::rdata::nsec_rdata;
use crate::dnssec::sign::{Scratch, sign_with_all};
use crate::wire::name::Name;
use crate::zone::txn::{self, Change, Transaction};
use crate::zone::{NodeRef, Record, Rtype, Zone};

/// Signs `zone` whole (see the module documentation).
pub fn sign_full(zone: &Zone, ctx: Context<'_>) -> Result<Zone, SignError> {
    if ctx.keys.zsks.is_empty() || ctx.keys.ksks.is_empty() {
        return Err(SignError::NoKeys);
    }
    let mut step1 = Transaction::new();
    apex_changes(zone, ctx, &mut step1);
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

    // The NSEC of each node: its types, and the next name in the chain.
    let nsecs: Vec<Option<Vec<u8>>> = match params(ctx.policy) {
        Some(_) => Vec::new(),
        None => {
            let types: Vec<Option<Vec<u16>>> = nodes.iter().map(nsec_types).collect();
            let mut out = vec![None; nodes.len()];
            let mut next: &[u8] = &apex;
            for i in (0..nodes.len()).rev() {
                if let Some(t) = &types[i] {
                    out[i] = Some(nsec_rdata(next, t));
                    next = nodes[i].owner();
                }
            }
            out
        }
    };
    let chain3 = match params(ctx.policy) {
        Some(p) => full_chain(&zone, p),
        None => Vec::new(),
    };

    let threads = std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .clamp(1, 16);
    let per_node = nodes.len().div_ceil(threads).max(1);
    let per_hash = chain3.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Record>, SignError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let nodes = nodes
                    .get(t * per_node..((t + 1) * per_node).min(nodes.len()))
                    .unwrap_or(&[]);
                let nsecs = nsecs
                    .get(t * per_node..((t + 1) * per_node).min(nsecs.len()))
                    .unwrap_or(&[]);
                let chain3 = chain3
                    .get(t * per_hash..((t + 1) * per_hash).min(chain3.len()))
                    .unwrap_or(&[]);
                let apex = &apex;
                scope.spawn(move || {
                    let mut out = Vec::with_capacity(nodes.len() * 4 + chain3.len() * 2);
                    let mut scratch = Scratch::default();
                    for (i, node) in nodes.iter().enumerate() {
                        sign_node(
                            node,
                            nsecs.get(i).and_then(Option::as_deref),
                            apex,
                            ttl,
                            ctx,
                            &mut scratch,
                            &mut out,
                        )?;
                    }
                    for (hash, rdata) in chain3 {
                        let owner = hashed_owner(hash, apex);
                        let name = Name::from_wire(&owner).map_err(|_| SignError::OwnerTooLong)?;
                        let sigs = sign_with_all(
                            &owner,
                            Rtype::NSEC3,
                            ttl,
                            || std::iter::once(&rdata[..]),
                            apex,
                            ctx.keys,
                            ctx.policy,
                            ctx.now,
                            &mut scratch,
                        )?;
                        push_signed(
                            &mut out,
                            &name,
                            Rtype::NSEC3,
                            ttl,
                            std::iter::once(&rdata[..]),
                            sigs,
                        );
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(SignError::NoKeys)))
            .collect()
    });
    let mut records = Vec::new();
    for part in results {
        let part = part?;
        if records.is_empty() {
            records = part;
        } else {
            records.extend(part);
        }
    }
    drop(nodes);
    Ok(Zone::build(zone.apex(), records)?)
}

/// Appends a node's data, its signatures, and its NSEC (`nsec`) with signatures.
fn sign_node(
    node: &NodeRef<'_>,
    nsec: Option<&[u8]>,
    apex: &[u8],
    ttl: u32,
    ctx: Context<'_>,
    scratch: &mut Scratch,
    out: &mut Vec<Record>,
) -> Result<(), SignError> {
    if node.is_empty() {
        return Ok(());
    }
    let name = node.owner_name();
    for rrset in node.rrsets().filter(|r| is_data(r.rtype)) {
        let sigs = if signable(node, rrset.rtype) {
            sign_with_all(
                node.owner(),
                rrset.rtype,
                rrset.ttl,
                || rrset.rdatas(),
                apex,
                ctx.keys,
                ctx.policy,
                ctx.now,
                scratch,
            )?
        } else {
            Vec::new()
        };
        push_signed(out, &name, rrset.rtype, rrset.ttl, rrset.rdatas(), sigs);
    }
    if let Some(rdata) = nsec {
        let sigs = sign_with_all(
            node.owner(),
            Rtype::NSEC,
            ttl,
            || std::iter::once(rdata),
            apex,
            ctx.keys,
            ctx.policy,
            ctx.now,
            scratch,
        )?;
        push_signed(out, &name, Rtype::NSEC, ttl, std::iter::once(rdata), sigs);
    }
    Ok(())
}

/// Appends an RRset's records and its signatures.
fn push_signed<'a>(
    out: &mut Vec<Record>,
    owner: &Name,
    rtype: Rtype,
    ttl: u32,
    rdatas: impl Iterator<Item = &'a [u8]>,
    sigs: Vec<Box<[u8]>>,
) {
    for rdata in rdatas {
        out.push(Record {
            owner: owner.clone(),
            rtype,
            ttl,
            rdata: rdata.into(),
        });
    }
    for rdata in sigs {
        out.push(Record {
            owner: owner.clone(),
            rtype: Rtype::RRSIG,
            ttl,
            rdata,
        });
    }
}
