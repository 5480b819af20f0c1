//! The key timeline, a pure core driven by the time it is given: each key's times
//! (published, active, retired, removed; for key-signing keys, when the parent's DS
//! was seen), the automatic rollovers that move them, which keys sign and which are
//! published at a moment, and which key-signing keys the parent's DS set should hold
//! (the CDS and CDNSKEY RRsets, RFC 7344 §4, RFC 8078).
//!
//! Rollovers follow RFC 6781 §4.1 with RFC 7583's timings:
//! - ZSK (KSK+ZSK zones): pre-publication (RFC 6781 §4.1.1.1, RFC 7583 §3.2). The
//!   successor is published `Ipub = Dprp + TTLkey` before it signs; when it signs, the
//!   old key stops signing (the zone is signed again whole) and stays published until
//!   every signature it made has left the caches, `Dprp + TTLsig` later (the zone's
//!   largest TTL).
//! - KSK and CSK: double signature (RFC 6781 §4.1.2, RFC 7583 §3.3.2 double-KSK).
//!   The successor is published and signs at once (a CSK signs the whole zone beside
//!   the old one); once its DNSKEY has reached every cache (`Ipub`) it supersedes the
//!   old key in the CDS and CDNSKEY RRsets; when the parent's DS set holds its DS
//!   ("DS seen", checked by querying the parent, or told by `dnsd keys ds-seen`), the
//!   old key goes after the parent's DS TTL and the propagation delay — and, for a
//!   CSK, not before the data it double-signed has left the caches.
//!
//! - Algorithm (RFC 6781 §4.1.4, RFC 7583 §3.3.4; RFC 6840 §5.11): when the policy's
//!   algorithm changes, keys of the new algorithm are made, published and signing at
//!   once beside the old ones, so that every RRset is signed with both algorithms
//!   (the zone signed again whole). The old keys stay in the CDS and CDNSKEY RRsets
//!   until the new key-signing key's DNSKEY and the signatures of the new algorithm
//!   have reached every cache (`Dprp + max(TTLkey, TTLsig)`); then the new key's CDS
//!   replaces them, and once the parent's DS set holds it, every key of the old
//!   algorithm stops signing and leaves together after the parent's DS TTL and the
//!   propagation delay.
//!
//! Nothing here reads a clock, a file or the network: the signing stage (`stage`)
//! gives the time and makes the keys it asks for, so a test runs months in a loop.

use super::keys::Algorithm;
use super::policy::{KeyScheme, Policy, duration_text};

/// A key's times, in seconds since the epoch (0: since before anything mattered, as
/// for a key that was in use before dnsd kept times).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyTimes {
    /// Published in the DNSKEY RRset from.
    pub publish: u64,
    /// Signs from (while published and not retired).
    pub active: u64,
    /// Stops signing at.
    pub retire: Option<u64>,
    /// Leaves the DNSKEY RRset at.
    pub remove: Option<u64>,
    /// When the parent's DS set was seen to hold this key's DS (key-signing keys).
    pub ds_seen: Option<u64>,
    /// When a rollover of this key was asked for (`dnsd keys retire`).
    pub roll: Option<u64>,
}

/// One key on the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineKey {
    /// The key tag.
    pub tag: u16,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// A key-signing key (or CSK): the SEP flag.
    pub sep: bool,
    /// Its times.
    pub times: KeyTimes,
}

/// What the timeline needs to know of the zone besides the policy.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// The DNSKEY RRset's TTL.
    pub dnskey_ttl: u32,
    /// The largest TTL of the zone's signed RRsets (TTLsig), computed when needed.
    pub max_ttl: &'a dyn Fn() -> u32,
}

impl Env<'_> {
    /// RFC 7583 §3.2 Ipub: how long a new DNSKEY takes to reach every cache.
    pub fn ipub(&self) -> u64 {
        u64::from(self.policy.propagation_delay) + u64::from(self.dnskey_ttl)
    }

    /// How long signatures made until now stay in caches (RFC 7583 §3.2: Dprp +
    /// TTLsig, the zone signed again at once).
    fn iret(&self) -> u64 {
        u64::from(self.policy.propagation_delay) + u64::from((self.max_ttl)().max(self.dnskey_ttl))
    }
}

impl TimelineKey {
    /// Whether the key is in the DNSKEY RRset at `t`.
    pub fn published(&self, t: u64) -> bool {
        self.times.publish <= t && self.times.remove.is_none_or(|r| t < r)
    }

    /// Whether the key signs at `t`.
    pub fn signing(&self, t: u64) -> bool {
        self.published(t) && self.times.active <= t && self.times.retire.is_none_or(|r| t < r)
    }

    /// Whether its DNSKEY has reached every cache at `t`.
    fn ready(&self, t: u64, env: &Env<'_>) -> bool {
        self.times.publish.saturating_add(env.ipub()) <= t
    }
}

/// A key's state at a moment, as `dnsd keys list` and the status show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Not published yet.
    Created,
    /// Published, not signing yet (a pre-published ZSK).
    Published,
    /// Signing.
    Active,
    /// Published, no longer signing.
    Retired,
    /// Out of the DNSKEY RRset.
    Removed,
}

impl KeyState {
    /// The word shown.
    pub fn text(self) -> &'static str {
        match self {
            KeyState::Created => "created",
            KeyState::Published => "published",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Removed => "removed",
        }
    }
}

/// The state of `key` at `t`.
pub fn state(key: &TimelineKey, t: u64) -> KeyState {
    if key.times.remove.is_some_and(|r| r <= t) {
        KeyState::Removed
    } else if key.times.publish > t {
        KeyState::Created
    } else if key.signing(t) {
        KeyState::Active
    } else if key.times.retire.is_some_and(|r| r <= t) {
        KeyState::Retired
    } else {
        KeyState::Published
    }
}

/// Whether `key` takes part under the policy (its algorithm).
fn relevant(key: &TimelineKey, env: &Env<'_>) -> bool {
    key.algorithm == env.policy.algorithm
}

/// Whether `key` is in service at `t`: of the policy's algorithm, signing, and with no
/// retirement planned (a key a rollover may replace).
fn in_service(key: &TimelineKey, env: &Env<'_>, t: u64) -> bool {
    relevant(key, env) && key.signing(t) && key.times.retire.is_none()
}

/// Whether `newer` is a key-signing key of the policy published after `key`.
fn newer_sep(newer: &TimelineKey, key: &TimelineKey, env: &Env<'_>) -> bool {
    newer.sep && relevant(newer, env) && newer.times.publish > key.times.publish
}

/// Whether the key-signing key `i` has been superseded at `t` by a newer one whose
/// DNSKEY has reached every cache.
fn superseded(keys: &[TimelineKey], i: usize, t: u64, env: &Env<'_>) -> bool {
    let k = &keys[i];
    keys.iter()
        .enumerate()
        .any(|(j, n)| j != i && newer_sep(n, k, env) && n.signing(t) && n.ready(t, env))
}

/// Whether an older key-signing key than `i` (of any algorithm) signs at `t`.
fn older_sep(keys: &[TimelineKey], i: usize, t: u64) -> bool {
    keys.iter()
        .enumerate()
        .any(|(j, o)| j != i && o.sep && o.signing(t) && o.times.publish < keys[i].times.publish)
}

/// Whether a key-signing key of another algorithm than the policy's signs at `t`
/// with no retirement planned: an algorithm rollover is under way.
fn old_algorithm_sep(keys: &[TimelineKey], t: u64, env: &Env<'_>) -> bool {
    keys.iter()
        .any(|o| o.sep && !relevant(o, env) && o.signing(t) && o.times.retire.is_none())
}

/// Whether the parent may be asked for the DS of key-signing key `k` at `t`: its
/// DNSKEY has reached every cache and, in an algorithm rollover, so have the
/// signatures of its algorithm over the whole zone.
fn ds_ready(k: &TimelineKey, keys: &[TimelineKey], t: u64, env: &Env<'_>) -> bool {
    k.ready(t, env)
        && (!old_algorithm_sep(keys, t, env) || k.times.publish.saturating_add(env.iret()) <= t)
}

/// The key-signing keys whose DS the parent should publish at `t` (the CDS and
/// CDNSKEY RRsets): those that sign, are not superseded by a newer ready key, and are
/// not on their way out.
pub fn ds_wanted(keys: &[TimelineKey], t: u64, env: &Env<'_>) -> Vec<usize> {
    let wanted: Vec<usize> = (0..keys.len())
        .filter(|&i| {
            let k = &keys[i];
            k.sep
                && relevant(k, env)
                && k.signing(t)
                && k.times.retire.is_none()
                && !superseded(keys, i, t, env)
                // A successor's DS is asked for once its DNSKEY is in every cache.
                && (ds_ready(k, keys, t, env) || !older_sep(keys, i, t))
        })
        .collect();
    if !wanted.is_empty() {
        return wanted;
    }
    // An algorithm rollover whose new key is not ready yet: the old algorithm's DS.
    (0..keys.len())
        .filter(|&i| {
            let k = &keys[i];
            k.sep && !relevant(k, env) && k.signing(t) && k.times.retire.is_none()
        })
        .collect()
}

/// The key-signing keys whose DS the parent does not publish yet as far as dnsd
/// knows, and which a rollover waits for: wanted, not seen, and superseding an older
/// key.
pub fn awaiting_ds(keys: &[TimelineKey], t: u64, env: &Env<'_>) -> Vec<usize> {
    ds_wanted(keys, t, env)
        .into_iter()
        .filter(|&i| {
            keys[i].times.ds_seen.is_none() && relevant(&keys[i], env) && older_sep(keys, i, t)
        })
        .collect()
}

/// When a key (SEP or not) made at `now` is published: now, or a second after the
/// newest key of its kind when that one was published this very second (a policy
/// change or `dnsd keys retire` right after the zone's first key): a successor must be
/// newer than the key it replaces for the rollover to wait for its DS (`older_sep`).
fn successor_time(keys: &[TimelineKey], sep: bool, now: u64) -> u64 {
    keys.iter()
        .filter(|k| k.sep == sep)
        .map(|k| k.times.publish.saturating_add(1))
        .fold(now, u64::max)
}

/// What a step did, for the log: one line per change, with the time of the next one.
#[derive(Debug, Default)]
pub struct Step {
    /// What changed.
    pub log: Vec<String>,
    /// Whether a key's times changed or a key was made.
    pub changed: bool,
}

/// A key the timeline asks the caller to make: SEP or not, with its times.
pub type Generate<'a, E> = dyn FnMut(bool, KeyTimes) -> Result<TimelineKey, E> + 'a;

/// Moves the timeline to `now`: makes the keys a zone lacks, starts the rollovers
/// that are due (a key's lifetime is over, or `dnsd keys retire` asked), and sets the
/// times at which old keys stop signing and leave. Keys made are appended to `keys`.
pub fn step<E>(
    keys: &mut Vec<TimelineKey>,
    env: &Env<'_>,
    now: u64,
    generate: &mut Generate<'_, E>,
) -> Result<Step, E> {
    let mut out = Step::default();
    let policy = env.policy;
    let ipub = env.ipub();
    let role = |sep: bool| match (policy.scheme, sep) {
        (KeyScheme::Csk, _) => "CSK",
        (KeyScheme::KskZsk, true) => "KSK",
        (KeyScheme::KskZsk, false) => "ZSK",
    };
    let at = |t: u64| duration_text(t.saturating_sub(now));

    // The keys a zone lacks: a key-signing key (the CSK), and a ZSK under KSK+ZSK.
    let needs_zsk = policy.scheme == KeyScheme::KskZsk;
    for sep in [true, false] {
        if !sep && !needs_zsk {
            continue;
        }
        let has = keys.iter().any(|k| {
            k.sep == sep
                && relevant(k, env)
                && k.times.remove.is_none_or(|r| r > now)
                && k.times.retire.is_none_or(|r| r > now)
        });
        if !has {
            let rollover = keys.iter().any(|k| !relevant(k, env) && k.signing(now));
            let from = successor_time(keys, sep, now);
            let key = generate(
                sep,
                KeyTimes {
                    publish: from,
                    active: from,
                    ..KeyTimes::default()
                },
            )?;
            out.log.push(if rollover {
                format!(
                    "algorithm rollover to {}: {} {} made, published and signing beside the keys of the old algorithm (every RRset signed with both)",
                    policy.algorithm,
                    role(sep),
                    key.tag
                )
            } else {
                format!("{} {} made, published and signing", role(sep), key.tag)
            });
            keys.push(key);
            out.changed = true;
        }
    }

    // ZSK rollover by pre-publication.
    if needs_zsk {
        let count = keys.len();
        for i in 0..count {
            let k = &keys[i];
            if k.sep || !in_service(k, env, now) {
                continue;
            }
            let life = policy.zsk_lifetime;
            let due = k.times.roll.is_some()
                || (life > 0 && now >= (k.times.active + life).saturating_sub(ipub));
            let successor = keys
                .iter()
                .any(|n| !n.sep && relevant(n, env) && n.times.active > now);
            if !due || successor {
                continue;
            }
            let switch = now + ipub;
            let new = generate(
                false,
                KeyTimes {
                    publish: now,
                    active: switch,
                    ..KeyTimes::default()
                },
            )?;
            out.log.push(format!(
                "ZSK rollover: ZSK {} published; it signs, and ZSK {} stops signing, in {} (propagation delay + DNSKEY TTL)",
                new.tag,
                keys[i].tag,
                at(switch)
            ));
            keys[i].times.retire = Some(switch);
            keys[i].times.roll = None;
            keys.push(new);
            out.changed = true;
        }
    }
    // A retired ZSK leaves once the signatures it made have left the caches.
    for k in keys.iter_mut() {
        if !k.sep && k.times.remove.is_none() && k.times.retire.is_some_and(|r| r <= now) {
            let remove = now + env.iret();
            k.times.remove = Some(remove);
            out.log.push(format!(
                "ZSK {} no longer signs; it leaves the DNSKEY RRset in {} (propagation delay + largest TTL)",
                k.tag,
                at(remove)
            ));
            out.changed = true;
        }
    }

    // KSK and CSK rollover by double signature.
    let count = keys.len();
    for i in 0..count {
        let k = &keys[i];
        if !k.sep || !in_service(k, env, now) {
            continue;
        }
        let newer = keys
            .iter()
            .any(|n| newer_sep(n, k, env) && n.times.remove.is_none());
        if newer {
            continue;
        }
        let life = policy.ksk_lifetime;
        let due = k.times.roll.is_some() || (life > 0 && now >= k.times.active + life);
        if !due {
            continue;
        }
        let from = successor_time(keys, true, now);
        let new = generate(
            true,
            KeyTimes {
                publish: from,
                active: from,
                ..KeyTimes::default()
            },
        )?;
        out.log.push(format!(
            "{} rollover: {} {} published and signing beside {} {}; its CDS and CDNSKEY replace the old key's in {}, then dnsd waits for its DS at the parent",
            role(true),
            role(true),
            new.tag,
            role(true),
            keys[i].tag,
            at(now + ipub)
        ));
        keys[i].times.roll = None;
        keys.push(new);
        out.changed = true;
    }
    // An old key-signing key leaves once the parent's DS set holds its successor's DS
    // and the old DS has left the caches.
    let count = keys.len();
    for i in 0..count {
        let k = &keys[i];
        if !k.sep || !in_service(k, env, now) {
            continue;
        }
        let successor = keys.iter().find(|n| {
            newer_sep(n, k, env) && n.signing(now) && n.ready(now, env) && n.times.ds_seen.is_some()
        });
        let Some(n) = successor else { continue };
        let seen = n.times.ds_seen.unwrap_or(now);
        let mut leave =
            seen + u64::from(policy.parent_ds_ttl) + u64::from(policy.propagation_delay);
        if policy.scheme == KeyScheme::Csk {
            // The data signed by the old CSK alone before the successor came.
            leave = leave.max(n.times.publish + env.iret());
        }
        let leave = leave.max(now);
        let (old, new) = (keys[i].tag, n.tag);
        keys[i].times.retire = Some(leave);
        keys[i].times.remove = Some(leave);
        out.log.push(format!(
            "{} rollover: the parent publishes the DS of {} {new}; {} {old} stops signing and leaves in {} (parent DS TTL + propagation delay)",
            role(true),
            role(true),
            role(true),
            at(leave)
        ));
        out.changed = true;
    }

    // Algorithm rollover: once the parent's DS set holds the DS of a key-signing key
    // of the new algorithm, every key of the old one stops signing and leaves, after
    // the parent's DS TTL and the propagation delay (and not before the signatures of
    // the new algorithm are in every cache).
    let successor = keys
        .iter()
        .filter(|n| n.sep && relevant(n, env) && n.signing(now) && n.times.ds_seen.is_some())
        .filter(|n| n.ready(now, env))
        .map(|n| (n.tag, n.times.ds_seen.unwrap_or(now), n.times.publish))
        .next();
    if let Some((new, seen, published)) = successor
        && keys
            .iter()
            .any(|k| !relevant(k, env) && k.signing(now) && k.times.retire.is_none())
    {
        let leave = (seen + u64::from(policy.parent_ds_ttl) + u64::from(policy.propagation_delay))
            .max(published + env.iret())
            .max(now);
        let mut old = Vec::new();
        for k in keys.iter_mut() {
            if !relevant(k, env) && k.times.remove.is_none() {
                k.times.retire = Some(k.times.retire.map_or(leave, |r| r.min(leave)));
                k.times.remove = Some(leave);
                old.push(k.tag.to_string());
            }
        }
        out.log.push(format!(
            "algorithm rollover: the parent publishes the DS of {} {new}; the keys of the old algorithm ({}) stop signing and leave in {} (parent DS TTL + propagation delay)",
            role(true),
            old.join(", "),
            at(leave)
        ));
        out.changed = true;
    }

    // `dnsd keys retire` of a key no rollover covers (a spare ZSK of a CSK zone, a key
    // of another algorithm): it stops signing now and leaves once its signatures have
    // left the caches. A key a rollover already replaces just forgets the request.
    for k in keys.iter_mut() {
        if k.times.roll.is_none() {
            continue;
        }
        let spare = !relevant(k, env) || (!k.sep && !needs_zsk);
        if spare && k.times.remove.is_none() {
            let remove = now + env.iret();
            k.times.retire = Some(k.times.retire.map_or(now, |r| r.min(now)));
            k.times.remove = Some(remove);
            out.log.push(format!(
                "key {} retired by request; it leaves the DNSKEY RRset in {}",
                k.tag,
                at(remove)
            ));
        }
        if spare || k.times.retire.is_some() || k.times.remove.is_some() || !k.signing(now) {
            k.times.roll = None;
            out.changed = true;
        }
    }
    Ok(out)
}

/// The next moment after `now` at which the timeline changes by itself (a key
/// starts or stops signing, leaves, becomes ready for its DS, or its lifetime ends).
pub fn next_event(keys: &[TimelineKey], env: &Env<'_>, now: u64) -> Option<u64> {
    let policy = env.policy;
    let ipub = env.ipub();
    let mut times = Vec::new();
    let rollover = old_algorithm_sep(keys, now, env);
    for k in keys {
        let t = &k.times;
        times.extend([Some(t.publish), Some(t.active), t.retire, t.remove]);
        if !relevant(k, env) {
            continue;
        }
        times.push(Some(t.publish + ipub));
        if rollover && k.sep {
            times.push(Some(t.publish + env.iret()));
        }
        if k.signing(now) && t.retire.is_none() {
            if k.sep && policy.ksk_lifetime > 0 {
                times.push(Some(t.active + policy.ksk_lifetime));
            }
            if !k.sep && policy.scheme == KeyScheme::KskZsk && policy.zsk_lifetime > 0 {
                times.push(Some((t.active + policy.zsk_lifetime).saturating_sub(ipub)));
            }
        }
    }
    times.into_iter().flatten().filter(|&t| t > now).min()
}

/// What a key is waiting for at `t` and when, for `dnsd keys list` and the status:
/// the next step of its life, or None.
pub fn next_step(
    keys: &[TimelineKey],
    i: usize,
    env: &Env<'_>,
    t: u64,
) -> Option<(String, Option<u64>)> {
    let k = &keys[i];
    let policy = env.policy;
    let times = &k.times;
    if !relevant(k, env) && times.remove.is_none() && k.signing(t) {
        return Some((
            "algorithm rollover: leaves once the new algorithm's DS is at the parent".into(),
            None,
        ));
    }
    if !relevant(k, env) && times.remove.is_none() && !k.published(t) {
        return Some(("not the policy's algorithm: not published".into(), None));
    }
    match state(k, t) {
        KeyState::Removed => None,
        KeyState::Created => Some(("published".into(), Some(times.publish))),
        KeyState::Published => Some(("signing".into(), Some(times.active))),
        KeyState::Retired => Some(("removed".into(), times.remove)),
        KeyState::Active => {
            if let Some(r) = times.retire {
                return Some(("retired".into(), Some(r)));
            }
            if awaiting_ds(keys, t, env).contains(&i) {
                return Some(("its DS at the parent (CDS published)".into(), None));
            }
            if k.sep
                && !ds_ready(k, keys, t, env)
                && keys.iter().any(|o| o.sep && o.tag != k.tag && o.signing(t))
            {
                let wait = if old_algorithm_sep(keys, t, env) {
                    env.ipub().max(env.iret())
                } else {
                    env.ipub()
                };
                return Some(("CDS and CDNSKEY".into(), Some(times.publish + wait)));
            }
            let life = if k.sep {
                policy.ksk_lifetime
            } else if policy.scheme == KeyScheme::KskZsk {
                policy.zsk_lifetime
            } else {
                0
            };
            if life > 0 {
                let roll = if k.sep {
                    times.active + life
                } else {
                    (times.active + life).saturating_sub(env.ipub())
                };
                return Some(("rollover".into(), Some(roll)));
            }
            None
        }
    }
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;
