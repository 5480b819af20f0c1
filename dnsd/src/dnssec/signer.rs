//! The zone signer, a pure function of (version, diff, policy, keys, time): a version
//! signed whole ([`sign_full`]), the changes that sign what a diff changed
//! ([`sign_diff`]), and the signatures due for refresh ([`refresh`]).
//!
//! # Incremental signing
//! Two steps, each a transaction applied to the version before it:
//! 1. the apex's DNSKEY, CDS, CDNSKEY and NSEC3PARAM RRsets as the key set and policy
//!    say, and the DNSSEC leftovers of names whose data went;
//! 2. new signatures for every RRset the diff (or step 1) changed, signatures removed
//!    where an RRset went or fell below a new zone cut, and the NSEC or NSEC3 chain
//!    repaired around the names that changed (`nsec`, `nsec3`), its records signed.
//!
//! A version whose signatures were made by other keys, or whose chain is of another
//! kind than the policy's, is signed whole instead: a key or policy change.
//!
//! # Which RRsets are signed (RFC 4035 §2.2)
//! Every RRset at or below the apex and above any zone cut, except RRSIGs; at a
//! delegation point only DS and NSEC. The DNSKEY, CDS and CDNSKEY RRsets at the apex
//! are signed by the key-signing keys, everything else by the zone-signing keys.

use std::collections::HashSet;

use super::keys::KeyError;
use super::nsec::{is_data, nsec_changes};
use super::nsec3::{self, Params, hashed_owner, is_leftover, nsec3_changes, with_ancestors};
use super::policy::{Denial, Policy};
use super::rdata::{RrsigFields, nsec3param_rdata};
use super::rrset_changes::{DenialRecord, push_removed, push_signed, remove_sigs, resign_rrset};
use super::sign::{KeySet, Scratch};
use crate::wire::name::Name;
use crate::zone::diff::ZoneDiff;
use crate::zone::snapshot::BuildError;
use crate::zone::txn::{self, Change, Transaction, TxnError};
use crate::zone::{NodeRef, Rtype, Zone};

/// Why a version could not be signed; the caller keeps the last signed version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// A key failed to sign.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The signing changes did not apply.
    #[error(transparent)]
    Txn(#[from] TxnError),
    /// The signed zone did not build.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The signed version did not build from its nodes in order.
    #[error("the signed version did not build: {0}")]
    Ordered(#[from] crate::zone::ordered::OrderError),
    /// No key to sign with.
    #[error("no active signing key")]
    NoKeys,
    /// The key store could not be read or written (a key the timeline needs).
    #[error("{0}")]
    Store(String),
    /// The apex is too long for NSEC3 owner names under it.
    #[error("the apex is too long for NSEC3 owner names (a 32-octet label under it)")]
    OwnerTooLong,
}

/// A signed version and the changes signing made to the version it was given.
pub struct Signed {
    /// The signed version.
    pub zone: Zone,
    /// What signing changed.
    pub diff: ZoneDiff,
}

/// What signing needs besides the zone.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// The keys of the moment.
    pub keys: &'a KeySet,
    /// The time, seconds since the epoch.
    pub now: u64,
}

/// The TTL of NSEC and NSEC3 records: the lesser of the SOA's TTL and MINIMUM (RFC
/// 9077 §3.1.1).
pub fn denial_ttl(zone: &Zone) -> u32 {
    let soa_ttl = zone.soa().map_or(3600, |s| s.ttl);
    zone.soa_minimum().map_or(soa_ttl, |m| m.min(soa_ttl))
}

/// The TTL of the DNSKEY, CDS and CDNSKEY RRsets.
pub fn dnskey_ttl(zone: &Zone, policy: &Policy) -> u32 {
    policy
        .dnskey_ttl
        .unwrap_or_else(|| zone.soa().map_or(3600, |s| s.ttl))
}

/// Whether an RRset of `rtype` at `node` gets signatures (RFC 4035 §2.2).
pub fn signable(node: &NodeRef<'_>, rtype: Rtype) -> bool {
    if node.is_below_cut() || !is_data(rtype) && rtype != Rtype::NSEC && rtype != Rtype::NSEC3 {
        return false;
    }
    !node.is_delegation() || matches!(rtype, Rtype::DS | Rtype::NSEC)
}

/// The NSEC3 parameters of a policy, if it asks for NSEC3.
pub(super) fn params(policy: &Policy) -> Option<Params<'static>> {
    match policy.denial {
        Denial::Nsec => None,
        Denial::Nsec3 {
            iterations,
            opt_out,
        } => Some(Params {
            salt: &[],
            iterations,
            opt_out,
            opt_out_flag: opt_out,
        }),
    }
}

/// Whether the signatures of `rrsig` (an RRSIG RRset's RDATAs) are exactly those
/// the key set makes over `rtype`.
fn signed_by_current(
    keys: &KeySet,
    rtype: Rtype,
    at_apex: bool,
    rdatas: impl Iterator<Item = impl AsRef<[u8]>>,
) -> bool {
    let mut count = 0;
    for rdata in rdatas {
        let Some(f) = RrsigFields::parse(rdata.as_ref()) else {
            return false;
        };
        if !keys.signs_with(rtype, at_apex, f.key_tag, f.algorithm) {
            return false;
        }
        count += 1;
    }
    count == keys.signers_of(rtype, at_apex).len()
}

/// Whether `zone`'s SOA is signed by exactly the key set's zone-signing keys: the zone
/// is signed already, with the keys of the moment.
pub fn signed_by_keys(zone: &Zone, ctx: Context<'_>) -> bool {
    zone.apex_node()
        .rrsig(Rtype::SOA)
        .is_some_and(|s| signed_by_current(ctx.keys, Rtype::SOA, true, s.rdatas()))
}

/// Whether `zone` must be signed whole rather than around a diff: it is not signed
/// by the key set's zone-signing keys, or its chain is not the policy's.
pub fn needs_full(zone: &Zone, ctx: Context<'_>) -> bool {
    let apex = zone.apex_node();
    let Some(soa_sigs) = apex.rrsig(Rtype::SOA) else {
        return true;
    };
    if !signed_by_current(ctx.keys, Rtype::SOA, true, soa_sigs.rdatas()) {
        return true;
    }
    !chain_matches(zone, ctx.policy)
}

/// Whether `zone`'s denial of existence is the kind `policy` asks for: NSEC, or NSEC3
/// with the policy's parameters and opt-out flag.
pub fn chain_matches(zone: &Zone, policy: &Policy) -> bool {
    let apex = zone.apex_node();
    !match params(policy) {
        None => apex.rrset(Rtype::NSEC).is_none() || apex.rrset(Rtype::NSEC3PARAM).is_some(),
        Some(p) => {
            let param = nsec3param_rdata(0, p.iterations, p.salt);
            let same_param = apex
                .rrset(Rtype::NSEC3PARAM)
                .is_some_and(|r| r.len() == 1 && r.rdatas().next() == Some(&param[..]));
            let apex_hash = nsec3::nsec3_hash(zone.apex().as_wire(), p.salt, p.iterations);
            let same_flags = zone
                .node(&hashed_owner(&apex_hash, zone.apex().as_wire()))
                .and_then(|n| n.rrset(Rtype::NSEC3))
                .and_then(|r| r.rdatas().next())
                .and_then(super::rdata::nsec3_parts)
                .is_some_and(|(flags, _, _)| flags == p.flags());
            !same_param || !same_flags || apex.rrset(Rtype::NSEC).is_some()
        }
    }
}

/// An apex RRset the signer makes: type, RDATAs (None: none), TTL.
type Wanted<'a> = (Rtype, Option<&'a Vec<Vec<u8>>>, u32);

/// The changes that give the apex the DNSKEY, CDS, CDNSKEY RRsets the key set asks
/// for, and the NSEC3PARAM of the served NSEC3 chain `served` (none: NSEC served).
fn apex_changes(zone: &Zone, ctx: Context<'_>, served: Option<Params<'_>>, txn: &mut Transaction) {
    let apex = zone.apex_node();
    let ttl = dnskey_ttl(zone, ctx.policy);
    let param = served.map(|p| vec![nsec3param_rdata(0, p.iterations, p.salt)]);
    let wanted: [Wanted<'_>; 4] = [
        (Rtype::DNSKEY, Some(&ctx.keys.dnskeys), ttl),
        (Rtype(59), Some(&ctx.keys.cds), ttl),
        (Rtype(60), Some(&ctx.keys.cdnskeys), ttl),
        (Rtype::NSEC3PARAM, param.as_ref(), 0),
    ];
    for (rtype, rdatas, ttl) in wanted {
        let mut want: Vec<&[u8]> = rdatas
            .map(|r| r.iter().map(|v| &v[..]).collect())
            .unwrap_or_default();
        want.sort_unstable();
        want.dedup();
        let have = apex.rrset(rtype);
        let same = match have {
            Some(h) => {
                (rtype == Rtype::NSEC3PARAM || h.ttl == ttl) && h.rdatas().eq(want.iter().copied())
            }
            None => want.is_empty(),
        };
        if same {
            continue;
        }
        let owner = zone.apex().clone();
        if want.is_empty() {
            txn.push(Change::RemoveRrset { owner, rtype });
        } else {
            // NSEC3PARAM takes the SOA MINIMUM-like TTL of the chain (RFC 5155 §4).
            let ttl = if rtype == Rtype::NSEC3PARAM {
                denial_ttl(zone)
            } else {
                ttl
            };
            txn.push(Change::Replace {
                owner,
                rtype,
                ttl,
                rdatas: want.into_iter().map(Box::from).collect(),
            });
        }
    }
}

/// Signs what `diff` changed in `zone` (the version it led to): the signed version and
/// what signing changed. A version that is not signed as the key set and policy say
/// is signed whole ([`needs_full`]).
pub fn sign_diff(zone: &Zone, diff: &ZoneDiff, ctx: Context<'_>) -> Result<Signed, SignError> {
    if ctx.keys.zsks.is_empty() || ctx.keys.ksks.is_empty() {
        return Err(SignError::NoKeys);
    }
    if needs_full(zone, ctx) {
        let signed = sign_full(zone, ctx)?;
        let diff = ZoneDiff::between(zone, &signed);
        return Ok(Signed { zone: signed, diff });
    }
    sign_changes(zone, diff, ctx)
}

/// Signs what `diff` changed in `zone` around the names it touched, whatever the rest
/// of the zone is signed with (a walk of `resign` is under way, or done).
pub fn sign_changes(zone: &Zone, diff: &ZoneDiff, ctx: Context<'_>) -> Result<Signed, SignError> {
    sign_changes_in(zone, diff, ctx, Chains::of(ctx.policy))
}

/// How a chain is kept while a change of the denial of existence is walked
/// (`rechain`): whole, built beside the served one, or going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upkeep {
    /// The chain is whole and served: repaired around every name that changed.
    Whole,
    /// The chain is being built: repaired around the names that changed, but an NSEC
    /// chain gets no NSEC at the apex (its presence makes it the served chain).
    Building,
    /// The chain is going: the names that changed, and their NSEC predecessors, lose
    /// their NSEC (an NSEC3 chain going is left as it is).
    Going,
}

/// The chains a version holds and how each is kept.
#[derive(Clone, Copy, Debug)]
pub struct Chains<'a> {
    /// The NSEC chain, if the version holds one.
    pub nsec: Option<Upkeep>,
    /// The NSEC3 chain and its parameters, if the version holds one: whole, it is
    /// the one served, and the apex's NSEC3PARAM names it.
    pub nsec3: Option<(Params<'a>, Upkeep)>,
    /// A second NSEC3 chain of other parameters beside it (`rechain`: built, or
    /// going), never named by the NSEC3PARAM.
    pub beside: Option<(Params<'a>, Upkeep)>,
}

impl<'a> Chains<'a> {
    /// The NSEC3 chain served (the NSEC3PARAM's), if one is.
    pub fn served_nsec3(&self) -> Option<Params<'a>> {
        self.nsec3
            .filter(|(_, upkeep)| *upkeep == Upkeep::Whole)
            .map(|(p, _)| p)
    }
}

impl Chains<'static> {
    /// The one chain `policy` asks for, whole.
    pub fn of(policy: &Policy) -> Self {
        match params(policy) {
            None => Chains {
                nsec: Some(Upkeep::Whole),
                nsec3: None,
                beside: None,
            },
            Some(p) => Chains {
                nsec: None,
                nsec3: Some((p, Upkeep::Whole)),
                beside: None,
            },
        }
    }
}

/// [`sign_changes`], with the chains as `chains` says.
pub fn sign_changes_in(
    zone: &Zone,
    diff: &ZoneDiff,
    ctx: Context<'_>,
    chains: Chains<'_>,
) -> Result<Signed, SignError> {
    if ctx.keys.zsks.is_empty() || ctx.keys.ksks.is_empty() {
        return Err(SignError::NoKeys);
    }
    let apex = zone.apex().as_wire().to_vec();
    let mut changed_sets: HashSet<(Vec<u8>, Rtype)> = HashSet::new();
    let mut cuts: Vec<Vec<u8>> = Vec::new();
    let mut note = |diff: &ZoneDiff, sets: &mut HashSet<(Vec<u8>, Rtype)>| {
        for r in diff.removed.iter().chain(&diff.added) {
            if is_data(r.rtype) {
                let owner = r.owner.to_lowercase().as_wire().to_vec();
                if r.rtype == Rtype::NS && owner != apex {
                    cuts.push(owner.clone());
                }
                sets.insert((owner, r.rtype));
            }
        }
    };
    note(diff, &mut changed_sets);

    // Step 1: the apex's key RRsets and NSEC3PARAM; leftovers of names without data.
    let mut step1 = Transaction::new();
    apex_changes(zone, ctx, chains.served_nsec3(), &mut step1);
    let mut owners: Vec<Vec<u8>> = changed_sets.iter().map(|(o, _)| o.clone()).collect();
    owners.sort_unstable();
    owners.dedup();
    for owner in &owners {
        if let Some(node) = zone.node(owner)
            && is_leftover(&node)
        {
            step1.push(Change::RemoveName {
                owner: node.owner_name(),
            });
        }
    }
    let (zone1, mut diff1) = if step1.is_empty() {
        (zone.clone(), None)
    } else {
        let applied = txn::apply(zone, &step1)?;
        (applied.zone, Some(applied.diff))
    };
    if let Some(d) = &diff1 {
        note(d, &mut changed_sets);
    }
    let zone = &zone1;

    // Step 2: signatures and the chain around every name that changed.
    let mut names: Vec<Vec<u8>> = changed_sets.iter().map(|(o, _)| o.clone()).collect();
    for cut in &cuts {
        names.extend(zone.subtree(cut).map(|n| n.owner().to_vec()));
    }
    names.sort_unstable();
    names.dedup();
    let mut step2 = Transaction::new();
    let mut scratch = Scratch::default();
    for owner in &names {
        let Some(node) = zone.node(owner) else {
            continue;
        };
        let name = node.owner_name();
        let at_apex = node.is_apex();
        for rrset in node.rrsets().filter(|r| is_data(r.rtype)) {
            let sigs = node.rrsig(rrset.rtype);
            if !signable(&node, rrset.rtype) {
                if sigs.is_some() {
                    remove_sigs(&node, &name, rrset.rtype, &mut step2);
                }
                continue;
            }
            let current = sigs
                .is_some_and(|s| signed_by_current(ctx.keys, rrset.rtype, at_apex, s.rdatas()))
                && sigs.is_some_and(|s| s.ttl == rrset.ttl);
            if current && !changed_sets.contains(&(owner.clone(), rrset.rtype)) {
                continue;
            }
            resign_rrset(
                &node,
                &name,
                rrset.rtype,
                rrset.ttl,
                || rrset.rdatas(),
                &apex,
                ctx,
                &mut scratch,
                &mut step2,
            )?;
        }
        // Signatures over types the name no longer holds.
        for sigs in node.rrsets_of(Rtype::RRSIG) {
            if let Some(covered) = sigs.covered()
                && is_data(covered)
                && node.rrset(covered).is_none()
            {
                remove_sigs(&node, &name, covered, &mut step2);
            }
        }
    }
    let mut nsec_owners: Vec<Vec<u8>> = Vec::new();
    if let Some(upkeep) = chains.nsec {
        nsec_step(zone, &names, upkeep, ctx, &mut step2, &mut nsec_owners)?;
    }
    // NSEC3 after the NSEC changes: a name's NSEC3 lists its NSEC (`types_beside_nsec`).
    let (zone, step2) = match chains.nsec3 {
        Some((p, Upkeep::Whole | Upkeep::Building)) => {
            let (zone, mut txn) = if nsec_owners.is_empty() {
                (zone.clone(), step2)
            } else {
                let applied = txn::apply(zone, &step2)?;
                diff1 = Some(match diff1 {
                    Some(d) => d.then(applied.diff),
                    None => applied.diff,
                });
                (applied.zone, Transaction::new())
            };
            names.extend(nsec_owners);
            names.sort_unstable();
            names.dedup();
            let around = with_ancestors(&apex, &names);
            let changes = nsec3_changes(&zone, &around, p);
            push_nsec3(&zone, changes, ctx, &mut txn, &mut scratch)?;
            // A chain built beside it is repaired around the same names (its
            // records have other owners: the same transaction holds both).
            if let Some((beside, Upkeep::Building)) = chains.beside {
                let changes = nsec3_changes(&zone, &around, beside);
                push_nsec3(&zone, changes, ctx, &mut txn, &mut scratch)?;
            }
            (zone, txn)
        }
        _ => (zone.clone(), step2),
    };
    let zone = &zone;
    let applied = txn::apply(zone, &step2)?;
    let diff = match diff1 {
        Some(d) => d.then(applied.diff),
        None => applied.diff,
    };
    Ok(Signed {
        zone: applied.zone,
        diff,
    })
}

/// Appends the NSEC changes around `names` that `upkeep` asks for, signed; the owners
/// whose NSEC changed into `owners`.
fn nsec_step(
    zone: &Zone,
    names: &[Vec<u8>],
    upkeep: Upkeep,
    ctx: Context<'_>,
    txn: &mut Transaction,
    owners: &mut Vec<Vec<u8>>,
) -> Result<(), SignError> {
    let apex = zone.apex().as_wire();
    let ttl = denial_ttl(zone);
    let mut scratch = Scratch::default();
    for (owner, rdata) in nsec_changes(zone, names) {
        let Some(node) = zone.node(&owner) else {
            continue;
        };
        let name = node.owner_name();
        let rdata = match upkeep {
            Upkeep::Going => None,
            Upkeep::Building if owner == apex => continue,
            _ => rdata,
        };
        if rdata.is_none() && node.rrset(Rtype::NSEC).is_none() {
            continue;
        }
        owners.push(owner.clone());
        match rdata {
            Some(rdata) => {
                let record = DenialRecord {
                    wire: &owner,
                    name: &name,
                    rtype: Rtype::NSEC,
                    ttl,
                    rdata,
                };
                push_signed(record, Some(&node), apex, ctx, &mut scratch, txn)?;
            }
            None => push_removed(&node, &name, Rtype::NSEC, txn),
        }
    }
    Ok(())
}

/// Appends the NSEC3 records of `changes` (made by `nsec3_changes`), signed.
pub(super) fn push_nsec3(
    zone: &Zone,
    changes: Vec<nsec3::Nsec3Change>,
    ctx: Context<'_>,
    txn: &mut Transaction,
    scratch: &mut Scratch,
) -> Result<usize, SignError> {
    let apex = zone.apex().as_wire();
    let ttl = denial_ttl(zone);
    let mut made = 0;
    for (hash, rdata) in changes {
        let wire = hashed_owner(&hash, apex);
        let name = Name::from_wire(&wire).map_err(|_| SignError::OwnerTooLong)?;
        // The hashed owner holds the record and its signatures only: all go.
        txn.push(Change::RemoveName {
            owner: name.clone(),
        });
        if let Some(rdata) = rdata {
            let record = DenialRecord {
                wire: &wire,
                name: &name,
                rtype: Rtype::NSEC3,
                ttl,
                rdata,
            };
            made += push_signed(record, None, apex, ctx, scratch, txn)?;
        }
    }
    Ok(made)
}

/// The changes that replace the signatures due at `now`: those that expire within
/// the policy's refresh time, and those made by keys that no longer sign. Empty
/// when none is due. Also gives the earliest time another refresh is due.
pub fn refresh(zone: &Zone, ctx: Context<'_>) -> Result<(Transaction, Option<u64>), SignError> {
    let apex = zone.apex().as_wire().to_vec();
    let now32 = ctx.now as u32;
    let refresh = ctx.policy.signature_refresh;
    let mut txn = Transaction::new();
    let mut scratch = Scratch::default();
    let mut next_due: Option<u64> = None;
    for node in zone.nodes() {
        let at_apex = node.is_apex();
        let mut name = None;
        for sigs in node.rrsets_of(Rtype::RRSIG) {
            let Some(covered) = sigs.covered() else {
                continue;
            };
            let Some(rrset) = node.rrset(covered) else {
                continue;
            };
            // Seconds left before the first of these signatures expires (RFC 4034
            // §3.1.5's serial arithmetic).
            let left = sigs
                .rdatas()
                .filter_map(RrsigFields::parse)
                .map(|f| f.expiration.wrapping_sub(now32) as i32)
                .min()
                .unwrap_or(0);
            let due = left < refresh as i32
                || !signed_by_current(ctx.keys, covered, at_apex, sigs.rdatas());
            if !due {
                let at = ctx.now + (left as u64 - u64::from(refresh));
                next_due = Some(next_due.map_or(at, |d| d.min(at)));
                continue;
            }
            if !signable(&node, covered) {
                continue;
            }
            let name = name.get_or_insert_with(|| node.owner_name());
            resign_rrset(
                &node,
                name,
                covered,
                rrset.ttl,
                || rrset.rdatas(),
                &apex,
                ctx,
                &mut scratch,
                &mut txn,
            )?;
        }
    }
    Ok((txn, next_due))
}

#[path = "signer_full.rs"]
mod full;
pub use full::sign_full;

#[cfg(test)]
#[path = "signer_tests.rs"]
mod tests;
