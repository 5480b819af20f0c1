//! Other routers of our VRID that are configured differently: what can be wrong
//! with them (`PeerProblem`, found by the state machine and the receive checks), and
//! the record of them that the shell keeps for logs, `netd status` and metrics, with
//! loud logs limited to one per peer and problem a minute.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::fsm::Params;
use super::packet::Advertisement;

/// Time between two loud logs of the same problem of the same peer.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

/// Something wrong with another router of our VRID: it will not agree with us on
/// who is master, so it is logged loudly, counted and shown by `netd status`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerProblem {
    /// It speaks another VRRP version (keepalived's `vrrp_version 2`).
    Version(u8),
    /// It advertises other virtual addresses (RFC 5798 section 7.1 leaves the check
    /// optional; its adverts are ignored for the election).
    Addresses,
    /// It advertises another interval (centiseconds); followed as the RFC says, but a
    /// sign of two configurations that differ.
    Interval {
        /// Theirs.
        theirs: u16,
        /// Ours.
        ours: u16,
    },
}

impl PeerProblem {
    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Version(_) => "version",
            Self::Addresses => "addresses",
            Self::Interval { .. } => "interval",
        }
    }

    /// What an operator should read.
    pub fn describe(&self) -> String {
        match self {
            Self::Version(v) => format!(
                "sends VRRPv{v} adverts; netd speaks VRRPv3 only (set vrrp_version 3 on the peer)"
            ),
            Self::Addresses => {
                "advertises other virtual addresses for this VRID (ignored for the election)"
                    .to_string()
            }
            Self::Interval { theirs, ours } => {
                format!("advertises every {theirs} cs, this instance every {ours} cs")
            }
        }
    }
}

/// Whether an advert carries exactly our virtual addresses (in any order).
pub fn same_addresses(advert: &Advertisement, params: &Params) -> bool {
    let mut theirs = advert.addresses.clone();
    let mut ours = params.addresses.clone();
    theirs.sort();
    theirs.dedup();
    ours.sort();
    ours.dedup();
    theirs == ours
}

/// One problem of one peer, as published in the state file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerProblemStatus {
    /// The peer's address.
    pub peer: IpAddr,
    /// The problem's label (`version`, `addresses`, `interval`).
    pub problem: String,
    /// What is wrong, for an operator.
    pub detail: String,
    /// Adverts seen with it.
    pub count: u64,
    /// Unix time it was last seen.
    pub last_seen: u64,
}

/// Counts problems by peer and tells when a loud log is due.
#[derive(Debug, Default)]
pub struct PeerProblems {
    /// (peer, label) -> (status, when last logged on the caller's clock).
    seen: BTreeMap<(IpAddr, &'static str), (PeerProblemStatus, Option<Duration>)>,
}

impl PeerProblems {
    /// Records one advert with `problem` from `peer` at `now` (caller's clock) and
    /// `unix` time; returns whether it should be logged loudly now.
    pub fn record(
        &mut self,
        peer: IpAddr,
        problem: &PeerProblem,
        now: Duration,
        unix: u64,
    ) -> bool {
        let entry = self.seen.entry((peer, problem.label())).or_insert_with(|| {
            (
                PeerProblemStatus {
                    peer,
                    problem: problem.label().to_string(),
                    detail: String::new(),
                    count: 0,
                    last_seen: 0,
                },
                None,
            )
        });
        entry.0.detail = problem.describe();
        entry.0.count += 1;
        entry.0.last_seen = unix;
        let due = entry.1.is_none_or(|last| now >= last + LOG_EVERY);
        if due {
            entry.1 = Some(now);
        }
        due
    }

    /// Every problem seen, by peer and label.
    pub fn list(&self) -> Vec<PeerProblemStatus> {
        self.seen.values().map(|(s, _)| s.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_once_a_minute_and_counts_every_advert() {
        let mut p = PeerProblems::default();
        let peer: IpAddr = "198.51.100.3".parse().unwrap();
        let v2 = PeerProblem::Version(2);
        assert!(p.record(peer, &v2, Duration::ZERO, 1));
        assert!(!p.record(peer, &v2, Duration::from_secs(59), 2));
        assert!(p.record(peer, &PeerProblem::Addresses, Duration::from_secs(59), 2));
        assert!(p.record(peer, &v2, Duration::from_secs(60), 3));
        let list = p.list();
        assert_eq!(list.len(), 2);
        assert_eq!((list[1].problem.as_str(), list[1].count), ("version", 3));
        assert!(
            list[1].detail.contains("vrrp_version 3"),
            "{}",
            list[1].detail
        );
    }

    #[test]
    fn address_lists_compare_as_sets() {
        let params = Params {
            vrid: 1,
            priority: 100,
            advert_interval: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
            primary: "198.51.100.2".parse().unwrap(),
            addresses: vec![
                "198.51.100.1".parse().unwrap(),
                "198.51.100.53".parse().unwrap(),
            ],
        };
        let mut advert = Advertisement {
            vrid: 1,
            priority: 100,
            max_advert_int: 100,
            addresses: vec![
                "198.51.100.53".parse().unwrap(),
                "198.51.100.1".parse().unwrap(),
            ],
        };
        assert!(same_addresses(&advert, &params));
        advert.addresses.pop();
        assert!(!same_addresses(&advert, &params));
    }
}
