//! Unit tests of the state machine, rule by rule (RFC 5798 section 6.4).
use super::*;

fn router(priority: u8, primary: &str) -> Router {
    Router::new(Params {
        vrid: 1,
        priority,
        advert_interval: 100,
        preempt: true,
        preempt_delay: Duration::ZERO,
        primary: primary.parse().unwrap(),
        addresses: vec!["198.51.100.1".parse().unwrap()],
    })
}

fn advert(priority: u8) -> Advertisement {
    Advertisement {
        vrid: 1,
        priority,
        max_advert_int: 100,
        addresses: vec!["198.51.100.1".parse().unwrap()],
    }
}

fn from(src: &str, priority: u8) -> Input {
    Input::Advert {
        src: src.parse().unwrap(),
        advert: advert(priority),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn backup_arms_master_down_interval() {
    let mut r = router(100, "198.51.100.2");
    let out = r.step(Input::Startup, ms(0));
    // 3 * 1 s + (256 - 100) * 1 s / 256 = 3.609375 s
    assert_eq!(
        out,
        [
            Action::StateChange {
                from: State::Initialize,
                to: State::Backup
            },
            Action::ArmTimer {
                timer: Timer::MasterDown,
                at: Duration::from_micros(3_609_375)
            }
        ]
    );
    let out = r.step(Input::Timer(Timer::MasterDown), ms(3610));
    assert!(out.contains(&Action::AddAddresses));
    assert!(out.contains(&Action::SendAdvert { priority: 100 }));
    assert_eq!(r.state(), State::Master);
}

#[test]
fn owner_starts_as_master() {
    let mut r = router(255, "198.51.100.2");
    r.step(Input::Startup, ms(0));
    assert_eq!(r.state(), State::Master);
    // And drops what others say.
    let out = r.step(from("198.51.100.3", 254), ms(10));
    assert_eq!(
        out,
        [Action::Drop {
            reason: "owner".into()
        }]
    );
}

#[test]
fn priority_zero_means_skew_time() {
    let mut r = router(100, "198.51.100.2");
    r.step(Input::Startup, ms(0));
    let out = r.step(from("198.51.100.3", 0), ms(1000));
    assert_eq!(
        out,
        [Action::ArmTimer {
            timer: Timer::MasterDown,
            at: ms(1000) + Duration::from_micros(609_375)
        }]
    );
}

#[test]
fn backup_learns_master_interval() {
    let mut r = router(100, "198.51.100.2");
    r.step(Input::Startup, ms(0));
    let mut a = advert(200);
    a.max_advert_int = 10;
    r.step(
        Input::Advert {
            src: "198.51.100.3".parse().unwrap(),
            advert: a,
        },
        ms(0),
    );
    assert_eq!(r.master_adver_interval(), 10);
}

#[test]
fn master_yields_to_higher_priority_and_to_higher_address_on_tie() {
    let mut r = router(100, "198.51.100.2");
    r.step(Input::Startup, ms(0));
    r.step(Input::Timer(Timer::MasterDown), ms(4000));
    // Lower priority: answered at once with our advert and announcements.
    let answer = [Action::SendAdvert { priority: 100 }, Action::Announce];
    assert_eq!(r.step(from("198.51.100.9", 99), ms(4100)), answer);
    // Equal priority, lower address: the same.
    assert_eq!(r.step(from("198.51.100.1", 100), ms(4200)), answer);
    assert_eq!(r.state(), State::Master);
    // Equal priority, higher address: yield.
    let out = r.step(from("198.51.100.3", 100), ms(4300));
    assert!(out.contains(&Action::RemoveAddresses));
    assert_eq!(r.state(), State::Backup);
}

#[test]
fn shutdown_sends_priority_zero() {
    let mut r = router(100, "198.51.100.2");
    r.step(Input::Startup, ms(0));
    r.step(Input::Timer(Timer::MasterDown), ms(4000));
    let out = r.step(Input::Shutdown, ms(5000));
    assert!(out.contains(&Action::SendAdvert { priority: 0 }));
    assert!(out.contains(&Action::RemoveAddresses));
    assert_eq!(r.state(), State::Initialize);
}

#[test]
fn no_preempt_defers_to_lower_priority() {
    let mut r = router(200, "198.51.100.2");
    r.params.preempt = false;
    r.step(Input::Startup, ms(0));
    let out = r.step(from("198.51.100.3", 100), ms(100));
    assert!(matches!(
        out[..],
        [Action::ArmTimer {
            timer: Timer::MasterDown,
            ..
        }]
    ));
}

#[test]
fn preempt_delay_then_takeover() {
    let mut r = router(200, "198.51.100.2");
    r.params.preempt_delay = ms(2000);
    r.step(Input::Startup, ms(0));
    let out = r.step(from("198.51.100.3", 100), ms(100));
    assert!(out.contains(&Action::ArmTimer {
        timer: Timer::PreemptDelay,
        at: ms(2100)
    }));
    r.step(from("198.51.100.3", 100), ms(1100));
    assert_eq!(r.state(), State::Backup);
    r.step(Input::Timer(Timer::PreemptDelay), ms(2100));
    assert_eq!(r.state(), State::Master);
}

#[test]
fn split_brain_is_reported_once() {
    let mut r = router(200, "198.51.100.2");
    r.step(Input::Startup, ms(0));
    r.step(Input::Timer(Timer::MasterDown), ms(4000));
    let reports: usize = (0..10)
        .map(|i| {
            r.step(from("198.51.100.3", 100), ms(4100 + i * 100))
                .iter()
                .filter(|a| matches!(a, Action::SplitBrain { .. }))
                .count()
        })
        .sum();
    assert_eq!(reports, 1);
}

#[test]
fn wrong_vrid_is_dropped_without_change() {
    let mut r = router(100, "198.51.100.2");
    r.step(Input::Startup, ms(0));
    let mut a = advert(200);
    a.vrid = 2;
    let out = r.step(
        Input::Advert {
            src: "198.51.100.3".parse().unwrap(),
            advert: a,
        },
        ms(10),
    );
    assert_eq!(
        out,
        [Action::Drop {
            reason: "vrid".into()
        }]
    );
    assert_eq!(r.master(), None);
}

#[test]
fn backup_link_down_is_fault_and_link_up_listens_a_full_interval() {
    let mut r = router(100, "198.51.100.2");
    r.step(Input::Startup, ms(0));
    r.step(from("198.51.100.3", 200), ms(100));
    let out = r.step(Input::LinkDown, ms(1000));
    assert_eq!(
        out,
        [
            Action::CancelTimer(Timer::MasterDown),
            Action::StateChange {
                from: State::Backup,
                to: State::Fault
            }
        ]
    );
    // No carrier: adverts and stale timers change nothing.
    assert!(r.step(Input::Timer(Timer::MasterDown), ms(4000)).is_empty());
    assert!(r.step(from("198.51.100.3", 0), ms(4100)).is_empty());
    assert_eq!(r.state(), State::Fault);
    let out = r.step(Input::LinkUp, ms(6000));
    assert_eq!(
        out,
        [
            Action::StateChange {
                from: State::Fault,
                to: State::Backup
            },
            Action::ArmTimer {
                timer: Timer::MasterDown,
                at: ms(6000) + Duration::from_micros(3_609_375)
            }
        ]
    );
}

#[test]
fn master_link_down_drops_the_addresses_silently() {
    let mut r = router(100, "198.51.100.2");
    r.step(Input::Startup, ms(0));
    r.step(Input::Timer(Timer::MasterDown), ms(4000));
    let out = r.step(Input::LinkDown, ms(5000));
    assert!(out.contains(&Action::RemoveAddresses));
    assert!(!out.iter().any(|a| matches!(a, Action::SendAdvert { .. })));
    assert_eq!(r.state(), State::Fault);
    // Shutdown in Fault: nothing to resign.
    let out = r.step(Input::Shutdown, ms(6000));
    assert_eq!(
        out,
        [Action::StateChange {
            from: State::Fault,
            to: State::Initialize
        }]
    );
}

#[test]
fn startup_without_carrier_waits_in_fault() {
    let mut r = router(255, "198.51.100.2");
    assert!(r.step(Input::LinkDown, ms(0)).is_empty());
    r.step(Input::Startup, ms(0));
    assert_eq!(r.state(), State::Fault);
    // The owner takes its addresses as soon as the carrier returns.
    let out = r.step(Input::LinkUp, ms(100));
    assert!(out.contains(&Action::AddAddresses));
    assert_eq!(r.state(), State::Master);
}

#[test]
fn adverts_for_other_addresses_are_ignored_and_reported() {
    let mut r = router(100, "198.51.100.2");
    r.step(Input::Startup, ms(0));
    r.step(Input::Timer(Timer::MasterDown), ms(4000));
    let mut a = advert(254);
    a.addresses = vec!["198.51.100.99".parse().unwrap()];
    let src = "198.51.100.3".parse().unwrap();
    let out = r.step(Input::Advert { src, advert: a }, ms(4100));
    assert_eq!(
        out,
        [
            Action::PeerProblem {
                peer: src,
                problem: PeerProblem::Addresses
            },
            Action::Drop {
                reason: "addresses".into()
            }
        ]
    );
    assert_eq!(r.state(), State::Master);
}

#[test]
fn another_interval_is_followed_and_reported() {
    let mut r = router(100, "198.51.100.2");
    r.step(Input::Startup, ms(0));
    let mut a = advert(200);
    a.max_advert_int = 50;
    let src = "198.51.100.3".parse().unwrap();
    let out = r.step(Input::Advert { src, advert: a }, ms(100));
    assert_eq!(
        out[0],
        Action::PeerProblem {
            peer: src,
            problem: PeerProblem::Interval {
                theirs: 50,
                ours: 100
            }
        }
    );
    assert_eq!(r.master_adver_interval(), 50);
}
