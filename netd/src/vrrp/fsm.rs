//! The VRRPv3 state machine of one virtual router (RFC 5798 section 6.4), pure.
//!
//! ```text
//!                 Startup (priority 255)
//!   Initialize ────────────────────────────────► Master ◄──┐
//!       │  ▲ Shutdown                 ▲           │      │ Master_Down_Timer,
//!       │  └───────────────┐          │           │      │ preempt delay over
//!       │ Startup          │          │  higher   │      │
//!       ▼                  │          │  priority │      │
//!     Backup ──────────────┘          └───────────┘      │
//!       │ ▲ └────────────────────────────────────────────┘
//!       │ │ LinkUp: a full Master_Down_Interval of listening
//!       │ │
//!       ▼ │ LinkDown (from Backup or Master: addresses removed, nothing sent)
//!     Fault
//! ```
//!
//! Fault is not in RFC 5798, which assumes a working link: like keepalived's FAULT
//! state, a router whose interface has no carrier holds no address and sends nothing,
//! and when the carrier returns it listens as a backup before it may claim anything,
//! so a flapping cable never steals the addresses from a healthy master.
//!
//! Time comes in (`now`, a virtual clock: any monotonic origin), timers go out as
//! `Action::ArmTimer`; the shell (`io.rs`) feeds `Input::Timer` back when one is due.
//! Everything that enters or leaves is serde, so the replay tests in
//! `netd/tests/vrrp/` record and compare it.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::packet::Advertisement;
use super::peer::{PeerProblem, same_addresses};

/// How many times the addresses are announced (GARP / unsolicited NA) on becoming
/// master, one second apart: the first for speed, the repeats for lost frames.
const ANNOUNCEMENTS: u8 = 3;
/// Lower-priority adverts a master tolerates before it calls it split brain.
const SPLIT_BRAIN_ADVERTS: u32 = 3;

//------------ Types in and out ----------------------------------------------

/// The state of a virtual router (section 6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Not running.
    Initialize,
    /// Watching the master.
    Backup,
    /// Holding the addresses.
    Master,
    /// The interface has no carrier: nothing held, nothing sent.
    Fault,
}

impl State {
    /// Lower-case name, for logs, notify commands and status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initialize => "initialize",
            Self::Backup => "backup",
            Self::Master => "master",
            Self::Fault => "fault",
        }
    }
}

/// The timers of a virtual router.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Timer {
    /// Adver_Timer: the master's next advertisement.
    Advert,
    /// Master_Down_Timer: the backup's patience.
    MasterDown,
    /// A higher-priority backup's preempt delay.
    PreemptDelay,
    /// The next repeat of the address announcements.
    Announce,
}

/// What the state machine is told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Input {
    /// Startup event.
    Startup,
    /// Shutdown event.
    Shutdown,
    /// A decoded, checked advertisement from `src` (the sender's primary address).
    Advert {
        /// Sender.
        src: IpAddr,
        /// The message.
        advert: Advertisement,
    },
    /// A timer armed earlier is due.
    Timer(Timer),
    /// Tracking changed the effective priority.
    Priority(u8),
    /// The interface lost its carrier (operational state down).
    LinkDown,
    /// The interface's carrier is back.
    LinkUp,
}

/// What the shell must do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Send an advertisement with this priority.
    SendAdvert {
        /// Priority to send (0 on shutdown).
        priority: u8,
    },
    /// Add the virtual addresses to the interface.
    AddAddresses,
    /// Remove the virtual addresses.
    RemoveAddresses,
    /// Gratuitous ARP (IPv4) or unsolicited NA (IPv6) for every address.
    Announce,
    /// Call back with `Input::Timer(timer)` at `at` (replaces an armed one).
    ArmTimer {
        /// Which.
        timer: Timer,
        /// When, on the caller's clock, in milliseconds.
        #[serde(with = "millis")]
        at: Duration,
    },
    /// Forget an armed timer.
    CancelTimer(Timer),
    /// The state changed.
    StateChange {
        /// From.
        from: State,
        /// To.
        to: State,
    },
    /// A received advert was dropped; `reason` names the counter.
    Drop {
        /// Counter label.
        reason: String,
    },
    /// Another router of our VRID is configured differently (log loudly, count).
    PeerProblem {
        /// The router.
        peer: IpAddr,
        /// What is wrong.
        problem: PeerProblem,
    },
    /// Another router keeps acting as master beside us (log loudly).
    SplitBrain {
        /// The other master.
        peer: IpAddr,
        /// Its priority.
        priority: u8,
    },
}

/// Durations as milliseconds (fractional) in the replay files.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        Ok(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
    }
}

/// The fixed parameters of a virtual router.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// VRID.
    pub vrid: u8,
    /// Configured priority.
    pub priority: u8,
    /// Advertisement_Interval, centiseconds.
    pub advert_interval: u16,
    /// Preempt_Mode.
    pub preempt: bool,
    /// Preempt delay.
    #[serde(with = "millis")]
    pub preempt_delay: Duration,
    /// This router's primary address on the interface (tie-break, section 6.4.3).
    pub primary: IpAddr,
    /// The virtual addresses; an advert for others is ignored (none: not checked).
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
}

//------------ Router --------------------------------------------------------

/// One virtual router.
#[derive(Clone, Debug)]
pub struct Router {
    params: Params,
    state: State,
    /// Effective priority (configured minus tracking).
    priority: u8,
    /// Master_Adver_Interval, centiseconds.
    master_adver_interval: u16,
    /// Who we believe is master and its priority.
    master: Option<(IpAddr, u8)>,
    /// Whether a preempt delay is running, or has run out.
    preempt: Preempt,
    /// Announcements still to repeat.
    announce_left: u8,
    /// Consecutive lower-priority adverts received as master.
    rival_adverts: u32,
    /// Whether the interface has its carrier.
    link_up: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Preempt {
    Idle,
    Waiting,
    Due,
}

impl Router {
    /// A router in Initialize.
    pub fn new(params: Params) -> Self {
        Self {
            priority: params.priority,
            master_adver_interval: params.advert_interval,
            params,
            state: State::Initialize,
            master: None,
            preempt: Preempt::Idle,
            announce_left: 0,
            rival_adverts: 0,
            link_up: true,
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Effective priority.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// The current master (address, priority), as far as this router knows.
    pub fn master(&self) -> Option<(IpAddr, u8)> {
        self.master
    }

    /// Master_Adver_Interval in centiseconds.
    pub fn master_adver_interval(&self) -> u16 {
        self.master_adver_interval
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Skew_Time (section 6.1), kept in microseconds rather than centiseconds.
    fn skew_time(&self) -> Duration {
        let cs = u64::from(self.master_adver_interval);
        Duration::from_micros((256 - u64::from(self.priority)) * cs * 10_000 / 256)
    }

    /// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time (section 6.1).
    fn master_down_interval(&self) -> Duration {
        centis(self.master_adver_interval) * 3 + self.skew_time()
    }

    /// Advances the machine by one input at time `now`.
    pub fn step(&mut self, input: Input, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        match (self.state, input) {
            (_, Input::Priority(p)) => self.set_priority(p, now, &mut out),
            (_, Input::LinkDown) => self.link_down(&mut out),
            (_, Input::LinkUp) => self.link_up(now, &mut out),
            (State::Initialize, Input::Startup) if !self.link_up => {
                self.change_state(State::Fault, &mut out)
            }
            (State::Initialize, Input::Startup) => self.startup(now, &mut out),
            (State::Initialize, _) => {}
            (_, Input::Startup) => {}
            (_, Input::Shutdown) => self.shutdown(&mut out),
            // No carrier: nothing arrives, and no timer is armed.
            (State::Fault, _) => {}
            (State::Backup, Input::Advert { src, advert }) => {
                if self.accept_advert(src, &advert, &mut out) {
                    self.backup_advert(src, &advert, now, &mut out)
                }
            }
            (State::Master, Input::Advert { src, advert }) => {
                if self.accept_advert(src, &advert, &mut out) {
                    self.master_advert(src, &advert, now, &mut out)
                }
            }
            (State::Backup, Input::Timer(Timer::MasterDown)) => self.become_master(now, &mut out),
            (State::Backup, Input::Timer(Timer::PreemptDelay)) => {
                if self.preempt == Preempt::Waiting {
                    self.become_master(now, &mut out);
                }
            }
            (State::Master, Input::Timer(Timer::Advert)) => {
                out.push(Action::SendAdvert {
                    priority: self.priority,
                });
                self.arm_advert(now, &mut out);
            }
            (State::Master, Input::Timer(Timer::Announce)) if self.announce_left > 0 => {
                self.announce_left -= 1;
                out.push(Action::Announce);
                if self.announce_left > 0 {
                    out.push(Action::ArmTimer {
                        timer: Timer::Announce,
                        at: now + Duration::from_secs(1),
                    });
                }
            }
            // A timer that belongs to another state fired late: nothing to do.
            (_, Input::Timer(_)) => {}
        }
        out
    }

    /// Section 6.4.1.
    fn startup(&mut self, now: Duration, out: &mut Vec<Action>) {
        if self.priority == 255 {
            self.become_master(now, out);
        } else {
            self.master_adver_interval = self.params.advert_interval;
            self.change_state(State::Backup, out);
            self.arm_master_down(self.master_down_interval(), now, out);
        }
    }

    /// Section 6.4.2 and 6.4.3 ("If a Shutdown event is received").
    fn shutdown(&mut self, out: &mut Vec<Action>) {
        match self.state {
            State::Backup => {
                out.push(Action::CancelTimer(Timer::MasterDown));
                out.push(Action::CancelTimer(Timer::PreemptDelay));
            }
            State::Master => {
                out.push(Action::CancelTimer(Timer::Advert));
                out.push(Action::CancelTimer(Timer::Announce));
                out.push(Action::SendAdvert { priority: 0 });
                out.push(Action::RemoveAddresses);
            }
            State::Fault => {}
            State::Initialize => return,
        }
        self.master = None;
        self.change_state(State::Initialize, out);
    }

    /// The carrier went away: hold nothing, send nothing (keepalived's FAULT).
    fn link_down(&mut self, out: &mut Vec<Action>) {
        if !self.link_up {
            return;
        }
        self.link_up = false;
        match self.state {
            // Startup goes to Fault while the link is down.
            State::Initialize | State::Fault => return,
            State::Backup => {
                out.push(Action::CancelTimer(Timer::MasterDown));
                if self.preempt == Preempt::Waiting {
                    out.push(Action::CancelTimer(Timer::PreemptDelay));
                }
            }
            State::Master => {
                out.push(Action::CancelTimer(Timer::Advert));
                out.push(Action::CancelTimer(Timer::Announce));
                out.push(Action::RemoveAddresses);
            }
        }
        self.preempt = Preempt::Idle;
        self.master = None;
        self.change_state(State::Fault, out);
    }

    /// The carrier is back: listen a full Master_Down_Interval as a backup before
    /// claiming anything (the owner, who always wins, takes its addresses at once).
    fn link_up(&mut self, now: Duration, out: &mut Vec<Action>) {
        if self.link_up {
            return;
        }
        self.link_up = true;
        if self.state == State::Fault {
            if self.priority == 255 {
                self.become_master(now, out);
            } else {
                self.master_adver_interval = self.params.advert_interval;
                self.change_state(State::Backup, out);
                self.arm_master_down(self.master_down_interval(), now, out);
            }
        }
    }

    /// Section 7.1 checks that depend on the router rather than the bytes, and the
    /// address-list check it leaves optional (keepalived makes it too).
    fn accept_advert(
        &mut self,
        src: IpAddr,
        advert: &Advertisement,
        out: &mut Vec<Action>,
    ) -> bool {
        let reason = if advert.vrid != self.params.vrid {
            "vrid"
        } else if self.params.priority == 255 {
            // The address owner never defers (section 7.1, fourth check).
            "owner"
        } else if !self.params.addresses.is_empty() && !same_addresses(advert, &self.params) {
            out.push(Action::PeerProblem {
                peer: src,
                problem: PeerProblem::Addresses,
            });
            "addresses"
        } else {
            if advert.priority != 0 && advert.max_advert_int != self.params.advert_interval {
                out.push(Action::PeerProblem {
                    peer: src,
                    problem: PeerProblem::Interval {
                        theirs: advert.max_advert_int,
                        ours: self.params.advert_interval,
                    },
                });
            }
            return true;
        };
        out.push(Action::Drop {
            reason: reason.to_string(),
        });
        false
    }

    /// Section 6.4.2, "If an ADVERTISEMENT is received".
    fn backup_advert(
        &mut self,
        src: IpAddr,
        advert: &Advertisement,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        if advert.priority == 0 {
            // The master resigned: take over after Skew_Time only.
            self.master = None;
            self.arm_master_down(self.skew_time(), now, out);
            return;
        }
        let defer = !self.params.preempt || advert.priority >= self.priority;
        let delayed =
            !defer && self.preempt != Preempt::Due && !self.params.preempt_delay.is_zero();
        if defer || delayed {
            self.master = Some((src, advert.priority));
            self.master_adver_interval = advert.max_advert_int.max(1);
            self.arm_master_down(self.master_down_interval(), now, out);
        }
        if defer {
            if self.preempt == Preempt::Waiting {
                out.push(Action::CancelTimer(Timer::PreemptDelay));
            }
            self.preempt = Preempt::Idle;
        } else if delayed && self.preempt == Preempt::Idle {
            // Not section 6.4.2: keepalived's preempt_delay, so a router that just came
            // back waits for its own services before taking the addresses.
            self.preempt = Preempt::Waiting;
            out.push(Action::ArmTimer {
                timer: Timer::PreemptDelay,
                at: now + self.params.preempt_delay,
            });
        }
        // Otherwise: preempt, discard the advert and let Master_Down_Timer run out.
    }

    /// Section 6.4.3, "If an ADVERTISEMENT is received".
    fn master_advert(
        &mut self,
        src: IpAddr,
        advert: &Advertisement,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        if advert.priority == 0 {
            out.push(Action::SendAdvert {
                priority: self.priority,
            });
            self.arm_advert(now, out);
            return;
        }
        let higher = advert.priority > self.priority
            || (advert.priority == self.priority && src > self.params.primary);
        if higher {
            out.push(Action::CancelTimer(Timer::Advert));
            out.push(Action::CancelTimer(Timer::Announce));
            out.push(Action::RemoveAddresses);
            self.master = Some((src, advert.priority));
            self.master_adver_interval = advert.max_advert_int.max(1);
            self.change_state(State::Backup, out);
            self.arm_master_down(self.master_down_interval(), now, out);
            return;
        }
        // A lower priority: answer at once, and announce the addresses again, so the
        // other router yields and clients that followed it come back (keepalived does
        // the same). One that does not yield keeps sending: it cannot hear us.
        out.push(Action::SendAdvert {
            priority: self.priority,
        });
        out.push(Action::Announce);
        self.rival_adverts += 1;
        if self.rival_adverts == SPLIT_BRAIN_ADVERTS {
            out.push(Action::SplitBrain {
                peer: src,
                priority: advert.priority,
            });
        }
    }

    fn become_master(&mut self, now: Duration, out: &mut Vec<Action>) {
        out.push(Action::CancelTimer(Timer::MasterDown));
        if self.preempt == Preempt::Waiting {
            out.push(Action::CancelTimer(Timer::PreemptDelay));
        }
        self.preempt = Preempt::Idle;
        out.push(Action::AddAddresses);
        out.push(Action::SendAdvert {
            priority: self.priority,
        });
        out.push(Action::Announce);
        self.announce_left = ANNOUNCEMENTS - 1;
        out.push(Action::ArmTimer {
            timer: Timer::Announce,
            at: now + Duration::from_secs(1),
        });
        self.arm_advert(now, out);
        self.master = Some((self.params.primary, self.priority));
        self.rival_adverts = 0;
        self.change_state(State::Master, out);
    }

    fn set_priority(&mut self, priority: u8, now: Duration, out: &mut Vec<Action>) {
        let priority = priority.max(1);
        if priority == self.priority {
            return;
        }
        self.priority = priority;
        if self.state == State::Master {
            // Tell the backups at once rather than at the next interval.
            self.master = Some((self.params.primary, priority));
            out.push(Action::SendAdvert { priority });
            self.arm_advert(now, out);
        }
    }

    fn arm_advert(&self, now: Duration, out: &mut Vec<Action>) {
        out.push(Action::ArmTimer {
            timer: Timer::Advert,
            at: now + centis(self.params.advert_interval),
        });
    }

    fn arm_master_down(&self, after: Duration, now: Duration, out: &mut Vec<Action>) {
        out.push(Action::ArmTimer {
            timer: Timer::MasterDown,
            at: now + after,
        });
    }

    fn change_state(&mut self, to: State, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        out.push(Action::StateChange { from, to });
    }
}

fn centis(cs: u16) -> Duration {
    Duration::from_millis(u64::from(cs) * 10)
}

#[cfg(test)]
#[path = "fsm_tests.rs"]
mod tests;
