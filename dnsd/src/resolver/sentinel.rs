//! The trust-anchor sentinel (RFC 8509): a client learns whether this resolver
//! trusts a root key by asking for A or AAAA of `root-key-sentinel-is-ta-NNNNN.<zone>`
//! or `root-key-sentinel-not-ta-NNNNN.<zone>` (NNNNN: the key tag, five decimal
//! digits). When the answer validated as secure, `is-ta` of a key tag the root's
//! anchor does not hold, and `not-ta` of one it holds, become SERVFAIL; anything
//! else (other types, insecure or bogus answers, other names) is answered as usual.

use hickory_proto::rr::{Name, RecordType};

/// What the leftmost label of a query name asks, with the key tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sentinel {
    /// `root-key-sentinel-is-ta-NNNNN`.
    IsTa(u16),
    /// `root-key-sentinel-not-ta-NNNNN`.
    NotTa(u16),
}

/// The sentinel that (`name`, `qtype`) asks about, if any (RFC 8509 §3: A and AAAA
/// only; the label is matched without regard to case).
pub fn sentinel(name: &Name, qtype: RecordType) -> Option<Sentinel> {
    if !matches!(qtype, RecordType::A | RecordType::AAAA) {
        return None;
    }
    let label = name.iter().next()?;
    let label = std::str::from_utf8(label).ok()?.to_ascii_lowercase();
    let tag = |rest: &str| {
        (rest.len() == 5 && rest.bytes().all(|b| b.is_ascii_digit()))
            .then(|| rest.parse::<u16>().ok())
            .flatten()
    };
    if let Some(rest) = label.strip_prefix("root-key-sentinel-is-ta-") {
        return tag(rest).map(Sentinel::IsTa);
    }
    label
        .strip_prefix("root-key-sentinel-not-ta-")
        .and_then(tag)
        .map(Sentinel::NotTa)
}

/// Whether a secure answer to a question that asks `sentinel` turns into SERVFAIL,
/// given the key tags of the root's trust anchor (`root_tags`).
pub fn fails(sentinel: Sentinel, root_tags: &[u16]) -> bool {
    match sentinel {
        Sentinel::IsTa(tag) => !root_tags.contains(&tag),
        Sentinel::NotTa(tag) => root_tags.contains(&tag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    #[test]
    fn sentinel_labels_are_read_for_addresses_only() {
        let is = n("Root-Key-Sentinel-IS-TA-20326.example.");
        assert_eq!(sentinel(&is, RecordType::A), Some(Sentinel::IsTa(20326)));
        assert_eq!(
            sentinel(
                &n("root-key-sentinel-not-ta-00042.example."),
                RecordType::AAAA
            ),
            Some(Sentinel::NotTa(42))
        );
        assert_eq!(sentinel(&is, RecordType::TXT), None);
        // Not five digits, out of range, or not the leftmost label.
        for other in [
            "root-key-sentinel-is-ta-2032.example.",
            "root-key-sentinel-is-ta-99999.example.",
            "root-key-sentinel-is-ta-2032x.example.",
            "www.root-key-sentinel-is-ta-20326.example.",
        ] {
            assert_eq!(sentinel(&n(other), RecordType::A), None, "{other}");
        }
    }

    #[test]
    fn is_ta_fails_for_keys_not_trusted_and_not_ta_for_keys_trusted() {
        let tags = [20326, 38696];
        assert!(!fails(Sentinel::IsTa(20326), &tags));
        assert!(fails(Sentinel::IsTa(19036), &tags));
        assert!(fails(Sentinel::NotTa(20326), &tags));
        assert!(!fails(Sentinel::NotTa(19036), &tags));
        // Without a root anchor no key is trusted.
        assert!(fails(Sentinel::IsTa(20326), &[]));
    }
}
