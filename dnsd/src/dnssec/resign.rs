//! A full re-sign in bounded batches: after a key or algorithm change, the zone's
//! signatures are replaced a batch of nodes at a time, in canonical order, each batch
//! committed by the zone's manager as a version of its own (journaled, so IXFR
//! carries it), with answers and other transactions going on between batches.
//!
//! # Every version in between is valid
//! A batch replaces the signatures of the RRsets it walks over with those the key set
//! of the moment makes; the nodes not yet walked keep theirs. While the walk goes on:
//! - keys of the same algorithms (a ZSK, KSK or CSK rollover): the new DNSKEY RRset is
//!   published with the first batch, as a whole re-sign would: an RRset signed by an
//!   old key or by a new one of the same algorithm validates either way, and the old
//!   keys stay published longer than a walk takes (the timeline's retire times);
//! - a new algorithm (RFC 6781 §4.1.4, RFC 6840 §5.11): its DNSKEY only once every
//!   RRset carries its signatures. The walk publishes the DNSKEY, CDS and CDNSKEY
//!   RRsets as they were (the old keys' only, signed by both algorithms' key-signing
//!   keys, RFC 6781's "new RRSIGs" step) and the last batch switches them ("new
//!   DNSKEY"), so that no version has a DNSKEY algorithm without signatures on every
//!   RRset (what `dnssec-verify` checks).
//!
//! A change of the denial of existence (NSEC to NSEC3 and back, NSEC3's Opt-Out or
//! parameters) is walked too, by `rechain`: the new chain built beside the old one,
//! then switched. A change of both keys and denial at once walks the denial first,
//! then re-signs (`stage`).
//!
//! # Restarts
//! The stage notes a walk in `STATE/dnssec-resign/ZONE` when it starts and deletes it
//! when it ends. A restart in between walks again from the start: what the first walk
//! signed already is signed by the current keys and is skipped without signing (a
//! parse of its signatures), so the walk goes on where it stopped, and every version
//! served meanwhile is one of the valid ones above.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::nsec::is_data;
use super::rdata::RrsigFields;
use super::rrset_changes::{remove_sigs, resign_rrset};
use super::sign::{KeySet, Scratch};
use super::signer::{Context, SignError, signable};
use crate::wire::name::Name;
use crate::zone::txn::Transaction;
use crate::zone::{NodeRef, Rtype, Zone};

/// Signatures made per batch by default: about 70 ms of one core with ECDSA P-256 (a
/// fifth of that with Ed25519), a few hundred KiB of new RRSIGs.
pub const BATCH_SIGNATURES: usize = 4096;

/// The batch size a stage opens with: [`BATCH_SIGNATURES`] (tests make it smaller for
/// the stages their thread opens).
pub fn default_batch() -> usize {
    #[cfg(test)]
    if TEST_BATCH.get() != 0 {
        return TEST_BATCH.get();
    }
    BATCH_SIGNATURES
}

#[cfg(test)]
thread_local! {
    /// The batch size of the stages this thread opens; 0: the default.
    pub static TEST_BATCH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Nodes looked at per batch, at most, for every signature the batch may make: a
/// walk that skips signed nodes (after a restart) still commits now and then.
const VISITS_PER_SIGNATURE: usize = 32;

/// Where a walk stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resign {
    /// The last node walked (lowercased wire form); None: the walk starts at the apex.
    pub after: Option<Vec<u8>>,
    /// The keys (tag, algorithm) the walk signs with: when they change, the walk starts
    /// again, so that no node keeps the signatures of a key that stopped signing.
    pub signers: Vec<(u16, u8)>,
}

/// The keys (tag, algorithm) of `keys` that sign.
pub fn signers(keys: &KeySet) -> Vec<(u16, u8)> {
    let mut out: Vec<(u16, u8)> = keys
        .ksks
        .iter()
        .chain(&keys.zsks)
        .map(|k| (k.tag, k.pair.algorithm().number()))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// One batch of a walk.
pub struct Batch {
    /// The changes: the batch's RRsets with their new signatures.
    pub txn: Transaction,
    /// Where the next batch starts; None: the walk is over.
    pub after: Option<Vec<u8>>,
    /// Signatures made.
    pub signatures: usize,
}

/// The key set a walk signs with: `keys`, but with the apex's DNSKEY, CDS and CDNSKEY
/// RRsets kept as `zone` publishes them when `keys` brings a new algorithm (see the
/// module documentation); and whether it kept them.
pub fn walk_keys(zone: &Zone, keys: &KeySet) -> (KeySet, bool) {
    let apex = zone.apex_node();
    let published: Vec<Vec<u8>> = apex
        .rrset(Rtype::DNSKEY)
        .map(|r| r.rdatas().map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    let algorithms = |keys: &[Vec<u8>]| -> BTreeSet<u8> {
        keys.iter().filter_map(|k| k.get(3).copied()).collect()
    };
    let new_algorithm = !algorithms(&keys.dnskeys).is_subset(&algorithms(&published));
    if !new_algorithm || published.is_empty() {
        return (keys.clone(), false);
    }
    let rdatas = |rtype: Rtype| -> Vec<Vec<u8>> {
        apex.rrset(rtype)
            .map(|r| r.rdatas().map(<[u8]>::to_vec).collect())
            .unwrap_or_default()
    };
    let held = KeySet {
        dnskeys: published,
        cds: rdatas(Rtype(59)),
        cdnskeys: rdatas(Rtype(60)),
        ksks: keys.ksks.clone(),
        zsks: keys.zsks.clone(),
    };
    (held, true)
}

/// The next batch of the walk of `zone` from `from`: the RRsets of the nodes after it,
/// in canonical order, whose signatures are not those `ctx`'s keys make (or are due for
/// refresh), signed again, until `limit` signatures are made; and signatures over
/// types a node no longer holds (or no longer signs), removed.
pub fn batch(
    zone: &Zone,
    ctx: Context<'_>,
    from: &Resign,
    limit: usize,
) -> Result<Batch, SignError> {
    let apex = zone.apex().as_wire().to_vec();
    let limit = limit.max(1);
    let mut out = Batch {
        txn: Transaction::new(),
        after: None,
        signatures: 0,
    };
    let mut scratch = Scratch::default();
    let nodes: Box<dyn Iterator<Item = NodeRef<'_>>> = match from.after.as_deref() {
        None => Box::new(zone.nodes()),
        Some(after) => Box::new(
            zone.nodes_from(after)
                .skip_while(move |n| n.owner() == after),
        ),
    };
    for (visits, node) in nodes.enumerate() {
        if out.signatures >= limit || visits >= limit * VISITS_PER_SIGNATURE {
            return Ok(out);
        }
        out.after = Some(node.owner().to_vec());
        out.signatures += resign_node(&node, &apex, ctx, &mut out.txn, &mut scratch)?;
    }
    out.after = None;
    Ok(out)
}

/// Appends the changes that give `node` the signatures `ctx`'s keys make; the number
/// of signatures made.
fn resign_node(
    node: &NodeRef<'_>,
    apex: &[u8],
    ctx: Context<'_>,
    txn: &mut Transaction,
    scratch: &mut Scratch,
) -> Result<usize, SignError> {
    let mut made = 0;
    let mut name: Option<Name> = None;
    let at_apex = node.is_apex();
    for rrset in node.rrsets() {
        let rtype = rrset.rtype;
        let signed_type = is_data(rtype) || rtype == Rtype::NSEC || rtype == Rtype::NSEC3;
        if !signed_type || !signable(node, rtype) {
            continue;
        }
        let sigs = node.rrsig(rtype);
        if sigs.is_some_and(|s| current(ctx, rtype, at_apex, rrset.ttl, s.ttl, s.rdatas())) {
            continue;
        }
        let owner = name.get_or_insert_with(|| node.owner_name());
        made += resign_rrset(
            node,
            owner,
            rtype,
            rrset.ttl,
            || rrset.rdatas(),
            apex,
            ctx,
            scratch,
            txn,
        )?;
    }
    // Signatures over what the node no longer holds or signs.
    for sigs in node.rrsets_of(Rtype::RRSIG) {
        let Some(covered) = sigs.covered() else {
            continue;
        };
        if node.rrset(covered).is_none() || !signable(node, covered) {
            let owner = name.get_or_insert_with(|| node.owner_name()).clone();
            remove_sigs(node, &owner, covered, txn);
        }
    }
    Ok(made)
}

/// Whether an RRset's signatures (`rdatas`, their RRset's TTL `sig_ttl`) are exactly
/// those `ctx`'s keys make over `rtype`, of the RRset's TTL, none due for refresh.
fn current<'a>(
    ctx: Context<'_>,
    rtype: Rtype,
    at_apex: bool,
    ttl: u32,
    sig_ttl: u32,
    rdatas: impl Iterator<Item = &'a [u8]>,
) -> bool {
    if sig_ttl != ttl {
        return false;
    }
    let now = ctx.now as u32;
    let refresh = ctx.policy.signature_refresh as i32;
    let mut count = 0;
    for rdata in rdatas {
        let Some(f) = RrsigFields::parse(rdata) else {
            return false;
        };
        // RFC 4034 §3.1.5's serial arithmetic.
        let left = f.expiration.wrapping_sub(now) as i32;
        if !ctx.keys.signs_with(rtype, at_apex, f.key_tag, f.algorithm) || left < refresh {
            return false;
        }
        count += 1;
    }
    count == ctx.keys.signers_of(rtype, at_apex).len()
}

/// The file in `folder` of the state folder that notes a walk under way for zone
/// `apex`.
pub fn marker_in(state_dir: &Path, folder: &str, apex: &Name) -> PathBuf {
    let text = apex.to_lowercase().to_string();
    let text = text.trim_end_matches('.');
    state_dir
        .join(folder)
        .join(if text.is_empty() { "root" } else { text })
}

/// The file that notes a walk under way for zone `apex`.
pub fn marker_path(state_dir: &Path, apex: &Name) -> PathBuf {
    marker_in(state_dir, "dnssec-resign", apex)
}

/// Notes that a walk started at `now` (made durable: a restart must find it).
pub fn note_started(state_dir: &Path, apex: &Name, now: u64) -> Result<(), SignError> {
    write_marker(&marker_path(state_dir, apex), now)
}

/// Writes the marker `path` of a walk started at `now`, durably.
pub fn write_marker(path: &Path, now: u64) -> Result<(), SignError> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, format!("started: {now}\n"))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| SignError::Store(format!("{}: {e}", path.display())))
}

/// Whether a walk was under way when the zone's last signer stopped.
pub fn was_started(state_dir: &Path, apex: &Name) -> bool {
    marker_path(state_dir, apex).exists()
}

/// Notes that the walk ended.
pub fn note_finished(state_dir: &Path, apex: &Name) {
    remove_marker(&marker_path(state_dir, apex), apex);
}

/// Removes the marker `path` of zone `apex`'s walk.
pub fn remove_marker(path: &Path, apex: &Name) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::error!(zone = %apex, "{}: {e}", path.display()),
    }
}
