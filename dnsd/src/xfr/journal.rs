//! The per-zone journal: the last diffs of a zone, on disk in the state folder, so that
//! IXFR (RFC 1995) can serve "from serial X to now" also after a restart.
//!
//! # Format
//! An append-only file of entries, each
//!
//! ```text
//! magic "NFJ1" (4) | payload length (4, big-endian) | payload | FNV-1a-64 of the
//! length and payload (8, big-endian)
//! ```
//!
//! where the payload is `old serial (4) | new serial (4) | removed count (4) | records |
//! added count (4) | records`, each record `owner length (1) | owner (wire) | type (2) |
//! TTL (4) | RDLENGTH (2) | RDATA`.
//!
//! # Crash safety
//! An append is one `write` then `fsync`. A crash can only tear the last entry: reading
//! stops at the first entry that is incomplete or fails its checksum, and the torn tail
//! is cut off before the next append. Rewrites (trimming to the configured number of
//! entries, or starting over when the history no longer chains) write a new file,
//! `fsync` it and rename it over the old one, so a crash leaves one or the other.
//!
//! The entries always form a chain (each one's old serial is the previous one's new
//! serial); a diff that does not continue the chain (the zone changed while dnsd was
//! stopped, so that change has no diff) starts the journal over.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::wire::name::Name;
use crate::zone::diff::ZoneDiff;
use crate::zone::record::{Record, Rtype};
use crate::zone::serial::Fnv;

const MAGIC: &[u8; 4] = b"NFJ1";
/// Magic, length and checksum around each payload.
const FRAMING: usize = 4 + 4 + 8;

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

/// The journal of one zone: its entries in memory and the file that keeps them.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    max_entries: usize,
    entries: Vec<ZoneDiff>,
}

/// What opening a journal found besides its entries.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Bytes of a torn or corrupt tail that were cut off.
    pub dropped_bytes: u64,
}

impl Journal {
    /// Opens (or creates on first append) the journal at `path`, keeping at most
    /// `max_entries` diffs (0: keep none, write nothing). Reads back every complete entry
    /// and cuts off a torn tail.
    pub fn open(path: &Path, max_entries: usize) -> Result<(Journal, Recovery), JournalError> {
        let err = |source| JournalError {
            path: path.to_path_buf(),
            source,
        };
        let mut journal = Journal {
            path: path.to_path_buf(),
            max_entries,
            entries: Vec::new(),
        };
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok((journal, Recovery::default()));
            }
            Err(e) => return Err(err(e)),
        };
        let (entries, valid) = read_entries(&bytes);
        journal.entries = entries;
        let recovery = Recovery {
            dropped_bytes: (bytes.len() - valid) as u64,
        };
        if valid < bytes.len() {
            let file = OpenOptions::new().write(true).open(path).map_err(err)?;
            file.set_len(valid as u64).map_err(err)?;
            file.sync_all().map_err(err)?;
        }
        // Keep only the part that chains to the newest entry.
        let start = chain_start(&journal.entries);
        let over = journal.entries.len().saturating_sub(max_entries);
        if start > 0 || over > 0 {
            journal.entries.drain(..start.max(over));
            journal.rewrite()?;
        }
        Ok((journal, recovery))
    }

    /// An empty journal for `path` that has not read the file (when it cannot be).
    pub fn empty(path: &Path, max_entries: usize) -> Journal {
        Journal {
            path: path.to_path_buf(),
            max_entries,
            entries: Vec::new(),
        }
    }

    /// Appends `diff`, starting over if it does not continue the chain, and trims the
    /// journal to its maximum number of entries.
    pub fn append(&mut self, diff: ZoneDiff) -> Result<(), JournalError> {
        if self.max_entries == 0 {
            return Ok(());
        }
        let chains = self
            .entries
            .last()
            .is_none_or(|last| last.new_serial == diff.old_serial);
        let bytes = encode_entry(&diff);
        self.entries.push(diff);
        if !chains {
            let last = self.entries.len() - 1;
            self.entries.drain(..last);
            return self.rewrite();
        }
        if self.entries.len() > self.max_entries {
            let over = self.entries.len() - self.max_entries;
            self.entries.drain(..over);
            return self.rewrite();
        }
        let err = |source| JournalError {
            path: self.path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(err)?;
        let before = file.metadata().map_err(err)?.len();
        let written = file.write_all(&bytes).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // Cut what was written so that later appends do not follow a torn entry,
            // and forget the entry: it is not on disk.
            let _ = file.set_len(before);
            self.entries.pop();
            return Err(err(e));
        }
        Ok(())
    }

    /// The diffs that lead from serial `from` to serial `to`, oldest first; None when
    /// the journal does not reach back to `from` or does not end at `to`.
    pub fn diffs(&self, from: u32, to: u32) -> Option<&[ZoneDiff]> {
        if from == to {
            return Some(&[]);
        }
        if self.entries.last()?.new_serial != to {
            return None;
        }
        let start = self.entries.iter().rposition(|d| d.old_serial == from)?;
        Some(&self.entries[start..])
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> &[ZoneDiff] {
        &self.entries
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes all entries to a new file and renames it over the journal.
    fn rewrite(&self) -> Result<(), JournalError> {
        let err = |source| JournalError {
            path: self.path.clone(),
            source,
        };
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut bytes = Vec::new();
        for diff in &self.entries {
            bytes.extend_from_slice(&encode_entry(diff));
        }
        let mut file = File::create(&tmp).map_err(err)?;
        file.write_all(&bytes).map_err(err)?;
        file.sync_all().map_err(err)?;
        fs::rename(&tmp, &self.path).map_err(err)?;
        sync_parent(&self.path).map_err(err)
    }
}

/// Makes a rename in `path`'s folder durable.
pub(crate) fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

/// Index of the first entry of the chain that ends with the last entry.
fn chain_start(entries: &[ZoneDiff]) -> usize {
    let mut start = entries.len().saturating_sub(1);
    while start > 0 && entries[start - 1].new_serial == entries[start].old_serial {
        start -= 1;
    }
    start
}

/// Every complete, intact entry at the start of `bytes`, and how many bytes they span.
fn read_entries(bytes: &[u8]) -> (Vec<ZoneDiff>, usize) {
    let mut entries = Vec::new();
    let mut at = 0;
    while let Some((diff, len)) = read_entry(&bytes[at..]) {
        entries.push(diff);
        at += len;
    }
    (entries, at)
}

fn read_entry(bytes: &[u8]) -> Option<(ZoneDiff, usize)> {
    if bytes.get(..4)? != MAGIC {
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
    let diff = decode_payload(payload)?;
    Some((diff, FRAMING + len))
}

fn encode_entry(diff: &ZoneDiff) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&diff.old_serial.to_be_bytes());
    out.extend_from_slice(&diff.new_serial.to_be_bytes());
    for records in [&diff.removed, &diff.added] {
        out.extend_from_slice(&(records.len() as u32).to_be_bytes());
        for r in records {
            let owner = r.owner.as_wire();
            out.push(owner.len() as u8);
            out.extend_from_slice(owner);
            out.extend_from_slice(&r.rtype.0.to_be_bytes());
            out.extend_from_slice(&r.ttl.to_be_bytes());
            out.extend_from_slice(&(r.rdata.len() as u16).to_be_bytes());
            out.extend_from_slice(&r.rdata);
        }
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
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

fn decode_payload(payload: &[u8]) -> Option<ZoneDiff> {
    let mut r = Reader(payload);
    let old_serial = r.u32()?;
    let new_serial = r.u32()?;
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        let count = r.u32()? as usize;
        // Each record takes at least 10 bytes: never trust a count to size memory.
        list.reserve(count.min(payload.len() / 10));
        for _ in 0..count {
            let owner_len = r.take(1)?[0] as usize;
            let owner = Name::from_wire(r.take(owner_len)?).ok()?;
            let rtype = Rtype(r.u16()?);
            let ttl = r.u32()?;
            let rdlen = r.u16()? as usize;
            let rdata = r.take(rdlen)?.into();
            list.push(Record {
                owner,
                rtype,
                ttl,
                rdata,
            });
        }
    }
    if !r.0.is_empty() {
        return None;
    }
    let [removed, added] = lists;
    Some(ZoneDiff {
        old_serial,
        new_serial,
        removed,
        added,
    })
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
