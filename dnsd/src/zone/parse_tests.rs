//! The master-file syntax and the loader's error reporting, through `load_zone`.

use std::path::Path;

use super::super::load::{
    LoadError, LoadErrorKind, LoadOptions, load_zone, load_zone_from_bytes, load_zone_with,
};
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
fn without_dollar_ttl_a_record_takes_the_last_ttl_stated() {
    // RFC 1035 §5.1, as BIND: the SOA, first and without TTL, takes its MINIMUM (5);
    // then each record without a TTL takes the last one stated.
    let text = "@ SOA ns1 h 1 2 3 4 5\n NS ns1\nns1 60 A 198.51.100.1\nx A 198.51.100.2\n\
                y 70 A 198.51.100.3\n AAAA 2001:db8::3\n";
    let loaded =
        load_zone_from_bytes(text.as_bytes(), Path::new("t.zone"), &n("example.org.")).unwrap();
    let zone = &loaded.zone;
    assert_eq!(ttl(zone, "example.org.", Rtype::SOA), 5);
    assert_eq!(ttl(zone, "example.org.", Rtype::NS), 5);
    assert_eq!(ttl(zone, "x.example.org.", Rtype::A), 60);
    assert_eq!(ttl(zone, "y.example.org.", Rtype::AAAA), 70);
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "t.zone:1: no TTL, no $TTL and no TTL stated before: this record takes 5 (its \
          MINIMUM field, as BIND does); set $TTL"
        ]
    );

    // A first record that is not the SOA takes 3600 (NSD, Knot); later ones inherit,
    // with one warning for the file.
    let text = "www A 198.51.100.9\n@ 600 SOA ns1 h 1 2 3 4 5\n NS ns1\nns1 A 198.51.100.1\n\
                mail A 198.51.100.2\n";
    let loaded =
        load_zone_from_bytes(text.as_bytes(), Path::new("t.zone"), &n("example.org.")).unwrap();
    assert_eq!(ttl(&loaded.zone, "www.example.org.", Rtype::A), 3600);
    assert_eq!(ttl(&loaded.zone, "mail.example.org.", Rtype::A), 600);
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);

    let text = "@ 600 SOA ns1 h 1 2 3 4 5\n NS ns1\nns1 A 198.51.100.1\nmail A 198.51.100.2\n";
    let loaded =
        load_zone_from_bytes(text.as_bytes(), Path::new("t.zone"), &n("example.org.")).unwrap();
    assert_eq!(ttl(&loaded.zone, "ns1.example.org.", Rtype::A), 600);
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "t.zone:2: no $TTL: records without a TTL take the last TTL stated before them, \
          here 600 (RFC 1035 §5.1, as BIND; NSD and Knot use 3600)"
        ]
    );

    // With $TTL, records without a TTL take it (RFC 2308 §4), silently.
    let text = "$TTL 300\n@ 600 SOA ns1 h 1 2 3 4 5\n NS ns1\nns1 A 198.51.100.1\n";
    let loaded =
        load_zone_from_bytes(text.as_bytes(), Path::new("t.zone"), &n("example.org.")).unwrap();
    assert_eq!(ttl(&loaded.zone, "ns1.example.org.", Rtype::A), 300);
    assert!(loaded.warnings.is_empty());
}

#[test]
fn collects_every_error_with_its_line() {
    let text = format!(
        "{HEAD}a CH A 198.51.100.9\nb 2147483648 A 198.51.100.9\nc BOGUS x\nd A 1.2.3\n\
         e MX 10\nf.example.com. A 198.51.100.9\n$BOGUS 1-2 x\ng A 1.2.3.4 )\n"
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
            "t.zone:11: unknown directive '$BOGUS' (only $ORIGIN, $TTL, $INCLUDE and $GENERATE are supported)",
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
        matches!(errors[0].kind, LoadErrorKind::IncludeRead { .. }),
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
        (
            root.join("dnsd/tests/zones-nsd/nsd-types.example.zone"),
            "nsd-types.example.",
        ),
        (
            root.join("dnsd/tests/zones-bind/bind-types.example.zone"),
            "bind-types.example.",
        ),
        (root.join("zones/tricky/generate.zone"), "example.org."),
    ];
    const SPECIAL: &[u8] = b"()\";\\ \t\n.@$#*=,:/!+-{}0123456789aANSEWm";
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

#[test]
fn generate_makes_records_as_bind_does() {
    let zone = load(&format!(
        "{HEAD}$GENERATE 1-3 host$ A 198.51.100.$\n\
         $GENERATE 10-20/5 ${{-10,3,d}} 300 IN PTR h${{0,2,x}}\n\
         $GENERATE 1-2 mx$ MX \"10 mail$\"\n\
         $GENERATE 255-255 ${{0,3,n}} TXT a$$b\n"
    ))
    .unwrap();
    assert_eq!(
        rdatas(&zone, "host3.example.org.", Rtype::A),
        [vec![198, 51, 100, 3]]
    );
    assert_eq!(ttl(&zone, "005.example.org.", Rtype::PTR), 300);
    assert_eq!(
        rdatas(&zone, "010.example.org.", Rtype::PTR),
        [n("h14.example.org.").as_wire().to_vec()]
    );
    let mut mx = vec![0, 10];
    mx.extend_from_slice(n("mail2.example.org.").as_wire());
    assert_eq!(rdatas(&zone, "mx2.example.org.", Rtype::MX), [mx]);
    assert_eq!(
        rdatas(&zone, "f.f.example.org.", Rtype::TXT),
        [b"\x03a$b".to_vec()]
    );

    assert_eq!(
        errors(&format!(
            "{HEAD}$GENERATE 3-1 x$ A 1.2.3.$\n$GENERATE 1-2 x$ A 1.2.3.${{-5}}\n"
        )),
        [
            "t.zone:5: $GENERATE: bad range: write start-stop or start-stop/step, start <= stop",
            "t.zone:6: $GENERATE: the offset makes the value negative",
        ]
    );
    // A bad record stops the directive at its first value: one error, at its line.
    assert_eq!(
        errors(&format!("{HEAD}$GENERATE 250-260 x$ A 198.51.100.$\n")),
        ["t.zone:5: bad A record: bad IPv4 address '198.51.100.256'"]
    );
}

#[test]
fn generate_cannot_exhaust_memory() {
    // Four billion records are refused by the zone's byte budget, not built.
    let options = LoadOptions {
        max_bytes: 1 << 20,
        ..LoadOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.org.zone");
    std::fs::write(
        &path,
        format!("{HEAD}$GENERATE 0-4294967295 h$ A 198.51.100.1\n"),
    )
    .unwrap();
    let errors = load_zone_with(&path, &n("example.org."), &options)
        .err()
        .unwrap();
    let last = errors.last().unwrap().to_string();
    assert!(last.ends_with(":5: the zone's files hold more than 1048576 octets (with $INCLUDEs and $GENERATE; [include] max-bytes)"), "{last}");
}

#[test]
fn an_included_file_may_start_with_the_current_owner() {
    // BIND and NSD: a blank owner at the top of an $INCLUDEd file is the owner of the
    // record before the $INCLUDE (Knot refuses it).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.org.zone");
    std::fs::write(&path, format!("{HEAD}www A 198.51.100.2\n$INCLUDE part\n")).unwrap();
    std::fs::write(
        dir.path().join("part"),
        "  AAAA 2001:db8::2\nmail A 198.51.100.3\n",
    )
    .unwrap();
    let zone = load_zone(&path, &n("example.org.")).unwrap().zone;
    assert_eq!(rdatas(&zone, "www.example.org.", Rtype::AAAA).len(), 1);
    assert_eq!(rdatas(&zone, "mail.example.org.", Rtype::A).len(), 1);
}

#[test]
fn a_backslash_at_the_end_of_a_line_is_an_error_not_a_lost_record() {
    assert_eq!(
        errors(&format!(
            "{HEAD}www TXT abc\\\nmail A 198.51.100.3\nx TXT \"open\ny A 1.2.3.4\n"
        )),
        [
            "t.zone:5: '\\' at the end of the line would join the next line into this record; write \\092 for a backslash",
            "t.zone:7: quoted string is not closed on its line (a '\"' is missing)",
        ]
    );
}

#[test]
fn rrsigs_of_different_types_covered_may_have_different_ttls() {
    let text = format!(
        "{HEAD}www 300 A 198.51.100.2\nwww 60 TXT x\n\
         www 300 RRSIG A 13 2 300 20261231000000 20261101000000 1 example.org. AAEC\n\
         www 60 RRSIG TXT 13 2 60 20261231000000 20261101000000 1 example.org. AAEC\n\
         www 90 RRSIG TXT 13 2 60 20261231000000 20261101000000 2 example.org. AAEC\n"
    );
    let loaded =
        load_zone_from_bytes(text.as_bytes(), Path::new("t.zone"), &n("example.org.")).unwrap();
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "t.zone:9: TTL 90 of this RRSIG record at www.example.org. differs from the \
          RRset's TTL 60 (line 8); the RRset is served with 60"
        ]
    );
}
