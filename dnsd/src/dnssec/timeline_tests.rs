use std::convert::Infallible;

use super::*;
use crate::dnssec::policy::DAY;
use crate::dnssec::test_support::env;

const T0: u64 = 1_800_000_000;
const H: u64 = 3600;

/// A generator of keys with made-up tags.
fn maker(next_tag: &mut u16) -> impl FnMut(bool, KeyTimes) -> Result<TimelineKey, Infallible> + '_ {
    move |sep, times| {
        *next_tag += 1;
        Ok(TimelineKey {
            tag: *next_tag,
            algorithm: Algorithm::EcdsaP256Sha256,
            sep,
            times,
        })
    }
}

#[test]
fn a_csk_rollover_waits_for_the_caches_and_the_parent() {
    let policy = Policy {
        ksk_lifetime: 60 * u64::from(DAY),
        ..Policy::default()
    };
    let env = env(&policy);
    let mut keys = Vec::new();
    let mut tag = 0;
    step(&mut keys, &env, T0, &mut maker(&mut tag)).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        ds_wanted(&keys, T0, &env),
        vec![0],
        "the first key's DS at once"
    );
    let roll = T0 + 60 * u64::from(DAY);
    assert_eq!(next_event(&keys, &env, T0 + 2 * H), Some(roll));
    step(&mut keys, &env, roll, &mut maker(&mut tag)).unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        keys[1].signing(roll) && keys[0].signing(roll),
        "double signature"
    );
    // The successor's DS is asked for once its DNSKEY has reached every cache.
    assert_eq!(ds_wanted(&keys, roll + 2 * H - 1, &env), vec![0]);
    assert_eq!(ds_wanted(&keys, roll + 2 * H, &env), vec![1]);
    assert_eq!(awaiting_ds(&keys, roll + 2 * H, &env), vec![1]);
    // Without the parent's DS the old key stays, however long.
    let late = roll + 30 * u64::from(DAY);
    step(&mut keys, &env, late, &mut maker(&mut tag)).unwrap();
    assert!(keys[0].signing(late));
    assert_eq!(keys.len(), 2, "no rollover over a rollover");
    keys[1].times.ds_seen = Some(late);
    step(&mut keys, &env, late, &mut maker(&mut tag)).unwrap();
    let leave = late + u64::from(policy.parent_ds_ttl) + u64::from(policy.propagation_delay);
    assert_eq!(keys[0].times.retire, Some(leave));
    assert_eq!(keys[0].times.remove, Some(leave));
    assert_eq!(state(&keys[0], leave - 1), KeyState::Active);
    assert_eq!(state(&keys[0], leave), KeyState::Removed);
}

#[test]
fn a_zsk_is_pre_published_and_removed_after_its_signatures() {
    let policy = Policy {
        scheme: KeyScheme::KskZsk,
        zsk_lifetime: 30 * u64::from(DAY),
        ..Policy::default()
    };
    let env = env(&policy);
    let mut keys = Vec::new();
    let mut tag = 0;
    step(&mut keys, &env, T0, &mut maker(&mut tag)).unwrap();
    assert_eq!(keys.iter().filter(|k| !k.sep).count(), 1);
    let publish = T0 + 30 * u64::from(DAY) - 2 * H;
    assert_eq!(next_event(&keys, &env, T0 + 3 * H), Some(publish));
    step(&mut keys, &env, publish, &mut maker(&mut tag)).unwrap();
    let new = keys.len() - 1;
    assert_eq!(state(&keys[new], publish), KeyState::Published);
    assert_eq!(keys[new].times.active, publish + 2 * H);
    assert_eq!(keys[1].times.retire, Some(publish + 2 * H));
    let switch = publish + 2 * H;
    step(&mut keys, &env, switch, &mut maker(&mut tag)).unwrap();
    assert_eq!(state(&keys[new], switch), KeyState::Active);
    assert_eq!(state(&keys[1], switch), KeyState::Retired);
    assert_eq!(keys[1].times.remove, Some(switch + H + 7200));
}

#[test]
fn retire_rolls_a_current_key_and_removes_a_spare_one() {
    let policy = Policy::default();
    let env = env(&policy);
    let mut tag = 0;
    let mut keys = Vec::new();
    step(&mut keys, &env, T0, &mut maker(&mut tag)).unwrap();
    // A spare ZSK in a CSK zone, then `dnsd keys retire` of it and of the CSK.
    keys.push(TimelineKey {
        tag: 999,
        algorithm: Algorithm::EcdsaP256Sha256,
        sep: false,
        times: KeyTimes::default(),
    });
    keys[0].times.roll = Some(T0 + H);
    keys[1].times.roll = Some(T0 + H);
    let log = step(&mut keys, &env, T0 + H, &mut maker(&mut tag))
        .unwrap()
        .log;
    assert_eq!(keys.len(), 3, "a successor CSK: {log:?}");
    assert!(keys[2].sep && keys[2].signing(T0 + H));
    assert!(
        keys[0].signing(T0 + H),
        "the old CSK stays until the parent has the new DS"
    );
    assert_eq!(keys[1].times.remove, Some(T0 + H + H + 7200));
    assert!(keys.iter().all(|k| k.times.roll.is_none()), "{keys:?}");
}

#[test]
fn an_algorithm_change_in_the_first_keys_second_still_waits_for_the_new_ds() {
    let policy = Policy::default();
    let env = env(&policy);
    let mut keys = Vec::new();
    let mut tag = 0;
    step(&mut keys, &env, T0, &mut maker(&mut tag)).unwrap();
    // The algorithm changes within the second the first key was made.
    let next = Policy {
        algorithm: Algorithm::Ed25519,
        ..Policy::default()
    };
    let env = crate::dnssec::test_support::env(&next);
    let mut maker_ed = |sep, times| {
        tag += 1;
        Ok::<_, Infallible>(TimelineKey {
            tag,
            algorithm: Algorithm::Ed25519,
            sep,
            times,
        })
    };
    step(&mut keys, &env, T0, &mut maker_ed).unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        keys[1].times.publish > keys[0].times.publish,
        "the successor is newer: {keys:?}"
    );
    // Once its signatures are in every cache, its DS is awaited (not taken as given).
    let ready = keys[1].times.publish + 3 * H;
    assert_eq!(awaiting_ds(&keys, ready, &env), vec![1], "{keys:?}");
}
