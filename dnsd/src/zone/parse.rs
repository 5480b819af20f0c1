//! The RFC 1035 §5 master-file parser: entries from the tokenizer (`lexer`) become
//! records, with `$ORIGIN`, `$TTL`, `$INCLUDE` (relative to the including file's
//! folder, loops refused), `@`, relative names, blank owners (the previous owner), TTL
//! and class in either order, class IN only, and RDATA by type (`rdata_text`).
//!
//! Each record keeps the file and line it came from, for the checks' messages. Owners
//! are stored lowercased (the zone's key form). Records without a TTL take `$TTL`, or
//! 3600 when the file has none, as NSD does.

use std::path::{Path, PathBuf};

use super::lexer::{EntryHead, Lexer, Token};
use super::load::{Diagnostics, LoadErrorKind};
use super::rdata_text::{self, lossy};
use super::record::{Record, Rtype};
use super::text;
use crate::wire::name::Name;

/// TTL of records when the file sets none (NSD's default).
const DEFAULT_TTL: u32 = 3600;
/// Largest TTL allowed (RFC 2181 §8).
const MAX_TTL: u32 = i32::MAX as u32;
/// How deep `$INCLUDE`s may nest.
const MAX_INCLUDE_DEPTH: usize = 16;

/// A record and where it was written.
pub struct Parsed {
    /// The record, owner lowercased.
    pub record: Record,
    /// Index of the file in `Diagnostics::files`.
    pub file: u32,
    /// Line of the record's first token.
    pub line: u32,
}

/// Parses zone files into records.
pub struct Parser {
    apex: Name,
    includes: bool,
    default_ttl: u32,
    include_stack: Vec<PathBuf>,
    records: Vec<Parsed>,
    diag: Diagnostics,
    name_buf: Vec<u8>,
    rdata_buf: Vec<u8>,
}

/// State of one file being read.
struct FileState {
    index: u32,
    origin: Vec<u8>,
    owner: Option<Name>,
}

impl Parser {
    /// A parser for the zone `apex`; `includes` allows `$INCLUDE`.
    pub fn new(apex: &Name, includes: bool) -> Self {
        Self {
            apex: apex.to_lowercase(),
            includes,
            default_ttl: DEFAULT_TTL,
            include_stack: Vec::new(),
            records: Vec::new(),
            diag: Diagnostics::new(),
            name_buf: Vec::with_capacity(256),
            rdata_buf: Vec::with_capacity(512),
        }
    }

    /// The records parsed and the problems found.
    pub(crate) fn into_parts(self) -> (Vec<Parsed>, Diagnostics) {
        (self.records, self.diag)
    }

    /// Parses the file at `path` with the apex as origin.
    pub fn parse_file(&mut self, path: &Path) {
        let origin = self.apex.as_wire().to_vec();
        self.include(path, origin, None);
    }

    /// Parses zone text from memory, `path` naming it in errors.
    pub fn parse_bytes(&mut self, text: &[u8], path: &Path) {
        let index = self.add_file(path);
        let origin = self.apex.as_wire().to_vec();
        self.parse_text(text, index, origin);
    }

    fn add_file(&mut self, path: &Path) -> u32 {
        self.diag.files.push(path.to_path_buf());
        (self.diag.files.len() - 1) as u32
    }

    /// Reads and parses `path` (an `$INCLUDE` when `from` gives the including file's
    /// index and line).
    fn include(&mut self, path: &Path, origin: Vec<u8>, from: Option<(u32, u32)>) {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some((file, line)) = from {
            if self.include_stack.contains(&canonical) {
                let kind = LoadErrorKind::IncludeLoop(path.to_path_buf());
                return self.diag.report(file, line, kind);
            }
            if self.include_stack.len() > MAX_INCLUDE_DEPTH {
                let kind = LoadErrorKind::IncludeTooDeep(MAX_INCLUDE_DEPTH);
                return self.diag.report(file, line, kind);
            }
        }
        match std::fs::read(path) {
            Ok(text) => {
                let index = self.add_file(path);
                self.include_stack.push(canonical);
                self.parse_text(&text, index, origin);
                self.include_stack.pop();
            }
            Err(error) => {
                let (file, line) = match from {
                    Some(at) => at,
                    None => (self.add_file(path), 0),
                };
                let message = match from {
                    Some(_) => format!("{}: {error}", path.display()),
                    None => error.to_string(),
                };
                self.diag.report(file, line, LoadErrorKind::Read(message));
            }
        }
    }

    fn parse_text(&mut self, text: &[u8], index: u32, origin: Vec<u8>) {
        // Editors on some systems start UTF-8 files with a byte-order mark.
        let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
        let mut lexer = Lexer::new(text);
        let mut tokens: Vec<Token<'_>> = Vec::with_capacity(16);
        let mut state = FileState {
            index,
            origin,
            owner: None,
        };
        while let Some(entry) = lexer.next_entry(&mut tokens) {
            if self.diag.too_many() {
                self.diag.report(index, 0, LoadErrorKind::TooManyErrors);
                return;
            }
            match entry {
                Err((line, error)) => self.diag.report(index, line, error.into()),
                Ok(head) => {
                    if let Err(kind) = self.entry(&mut state, head, &tokens) {
                        self.diag.report(index, head.line, kind);
                    }
                }
            }
        }
    }

    fn entry(
        &mut self,
        state: &mut FileState,
        head: EntryHead,
        tokens: &[Token<'_>],
    ) -> Result<(), LoadErrorKind> {
        let first = tokens[0];
        if !head.blank_owner && !first.quoted && first.text.first() == Some(&b'$') {
            return self.directive(state, head, tokens);
        }
        let mut at = 0;
        let owner = if head.blank_owner {
            state.owner.clone().ok_or(LoadErrorKind::NoOwner)?
        } else {
            at = 1;
            let owner = self.name(first.text, &state.origin, "owner name")?;
            state.owner = Some(owner.clone());
            owner
        };
        let mut ttl = None;
        let mut class_seen = false;
        while let Some(t) = tokens.get(at) {
            if t.quoted {
                break;
            }
            if !class_seen && is_class_token(t.text) {
                if !(t.text.eq_ignore_ascii_case(b"IN") || t.text.eq_ignore_ascii_case(b"CLASS1")) {
                    return Err(LoadErrorKind::UnsupportedClass(lossy(t.text)));
                }
                class_seen = true;
            } else if ttl.is_none() && t.text.first().is_some_and(u8::is_ascii_digit) {
                ttl = Some(parse_ttl(t.text)?);
            } else {
                break;
            }
            at += 1;
        }
        let type_token = tokens.get(at).ok_or(LoadErrorKind::MissingType)?;
        let rtype = rtype_from(type_token.text)
            .ok_or_else(|| LoadErrorKind::UnknownType(lossy(type_token.text)))?;
        if rtype.is_meta() {
            return Err(LoadErrorKind::MetaType(rtype));
        }
        self.rdata_buf.clear();
        rdata_text::rdata_into(rtype, &tokens[at + 1..], &state.origin, &mut self.rdata_buf)
            .map_err(|error| LoadErrorKind::Rdata { rtype, error })?;
        if !owner.is_subdomain_of(&self.apex) {
            return Err(LoadErrorKind::OutOfZone {
                owner,
                apex: self.apex.clone(),
            });
        }
        self.records.push(Parsed {
            record: Record {
                owner,
                rtype,
                ttl: ttl.unwrap_or(self.default_ttl),
                rdata: self.rdata_buf.as_slice().into(),
            },
            file: state.index,
            line: head.line,
        });
        Ok(())
    }

    fn directive(
        &mut self,
        state: &mut FileState,
        head: EntryHead,
        tokens: &[Token<'_>],
    ) -> Result<(), LoadErrorKind> {
        let directive = tokens[0].text;
        let args = &tokens[1..];
        if directive.eq_ignore_ascii_case(b"$ORIGIN") {
            let [arg] = args else {
                return Err(LoadErrorKind::DirectiveUsage {
                    directive: "$ORIGIN",
                    expected: "one domain name",
                });
            };
            let origin = self.name(arg.text, &state.origin, "$ORIGIN")?;
            state.origin = origin.as_wire().to_vec();
        } else if directive.eq_ignore_ascii_case(b"$TTL") {
            let [arg] = args else {
                return Err(LoadErrorKind::DirectiveUsage {
                    directive: "$TTL",
                    expected: "one TTL",
                });
            };
            self.default_ttl = parse_ttl(arg.text)?;
        } else if directive.eq_ignore_ascii_case(b"$INCLUDE") {
            if !self.includes {
                return Err(LoadErrorKind::IncludeNotAllowed);
            }
            let (file, origin) = match args {
                [file] => (file, state.origin.clone()),
                [file, origin] => {
                    let origin = self.name(origin.text, &state.origin, "$INCLUDE origin")?;
                    (file, origin.as_wire().to_vec())
                }
                _ => {
                    return Err(LoadErrorKind::DirectiveUsage {
                        directive: "$INCLUDE",
                        expected: "a file name and optionally an origin",
                    });
                }
            };
            let mut raw = Vec::new();
            text::unescape_into(file.text, &mut raw).ok_or(LoadErrorKind::DirectiveUsage {
                directive: "$INCLUDE",
                expected: "a file name with valid escapes",
            })?;
            let relative = PathBuf::from(String::from_utf8_lossy(&raw).into_owned());
            let including = &self.diag.files[state.index as usize];
            let path = match including.parent() {
                Some(dir) if relative.is_relative() => dir.join(&relative),
                _ => relative,
            };
            self.include(&path, origin, Some((state.index, head.line)));
        } else {
            return Err(LoadErrorKind::UnknownDirective(lossy(directive)));
        }
        Ok(())
    }

    /// Parses `text` relative to `origin`, lowercased.
    fn name(
        &mut self,
        text: &[u8],
        origin: &[u8],
        what: &'static str,
    ) -> Result<Name, LoadErrorKind> {
        self.name_buf.clear();
        let bad = |error| LoadErrorKind::BadName {
            what,
            text: lossy(text),
            error,
        };
        text::name_into(text, origin, &mut self.name_buf).map_err(bad)?;
        self.name_buf.make_ascii_lowercase();
        Name::from_wire(&self.name_buf).map_err(bad)
    }
}

/// Whether a token is in the class position's vocabulary (RFC 1035 §5.1, RFC 3597 §5).
fn is_class_token(t: &[u8]) -> bool {
    const CLASSES: [&[u8]; 6] = [b"IN", b"CH", b"CS", b"HS", b"NONE", b"ANY"];
    CLASSES.iter().any(|c| c.eq_ignore_ascii_case(t))
        || (t.len() > 5
            && t[..5].eq_ignore_ascii_case(b"CLASS")
            && t[5..].iter().all(u8::is_ascii_digit))
}

/// A type mnemonic or `TYPEnnn`; the types a large zone is made of without a detour.
fn rtype_from(t: &[u8]) -> Option<Rtype> {
    match t {
        b"A" | b"a" => Some(Rtype::A),
        b"AAAA" | b"aaaa" => Some(Rtype::AAAA),
        b"NS" | b"ns" => Some(Rtype::NS),
        b"CNAME" | b"cname" => Some(Rtype::CNAME),
        b"MX" | b"mx" => Some(Rtype::MX),
        b"TXT" | b"txt" => Some(Rtype::TXT),
        b"PTR" | b"ptr" => Some(Rtype::PTR),
        b"SRV" | b"srv" => Some(Rtype::SRV),
        _ => std::str::from_utf8(t).ok().and_then(Rtype::from_text),
    }
}

fn parse_ttl(t: &[u8]) -> Result<u32, LoadErrorKind> {
    let ttl = text::ttl(t).ok_or_else(|| LoadErrorKind::BadTtl(lossy(t)))?;
    if ttl > MAX_TTL {
        return Err(LoadErrorKind::TtlTooLarge(ttl));
    }
    Ok(ttl)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
