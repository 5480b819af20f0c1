//! BIND's `$GENERATE` directive, which reverse zones moved from BIND are full of:
//!
//! ```text
//! $GENERATE start-stop[/step] lhs [ttl] [class] type rhs
//! $GENERATE 1-254 $ PTR host-$.example.org.
//! $GENERATE 10-20/5 ${-10,3,d} PTR h${0,2,x}   ; 000, 005, 010 -> h0a, h0f, h14
//! ```
//!
//! For each value of the range, `$` in the owner (`lhs`) and in the RDATA (`rhs`) is
//! replaced by the value; `${offset[,width[,base]]}` adds an offset, pads to a width
//! and writes the value in base `d` (decimal), `o` (octal), `x`/`X` (hexadecimal) or
//! `n`/`N` (reversed nibbles joined by dots, as in `ip6.arpa`); `$$` and `\$` are a
//! literal `$`. Each line so made is then read as a record of the directive's line. As
//! in BIND, a quoted `rhs` is read again once substituted, so several RDATA fields may
//! be quoted as one (`"10 mail$"`); dnsd also accepts them unquoted. NSD and Knot have
//! no `$GENERATE`. The lines made count against the zone's byte budget (`files`), so a
//! range of four billion values fails rather than fill the memory.

use std::fmt::Write as _;

use super::lexer::Token;
use super::load::LoadErrorKind;

/// Widest padding a modifier may ask for (a label holds 63 octets, a name 255).
const MAX_WIDTH: usize = 255;

/// One `$GENERATE` directive, parsed.
pub struct Generate<'t, 'a> {
    start: u32,
    stop: u32,
    step: u32,
    lhs: &'a [u8],
    /// TTL, class, type and the RDATA tokens, as written.
    rest: &'t [Token<'a>],
}

fn error(what: &'static str) -> LoadErrorKind {
    LoadErrorKind::Generate(what)
}

impl<'t, 'a> Generate<'t, 'a> {
    /// Parses the directive's arguments (the tokens after `$GENERATE`).
    pub fn parse(args: &'t [Token<'a>]) -> Result<Self, LoadErrorKind> {
        let [range, lhs, rest @ ..] = args else {
            return Err(error("needs a range, an owner, a type and RDATA"));
        };
        if rest.len() < 2 {
            return Err(error("needs a range, an owner, a type and RDATA"));
        }
        let (start, stop, step) = range_of(range.text).ok_or(error(
            "bad range: write start-stop or start-stop/step, start <= stop",
        ))?;
        Ok(Self {
            start,
            stop,
            step,
            lhs: lhs.text,
            rest,
        })
    }

    /// The values of the range.
    pub fn values(&self) -> impl Iterator<Item = u32> + use<> {
        let (stop, step) = (u64::from(self.stop), u64::from(self.step));
        let mut next = Some(u64::from(self.start));
        std::iter::from_fn(move || {
            let value = next.filter(|&v| v <= stop)?;
            next = value.checked_add(step);
            u32::try_from(value).ok()
        })
    }

    /// Appends the record text for `value`: owner, TTL, class, type, RDATA.
    pub fn line_into(&self, value: u32, out: &mut Vec<u8>) -> Result<(), LoadErrorKind> {
        substitute(self.lhs, value, out)?;
        for token in self.rest {
            out.push(b' ');
            substitute(token.text, value, out)?;
        }
        out.push(b'\n');
        Ok(())
    }
}

/// `start-stop[/step]`.
fn range_of(text: &[u8]) -> Option<(u32, u32, u32)> {
    let text = std::str::from_utf8(text).ok()?;
    let (range, step) = match text.split_once('/') {
        Some((range, step)) => (range, step.parse().ok()?),
        None => (text, 1),
    };
    let (start, stop) = range.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(start) || !digits(stop) {
        return None;
    }
    let (start, stop): (u32, u32) = (start.parse().ok()?, stop.parse().ok()?);
    (start <= stop && step > 0).then_some((start, stop, step))
}

/// Appends `template` with every `$` replaced as the module's doc says.
pub fn substitute(template: &[u8], value: u32, out: &mut Vec<u8>) -> Result<(), LoadErrorKind> {
    let mut i = 0;
    while i < template.len() {
        match (template[i], template.get(i + 1)) {
            (b'\\', Some(b'$')) | (b'$', Some(b'$')) => {
                out.push(b'$');
                i += 2;
            }
            (b'\\', Some(&next)) => {
                // Another escape: left for the name or text that it belongs to.
                out.extend_from_slice(&[b'\\', next]);
                i += 2;
            }
            (b'$', Some(b'{')) => {
                let close = template[i..]
                    .iter()
                    .position(|&c| c == b'}')
                    .ok_or(error("'${' without its '}'"))?;
                let modifier = &template[i + 2..i + close];
                format_value(value, modifier, out)?;
                i += close + 1;
            }
            (b'$', _) => {
                format_value(value, b"", out)?;
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(())
}

/// Writes `value` as the modifier `offset[,width[,base]]` says (empty: `0,0,d`).
fn format_value(value: u32, modifier: &[u8], out: &mut Vec<u8>) -> Result<(), LoadErrorKind> {
    let bad = || {
        error(
            "bad modifier: write ${offset}, ${offset,width} or ${offset,width,base} with base d, o, x, X, n or N",
        )
    };
    let text = std::str::from_utf8(modifier).map_err(|_| bad())?;
    let mut parts = text.split(',');
    let offset: i64 = match parts.next() {
        Some("") | None => 0,
        Some(o) => o
            .strip_prefix('+')
            .unwrap_or(o)
            .parse()
            .map_err(|_| bad())?,
    };
    let width: usize = match parts.next() {
        None => 0,
        Some(w) => w.parse().map_err(|_| bad())?,
    };
    let base = match parts.next() {
        None => "d",
        Some(b @ ("d" | "o" | "x" | "X" | "n" | "N")) => b,
        Some(_) => return Err(bad()),
    };
    if parts.next().is_some() {
        return Err(bad());
    }
    if width > MAX_WIDTH {
        return Err(error("modifier width above 255"));
    }
    let v = i64::from(value).checked_add(offset).ok_or_else(bad)?;
    let v = u64::try_from(v).map_err(|_| error("the offset makes the value negative"))?;
    let mut s = String::new();
    let _ = match base {
        "d" => write!(s, "{v:0width$}"),
        "o" => write!(s, "{v:0width$o}"),
        "x" => write!(s, "{v:0width$x}"),
        "X" => write!(s, "{v:0width$X}"),
        _ => {
            nibbles(v, width, base == "N", &mut s);
            Ok(())
        }
    };
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// The nibbles of `v`, least significant first, joined by dots, written until `v` is
/// spent and at least `width` characters are out (BIND's rule: a width that ends on a
/// dot leaves the dot, making the name absolute).
fn nibbles(mut v: u64, width: usize, upper: bool, s: &mut String) {
    loop {
        let digit = char::from_digit((v & 0xf) as u32, 16).unwrap_or('0');
        s.push(if upper {
            digit.to_ascii_uppercase()
        } else {
            digit
        });
        v >>= 4;
        if v == 0 && s.len() >= width {
            return;
        }
        s.push('.');
        if v == 0 && s.len() >= width {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(template: &str, value: u32) -> String {
        let mut out = Vec::new();
        substitute(template.as_bytes(), value, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn substitutions_as_bind_makes_them() {
        // Each expectation was checked against named-checkzone 9.18.
        assert_eq!(sub("host$", 7), "host7");
        assert_eq!(sub("${-10,3,d}", 15), "005");
        assert_eq!(sub("h${0,2,x}", 20), "h14");
        assert_eq!(sub("${0,4,X}", 26), "001A");
        assert_eq!(sub("${0,0,o}", 26), "32");
        assert_eq!(sub("d${+1}", 1), "d2");
        assert_eq!(sub("a$$b\\$c", 1), "a$b$c");
        assert_eq!(sub("a\\.b$", 1), "a\\.b1");
        assert_eq!(sub("${0,3,n}", 255), "f.f");
        assert_eq!(sub("${0,3,n}", 256), "0.0.1");
        assert_eq!(sub("${0,4,n}", 255), "f.f.");
        assert_eq!(sub("${0,5,n}", 255), "f.f.0");
        assert_eq!(sub("${0,6,N}", 26), "A.1.0.");
        assert_eq!(sub("${0,8,n}", 0x1234), "4.3.2.1.");
        let mut out = Vec::new();
        assert!(substitute(b"${-2}", 1, &mut out).is_err());
        assert!(substitute(b"${0,1,q}", 1, &mut out).is_err());
        assert!(substitute(b"${0", 1, &mut out).is_err());
        assert!(substitute(b"${0,999}", 1, &mut out).is_err());
        assert!(substitute(b"${9223372036854775807}", 1, &mut out).is_err());
    }

    #[test]
    fn ranges() {
        assert_eq!(range_of(b"1-3"), Some((1, 3, 1)));
        assert_eq!(range_of(b"10-20/5"), Some((10, 20, 5)));
        assert_eq!(range_of(b"3-1"), None);
        assert_eq!(range_of(b"1-3/0"), None);
        assert_eq!(range_of(b"-1-3"), None);
        assert_eq!(range_of(b"1-4294967296"), None);
        let args = [
            Token {
                text: b"4294967290-4294967295/4",
                quoted: false,
                line: 1,
            },
            Token {
                text: b"$",
                quoted: false,
                line: 1,
            },
            Token {
                text: b"A",
                quoted: false,
                line: 1,
            },
            Token {
                text: b"1.2.3.4",
                quoted: false,
                line: 1,
            },
        ];
        let g = Generate::parse(&args).unwrap();
        assert_eq!(g.values().collect::<Vec<_>>(), [4294967290, 4294967294]);
        let mut line = Vec::new();
        g.line_into(5, &mut line).unwrap();
        assert_eq!(line, b"5 A 1.2.3.4\n");
    }
}
