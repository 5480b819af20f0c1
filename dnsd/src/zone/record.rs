//! Resource records as every zone source produces them: owner, type, TTL and RDATA in
//! wire format (class IN is implied: dnsd serves only IN zones).

use std::fmt;

use crate::wire::name::Name;

/// An RR type code (RFC 1035 §3.2.2 and the IANA registry).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rtype(pub u16);

/// Mnemonics that dnsd reads and writes: every type of the IANA registry that NSD,
/// Knot or BIND knows by name; any other type is `TYPEnnn` (RFC 3597 §5).
const MNEMONICS: &[(u16, &str)] = &[
    (1, "A"),
    (2, "NS"),
    (3, "MD"),
    (4, "MF"),
    (5, "CNAME"),
    (6, "SOA"),
    (7, "MB"),
    (8, "MG"),
    (9, "MR"),
    (10, "NULL"),
    (11, "WKS"),
    (12, "PTR"),
    (13, "HINFO"),
    (14, "MINFO"),
    (15, "MX"),
    (16, "TXT"),
    (17, "RP"),
    (18, "AFSDB"),
    (19, "X25"),
    (20, "ISDN"),
    (21, "RT"),
    (22, "NSAP"),
    (23, "NSAP-PTR"),
    (24, "SIG"),
    (25, "KEY"),
    (26, "PX"),
    (27, "GPOS"),
    (28, "AAAA"),
    (29, "LOC"),
    (30, "NXT"),
    (31, "EID"),
    (32, "NIMLOC"),
    (33, "SRV"),
    (34, "ATMA"),
    (35, "NAPTR"),
    (36, "KX"),
    (37, "CERT"),
    (38, "A6"),
    (39, "DNAME"),
    (40, "SINK"),
    (41, "OPT"),
    (42, "APL"),
    (43, "DS"),
    (44, "SSHFP"),
    (45, "IPSECKEY"),
    (46, "RRSIG"),
    (47, "NSEC"),
    (48, "DNSKEY"),
    (49, "DHCID"),
    (50, "NSEC3"),
    (51, "NSEC3PARAM"),
    (52, "TLSA"),
    (53, "SMIMEA"),
    (55, "HIP"),
    (56, "NINFO"),
    (57, "RKEY"),
    (58, "TALINK"),
    (59, "CDS"),
    (60, "CDNSKEY"),
    (61, "OPENPGPKEY"),
    (62, "CSYNC"),
    (63, "ZONEMD"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (66, "DSYNC"),
    (99, "SPF"),
    (100, "UINFO"),
    (101, "UID"),
    (102, "GID"),
    (103, "UNSPEC"),
    (104, "NID"),
    (105, "L32"),
    (106, "L64"),
    (107, "LP"),
    (108, "EUI48"),
    (109, "EUI64"),
    (249, "TKEY"),
    (250, "TSIG"),
    (251, "IXFR"),
    (252, "AXFR"),
    (253, "MAILB"),
    (254, "MAILA"),
    (255, "ANY"),
    (256, "URI"),
    (257, "CAA"),
    (258, "AVC"),
    (259, "DOA"),
    (260, "AMTRELAY"),
    (261, "RESINFO"),
    (262, "WALLET"),
    (32768, "TA"),
    (32769, "DLV"),
];

/// The types dnsd handles by name; each constant is its IANA mnemonic.
#[allow(missing_docs)]
impl Rtype {
    pub const A: Rtype = Rtype(1);
    pub const NS: Rtype = Rtype(2);
    pub const CNAME: Rtype = Rtype(5);
    pub const SOA: Rtype = Rtype(6);
    pub const PTR: Rtype = Rtype(12);
    pub const HINFO: Rtype = Rtype(13);
    pub const MX: Rtype = Rtype(15);
    pub const TXT: Rtype = Rtype(16);
    pub const AAAA: Rtype = Rtype(28);
    pub const SRV: Rtype = Rtype(33);
    pub const NAPTR: Rtype = Rtype(35);
    pub const DNAME: Rtype = Rtype(39);
    pub const OPT: Rtype = Rtype(41);
    pub const DS: Rtype = Rtype(43);
    pub const SSHFP: Rtype = Rtype(44);
    pub const RRSIG: Rtype = Rtype(46);
    pub const NSEC: Rtype = Rtype(47);
    pub const DNSKEY: Rtype = Rtype(48);
    pub const NSEC3: Rtype = Rtype(50);
    pub const NSEC3PARAM: Rtype = Rtype(51);
    pub const TLSA: Rtype = Rtype(52);
    pub const SVCB: Rtype = Rtype(64);
    pub const HTTPS: Rtype = Rtype(65);
    pub const TSIG: Rtype = Rtype(250);
    pub const IXFR: Rtype = Rtype(251);
    pub const AXFR: Rtype = Rtype(252);
    pub const ANY: Rtype = Rtype(255);
    pub const CAA: Rtype = Rtype(257);
}

impl Rtype {
    /// Parses a mnemonic (any case) or `TYPEnnn`.
    pub fn from_text(text: &str) -> Option<Rtype> {
        if let Some(&(code, _)) = MNEMONICS.iter().find(|(_, m)| m.eq_ignore_ascii_case(text)) {
            return Some(Rtype(code));
        }
        let digits = text
            .get(..4)
            .filter(|p| p.eq_ignore_ascii_case("TYPE"))
            .and(text.get(4..))?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(Rtype)
    }

    /// Meta-types and QTYPEs that cannot be stored in a zone (RFC 6895 §3.1).
    pub fn is_meta(self) -> bool {
        matches!(self.0, 41 | 128..=255) || self.0 == 0
    }
}

impl fmt::Display for Rtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match MNEMONICS.iter().find(|(code, _)| *code == self.0) {
            Some((_, m)) => f.write_str(m),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

impl fmt::Debug for Rtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One resource record of class IN.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Record {
    /// Owner name, as the source wrote it (case preserved).
    pub owner: Name,
    /// Type.
    pub rtype: Rtype,
    /// Time to live, seconds.
    pub ttl: u32,
    /// RDATA in uncompressed wire format.
    pub rdata: Box<[u8]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnemonics_and_generic_types_round_trip() {
        assert_eq!(Rtype::from_text("aaaa"), Some(Rtype::AAAA));
        assert_eq!(Rtype::from_text("TYPE65"), Some(Rtype::HTTPS));
        assert_eq!(Rtype::from_text("type65534"), Some(Rtype(65534)));
        assert_eq!(Rtype::from_text("TYPE"), None);
        assert_eq!(Rtype::from_text("TYPE70000"), None);
        assert_eq!(Rtype::from_text("BOGUS"), None);
        assert_eq!(Rtype(65534).to_string(), "TYPE65534");
        assert_eq!(Rtype::CAA.to_string(), "CAA");
        for name in [
            "KX", "LOC", "NSAP-PTR", "ZONEMD", "EUI64", "DLV", "AMTRELAY",
        ] {
            let rtype = Rtype::from_text(name).unwrap();
            assert_eq!(rtype.to_string(), name);
        }
        assert_eq!(Rtype::from_text("nsap-ptr"), Some(Rtype(23)));
    }
}
