//! Each key's state at a moment, as operators see it: `dnsd keys list` (from the
//! state folder), `dnsd ctl status` (one `key ...` line per key of each signed zone,
//! from the running signer) and the metrics (`dnsd_dnssec_key_state`,
//! `dnsd_dnssec_key_next_step_timestamp_seconds`). A key's role, algorithm, tag,
//! state on its timeline (RFC 7583 §3: published, active, retired, removed), whether
//! the CDS/CDNSKEY RRsets ask the parent for its DS (RFC 7344 §4), when the parent's
//! DS was seen, and its next step with the time it is due.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use super::keys::Algorithm;
use super::policy::time_text;
use super::store::StoredKey;
use super::timeline::{self, Env, KeyState, TimelineKey};
use crate::manager::{Clock, Manager};
use crate::metrics::{Render, escape_label};

/// One key's state at a moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyStatus {
    /// The key tag.
    pub tag: u16,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// "CSK", "KSK" or "ZSK" under the zone's policy.
    pub role: &'static str,
    /// Where the key is on its timeline.
    pub state: KeyState,
    /// Whether the CDS and CDNSKEY RRsets ask the parent for its DS.
    pub cds: bool,
    /// When the parent's DS set was seen to hold its DS.
    pub ds_seen: Option<u64>,
    /// Its next step, and when it is due (None: when something else happens, such as
    /// the parent publishing its DS).
    pub next: Option<(String, Option<u64>)>,
}

impl KeyStatus {
    /// The line `dnsd keys list` and `dnsd ctl status` show at `now`: `TAG ALGORITHM
    /// ROLE STATE [cds] [ds-seen=TIME] [next: WHAT at TIME (in DURATION)]`.
    pub fn line(&self, now: u64) -> String {
        let mut text = format!(
            "{} {} {} {}",
            self.tag,
            self.algorithm,
            self.role,
            self.state.text()
        );
        if self.cds {
            text.push_str(" cds");
        }
        if let Some(seen) = self.ds_seen {
            let _ = write!(text, " ds-seen={}", time_text(seen));
        }
        match &self.next {
            Some((what, Some(at))) => {
                let _ = write!(
                    text,
                    " next: {what} at {} (in {})",
                    time_text(*at),
                    approx_duration(at.saturating_sub(now))
                );
            }
            Some((what, None)) => {
                let _ = write!(text, " next: {what}");
            }
            None => {}
        }
        text
    }
}

/// A duration in its two largest units, rounded down ("364d23h", "1h59m", "42s").
pub fn approx_duration(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) if s == 0 => format!("{m}m"),
        (0, 0, _) => format!("{m}m{s}s"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h{m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d{h}h"),
    }
}

/// The state of each of `keys` at `now`.
pub fn key_statuses(keys: &[StoredKey], env: &Env<'_>, now: u64) -> Vec<KeyStatus> {
    let line: Vec<TimelineKey> = keys.iter().map(StoredKey::timeline).collect();
    let cds = timeline::ds_wanted(&line, now, env);
    keys.iter()
        .enumerate()
        .map(|(i, key)| KeyStatus {
            tag: key.tag,
            algorithm: key.pair.algorithm(),
            role: key.role(env.policy.scheme),
            state: timeline::state(&line[i], now),
            cds: cds.contains(&i) && env.policy.publish_cds,
            ds_seen: key.times.ds_seen,
            next: timeline::next_step(&line, i, env, now),
        })
        .collect()
}

/// One line per key at `now` (`KeyStatus::line`).
pub fn key_lines(keys: &[StoredKey], env: &Env<'_>, now: u64) -> Vec<String> {
    key_statuses(keys, env, now)
        .iter()
        .map(|k| k.line(now))
        .collect()
}

/// The key states of every signed zone, rendered into the metrics. A scrape never
/// waits for a zone's writer (which may be signing a large zone whole): a zone whose
/// writer is busy shows the states of the scrape before.
pub struct KeyMetrics {
    manager: Arc<Manager>,
    clock: Clock,
    last: Mutex<HashMap<String, Vec<KeyStatus>>>,
}

impl KeyMetrics {
    /// The key states of `manager`'s zones at the time `clock` gives.
    pub fn new(manager: Arc<Manager>, clock: Clock) -> Self {
        Self {
            manager,
            clock,
            last: Mutex::new(HashMap::new()),
        }
    }
}

impl Render for KeyMetrics {
    fn render(&self, out: &mut String) {
        let now = (self.clock)();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let mut zones: Vec<(String, Vec<KeyStatus>)> = Vec::new();
        for zone in self.manager.zones() {
            let apex = zone.apex().to_string();
            match zone.try_with_signer(|stage, z| stage.status(z, now)) {
                Some(Some(keys)) => {
                    last.insert(apex.clone(), keys.clone());
                    zones.push((apex, keys));
                }
                // Busy: what the scrape before saw.
                None => {
                    if let Some(keys) = last.get(&apex) {
                        zones.push((apex, keys.clone()));
                    }
                }
                // Not signed, or not loaded.
                Some(None) => {
                    last.remove(&apex);
                }
            }
        }
        drop(last);
        zones.sort_by(|a, b| a.0.cmp(&b.0));
        let _ = writeln!(
            out,
            "# HELP dnsd_dnssec_key_state Each DNSSEC key of a signed zone, labelled with its role, algorithm, tag and state (1)."
        );
        let _ = writeln!(out, "# TYPE dnsd_dnssec_key_state gauge");
        for (apex, keys) in &zones {
            for k in keys {
                let _ = writeln!(
                    out,
                    "dnsd_dnssec_key_state{{zone=\"{}\",tag=\"{}\",algorithm=\"{}\",role=\"{}\",state=\"{}\"}} 1",
                    escape_label(apex),
                    k.tag,
                    k.algorithm,
                    k.role,
                    k.state.text()
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP dnsd_dnssec_key_next_step_timestamp_seconds When a key's next step is due (seconds since the epoch), labelled with the step."
        );
        let _ = writeln!(
            out,
            "# TYPE dnsd_dnssec_key_next_step_timestamp_seconds gauge"
        );
        for (apex, keys) in &zones {
            for k in keys {
                if let Some((what, Some(at))) = &k.next {
                    let _ = writeln!(
                        out,
                        "dnsd_dnssec_key_next_step_timestamp_seconds{{zone=\"{}\",tag=\"{}\",step=\"{}\"}} {at}",
                        escape_label(apex),
                        k.tag,
                        escape_label(what)
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::approx_duration;

    #[test]
    fn durations_show_their_two_largest_units() {
        assert_eq!(approx_duration(42), "42s");
        assert_eq!(approx_duration(120), "2m");
        assert_eq!(approx_duration(7199), "1h59m");
        assert_eq!(approx_duration(7200), "2h");
        assert_eq!(approx_duration(365 * 86_400 - 1), "364d23h");
        assert_eq!(approx_duration(30 * 86_400 + 59), "30d");
    }
}
