//! A change of the denial of existence of a signed zone (NSEC to NSEC3, NSEC3 to
//! NSEC, NSEC3's Opt-Out turned on or off, NSEC3's parameters: another salt or
//! iteration count) walked in bounded batches, each committed by the zone's manager
//! as a version of its own, like a key change (`resign`). The phases and how a
//! zone's phase is found are in `rechain_phase.rs`.
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
//!  NSEC3 -> NSEC3 of other parameters:
//!                  BuildNsec3Beside ──(NSEC3PARAM replaced)──> DropOldNsec3 ──> done
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
//! - `BuildNsec3Beside`: the old NSEC3 chain served, its NSEC3PARAM at the apex. The
//!   policy's chain joins a batch of names at a time as in `BuildNsec3`, its records
//!   among the old chain's in the hash-ordered index (each chain links only its
//!   own: `nsec3_changes` passes over the other's records, as BIND's
//!   `dns_nsec3_addnsec3` does, and so does the answer engine). No NSEC3PARAM names
//!   it yet. The switch replaces the old NSEC3PARAM by the new one in one version.
//!   (BIND's `zone_nsec3chain` does the same in two steps: it adds the new chain's
//!   NSEC3PARAM when the chain is complete, `fixup_nsec3param`, and removes the old
//!   one when it starts removing the old chain, which may be a later version; both
//!   chains being whole at that point, either is valid.)
//! - `DropOldNsec3`: the new chain served. The old chain's records go in hash order,
//!   from where the last batch stopped, the last one left relinked to the first one
//!   left.
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
//! The versions of a change of NSEC3 parameters (`BuildNsec3Beside`,
//! `DropOldNsec3`: two NSEC3 chains, one NSEC3PARAM) pass `dnssec-verify`, which
//! checks the chain the NSEC3PARAM names; `ldns-verify-zone` ("original of NSEC3
//! hashed name could not be found") and `kzonecheck` ("inconsistent NSEC(3) chain")
//! read every NSEC3 record as one chain and refuse them, as they would BIND's.
//!
//! # Restarts
//! A walk under way is noted in `STATE/dnssec-rechain/ZONE`; a restart finds the phase
//! again from the zone (`start`) and walks it from the start, names already done
//! making no change. At the last phase's end, `start` is asked once more, so that
//! what a policy changed during the walk left (records of a third chain) goes too.

use std::path::{Path, PathBuf};

use super::nsec::{nsec_types, wanted_nsec};
use super::nsec3::{
    Params, hash_of_owner, is_nsec3_node, node_of_chain, nsec3_changes, with_ancestors,
};
use super::policy::Policy;
use super::rdata::{base32hex, nsec3_parts};
use super::rrset_changes::{DenialRecord, push_removed, push_signed};
use super::sign::Scratch;
use super::signer::{Context, SignError, denial_ttl, push_nsec3};
use crate::wire::name::Name;
use crate::zone::diff::ZoneDiff;
use crate::zone::txn::{self, Change, Transaction};
use crate::zone::{NodeRef, Rtype, Zone};

#[path = "rechain_phase.rs"]
mod phase;
pub use phase::{Nsec3Chain, Phase, start};

/// Where a walk stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rechain {
    /// The phase; None: found again from the zone at the next commit (a restart).
    pub phase: Option<Phase>,
    /// The last name walked (lowercased wire form); None: from the start.
    pub after: Option<Vec<u8>>,
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

/// The next batch of phase `phase` from `after` (a name, or in the phases that
/// remove NSEC3 records the hash label to go on from): about `limit` signatures
/// made.
pub fn batch(
    zone: &Zone,
    ctx: Context<'_>,
    policy: &Policy,
    phase: Phase,
    after: Option<&[u8]>,
    limit: usize,
) -> Result<Batch, SignError> {
    let walked = phase.walked(policy);
    let apex = zone.apex().as_wire().to_vec();
    let mut scratch = Scratch::default();
    let nsec3 = |z: &Zone, names: &[Vec<u8>], txn: &mut Transaction, s: &mut Scratch| match walked {
        Some(p) => {
            let changes = nsec3_changes(z, &with_ancestors(&apex, names), p);
            push_nsec3(z, changes, ctx, txn, s).map(|_| ())
        }
        None => Ok(()),
    };
    match phase {
        Phase::BuildNsec3 | Phase::Flags { .. } | Phase::BuildNsec3Beside { .. } => {
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
                        push_removed(&node, &name, Rtype::NSEC, &mut t);
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
                let record = DenialRecord {
                    wire: owner,
                    name: &name,
                    rtype: Rtype::NSEC,
                    ttl,
                    rdata: want,
                };
                push_signed(record, Some(&node), &apex, ctx, &mut scratch, &mut t)?;
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
        Phase::DropNsec3 => drop_nsec3(zone, ctx, None, after, limit),
        Phase::DropOldNsec3 { old } => drop_nsec3(zone, ctx, Some(old.params()), after, limit),
    }
}

/// The last hash label there is: every NSEC3 owner's sorts at or below it.
const LAST_LABEL: [u8; 32] = [b'v'; 32];

/// A batch of `DropNsec3` (`only` None: every NSEC3 record goes) or `DropOldNsec3`
/// (`only`: the records of that chain go, the served chain's records between them
/// passed over): the first `limit` records from the hash label `after` go, and the
/// last one of the chain left is relinked to the first one left (the records left
/// stay a closed chain).
fn drop_nsec3(
    zone: &Zone,
    ctx: Context<'_>,
    only: Option<Params<'_>>,
    after: Option<&[u8]>,
    limit: usize,
) -> Result<Batch, SignError> {
    let limit = limit.max(1);
    let of = |n: &NodeRef<'_>| only.is_none_or(|p| node_of_chain(n, p));
    let from: Box<dyn Iterator<Item = NodeRef<'_>>> = match after {
        Some(label) if !label.is_empty() => Box::new(zone.nsec3_nodes_from(label)),
        _ => Box::new(zone.nsec3_nodes()),
    };
    let nodes: Vec<NodeRef<'_>> = from.filter(of).take(limit + 1).collect();
    let mut t = Transaction::new();
    for node in nodes.iter().take(limit) {
        t.push(Change::RemoveName {
            owner: node.owner_name(),
        });
    }
    let first = nodes.get(limit);
    let last = zone.nsec3_nodes_down_from(&LAST_LABEL).find(of);
    if let (Some(first), Some(last)) = (first, last)
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
        after: first
            .and_then(|n| hash_of_owner(n.owner()))
            .map(|h| base32hex(&h)),
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
