//! Loading a zone file: read, parse (`parse`, with `$INCLUDE`), check (`check`) and
//! build the [`Zone`] snapshot, collecting every problem with its file and line.
//!
//! `load_zone` is what the reloader and `dnsd check` call. It never panics on a bad
//! file: it returns all the errors it found, each displayed as `file:line: what`.

use std::fmt;
use std::path::{Path, PathBuf};

use super::check;
use super::file_edit::{self, CheckpointLog, Edit, Edited};
use super::file_match::{FileMatch, Matched};
pub use super::files::LoadOptions;
use super::lexer::LexError;
use super::parse::{Parsed, Parser};
use super::quote;
use super::rdata_text::RdataError;
use super::record::{Record, Rtype};
use super::snapshot::{BuildError, Zone};
use crate::wire::name::{Name, NameError};

/// One problem found while loading a zone file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file it is in (an `$INCLUDE`d file for records from there).
    pub file: PathBuf,
    /// Its line (1-based); 0 when the problem belongs to no line (e.g. no SOA at all).
    pub line: usize,
    /// What is wrong.
    pub kind: LoadErrorKind,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = quote::path(&self.file);
        if self.line == 0 {
            write!(f, "{file}: {}", self.kind)
        } else {
            write!(f, "{file}:{}: {}", self.line, self.kind)
        }
    }
}

impl std::error::Error for LoadError {}

/// What is wrong, for [`LoadError`]. Errors keep a zone from loading; warnings
/// ([`LoadErrorKind::is_warning`]) do not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadErrorKind {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Read(String),
    /// A file named by `$INCLUDE` could not be read.
    #[error("cannot read $INCLUDE file {}: {error}", quote::path(.path))]
    IncludeRead {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: String,
    },
    /// A file named by `$INCLUDE` is not a regular file (a FIFO, a device, ...).
    #[error("$INCLUDE file {} is {what}, not a regular file", quote::path(.path))]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is.
        what: &'static str,
    },
    /// `$INCLUDE` of a file outside the zone's folder and the allowed folders.
    #[error(
        "$INCLUDE of {} is refused: it is outside the zones folder and every folder of [include] dirs",
        quote::path(.0)
    )]
    IncludeOutside(PathBuf),
    /// The zone reads more files than allowed.
    #[error(
        "the zone reads more than {0} files (the zone file and its $INCLUDEs; [include] max-files)"
    )]
    TooManyFiles(usize),
    /// The zone's files (and `$GENERATE` output) hold more octets than allowed.
    #[error(
        "the zone's files hold more than {0} octets (with $INCLUDEs and $GENERATE; [include] max-bytes)"
    )]
    TooManyBytes(u64),
    /// A `$GENERATE` directive that cannot be used.
    #[error("$GENERATE: {0}")]
    Generate(&'static str),
    /// The tokenizer failed (parentheses, quotes).
    #[error("{0}")]
    Syntax(#[from] LexError),
    /// A `$` directive other than `$ORIGIN`, `$TTL`, `$INCLUDE` and `$GENERATE`.
    #[error("unknown directive '{0}' (only $ORIGIN, $TTL, $INCLUDE and $GENERATE are supported)")]
    UnknownDirective(String),
    /// A directive with missing or extra arguments.
    #[error("{directive} needs {expected}")]
    DirectiveUsage {
        /// The directive.
        directive: &'static str,
        /// Its arguments.
        expected: &'static str,
    },
    /// `$INCLUDE` of a file that is being read already.
    #[error("$INCLUDE of {} loops back to a file being read", quote::path(.0))]
    IncludeLoop(PathBuf),
    /// `$INCLUDE`s nested too deep.
    #[error("$INCLUDE nested more than {0} deep ([include] max-depth)")]
    IncludeTooDeep(usize),
    /// `$INCLUDE` where it is not allowed (text loaded from memory).
    #[error("$INCLUDE is not allowed here")]
    IncludeNotAllowed,
    /// A record with blank owner and no previous record.
    #[error("no owner name, and no previous record to take it from")]
    NoOwner,
    /// A name that does not parse.
    #[error("bad {what} '{text}': {error}")]
    BadName {
        /// Which name: owner, $ORIGIN, ...
        what: &'static str,
        /// Its text.
        text: String,
        /// Why.
        error: NameError,
    },
    /// A TTL that does not parse or does not fit 32 bits.
    #[error("bad TTL '{0}'")]
    BadTtl(String),
    /// Warning: in a file without `$TTL`, a record without a TTL takes the last one
    /// stated (RFC 1035 §5.1); said once per file.
    #[error(
        "no $TTL: records without a TTL take the last TTL stated before them, here {0} (RFC 1035 §5.1, as BIND; NSD and Knot use 3600)"
    )]
    TtlFromPrevious(u32),
    /// Warning: a record without a TTL, with neither `$TTL` nor a TTL stated before it.
    #[error("{}", no_ttl_message(*.ttl, *.soa_minimum))]
    NoTtl {
        /// The TTL it gets.
        ttl: u32,
        /// Whether that is the SOA's MINIMUM field.
        soa_minimum: bool,
    },
    /// A TTL above 2^31 - 1 (RFC 2181 §8).
    #[error("TTL {0} is above 2147483647 (RFC 2181 §8)")]
    TtlTooLarge(u32),
    /// A class other than IN.
    #[error("class {0} is not supported: dnsd serves class IN only")]
    UnsupportedClass(String),
    /// A type mnemonic that is not known.
    #[error("unknown record type '{0}' (write TYPEnnn for others, RFC 3597)")]
    UnknownType(String),
    /// A record without a type.
    #[error("missing record type")]
    MissingType,
    /// A meta type (OPT, ANY, AXFR...) that cannot be in a zone.
    #[error("type {0} cannot be stored in a zone")]
    MetaType(Rtype),
    /// RDATA that does not parse for its type.
    #[error("bad {rtype} record: {error}")]
    Rdata {
        /// The record's type.
        rtype: Rtype,
        /// Why.
        error: RdataError,
    },
    /// Parsing stopped.
    #[error("too many errors, giving up on this file")]
    TooManyErrors,
    /// A record whose owner is not in the zone.
    #[error("out of zone data: {owner} is outside the zone {apex}")]
    OutOfZone {
        /// The owner.
        owner: Name,
        /// The zone's apex.
        apex: Name,
    },
    /// No SOA at the apex.
    #[error("no SOA record at the zone apex {0}")]
    NoSoa(Name),
    /// Two different SOA records at the apex.
    #[error("more than one SOA record at the zone apex {apex} (first at line {first_line})")]
    MultipleSoa {
        /// The apex.
        apex: Name,
        /// Line of the first one.
        first_line: usize,
    },
    /// A SOA below the apex.
    #[error("SOA record at {owner}, which is not the zone apex {apex}")]
    SoaNotAtApex {
        /// Its owner.
        owner: Name,
        /// The apex.
        apex: Name,
    },
    /// No NS at the apex.
    #[error("no NS records at the zone apex {0}")]
    NoApexNs(Name),
    /// A CNAME beside other data (RFC 2181 §10.1).
    #[error("CNAME at {owner} beside other data ({other} at line {other_line})")]
    CnameAndOther {
        /// The owner.
        owner: Name,
        /// One other type there.
        other: Rtype,
        /// Its line.
        other_line: usize,
    },
    /// Two different CNAMEs at one name (RFC 1034 §3.6.2).
    #[error("more than one CNAME at {owner} (first at line {first_line})")]
    MultipleCname {
        /// The owner.
        owner: Name,
        /// Line of the first.
        first_line: usize,
    },
    /// CNAME and DNAME at one name (RFC 6672 §2.4).
    #[error("CNAME and DNAME at {owner} (DNAME at line {dname_line})")]
    CnameAndDname {
        /// The owner.
        owner: Name,
        /// Line of the DNAME.
        dname_line: usize,
    },
    /// Two different DNAMEs at one name (RFC 6672 §2.4).
    #[error("more than one DNAME at {owner} (first at line {first_line})")]
    MultipleDname {
        /// The owner.
        owner: Name,
        /// Line of the first.
        first_line: usize,
    },
    /// An NS target at or below its delegation without an address record (RFC 9471
    /// §2.1: in-domain glue is required).
    #[error(
        "NS target {target} of {owner} lies at or below the delegation and has no A or AAAA record (missing glue, RFC 9471 §2.1)"
    )]
    MissingGlue {
        /// The delegation point.
        owner: Name,
        /// The target.
        target: Name,
    },
    /// An NS target in the zone's own data without an address, not even from a
    /// wildcard: the NS leads nowhere.
    #[error(
        "NS target {target} of {owner} is in this zone's own data but has no A or AAAA record (nor a wildcard that gives one)"
    )]
    NsTargetWithoutAddress {
        /// The NS owner (apex or delegation point).
        owner: Name,
        /// The target.
        target: Name,
    },
    /// An RRset of more records than its 16-bit count holds.
    #[error(
        "the RRset {owner} {rtype} has {count} records; an RRset holds at most 65535 (its count is 16 bits on the wire)"
    )]
    RrsetTooLarge {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: Rtype,
        /// Its distinct records.
        count: usize,
    },
    /// Warning: records of one RRset with different TTLs (RFC 2181 §5.2).
    #[error(
        "TTL {ttl} of this {rtype} record at {owner} differs from the RRset's TTL {rrset_ttl}{}; the RRset is served with {rrset_ttl}",
        first_line_text(*first_line)
    )]
    TtlMismatch {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: Rtype,
        /// This record's TTL.
        ttl: u32,
        /// The RRset's TTL (its first record's).
        rrset_ttl: u32,
        /// Line of the first record.
        first_line: usize,
    },
    /// Warning: data below a zone cut that is not glue, never served (RFC 1034 §4.2.1).
    #[error("{rtype} at {owner} is below the delegation {cut} and will not be served (occluded)")]
    OccludedByDelegation {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: Rtype,
        /// The delegation point.
        cut: Name,
    },
    /// Data below a DNAME (RFC 6672 §2.4): never served, refused as NSD and Knot do.
    #[error(
        "{rtype} at {owner} is below the DNAME at {dname}: a DNAME redirects every name below it, so this data would never be served (RFC 6672 §2.4)"
    )]
    BelowDname {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: Rtype,
        /// The DNAME's owner.
        dname: Name,
    },
    /// The snapshot could not be built.
    #[error("{0}")]
    Build(BuildError),
}

fn no_ttl_message(ttl: u32, soa_minimum: bool) -> String {
    let source = if soa_minimum {
        "its MINIMUM field, as BIND does"
    } else {
        "as NSD and Knot do"
    };
    format!(
        "no TTL, no $TTL and no TTL stated before: this record takes {ttl} ({source}); set $TTL"
    )
}

impl LoadErrorKind {
    /// Whether this is a warning: the zone loads anyway.
    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            Self::TtlMismatch { .. }
                | Self::OccludedByDelegation { .. }
                | Self::TtlFromPrevious(_)
                | Self::NoTtl { .. }
        )
    }

    /// Whether this error spends the zone's reading budget: nothing more is read.
    pub fn exhausts_budget(&self) -> bool {
        matches!(self, Self::TooManyFiles(_) | Self::TooManyBytes(_))
    }
}

/// A loaded zone and the warnings its files gave.
pub struct Loaded {
    /// The zone.
    pub zone: Zone,
    /// Problems that did not keep it from loading.
    pub warnings: Vec<LoadError>,
}

/// The problems found so far, and the files they refer to by index.
pub(crate) struct Diagnostics {
    pub files: Vec<PathBuf>,
    pub errors: Vec<LoadError>,
    pub warnings: Vec<LoadError>,
}

/// Errors beyond which a file is given up (a binary file is not a zone).
pub(crate) const MAX_ERRORS: usize = 1000;

impl Diagnostics {
    pub fn new() -> Self {
        Self {
            files: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Records a problem in file number `file` at `line`, as error or warning by kind.
    pub fn report(&mut self, file: u32, line: u32, kind: LoadErrorKind) {
        let error = LoadError {
            file: self.files.get(file as usize).cloned().unwrap_or_default(),
            line: line as usize,
            kind,
        };
        if error.kind.is_warning() {
            self.warnings.push(error);
        } else {
            self.errors.push(error);
        }
    }

    /// Whether parsing should stop.
    pub fn too_many(&self) -> bool {
        self.errors.len() >= MAX_ERRORS
    }
}

/// Reads, parses (`$INCLUDE` relative to the including file's folder), checks and builds
/// the zone `apex` from the file at `path`, with the default [`LoadOptions`].
pub fn load_zone(path: &Path, apex: &Name) -> Result<Loaded, Vec<LoadError>> {
    load_zone_with(path, apex, &LoadOptions::default())
}

/// [`load_zone`] with `options`: the folders `$INCLUDE` may read and the zone's limits.
pub fn load_zone_with(
    path: &Path,
    apex: &Name,
    options: &LoadOptions,
) -> Result<Loaded, Vec<LoadError>> {
    load_zone_watched(path, apex, options).0
}

/// [`load_zone_with`], and every file the zone read or tried to read — the zone file
/// and its `$INCLUDE`s, as named (symbolic links not resolved) — for the watcher.
pub fn load_zone_watched(
    path: &Path,
    apex: &Name,
    options: &LoadOptions,
) -> (Result<Loaded, Vec<LoadError>>, Vec<PathBuf>) {
    let mut parser = Parser::new(apex, true, options.clone());
    parser.parse_file(path);
    let files = parser.attempted().to_vec();
    (finish(parser, apex), files)
}

/// What reading a zone file against the live version gave.
pub enum MatchOutcome {
    /// The whole file, matched record by record.
    Matched(Box<Matched>),
    /// The file read as an edit of the one the live version was loaded from.
    Edited(Box<Edited>),
}

/// A zone file matched against the live version, and its warnings; or its errors.
pub type MatchResult = Result<(MatchOutcome, Vec<LoadError>), Vec<LoadError>>;

/// Reads and parses the zone file at `path` as [`load_zone_watched`] does, comparing
/// each record with `matcher`'s base version instead of building a zone: what changed,
/// and the warnings. The file's own errors are reported as when it is loaded whole; the
/// rules that involve other names (CNAME and other data, glue) are checked when the
/// changes are applied (`zone::txn`).
///
/// When the matcher holds the memo of the file the base was loaded from, the file is
/// read as an edit of that one (`file_edit`) when it can be; a whole read leaves a memo
/// of its own in the match when the matcher names a folder for copies.
pub fn match_zone_file(
    path: &Path,
    matcher: FileMatch,
    options: &LoadOptions,
) -> (MatchResult, Vec<PathBuf>) {
    let mut copies = None;
    if let Some((dir, last)) = matcher.memo() {
        if let Some(last) = last {
            let skip = matcher.skip();
            match file_edit::read_edit(path, last, matcher.base(), skip, options) {
                Edit::Changed(edited) => {
                    return (
                        Ok((MatchOutcome::Edited(edited), Vec::new())),
                        vec![path.to_path_buf()],
                    );
                }
                Edit::Whole(why) => {
                    tracing::debug!(file = %path.display(), "zone file read whole: {why}");
                }
            }
        }
        copies = Some(dir.clone());
    }
    let apex = matcher.apex().clone();
    let mut parser = Parser::new(&apex, true, options.clone());
    parser.set_matcher(matcher);
    if let Some(dir) = &copies {
        parser.set_log(CheckpointLog::new(file_edit::copy_file(dir)));
    }
    parser.parse_file(path);
    let files = parser.attempted().to_vec();
    let log = parser.take_log();
    let (matcher, mut diag) = parser.into_match();
    let matched = matcher.and_then(|m| m.finish(&mut diag));
    let result = match matched {
        Some(mut matched) if diag.errors.is_empty() => {
            if files.len() == 1 {
                matched.memo =
                    log.and_then(|log| log.into_memo(matched.soa.clone(), matched.irregular));
            }
            Ok((MatchOutcome::Matched(Box::new(matched)), diag.warnings))
        }
        _ => Err(diag.errors),
    };
    (result, files)
}

/// Like [`load_zone`] for zone text already in memory, `path` naming it in errors;
/// `$INCLUDE` is refused. For tests and fuzzing.
pub fn load_zone_from_bytes(
    text: &[u8],
    path: &Path,
    apex: &Name,
) -> Result<Loaded, Vec<LoadError>> {
    let mut parser = Parser::new(apex, false, LoadOptions::default());
    parser.parse_bytes(text, path);
    finish(parser, apex)
}

fn finish(parser: Parser, apex: &Name) -> Result<Loaded, Vec<LoadError>> {
    let (mut records, mut diag) = parser.into_parts();
    let apex = apex.to_lowercase();
    check::check(&apex, &mut records, &mut diag);
    if !diag.errors.is_empty() {
        return Err(diag.errors);
    }
    // Sorted by owner and type already: the build's own sort finds one run.
    let records: Vec<Record> = records.into_iter().map(|p: Parsed| p.record).collect();
    let built = Zone::build(&apex, records);
    release_freed_memory();
    match built {
        Ok(zone) => Ok(Loaded {
            zone,
            warnings: diag.warnings,
        }),
        Err(error) => {
            let file = diag.files.first().cloned().unwrap_or_default();
            Err(vec![LoadError {
                file,
                line: 0,
                kind: LoadErrorKind::Build(error),
            }])
        }
    }
}

/// " (line N)" for a known line of the RRset's first record.
fn first_line_text(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" (line {line})")
    }
}

/// Gives the memory freed by loading (a million records and their owner names are
/// small heap blocks) back to the system, so that the daemon's RSS is the zone's size
/// rather than the loader's peak. glibc keeps freed heap memory otherwise.
pub(crate) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own heap; it takes no pointer of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}
