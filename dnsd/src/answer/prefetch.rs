//! Prefetching for a batch of requests: before a batch is answered, the index slot and
//! then the node that each question's exact-match lookup will read are fetched from
//! memory, for all questions at once.
//!
//! At a million names the index and the node blobs span tens of megabytes, so nearly
//! every lookup waits for memory twice (the slot, then the node): about a sixth of a
//! worker's CPU, one miss after another. Issued for the whole batch first, those
//! misses overlap: the CPU has many fetches in flight instead of one. This is only a
//! hint: a question it cannot read (compressed, malformed) is simply not prefetched,
//! and the answers do not depend on it.

use std::sync::Arc;

use crate::zone::{Zone, ZoneSet};

/// Requests a batch holds at most (the UDP front reads 64 at a time).
const MAX: usize = 64;

/// Prefetches the slots, then the nodes, of the questions of `requests` (wire
/// messages as received; only the first `MAX` are looked at).
pub fn prefetch<'r>(zones: &ZoneSet, requests: impl Iterator<Item = &'r [u8]>) {
    if zones.is_empty() {
        // A resolver without zones of its own: nothing to look up.
        return;
    }
    let mut targets: [Option<(&Arc<Zone>, u64)>; MAX] = [None; MAX];
    let mut lower = [0u8; 255];
    for (request, target) in requests.zip(targets.iter_mut()) {
        let Some(len) = question_lower(request, &mut lower) else {
            continue;
        };
        let name = &lower[..len];
        if let Some(zone) = zones.find(name) {
            let h = Zone::owner_hash(name);
            zone.prefetch(h);
            *target = Some((zone, h));
        }
    }
    for (zone, h) in targets.iter().flatten() {
        zone.prefetch_node(*h);
    }
}

/// The question's name, lowercased, written to `out`; its length. `None` for a
/// message too short, a compressed or malformed name (not worth a prefetch).
fn question_lower(request: &[u8], out: &mut [u8; 255]) -> Option<usize> {
    let mut at = 12;
    let mut len = 0;
    loop {
        let label = usize::from(*request.get(at)?);
        if label & 0xc0 != 0 || len + 1 + label > out.len() {
            return None;
        }
        let bytes = request.get(at + 1..at + 1 + label)?;
        out[len] = label as u8;
        for (o, b) in out[len + 1..len + 1 + label].iter_mut().zip(bytes) {
            *o = b.to_ascii_lowercase();
        }
        len += 1 + label;
        at += 1 + label;
        if label == 0 {
            return Some(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_names_are_read_lowercased_and_bad_ones_skipped() {
        let mut out = [0u8; 255];
        let mut msg = vec![0u8; 12];
        msg.extend_from_slice(b"\x03WwW\x07Example\x00\x00\x01\x00\x01");
        let len = question_lower(&msg, &mut out).unwrap();
        assert_eq!(&out[..len], b"\x03www\x07example\x00");
        // Truncated, compressed, and no question at all.
        assert_eq!(question_lower(&msg[..16], &mut out), None);
        let mut compressed = vec![0u8; 12];
        compressed.extend_from_slice(b"\xc0\x0c");
        assert_eq!(question_lower(&compressed, &mut out), None);
        assert_eq!(question_lower(&msg[..5], &mut out), None);
        // Any bytes at all: never a panic.
        let mut state = 1u64;
        for _ in 0..2000 {
            let junk: Vec<u8> = (0..40)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (state >> 56) as u8
                })
                .collect();
            let _ = question_lower(&junk, &mut out);
        }
        prefetch(&ZoneSet::new(), [msg.as_slice(), &[0xff; 300]].into_iter());
    }
}
