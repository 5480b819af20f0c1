//! The same comparison with Knot Resolver (Debian's kresd 5.6, one process, the
//! mini-Internet's anchor and root hints): every question of `super::cases`, cold and
//! cached, rcode, AD, RRsets and EDE class, except the differences listed in
//! [`KNOWN`], each with the reason it is kresd's choice rather than a fault of dnsd's.

use std::net::SocketAddr;

use netfabric_tests::mini_internet::{MiniInternet, resolver_addr};

use super::{Case, compare_with};

/// Questions on which kresd answers otherwise, for reasons of its own: (name, type,
/// why). Measured with kresd 5.6.0: these and nothing else differ (the last one not
/// every time).
const KNOWN: &[(&str, u16, &str)] = &[
    (
        "mail.secure.example.",
        1,
        "asked with CD: kresd does not validate and sets no AD; dnsd and Unbound \
         validate and say AD when secure (RFC 6840 §5.9 recommends validating)",
    ),
    (
        "www.nodnskey.example.",
        1,
        "from its cache kresd's SERVFAIL carries EDE 0 (Other) where it said 9 (DNSKEY \
         Missing) when it resolved; dnsd says 9 both times",
    ),
    (
        "a.wild.secure.example.",
        16,
        "a wildcard NODATA: kresd, cold, now and then answers SERVFAIL with EDE 6 \
         (DNSSEC Bogus) and other times NOERROR (two runs in five on 2026-12-07); dnsd \
         and Unbound answer NOERROR with AD every time, and dnsd's answer is still \
         compared with Unbound's",
    ),
];

/// Asks kresd and dnsd every case not in [`KNOWN`]; the differences.
pub(super) fn as_knot_resolver_does(
    net: &MiniInternet,
    cases: &[Case],
    dnsd_addr: SocketAddr,
) -> Vec<String> {
    let kresd_addr = resolver_addr(5306);
    let _kresd = net.kresd_with(kresd_addr, "");
    let kept: Vec<Case> = cases
        .iter()
        .filter(|c| !KNOWN.iter().any(|(n, t, _)| *n == c.name && *t == c.qtype))
        .copied()
        .collect();
    let mut problems = Vec::new();
    for round in ["cold", "cached"] {
        let found = compare_with(net, &kept, ("kresd", kresd_addr), dnsd_addr);
        problems.extend(found.into_iter().map(|p| format!("kresd, {round}: {p}")));
    }
    problems
}
