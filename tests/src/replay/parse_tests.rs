//! The replay parser on small scenarios written here.

use super::*;

const SMALL: &str = r#"; a comment
server:
	trust-anchor: "example.com. 3600 IN DS 2854 8 2 abcd"
	val-override-date: "20070916134226"
	qname-minimisation: "no"
stub-zone:
	name: "."
	stub-addr: 193.0.14.129 	# K.ROOT-SERVERS.NET.
forward-zone:
	name: "corp.example."
	forward-addr: 198.51.100.7@53
	forward-first: yes
CONFIG_END

SCENARIO_BEGIN A small test
RANGE_BEGIN 0 100
	ADDRESS 193.0.14.129
	ADDRESS 2001:db8::1
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR AA NOERROR ; trailing comment
SECTION QUESTION
. IN NS
SECTION ANSWER
. IN NS	K.ROOT-SERVERS.NET.
SECTION ADDITIONAL
K.ROOT-SERVERS.NET.	IN	A	193.0.14.129
ENTRY_END
RANGE_END

STEP 1 QUERY
ENTRY_BEGIN
REPLY RD DO
SECTION QUESTION
www.example.com. IN A
ENTRY_END
STEP 5 TIME_PASSES ELAPSE 3.5
STEP 6 TRAFFIC
STEP 7 CHECK_OUT_QUERY

ENTRY_BEGIN
MATCH qname
ENTRY_END
STEP 10 CHECK_ANSWER
ENTRY_BEGIN
MATCH all
REPLY QR RD RA AD NOERROR
SECTION QUESTION
www.example.com. IN A
SECTION ANSWER
www.example.com. 3600 IN A 10.20.30.40
ENTRY_END
SCENARIO_END
"#;

#[test]
fn config_clauses_and_options() {
    let s = parse(SMALL).unwrap();
    assert_eq!(s.title, "A small test");
    assert_eq!(
        s.config.get("trust-anchor"),
        Some("example.com. 3600 IN DS 2854 8 2 abcd")
    );
    assert_eq!(s.config.get("qname-minimisation"), Some("no"));
    assert_eq!(s.config.stubs.len(), 1);
    assert_eq!(s.config.stubs[0].name, ".");
    assert_eq!(s.config.stubs[0].addrs, ["193.0.14.129"]);
    assert_eq!(s.config.forwards[0].name, "corp.example.");
    assert_eq!(
        parse_addr(&s.config.forwards[0].addrs[0]),
        "198.51.100.7".parse().ok()
    );
    assert_eq!(
        s.config.forwards[0].options,
        [("forward-first".into(), "yes".into())]
    );
}

#[test]
fn ranges_entries_and_sections() {
    let s = parse(SMALL).unwrap();
    let r = &s.ranges[0];
    assert_eq!((r.start, r.end), (0, 100));
    assert_eq!(r.addrs.len(), 2);
    let e = &r.entries[0];
    assert_eq!(e.line, 19);
    assert_eq!(e.matches, ["opcode", "qtype", "qname"]);
    assert!(e.adjusts("copy_id") && e.replies("aa") && !e.replies("TC"));
    assert_eq!(e.sections[0], [". IN NS"]);
    assert_eq!(e.sections[1], [". IN NS\tK.ROOT-SERVERS.NET."]);
    assert!(e.sections[2].is_empty());
    assert_eq!(e.sections[3].len(), 1);
    assert!(e.unsupported.is_empty());
}

#[test]
fn steps_with_and_without_entries() {
    let s = parse(SMALL).unwrap();
    let kinds: Vec<(u32, StepKind, bool)> = s
        .steps
        .iter()
        .map(|st| (st.n, st.kind.clone(), st.entry.is_some()))
        .collect();
    assert_eq!(
        kinds,
        [
            (1, StepKind::Query, true),
            (5, StepKind::TimePasses(4), false),
            (6, StepKind::Traffic, false),
            (7, StepKind::Other("CHECK_OUT_QUERY".into()), true),
            (10, StepKind::CheckAnswer, true),
        ]
    );
    let check = s.steps[4].entry.as_ref().unwrap();
    assert!(check.matches_on("ALL"));
    assert_eq!(
        check.sections[1],
        ["www.example.com. 3600 IN A 10.20.30.40"]
    );
}

#[test]
fn unknown_constructs_are_kept_and_errors_located() {
    let s = parse(
        "CONFIG_END\nSCENARIO_BEGIN x\nRANGE_BEGIN 0 10\nENTRY_BEGIN\nMATCH opcode\n\
         HEX_ANSWER_BEGIN\n00 01\nHEX_ANSWER_END\nENTRY_END\nRANGE_END\n",
    )
    .unwrap();
    assert_eq!(s.ranges[0].entries[0].unsupported, ["HEX_ANSWER_BEGIN"]);
    let e = parse("CONFIG_END\nRANGE_BEGIN 0 10\nENTRY_BEGIN\nMATCH opcode\n").unwrap_err();
    assert_eq!(e.line, 3);
    let e = parse("CONFIG_END\nRANGE_BEGIN zero 10\n").unwrap_err();
    assert_eq!(e.line, 2);
    let e = parse("CONFIG_END\nADDRESS 1.2.3.4\n").unwrap_err();
    assert!(e.message.contains("outside"), "{e}");
}
