//! The key commands (`dnsd keys list|generate`, `dnsd ds`): they read the
//! configuration for the state folder and each zone's policy, and work on the key
//! store (`store`) directly; a running dnsd uses a new key after a restart.

use super::keys::{DIGEST_SHA256, FLAG_SEP};
use super::policy::{KeyScheme, Policy};
use super::store;
use crate::config::Config;
use crate::wire::name::Name;

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

/// `dnsd keys list [ZONE...]`: one line per key: zone, tag, algorithm, role, flags,
/// file. Without zones, every zone the configuration signs.
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
        for key in keys {
            let state = if key.pair.algorithm() == policy.algorithm {
                "active"
            } else {
                "inactive (not the policy's algorithm)"
            };
            lines.push(format!(
                "{apex} {} {} {} flags={} {state} {}",
                key.tag,
                key.pair.algorithm(),
                key.role(policy.scheme),
                key.flags,
                key.path.display()
            ));
        }
    }
    Ok(lines)
}

/// `dnsd keys generate ZONE [--ksk|--zsk]`: a new key of the zone's algorithm (a
/// key-signing key under CSK or with `ksk`); the line describing it.
pub fn keys_generate(config: &Config, zone: &str, zsk: bool) -> Result<String, String> {
    let apex = zone_name(zone)?;
    let (policy, _) = policy_of(config, &apex);
    let sep = !zsk || policy.scheme == KeyScheme::Csk;
    let key = store::generate(&config.state_dir, &apex, policy.algorithm, sep)
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
    let keys: Vec<_> = keys
        .into_iter()
        .filter(|k| k.pair.algorithm() == policy.algorithm && k.flags & FLAG_SEP != 0)
        .collect();
    if keys.is_empty() {
        return Err(format!(
            "{apex}: no key-signing key in {} (dnsd makes them when it first serves the zone signed; or `dnsd keys generate {apex}`)",
            store::zone_dir(&config.state_dir, &apex).display()
        ));
    }
    Ok(store::ds_records(&apex, &keys)
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
