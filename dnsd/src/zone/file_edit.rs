//! A zone-file edit read as an edit: the new file compared byte for byte with a copy of
//! the file the live zone was last loaded from, and only the runs of entries that
//! differ parsed — on both sides — so that a one-line edit of a million-name file costs
//! a read and a compare of the file plus the parse of a few thousand entries, not the
//! parse of a million (the whole-file match, `file_match`, stays the fallback).
//!
//! While a file is loaded whole, the parser notes, every [`EVERY`] entries, where an
//! entry starts (offset, line) and its state there (`$ORIGIN`, `$TTL`, the last TTL and
//! owner): a [`Checkpoint`]. The file itself is copied, as read, into an unnamed file in
//! the state folder ([`FileMemo`]: the copy and the checkpoints). The next version of
//! the file is compared with the copy chunk by chunk (a chunk runs from one checkpoint
//! to the next); a chunk that differs starts a region, which ends where a later chunk
//! is found again, whole, in the new file. Each region is parsed from its checkpoint's
//! state, in the copy and in the new file, and must leave the parser in the state the
//! copy had at the chunk where they meet again (else what follows would mean something
//! else: a changed `$ORIGIN` or `$TTL`, a blank owner): the records of the rest are then
//! the same, and the file's change is the old region's records against the new one's.
//!
//! Anything this reading cannot decide exactly as the whole-file load would — a
//! warning or an error in the new text, the SOA or apex NS records appearing or
//! disappearing, DNSSEC records, a record the file holds twice, an RRset whose records
//! differ in TTL, `$INCLUDE`, too large a change — falls back to the whole-file load
//! ([`Edit::Whole`], with the reason, logged at debug).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::files::{Budget, LoadOptions};
use super::load::Diagnostics;
use super::node::RrsetRef;
use super::parse::{Parsed, Parser};
use super::quote;
use super::record::Rtype;
use super::snapshot::{Zone, soa_without_serial};
use super::txn::Change;
use crate::wire::name::Name;

/// Entries between two checkpoints: a region parses about this many entries per side.
pub const EVERY: u64 = 1024;
/// Most octets the changed regions may hold (old and new together) before the whole
/// file is read instead: their records are held twice (old and new), where the whole
/// read holds only what changed; a quarter of the file, at least 256 KiB, at most 4 MiB.
fn max_region_bytes(file_len: usize) -> usize {
    (file_len / 4).clamp(256 << 10, 4 << 20)
}
/// Most separate regions.
const MAX_REGIONS: usize = 256;
/// Chunks looked at after one that differs, to find the files aligned again.
const MAX_SKIP: usize = 32;
/// How far past where it was in the copy a chunk is looked for in the new file.
const SLACK: usize = 256 << 10;
/// Octets of a chunk's start searched for.
const ANCHOR: usize = 64;

/// The parser's state where an entry starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseState {
    /// `$ORIGIN`, wire form.
    pub origin: Vec<u8>,
    /// The last owner (for a blank one).
    pub owner: Option<Name>,
    /// `$TTL`, once set.
    pub dollar_ttl: Option<u32>,
    /// The last TTL stated.
    pub last_ttl: Option<u32>,
    /// Whether the file was warned about a TTL taken from an earlier record.
    pub ttl_warned: bool,
}

/// Where an entry of the file starts, and the parser's state there.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// Offset in the file, octets.
    pub offset: u64,
    /// Line number there (1-based).
    pub line: u32,
    /// The state.
    pub state: ParseState,
}

/// What the parser notes of the top file while it reads it (see the module's doc).
pub struct CheckpointLog {
    /// Offset in the file of the text being parsed.
    pub(crate) base: u64,
    /// Entries parsed.
    pub(crate) entries: u64,
    next: u64,
    list: Vec<Checkpoint>,
    copy: Option<File>,
    copied: u64,
    spoiled: bool,
}

impl CheckpointLog {
    /// A log that copies what is read into `copy` (none: the text is at hand).
    pub fn new(copy: Option<File>) -> Self {
        Self {
            base: 0,
            entries: 0,
            next: EVERY,
            list: Vec::new(),
            copy,
            copied: 0,
            spoiled: false,
        }
    }

    /// The file starts, in `state`.
    pub(crate) fn start(&mut self, state: ParseState) {
        self.list.push(Checkpoint {
            offset: 0,
            line: 1,
            state,
        });
    }

    /// Whether the next entry's start is to be noted.
    pub(crate) fn due(&self) -> bool {
        !self.spoiled && self.entries >= self.next
    }

    /// Notes an entry that starts at `at` in the text being parsed.
    pub(crate) fn note(&mut self, at: usize, line: u32, state: ParseState) {
        let offset = self.base + at as u64;
        if self.list.last().is_some_and(|c| c.offset >= offset) {
            return; // the same entry again (cut by the end of a piece)
        }
        self.list.push(Checkpoint {
            offset,
            line,
            state,
        });
        self.next = self.entries + EVERY;
    }

    /// Copies what was read.
    pub(crate) fn copy(&mut self, bytes: &[u8]) {
        if let Some(file) = &mut self.copy
            && file.write_all(bytes).is_err()
        {
            self.spoil();
        }
        self.copied += bytes.len() as u64;
    }

    /// What was read cannot be edited from (a byte-order mark, `$INCLUDE`, a copy that
    /// could not be written).
    pub(crate) fn spoil(&mut self) {
        self.spoiled = true;
        self.copy = None;
    }

    /// The memo of the file read whole, when it can be edited from.
    pub fn into_memo(self, soa: (u32, Box<[u8]>), irregular: bool) -> Option<FileMemo> {
        if self.spoiled || irregular {
            return None;
        }
        Some(FileMemo {
            copy: Arc::new(self.copy?),
            len: self.copied,
            checkpoints: self.list,
            soa,
        })
    }
}

/// The file a zone was last loaded from: a copy of it (unnamed, in the state folder) and
/// its checkpoints, with its SOA.
#[derive(Clone, Debug)]
pub struct FileMemo {
    copy: Arc<File>,
    len: u64,
    checkpoints: Vec<Checkpoint>,
    soa: (u32, Box<[u8]>),
}

/// An unnamed file in `dir` for a copy of a zone file (`O_TMPFILE`: nobody else can
/// open or change it, and it is gone when closed, also after a crash).
pub fn copy_file(dir: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir).ok()?;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
        .ok()
}

/// The new memo of an edited file, written once the change is committed: the new
/// file is the old copy's unchanged stretches and the regions' new text, so its copy
/// is made from those (in the kernel, off the path that serves the change), never read
/// again nor held whole.
pub struct MemoDraft {
    old: Option<Arc<File>>,
    pieces: Vec<Piece>,
    len: u64,
    checkpoints: Vec<Checkpoint>,
    soa: (u32, Box<[u8]>),
    irregular: bool,
}

/// A stretch of the new file: octets of the old copy, or new text.
enum Piece {
    Old(u64, u64),
    New(Vec<u8>),
}

impl MemoDraft {
    /// The memo, its copy written in an unnamed file of `dir`; None when that fails or
    /// the new file cannot be edited from.
    pub fn write(self, dir: &Path) -> Option<FileMemo> {
        if self.irregular {
            return None;
        }
        let old = self.old?;
        let mut copy = copy_file(dir)?;
        for piece in &self.pieces {
            match piece {
                Piece::Old(start, end) => copy_range(&old, &mut copy, *start, *end).ok()?,
                Piece::New(text) => copy.write_all(text).ok()?,
            }
        }
        let written = std::io::Seek::stream_position(&mut copy).ok()?;
        (written == self.len).then(|| FileMemo {
            copy: Arc::new(copy),
            len: self.len,
            checkpoints: self.checkpoints,
            soa: self.soa,
        })
    }
}

/// Appends octets `start..end` of `from` to `to` (at its position): `copy_file_range`
/// (no copy through user space), else read and write.
fn copy_range(from: &File, to: &mut File, start: u64, end: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut at = start;
    while at < end {
        let mut off_in = at as libc::loff_t;
        let want = (end - at).min(1 << 30) as usize;
        // SAFETY: both descriptors are open files owned by the caller; `off_in` is a
        // valid pointer for the call; `to`'s own offset is used and advanced.
        let n = unsafe {
            libc::copy_file_range(
                from.as_raw_fd(),
                &mut off_in,
                to.as_raw_fd(),
                std::ptr::null_mut(),
                want,
                0,
            )
        };
        if n <= 0 {
            break;
        }
        at += n as u64;
    }
    let mut buf = vec![0u8; 1 << 20];
    while at < end {
        let n = ((end - at) as usize).min(buf.len());
        from.read_exact_at(&mut buf[..n], at)?;
        to.write_all(&buf[..n])?;
        at += n as u64;
    }
    Ok(())
}

impl MemoDraft {
    /// The draft, leaving an empty one (that makes no memo) in its place.
    pub fn take(&mut self) -> MemoDraft {
        std::mem::replace(
            self,
            MemoDraft {
                old: None,
                pieces: Vec::new(),
                len: 0,
                checkpoints: Vec::new(),
                soa: (0, Box::default()),
                irregular: true,
            },
        )
    }
}

/// A memo made by a load: ready (its copy written as the file was read whole), or a
/// draft whose copy is written once the edit is committed.
pub enum Memo {
    /// Ready.
    Ready(FileMemo),
    /// To be written.
    Draft(MemoDraft),
}

impl Memo {
    /// The memo, writing a draft's copy in `dir`.
    pub fn resolve(self, dir: &Path) -> Option<FileMemo> {
        match self {
            Memo::Ready(memo) => Some(memo),
            Memo::Draft(draft) => draft.write(dir),
        }
    }
}

/// What reading a file as an edit gave.
pub enum Edit {
    /// The change, computed against `base`.
    Changed(Box<Edited>),
    /// Read the whole file instead, for this reason.
    Whole(&'static str),
}

/// A file's edit as changes of whole RRsets of its zone.
pub struct Edited {
    /// The version the changes were computed against.
    pub base: Arc<Zone>,
    /// The changes (the SOA aside): each replaces or removes a whole RRset.
    pub changes: Vec<Change>,
    /// The RRsets the changes touch (owner, type).
    pub touched: Vec<(Name, Rtype)>,
    /// The file's SOA: TTL and RDATA.
    pub soa: (u32, Box<[u8]>),
    /// Whether the SOA differs from the base's in more than its serial.
    pub soa_changed: bool,
    /// Where the file writes each changed name: `file:line`.
    pub places: Vec<(Name, String)>,
    /// The memo to keep once the change is committed.
    pub memo: MemoDraft,
}

/// Records by RRset: (owner, type) → (TTL, RDATA, line) in file order.
type ByRrset = BTreeMap<(Name, Rtype), Vec<(u32, Box<[u8]>, u32)>>;

/// Reads the zone file at `path` as an edit of the file `memo` holds, for the zone
/// `base` (the live version, loaded from that file); `skip` says the types the zone's
/// signer makes.
pub fn read_edit(
    path: &Path,
    memo: &FileMemo,
    base: &Arc<Zone>,
    skip: fn(Rtype) -> bool,
    options: &LoadOptions,
) -> Edit {
    let mut budget = Budget::new(options.clone());
    let Ok(opened) = budget.open_zone_file(path) else {
        return Edit::Whole("the file cannot be opened");
    };
    let new = NewFile {
        expected: opened.size() as usize,
        budget,
        opened,
        buf: Vec::new(),
        start: 0,
        eof: false,
    };
    let copy = Copy {
        file: &memo.copy,
        len: memo.len as usize,
    };
    let mut walk = Walk {
        apex: base.apex().clone(),
        options,
        copy,
        new,
        cps: &memo.checkpoints,
        old_records: ByRrset::new(),
        new_records: ByRrset::new(),
        checkpoints: Vec::with_capacity(memo.checkpoints.len() + 8),
        pieces: Vec::new(),
        shift: 0,
        lines: 0,
        regions: 0,
        region_bytes: 0,
    };
    if let Err(why) = walk.run() {
        return Edit::Whole(why);
    }
    walk.finish(path, memo, base, skip)
}

/// The copy of the old file, read where needed.
struct Copy<'a> {
    file: &'a File,
    len: usize,
}

impl Copy<'_> {
    fn read(&self, (start, end): (usize, usize), buf: &mut Vec<u8>) -> Result<(), &'static str> {
        buf.clear();
        buf.resize(end - start, 0);
        self.file
            .read_exact_at(buf, start as u64)
            .map_err(|_| "the copy of the file cannot be read")
    }
}

/// The new file, read ahead as far as the walk needs and no further back than it
/// needs: never held whole.
struct NewFile {
    /// Its size when it was opened.
    expected: usize,
    budget: Budget,
    opened: super::files::Opened,
    /// Octets `start..start + buf.len()` of the file.
    buf: Vec<u8>,
    start: usize,
    eof: bool,
}

impl NewFile {
    /// Reads until octet `end` (or the end of the file) is held.
    fn fill(&mut self, end: usize) -> Result<(), &'static str> {
        while !self.eof && self.start + self.buf.len() < end {
            let want = (end - self.start - self.buf.len()).max(1 << 20);
            match self.budget.read_some(&mut self.opened, &mut self.buf, want) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(_) => return Err("the file cannot be read within its budget"),
            }
        }
        Ok(())
    }

    /// Octets `a..b` (held, or fewer at the end of the file).
    fn get(&mut self, a: usize, b: usize) -> Result<&[u8], &'static str> {
        self.fill(b)?;
        let held_end = self.start + self.buf.len();
        if a < self.start {
            return Err("the walk went back");
        }
        let lo = (a - self.start).min(self.buf.len());
        let hi = (b.min(held_end) - self.start).max(lo);
        Ok(&self.buf[lo..hi])
    }

    /// Whether the file ends exactly at `end`.
    fn ends_at(&mut self, end: usize) -> Result<bool, &'static str> {
        self.fill(end + 1)?;
        Ok(self.eof && self.start + self.buf.len() == end)
    }

    /// Forgets what lies before `at`.
    fn release(&mut self, at: usize) {
        let drop = at.saturating_sub(self.start).min(self.buf.len());
        if drop >= 4 << 20 {
            self.buf.drain(..drop);
            self.start += drop;
        }
    }
}

/// The comparison of the new file with the copy, chunk by chunk, and what the
/// regions that differ gave.
struct Walk<'a> {
    apex: Name,
    options: &'a LoadOptions,
    copy: Copy<'a>,
    new: NewFile,
    cps: &'a [Checkpoint],
    old_records: ByRrset,
    new_records: ByRrset,
    /// The new file's checkpoints.
    checkpoints: Vec<Checkpoint>,
    /// The new file as stretches of the copy and new text.
    pieces: Vec<Piece>,
    /// Octets and lines the new file is ahead of the copy, so far.
    shift: i64,
    lines: i64,
    regions: usize,
    region_bytes: usize,
}

impl Walk<'_> {
    /// Chunk `k` of the copy: from its checkpoint to the next (or the end).
    fn bounds(&self, k: usize) -> (usize, usize) {
        let end = self
            .cps
            .get(k + 1)
            .map_or(self.copy.len, |c| c.offset as usize);
        (self.cps[k].offset as usize, end)
    }

    fn shifted(&self, c: &Checkpoint) -> Checkpoint {
        Checkpoint {
            offset: (c.offset as i64 + self.shift) as u64,
            line: (c.line as i64 + self.lines) as u32,
            state: c.state.clone(),
        }
    }

    fn keep_old(&mut self, start: usize, end: usize) {
        match self.pieces.last_mut() {
            Some(Piece::Old(_, e)) if *e == start as u64 => *e = end as u64,
            _ => self.pieces.push(Piece::Old(start as u64, end as u64)),
        }
    }

    fn run(&mut self) -> Result<(), &'static str> {
        if self.cps.first().is_none_or(|c| c.offset != 0) {
            return Err("no checkpoints");
        }
        let mut chunk = Vec::new();
        let mut k = 0;
        let mut at = 0usize; // in the new file
        while k < self.cps.len() {
            let (start, end) = self.bounds(k);
            let last = k + 1 == self.cps.len();
            self.copy.read((start, end), &mut chunk)?;
            let fits = self.new.get(at, at + chunk.len())? == &chunk[..];
            if fits && (!last || self.new.ends_at(at + chunk.len())?) {
                let c = self.shifted(&self.cps[k]);
                self.checkpoints.push(c);
                self.keep_old(start, end);
                at += chunk.len();
                self.new.release(at);
                k += 1;
                continue;
            }
            let found = self.resync(k, at, start, &mut chunk)?;
            let (to, old_end, new_end) = match found {
                Some((j, q)) => (Some(j), self.cps[j].offset as usize, q),
                None => {
                    // To the end of both files.
                    let limit = max_region_bytes(self.copy.len);
                    let guess = self.new.expected.max(at);
                    if (self.copy.len - start) + (guess - at) > limit {
                        return Err("the change is too large to read as an edit");
                    }
                    self.new.fill(usize::MAX)?;
                    let total = self.new.start + self.new.buf.len();
                    (None, self.copy.len, total)
                }
            };
            self.region(k, to, (start, old_end), (at, new_end))?;
            match found {
                Some((j, q)) => {
                    k = j;
                    at = q;
                }
                None => break,
            }
        }
        Ok(())
    }

    /// Where a chunk after `k` (whose copy starts at `start`) is found again, whole,
    /// in the new file at or after `at`: (chunk, offset).
    fn resync(
        &mut self,
        k: usize,
        at: usize,
        start: usize,
        chunk: &mut Vec<u8>,
    ) -> Result<Option<(usize, usize)>, &'static str> {
        let growth = self.new.expected.saturating_sub(self.copy.len);
        for j in k + 1..self.cps.len().min(k + 1 + MAX_SKIP) {
            let (s, e) = self.bounds(j);
            self.copy.read((s, (s + ANCHOR).min(e)), chunk)?;
            if chunk.is_empty() {
                continue;
            }
            let window_end = at + (s - start) + SLACK + growth;
            let window = self.new.get(at, window_end)?;
            let mut from = 0;
            let mut hits = Vec::new();
            // `at` starts a line (a chunk boundary): so does a hit right there.
            while from < window.len()
                && let Some(hit) = memchr::memmem::find(&window[from..], chunk)
            {
                let q = from + hit;
                from = q + 1;
                if q == 0 || window[q - 1] == b'\n' {
                    hits.push(at + q);
                }
            }
            let mut whole = Vec::new();
            for q in hits {
                self.copy.read((s, e), &mut whole)?;
                let same = self.new.get(q, q + whole.len())? == &whole[..];
                let ends_right = j + 1 < self.cps.len() || self.new.ends_at(q + whole.len())?;
                if same && ends_right {
                    return Ok(Some((j, q)));
                }
            }
        }
        Ok(None)
    }

    /// A region that differs: chunks `k..to` of the copy (`old`), `new` in the new
    /// file, both from checkpoint `k`.
    fn region(
        &mut self,
        k: usize,
        to: Option<usize>,
        old: (usize, usize),
        new: (usize, usize),
    ) -> Result<(), &'static str> {
        self.regions += 1;
        self.region_bytes += (old.1 - old.0) + (new.1 - new.0);
        if self.region_bytes > max_region_bytes(self.copy.len) || self.regions > MAX_REGIONS {
            return Err("the change is too large to read as an edit");
        }
        let start = self.cps[k].clone();
        let mut old_text = Vec::new();
        self.copy.read(old, &mut old_text)?;
        let old_side = parse_side(&self.apex, self.options, &old_text, &start);
        let new_start = self.shifted(&start);
        let new_text = self.new.get(new.0, new.1)?.to_vec();
        let new_side = parse_side(&self.apex, self.options, &new_text, &new_start);
        if !new_side.clean {
            return Err("the edited text has warnings or errors");
        }
        if let Some(to) = to {
            let owner_matters = blank_owner_next(&self.copy, self.cps[to].offset as usize)?;
            let expected = &self.cps[to].state;
            if !reads_alike(&old_side.state, expected, owner_matters)
                || !reads_alike(&new_side.state, expected, owner_matters)
            {
                return Err("the edit changes how the rest of the file reads");
            }
        }
        self.checkpoints.push(new_start);
        self.checkpoints.extend(new_side.checkpoints);
        for (side, into) in [
            (old_side.records, &mut self.old_records),
            (new_side.records, &mut self.new_records),
        ] {
            for p in side {
                into.entry((p.record.owner, p.record.rtype))
                    .or_default()
                    .push((p.record.ttl, p.record.rdata, p.line));
            }
        }
        let count = |t: &[u8]| memchr::memchr_iter(b'\n', t).count() as i64;
        self.shift += (new.1 - new.0) as i64 - (old.1 - old.0) as i64;
        self.lines += count(&new_text) - count(&old_text);
        if !new_text.is_empty() {
            self.pieces.push(Piece::New(new_text));
        }
        self.new.release(new.1);
        Ok(())
    }

    /// The edit the regions make.
    fn finish(
        self,
        path: &Path,
        memo: &FileMemo,
        base: &Arc<Zone>,
        skip: fn(Rtype) -> bool,
    ) -> Edit {
        let apex = &self.apex;
        let file = quote::path(path);
        let (old_records, new_records) = (&self.old_records, &self.new_records);
        let mut edit = match changes_of(base, apex, skip, old_records, new_records, &file) {
            Ok(edit) => edit,
            Err(why) => return Edit::Whole(why),
        };
        let key = (apex.clone(), Rtype::SOA);
        let soa = match (old_records.get(&key), new_records.get(&key)) {
            (None, None) => memo.soa.clone(),
            (Some(o), Some(n)) if o.len() == 1 && n.len() == 1 => (n[0].0, n[0].1.clone()),
            _ => return Edit::Whole("the edit adds or removes a SOA record"),
        };
        let without = |ttl: u32, rdata: &[u8]| Some((ttl, soa_without_serial(rdata)?));
        let base_soa = base.soa().and_then(|s| without(s.ttl, s.rdatas().next()?));
        edit.soa_changed = without(soa.0, &soa.1) != base_soa;
        let len = (self.copy.len as i64 + self.shift) as u64;
        edit.memo = MemoDraft {
            old: Some(memo.copy.clone()),
            pieces: self.pieces,
            len,
            checkpoints: self.checkpoints,
            soa: soa.clone(),
            irregular: edit.memo.irregular,
        };
        edit.soa = soa;
        Edit::Changed(Box::new(edit))
    }
}

/// One side of a region parsed: its records and, for the new side, its checkpoints.
struct Side {
    records: Vec<Parsed>,
    state: ParseState,
    checkpoints: Vec<Checkpoint>,
    clean: bool,
}

fn parse_side(apex: &Name, options: &LoadOptions, text: &[u8], start: &Checkpoint) -> Side {
    let mut parser = Parser::new(apex, false, options.clone());
    parser.set_log(CheckpointLog::new(None));
    let state = parser.parse_run(text, start);
    let checkpoints = parser.take_log().map(|l| l.list).unwrap_or_default();
    let (records, diag): (Vec<Parsed>, Diagnostics) = parser.into_parts();
    Side {
        records,
        state,
        checkpoints,
        clean: diag.errors.is_empty() && diag.warnings.is_empty(),
    }
}

/// Whether what follows reads alike after either state: the same origin, `$TTL` and
/// warnings; the same last TTL unless `$TTL` is set (which then gives every TTL not
/// stated); the same last owner when the next entry has a blank one (`owner_matters`).
fn reads_alike(a: &ParseState, b: &ParseState, owner_matters: bool) -> bool {
    a.origin == b.origin
        && a.dollar_ttl == b.dollar_ttl
        && a.ttl_warned == b.ttl_warned
        && (a.dollar_ttl.is_some() || a.last_ttl == b.last_ttl)
        && (!owner_matters || a.owner == b.owner)
}

/// Whether the last owner may matter after `offset` of the copy: unless the first line
/// there with anything on it (comments and blank lines skipped) starts with an owner
/// name, it may (a blank owner, or a directive, after which one may come).
fn blank_owner_next(copy: &Copy<'_>, offset: usize) -> Result<bool, &'static str> {
    let mut buf = Vec::new();
    copy.read((offset, copy.len.min(offset + 4096)), &mut buf)?;
    for line in buf.split(|&b| b == b'\n') {
        let content = line.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\r'));
        match content {
            None => continue,
            Some(at) if line[at] == b';' => continue,
            Some(0) => return Ok(line[0] == b'$'),
            Some(_) => return Ok(true),
        }
    }
    Ok(true)
}

/// The changes that make each RRset the regions touch what the new file says: the
/// base's records less the old region's plus the new region's.
fn changes_of(
    base: &Arc<Zone>,
    apex: &Name,
    skip: fn(Rtype) -> bool,
    old: &ByRrset,
    new: &ByRrset,
    file: &str,
) -> Result<Edited, &'static str> {
    let mut out = Edited {
        base: base.clone(),
        changes: Vec::new(),
        touched: Vec::new(),
        soa: (0, Box::default()),
        soa_changed: false,
        places: Vec::new(),
        memo: MemoDraft {
            old: None,
            pieces: Vec::new(),
            len: 0,
            checkpoints: Vec::new(),
            soa: (0, Box::default()),
            irregular: false,
        },
    };
    let mut keys: Vec<&(Name, Rtype)> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let (owner, rtype) = key;
        let rtype = *rtype;
        if rtype == Rtype::SOA {
            if owner != apex {
                return Err("a SOA record outside the apex");
            }
            continue;
        }
        if skip(rtype) || is_dnssec(rtype) {
            return Err("the edit touches DNSSEC records");
        }
        let gone = old.get(key).map_or(&[][..], Vec::as_slice);
        let came = new.get(key).map_or(&[][..], Vec::as_slice);
        let node = base.node(owner.as_wire());
        let rrset: Option<RrsetRef<'_>> = node
            .as_ref()
            .and_then(|n| super::file_match::rrset_of(n, rtype, Rtype(0)));
        let held: Vec<&[u8]> = rrset
            .as_ref()
            .map_or_else(Vec::new, |r| r.rdatas().collect());
        // Every record the old region held is in the base, once.
        for (i, (_, rdata, _)) in gone.iter().enumerate() {
            if !held.contains(&&rdata[..]) || gone[..i].iter().any(|(_, r, _)| r == rdata) {
                return Err("the zone no longer matches the copy of its file");
            }
        }
        let kept: Vec<&[u8]> = held
            .iter()
            .copied()
            .filter(|r| !gone.iter().any(|(_, g, _)| &g[..] == *r))
            .collect();
        let ttl = if kept.is_empty() {
            match came.first() {
                Some((ttl, _, _)) => *ttl,
                None => 0,
            }
        } else {
            let base_ttl = rrset.as_ref().map_or(0, |r| r.ttl);
            if gone.iter().chain(came).any(|(t, _, _)| *t != base_ttl) {
                return Err("the edit changes the TTL of an RRset written in several places");
            }
            base_ttl
        };
        if came.iter().any(|(t, _, _)| *t != ttl) {
            return Err("an RRset of the edit has records of different TTLs");
        }
        let mut rdatas: Vec<Box<[u8]>> = kept.iter().map(|r| Box::<[u8]>::from(*r)).collect();
        for (_, rdata, _) in came {
            if rdatas.iter().any(|r| r == rdata) {
                out.memo.irregular = true; // the new file holds it twice
            } else {
                rdatas.push(rdata.clone());
            }
        }
        let unchanged = rrset.as_ref().is_some_and(|r| r.ttl == ttl)
            && rdatas.len() == held.len()
            && rdatas.iter().all(|r| held.contains(&&r[..]));
        if unchanged || (rrset.is_none() && rdatas.is_empty()) {
            continue;
        }
        if rdatas.is_empty() && rtype == Rtype::NS && owner == apex {
            return Err("the edit removes the apex NS records");
        }
        let line = came.first().or(gone.first()).map_or(0, |(_, _, l)| *l);
        out.places.push((owner.clone(), format!("{file}:{line}")));
        out.touched.push((owner.clone(), rtype));
        out.changes.push(if rdatas.is_empty() {
            Change::RemoveRrset {
                owner: owner.clone(),
                rtype,
            }
        } else {
            Change::Replace {
                owner: owner.clone(),
                rtype,
                ttl,
                rdatas,
            }
        });
    }
    Ok(out)
}

/// Types of DNSSEC's records (made by a signer, or a pre-signed zone's), CDS (59) and
/// CDNSKEY (60) included: such edits are read whole.
fn is_dnssec(rtype: Rtype) -> bool {
    matches!(
        rtype,
        Rtype::RRSIG
            | Rtype::NSEC
            | Rtype::NSEC3
            | Rtype::NSEC3PARAM
            | Rtype::DNSKEY
            | Rtype(59)
            | Rtype(60)
    )
}

/// Where a memo's copy lives for the zone files of `state_dir`.
pub fn copies_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("file-copies")
}

#[cfg(test)]
#[path = "file_edit_tests.rs"]
mod tests;
