//! What `netd status` and the metrics read: each instance's state, priority, master
//! and counters, written by the running daemon to files in its state directory
//! (default `/run/netd`), replaced atomically (write aside, rename):
//!
//! - `vrrp.json`: a JSON array of `InstanceStatus`, read by `netd status`;
//! - `vrrp.prom`: the same as Prometheus text (node_exporter's textfile format).
//!
//! Files rather than a socket: the daemon needs no listener, a crashed daemon leaves
//! its last known state for the operator, and any tool can read them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::config::Instance;
use super::fsm::State;
use super::peer::PeerProblemStatus;

/// The state file's name in the state directory.
pub const STATE_FILE: &str = "vrrp.json";
/// The metrics file's name in the state directory.
pub const METRICS_FILE: &str = "vrrp.prom";

/// One instance, as published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    /// Instance name.
    pub name: String,
    /// Interface.
    pub interface: String,
    /// VRID.
    pub vrid: u8,
    /// This router's primary address.
    pub primary: IpAddr,
    /// Current state.
    pub state: State,
    /// Effective priority.
    pub priority: u8,
    /// Configured priority.
    pub configured_priority: u8,
    /// The master as far as this router knows.
    pub master: Option<IpAddr>,
    /// The master's priority.
    pub master_priority: Option<u8>,
    /// Unix time of the last state change.
    pub since: u64,
    /// State changes since start.
    pub transitions: u64,
    /// Adverts sent.
    pub adverts_sent: u64,
    /// Adverts received and accepted by the checks.
    pub adverts_received: u64,
    /// Packets dropped, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Split-brain episodes.
    pub split_brain: u64,
    /// Routers of our VRID configured differently (version, addresses, interval).
    #[serde(default)]
    pub peer_problems: Vec<PeerProblemStatus>,
}

impl InstanceStatus {
    /// The status of an instance that has not started.
    pub fn new(instance: &Instance, primary: IpAddr) -> Self {
        Self {
            name: instance.name.clone(),
            interface: instance.interface.clone(),
            vrid: instance.vrid,
            primary,
            state: State::Initialize,
            priority: instance.priority,
            configured_priority: instance.priority,
            master: None,
            master_priority: None,
            since: 0,
            transitions: 0,
            adverts_sent: 0,
            adverts_received: 0,
            dropped: BTreeMap::new(),
            split_brain: 0,
            peer_problems: Vec::new(),
        }
    }

    /// Counts a dropped packet.
    pub fn count_drop(&mut self, reason: &str) {
        *self.dropped.entry(reason.to_string()).or_default() += 1;
    }
}

//------------ Board ---------------------------------------------------------

/// The published state of every instance; each update rewrites the files.
pub struct Board {
    dir: Option<PathBuf>,
    instances: Mutex<BTreeMap<String, InstanceStatus>>,
}

impl Board {
    /// A board writing into `dir` (None: keep it in memory only).
    pub fn new(dir: Option<PathBuf>) -> io::Result<Self> {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        }
        Ok(Self {
            dir,
            instances: Mutex::new(BTreeMap::new()),
        })
    }

    /// Replaces one instance's status and rewrites the files.
    pub fn update(&self, status: InstanceStatus) {
        let all: Vec<InstanceStatus> = {
            let Ok(mut map) = self.instances.lock() else {
                return;
            };
            map.insert(status.name.clone(), status);
            map.values().cloned().collect()
        };
        self.write(&all);
    }

    /// Rewrites the files with `all`.
    fn write(&self, all: &[InstanceStatus]) {
        let Some(dir) = &self.dir else { return };
        let json = serde_json::to_string_pretty(all).unwrap_or_default();
        for (file, text) in [(STATE_FILE, json), (METRICS_FILE, render_metrics(all))] {
            if let Err(e) = write_atomic(&dir.join(file), &text) {
                tracing::warn!(file = %dir.join(file).display(), error = %e, "vrrp: cannot write status");
            }
        }
    }

    /// Forgets an instance that was removed from the configuration.
    pub fn remove(&self, name: &str) {
        let all: Vec<InstanceStatus> = {
            let Ok(mut map) = self.instances.lock() else {
                return;
            };
            map.remove(name);
            map.values().cloned().collect()
        };
        self.write(&all);
    }

    /// A snapshot of every instance.
    pub fn snapshot(&self) -> Vec<InstanceStatus> {
        self.instances
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Reads the state file of a running (or last run) daemon.
pub fn read(dir: &Path) -> io::Result<Vec<InstanceStatus>> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

//------------ Rendering (pure) ----------------------------------------------

/// The table `netd status` prints; `running` is false when no daemon holds the
/// state folder: the states are then the last a dead daemon wrote, shown as such.
pub fn render_table(all: &[InstanceStatus], running: bool) -> String {
    let mut out = String::new();
    if !running {
        out.push_str(
            "netd is not running: last known state below (stale); \
             `netd down` removes the addresses it may have left\n",
        );
    }
    let rows: Vec<[String; 6]> = all
        .iter()
        .map(|s| {
            let master = match (s.master, s.master_priority) {
                (Some(m), Some(p)) if m == s.primary => format!("{m} (this host, {p})"),
                (Some(m), Some(p)) => format!("{m} ({p})"),
                _ => "-".to_string(),
            };
            let priority = if s.priority == s.configured_priority {
                s.priority.to_string()
            } else {
                format!("{} (configured {})", s.priority, s.configured_priority)
            };
            [
                s.name.clone(),
                s.interface.clone(),
                s.vrid.to_string(),
                if running {
                    s.state.as_str().to_string()
                } else {
                    format!("stale:{}", s.state.as_str())
                },
                priority,
                master,
            ]
        })
        .collect();
    let mut widths = [8, 9, 4, 5, 8, 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let header = [
        "INSTANCE",
        "INTERFACE",
        "VRID",
        "STATE",
        "PRIORITY",
        "MASTER",
    ];
    for row in std::iter::once(header.map(String::from)).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    for s in all {
        for p in &s.peer_problems {
            let _ = writeln!(
                out,
                "! {}: peer {} {} ({} adverts)",
                s.name, p.peer, p.detail, p.count
            );
        }
    }
    out
}

/// A counter family: name, help, how to read it.
type Counter = (&'static str, &'static str, fn(&InstanceStatus) -> u64);

/// The metrics in Prometheus text format.
pub fn render_metrics(all: &[InstanceStatus]) -> String {
    let mut out = String::new();
    let mut family =
        |name: &str, kind: &str, help: &str, rows: &mut dyn Iterator<Item = String>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for row in rows {
                let _ = writeln!(out, "{name}{row}");
            }
        };
    family(
        "netd_vrrp_state",
        "gauge",
        "1 for the instance's current state.",
        &mut all.iter().flat_map(|s| {
            [
                State::Initialize,
                State::Backup,
                State::Master,
                State::Fault,
            ]
            .map(|st| {
                let v = u8::from(st == s.state);
                format!("{{instance=\"{}\",state=\"{}\"}} {v}", s.name, st.as_str())
            })
        }),
    );
    family(
        "netd_vrrp_priority",
        "gauge",
        "Effective priority.",
        &mut all
            .iter()
            .map(|s| format!("{{instance=\"{}\"}} {}", s.name, s.priority)),
    );
    let counters: [Counter; 4] = [
        ("transitions", "State changes.", |s| s.transitions),
        ("adverts_sent", "Advertisements sent.", |s| s.adverts_sent),
        ("adverts_received", "Advertisements accepted.", |s| {
            s.adverts_received
        }),
        ("split_brain", "Split-brain episodes.", |s| s.split_brain),
    ];
    for (name, help, get) in counters {
        family(
            &format!("netd_vrrp_{name}_total"),
            "counter",
            help,
            &mut all
                .iter()
                .map(|s| format!("{{instance=\"{}\"}} {}", s.name, get(s))),
        );
    }
    family(
        "netd_vrrp_peer_problems_total",
        "counter",
        "Adverts from routers of our VRID configured differently, by peer and problem.",
        &mut all.iter().flat_map(|s| {
            s.peer_problems.iter().map(|p| {
                format!(
                    "{{instance=\"{}\",peer=\"{}\",problem=\"{}\"}} {}",
                    s.name, p.peer, p.problem, p.count
                )
            })
        }),
    );
    family(
        "netd_vrrp_dropped_total",
        "counter",
        "Packets dropped, by reason.",
        &mut all.iter().flat_map(|s| {
            s.dropped
                .iter()
                .map(|(r, n)| format!("{{instance=\"{}\",reason=\"{r}\"}} {n}", s.name))
        }),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> InstanceStatus {
        InstanceStatus {
            name: "svc4".into(),
            interface: "br-svc".into(),
            vrid: 51,
            primary: "198.51.100.2".parse().unwrap(),
            state: State::Backup,
            priority: 50,
            configured_priority: 100,
            master: Some("198.51.100.3".parse().unwrap()),
            master_priority: Some(200),
            since: 0,
            transitions: 1,
            adverts_sent: 0,
            adverts_received: 7,
            dropped: BTreeMap::from([("ttl".to_string(), 2)]),
            split_brain: 0,
            peer_problems: vec![PeerProblemStatus {
                peer: "198.51.100.4".parse().unwrap(),
                problem: "version".into(),
                detail: "sends VRRPv2 adverts".into(),
                count: 3,
                last_seen: 0,
            }],
        }
    }

    #[test]
    fn table() {
        assert_eq!(
            render_table(&[status()], true),
            "INSTANCE  INTERFACE  VRID  STATE   PRIORITY             MASTER\n\
             svc4      br-svc     51    backup  50 (configured 100)  198.51.100.3 (200)\n\
             ! svc4: peer 198.51.100.4 sends VRRPv2 adverts (3 adverts)\n"
        );
        let stale = render_table(&[status()], false);
        assert!(stale.starts_with("netd is not running"), "{stale}");
        assert!(stale.contains("stale:backup"), "{stale}");
    }

    #[test]
    fn metrics() {
        let m = render_metrics(&[status()]);
        assert!(m.contains("netd_vrrp_state{instance=\"svc4\",state=\"backup\"} 1\n"));
        assert!(m.contains("netd_vrrp_state{instance=\"svc4\",state=\"master\"} 0\n"));
        assert!(m.contains("netd_vrrp_dropped_total{instance=\"svc4\",reason=\"ttl\"} 2\n"));
        assert!(m.contains("netd_vrrp_adverts_received_total{instance=\"svc4\"} 7\n"));
        assert!(m.contains(
            "netd_vrrp_peer_problems_total{instance=\"svc4\",peer=\"198.51.100.4\",problem=\"version\"} 3\n"
        ));
    }
}
