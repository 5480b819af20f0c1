//! The zones the answer tests run on, one copy for all of them: `tests.rs` and
//! `tests_wire.rs` check `respond`'s responses against expectations written by hand,
//! `vs_nsd.rs` against NSD serving the very same text.
//!
//! example.org covers each case of RFC 1034 §4.3.2 and its companions by one or more
//! names: CNAME chains, loops and targets in and out of our zones, DNAME (also looping),
//! wildcards and empty non-terminals, delegations with glue and DS, NS/MX/SRV targets
//! with addresses, big RRsets (`mid`: 6 TXT of 100 octets, more than 512 octets but
//! within 1232; `big`: 12, more than 1232), and delegations with too much glue. Its
//! child zone child.example.org and an unrelated zone other.test are served beside it.

use std::path::Path;
use std::sync::Arc;

use crate::wire::name::Name;
use crate::zone::load::load_zone_from_bytes;
use crate::zone::{Zone, ZoneSet};

const EXAMPLE: &str = r#"$ORIGIN example.org.
$TTL 3600
@ IN SOA ns1 hostmaster 7 3600 900 604800 300
@ NS ns1
@ NS ns2.other.net.
@ MX 10 mail
ns1 A 198.51.100.1
ns1 AAAA 2001:db8::1
mail A 198.51.100.5
mail AAAA 2001:db8::5
www A 198.51.100.2
www AAAA 2001:db8::2
alias CNAME www
alias2 CNAME alias
loop1 CNAME loop2
loop2 CNAME loop1
self CNAME self
ext CNAME www.other.net.
*.wild TXT "wild"
*.wild MX 10 mail
ent.wild A 198.51.100.7
a.b.c TXT "deep"
*.c TXT "wild c"
*.cn CNAME www
sub NS ns.sub
sub NS ns.elsewhere.net.
sub NS ns1
ns.sub A 198.51.100.9
ns.sub AAAA 2001:db8::9
deep.ns.sub A 198.51.100.10
d DNAME target.example.net.
dloop DNAME dloop.example.org.
dl DNAME example.org.
din DNAME other.test.
srv._tcp SRV 0 5 80 www
srv._tcp SRV 0 5 80 mail
srv._tcp SRV 0 5 80 nowhere.example.net.
mx2 MX 10 host.wild
mx3 MX 10 ns.sub
mx4 MX 10 www.other.test.
ptr PTR www
txt TXT "a" "b c"
child NS ns1.child
child DS 12345 8 2 49FD46E6C4B45C55D4AC49FD46E6C4B45C55D4AC49FD46E6C4B45C55D4AC4444
ns1.child A 198.51.100.20
tochild CNAME www.child
toother CNAME www.other.test.
tonx CNAME nothere
tonone CNAME www.nowhere.invalid.
toref CNAME host.sub
towild CNAME x.wild
big TXT "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "1123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "2123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "3123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "4123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "5123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "6123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "7123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "8123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "9123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "A123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "B123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
tobig CNAME big
mid TXT "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
mid TXT "1123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
mid TXT "2123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
mid TXT "3123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
mid TXT "4123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
mid TXT "5123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
*.wa A 198.51.100.77
mx5 MX 10 host.wa
mx5 MX 20 mail
"#;

const CHILD: &str = r#"$ORIGIN child.example.org.
$TTL 600
@ SOA ns1 h 1 2 3 4 60
@ NS ns1
ns1 A 198.51.100.20
www A 198.51.100.21
"#;

const OTHER: &str = r#"$ORIGIN other.test.
$TTL 600
@ SOA ns1 h 1 2 3 4 60
@ NS ns1
ns1 A 198.51.100.30
www A 198.51.100.31
"#;

/// The zones: name and text. example.org gets, beside `EXAMPLE`, two delegations with
/// long in-domain server names (too much glue for 512 octets, and much too much) and an
/// MX RRset with a dozen targets.
pub(super) fn zones_text() -> Vec<(&'static str, String)> {
    let mut example = EXAMPLE.to_string();
    for (cut, count, base) in [("bigref", 12, 100), ("midref", 6, 200)] {
        for i in 1..=count {
            let ns = format!("a-long-name-server-number-{i:02}.{cut}");
            example.push_str(&format!(
                "{cut} NS {ns}\n{ns} A 198.51.100.{}\n{ns} AAAA 2001:db8::{}\n",
                base + i,
                base + i
            ));
        }
    }
    for i in 1..=12 {
        let mx = format!("a-long-mail-exchanger-name-{i:02}");
        example.push_str(&format!(
            "manymx MX {i} {mx}\n{mx} A 198.51.100.{}\n{mx} AAAA 2001:db8::{}\n",
            150 + i,
            150 + i
        ));
    }
    vec![
        ("example.org", example),
        ("child.example.org", CHILD.to_string()),
        ("other.test", OTHER.to_string()),
    ]
}

/// Builds a zone from master-file text that starts with `$ORIGIN`, with dnsd's loader.
pub(super) fn zone(text: &str) -> Zone {
    let origin = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("$ORIGIN"))
        .expect("the text sets $ORIGIN")
        .trim();
    let apex = Name::from_text(origin, None).unwrap();
    match load_zone_from_bytes(text.as_bytes(), Path::new("test.zone"), &apex) {
        Ok(loaded) => loaded.zone,
        Err(errors) => panic!("{errors:?}"),
    }
}

/// Every zone of [`zones_text`], loaded.
pub(super) fn zones() -> ZoneSet {
    zones_text()
        .into_iter()
        .fold(ZoneSet::new(), |set, (_, text)| {
            set.with_zone(Arc::new(zone(&text)))
        })
}
