//! Differences from NSD that are allowed, each with its reason (README.md, "Differences
//! from NSD", says the same for users). A rule looks at one case and the two normalized
//! responses and, when it applies, removes the difference it allows from both; the case
//! passes if nothing else differs.

use netfabric_tests::dns::Normalized;

use crate::cases::Case;

/// A named, justified rule.
struct Rule {
    name: &'static str,
    /// Removes the allowed difference; true when the rule applied.
    apply: fn(&Case, &mut Normalized, &mut Normalized) -> bool,
}

const RULES: &[Rule] = &[Rule {
    name: "nsd-apex-ns-in-positive-answers",
    apply: apex_ns_in_positive_answers,
}];

/// NSD (without `minimal-responses`) puts the zone's NS RRset in the authority section
/// of every positive answer, and the addresses of those servers in the additional
/// section. RFC 1034 §4.3.2 and RFC 2181 §6.1 make this optional; resolvers ignore it
/// for positive answers, it only makes answers bigger (and truncation likelier). dnsd,
/// like Knot and NSD with `minimal-responses: yes`, leaves them out. A referral (no
/// answer) is not concerned: its NS RRset is the answer.
fn apex_ns_in_positive_answers(_: &Case, nsd: &mut Normalized, subject: &mut Normalized) -> bool {
    if nsd.rcode != 0 || nsd.answer.is_empty() || nsd.rcode != subject.rcode {
        return false;
    }
    let extra: Vec<_> = nsd
        .authority
        .iter()
        .filter(|(key, _)| key.1 == "NS" && !subject.authority.contains_key(*key))
        .map(|(key, rdatas)| (key.clone(), rdatas.clone()))
        .collect();
    if extra.is_empty() {
        return false;
    }
    for (key, rdatas) in &extra {
        nsd.authority.remove(key);
        // The servers' addresses that came with them, unless the subject has them too
        // (as additional data for an answer's own NS, MX or SRV records).
        for target in rdatas {
            let target = target.to_ascii_lowercase();
            let gone: Vec<_> = nsd
                .additional
                .keys()
                .filter(|k| k.0 == target && (k.1 == "A" || k.1 == "AAAA"))
                .filter(|k| !subject.additional.contains_key(*k))
                .cloned()
                .collect();
            for k in gone {
                nsd.additional.remove(&k);
            }
        }
    }
    true
}

/// Cases where NSD 4.6 and Knot disagree and an RFC says Knot is right: dnsd must
/// answer as Knot does (a response equal to NSD's alone fails). (label part, reason)
pub const KNOT_IS_RIGHT: &[(&str, &str)] = &[(
    "edns-v1+do",
    "RFC 3225 §3: the DO bit is copied into every response to a query that set it, \
     BADVERS included; NSD 4.6 leaves it out",
)];

/// Whether `case` is one of [`KNOT_IS_RIGHT`].
pub fn knot_is_right(case: &Case) -> bool {
    KNOT_IS_RIGHT
        .iter()
        .any(|(part, _)| case.label.split(' ').any(|word| word == *part))
}

/// Applies every rule to (nsd, subject); returns the names of those that applied.
pub fn apply(case: &Case, nsd: &mut Normalized, subject: &mut Normalized) -> Vec<&'static str> {
    RULES
        .iter()
        .filter(|rule| (rule.apply)(case, nsd, subject))
        .map(|rule| rule.name)
        .collect()
}
