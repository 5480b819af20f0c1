//! Replay tests of the VRRP state machine: routers in memory on a virtual clock.
//!
//! Input: `netd/tests/vrrp/<case>/setup.json` (the routers' parameters and how long to
//! run) and `script.jsonl` (what happens when: inputs, crashes, one-way cuts).
//! Output: every action the routers take, with time, compared line by line with
//! `expected.jsonl` (timers are left out: their effect shows in the times of what
//! follows). `NETD_UPDATE_TEST_OUTPUTS=1` rewrites the expected files that differ, and
//! those tests fail while it does; review the diff and run again without it.
//! Each case's `description.txt` says what it shows and why the times are right.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use netd::vrrp::fsm::{Action, Input, Params, Router, Timer};
use netd::vrrp::packet::Advertisement;
use serde::{Deserialize, Serialize};

/// One packet takes this long from one router to the others.
const LATENCY: Duration = Duration::from_millis(1);

#[derive(Deserialize)]
struct Setup {
    routers: BTreeMap<String, Params>,
    /// Milliseconds to run.
    until: u64,
}

#[derive(Deserialize)]
struct ScriptLine {
    at: u64,
    router: String,
    event: Event,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Event {
    /// Give the router an input.
    Input(Input),
    /// The router dies without a word (its timers die with it).
    Crash,
    /// A crashed router comes back (a new machine, then Startup).
    Restart,
    /// Packets from this router stop reaching `to`.
    Cut { to: String },
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct OutputLine {
    at: f64,
    router: String,
    action: Action,
}

/// What happens next on the virtual clock.
enum Due {
    Script(Event),
    Timer(Timer),
    Packet { src: String, advert: Advertisement },
}

struct Net {
    setup: Setup,
    routers: BTreeMap<String, Option<Router>>,
    timers: HashMap<(String, Timer), Duration>,
    queue: BTreeMap<(Duration, u64), (String, Due)>,
    seq: u64,
    cuts: BTreeSet<(String, String)>,
    /// Routers whose link is down: they neither send nor receive.
    down: BTreeSet<String>,
    out: Vec<OutputLine>,
}

impl Net {
    fn push(&mut self, at: Duration, router: &str, due: Due) {
        self.seq += 1;
        self.queue.insert((at, self.seq), (router.to_string(), due));
    }

    fn address(&self, name: &str) -> std::net::IpAddr {
        self.setup.routers[name].primary
    }

    fn run(&mut self) {
        let until = Duration::from_millis(self.setup.until);
        loop {
            // The earliest of the queue and the armed timers.
            let next_timer = self
                .timers
                .iter()
                .min_by_key(|(k, at)| (**at, k.0.clone(), format!("{:?}", k.1)))
                .map(|(k, at)| (k.clone(), *at));
            let next_queued = self.queue.keys().next().copied();
            let (now, router, due) = match (next_timer, next_queued) {
                (Some((key, at)), Some((qat, _))) if at < qat => {
                    self.timers.remove(&key);
                    (at, key.0, Due::Timer(key.1))
                }
                (Some((key, at)), None) => {
                    self.timers.remove(&key);
                    (at, key.0, Due::Timer(key.1))
                }
                (_, Some(k)) => {
                    let (r, d) = self.queue.remove(&k).unwrap();
                    (k.0, r, d)
                }
                (None, None) => break,
            };
            if now > until {
                break;
            }
            let input = match due {
                Due::Timer(t) => Input::Timer(t),
                // A frame that reaches a link without carrier is lost.
                Due::Packet { .. } if self.down.contains(&router) => continue,
                Due::Packet { src, advert } => Input::Advert {
                    src: self.address(&src),
                    advert,
                },
                Due::Script(Event::Input(i)) => {
                    match i {
                        Input::LinkDown => self.down.insert(router.clone()),
                        Input::LinkUp => self.down.remove(&router),
                        _ => false,
                    };
                    i
                }
                Due::Script(Event::Crash) => {
                    self.routers.insert(router.clone(), None);
                    self.timers.retain(|k, _| k.0 != router);
                    continue;
                }
                Due::Script(Event::Restart) => {
                    let params = self.setup.routers[&router].clone();
                    self.routers
                        .insert(router.clone(), Some(Router::new(params)));
                    Input::Startup
                }
                Due::Script(Event::Cut { to }) => {
                    self.cuts.insert((router.clone(), to));
                    continue;
                }
            };
            let Some(Some(r)) = self.routers.get_mut(&router) else {
                continue;
            };
            let actions = r.step(input, now);
            self.act(&router, now, actions);
        }
    }

    fn act(&mut self, router: &str, now: Duration, actions: Vec<Action>) {
        for action in actions {
            match &action {
                Action::ArmTimer { timer, at } => {
                    self.timers.insert((router.to_string(), *timer), *at);
                    continue;
                }
                Action::CancelTimer(timer) => {
                    self.timers.remove(&(router.to_string(), *timer));
                    continue;
                }
                Action::SendAdvert { priority } => {
                    let params = &self.setup.routers[router];
                    let addresses = if params.addresses.is_empty() {
                        vec!["198.51.100.1".parse().unwrap()]
                    } else {
                        params.addresses.clone()
                    };
                    let advert = Advertisement {
                        vrid: params.vrid,
                        priority: *priority,
                        max_advert_int: params.advert_interval,
                        addresses,
                    };
                    let peers: Vec<String> = self.setup.routers.keys().cloned().collect();
                    for peer in peers {
                        let cut = self.cuts.contains(&(router.to_string(), peer.clone()))
                            || self.down.contains(router);
                        if peer != router && !cut {
                            let due = Due::Packet {
                                src: router.to_string(),
                                advert: advert.clone(),
                            };
                            self.push(now + LATENCY, &peer, due);
                        }
                    }
                }
                _ => {}
            }
            self.out.push(OutputLine {
                at: now.as_secs_f64() * 1000.0,
                router: router.to_string(),
                action,
            });
        }
    }
}

fn replay(case: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vrrp")
        .join(case);
    let setup: Setup =
        serde_json::from_str(&std::fs::read_to_string(dir.join("setup.json")).unwrap()).unwrap();
    let routers = setup
        .routers
        .keys()
        .map(|name| (name.clone(), None))
        .collect();
    let mut net = Net {
        setup,
        routers,
        timers: HashMap::new(),
        queue: BTreeMap::new(),
        seq: 0,
        cuts: BTreeSet::new(),
        down: BTreeSet::new(),
        out: Vec::new(),
    };
    let script = std::fs::read_to_string(dir.join("script.jsonl")).unwrap();
    for line in script.lines().filter(|l| !l.trim().is_empty()) {
        let line: ScriptLine = serde_json::from_str(line).unwrap();
        let event = match line.event {
            // Startup of a router that is not running yet creates it.
            Event::Input(Input::Startup) => Event::Restart,
            e => e,
        };
        net.push(
            Duration::from_millis(line.at),
            &line.router,
            Due::Script(event),
        );
    }
    net.run();
    let actual: String = net
        .out
        .iter()
        .map(|l| serde_json::to_string(l).unwrap() + "\n")
        .collect();
    let expected_path = dir.join("expected.jsonl");
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    // Regenerating is a failing run: the new file is written, and the test fails until
    // it runs again without the variable (so an environment cannot turn it into a pass).
    if actual != expected && std::env::var_os("NETD_UPDATE_TEST_OUTPUTS").is_some() {
        std::fs::write(&expected_path, &actual).unwrap();
        panic!(
            "{case}: rewrote {}: review the diff, then run again without \
             NETD_UPDATE_TEST_OUTPUTS",
            expected_path.display()
        );
    }
    assert!(
        expected_path.exists(),
        "{case}: no {} (NETD_UPDATE_TEST_OUTPUTS=1 writes it)",
        expected_path.display()
    );
    for (i, (a, e)) in actual.lines().zip(expected.lines()).enumerate() {
        let (a, e): (OutputLine, OutputLine) = (
            serde_json::from_str(a).unwrap(),
            serde_json::from_str(e).unwrap(),
        );
        assert_eq!(a, e, "{case}: line {} differs", i + 1);
    }
    assert_eq!(
        actual.lines().count(),
        expected.lines().count(),
        "{case}: number of actions"
    );
}

// Input: a (200) and b (100) start together; a crashes at 10 s.
// Output: a master after its Master_Down_Interval, b after 3 x 1 s + skew of silence.
#[test]
fn master_down_timer() {
    replay("master-down-timer");
}

// Input: a master shuts down at 10 s. Output: advert with priority 0, b master after
// Skew_Time (609.375 ms for priority 100 at 1 s).
#[test]
fn shutdown_priority_zero() {
    replay("shutdown-priority-zero");
}

// Input: b (100) master alone, a (200, preempt) starts at 5 s.
// Output: a discards b's adverts, takes over after its Master_Down_Interval; b yields.
#[test]
fn preemption() {
    replay("preemption");
}

// Input: as preemption, but a has preempt off. Output: b stays master.
#[test]
fn no_preemption() {
    replay("no-preemption");
}

// Input: as preemption, with a 2 s preempt delay. Output: a takes over 2 s after it
// first hears the lower-priority master, not before.
#[test]
fn preempt_delay() {
    replay("preempt-delay");
}

// Input: two routers of equal priority start together.
// Output: both become master at once; the lower primary address yields (6.4.3).
#[test]
fn tie_break_on_address() {
    replay("tie-break");
}

// Input: a master's tracking lowers its priority from 200 to 50 at 10 s.
// Output: a advertises 50 at once; b (100) preempts after its Master_Down_Interval.
#[test]
fn tracking_lowers_priority() {
    replay("tracking");
}

// Input: packets from a stop reaching b at 10 s (one-way failure).
// Output: b becomes master too; a keeps hearing b and reports split brain once.
#[test]
fn split_brain() {
    replay("split-brain");
}

// Input: a advertises every 0.5 s, b is configured with 1 s; a crashes.
// Output: b takes over after 3 x 0.5 s + skew: it learned the master's interval.
#[test]
fn backup_learns_interval() {
    replay("learned-interval");
}

// Input: the backup's cable is pulled at 10 s and put back at 15 s.
// Output: b goes to Fault (nothing held, nothing sent) and back to Backup, listening;
// it never becomes master, so a's addresses never move.
#[test]
fn link_fault_on_backup() {
    replay("link-fault-backup");
}

// Input: the master's cable is pulled at 10 s and put back at 15 s.
// Output: a drops its addresses at once (Fault); b takes over after its
// Master_Down_Interval; back, a listens a full Master_Down_Interval as a backup,
// then preempts b (priority 200 > 100).
#[test]
fn link_fault_on_master() {
    replay("link-fault-master");
}

// Input: c (254) starts in a's VRID with other virtual addresses.
// Output: a ignores c's adverts for the election (reported, dropped as "addresses")
// and stays master; c, which sees a's as foreign too, claims its own addresses.
#[test]
fn foreign_addresses_are_ignored() {
    replay("foreign-addresses");
}
