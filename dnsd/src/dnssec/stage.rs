//! The signing stage of a zone's manager: between a batch's changes (and its serial)
//! and the journal, a signed zone's new version is signed — the RRsets the diff
//! touched, the NSEC/NSEC3 links around them, and the signatures due for refresh — so
//! that what is journaled, served and transferred is always signed. A zone's first
//! version, and any version after a key or policy change, is signed whole.
//!
//! The stage holds the zone's policy and key set (read from the state folder,
//! `store`) and the time the next signature is due for refresh; the daemon's signing
//! timer (`timer`) commits an empty change to each zone whose refresh is due
//! ([`SIGNER_SOURCE`]), which makes a new version with the refreshed signatures even
//! when nothing else changes. The stage's steps of going insecure live in `withdraw`,
//! its DS check in `parent`.
//!
//! A key or algorithm change of a zone signed already is not signed whole in one
//! version: the stage walks the zone a batch at a time (`resign`), one batch with each
//! commit, and asks for the next commit at once ([`Stage::resigning`]; the zone's
//! re-sign driver, `timer::resign_in_background`, makes them), so that the walk's
//! versions go out as the zone's other changes do, in between. A change of the denial
//! of existence is walked the same way (`rechain`).
//!
//! # Keys and denial changed at once
//! (An algorithm rollover and NSEC to NSEC3 in one policy edit, say.) The denial is
//! walked first, signed by the keys of the moment as a re-sign signs (a new
//! algorithm's DNSKEY held back, `resign::walk_keys`), then the re-sign walks what
//! is left: each walk in batches, never one whole version. This order because the
//! denial walk removes the old chain: walked second, the re-sign would first sign
//! again every record of a chain about to go (a signature set per name, for
//! nothing), while walked first, the new chain's records carry the new keys'
//! signatures already and the re-sign passes over them without signing. The re-sign
//! is noted (`STATE/dnssec-resign/ZONE`) as soon as a commit finds the SOA signed by
//! other keys than the moment's (every commit signs it again), so a restart finds
//! both walks, the denial's going first.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::policy::{Policy, time_text};
use super::rdata::RrsigFields;
use super::rechain::{self, Phase, Rechain};
use super::resign::{self, Resign};
use super::sign::KeySet;
use super::signer::{self, Context, SignError, Signed};
use super::status::{KeyStatus, key_statuses};
use super::store::{self, StoreError, StoredKey};
use super::timeline::{self, Env, TimelineKey};
use super::withdraw::{self, Withdrawal};
use crate::wire::name::Name;
use crate::zone::diff::ZoneDiff;
use crate::zone::txn;
use crate::zone::{Rtype, Zone};

/// The source name of the signer's own commits (signature refresh).
pub const SIGNER_SOURCE: &str = "dnssec";

/// Whether records of `rtype` are the signer's (a signed zone's file or dynamic
/// sources do not set them: the signer makes them).
pub fn is_signer_type(rtype: Rtype) -> bool {
    matches!(
        rtype,
        Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3 | Rtype::NSEC3PARAM | Rtype::DNSKEY
    ) || matches!(rtype.0, 59 | 60)
}

/// The largest TTL of the zone's RRsets (RFC 7583's TTLsig).
pub fn max_ttl(zone: &Zone) -> u32 {
    zone.nodes()
        .flat_map(|n| n.rrsets().map(|r| r.ttl).collect::<Vec<_>>())
        .max()
        .unwrap_or(0)
}

/// A signed zone's signing state.
#[derive(Debug)]
pub struct Stage {
    /// The policy.
    pub policy: Policy,
    /// The zone's keys, as stored (with their timelines).
    pub keys: Vec<StoredKey>,
    /// What signs now.
    pub key_set: KeySet,
    /// When the next signature is due for refresh (seconds since the epoch); 0: not
    /// known yet (computed at the next commit).
    pub next_refresh: u64,
    /// When the key timeline next moves by itself; 0: at the next commit.
    pub(super) next_key_event: u64,
    /// When the parent's DS was last asked for.
    pub(super) last_ds_check: u64,
    pub(super) apex: Name,
    pub(super) state_dir: PathBuf,
    /// The keys folder's modification time when the keys were read.
    pub(super) keys_mtime: Option<SystemTime>,
    /// Signing is turned off and the zone is going insecure (`withdraw`): where it
    /// stands (`started` 0: not yet).
    pub(super) withdrawal: Option<Withdrawal>,
    /// The withdrawal is over: the zone is unsigned, the stage has nothing to do.
    pub(super) finished: bool,
    /// A walk re-signing the zone in batches is under way (`resign`): where it stands.
    resign: Option<Resign>,
    /// A walk changing the denial of existence is under way (`rechain`).
    rechain: Option<Rechain>,
    /// Signatures a batch of the walk makes, at most.
    pub resign_batch: usize,
    /// A thread makes the walk's commits (`timer::resign_in_background`).
    resign_driven: bool,
    /// Whether the walk's commits are made by a thread of their own, started by the
    /// commit that finds the walk under way (tests that make them one by one clear it).
    pub resign_in_background: bool,
}

impl Stage {
    /// The stage of zone `apex` under `policy`, its keys read from the state folder
    /// (the keys it lacks are made at the first signing, each logged by tag, never its
    /// material).
    pub fn open(state_dir: &Path, apex: &Name, policy: Policy) -> Result<Self, StoreError> {
        let keys_mtime = keys_mtime(state_dir, apex);
        let keys = store::load(state_dir, apex)?;
        Ok(Self {
            policy,
            keys,
            key_set: KeySet::default(),
            next_refresh: 0,
            next_key_event: 0,
            last_ds_check: 0,
            apex: apex.clone(),
            state_dir: state_dir.to_path_buf(),
            keys_mtime,
            withdrawal: None,
            finished: false,
            resign: resign::was_started(state_dir, apex).then(Resign::default),
            rechain: rechain::was_started(state_dir, apex).then(Rechain::default),
            resign_batch: resign::default_batch(),
            resign_driven: false,
            resign_in_background: true,
        })
    }

    /// Whether the stage is done: the zone went insecure and is unsigned.
    pub fn finished(&self) -> bool {
        self.finished
    }

    pub(super) fn ctx(&self, now: u64) -> Context<'_> {
        Context {
            policy: &self.policy,
            keys: &self.key_set,
            now,
        }
    }

    /// The timeline's view of the zone.
    pub(super) fn env<'a>(&'a self, zone: &'a Zone, max: &'a dyn Fn() -> u32) -> Env<'a> {
        Env {
            policy: &self.policy,
            dnskey_ttl: signer::dnskey_ttl(zone, &self.policy),
            max_ttl: max,
        }
    }

    /// Moves the key timeline to `now` when it is due (keys made, rollovers started
    /// and advanced, each step logged with the time of the next), and sets the key
    /// set of the moment.
    pub fn advance(&mut self, zone: &Zone, now: u64) -> Result<(), SignError> {
        self.reload_if_changed();
        if self.next_key_event != 0 && now < self.next_key_event {
            return Ok(());
        }
        if self.withdrawal.is_some() {
            return self.advance_withdrawal(zone, now);
        }
        let max = || max_ttl(zone);
        let mut line: Vec<TimelineKey> = self.keys.iter().map(StoredKey::timeline).collect();
        // A key without a timeline (made by an older dnsd, or imported by hand) has
        // been published since before; its lifetime counts from now.
        for t in line.iter_mut() {
            if t.times.active == 0 && t.times.retire.is_none() && t.times.remove.is_none() {
                t.times.active = now;
            }
        }
        let mut made: Vec<StoredKey> = Vec::new();
        let (state_dir, apex, algorithm) = (&self.state_dir, &self.apex, self.policy.algorithm);
        let step = {
            let env = self.env(zone, &max);
            timeline::step(&mut line, &env, now, &mut |sep, times| {
                let key = store::generate(state_dir, apex, algorithm, sep, times)?;
                let t = key.timeline();
                made.push(key);
                Ok::<_, StoreError>(t)
            })
            .map_err(|e| SignError::Store(e.to_string()))?
        };
        self.keys.extend(made);
        for (key, t) in self.keys.iter_mut().zip(&line) {
            if key.times != t.times {
                key.times = t.times;
                store::save_times(key).map_err(|e| SignError::Store(e.to_string()))?;
            }
        }
        let env = self.env(zone, &max);
        let next = timeline::next_event(&line, &env, now);
        let next_text = next.map_or("none".into(), time_text);
        for entry in &step.log {
            tracing::info!(zone = %self.apex, next_key_step = %next_text, "dnssec: {entry}");
        }
        self.key_set = super::keyset::key_set(&self.apex, &self.keys, &env, now);
        self.next_key_event = next.unwrap_or(u64::MAX);
        if step.changed {
            self.keys_mtime = keys_mtime(&self.state_dir, &self.apex);
        }
        Ok(())
    }

    /// Reads the keys again when `dnsd keys` changed the store (the folder's
    /// modification time moved); whether it did. A key that cannot be read leaves the
    /// keys as they were, loudly.
    pub(super) fn reload_if_changed(&mut self) -> bool {
        let mtime = keys_mtime(&self.state_dir, &self.apex);
        if mtime == self.keys_mtime {
            return false;
        }
        if self.withdrawal.is_some()
            && let Ok(Some(w)) = withdraw::load(&self.state_dir, &self.apex)
        {
            self.withdrawal = Some(w);
        }
        match store::load(&self.state_dir, &self.apex) {
            Ok(keys) => {
                self.keys = keys;
                self.next_key_event = 0;
                self.keys_mtime = mtime;
                true
            }
            Err(e) => {
                tracing::error!(zone = %self.apex, "dnssec: {e}; signing goes on with the keys read before");
                self.keys_mtime = mtime;
                false
            }
        }
    }

    /// Signs `zone` whole (a first version).
    pub fn sign_whole(&mut self, zone: &Zone, now: u64) -> Result<Zone, SignError> {
        if self.skip_unsigned(zone) {
            return Ok(zone.clone());
        }
        self.advance(zone, now)?;
        if self.unsign_due(now) {
            return Ok(self.unsign(zone, now)?.zone);
        }
        let signed = signer::sign_full(zone, self.ctx(now))?;
        self.end_resign();
        self.end_rechain();
        self.next_refresh = 0;
        self.note_refresh(&signed, now)?;
        Ok(signed)
    }

    /// Signs what `diff` changed in `zone` (the version it led to), and refreshes the
    /// signatures due: the signed version and what signing changed.
    pub fn sign(&mut self, zone: &Zone, diff: &ZoneDiff, now: u64) -> Result<Signed, SignError> {
        if self.skip_unsigned(zone) {
            self.end_resign();
            self.end_rechain();
            return Ok(Signed {
                zone: zone.clone(),
                diff: ZoneDiff {
                    old_serial: diff.new_serial,
                    new_serial: diff.new_serial,
                    removed: Vec::new(),
                    added: Vec::new(),
                },
            });
        }
        self.advance(zone, now)?;
        if self.unsign_due(now) {
            self.end_resign();
            self.end_rechain();
            return self.unsign(zone, now);
        }
        if let Some(phase) = self.rechain_phase(zone, now)? {
            // The denial first, the keys after (see the module documentation). Every
            // commit signs the SOA with the keys of the moment: an SOA signed by
            // others means the keys changed since the last commit, and their walk
            // is noted now, to follow this one (a re-sign under way waits for it).
            if self.resign.is_none() && !signer::signed_by_keys(zone, self.ctx(now)) {
                self.note_resign(now)?;
            }
            return self.sign_rechain(zone, diff, phase, now);
        }
        let full = signer::needs_full(zone, self.ctx(now));
        if self.resign.is_none() && full && signer::chain_matches(zone, &self.policy) {
            // Signed already, with the policy's chain: new keys, walked in batches.
            self.note_resign(now)?;
        }
        if self.resign.is_some() {
            if signer::chain_matches(zone, &self.policy) {
                return self.sign_batch(zone, diff, now);
            }
            // The denial is not the policy's and is not walked (the zone is signed
            // by keys dnsd does not hold): signed whole below, which ends the walk.
            self.end_resign();
        }
        let mut signed = signer::sign_diff(zone, diff, self.ctx(now))?;
        if full {
            self.next_refresh = 0;
        }
        if self.next_refresh == 0 || now >= self.next_refresh {
            let (refresh, next) = signer::refresh(&signed.zone, self.ctx(now))?;
            if !refresh.is_empty() {
                let applied = txn::apply(&signed.zone, &refresh)?;
                signed.diff = signed.diff.then(applied.diff);
                signed.zone = applied.zone;
            }
            self.next_refresh = next.unwrap_or(now + 3600);
        }
        Ok(signed)
    }

    /// Notes (durably) the walk that signs the zone again with the keys of the
    /// moment (`resign`).
    fn note_resign(&mut self, now: u64) -> Result<(), SignError> {
        resign::note_started(&self.state_dir, &self.apex, now)?;
        tracing::info!(zone = %self.apex, "dnssec: new keys: the zone is signed again in batches, one version each");
        self.resign = Some(Resign::default());
        Ok(())
    }

    /// Signs what `diff` changed in `zone` and the walk's next batch (see `resign`); at
    /// the walk's end, the apex's key RRsets as the key set says.
    fn sign_batch(&mut self, zone: &Zone, diff: &ZoneDiff, now: u64) -> Result<Signed, SignError> {
        let ctx = self.ctx(now);
        let (keys, held) = resign::walk_keys(zone, ctx.keys);
        let walk = Context { keys: &keys, ..ctx };
        let mut signed = signer::sign_changes(zone, diff, walk)?;
        let mut from = self.resign.clone().unwrap_or_default();
        let signers = resign::signers(&keys);
        if from.signers != signers {
            from = Resign {
                after: None,
                signers,
            };
        }
        let batch = resign::batch(&signed.zone, walk, &from, self.resign_batch)?;
        if !batch.txn.is_empty() {
            let applied = txn::apply(&signed.zone, &batch.txn)?;
            signed.diff = signed.diff.then(applied.diff);
            signed.zone = applied.zone;
        }
        tracing::debug!(zone = %self.apex, signatures = batch.signatures, done = batch.after.is_none(), "dnssec: a batch of the re-sign");
        match batch.after {
            Some(after) => {
                self.resign = Some(Resign {
                    after: Some(after),
                    ..from
                })
            }
            None => {
                if held {
                    // Every RRset carries the new algorithm's signatures: its DNSKEY
                    // goes in (RFC 6781 §4.1.4).
                    let empty = ZoneDiff {
                        old_serial: diff.new_serial,
                        new_serial: diff.new_serial,
                        removed: Vec::new(),
                        added: Vec::new(),
                    };
                    let apex = signer::sign_changes(&signed.zone, &empty, ctx)?;
                    signed.diff = signed.diff.then(apex.diff);
                    signed.zone = apex.zone;
                }
                tracing::info!(zone = %self.apex, "dnssec: the zone is signed again with the new keys");
                self.end_resign();
                self.next_refresh = 0;
                self.note_refresh(&signed.zone, now)?;
            }
        }
        Ok(signed)
    }

    /// The phase of the denial change to walk now, if any: the one under way, found
    /// again after a restart, or started when the zone holds another chain than the
    /// policy's. The keys may change too (the walk signs with the keys of the
    /// moment, `resign::walk_keys`); a zone signed by keys dnsd does not hold is
    /// signed whole instead (its walk, if any, forgotten).
    fn rechain_phase(&mut self, zone: &Zone, now: u64) -> Result<Option<Phase>, SignError> {
        if !self.signed_by_known_keys(zone) {
            self.end_rechain();
            return Ok(None);
        }
        if let Some(Rechain {
            phase: Some(phase), ..
        }) = &self.rechain
        {
            return Ok(Some(*phase));
        }
        let under_way = self.rechain.is_some();
        if !under_way && signer::chain_matches(zone, &self.policy) {
            return Ok(None);
        }
        match rechain::start(zone, &self.policy) {
            Some(phase) => {
                if !under_way {
                    rechain::note_started(&self.state_dir, &self.apex, now)?;
                    tracing::info!(zone = %self.apex, ?phase, "dnssec: a new denial of existence: its chain is built in batches beside the old one, one version each");
                }
                self.rechain = Some(Rechain {
                    phase: Some(phase),
                    after: None,
                });
                Ok(Some(phase))
            }
            None => {
                self.end_rechain();
                Ok(None)
            }
        }
    }

    /// Whether the SOA of `zone` is signed, and only by keys of the zone's key store
    /// (current or not): the zone's other RRsets are then signed by keys that the
    /// DNSKEY RRset the signer publishes still holds.
    fn signed_by_known_keys(&self, zone: &Zone) -> bool {
        let known = |f: RrsigFields| {
            self.keys
                .iter()
                .any(|k| k.tag == f.key_tag && k.pair.algorithm().number() == f.algorithm)
        };
        zone.apex_node()
            .rrsig(Rtype::SOA)
            .is_some_and(|s| s.rdatas().all(|r| RrsigFields::parse(r).is_some_and(known)))
    }

    /// Signs what `diff` changed in `zone`, keeping both chains as `phase` says, and
    /// the walk's next batch (see `rechain`); at a phase's end, the version that
    /// switches to the next one. Signed by the keys of the moment as a re-sign walk
    /// signs (`resign::walk_keys`: a new algorithm's DNSKEY waits for the re-sign
    /// that follows).
    fn sign_rechain(
        &mut self,
        zone: &Zone,
        diff: &ZoneDiff,
        phase: Phase,
        now: u64,
    ) -> Result<Signed, SignError> {
        let now_ctx = self.ctx(now);
        let (keys, _) = resign::walk_keys(zone, now_ctx.keys);
        let ctx = Context {
            keys: &keys,
            ..now_ctx
        };
        let mut signed = signer::sign_changes_in(zone, diff, ctx, phase.chains(&self.policy))?;
        let after = self.rechain.as_ref().and_then(|r| r.after.clone());
        let batch = rechain::batch(
            &signed.zone,
            ctx,
            &self.policy,
            phase,
            after.as_deref(),
            self.resign_batch,
        )?;
        if let Some((z, d)) = batch.applied {
            signed.diff = signed.diff.then(d);
            signed.zone = z;
        }
        tracing::debug!(zone = %self.apex, ?phase, done = batch.after.is_none(), "dnssec: a batch of the denial change");
        if batch.after.is_some() {
            self.rechain = Some(Rechain {
                phase: Some(phase),
                after: batch.after,
            });
            return Ok(signed);
        }
        let empty = ZoneDiff {
            old_serial: diff.new_serial,
            new_serial: diff.new_serial,
            removed: Vec::new(),
            added: Vec::new(),
        };
        // The next phase; at the last one's end, what the zone may still hold of
        // another chain (a change of policy made during the walk) goes too.
        let next = phase
            .next()
            .or_else(|| rechain::start(&signed.zone, &self.policy).filter(|p| *p != phase));
        match next {
            Some(next) => {
                // The switch, when there is one: what is served changes in this
                // version.
                let switch =
                    signer::sign_changes_in(&signed.zone, &empty, ctx, next.chains(&self.policy))?;
                signed.diff = signed.diff.then(switch.diff);
                signed.zone = switch.zone;
                tracing::info!(zone = %self.apex, ?next, "dnssec: the denial change moves on");
                self.rechain = Some(Rechain {
                    phase: Some(next),
                    after: None,
                });
            }
            None => {
                tracing::info!(zone = %self.apex, "dnssec: the denial change is done");
                self.end_rechain();
                self.next_refresh = 0;
                // New keys too: their walk (noted) goes on at the next commit.
                if self.resign.is_none() {
                    self.note_refresh(&signed.zone, now)?;
                }
            }
        }
        Ok(signed)
    }

    /// The phase of the denial change under way, if one is and is known yet.
    pub fn denial_phase(&self) -> Option<Phase> {
        self.rechain.as_ref().and_then(|r| r.phase)
    }

    /// Whether a walk re-signing the zone (or changing its denial) is under way: the
    /// zone wants another commit at once.
    pub fn resigning(&self) -> bool {
        self.resign.is_some() || self.rechain.is_some()
    }

    /// Claims the making of the walk's commits for the caller's thread (false: a walk
    /// is not under way, or another thread makes them).
    pub fn claim_resign(&mut self) -> bool {
        if !self.resigning() || self.resign_driven || !self.resign_in_background {
            return false;
        }
        self.resign_driven = true;
        true
    }

    /// Gives up the claim of [`Stage::claim_resign`].
    pub fn release_resign(&mut self) {
        self.resign_driven = false;
    }

    /// Forgets the denial change's walk (over, or replaced by a whole signing).
    fn end_rechain(&mut self) {
        if self.rechain.take().is_some() || rechain::was_started(&self.state_dir, &self.apex) {
            rechain::note_finished(&self.state_dir, &self.apex);
        }
    }

    /// Forgets the walk (over, or replaced by a whole signing).
    fn end_resign(&mut self) {
        if self.resign.take().is_some() || resign::was_started(&self.state_dir, &self.apex) {
            resign::note_finished(&self.state_dir, &self.apex);
        }
    }

    /// When the served version `zone` next needs the signer: now when it is not
    /// signed as the policy and keys say (a restart after a key or policy change, a
    /// key changed by `dnsd keys`), else when its first signature is due for refresh
    /// or the key timeline moves.
    pub fn due(&mut self, zone: &Zone, now: u64) -> u64 {
        if self.reload_if_changed() || self.resigning() {
            return now;
        }
        if self.next_key_event == 0 || self.key_set.zsks.is_empty() {
            return now;
        }
        if self.next_refresh == 0 {
            if signer::needs_full(zone, self.ctx(now)) {
                return now;
            }
            if self.note_refresh(zone, now).is_err() {
                return now;
            }
        }
        self.next_refresh.min(self.next_key_event)
    }

    /// Each key's state at `now`: role, algorithm, tag, state, and the next step with
    /// its time (`dnsd ctl status`, the metrics).
    pub fn status(&self, zone: &Zone, now: u64) -> Vec<KeyStatus> {
        let max = || max_ttl(zone);
        let env = self.env(zone, &max);
        key_statuses(&self.keys, &env, now)
    }

    /// Computes the next refresh time of a freshly signed version.
    fn note_refresh(&mut self, zone: &Zone, now: u64) -> Result<(), SignError> {
        let (_, next) = signer::refresh(zone, self.ctx(now))?;
        self.next_refresh = next.unwrap_or(now + 3600);
        Ok(())
    }
}

/// The keys folder's modification time (a rename into it changes it).
pub(super) fn keys_mtime(state_dir: &Path, apex: &Name) -> Option<SystemTime> {
    std::fs::metadata(store::zone_dir(state_dir, apex))
        .and_then(|m| m.modified())
        .ok()
}
