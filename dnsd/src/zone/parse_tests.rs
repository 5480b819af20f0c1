//! The master-file syntax and the loader's error reporting, through `load_zone`.

use std::path::Path;

use super::super::load::{LoadError, LoadErrorKind, load_zone, load_zone_from_bytes};
use super::super::snapshot::Zone;
use super::*;

fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

fn load(text: &str) -> Result<Zone, Vec<LoadError>> {
    load_zone_from_bytes(text.as_bytes(), Path::new("t.zone"), &n("example.org."))
        .map(|loaded| loaded.zone)
}

fn errors(text: &str) -> Vec<String> {
    match load(text) {
        Ok(_) => panic!("loaded"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn rdatas(zone: &Zone, owner: &str, rtype: Rtype) -> Vec<Vec<u8>> {
    let node = zone.node(n(owner).as_wire()).unwrap();
    node.rrset(rtype)
        .unwrap()
        .rdatas()
        .map(<[u8]>::to_vec)
        .collect()
}

fn ttl(zone: &Zone, owner: &str, rtype: Rtype) -> u32 {
    zone.node(n(owner).as_wire())
        .unwrap()
        .rrset(rtype)
        .unwrap()
        .ttl
}

const HEAD: &str =
    "$TTL 1h\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n  NS ns1\nns1 A 198.51.100.1\n";

#[test]
fn master_file_syntax() {
    let zone = load(concat!(
        "$ORIGIN example.org.\n",
        "$TTL 1h30m\n",
        "@ IN SOA ns1 hostmaster (\n",
        "    2026112201 ; serial\n",
        "    7200 900 1209600 300 )\n",
        "\tNS ns1.example.org.\n",
        "NS1 300 IN A 198.51.100.1\n",
        "www IN 600 A 198.51.100.2 ; class then TTL\n",
        "    AAAA 2001:db8::2\n",
        "$ORIGIN sub\n",
        "deep TXT \"a;b\" ( c\n  d ) \"\"\n",
        "$ORIGIN example.org.\n",
        r#"esc\.aped TXT "\"q" x\ y"#,
        "\n",
    ))
    .unwrap();
    assert_eq!(zone.serial(), Some(2026112201));
    assert_eq!(ttl(&zone, "example.org.", Rtype::NS), 5400);
    assert_eq!(ttl(&zone, "ns1.example.org.", Rtype::A), 300);
    assert_eq!(ttl(&zone, "www.example.org.", Rtype::A), 600);
    assert_eq!(rdatas(&zone, "www.example.org.", Rtype::AAAA).len(), 1);
    assert_eq!(
        rdatas(&zone, "deep.sub.example.org.", Rtype::TXT),
        [b"\x03a;b\x01c\x01d\x00".to_vec()]
    );
    let escaped = Name::from_text(r"esc\.aped.example.org.", None).unwrap();
    let node = zone.node(escaped.as_wire()).unwrap();
    let txt: Vec<_> = node.rrset(Rtype::TXT).unwrap().rdatas().collect();
    assert_eq!(txt, [b"\x02\"q\x03x y"]);
}

#[test]
fn byte_order_mark_and_crlf_line_ends_are_accepted() {
    let text = format!("\u{feff}{}", HEAD.replace('\n', "\r\n"));
    let zone = load(&text).unwrap();
    assert_eq!(zone.serial(), Some(1));
}

#[test]
fn ttl_defaults_to_3600_without_dollar_ttl() {
    let zone =
        load("@ SOA ns1 h 1 2 3 4 5\n NS ns1\nns1 60 A 198.51.100.1\nx A 198.51.100.2\n").unwrap();
    assert_eq!(ttl(&zone, "x.example.org.", Rtype::A), 3600);
    assert_eq!(ttl(&zone, "example.org.", Rtype::SOA), 3600);
}

#[test]
fn collects_every_error_with_its_line() {
    let text = format!(
        "{HEAD}a CH A 198.51.100.9\nb 2147483648 A 198.51.100.9\nc BOGUS x\nd A 1.2.3\n\
         e MX 10\nf.example.com. A 198.51.100.9\n$GENERATE 1-2 x A 1.2.3.$\ng A 1.2.3.4 )\n"
    );
    assert_eq!(
        errors(&text),
        [
            "t.zone:5: class CH is not supported: dnsd serves class IN only",
            "t.zone:6: TTL 2147483648 is above 2147483647 (RFC 2181 §8)",
            "t.zone:7: unknown record type 'BOGUS' (write TYPEnnn for others, RFC 3597)",
            "t.zone:8: bad A record: bad IPv4 address '1.2.3'",
            "t.zone:9: bad MX record: missing exchange",
            "t.zone:10: out of zone data: f.example.com. is outside the zone example.org.",
            "t.zone:11: unknown directive '$GENERATE' (only $ORIGIN, $TTL and $INCLUDE are supported)",
            "t.zone:12: ')' without a matching '('",
        ]
    );
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        "\0\0\0",
        "(((",
        ")",
        "\"",
        "\\",
        "$INCLUDE /etc/passwd",
        "@ SOA",
        "  A 1.2.3.4",
    ] {
        assert!(load(text).is_err(), "{text:?}");
    }
    let binary: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let result = load_zone_from_bytes(&binary, Path::new("b"), &n("example.org."));
    assert!(result.is_err_and(|errors| errors.len() <= crate::zone::load::MAX_ERRORS + 2));
}

#[test]
fn include_is_relative_to_the_including_file_and_loops_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("inc")).unwrap();
    std::fs::write(
        dir.path().join("example.org.zone"),
        format!("{HEAD}$INCLUDE inc/hosts.inc\n$INCLUDE inc/sub.inc sub\nafter A 198.51.100.5\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("inc/hosts.inc"), "host A 198.51.100.3\n").unwrap();
    std::fs::write(dir.path().join("inc/sub.inc"), "x A 198.51.100.4\n").unwrap();
    let path = dir.path().join("example.org.zone");
    let zone = load_zone(&path, &n("example.org.")).unwrap().zone;
    assert_eq!(
        rdatas(&zone, "host.example.org.", Rtype::A),
        [vec![198, 51, 100, 3]]
    );
    assert_eq!(
        rdatas(&zone, "x.sub.example.org.", Rtype::A),
        [vec![198, 51, 100, 4]]
    );
    assert_eq!(
        rdatas(&zone, "after.example.org.", Rtype::A),
        [vec![198, 51, 100, 5]]
    );

    std::fs::write(
        dir.path().join("inc/hosts.inc"),
        "$INCLUDE ../example.org.zone\n",
    )
    .unwrap();
    let errors = load_zone(&path, &n("example.org.")).err().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].file, dir.path().join("inc/hosts.inc"));
    assert_eq!(errors[0].line, 1);
    assert!(matches!(errors[0].kind, LoadErrorKind::IncludeLoop(_)));

    std::fs::write(dir.path().join("inc/hosts.inc"), "$INCLUDE missing.inc\n").unwrap();
    let errors = load_zone(&path, &n("example.org.")).err().unwrap();
    assert!(
        matches!(errors[0].kind, LoadErrorKind::Read(_)),
        "{errors:?}"
    );

    let errors = load_zone(&dir.path().join("absent.zone"), &n("example.org."))
        .err()
        .unwrap();
    assert_eq!(errors.len(), 1, "only the read error: {errors:?}");
    assert!(
        errors[0].to_string().ends_with("(os error 2)"),
        "{}",
        errors[0]
    );
}

/// Small deterministic generator (splitmix64) for the mutation test.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[test]
fn mutated_zone_files_give_errors_not_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let seeds = [
        (
            root.join("zones/home.example.net.zone"),
            "home.example.net.",
        ),
        (
            root.join("dnsd/tests/zones/every-type.example.zone"),
            "every-type.example.",
        ),
    ];
    const SPECIAL: &[u8] = b"()\";\\ \t\n.@$#*=,0123456789aA";
    let mut state = 7;
    for (seed, apex) in seeds {
        let original = std::fs::read(&seed).unwrap();
        assert!(load_zone_from_bytes(&original, &seed, &n(apex)).is_ok());
        for _ in 0..1500 {
            let mut text = original.clone();
            for _ in 0..1 + next(&mut state) % 4 {
                let at = (next(&mut state) % text.len() as u64) as usize;
                let byte = SPECIAL[(next(&mut state) % SPECIAL.len() as u64) as usize];
                match next(&mut state) % 3 {
                    0 => text[at] = byte,
                    1 => text.insert(at, byte),
                    _ => {
                        text.remove(at);
                    }
                }
            }
            // Either outcome is fine; a panic fails the test.
            if let Err(errors) = load_zone_from_bytes(&text, Path::new("m.zone"), &n(apex)) {
                assert!(!errors.is_empty());
            }
        }
    }
}

/// The shape of the benchmark zone, small: every name and type is there afterwards.
#[test]
fn generated_zone_of_many_names_loads_completely() {
    let mut text = String::from(HEAD);
    for i in 0..5000 {
        match i % 10 {
            0..=6 => text.push_str(&format!("host{i} A 198.51.100.{}\n", i % 256)),
            7 => text.push_str(&format!(
                "host{i} AAAA 2001:db8::{i:x}\nhost{i} A 203.0.113.1\n"
            )),
            8 => text.push_str(&format!("host{i} MX 10 host{}\n", i - 1)),
            _ => text.push_str(&format!("host{i} CNAME host{}\n", i - 2)),
        }
    }
    let zone = load(&text).unwrap();
    assert_eq!(zone.record_count(), 3 + 5000 + 500);
    assert_eq!(zone.node_count(), 2 + 5000);
    assert_eq!(
        rdatas(&zone, "host4999.example.org.", Rtype::CNAME),
        [b"\x08host4997\x07example\x03org\x00".to_vec()]
    );
    assert_eq!(rdatas(&zone, "host17.example.org.", Rtype::A).len(), 1);
    assert_eq!(rdatas(&zone, "host17.example.org.", Rtype::AAAA).len(), 1);
}
