//! Domain names in uncompressed wire format (RFC 1035 §3.1): a sequence of
//! length-prefixed labels ending with the root label.
//!
//! A suffix of a wire name that starts at a label boundary is itself a wire name, so the
//! ancestors of a name are subslices of it: lookups of a qname's ancestors never copy.
//! The zone keeps owner names lowercased (`Name::to_lowercase`); the query path
//! lowercases the qname once into a stack buffer (`lowercase_into`).

use std::fmt;

/// Longest name in wire format, root label included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// Why a name is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A label longer than 63 octets.
    #[error("label longer than 63 octets")]
    LabelTooLong,
    /// A name longer than 255 octets in wire format.
    #[error("name longer than 255 octets")]
    NameTooLong,
    /// An empty label inside the name (`a..b`).
    #[error("empty label")]
    EmptyLabel,
    /// A bad `\` escape in presentation format.
    #[error("bad escape sequence")]
    BadEscape,
    /// A relative name with no origin to complete it.
    #[error("relative name and no origin")]
    NoOrigin,
    /// Wire bytes that are not an uncompressed name.
    #[error("malformed wire-format name")]
    Malformed,
}

/// A domain name in uncompressed wire format. Equality is byte equality: compare
/// lowercased names (`to_lowercase`) where case must not matter.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Box<[u8]>);

impl Name {
    /// The root name `.`.
    pub fn root() -> Self {
        Self(Box::new([0]))
    }

    /// Takes an uncompressed wire-format name, which must span all of `wire`.
    pub fn from_wire(wire: &[u8]) -> Result<Self, NameError> {
        match wire_len(wire) {
            Some(len) if len == wire.len() => Ok(Self(wire.into())),
            _ => Err(NameError::Malformed),
        }
    }

    /// Parses a name in presentation format (RFC 1035 §5.1: `\X` and `\DDD` escapes).
    /// A name without a trailing dot is relative and completed with `origin`.
    /// `@` is the zone file's business, not this function's.
    pub fn from_text(text: &str, origin: Option<&Name>) -> Result<Self, NameError> {
        let bytes = text.as_bytes();
        if bytes == b"." {
            return Ok(Self::root());
        }
        let mut wire = Vec::with_capacity(bytes.len() + 2);
        let mut label_start = 0;
        wire.push(0);
        let mut i = 0;
        let mut absolute = false;
        while i < bytes.len() {
            let c = bytes[i];
            match c {
                b'.' => {
                    let len = wire.len() - label_start - 1;
                    if len == 0 {
                        return Err(NameError::EmptyLabel);
                    }
                    if i + 1 == bytes.len() {
                        absolute = true;
                        break;
                    }
                    label_start = wire.len();
                    wire.push(0);
                    i += 1;
                    continue;
                }
                b'\\' => {
                    let (byte, used) = unescape(&bytes[i + 1..])?;
                    wire.push(byte);
                    i += 1 + used;
                }
                _ => {
                    wire.push(c);
                    i += 1;
                }
            }
            let len = wire.len() - label_start - 1;
            if len > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong);
            }
            wire[label_start] = len as u8;
        }
        if wire.len() - label_start - 1 == 0 {
            return Err(NameError::EmptyLabel);
        }
        if absolute {
            wire.push(0);
        } else {
            let origin = origin.ok_or(NameError::NoOrigin)?;
            wire.extend_from_slice(&origin.0);
        }
        if wire.len() > MAX_NAME_LEN {
            return Err(NameError::NameTooLong);
        }
        Ok(Self(wire.into_boxed_slice()))
    }

    /// The wire-format bytes, root label included.
    pub fn as_wire(&self) -> &[u8] {
        &self.0
    }

    /// The same name with ASCII letters lowercased (the zone's key form).
    pub fn to_lowercase(&self) -> Self {
        Self(self.0.to_ascii_lowercase().into_boxed_slice())
    }

    /// Number of labels, the root label not counted (`example.org.` has 2).
    pub fn label_count(&self) -> usize {
        label_offsets(&self.0).count()
    }

    /// Whether this is the root name.
    pub fn is_root(&self) -> bool {
        self.0.len() == 1
    }

    /// Whether `self` is `ancestor` or below it, ignoring case.
    pub fn is_subdomain_of(&self, ancestor: &Name) -> bool {
        is_subdomain(&self.0, &ancestor.0)
    }

    /// The parent name, or `None` for the root.
    pub fn parent(&self) -> Option<Name> {
        if self.is_root() {
            return None;
        }
        let skip = 1 + self.0[0] as usize;
        Some(Self(self.0[skip..].into()))
    }

    /// This name with `label` put in front (`*` before `example.org.` gives
    /// `*.example.org.`).
    pub fn prepend_label(&self, label: &[u8]) -> Result<Name, NameError> {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong);
        }
        if self.0.len() + label.len() + 1 > MAX_NAME_LEN {
            return Err(NameError::NameTooLong);
        }
        let mut wire = Vec::with_capacity(self.0.len() + label.len() + 1);
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
        wire.extend_from_slice(&self.0);
        Ok(Self(wire.into_boxed_slice()))
    }

    /// The labels from the leftmost one to the last before the root.
    pub fn labels(&self) -> impl Iterator<Item = &[u8]> {
        label_offsets(&self.0).map(|at| {
            let len = self.0[at] as usize;
            &self.0[at + 1..at + 1 + len]
        })
    }
}

impl fmt::Display for Name {
    /// Presentation format, absolute (trailing dot), with RFC 1035 escapes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_text(&self.0, f)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// Writes wire-format name `wire` in presentation format.
pub fn write_text(wire: &[u8], f: &mut impl fmt::Write) -> fmt::Result {
    if wire.len() <= 1 {
        return f.write_char('.');
    }
    for at in label_offsets(wire) {
        let len = wire[at] as usize;
        for &b in &wire[at + 1..at + 1 + len] {
            match b {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                    f.write_char('\\')?;
                    f.write_char(b as char)?;
                }
                0x21..=0x7e => f.write_char(b as char)?,
                _ => write!(f, "\\{b:03}")?,
            }
        }
        f.write_char('.')?;
    }
    Ok(())
}

/// The offsets of each label's length octet in `wire`, leftmost first, root excluded.
/// `wire` must be a valid uncompressed name.
pub fn label_offsets(wire: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let len = *wire.get(at)? as usize;
        if len == 0 {
            return None;
        }
        let this = at;
        at += 1 + len;
        Some(this)
    })
}

/// Length of the uncompressed wire name at the start of `bytes`, or `None` if it is
/// not a valid uncompressed name (too long, truncated, or compressed).
pub fn wire_len(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let len = *bytes.get(at)? as usize;
        if len > MAX_LABEL_LEN {
            return None;
        }
        at += 1 + len;
        if at > MAX_NAME_LEN {
            return None;
        }
        if len == 0 {
            return Some(at);
        }
    }
}

/// Whether wire name `name` equals `ancestor` or lies below it, ignoring ASCII case.
/// Both must be valid uncompressed names.
pub fn is_subdomain(name: &[u8], ancestor: &[u8]) -> bool {
    if ancestor.len() > name.len() {
        return false;
    }
    let start = name.len() - ancestor.len();
    // The suffix must begin on a label boundary of `name`.
    let on_boundary =
        start == 0 || start + 1 == name.len() || label_offsets(name).any(|at| at == start);
    on_boundary && name[start..].eq_ignore_ascii_case(ancestor)
}

/// Copies `wire` into `buf` lowercased and returns the copy.
pub fn lowercase_into<'b>(wire: &[u8], buf: &'b mut [u8; MAX_NAME_LEN]) -> &'b [u8] {
    let len = wire.len().min(MAX_NAME_LEN);
    for (dst, src) in buf[..len].iter_mut().zip(wire) {
        *dst = src.to_ascii_lowercase();
    }
    &buf[..len]
}

/// Decodes the escape after a `\`: `\DDD` (decimal) or `\X`. Returns the byte and how
/// many input bytes it used.
fn unescape(rest: &[u8]) -> Result<(u8, usize), NameError> {
    match rest {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            let value = u32::from(a - b'0') * 100 + u32::from(b - b'0') * 10 + u32::from(c - b'0');
            let byte = u8::try_from(value).map_err(|_| NameError::BadEscape)?;
            Ok((byte, 3))
        }
        [d, ..] if d.is_ascii_digit() => Err(NameError::BadEscape),
        [x, ..] => Ok((*x, 1)),
        [] => Err(NameError::BadEscape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_text(text, None).unwrap()
    }

    #[test]
    fn parses_absolute_and_relative_names() {
        assert_eq!(
            name("www.Example.org.").as_wire(),
            b"\x03www\x07Example\x03org\x00"
        );
        let origin = name("example.org.");
        let rel = Name::from_text("www", Some(&origin)).unwrap();
        assert_eq!(rel, name("www.example.org."));
        assert_eq!(name(".").as_wire(), b"\x00");
        assert_eq!(Name::from_text("www", None), Err(NameError::NoOrigin));
    }

    #[test]
    fn handles_escapes_both_ways() {
        let n = name(r"a\.b\032c.\\.org.");
        assert_eq!(n.as_wire(), b"\x05a.b c\x01\\\x03org\x00");
        assert_eq!(n.to_string(), r"a\.b\032c.\\.org.");
        assert_eq!(Name::from_text(r"a\256.", None), Err(NameError::BadEscape));
        assert_eq!(Name::from_text(r"a\2x.", None), Err(NameError::BadEscape));
        assert_eq!(Name::from_text("a\\", None), Err(NameError::BadEscape));
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(Name::from_text("a..b.", None), Err(NameError::EmptyLabel));
        assert_eq!(Name::from_text("..", None), Err(NameError::EmptyLabel));
        let long_label = "a".repeat(64) + ".";
        assert_eq!(
            Name::from_text(&long_label, None),
            Err(NameError::LabelTooLong)
        );
        let long_name = "abcdefghi.".repeat(26);
        assert_eq!(
            Name::from_text(&long_name, None),
            Err(NameError::NameTooLong)
        );
        let ok_63 = "a".repeat(63) + ".";
        assert!(Name::from_text(&ok_63, None).is_ok());
    }

    #[test]
    fn subdomains_ignore_case_and_respect_label_boundaries() {
        assert!(name("www.EXAMPLE.org.").is_subdomain_of(&name("example.org.")));
        assert!(name("example.org.").is_subdomain_of(&name("example.org.")));
        assert!(!name("badexample.org.").is_subdomain_of(&name("example.org.")));
        assert!(name("x.").is_subdomain_of(&Name::root()));
        assert!(!name("org.").is_subdomain_of(&name("example.org.")));
    }

    #[test]
    fn wire_len_rejects_compression_and_truncation() {
        assert_eq!(wire_len(b"\x03www\x00rest"), Some(5));
        assert_eq!(wire_len(b"\x03ww"), None);
        assert_eq!(wire_len(b"\xc0\x0c"), None);
        assert!(Name::from_wire(b"\x03www\x00x").is_err());
    }

    #[test]
    fn parent_labels_and_prepend() {
        let n = name("a.b.c.");
        assert_eq!(n.parent(), Some(name("b.c.")));
        assert_eq!(Name::root().parent(), None);
        assert_eq!(n.label_count(), 3);
        assert_eq!(n.labels().collect::<Vec<_>>(), vec![&b"a"[..], b"b", b"c"]);
        assert_eq!(name("b.c.").prepend_label(b"*").unwrap(), name("*.b.c."));
    }
}
