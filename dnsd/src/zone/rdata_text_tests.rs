//! Presentation → wire, type by type, against hand-made and RFC test vectors.

use super::*;
use crate::zone::lexer::Lexer;

const ORIGIN: &[u8] = b"\x07example\x03org\x00";

fn wire(rtype: &str, rdata: &str) -> Result<Vec<u8>, RdataError> {
    let mut lexer = Lexer::new(rdata.as_bytes());
    let mut tokens = Vec::new();
    match lexer.next_entry(&mut tokens) {
        Some(Ok(_)) => {}
        None => tokens.clear(),
        Some(Err(e)) => panic!("lexer: {e:?}"),
    }
    let mut out = Vec::new();
    rdata_into(Rtype::from_text(rtype).unwrap(), &tokens, ORIGIN, &mut out).map(|()| out)
}

fn hex(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out = Vec::new();
    text::hex_into(clean.as_bytes(), &mut out).unwrap();
    out
}

#[test]
fn addresses_and_names() {
    assert_eq!(wire("A", "198.51.100.7").unwrap(), [198, 51, 100, 7]);
    for bad in [
        "198.51.100.256",
        "198.51.100",
        "198.51.100.7.1",
        "198.051.100.7",
        "1..2.3",
        ".1.2.3",
        "1.2.3.",
        "a.b.c.d",
        "",
    ] {
        assert_eq!(
            wire("A", bad).is_ok(),
            bad.parse::<std::net::Ipv4Addr>().is_ok(),
            "{bad}"
        );
    }
    assert_eq!(wire("A", "0.0.0.0").unwrap(), [0, 0, 0, 0]);
    assert_eq!(wire("A", "255.255.255.255").unwrap(), [255; 4]);
    assert!(wire("A", "198.51.100.7 x").is_err());
    assert_eq!(
        wire("AAAA", "2001:db8::1").unwrap(),
        hex("20010db8000000000000000000000001")
    );
    assert_eq!(wire("NS", "ns1").unwrap(), b"\x03ns1\x07example\x03org\x00");
    assert_eq!(
        wire("CNAME", "Www.Example.NET.").unwrap(),
        b"\x03Www\x07Example\x03NET\x00"
    );
    assert_eq!(wire("PTR", "@").unwrap(), ORIGIN);
    assert_eq!(
        wire("DNAME", "example.net.").unwrap(),
        b"\x07example\x03net\x00"
    );
    assert_eq!(
        wire("MX", "10 mail").unwrap(),
        b"\x00\x0a\x04mail\x07example\x03org\x00"
    );
    assert!(matches!(wire("MX", "mail"), Err(RdataError::Bad { .. })));
    assert_eq!(wire("MX", "10"), Err(RdataError::Missing("exchange")));
}

#[test]
fn soa_with_units() {
    let got = wire("SOA", "ns1 hostmaster ( 2026112201 1h 15m 2w 300 )").unwrap();
    let mut want = b"\x03ns1\x07example\x03org\x00\x0ahostmaster\x07example\x03org\x00".to_vec();
    for v in [2026112201u32, 3600, 900, 1_209_600, 300] {
        want.extend_from_slice(&v.to_be_bytes());
    }
    assert_eq!(got, want);
    assert!(wire("SOA", "ns1 hostmaster 1 2 3 4").is_err());
}

#[test]
fn txt_strings() {
    assert_eq!(
        wire("TXT", r#""v=spf1 -all" two"#).unwrap(),
        b"\x0bv=spf1 -all\x03two"
    );
    assert_eq!(
        wire("TXT", r#""a\"b" "\065\\""#).unwrap(),
        b"\x03a\"b\x02A\\"
    );
    assert_eq!(wire("TXT", r#""""#).unwrap(), b"\x00");
    let long = format!("\"{}\"", "x".repeat(256));
    assert_eq!(wire("TXT", &long), Err(RdataError::StringTooLong));
    assert_eq!(wire("TXT", ""), Err(RdataError::Missing("text")));
}

#[test]
fn srv_naptr_caa_and_keys() {
    assert_eq!(
        wire("SRV", "0 5 5060 sip").unwrap(),
        b"\x00\x00\x00\x05\x13\xc4\x03sip\x07example\x03org\x00"
    );
    assert_eq!(
        wire("NAPTR", r#"100 10 "S" "SIP+D2U" "" _sip._udp"#).unwrap(),
        b"\x00\x64\x00\x0a\x01S\x07SIP+D2U\x00\x04_sip\x04_udp\x07example\x03org\x00"
    );
    assert_eq!(
        wire("CAA", r#"0 issue "letsencrypt.org""#).unwrap(),
        b"\x00\x05issueletsencrypt.org"
    );
    assert!(wire("CAA", r#"0 is-sue "x""#).is_err());
    assert_eq!(
        wire("SSHFP", "4 2 0123 abcd").unwrap(),
        hex("04 02 0123abcd")
    );
    assert_eq!(wire("TLSA", "3 1 1 00ff").unwrap(), hex("030101 00ff"));
    assert_eq!(
        wire("DS", "60485 RSASHA256 5 ABCD").unwrap(),
        hex("ec45 08 05 abcd")
    );
    // Known digest types have known lengths (BIND refuses the others too).
    assert!(wire("DS", "60485 RSASHA256 2 ABCD").is_err());
    let sha256 = "ab".repeat(32);
    assert_eq!(
        wire("DS", &format!("60485 8 2 {sha256}")).unwrap(),
        hex(&format!("ec45 08 02 {sha256}"))
    );
    assert_eq!(
        wire("DNSKEY", "257 3 ED25519 aGVs bG8=").unwrap(),
        [&hex("0101 03 0f")[..], b"hello"].concat()
    );
    assert!(wire("DNSKEY", "257 3 15 a!b=").is_err());
}

#[test]
fn generic_form_for_any_type() {
    assert_eq!(wire("TYPE65534", r"\# 3 abcd ef").unwrap(), hex("abcdef"));
    assert_eq!(wire("A", r"\# 4 c6336407").unwrap(), [198, 51, 100, 7]);
    assert_eq!(wire("TYPE731", r"\# 0").unwrap(), b"");
    assert_eq!(
        wire("A", r"\# 3 c63364"),
        Err(RdataError::GenericInvalid(Rtype::A))
    );
    assert_eq!(
        wire("TYPE731", r"\# 2 abcdef"),
        Err(RdataError::GenericLength { said: 2, has: 3 })
    );
    assert_eq!(
        wire("NS", r"\# 2 0000"),
        Err(RdataError::GenericInvalid(Rtype::NS))
    );
    assert_eq!(wire("UID", "5"), Err(RdataError::Unsupported(Rtype(101))));
    assert_eq!(wire("UID", r"\# 1 05").unwrap(), [5]);
    // A known type's generic data must fit the type (RFC 3597 §5).
    assert_eq!(
        wire("HTTPS", r"\# 0"),
        Err(RdataError::GenericInvalid(Rtype::HTTPS))
    );
    assert_eq!(
        wire("DS", r"\# 3 303908"),
        Err(RdataError::GenericInvalid(Rtype::DS))
    );
}

/// RFC 9460 Appendix D test vectors.
#[test]
fn svcb_rfc9460_vectors() {
    let foo = "03 666f6f 07 6578616d706c65 03 636f6d 00";
    assert_eq!(
        wire("HTTPS", "0 foo.example.com.").unwrap(),
        hex(&format!("0000 {foo}"))
    );
    assert_eq!(wire("SVCB", "1 .").unwrap(), hex("0001 00"));
    assert_eq!(
        wire("SVCB", "16 foo.example.com. port=53").unwrap(),
        hex(&format!("0010 {foo} 0003 0002 0035"))
    );
    assert_eq!(
        wire("SVCB", "1 foo.example.com. key667=hello").unwrap(),
        hex(&format!("0001 {foo} 029b 0005 68656c6c6f"))
    );
    assert_eq!(
        wire("SVCB", r#"1 foo.example.com. key667="hello\210qoo""#).unwrap(),
        hex(&format!("0001 {foo} 029b 0009 68656c6c6fd2716f6f"))
    );
    assert_eq!(
        wire(
            "SVCB",
            r#"1 foo.example.com. ipv6hint="2001:db8::1,2001:db8::53:1""#
        )
        .unwrap(),
        hex(&format!(
            "0001 {foo} 0006 0020 20010db8000000000000000000000001 20010db8000000000000000000530001"
        ))
    );
    let org = "03 666f6f 07 6578616d706c65 03 6f7267 00";
    assert_eq!(
        wire(
            "SVCB",
            "16 foo.example.org. (alpn=h2,h3-19 mandatory=ipv4hint,alpn ipv4hint=192.0.2.1)"
        )
        .unwrap(),
        hex(&format!(
            "0010 {org} 0000 0004 00010004 0001 0009 026832 0568332d3139 0004 0004 c0000201"
        ))
    );
    assert_eq!(
        wire("SVCB", r#"16 foo.example.org. alpn="f\\\\oo\\,bar,h2""#).unwrap(),
        hex(&format!("0010 {org} 0001 000c 08665c6f6f2c626172 026832"))
    );
    assert_eq!(
        wire("SVCB", r"16 foo.example.org. alpn=f\\\092oo\092,bar,h2").unwrap(),
        hex(&format!("0010 {org} 0001 000c 08665c6f6f2c626172 026832"))
    );
}

#[test]
fn svcb_refuses_what_rfc9460_calls_invalid() {
    for bad in [
        "1 foo.example.com. mandatory=mandatory",
        "1 foo.example.com. mandatory=port",
        "1 foo.example.com. no-default-alpn",
        "1 foo.example.com. port=1 port=2",
        "1 foo.example.com. alpn",
        "1 foo.example.com. key65535=x",
        "1 foo.example.com. bogus=1",
        "1 foo.example.com. ipv4hint=2001:db8::1",
        "1 foo.example.com. alpn=h2,,h3",
        "1 foo.example.com. ALPN=h2",
        "1 foo.example.com. Key123=x",
        "1 foo.example.com. key0123=x",
        "1 foo.example.com. alpn=h2 dohpath",
        "1 foo.example.com. alpn=h2 dohpath=",
    ] {
        assert!(
            matches!(wire("SVCB", bad), Err(RdataError::Svcb(_))),
            "{bad}"
        );
    }
    assert!(wire("HTTPS", "1 . alpn=h2 no-default-alpn ech=AAAA").is_ok());
    assert!(wire("SVCB", "1 . alpn=h2 dohpath=/q{?dns} key0=\"\" key123=x").is_err());
    assert!(wire("SVCB", "1 . alpn=h2 dohpath=/q{?dns} key123=x").is_ok());
    let message = |bad: &str| match wire("HTTPS", bad) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{bad}"),
    };
    assert_eq!(
        message("1 . key65535=x"),
        "SvcParamKey key65535 is reserved (RFC 9460 §14.3.2)"
    );
    assert_eq!(
        message("1 . ALPN=h2"),
        "unknown SvcParamKey 'ALPN' (keys are lower case: alpn)"
    );
    assert_eq!(
        message("1 . dohpath"),
        "SvcParamKey 'dohpath' needs a value"
    );
}
