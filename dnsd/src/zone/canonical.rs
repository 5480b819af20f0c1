//! DNS canonical name order (RFC 4034 §6.1), the order of a zone's store, of AXFR
//! and of NSEC chains: names compare label by label from the root, each label as a
//! lowercased octet string in which a shorter label that is a prefix of a longer one
//! comes first; a name that is an ancestor of another comes before it.
//!
//! Two forms of the same order:
//!
//! - [`compare`] on two lowercased wire names, for lookups that start from one name;
//! - [`sort_key`], a byte string whose plain byte order (`memcmp`) is the canonical
//!   order of names below one common ancestor, for sorting many names at once.
//!
//! Not wire-byte order: `a.example` < `b.a.example` < `z.example` canonically, while the
//! wire forms `\1a\7example` < `\1b\1a\7example` < `\1z...` order differently as soon as
//! labels differ in length.

use std::cmp::Ordering;

use crate::wire::name::MAX_NAME_LEN;

/// Most labels of a name (a wire name of 255 octets holds at most 127 labels and root).
pub const MAX_LABELS: usize = 128;

/// The label offsets of a wire name, leftmost first, root excluded.
#[derive(Clone, Copy)]
pub struct Labels {
    offsets: [u8; MAX_LABELS],
    count: usize,
}

impl Labels {
    /// The labels of `wire`, a valid uncompressed name. A malformed name yields the
    /// labels up to where it stops making sense.
    pub fn of(wire: &[u8]) -> Self {
        let mut offsets = [0u8; MAX_LABELS];
        let mut count = 0;
        let mut at = 0usize;
        while count < MAX_LABELS {
            let Some(&len) = wire.get(at) else { break };
            if len == 0 || at + 1 + len as usize > wire.len() || at >= MAX_NAME_LEN {
                break;
            }
            offsets[count] = at as u8;
            count += 1;
            at += 1 + len as usize;
        }
        Self { offsets, count }
    }

    /// Number of labels (root excluded).
    pub fn count(&self) -> usize {
        self.count
    }

    /// The `i`-th label counted from the root (0: the top-level label), without its
    /// length octet.
    pub fn from_root<'w>(&self, wire: &'w [u8], i: usize) -> &'w [u8] {
        let at = self.offsets[self.count - 1 - i] as usize;
        &wire[at + 1..at + 1 + wire[at] as usize]
    }
}

/// Canonical order of two lowercased wire names (RFC 4034 §6.1).
pub fn compare(a: &[u8], b: &[u8]) -> Ordering {
    compare_labels(a, &Labels::of(a), b)
}

/// Canonical order of `a`, whose labels are `la` (computed once for many comparisons),
/// and the lowercased wire name `b`.
pub fn compare_labels(a: &[u8], la: &Labels, b: &[u8]) -> Ordering {
    let lb = Labels::of(b);
    let common = la.count.min(lb.count);
    for i in 0..common {
        match la.from_root(a, i).cmp(lb.from_root(b, i)) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    la.count.cmp(&lb.count)
}

/// Appends to `out` the sort key of the lowercased wire name `name` relative to its
/// ancestor `apex` (whose labels it skips): the labels below `apex` from the root
/// down, each octet `b` written `b + 1` (0xFE and 0xFF as `FF 01` and `FF 02`) and each
/// label ended by a 0x00. Keys of names below one apex compare by `memcmp` as the
/// names do canonically: the terminator sorts below every octet, so a label sorts
/// before its extensions, and a name's key is a prefix of its descendants' keys.
pub fn sort_key(name: &[u8], apex_len: usize, out: &mut Vec<u8>) {
    let labels = Labels::of(name);
    let below = name.len().saturating_sub(apex_len);
    for i in 0..labels.count {
        let at = labels.offsets[labels.count - 1 - i] as usize;
        if at >= below {
            continue; // a label of the apex
        }
        for &b in &name[at + 1..at + 1 + name[at] as usize] {
            match b {
                0xfe => out.extend_from_slice(&[0xff, 0x01]),
                0xff => out.extend_from_slice(&[0xff, 0x02]),
                _ => out.push(b + 1),
            }
        }
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::name::Name;

    fn w(text: &str) -> Vec<u8> {
        Name::from_text(text, None)
            .unwrap()
            .to_lowercase()
            .as_wire()
            .to_vec()
    }

    /// RFC 4034 §6.1's own example, in order.
    const RFC_ORDER: [&str; 9] = [
        "example.",
        "a.example.",
        "yljkjljk.a.example.",
        "Z.a.example.",
        "zABC.a.EXAMPLE.",
        "z.example.",
        "\\001.z.example.",
        "*.z.example.",
        "\\200.z.example.",
    ];

    #[test]
    fn the_rfc_example_is_in_order() {
        for pair in RFC_ORDER.windows(2) {
            let (a, b) = (w(pair[0]), w(pair[1]));
            assert_eq!(compare(&a, &b), Ordering::Less, "{} < {}", pair[0], pair[1]);
            assert_eq!(compare(&b, &a), Ordering::Greater);
            assert_eq!(compare(&a, &a), Ordering::Equal);
        }
    }

    /// The naive definition: labels from the root, compared as octet strings.
    fn oracle(a: &[u8], b: &[u8]) -> Ordering {
        let labels = |w: &[u8]| {
            let mut v: Vec<Vec<u8>> = Name::from_wire(w)
                .unwrap()
                .labels()
                .map(<[u8]>::to_vec)
                .collect();
            v.reverse();
            v
        };
        labels(a).cmp(&labels(b))
    }

    /// Random names from a small alphabet that includes 0x00, 0xfe, 0xff and
    /// labels that are prefixes of each other.
    fn random_names(seed: u64, count: usize) -> Vec<Vec<u8>> {
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = [0u8, 1, b'a', b'b', b'-', 0xfe, 0xff];
        (0..count)
            .map(|_| {
                let mut wire = Vec::new();
                for _ in 0..(next() % 4) {
                    let len = 1 + (next() % 3) as usize;
                    wire.push(len as u8);
                    for _ in 0..len {
                        wire.push(alphabet[(next() % alphabet.len() as u64) as usize]);
                    }
                }
                wire.extend_from_slice(&w("zone.example."));
                wire
            })
            .collect()
    }

    #[test]
    fn compare_and_sort_keys_agree_with_the_definition() {
        let names = random_names(0x5eed, 400);
        let apex_len = w("zone.example.").len();
        let keys: Vec<Vec<u8>> = names
            .iter()
            .map(|n| {
                let mut key = Vec::new();
                sort_key(n, apex_len, &mut key);
                key
            })
            .collect();
        for (i, a) in names.iter().enumerate() {
            for (j, b) in names.iter().enumerate() {
                let expected = oracle(a, b);
                assert_eq!(compare(a, b), expected, "{a:?} vs {b:?}");
                assert_eq!(keys[i].cmp(&keys[j]), expected, "keys of {a:?} vs {b:?}");
            }
        }
    }
}
