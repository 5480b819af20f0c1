//! netd's Prometheus metrics: counters of the reconcile passes (applied, failed,
//! changes by reason, drift repaired, configurations refused), gauges of what the
//! configuration holds (bridges, forwards, map elements), and every VRRP instance's
//! (state, priority, transitions, adverts by result, drops by reason, peer problems,
//! split brain) from the status board. `metrics_http` serves them at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::config::Config;
use crate::vrrp::status::{Board, render_metrics};

/// The daemon's metrics; shared by its tasks.
#[derive(Default)]
pub struct Metrics {
    passes_ok: AtomicU64,
    passes_failed: AtomicU64,
    drift_repairs: AtomicU64,
    refused: AtomicU64,
    changes: Mutex<BTreeMap<String, u64>>,
    bridges: AtomicU64,
    forwards: AtomicU64,
    elements: AtomicU64,
    board: OnceLock<Arc<Board>>,
}

impl Metrics {
    /// Counts one reconcile pass: its result and the changes it made, by `reason`.
    pub fn pass(&self, reason: &str, result: Result<usize, ()>) {
        match result {
            Ok(changes) => {
                self.passes_ok.fetch_add(1, Ordering::Relaxed);
                if changes > 0 {
                    if reason == "drift repaired" {
                        self.drift_repairs.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Ok(mut map) = self.changes.lock() {
                        *map.entry(reason.to_string()).or_default() += changes as u64;
                    }
                }
            }
            Err(()) => {
                self.passes_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Counts a configuration file refused (invalid, or not fitting this host).
    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the gauges from the configuration applied.
    pub fn applied(&self, config: &Config) {
        self.bridges
            .store(config.bridges.len() as u64, Ordering::Relaxed);
        self.forwards
            .store(config.forwards.len() as u64, Ordering::Relaxed);
        let elements: usize = config.forwards.iter().map(|f| f.element_count()).sum();
        self.elements.store(elements as u64, Ordering::Relaxed);
    }

    /// Adds the VRRP instances' metrics (the board they publish to).
    pub fn set_board(&self, board: Arc<Board>) {
        let _ = self.board.set(board);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut one = |name: &str, kind: &str, help: &str, rows: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in rows {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        one(
            "netd_passes_total",
            "counter",
            "Reconcile passes (apply, config change, drift check), by result.",
            &[
                ("{result=\"ok\"}".into(), get(&self.passes_ok)),
                ("{result=\"failed\"}".into(), get(&self.passes_failed)),
            ],
        );
        let changes: Vec<(String, u64)> = self
            .changes
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(r, n)| (format!("{{reason=\"{r}\"}}"), *n))
                    .collect()
            })
            .unwrap_or_default();
        one(
            "netd_changes_total",
            "counter",
            "Changes applied to links, sysctls and nftables, by reason.",
            &changes,
        );
        one(
            "netd_drift_repairs_total",
            "counter",
            "Passes that found the host changed behind netd's back and repaired it.",
            &[(String::new(), get(&self.drift_repairs))],
        );
        one(
            "netd_config_refused_total",
            "counter",
            "Configuration files refused (invalid, or not fitting this host).",
            &[(String::new(), get(&self.refused))],
        );
        one(
            "netd_bridges",
            "gauge",
            "Bridges in the configuration applied.",
            &[(String::new(), get(&self.bridges))],
        );
        one(
            "netd_forwards",
            "gauge",
            "Port forwards in the configuration applied.",
            &[(String::new(), get(&self.forwards))],
        );
        one(
            "netd_forward_elements",
            "gauge",
            "nftables map elements the forwards take.",
            &[(String::new(), get(&self.elements))],
        );
        if let Some(board) = self.board.get() {
            out.push_str(&render_metrics(&board.snapshot()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_passes_and_changes_by_reason() {
        let m = Metrics::default();
        m.pass("apply", Ok(3));
        m.pass("drift repaired", Ok(0));
        m.pass("drift repaired", Ok(1));
        m.pass("config changed", Err(()));
        m.refused();
        let text = m.render();
        for line in [
            "netd_passes_total{result=\"ok\"} 3\n",
            "netd_passes_total{result=\"failed\"} 1\n",
            "netd_changes_total{reason=\"apply\"} 3\n",
            "netd_changes_total{reason=\"drift repaired\"} 1\n",
            "netd_drift_repairs_total 1\n",
            "netd_config_refused_total 1\n",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}
