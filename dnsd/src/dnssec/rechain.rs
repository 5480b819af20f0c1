//! A change of the denial of existence of a signed zone (NSEC to NSEC3, NSEC3 to
//! NSEC, NSEC3's Opt-Out turned on or off) walked in bounded batches, each committed
//! by the zone's manager as a version of its own, like a key change (`resign`).
//!
//! # How (BIND's `zone_nsec3chain`, in phases)
//! The new chain is built beside the one served, a batch of names at a time in
//! canonical order; one version switches what is served (NSEC3PARAM added or
//! removed, RFC 5155 §4: the answer engine serves NSEC3 exactly when a usable
//! NSEC3PARAM is at the apex); the old chain then goes a batch at a time.
//!
//! ```text
//!  NSEC -> NSEC3:  BuildNsec3 ──(NSEC3PARAM in)──> DropNsec ──> done
//!  NSEC3 -> NSEC:  BuildNsec ──(apex NSEC in, NSEC3PARAM out)──> DropNsec3 ──> done
//!  Opt-Out on:     Flags { opt_out: true, flag: true } ──> done
//!  Opt-Out off:    Flags { opt_out: false, flag: true } ──> Flags { false, false } ──> done
//! ```
//!
//! - `BuildNsec3`: NSEC served. The NSEC3 records join the chain a batch of names at
//!   a time (`nsec3_changes`, which links each into the records already there, as
//!   BIND's `dns_nsec3_addnsec3` does), so the records present always form a closed
//!   chain. No NSEC3PARAM yet: validators and the answer engine ignore the records.
//! - `DropNsec`: NSEC3 served. The NSEC records go, the apex's first (so that no
//!   version holds an apex NSEC over a partial NSEC chain), and each name's NSEC3 is
//!   written again without NSEC in its bitmap.
//! - `BuildNsec`: NSEC3 served. Each name but the apex gets its NSEC, with its final
//!   next name, and its NSEC3 lists NSEC; the apex's NSEC comes with the switch.
//! - `DropNsec3`: NSEC served. The NSEC3 records go in hash order, the last one left
//!   relinked to the first one left.
//! - `Flags`: the NSEC3 chain is written again in place (same owners: the parameters
//!   but the Opt-Out flag are the same), a batch of names at a time; a chain whose
//!   records differ in their Opt-Out flag is valid (RFC 5155 §3.1.2.1: the flag says
//!   what one record may cover). Turning Opt-Out off first gives every insecure
//!   delegation its record (the flag still set, so that no record without it covers
//!   one not yet walked), then clears the flags.
//!
//! While a name holds an NSEC and an NSEC3, its NSEC3 lists NSEC (RFC 5155 §3.2: the
//! types at the name; what `dnssec-verify` and `kzonecheck` check). Changes made
//! between batches keep both chains (`signer::Chains`).
//!
//! # What the verifiers say (dnssec-verify 9.18, ldns-verify-zone 1.8.3, kzonecheck
//! 3.2.6)
//! `DropNsec`, `BuildNsec` and `Flags` versions pass all three. A version of an NSEC
//! zone that holds NSEC3 records without NSEC3PARAM (`BuildNsec3`, `DropNsec3`: the
//! form BIND serves while it builds or removes an NSEC3 chain) passes `dnssec-verify`
//! (which ignores NSEC3 records without NSEC3PARAM), is refused by `ldns-verify-zone`
//! when the records do not cover every name ("The NSEC3 record for … points to the
//! wrong next hashed owner name"), and makes `kzonecheck` crash (SIGSEGV, also
//! without `--dnssec`; `knotd` 3.2.6 loads the same zone file and serves it). An
//! NSEC3PARAM with a non-zero flag instead (never used for answers, RFC 5155
//! §4.1.2) gets "invalid flags in NSEC3PARAM" from `kzonecheck`; every form with a
//! usable NSEC3PARAM needs the whole NSEC3 chain.
//!
//! # Restarts
//! A walk under way is noted in `STATE/dnssec-rechain/ZONE`; a restart finds the phase
//! again from the zone (`start`) and walks it from the start, names already done
//! making no change.

use std::path::{Path, PathBuf};

use super::nsec::{nsec_types, wanted_nsec};
use super::nsec3::{
    Params, hash_of_owner, is_nsec3_node, nsec3_changes, nsec3_types, with_ancestors,
};
use super::policy::{Denial, Policy};
use super::rdata::nsec3_parts;
use super::sign::{Scratch, sign_with_all};
use super::signer::{
    Chains, Context, SignError, Upkeep, denial_ttl, params, push_nsec3, remove_sigs,
};
use crate::wire::name::Name;
use crate::zone::diff::ZoneDiff;
use crate::zone::txn::{self, Change, Transaction};
use crate::zone::{NodeRef, Rtype, Zone};

/// A phase of the walk (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// NSEC served; the policy's NSEC3 chain built beside it.
    BuildNsec3,
    /// The policy's NSEC3 chain served; the NSEC records go.
    DropNsec,
    /// The NSEC3 chain of `iterations` and `opt_out` served; NSEC built beside it.
    BuildNsec {
        /// The served chain's iterations.
        iterations: u16,
        /// The served chain's Opt-Out.
        opt_out: bool,
    },
    /// NSEC served; the NSEC3 records go.
    DropNsec3,
    /// The NSEC3 chain written again with `opt_out`'s members and `flag`.
    Flags {
        /// Whether insecure delegations are left out.
        opt_out: bool,
        /// The Opt-Out flag written.
        flag: bool,
    },
}

/// Where a walk stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rechain {
    /// The phase; None: found again from the zone at the next commit (a restart).
    pub phase: Option<Phase>,
    /// The last name walked (lowercased wire form); None: from the start.
    pub after: Option<Vec<u8>>,
}

/// The NSEC3PARAM at the apex that the answer engine would use: flags 0, SHA-1.
fn usable_param(zone: &Zone) -> Option<(u16, Vec<u8>)> {
    let apex = zone.apex_node();
    let param = apex.rrset(Rtype::NSEC3PARAM)?;
    param.rdatas().find_map(|r| {
        let (&alg, &flags) = (r.first()?, r.get(1)?);
        let iterations = u16::from_be_bytes([*r.get(2)?, *r.get(3)?]);
        let salt = r.get(5..5 + usize::from(*r.get(4)?))?;
        (alg == 1 && flags == 0).then(|| (iterations, salt.to_vec()))
    })
}

/// The NSEC3 record of `owner` (a name of the zone), if any.
fn nsec3_of<'z>(zone: &'z Zone, owner: &[u8], p: Params<'_>) -> Option<NodeRef<'z>> {
    let hash = super::nsec3::nsec3_hash(owner, p.salt, p.iterations);
    zone.node(&super::nsec3::hashed_owner(&hash, zone.apex().as_wire()))
        .filter(|n| n.rrset(Rtype::NSEC3).is_some())
}

/// The phase a walk from `zone` to `policy`'s denial starts with (or, after a
/// restart, goes on with); None when there is nothing to walk, or when the change is
/// not one this walk makes (another salt: the zone is then signed whole).
pub fn start(zone: &Zone, policy: &Policy) -> Option<Phase> {
    let apex = zone.apex_node();
    let param = usable_param(zone);
    match params(policy) {
        None => match param {
            Some((iterations, salt)) if salt.is_empty() => {
                let opt_out = nsec3_of(
                    zone,
                    zone.apex().as_wire(),
                    Params {
                        salt: &[],
                        iterations,
                        opt_out: false,
                        opt_out_flag: false,
                    },
                )
                .and_then(|n| {
                    n.rrset(Rtype::NSEC3)?
                        .rdatas()
                        .next()
                        .map(|r| r[1] & 1 == 1)
                })
                .unwrap_or(false);
                Some(Phase::BuildNsec {
                    iterations,
                    opt_out,
                })
            }
            Some(_) => None,
            None => zone
                .nsec3_nodes()
                .next()
                .is_some()
                .then_some(Phase::DropNsec3),
        },
        Some(p) => {
            let Some((iterations, salt)) = param else {
                return apex
                    .rrset(Rtype::NSEC)
                    .is_some()
                    .then_some(Phase::BuildNsec3);
            };
            if !salt.is_empty() || iterations != p.iterations {
                return None;
            }
            if zone.nodes().any(|n| n.rrset(Rtype::NSEC).is_some()) {
                return Some(Phase::DropNsec);
            }
            let wrong_flag = zone.nsec3_nodes().any(|n| {
                n.rrset(Rtype::NSEC3)
                    .and_then(|r| r.rdatas().next())
                    .is_some_and(|r| r.get(1).copied().unwrap_or(0) & 1 != p.flags())
            });
            // Insecure delegations: in the chain without Opt-Out, out of it with.
            let mut insecure = zone
                .delegations()
                .filter(|d| !d.is_below_cut() && nsec3_types(d, true).is_none());
            if p.opt_out {
                let extra = insecure.any(|d| nsec3_of(zone, d.owner(), p).is_some());
                (wrong_flag || extra).then_some(Phase::Flags {
                    opt_out: true,
                    flag: true,
                })
            } else if insecure.any(|d| nsec3_of(zone, d.owner(), p).is_none()) {
                Some(Phase::Flags {
                    opt_out: false,
                    flag: true,
                })
            } else {
                wrong_flag.then_some(Phase::Flags {
                    opt_out: false,
                    flag: false,
                })
            }
        }
    }
}

impl Phase {
    /// The policy whose denial is served during the phase (the apex's NSEC3PARAM
    /// follows it).
    pub fn served(self, policy: &Policy) -> Policy {
        let denial = match self {
            Phase::BuildNsec3 => Denial::Nsec,
            Phase::BuildNsec {
                iterations,
                opt_out,
            } => Denial::Nsec3 {
                iterations,
                opt_out,
            },
            _ => policy.denial,
        };
        Policy {
            denial,
            ..policy.clone()
        }
    }

    /// The chains the phase's versions hold, and how changes keep them.
    pub fn chains(self, policy: &Policy) -> Chains<'static> {
        let target = params(policy);
        match self {
            Phase::BuildNsec3 => Chains {
                nsec: Some(Upkeep::Whole),
                nsec3: target.map(|p| (p, Upkeep::Building)),
            },
            Phase::DropNsec => Chains {
                nsec: Some(Upkeep::Going),
                nsec3: target.map(|p| (p, Upkeep::Whole)),
            },
            Phase::BuildNsec {
                iterations,
                opt_out,
            } => Chains {
                nsec: Some(Upkeep::Building),
                nsec3: Some((
                    Params {
                        salt: &[],
                        iterations,
                        opt_out,
                        opt_out_flag: opt_out,
                    },
                    Upkeep::Whole,
                )),
            },
            Phase::DropNsec3 => Chains {
                nsec: Some(Upkeep::Whole),
                nsec3: None,
            },
            Phase::Flags { opt_out, flag } => Chains {
                nsec: None,
                nsec3: target.map(|p| {
                    (
                        Params {
                            opt_out,
                            opt_out_flag: flag,
                            ..p
                        },
                        Upkeep::Whole,
                    )
                }),
            },
        }
    }

    /// The phase after this one; None: the walk is over.
    pub fn next(self) -> Option<Phase> {
        match self {
            Phase::BuildNsec3 => Some(Phase::DropNsec),
            Phase::BuildNsec { .. } => Some(Phase::DropNsec3),
            Phase::Flags {
                opt_out: false,
                flag: true,
            } => Some(Phase::Flags {
                opt_out: false,
                flag: false,
            }),
            _ => None,
        }
    }
}

/// One batch of a walk: the version it leads to and what it changed (None: no
/// change), and where the next batch starts (None: the phase is over).
pub struct Batch {
    /// The version after the batch and its diff.
    pub applied: Option<(Zone, ZoneDiff)>,
    /// The last name walked; None: the phase is over.
    pub after: Option<Vec<u8>>,
}

/// The next names of the walk after `after` (the apex first), NSEC3 owners left out:
/// at most `limit`, and the last one when more are left.
fn next_names(zone: &Zone, after: Option<&[u8]>, limit: usize) -> (Vec<Vec<u8>>, bool) {
    let nodes: Box<dyn Iterator<Item = NodeRef<'_>>> = match after {
        None => Box::new(zone.nodes()),
        Some(after) => Box::new(
            zone.nodes_from(after)
                .skip_while(move |n| n.owner() == after),
        ),
    };
    let mut out = Vec::new();
    for node in nodes.filter(|n| !is_nsec3_node(n)) {
        if out.len() >= limit.max(1) {
            return (out, true);
        }
        out.push(node.owner().to_vec());
    }
    (out, false)
}

/// Applies `txn` to `zone`, the diff chained to `so_far`.
fn apply(
    zone: &Zone,
    txn: &Transaction,
    so_far: Option<(Zone, ZoneDiff)>,
) -> Result<Option<(Zone, ZoneDiff)>, SignError> {
    if txn.is_empty() {
        return Ok(so_far);
    }
    let applied = txn::apply(zone, txn)?;
    Ok(Some(match so_far {
        Some((_, d)) => (applied.zone, d.then(applied.diff)),
        None => (applied.zone, applied.diff),
    }))
}

/// The next batch of phase `phase` from `after`: about `limit` signatures made.
/// `ctx` holds the phase's served policy ([`Phase::served`]).
pub fn batch(
    zone: &Zone,
    ctx: Context<'_>,
    policy: &Policy,
    phase: Phase,
    after: Option<&[u8]>,
    limit: usize,
) -> Result<Batch, SignError> {
    let chains = phase.chains(policy);
    let apex = zone.apex().as_wire().to_vec();
    let mut scratch = Scratch::default();
    let nsec3 =
        |z: &Zone, names: &[Vec<u8>], txn: &mut Transaction, s: &mut Scratch| match chains.nsec3 {
            Some((p, _)) => {
                let changes = nsec3_changes(z, &with_ancestors(&apex, names), p);
                push_nsec3(z, changes, ctx, txn, s).map(|_| ())
            }
            None => Ok(()),
        };
    match phase {
        Phase::BuildNsec3 | Phase::Flags { .. } => {
            let (names, more) = next_names(zone, after, limit / 2);
            let mut t = Transaction::new();
            nsec3(zone, &names, &mut t, &mut scratch)?;
            Ok(Batch {
                applied: apply(zone, &t, None)?,
                after: more.then(|| names.last().cloned()).flatten(),
            })
        }
        Phase::DropNsec | Phase::BuildNsec { .. } => {
            let building = phase != Phase::DropNsec;
            let (names, more) = next_names(zone, after, limit / 2);
            let ttl = denial_ttl(zone);
            let mut t = Transaction::new();
            for owner in &names {
                let Some(node) = zone.node(owner) else {
                    continue;
                };
                let name = node.owner_name();
                let have = node.rrset(Rtype::NSEC).and_then(|r| r.rdatas().next());
                if !building {
                    if have.is_some() {
                        t.push(Change::RemoveRrset {
                            owner: name.clone(),
                            rtype: Rtype::NSEC,
                        });
                        remove_sigs(&node, &name, Rtype::NSEC, &mut t);
                    }
                    continue;
                }
                // The apex's NSEC comes with the switch (`Phase::next`).
                if node.is_apex() || nsec_types(&node).is_none() {
                    continue;
                }
                let Some(want) = wanted_nsec(zone, &node) else {
                    continue;
                };
                if have == Some(&want[..]) {
                    continue;
                }
                let sigs = sign_with_all(
                    owner,
                    Rtype::NSEC,
                    ttl,
                    || std::iter::once(&want[..]),
                    &apex,
                    ctx.keys,
                    ctx.policy,
                    ctx.now,
                    &mut scratch,
                )?;
                remove_sigs(&node, &name, Rtype::NSEC, &mut t);
                t.push(Change::Replace {
                    owner: name.clone(),
                    rtype: Rtype::NSEC,
                    ttl,
                    rdatas: vec![want.into()],
                });
                for sig in sigs {
                    t.push(Change::Add(crate::zone::Record {
                        owner: name.clone(),
                        rtype: Rtype::RRSIG,
                        ttl,
                        rdata: sig,
                    }));
                }
            }
            let first = apply(zone, &t, None)?;
            let z1 = first.as_ref().map_or(zone, |(z, _)| z);
            let mut t2 = Transaction::new();
            nsec3(z1, &names, &mut t2, &mut scratch)?;
            let z1 = z1.clone();
            Ok(Batch {
                applied: apply(&z1, &t2, first)?,
                after: more.then(|| names.last().cloned()).flatten(),
            })
        }
        Phase::DropNsec3 => drop_nsec3(zone, ctx, limit),
    }
}

/// A batch of `DropNsec3`: the first `limit` NSEC3 records in hash order go, and the
/// last one left is relinked to the first one left (the records left stay a closed
/// chain).
fn drop_nsec3(zone: &Zone, ctx: Context<'_>, limit: usize) -> Result<Batch, SignError> {
    let limit = limit.max(1);
    let nodes: Vec<NodeRef<'_>> = zone.nsec3_nodes().take(limit + 1).collect();
    let mut t = Transaction::new();
    for node in nodes.iter().take(limit) {
        t.push(Change::RemoveName {
            owner: node.owner_name(),
        });
    }
    let more = nodes.len() > limit;
    if more
        && let (Some(first), Some(last)) = (nodes.get(limit), zone.nsec3_last())
        && let (Some(first_hash), Some(rdata)) = (
            hash_of_owner(first.owner()),
            last.rrset(Rtype::NSEC3).and_then(|r| r.rdatas().next()),
        )
        && let Some((_, next, _)) = nsec3_parts(rdata)
        && next.len() == first_hash.len()
    {
        // RFC 5155 §3.2: algorithm, flags, iterations (2), salt length, salt, hash
        // length, next hash, bitmap; the next hash replaced in place.
        let at = 6 + usize::from(rdata[4]);
        let mut new = rdata.to_vec();
        new[at..at + next.len()].copy_from_slice(&first_hash);
        if let Some(hash) = hash_of_owner(last.owner()) {
            let changes = vec![(hash, Some(new))];
            let mut scratch = Scratch::default();
            push_nsec3(zone, changes, ctx, &mut t, &mut scratch)?;
        }
    }
    Ok(Batch {
        applied: apply(zone, &t, None)?,
        after: more.then(Vec::new),
    })
}

/// The file that notes a walk under way for zone `apex`.
pub fn marker_path(state_dir: &Path, apex: &Name) -> PathBuf {
    super::resign::marker_in(state_dir, "dnssec-rechain", apex)
}

/// Notes that a walk started at `now` (durable: a restart must find it).
pub fn note_started(state_dir: &Path, apex: &Name, now: u64) -> Result<(), SignError> {
    super::resign::write_marker(&marker_path(state_dir, apex), now)
}

/// Whether a walk was under way when the zone's last signer stopped.
pub fn was_started(state_dir: &Path, apex: &Name) -> bool {
    marker_path(state_dir, apex).exists()
}

/// Notes that the walk ended.
pub fn note_finished(state_dir: &Path, apex: &Name) {
    super::resign::remove_marker(&marker_path(state_dir, apex), apex);
}
