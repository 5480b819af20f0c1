//! Input quoted in messages. What a zone file holds reaches logs, terminals and CI
//! output through error messages, so it is never echoed raw: a token is cut to a few
//! dozen octets and every octet outside printable ASCII is written as `\DDD`, the
//! zone-file escape (RFC 1035 §5.1). A newline, carriage return, NUL or terminal
//! escape sequence from a file can then neither forge a log line nor drive a terminal,
//! and a file that is not a zone (an `$INCLUDE` of a secret) leaks at most one short
//! token per error. Paths are escaped the same way, but not cut.

use std::fmt::Write as _;
use std::path::Path;

/// Most octets of a token that a message quotes.
pub const MAX_TOKEN: usize = 40;

/// `text` (a token of a zone file, escapes undecoded) as a message may quote it: at
/// most [`MAX_TOKEN`] octets, control characters, DEL and non-ASCII octets as `\DDD`,
/// and `...` when it was cut.
pub fn token(text: &[u8]) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_TOKEN) + 8);
    for &b in text.iter().take(MAX_TOKEN) {
        escape_octet(b, &mut out);
    }
    if text.len() > MAX_TOKEN {
        out.push_str("...");
    }
    out
}

/// A path as a message shows it: whole, with control characters (C0, DEL, C1), the
/// Unicode bidirectional controls and invalid UTF-8 escaped as `\DDD` per octet.
pub fn path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() || is_bidi_control(c) || c == '\\' {
                let mut buf = [0u8; 4];
                for &b in c.encode_utf8(&mut buf).as_bytes() {
                    escape_octet_always(b, &mut out);
                }
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            escape_octet_always(b, &mut out);
        }
    }
    out
}

/// Unicode formatting characters that reorder text on a terminal ("Trojan Source").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape_octet(b: u8, out: &mut String) {
    if (0x20..0x7f).contains(&b) {
        out.push(char::from(b));
    } else {
        escape_octet_always(b, out);
    }
}

fn escape_octet_always(b: u8, out: &mut String) {
    let _ = write!(out, "\\{b:03}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_cut_and_escaped() {
        assert_eq!(token(b"www"), "www");
        assert_eq!(token(b"a\\.b"), "a\\.b");
        assert_eq!(
            token(b"x\ny\rz\0\x1b[2J\x7f\xc3\xa9"),
            "x\\010y\\013z\\000\\027[2J\\127\\195\\169"
        );
        let long = [b'a'; 100];
        assert_eq!(token(&long), format!("{}...", "a".repeat(MAX_TOKEN)));
    }

    #[test]
    fn paths_keep_text_and_escape_controls() {
        assert_eq!(path(Path::new("zones/zöne.zone")), "zones/zöne.zone");
        assert_eq!(
            path(Path::new("zones/a\nb\u{202e}.zone")),
            "zones/a\\010b\\226\\128\\174.zone"
        );
        use std::os::unix::ffi::OsStrExt;
        let raw = std::ffi::OsStr::from_bytes(b"z\xffz");
        assert_eq!(path(Path::new(raw)), "z\\255z");
    }
}
