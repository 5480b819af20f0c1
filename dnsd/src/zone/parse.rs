//! The RFC 1035 §5 master-file parser: entries from the tokenizer (`lexer`) become
//! records, with `$ORIGIN`, `$TTL`, `$INCLUDE` (relative to the including file's
//! folder, read through `files`: regular files in allowed folders, within the zone's
//! budget, loops refused), BIND's `$GENERATE` (`generate`), `@`, relative names, blank
//! owners (the previous owner, also across an `$INCLUDE` as BIND and NSD do), TTL and
//! class in either order, class IN only, and RDATA by type (`rdata_text`).
//!
//! TTLs: a record without one takes `$TTL` when the file set it (RFC 2308 §4), else
//! the last TTL stated before it (RFC 1035 §5.1, as BIND, ldns, dnspython and
//! miekg/dns; NSD and Knot use 3600), with a warning once per file. Before any TTL is
//! known, a SOA takes its MINIMUM field (as BIND) and any other record 3600 (as NSD
//! and Knot), with a warning.
//!
//! Each record keeps the file and line it came from, for the checks' messages. Owners
//! are stored lowercased (the zone's key form).

use std::path::{Path, PathBuf};

use super::file_edit::{Checkpoint, CheckpointLog, ParseState};
use super::file_match::FileMatch;
use super::files::{Budget, LoadOptions, Opened, ReadError};
use super::generate;
use super::lexer::{EntryHead, Lexer, Token};
use super::load::{Diagnostics, LoadErrorKind};
use super::rdata_text::{self, quoted};
use super::record::{Record, Rtype};
use super::text;
use crate::wire::name::Name;

/// TTL of a record when nothing before it gives one (NSD's and Knot's default).
const FALLBACK_TTL: u32 = 3600;
/// How much of a file is read at a time (an entry longer than this is read whole).
const PIECE: usize = 1 << 20;
/// The UTF-8 byte-order mark some editors start files with.
const BOM: &[u8] = b"\xef\xbb\xbf";
/// Largest TTL allowed (RFC 2181 §8).
const MAX_TTL: u32 = i32::MAX as u32;

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
    /// `$TTL`, once set.
    dollar_ttl: Option<u32>,
    /// The last TTL a record stated (or was given before any was stated).
    last_ttl: Option<u32>,
    include_stack: Vec<PathBuf>,
    budget: Budget,
    /// The zone's budget is spent: nothing more is read.
    stopped: bool,
    records: Vec<Parsed>,
    /// How much of a file is read at a time.
    piece: usize,
    /// When set, records go to it as they are parsed instead of into `records`.
    matcher: Option<Box<FileMatch>>,
    diag: Diagnostics,
    /// Every file read or tried (`$INCLUDE`s that failed too), as named.
    attempted: Vec<PathBuf>,
    name_buf: Vec<u8>,
    rdata_buf: Vec<u8>,
    /// When set, the top file's entry boundaries are noted, and what is read of it is
    /// copied (`file_edit`: the next edit of the file is parsed from there).
    log: Option<CheckpointLog>,
}

/// State of one file being read.
pub(crate) struct FileState {
    index: u32,
    origin: Vec<u8>,
    owner: Option<Name>,
    /// Whether this file was warned about TTLs taken from an earlier record.
    ttl_warned: bool,
}

impl Parser {
    /// A parser for the zone `apex`; `includes` allows `$INCLUDE`, read as `options`
    /// say.
    pub fn new(apex: &Name, includes: bool, options: LoadOptions) -> Self {
        Self {
            apex: apex.to_lowercase(),
            includes,
            dollar_ttl: None,
            last_ttl: None,
            include_stack: Vec::new(),
            budget: Budget::new(options),
            stopped: false,
            records: Vec::new(),
            piece: PIECE,
            matcher: None,
            diag: Diagnostics::new(),
            attempted: Vec::new(),
            name_buf: Vec::with_capacity(256),
            rdata_buf: Vec::with_capacity(512),
            log: None,
        }
    }

    /// Notes the top file's entry boundaries in `log` (and copies the file into its
    /// copy) while it is parsed.
    pub(crate) fn set_log(&mut self, log: CheckpointLog) {
        self.log = Some(log);
    }

    /// The boundaries noted, when a log was set.
    pub(crate) fn take_log(&mut self) -> Option<CheckpointLog> {
        self.log.take()
    }

    /// Parses `text`, a run of whole entries of the zone file starting at `start` (its
    /// offset, line and the parser's state there), into records; returns the state
    /// after it. With a log set, its boundaries are noted from `start`'s offset.
    pub(crate) fn parse_run(&mut self, text: &[u8], start: &Checkpoint) -> ParseState {
        let index = self.add_file(Path::new(""));
        let mut state = FileState {
            index,
            origin: start.state.origin.clone(),
            owner: start.state.owner.clone(),
            ttl_warned: start.state.ttl_warned,
        };
        self.dollar_ttl = start.state.dollar_ttl;
        self.last_ttl = start.state.last_ttl;
        if let Some(log) = &mut self.log {
            log.base = start.offset;
        }
        let mut line = start.line;
        self.parse_piece(text, &mut state, &mut line, false);
        self.state_of(&state)
    }

    fn state_of(&self, state: &FileState) -> ParseState {
        ParseState {
            origin: state.origin.clone(),
            owner: state.owner.clone(),
            dollar_ttl: self.dollar_ttl,
            last_ttl: self.last_ttl,
            ttl_warned: state.ttl_warned,
        }
    }

    /// The records parsed and the problems found.
    pub(crate) fn into_parts(self) -> (Vec<Parsed>, Diagnostics) {
        (self.records, self.diag)
    }

    /// Reads files `piece` octets at a time (tests cut entries with small pieces).
    #[cfg(test)]
    pub(crate) fn set_piece(&mut self, piece: usize) {
        self.piece = piece.max(1);
    }

    /// Hands every record to `matcher` as it is parsed, instead of keeping it: a zone
    /// file compared with the live zone is never held whole.
    pub(crate) fn set_matcher(&mut self, matcher: FileMatch) {
        self.matcher = Some(Box::new(matcher));
    }

    /// The matcher, with every record handed to it, and the problems found.
    pub(crate) fn into_match(self) -> (Option<FileMatch>, Diagnostics) {
        (self.matcher.map(|m| *m), self.diag)
    }

    /// Every file read or tried so far (the zone file, then each `$INCLUDE`), as
    /// named: what a watcher must watch for this zone.
    pub fn attempted(&self) -> &[PathBuf] {
        &self.attempted
    }

    /// Parses the zone file at `path` with the apex as origin.
    pub fn parse_file(&mut self, path: &Path) {
        self.attempted.push(path.to_path_buf());
        let index = self.add_file(path);
        match self.budget.open_zone_file(path) {
            Ok(opened) => {
                let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
                self.include_stack.push(canonical);
                let origin = self.apex.as_wire().to_vec();
                self.parse_opened(opened, index, origin, None);
                self.include_stack.pop();
            }
            Err(error) => {
                let kind = match error {
                    ReadError::Io(e) => LoadErrorKind::Read(e.to_string()),
                    ReadError::NotRegular(what) => {
                        LoadErrorKind::Read(format!("it is {what}, not a regular file"))
                    }
                    other => budget_error(other),
                };
                self.diag.report(index, 0, kind);
            }
        }
    }

    /// Parses zone text from memory, `path` naming it in errors.
    pub fn parse_bytes(&mut self, text: &[u8], path: &Path) {
        let index = self.add_file(path);
        let origin = self.apex.as_wire().to_vec();
        self.parse_text(text, index, origin, None);
    }

    fn add_file(&mut self, path: &Path) -> u32 {
        self.diag.files.push(path.to_path_buf());
        (self.diag.files.len() - 1) as u32
    }

    /// Reads and parses the `$INCLUDE`d `path`, written at line `line` of file `from`.
    fn include(&mut self, path: &Path, origin: Vec<u8>, owner: Option<Name>, from: (u32, u32)) {
        let (file, line) = from;
        if !self.attempted.iter().any(|p| p == path) {
            self.attempted.push(path.to_path_buf());
        }
        let canonical = match std::fs::canonicalize(path) {
            Ok(canonical) => canonical,
            Err(e) => {
                let kind = LoadErrorKind::IncludeRead {
                    path: path.to_path_buf(),
                    error: e.to_string(),
                };
                return self.diag.report(file, line, kind);
            }
        };
        if self.include_stack.contains(&canonical) {
            let kind = LoadErrorKind::IncludeLoop(path.to_path_buf());
            return self.diag.report(file, line, kind);
        }
        if self.include_stack.len() > self.budget.max_depth() {
            let kind = LoadErrorKind::IncludeTooDeep(self.budget.max_depth());
            return self.diag.report(file, line, kind);
        }
        match self.budget.open_include(&canonical) {
            Ok(opened) => {
                let index = self.add_file(path);
                self.include_stack.push(canonical);
                self.parse_opened(opened, index, origin, owner);
                self.include_stack.pop();
            }
            Err(error) => {
                self.stopped |= error.exhausts_budget();
                let path = path.to_path_buf();
                let kind = match error {
                    ReadError::Io(e) => LoadErrorKind::IncludeRead {
                        path,
                        error: e.to_string(),
                    },
                    ReadError::NotRegular(what) => LoadErrorKind::NotRegular { path, what },
                    ReadError::Outside => LoadErrorKind::IncludeOutside(path),
                    other => budget_error(other),
                };
                self.diag.report(file, line, kind);
            }
        }
    }

    fn parse_text(&mut self, text: &[u8], index: u32, origin: Vec<u8>, owner: Option<Name>) {
        // Editors on some systems start UTF-8 files with a byte-order mark.
        let text = text.strip_prefix(BOM).unwrap_or(text);
        let mut state = FileState {
            index,
            origin,
            owner,
            ttl_warned: false,
        };
        self.parse_piece(text, &mut state, &mut 1, false);
    }

    /// Parses an open file a piece at a time, so that a large zone file is never in
    /// memory whole: each piece ends at a line end, and an entry that a piece cuts
    /// (inside parentheses or an escaped line end in quotes) is read again with the
    /// next one.
    fn parse_opened(
        &mut self,
        mut opened: Opened,
        index: u32,
        origin: Vec<u8>,
        owner: Option<Name>,
    ) {
        let mut state = FileState {
            index,
            origin,
            owner,
            ttl_warned: false,
        };
        let piece = self.piece;
        let mut buf: Vec<u8> = Vec::with_capacity(piece.min(opened.size() as usize + 1));
        let mut line = 1;
        let mut first = true;
        let top = index == 0;
        if top {
            let start = self.state_of(&state);
            if let Some(log) = &mut self.log {
                log.start(start);
            }
        }
        loop {
            let before = buf.len();
            let eof = match self.budget.read_some(&mut opened, &mut buf, piece) {
                Ok(read) => read == 0,
                Err(error) => {
                    self.stopped |= error.exhausts_budget();
                    let kind = match error {
                        ReadError::Io(e) => LoadErrorKind::Read(e.to_string()),
                        other => budget_error(other),
                    };
                    return self.diag.report(index, line, kind);
                }
            };
            if top && let Some(log) = &mut self.log {
                log.copy(&buf[before..]);
            }
            if first && (buf.len() >= BOM.len() || eof) {
                first = false;
                if buf.starts_with(BOM) {
                    buf.drain(..BOM.len());
                    if top && let Some(log) = &mut self.log {
                        // Offsets would no longer be the file's: no edits from this one.
                        log.spoil();
                    }
                }
            }
            let end = if eof {
                buf.len()
            } else {
                match buf.iter().rposition(|&b| b == b'\n') {
                    Some(at) => at + 1,
                    None => continue,
                }
            };
            let used = self.parse_piece(&buf[..end], &mut state, &mut line, !eof);
            if eof || self.stopped {
                return;
            }
            buf.drain(..used);
            if top && let Some(log) = &mut self.log {
                log.base += used as u64;
            }
        }
    }

    /// Parses the entries of `text`, which starts at line `line` (updated). When
    /// `more` follows, an entry that runs into the end of `text` is left for the next
    /// piece. Returns how much of `text` was used.
    fn parse_piece(
        &mut self,
        text: &[u8],
        state: &mut FileState,
        line: &mut u32,
        more: bool,
    ) -> usize {
        let mut lexer = Lexer::starting_at(text, *line);
        let mut tokens: Vec<Token<'_>> = Vec::with_capacity(16);
        loop {
            let (at, at_line) = (lexer.pos(), lexer.line());
            if state.index == 0
                && let Some(log) = &mut self.log
                && log.due()
            {
                let snapshot = ParseState {
                    origin: state.origin.clone(),
                    owner: state.owner.clone(),
                    dollar_ttl: self.dollar_ttl,
                    last_ttl: self.last_ttl,
                    ttl_warned: state.ttl_warned,
                };
                log.note(at, at_line, snapshot);
            }
            let Some(entry) = lexer.next_entry(&mut tokens) else {
                break;
            };
            if more && entry.is_err() && lexer.pos() == text.len() {
                // Cut by the end of the piece: read again with what follows.
                *line = at_line;
                return at;
            }
            if self.stopped {
                break;
            }
            if self.diag.too_many() {
                self.diag
                    .report(state.index, 0, LoadErrorKind::TooManyErrors);
                self.stopped = true;
                break;
            }
            match entry {
                Err((line, error)) => self.diag.report(state.index, line, error.into()),
                Ok(head) => {
                    if state.index == 0
                        && let Some(log) = &mut self.log
                    {
                        log.entries += 1;
                        if !head.blank_owner
                            && tokens[0].text.first() == Some(&b'$')
                            && tokens[0].text.eq_ignore_ascii_case(b"$INCLUDE")
                        {
                            log.spoil();
                        }
                    }
                    if let Err(kind) = self.entry(state, head, &tokens) {
                        if kind.exhausts_budget() {
                            self.stopped = true;
                        }
                        self.diag.report(state.index, head.line, kind);
                    }
                }
            }
        }
        *line = lexer.line();
        text.len()
    }

    /// One entry: a directive, or a record.
    pub(crate) fn entry(
        &mut self,
        state: &mut FileState,
        head: EntryHead,
        tokens: &[Token<'_>],
    ) -> Result<(), LoadErrorKind> {
        let first = tokens[0];
        if !head.blank_owner && !first.quoted && first.text.first() == Some(&b'$') {
            return self.directive(state, head, tokens);
        }
        self.record(state, head, tokens)
    }

    /// One record: owner (or blank), TTL and class in either order, type, RDATA.
    fn record(
        &mut self,
        state: &mut FileState,
        head: EntryHead,
        tokens: &[Token<'_>],
    ) -> Result<(), LoadErrorKind> {
        let first = tokens[0];
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
                    return Err(LoadErrorKind::UnsupportedClass(quoted(t.text)));
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
            .ok_or_else(|| LoadErrorKind::UnknownType(quoted(type_token.text)))?;
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
        let ttl = self.ttl_of(state, head.line, ttl, rtype);
        let parsed = Parsed {
            record: Record {
                owner,
                rtype,
                ttl,
                rdata: self.rdata_buf.as_slice().into(),
            },
            file: state.index,
            line: head.line,
        };
        match &mut self.matcher {
            Some(matcher) => matcher.record(parsed, &mut self.diag),
            None => self.records.push(parsed),
        }
        Ok(())
    }

    /// The TTL of a record that stated `stated` (see the module's doc), warning where
    /// the peers would differ.
    fn ttl_of(
        &mut self,
        state: &mut FileState,
        line: u32,
        stated: Option<u32>,
        rtype: Rtype,
    ) -> u32 {
        if let Some(ttl) = stated {
            self.last_ttl = Some(ttl);
            return ttl;
        }
        if let Some(ttl) = self.dollar_ttl {
            return ttl;
        }
        if let Some(ttl) = self.last_ttl {
            if !state.ttl_warned {
                state.ttl_warned = true;
                let kind = LoadErrorKind::TtlFromPrevious(ttl);
                self.diag.report(state.index, line, kind);
            }
            return ttl;
        }
        // Nothing gives a TTL yet: the SOA's MINIMUM (BIND), or 3600 (NSD, Knot).
        let rdata = &self.rdata_buf;
        let minimum = (rtype == Rtype::SOA && rdata.len() >= 4).then(|| {
            let m = &rdata[rdata.len() - 4..];
            u32::from_be_bytes([m[0], m[1], m[2], m[3]]).min(MAX_TTL)
        });
        let ttl = minimum.unwrap_or(FALLBACK_TTL);
        state.ttl_warned = true;
        let kind = LoadErrorKind::NoTtl {
            ttl,
            soa_minimum: minimum.is_some(),
        };
        self.diag.report(state.index, line, kind);
        self.last_ttl = Some(ttl);
        ttl
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
            self.dollar_ttl = Some(parse_ttl(arg.text)?);
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
            let relative = PathBuf::from(
                <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(raw),
            );
            let including = &self.diag.files[state.index as usize];
            let path = match including.parent() {
                Some(dir) if relative.is_relative() => dir.join(&relative),
                _ => relative,
            };
            // BIND and NSD: the included file's first record may take the current owner.
            let owner = state.owner.clone();
            self.include(&path, origin, owner, (state.index, head.line));
        } else if directive.eq_ignore_ascii_case(b"$GENERATE") {
            self.generate(state, head, args)?;
        } else {
            return Err(LoadErrorKind::UnknownDirective(quoted(directive)));
        }
        Ok(())
    }

    /// `$GENERATE` (BIND): each line it yields is parsed as a record of this line.
    fn generate(
        &mut self,
        state: &mut FileState,
        head: EntryHead,
        args: &[Token<'_>],
    ) -> Result<(), LoadErrorKind> {
        let directive = generate::Generate::parse(args)?;
        let mut line = Vec::with_capacity(128);
        for value in directive.values() {
            line.clear();
            directive.line_into(value, &mut line)?;
            self.budget.generated(line.len()).map_err(budget_error)?;
            let mut lexer = Lexer::new(&line);
            let mut tokens: Vec<Token<'_>> = Vec::with_capacity(8);
            match lexer.next_entry(&mut tokens) {
                Some(Ok(_)) => {
                    let head = EntryHead {
                        line: head.line,
                        blank_owner: false,
                    };
                    self.record(state, head, &tokens)?;
                }
                Some(Err((_, error))) => return Err(error.into()),
                None => return Err(LoadErrorKind::Generate("a line with nothing in it")),
            }
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
            text: quoted(text),
            error,
        };
        text::name_into(text, origin, &mut self.name_buf).map_err(bad)?;
        self.name_buf.make_ascii_lowercase();
        Name::from_wire(&self.name_buf).map_err(bad)
    }
}

/// The error of a spent budget (too many files or octets).
fn budget_error(error: ReadError) -> LoadErrorKind {
    match error {
        ReadError::TooManyFiles(n) => LoadErrorKind::TooManyFiles(n),
        ReadError::TooManyBytes(n) => LoadErrorKind::TooManyBytes(n),
        ReadError::Io(e) => LoadErrorKind::Read(e.to_string()),
        ReadError::NotRegular(what) => LoadErrorKind::Read(format!("{what}, not a regular file")),
        ReadError::Outside => LoadErrorKind::Read("outside the allowed folders".into()),
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
    let ttl = text::ttl(t).ok_or_else(|| LoadErrorKind::BadTtl(quoted(t)))?;
    if ttl > MAX_TTL {
        return Err(LoadErrorKind::TtlTooLarge(ttl));
    }
    Ok(ttl)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
