//! Counters of the reloader, per zone, for the metrics endpoint. Reloads are not the
//! query path: one mutex, taken once per zone load, is cheap enough.
//!
//! Series ([`ReloadStats::render`], Prometheus text format 0.0.4):
//! - `dnsd_zone_reloads_total{zone}`: loads that succeeded, changed or not;
//! - `dnsd_zone_reload_errors_total{zone}`: loads that failed (parse or check errors,
//!   a serial the `keep` policy cannot serve, journal or state files not written);
//!   errors that belong to no zone (an unreadable zones folder) count under `zone=""`;
//! - `dnsd_zone_changes_total{zone}`: loads that changed the zone (one diff each);
//! - `dnsd_zone_diff_records_total{zone,op="removed"|"added"}`: records in those diffs;
//! - `dnsd_zone_served_serial{zone}`: the serial served (zones being served only);
//! - `dnsd_zone_transactions_total{zone,source,result="committed"|"refused"}`:
//!   transactions submitted to the zone's manager by each source other than the file
//!   (control socket, updates, containers, transfers), by outcome;
//! - `dnsd_zone_images_written_total{zone}`, `dnsd_zone_image_errors_total{zone}`: the
//!   zone's images written to the state folder, and those that could not be.
//! - `dnsd_zone_compactions_total{zone}`: copies of the zone into a fresh arena, which
//!   free the nodes that earlier versions replaced (`Zone::compaction_due`).
//! - `dnsd_zone_unsaved{zone}`: 1 while a change of the zone's file could not be made
//!   durable in the state folder (a full disk) and is being retried, else 0.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard};

/// The counters of one zone.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ZoneStats {
    /// The serial served; None when the zone is not served.
    pub serial: Option<u32>,
    /// Successful loads.
    pub reloads: u64,
    /// Failed loads.
    pub reload_errors: u64,
    /// Loads that changed the zone.
    pub changes: u64,
    /// Records removed, summed over the changes.
    pub records_removed: u64,
    /// Records added, summed over the changes.
    pub records_added: u64,
    /// Transactions by source: (committed, refused).
    pub transactions: BTreeMap<String, (u64, u64)>,
    /// Images written to the state folder.
    pub images_written: u64,
    /// Images that could not be written.
    pub image_errors: u64,
    /// A change could not be saved and is being retried.
    pub unsaved: bool,
    /// Copies of the zone into a fresh arena.
    pub compactions: u64,
}

/// Every zone's counters, by zone name (apex with its final dot).
#[derive(Debug, Default)]
pub struct ReloadStats {
    zones: Mutex<BTreeMap<String, ZoneStats>>,
}

impl ReloadStats {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, ZoneStats>> {
        // A panic elsewhere while counting leaves the counters usable.
        self.zones.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with(&self, zone: &str, f: impl FnOnce(&mut ZoneStats)) {
        let mut zones = self.lock();
        match zones.get_mut(zone) {
            Some(stats) => f(stats),
            None => f(zones.entry(zone.to_string()).or_default()),
        }
    }

    pub(crate) fn count_reload(&self, zone: &str) {
        self.with(zone, |s| s.reloads += 1);
    }

    pub(crate) fn count_error(&self, zone: Option<&str>) {
        self.with(zone.unwrap_or(""), |s| s.reload_errors += 1);
    }

    pub(crate) fn count_change(&self, zone: &str, serial: u32, removed: usize, added: usize) {
        self.with(zone, |s| {
            s.changes += 1;
            s.serial = Some(serial);
            s.records_removed += removed as u64;
            s.records_added += added as u64;
        });
    }

    pub(crate) fn count_transaction(&self, zone: &str, source: &str, committed: bool) {
        self.with(zone, |s| {
            let (ok, refused) = s.transactions.entry(source.to_string()).or_default();
            *if committed { ok } else { refused } += 1;
        });
    }

    pub(crate) fn count_image(&self, zone: &str, written: bool) {
        self.with(zone, |s| {
            *if written {
                &mut s.images_written
            } else {
                &mut s.image_errors
            } += 1;
        });
    }

    pub(crate) fn count_compaction(&self, zone: &str) {
        self.with(zone, |s| s.compactions += 1);
    }

    pub(crate) fn set_serial(&self, zone: &str, serial: u32) {
        self.with(zone, |s| s.serial = Some(serial));
    }

    pub(crate) fn set_unsaved(&self, zone: &str, unsaved: bool) {
        self.with(zone, |s| s.unsaved = unsaved);
    }

    pub(crate) fn zone_removed(&self, zone: &str) {
        self.with(zone, |s| s.serial = None);
    }

    /// A copy of every zone's counters.
    pub fn zones(&self) -> BTreeMap<String, ZoneStats> {
        self.lock().clone()
    }

    /// The counters of one zone (zeros if it never loaded).
    pub fn zone(&self, zone: &str) -> ZoneStats {
        self.lock().get(zone).cloned().unwrap_or_default()
    }

    /// Appends the series to `out` in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let zones = self.zones();
        let series: [Series; 8] = [
            (
                "dnsd_zone_reloads_total",
                "counter",
                "Zone loads that succeeded.",
                |s| Some(s.reloads),
            ),
            (
                "dnsd_zone_reload_errors_total",
                "counter",
                "Zone loads that failed.",
                |s| Some(s.reload_errors),
            ),
            (
                "dnsd_zone_changes_total",
                "counter",
                "Zone loads that changed the zone.",
                |s| Some(s.changes),
            ),
            (
                "dnsd_zone_served_serial",
                "gauge",
                "SOA serial served.",
                |s| s.serial.map(u64::from),
            ),
            (
                "dnsd_zone_images_written_total",
                "counter",
                "Zone images written to the state folder.",
                |s| Some(s.images_written),
            ),
            (
                "dnsd_zone_image_errors_total",
                "counter",
                "Zone images that could not be written.",
                |s| Some(s.image_errors),
            ),
            (
                "dnsd_zone_compactions_total",
                "counter",
                "Copies of the zone into a fresh arena, freeing what earlier versions replaced.",
                |s| Some(s.compactions),
            ),
            (
                "dnsd_zone_unsaved",
                "gauge",
                "1 while a change could not be saved in the state folder and is retried.",
                |s| Some(u64::from(s.unsaved)),
            ),
        ];
        for (name, kind, help, value) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (zone, stats) in &zones {
                if let Some(v) = value(stats) {
                    let _ = writeln!(out, "{name}{{zone=\"{}\"}} {v}", escape(zone));
                }
            }
        }
        let name = "dnsd_zone_diff_records_total";
        let _ = writeln!(
            out,
            "# HELP {name} Records in zone diffs.\n# TYPE {name} counter"
        );
        for (zone, stats) in &zones {
            for (op, v) in [
                ("removed", stats.records_removed),
                ("added", stats.records_added),
            ] {
                let _ = writeln!(out, "{name}{{zone=\"{}\",op=\"{op}\"}} {v}", escape(zone));
            }
        }
        let name = "dnsd_zone_transactions_total";
        let _ = writeln!(
            out,
            "# HELP {name} Transactions submitted by sources other than the zone file.\n# TYPE {name} counter"
        );
        for (zone, stats) in &zones {
            for (source, (committed, refused)) in &stats.transactions {
                for (result, v) in [("committed", committed), ("refused", refused)] {
                    let _ = writeln!(
                        out,
                        "{name}{{zone=\"{}\",source=\"{}\",result=\"{result}\"}} {v}",
                        escape(zone),
                        escape(source)
                    );
                }
            }
        }
    }
}

/// Name, type, help and value of one series.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ZoneStats) -> Option<u64>,
);

/// A label value: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_series() {
        let stats = ReloadStats::default();
        stats.count_reload("example.org.");
        stats.count_change("example.org.", 7, 2, 3);
        stats.count_error(Some("example.org."));
        stats.count_error(None);
        stats.count_transaction("example.org.", "control", true);
        stats.count_transaction("example.org.", "control", false);
        stats.count_transaction("example.org.", "control", true);
        stats.count_image("example.org.", true);
        stats.count_compaction("example.org.");
        let mut out = String::new();
        stats.render(&mut out);
        for line in [
            "dnsd_zone_reloads_total{zone=\"example.org.\"} 1",
            "dnsd_zone_reload_errors_total{zone=\"example.org.\"} 1",
            "dnsd_zone_reload_errors_total{zone=\"\"} 1",
            "dnsd_zone_changes_total{zone=\"example.org.\"} 1",
            "dnsd_zone_served_serial{zone=\"example.org.\"} 7",
            "dnsd_zone_diff_records_total{zone=\"example.org.\",op=\"added\"} 3",
            "dnsd_zone_transactions_total{zone=\"example.org.\",source=\"control\",result=\"committed\"} 2",
            "dnsd_zone_transactions_total{zone=\"example.org.\",source=\"control\",result=\"refused\"} 1",
            "dnsd_zone_images_written_total{zone=\"example.org.\"} 1",
            "dnsd_zone_image_errors_total{zone=\"example.org.\"} 0",
            "dnsd_zone_compactions_total{zone=\"example.org.\"} 1",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing from\n{out}");
        }
        stats.zone_removed("example.org.");
        assert_eq!(stats.zone("example.org.").serial, None);
    }
}
