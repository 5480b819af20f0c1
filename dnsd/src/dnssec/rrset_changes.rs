//! The transaction steps every signing path shares (`signer`, `resign`, `rechain`):
//! an RRset signed again in place, a one-record NSEC or NSEC3 RRset written with its
//! signatures, an RRset removed with its signatures. Each appends to a transaction
//! that the caller applies; the old signatures always go in the same transaction as
//! the new ones come, so no version holds an RRset without its signatures.

use super::sign::{Scratch, sign_with_all};
use super::signer::{Context, SignError};
use crate::wire::name::Name;
use crate::zone::txn::{Change, Transaction};
use crate::zone::{NodeRef, Record, Rtype};

/// Appends the changes that replace the signatures over (`node`, `rtype`) — none when
/// `node` is None (a name new to the zone) — by `new`, of TTL `ttl`.
pub(super) fn replace_sigs(
    node: Option<&NodeRef<'_>>,
    owner: &Name,
    rtype: Rtype,
    ttl: u32,
    new: Vec<Box<[u8]>>,
    txn: &mut Transaction,
) {
    if let Some(node) = node {
        remove_sigs(node, owner, rtype, txn);
    }
    for rdata in new {
        txn.push(Change::Add(Record {
            owner: owner.clone(),
            rtype: Rtype::RRSIG,
            ttl,
            rdata,
        }));
    }
}

/// Appends the changes that remove the signatures over (`node`, `rtype`).
pub(super) fn remove_sigs(node: &NodeRef<'_>, owner: &Name, rtype: Rtype, txn: &mut Transaction) {
    if let Some(old) = node.rrsig(rtype) {
        for rdata in old.rdatas() {
            txn.push(Change::Remove(Record {
                owner: owner.clone(),
                rtype: Rtype::RRSIG,
                ttl: old.ttl,
                rdata: rdata.into(),
            }));
        }
    }
}

/// Appends the changes that sign `node`'s RRset of `rtype` (its RDATAs `rdatas`, TTL
/// `ttl`) again with `ctx`'s keys, the old signatures removed; the signatures made.
#[allow(clippy::too_many_arguments)]
pub(super) fn resign_rrset<'a, F, I>(
    node: &NodeRef<'a>,
    owner: &Name,
    rtype: Rtype,
    ttl: u32,
    rdatas: F,
    apex: &[u8],
    ctx: Context<'_>,
    scratch: &mut Scratch,
    txn: &mut Transaction,
) -> Result<usize, SignError>
where
    F: Fn() -> I,
    I: Iterator<Item = &'a [u8]>,
{
    let new = sign_with_all(
        node.owner(),
        rtype,
        ttl,
        rdatas,
        apex,
        ctx.keys,
        ctx.policy,
        ctx.now,
        scratch,
    )?;
    let made = new.len();
    replace_sigs(Some(node), owner, rtype, ttl, new, txn);
    Ok(made)
}

/// A one-record RRset of the denial of existence (NSEC, NSEC3) to write.
pub(super) struct DenialRecord<'r> {
    /// The owner, lowercased wire form.
    pub wire: &'r [u8],
    /// The owner's name.
    pub name: &'r Name,
    /// NSEC or NSEC3.
    pub rtype: Rtype,
    /// The TTL (`signer::denial_ttl`).
    pub ttl: u32,
    /// The record's RDATA.
    pub rdata: Vec<u8>,
}

/// Appends the changes that make `record` its owner's whole RRset of its type, signed
/// by `ctx`'s keys, the old signatures (those of `node`, when given) removed; the
/// signatures made.
pub(super) fn push_signed(
    record: DenialRecord<'_>,
    node: Option<&NodeRef<'_>>,
    apex: &[u8],
    ctx: Context<'_>,
    scratch: &mut Scratch,
    txn: &mut Transaction,
) -> Result<usize, SignError> {
    let DenialRecord {
        wire,
        name,
        rtype,
        ttl,
        rdata,
    } = record;
    let sigs = sign_with_all(
        wire,
        rtype,
        ttl,
        || std::iter::once(&rdata[..]),
        apex,
        ctx.keys,
        ctx.policy,
        ctx.now,
        scratch,
    )?;
    let made = sigs.len();
    txn.push(Change::Replace {
        owner: name.clone(),
        rtype,
        ttl,
        rdatas: vec![rdata.into()],
    });
    replace_sigs(node, name, rtype, ttl, sigs, txn);
    Ok(made)
}

/// Appends the changes that remove `node`'s RRset of `rtype` and its signatures.
pub(super) fn push_removed(node: &NodeRef<'_>, owner: &Name, rtype: Rtype, txn: &mut Transaction) {
    txn.push(Change::RemoveRrset {
        owner: owner.clone(),
        rtype,
    });
    remove_sigs(node, owner, rtype, txn);
}
