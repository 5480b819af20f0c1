//! Whether RDATA in wire format is well formed for its type: the check of RFC 3597's
//! `\# length hex` form when the type is known (RFC 3597 §5: "the RDATA must be valid
//! for the type"), so that `HTTPS \# 0` or a DS cut short is refused with its line as
//! the peers refuse them, rather than served. Types unknown here pass as opaque data.
//!
//! Each type's layout is walked field by field: fixed-size fields, uncompressed names,
//! <character-string>s, type bitmaps (RFC 4034 §4.1.2), and the types whose shape
//! depends on a field (A6, APL, IPSECKEY, HIP, AMTRELAY, NSEC3, SVCB).

use super::rdata_text::digest_fits;
use crate::wire::name;

/// A cursor over RDATA.
struct Wire<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Wire<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let field = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(field)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn name(&mut self) -> Option<()> {
        let len = name::wire_len(self.bytes.get(self.at..)?)?;
        self.at += len;
        Some(())
    }

    fn string(&mut self) -> Option<()> {
        let len = self.u8()?;
        self.take(usize::from(len)).map(|_| ())
    }

    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn rest(&mut self) -> &'a [u8] {
        let rest = &self.bytes[self.at..];
        self.at = self.bytes.len();
        rest
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }

    /// One or more <character-string>s to the end.
    fn strings(&mut self) -> Option<()> {
        self.string()?;
        while !self.done() {
            self.string()?;
        }
        Some(())
    }

    /// An NSEC-style type bitmap to the end: windows in increasing order, each 1 to
    /// 32 octets long.
    fn bitmap(&mut self) -> Option<()> {
        let mut last: Option<u8> = None;
        while !self.done() {
            let window = self.u8()?;
            let len = self.u8()?;
            if last.is_some_and(|l| window <= l) || !(1..=32).contains(&len) {
                return None;
            }
            self.take(usize::from(len))?;
            last = Some(window);
        }
        Some(())
    }
}

/// Whether `rdata` is well formed for type `rtype` (a type unknown here: always).
pub fn fits(rtype: u16, rdata: &[u8]) -> bool {
    let mut w = Wire {
        bytes: rdata,
        at: 0,
    };
    walk(rtype, &mut w).is_some() && w.done()
}

fn walk(rtype: u16, w: &mut Wire<'_>) -> Option<()> {
    match rtype {
        1 => w.take(4).map(|_| ()),
        28 => w.take(16).map(|_| ()),
        2..=5 | 7..=9 | 12 | 23 | 39 => w.name(),
        6 => {
            w.name()?;
            w.name()?;
            w.take(20).map(|_| ())
        }
        11 => w.take(5).map(|_| w.at = w.bytes.len()),
        13 => {
            w.string()?;
            w.string()
        }
        14 | 17 | 58 => {
            w.name()?;
            w.name()
        }
        15 | 18 | 21 | 36 | 107 => {
            w.u16()?;
            w.name()
        }
        16 | 99 | 56 | 258 | 261 | 262 => w.strings(),
        19 => w.string(),
        20 => {
            w.string()?;
            if !w.done() {
                w.string()?;
            }
            Some(())
        }
        22 => (w.left() >= 1).then(|| w.at = w.bytes.len()),
        24 | 46 => {
            w.take(18)?;
            w.name()?;
            w.rest();
            Some(())
        }
        25 | 48 | 57 | 60 => w.take(4).map(|_| w.at = w.bytes.len()),
        26 => {
            w.u16()?;
            w.name()?;
            w.name()
        }
        27 => {
            w.string()?;
            w.string()?;
            w.string()
        }
        29 => (w.u8()? == 0).then(|| w.take(15)).flatten().map(|_| ()),
        30 => {
            w.name()?;
            (w.take(w.left().min(16)).is_some() && w.done()).then_some(())
        }
        33 => {
            w.take(6)?;
            w.name()
        }
        34 => {
            let format = w.u8()?;
            let rest = w.rest();
            (format != 1 || rest.iter().all(u8::is_ascii_digit)).then_some(())
        }
        35 => {
            w.take(4)?;
            w.string()?;
            w.string()?;
            w.string()?;
            w.name()
        }
        37 => w.take(5).map(|_| w.at = w.bytes.len()),
        38 => {
            let prefix = w.u8()?;
            if prefix > 128 {
                return None;
            }
            w.take((128 - usize::from(prefix)).div_ceil(8))?;
            if prefix > 0 {
                w.name()?;
            }
            Some(())
        }
        40 => w.take(3).map(|_| w.at = w.bytes.len()),
        42 => {
            while !w.done() {
                let family = w.u16()?;
                let prefix = w.u8()?;
                let len = usize::from(w.u8()? & 0x7f);
                let (max_prefix, max_len) = match family {
                    1 => (32, 4),
                    2 => (128, 16),
                    _ => (u8::MAX, 127),
                };
                if prefix > max_prefix || len > max_len {
                    return None;
                }
                w.take(len)?;
            }
            Some(())
        }
        43 | 59 | 32768 | 32769 => {
            w.take(3)?;
            let digest_type = w.u8()?;
            let digest = w.rest();
            (!digest.is_empty() && digest_fits(digest_type, digest.len()).is_ok()).then_some(())
        }
        44 => w.take(2).map(|_| w.at = w.bytes.len()),
        45 => {
            w.u8()?;
            let kind = w.u8()?;
            w.u8()?;
            gateway(w, kind)?;
            w.rest();
            Some(())
        }
        47 => {
            w.name()?;
            w.bitmap()
        }
        49 => w.take(3).map(|_| w.at = w.bytes.len()),
        50 | 51 => {
            w.take(4)?;
            let salt = w.u8()?;
            w.take(usize::from(salt))?;
            if rtype == 50 {
                let hash = w.u8()?;
                if hash == 0 {
                    return None;
                }
                w.take(usize::from(hash))?;
                w.bitmap()?;
            }
            Some(())
        }
        52 | 53 => w.take(3).map(|_| w.at = w.bytes.len()),
        55 => {
            let hit = w.u8()?;
            w.u8()?;
            let key = w.u16()?;
            w.take(usize::from(hit))?;
            w.take(usize::from(key))?;
            while !w.done() {
                w.name()?;
            }
            (hit > 0).then_some(())
        }
        61 => (w.left() >= 1).then(|| w.at = w.bytes.len()),
        62 => {
            w.take(6)?;
            w.bitmap()
        }
        63 => {
            w.take(5)?;
            let hash = w.u8()?;
            let len = w.rest().len();
            let fits = match hash {
                1 => len == 48,
                2 => len == 64,
                _ => len >= 12,
            };
            fits.then_some(())
        }
        64 | 65 => svcb(w),
        66 => {
            w.take(5)?;
            w.name()
        }
        104 | 106 => w.take(10).map(|_| ()),
        105 => w.take(6).map(|_| ()),
        108 => w.take(6).map(|_| ()),
        109 => w.take(8).map(|_| ()),
        256 => w.take(4).map(|_| w.at = w.bytes.len()),
        257 => {
            w.u8()?;
            let tag = w.u8()?;
            if tag == 0 {
                return None;
            }
            w.take(usize::from(tag))?;
            w.rest();
            Some(())
        }
        259 => {
            w.take(9)?;
            w.string()?;
            w.rest();
            Some(())
        }
        260 => {
            w.u8()?;
            let kind = w.u8()? & 0x7f;
            gateway(w, kind)
        }
        // Everything else, NULL and the types without a defined layout: any octets.
        _ => {
            w.rest();
            Some(())
        }
    }
}

/// A gateway or relay of type `kind` (IPSECKEY, AMTRELAY): none, IPv4, IPv6, a name.
fn gateway(w: &mut Wire<'_>, kind: u8) -> Option<()> {
    match kind {
        0 => Some(()),
        1 => w.take(4).map(|_| ()),
        2 => w.take(16).map(|_| ()),
        3 => w.name(),
        _ => None,
    }
}

/// SVCB and HTTPS (RFC 9460 §2.2): priority, target, then SvcParams in strictly
/// increasing key order, each value well formed for the keys defined.
fn svcb(w: &mut Wire<'_>) -> Option<()> {
    w.u16()?;
    w.name()?;
    let mut last: Option<u16> = None;
    while !w.done() {
        let key = w.u16()?;
        let len = w.u16()?;
        if last.is_some_and(|l| key <= l) || key == 65535 {
            return None;
        }
        last = Some(key);
        let value = w.take(usize::from(len))?;
        let ok = match key {
            0 => !value.is_empty() && value.len() % 2 == 0,
            1 => {
                let mut v = Wire {
                    bytes: value,
                    at: 0,
                };
                !value.is_empty()
                    && v.strings().is_some()
                    && v.done()
                    && value_strings_non_empty(value)
            }
            2 | 8 => value.is_empty(),
            3 => value.len() == 2,
            4 => !value.is_empty() && value.len() % 4 == 0,
            6 => !value.is_empty() && value.len() % 16 == 0,
            5 | 7 => !value.is_empty(),
            _ => true,
        };
        if !ok {
            return None;
        }
    }
    Some(())
}

/// Whether every <character-string> of an alpn value is non-empty.
fn value_strings_non_empty(value: &[u8]) -> bool {
    let mut at = 0;
    while at < value.len() {
        let len = usize::from(value[at]);
        if len == 0 {
            return false;
        }
        at += 1 + len;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types_are_checked_unknown_ones_are_opaque() {
        assert!(fits(1, &[1, 2, 3, 4]));
        assert!(!fits(1, &[1, 2, 3]));
        assert!(!fits(65, &[]), "HTTPS \\# 0");
        assert!(fits(65, b"\x00\x01\x00"));
        assert!(fits(65, b"\x00\x01\x00\x00\x01\x00\x03\x02h2"));
        assert!(
            !fits(65, b"\x00\x01\x00\x00\x03\x00\x01\x01"),
            "port of one octet"
        );
        assert!(
            !fits(65, b"\x00\x01\x00\x00\x03\x00\x02\x01\x01\x00\x01\x00\x00"),
            "keys out of order"
        );
        assert!(!fits(43, &[0x30, 0x39, 8]), "DS cut short");
        assert!(
            !fits(43, &[0x30, 0x39, 8, 2, 1, 2]),
            "SHA-256 digest of 2 octets"
        );
        let mut ds = vec![0x30, 0x39, 8, 2];
        ds.extend_from_slice(&[0xab; 32]);
        assert!(fits(43, &ds));
        assert!(fits(16, b"\x02hi\x00"));
        assert!(!fits(16, b""));
        assert!(!fits(16, b"\x05hi"));
        assert!(fits(47, b"\x01a\x00\x00\x01\x40"));
        assert!(!fits(47, b"\x01a\x00\x00\x00"), "empty window");
        assert!(!fits(29, &[1; 16]), "LOC version 1");
        assert!(fits(29, &[0; 16]));
        assert!(fits(38, &[128, 0]));
        assert!(!fits(38, &[128]));
        assert!(!fits(38, &[129, 0]));
        assert!(fits(42, &[0, 1, 24, 3, 198, 51, 100]));
        assert!(!fits(42, &[0, 1, 33, 0]));
        assert!(fits(65280, b""));
        assert!(fits(10, b"anything"));
    }
}
