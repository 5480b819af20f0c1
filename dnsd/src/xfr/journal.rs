//! The per-zone journal: every change of a zone as a diff, appended and made durable
//! before the version it leads to is served (the zone manager's commit), so that a
//! restart finds every acknowledged change again, and IXFR (RFC 1995) can serve "from
//! serial X to now".
//!
//! # Format
//! An append-only file of entries, each
//!
//! ```text
//! magic "NFJ2" (4) | payload length (4, big-endian) | payload | FNV-1a-64 of the
//! length and payload (8, big-endian)
//! ```
//!
//! where the payload is `old serial (4) | new serial (4) | removed count (4) | records |
//! added count (4) | records | meta`, each record `owner length (1) | owner (wire) |
//! type (2) | TTL (4) | RDLENGTH (2) | RDATA`, and meta `file serial present (1) | file
//! serial (4) | ownership changes (4) | each: owner length (1) | owner | type (2) |
//! source length (1) | source`. Entries of the first release ("NFJ1", no meta) are
//! read too.
//!
//! # Crash safety
//! An append is one `write` then `fdatasync`. A crash can only tear the last entry:
//! reading stops at the first entry that is incomplete or fails its checksum, and the
//! torn tail is cut off at the next open. Rewrites (dropping old history) write a new
//! file, `fsync` it and rename it over the old one, so a crash leaves one or the other.
//!
//! # Preallocation
//! The file is kept open and grown ahead of the entries, with zeros written and made
//! durable (at least 64 KiB, an eighth of the file, at most 8 MiB at a time): an
//! append then writes into blocks the file already has, so its `fdatasync` writes the
//! entry's data only — not the inode (size) nor the allocation bitmaps — which halved
//! the kernel's share of a commit under a stream of small changes (perf). Reading
//! stops at the zeros (no magic); they are not a torn tail.
//!
//! # What is kept
//! In memory and on disk: the last diffs up to the history bounds (entries and bytes,
//! for IXFR), and always every diff since the zone's last durable image (the zone
//! manager's `image`), which a restart replays. The entries always form a chain (each
//! one's old serial is the previous one's new serial).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::wire::name::Name;
use crate::zone::diff::ZoneDiff;
use crate::zone::record::{Record, Rtype};
use crate::zone::serial::{Fnv, serial_gt};

const MAGIC_V1: &[u8; 4] = b"NFJ1";
const MAGIC: &[u8; 4] = b"NFJ2";
/// Magic, length and checksum around each payload.
const FRAMING: usize = 4 + 4 + 8;
/// Bounds of the zeros written ahead of the entries at a time (see Preallocation).
const GROW_MIN: u64 = 64 << 10;
const GROW_MAX: u64 = 8 << 20;

/// A journal file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct JournalError {
    /// The journal file.
    pub path: PathBuf,
    /// What failed.
    #[source]
    pub source: io::Error,
}

/// A change of the owner of an RRset (zone manager ownership, DESIGN.md): `None` gives
/// it back to the zone file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerChange {
    /// The RRset's owner, lowercased.
    pub owner: Name,
    /// The RRset's type.
    pub rtype: Rtype,
    /// The source that owns it now; `None`: the zone file.
    pub source: Option<Arc<str>>,
}

/// What an entry records besides its diff.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// The SOA serial written in the zone file when this version was made, if a file
    /// backs the zone (the serial policy compares the next file's with it).
    pub file_serial: Option<u32>,
    /// RRsets whose owning source changed.
    pub owners: Vec<OwnerChange>,
}

/// One journal entry: a diff and its meta.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The change.
    pub diff: ZoneDiff,
    /// What else the version recorded.
    pub meta: Meta,
}

/// How much history a journal keeps (beyond what a restart needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Diffs kept (0: none beyond those a restart needs).
    pub max_entries: usize,
    /// Bytes of diffs kept.
    pub max_bytes: usize,
}

/// The journal of one zone: its recent entries in memory and the file that keeps them.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    limits: Limits,
    entries: VecDeque<(Arc<Entry>, usize)>,
    /// Encoded bytes of `entries`.
    bytes: usize,
    /// Bytes of entries in the file (those dropped from memory included, until a
    /// rewrite): where the next entry goes.
    file_bytes: u64,
    /// The file, open for appends, and its length (entries and the zeros after them),
    /// once an append has opened it.
    file: Option<(File, u64)>,
    /// Serial of the zone's last durable image: entries after it are never dropped.
    image_serial: Option<u32>,
    /// The same entries for the views, numbered: a view is a number, not a copy, so
    /// that publishing a version costs the same with 10 or 100,000 entries kept.
    shared: Arc<RwLock<Shared>>,
}

/// The entries the views read, each with its number (increasing, never reused).
#[derive(Debug, Default)]
struct Shared {
    entries: VecDeque<(u64, Arc<Entry>)>,
    next: u64,
}

impl Shared {
    fn push(&mut self, entry: Arc<Entry>) {
        self.entries.push_back((self.next, entry));
        self.next += 1;
    }
}

/// What opening a journal found besides its entries.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Bytes of a torn or corrupt tail that were cut off.
    pub dropped_bytes: u64,
    /// Entries at the start that did not chain to the rest and were dropped.
    pub unchained: usize,
}

impl Journal {
    /// Opens (or creates on first append) the journal at `path`. Returns it and every
    /// entry read back (for the caller to replay after its image), oldest first; a torn
    /// tail is cut off, and only the chain that ends with the last entry is kept.
    pub fn open(
        path: &Path,
        limits: Limits,
    ) -> Result<(Journal, Vec<Arc<Entry>>, Recovery), JournalError> {
        let err = |source| JournalError {
            path: path.to_path_buf(),
            source,
        };
        let mut journal = Journal::empty(path, limits);
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok((journal, Vec::new(), Recovery::default()));
            }
            Err(e) => return Err(err(e)),
        };
        let (mut entries, valid) = read_entries(&bytes);
        // The zeros written ahead of the entries are not a torn tail.
        let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let mut recovery = Recovery {
            dropped_bytes: end.saturating_sub(valid) as u64,
            unchained: 0,
        };
        if recovery.dropped_bytes > 0 {
            let file = OpenOptions::new().write(true).open(path).map_err(err)?;
            file.set_len(valid as u64).map_err(err)?;
            file.sync_all().map_err(err)?;
        }
        journal.file_bytes = valid as u64;
        let start = chain_start(&entries);
        if start > 0 {
            recovery.unchained = start;
            entries.drain(..start);
        }
        let all: Vec<Arc<Entry>> = entries.iter().map(|(e, _)| e.clone()).collect();
        journal.bytes = entries.iter().map(|(_, len)| len).sum();
        journal.entries = entries.into();
        let mut shared = journal.shared();
        for entry in &all {
            shared.push(entry.clone());
        }
        drop(shared);
        if start > 0 {
            journal.rewrite()?;
        }
        Ok((journal, all, recovery))
    }

    /// An empty journal for `path` that has not read the file (when it cannot be, or
    /// to start over).
    pub fn empty(path: &Path, limits: Limits) -> Journal {
        Journal {
            path: path.to_path_buf(),
            limits,
            entries: VecDeque::new(),
            bytes: 0,
            file_bytes: 0,
            file: None,
            image_serial: None,
            shared: Arc::default(),
        }
    }

    /// The views' entries, to change them (only the writer does; views read briefly).
    fn shared(&self) -> std::sync::RwLockWriteGuard<'_, Shared> {
        self.shared.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that the zone's image at `serial` is durable: entries up to it may go
    /// once the history bounds say so.
    pub fn set_image_serial(&mut self, serial: u32) -> Result<(), JournalError> {
        self.image_serial = Some(serial);
        self.trim()
    }

    /// Changes the history bounds.
    pub fn set_limits(&mut self, limits: Limits) -> Result<(), JournalError> {
        self.limits = limits;
        self.trim()
    }

    /// Appends `entry` durably. An entry that does not continue the chain starts the
    /// journal over (the caller then writes an image, which the restart needs).
    pub fn append(&mut self, entry: Entry) -> Result<(), JournalError> {
        let chains = self
            .entries
            .back()
            .is_none_or(|(last, _)| last.diff.new_serial == entry.diff.old_serial);
        let bytes = encode_entry(&entry);
        let len = bytes.len();
        if !chains || self.entries.is_empty() {
            // A first entry, or one that starts over: a new file, whatever the old one
            // held.
            let entry = Arc::new(entry);
            self.entries.clear();
            self.bytes = 0;
            self.entries.push_back((entry.clone(), len));
            self.bytes = len;
            self.image_serial = None;
            let mut shared = self.shared();
            shared.entries.clear();
            shared.push(entry);
            drop(shared);
            return self.rewrite();
        }
        let err = |source| JournalError {
            path: self.path.clone(),
            source,
        };
        let (file, allocated) = match self.file.take() {
            Some(open) => open,
            None => {
                let file = OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(false)
                    .open(&self.path)
                    .map_err(err)?;
                let allocated = file.metadata().map_err(err)?.len();
                if allocated == 0 {
                    // A new file: its directory entry must be durable too.
                    sync_parent(&self.path).map_err(err)?;
                }
                // A file cut short meanwhile is appended to where it ends.
                self.file_bytes = self.file_bytes.min(allocated);
                (file, allocated)
            }
        };
        let at = self.file_bytes;
        let end = at + len as u64;
        let mut out = bytes;
        let grown = if end > allocated {
            let ahead = (end / 8).clamp(GROW_MIN, GROW_MAX);
            out.resize(out.len() + ahead as usize, 0);
            end + ahead
        } else {
            allocated
        };
        let written = file.write_all_at(&out, at).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // Zero what may have been written, so that later appends do not follow a
            // torn entry; the entry is not on disk, so it is not in memory either. The
            // file is opened again by the next append.
            let _ = file.write_all_at(&vec![0; len], at);
            return Err(err(e));
        }
        self.file = Some((file, grown));
        self.file_bytes = end;
        let entry = Arc::new(entry);
        self.entries.push_back((entry.clone(), len));
        self.shared().push(entry);
        self.bytes += len;
        self.trim()
    }

    /// Drops history beyond the bounds (never an entry after the last image), and
    /// rewrites the file when most of it is such dropped history.
    fn trim(&mut self) -> Result<(), JournalError> {
        while let Some((oldest, len)) = self.entries.front() {
            let over =
                self.entries.len() > self.limits.max_entries || self.bytes > self.limits.max_bytes;
            let before_image = self
                .image_serial
                .is_some_and(|s| !serial_gt(oldest.diff.new_serial, s));
            if !over || !before_image {
                break;
            }
            self.bytes -= len;
            self.entries.pop_front();
            self.shared().entries.pop_front();
        }
        if self.file_bytes > 2 * self.bytes as u64 + (1 << 20) {
            self.rewrite()?;
        }
        Ok(())
    }

    /// The entries in memory, oldest first, as a view other tasks can read.
    pub fn view(&self) -> JournalView {
        let shared = self.shared.read().unwrap_or_else(|e| e.into_inner());
        JournalView {
            shared: Some(self.shared.clone()),
            end: shared.next,
        }
    }

    /// The newest entry.
    pub fn last(&self) -> Option<&Entry> {
        self.entries.back().map(|(e, _)| &**e)
    }

    /// The newest entry's size as written (octets of the file it took).
    pub fn last_len(&self) -> Option<usize> {
        self.entries.back().map(|(_, len)| *len)
    }

    /// Number of entries in memory.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is in memory.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of the entries in memory (encoded).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the entries in memory to a new file and renames it over the journal.
    fn rewrite(&mut self) -> Result<(), JournalError> {
        let err = |source| JournalError {
            path: self.path.clone(),
            source,
        };
        let mut bytes = Vec::with_capacity(self.bytes);
        for (entry, _) in &self.entries {
            bytes.extend_from_slice(&encode_entry(entry));
        }
        // The open file is the old one: the next append opens the new one.
        self.file = None;
        write_atomically(&self.path, &bytes).map_err(err)?;
        self.file_bytes = bytes.len() as u64;
        Ok(())
    }
}

/// The recent history of a zone, as of one version: what IXFR and NOTIFY read. It
/// holds no copy: it reads the journal's entries made before it (those the history
/// bounds have not dropped since; a view may so lose its oldest history, never gain
/// newer).
#[derive(Clone, Debug, Default)]
pub struct JournalView {
    shared: Option<Arc<RwLock<Shared>>>,
    /// Entries numbered below this one are the view's.
    end: u64,
}

/// The history does not reach back to a serial: the reader falls back to a full
/// transfer (RFC 1995 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the journal holds no history from serial {from} to {to}")]
pub struct NoHistory {
    /// The serial asked from.
    pub from: u32,
    /// The serial of the version the history would have to reach.
    pub to: u32,
}

impl JournalView {
    /// The changes from serial `from` to `to` (the serial of the version read with
    /// this view), condensed into one removal and one addition list (RFC 1995 §4).
    pub fn changes(&self, from: u32, to: u32) -> Result<ZoneDiff, NoHistory> {
        if from == to {
            return Ok(ZoneDiff {
                old_serial: from,
                new_serial: to,
                removed: Vec::new(),
                added: Vec::new(),
            });
        }
        let no = NoHistory { from, to };
        let entries = self.entries();
        if entries.last().map(|e| e.diff.new_serial) != Some(to) {
            return Err(no);
        }
        let start = entries
            .iter()
            .rposition(|e| e.diff.old_serial == from)
            .ok_or(no)?;
        let mut diffs = entries[start..].iter().map(|e| e.diff.clone());
        let first = diffs.next().ok_or(no)?;
        Ok(diffs.fold(first, ZoneDiff::then))
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> Vec<Arc<Entry>> {
        let Some(shared) = &self.shared else {
            return Vec::new();
        };
        let shared = shared.read().unwrap_or_else(|e| e.into_inner());
        shared
            .entries
            .iter()
            .take_while(|(n, _)| *n < self.end)
            .map(|(_, e)| e.clone())
            .collect()
    }
}

/// Writes `bytes` to a new file beside `path`, makes it durable and renames it over
/// `path` (and makes the rename durable). A crash leaves the old file or the new one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_parent(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename in `path`'s folder durable.
pub(crate) fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

/// Index of the first entry of the chain that ends with the last entry.
fn chain_start(entries: &[(Arc<Entry>, usize)]) -> usize {
    let mut start = entries.len().saturating_sub(1);
    while start > 0 && entries[start - 1].0.diff.new_serial == entries[start].0.diff.old_serial {
        start -= 1;
    }
    start
}

/// Every complete, intact entry at the start of `bytes` with its length, and how many
/// bytes they span.
fn read_entries(bytes: &[u8]) -> (Vec<(Arc<Entry>, usize)>, usize) {
    let mut entries = Vec::new();
    let mut at = 0;
    while let Some((entry, len)) = read_entry(&bytes[at..]) {
        entries.push((Arc::new(entry), len));
        at += len;
    }
    (entries, at)
}

fn read_entry(bytes: &[u8]) -> Option<(Entry, usize)> {
    let magic = bytes.get(..4)?;
    if magic != MAGIC && magic != MAGIC_V1 {
        return None;
    }
    let len = u32::from_be_bytes(bytes.get(4..8)?.try_into().ok()?) as usize;
    let payload = bytes.get(8..8 + len)?;
    let sum = u64::from_be_bytes(bytes.get(8 + len..16 + len)?.try_into().ok()?);
    let mut h = Fnv::new();
    h.write(&bytes[4..8 + len]);
    if h.finish() != sum {
        return None;
    }
    let entry = decode_payload(payload, magic == MAGIC)?;
    Some((entry, FRAMING + len))
}

/// Appends one record in the journal's encoding.
pub(crate) fn encode_record(r: &Record, out: &mut Vec<u8>) {
    let owner = r.owner.as_wire();
    out.push(owner.len() as u8);
    out.extend_from_slice(owner);
    out.extend_from_slice(&r.rtype.0.to_be_bytes());
    out.extend_from_slice(&r.ttl.to_be_bytes());
    out.extend_from_slice(&(r.rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&r.rdata);
}

fn encode_entry(entry: &Entry) -> Vec<u8> {
    let diff = &entry.diff;
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&diff.old_serial.to_be_bytes());
    out.extend_from_slice(&diff.new_serial.to_be_bytes());
    for records in [&diff.removed, &diff.added] {
        out.extend_from_slice(&(records.len() as u32).to_be_bytes());
        for r in records {
            encode_record(r, &mut out);
        }
    }
    let meta = &entry.meta;
    out.push(u8::from(meta.file_serial.is_some()));
    out.extend_from_slice(&meta.file_serial.unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&(meta.owners.len() as u32).to_be_bytes());
    for change in &meta.owners {
        let owner = change.owner.as_wire();
        out.push(owner.len() as u8);
        out.extend_from_slice(owner);
        out.extend_from_slice(&change.rtype.0.to_be_bytes());
        let source = change.source.as_deref().unwrap_or("").as_bytes();
        let source = &source[..source.len().min(255)];
        out.push(source.len() as u8);
        out.extend_from_slice(source);
    }
    let len = (out.len() - 8) as u32;
    out[4..8].copy_from_slice(&len.to_be_bytes());
    let mut h = Fnv::new();
    h.write(&out[4..]);
    let sum = h.finish();
    out.extend_from_slice(&sum.to_be_bytes());
    out
}

/// A cursor over a payload; every read is bounds-checked.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    pub(crate) fn name(&mut self) -> Option<Name> {
        let len = self.u8()? as usize;
        Name::from_wire(self.take(len)?).ok()
    }

    /// One record in the journal's encoding.
    pub(crate) fn record(&mut self) -> Option<Record> {
        let owner = self.name()?;
        let rtype = Rtype(self.u16()?);
        let ttl = self.u32()?;
        let rdlen = self.u16()? as usize;
        let rdata = self.take(rdlen)?.into();
        Some(Record {
            owner,
            rtype,
            ttl,
            rdata,
        })
    }

    /// A count of items at least `min_size` bytes each: never more than could fit.
    pub(crate) fn count(&mut self, min_size: usize) -> Option<usize> {
        let count = self.u32()? as usize;
        (count <= self.0.len() / min_size.max(1)).then_some(count)
    }
}

fn decode_payload(payload: &[u8], with_meta: bool) -> Option<Entry> {
    let mut r = Reader(payload);
    let old_serial = r.u32()?;
    let new_serial = r.u32()?;
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        // Each record takes at least 10 bytes: never trust a count to size memory.
        let count = r.count(10)?;
        list.reserve(count);
        for _ in 0..count {
            list.push(r.record()?);
        }
    }
    let mut meta = Meta::default();
    if with_meta {
        let present = r.u8()? != 0;
        let file_serial = r.u32()?;
        meta.file_serial = present.then_some(file_serial);
        let count = r.count(4)?;
        for _ in 0..count {
            let owner = r.name()?;
            let rtype = Rtype(r.u16()?);
            let len = r.u8()? as usize;
            let source = std::str::from_utf8(r.take(len)?).ok()?;
            meta.owners.push(OwnerChange {
                owner,
                rtype,
                source: (!source.is_empty()).then(|| Arc::from(source)),
            });
        }
    }
    if !r.0.is_empty() {
        return None;
    }
    let [removed, added] = lists;
    Some(Entry {
        diff: ZoneDiff {
            old_serial,
            new_serial,
            removed,
            added,
        },
        meta,
    })
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
