//! The key commands (`dnsd keys list|generate|import|retire|ds-seen`, `dnsd ds`):
//! they read the configuration for the state folder and each zone's policy, and work
//! on the key store (`store`) directly; a running dnsd sees the change within a
//! minute (its signing timer watches the keys folder).

use std::path::{Path, PathBuf};

use super::keys::DIGEST_SHA256;
use super::policy::{KeyScheme, Policy};
use super::status::key_lines;
use super::store::{self, StoredKey};
use super::timeline::{self, Env, KeyTimes, TimelineKey};
use crate::config::Config;
use crate::wire::name::Name;

fn now() -> u64 {
    crate::manager::unix_now()
}

/// The timeline's view of a zone from the command line: the DNSKEY TTL the policy
/// sets (or an hour, the usual SOA TTL), the largest TTL unknown (a day).
fn env(policy: &Policy) -> Env<'_> {
    Env {
        policy,
        dnskey_ttl: policy.dnskey_ttl.unwrap_or(3600),
        max_ttl: &|| 86_400,
    }
}

fn zone_name(text: &str) -> Result<Name, String> {
    let text = if text.ends_with('.') {
        text.to_string()
    } else {
        format!("{text}.")
    };
    Name::from_text(&text, None)
        .map(|n| n.to_lowercase())
        .map_err(|e| format!("{text}: not a zone name: {e}"))
}

/// The zone's policy, or the default one for a zone the configuration does not sign
/// (said on standard error by the caller).
fn policy_of(config: &Config, apex: &Name) -> (Policy, bool) {
    match config.zone_options(apex).dnssec {
        Some(p) => (p, true),
        None => (Policy::default(), false),
    }
}

/// `dnsd keys list [ZONE...]`: one line per key: zone, tag, algorithm, role, state,
/// (`cds` when the parent's DS set should hold it), the next step and its time,
/// flags, file. Without zones, every zone the configuration signs.
pub fn keys_list(config: &Config, zones: &[String]) -> Result<Vec<String>, String> {
    let apexes: Vec<Name> = if zones.is_empty() {
        let mut all: Vec<Name> = config
            .zones
            .iter()
            .filter(|(_, o)| o.dnssec.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        if config.zone_defaults.dnssec.is_some() {
            // Zones named by their files: those with keys in the state folder.
            if let Ok(entries) = std::fs::read_dir(config.state_dir.join("keys")) {
                for entry in entries.flatten() {
                    if let Ok(name) = zone_name(&entry.file_name().to_string_lossy())
                        && !all.contains(&name)
                    {
                        all.push(name);
                    }
                }
            }
        }
        all.sort();
        all
    } else {
        zones
            .iter()
            .map(|z| zone_name(z))
            .collect::<Result<_, _>>()?
    };
    let mut lines = Vec::new();
    for apex in apexes {
        let (policy, _) = policy_of(config, &apex);
        let keys = store::load(&config.state_dir, &apex).map_err(|e| e.to_string())?;
        if keys.is_empty() {
            lines.push(format!("{apex} no keys"));
        }
        let env = env(&policy);
        for (key, line) in keys.iter().zip(key_lines(&keys, &env, now())) {
            lines.push(format!(
                "{apex} {line} flags={} {}",
                key.flags,
                key.path.display()
            ));
        }
    }
    Ok(lines)
}

/// `dnsd keys generate ZONE [--zsk]`: a new key of the zone's algorithm (a
/// key-signing key under CSK or without `zsk`), published and signing now: beside
/// the zone's other keys, it starts a rollover by hand (the timeline retires the
/// older key of its role once that is safe). The line describing it.
pub fn keys_generate(config: &Config, zone: &str, zsk: bool) -> Result<String, String> {
    let apex = zone_name(zone)?;
    let (policy, _) = policy_of(config, &apex);
    let sep = !zsk || policy.scheme == KeyScheme::Csk;
    let t = now();
    let times = KeyTimes {
        publish: t,
        active: t,
        ..KeyTimes::default()
    };
    let key = store::generate(&config.state_dir, &apex, policy.algorithm, sep, times)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "{apex} {} {} {} flags={} {}",
        key.tag,
        key.pair.algorithm(),
        key.role(policy.scheme),
        key.flags,
        key.path.display()
    ))
}

/// `dnsd ds ZONE`: the DS records (SHA-256) of the zone's key-signing keys of its
/// policy's algorithm, in presentation format: what to give the registrar.
pub fn ds(config: &Config, zone: &str) -> Result<Vec<String>, String> {
    let apex = zone_name(zone)?;
    let (policy, _) = policy_of(config, &apex);
    let keys = store::load(&config.state_dir, &apex).map_err(|e| e.to_string())?;
    // The keys the parent's DS set should hold now (as the CDS RRset says).
    let line: Vec<TimelineKey> = keys.iter().map(StoredKey::timeline).collect();
    let wanted = timeline::ds_wanted(&line, now(), &env(&policy));
    let keys: Vec<StoredKey> = wanted.into_iter().map(|i| keys[i].clone()).collect();
    if keys.is_empty() {
        return Err(format!(
            "{apex}: no key-signing key in {} (dnsd makes them when it first serves the zone signed; or `dnsd keys generate {apex}`)",
            store::zone_dir(&config.state_dir, &apex).display()
        ));
    }
    Ok(super::keyset::ds_records(&apex, &keys)
        .into_iter()
        .map(|(tag, rdata)| {
            let hex: String = rdata[4..].iter().map(|b| format!("{b:02X}")).collect();
            format!(
                "{apex} IN DS {tag} {} {DIGEST_SHA256} {hex}",
                policy.algorithm.number()
            )
        })
        .collect())
}

/// The `.private` file a command names: `Kzone.+alg+tag`, with `.key` or `.private`.
fn private_path(file: &Path) -> PathBuf {
    let text = file.as_os_str().to_string_lossy();
    let base = text
        .strip_suffix(".key")
        .or_else(|| text.strip_suffix(".private"))
        .unwrap_or(&text);
    PathBuf::from(format!("{base}.private"))
}

/// `dnsd keys import ZONE FILE...`: keys in BIND's format (`dnssec-keygen`, Knot's
/// `keymgr`), each `K<zone>.+<alg>+<tag>.key` beside its `.private`, copied into
/// the store as keys the zone already uses (published and signing since before,
/// their DS at the parent): a zone moves from BIND or Knot without a rollover. Import
/// before dnsd first signs the zone, or retire the keys it made. One line per key.
pub fn keys_import(config: &Config, zone: &str, files: &[PathBuf]) -> Result<Vec<String>, String> {
    let apex = zone_name(zone)?;
    let (policy, _) = policy_of(config, &apex);
    let existing = store::load(&config.state_dir, &apex).map_err(|e| e.to_string())?;
    let mut lines = Vec::new();
    for file in files {
        let private = private_path(file);
        let key = store::read_foreign(&private, &apex).map_err(|e| e.to_string())?;
        if existing
            .iter()
            .any(|k| k.tag == key.tag && k.pair.algorithm() == key.pair.algorithm())
        {
            return Err(format!(
                "{}: key {} is already in the store",
                private.display(),
                key.tag
            ));
        }
        // Published since before (no wait for caches), signing from now (its
        // lifetime counts from the import), its DS at the parent.
        let times = KeyTimes {
            publish: 0,
            active: now(),
            ds_seen: (key.flags & super::keys::FLAG_SEP != 0).then_some(0),
            ..KeyTimes::default()
        };
        let flags = key.flags;
        let pair = std::sync::Arc::try_unwrap(key.pair).map_err(|_| "key in use".to_string())?;
        let stored =
            store::save(&config.state_dir, &apex, pair, flags, times).map_err(|e| e.to_string())?;
        lines.push(format!(
            "{apex} {} {} {} flags={} imported {}",
            stored.tag,
            stored.pair.algorithm(),
            stored.role(policy.scheme),
            stored.flags,
            stored.path.display()
        ));
    }
    Ok(lines)
}

/// The stored key `tag` of `zone`.
fn stored_key(config: &Config, apex: &Name, tag: &str) -> Result<StoredKey, String> {
    let tag: u16 = tag
        .parse()
        .map_err(|_| format!("{tag:?}: not a key tag (0-65535)"))?;
    store::load(&config.state_dir, apex)
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|k| k.tag == tag)
        .ok_or_else(|| {
            format!(
                "{apex}: no key {tag} in {}",
                store::zone_dir(&config.state_dir, apex).display()
            )
        })
}

/// `dnsd keys retire ZONE TAG`: the key goes, safely: a zone's current key is rolled
/// (a successor made and the old key retired as a rollover does, waiting for the
/// parent's DS for a KSK or CSK); a spare key stops signing now and leaves once its
/// signatures have left the caches.
pub fn keys_retire(config: &Config, zone: &str, tag: &str) -> Result<String, String> {
    let apex = zone_name(zone)?;
    let mut key = stored_key(config, &apex, tag)?;
    key.times.roll = Some(now());
    store::save_times(&key).map_err(|e| e.to_string())?;
    Ok(format!("{apex} {} retire asked", key.tag))
}

/// `dnsd keys ds-seen ZONE TAG`: the parent publishes the DS of key TAG (for zones
/// whose policy names no `parent-resolvers` to ask): a KSK or CSK rollover goes on.
pub fn keys_ds_seen(config: &Config, zone: &str, tag: &str) -> Result<String, String> {
    let apex = zone_name(zone)?;
    let mut key = stored_key(config, &apex, tag)?;
    key.times.ds_seen = Some(now());
    store::save_times(&key).map_err(|e| e.to_string())?;
    Ok(format!("{apex} {} ds-seen", key.tag))
}

/// `dnsd keys ds-gone ZONE`: the parent publishes no DS for a zone going insecure
/// (signing turned off, `withdraw`; for zones whose policy names no
/// `parent-resolvers` to ask): the zone is unsigned once that DS has left the caches.
pub fn keys_ds_gone(config: &Config, zone: &str) -> Result<String, String> {
    let apex = zone_name(zone)?;
    if config.zone_options(&apex).dnssec.is_some() {
        return Err(format!(
            "{apex} is signed by the configuration: ds-gone is for a zone whose signing is turned off"
        ));
    }
    let mut w = super::withdraw::load(&config.state_dir, &apex)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{apex} is not going insecure (no withdraw.state)"))?;
    if w.ds_gone.is_none() {
        w.ds_gone = Some(now());
        super::withdraw::save(&config.state_dir, &apex, &w).map_err(|e| e.to_string())?;
    }
    Ok(format!("{apex} ds-gone"))
}
