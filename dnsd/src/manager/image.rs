//! The image of a zone in the state folder: a version's whole content, from which a
//! restart rebuilds the zone (then replays the journal entries after it), so that a
//! zone is served at once, and from its last good version when its file is broken or
//! gone — as Knot serves from its journal.
//!
//! # Format
//! `NAME.image`, written whole (new file, fsync, rename, fsync of the folder):
//!
//! ```text
//! magic "NFZ1" | serial (4) | file serial present (1) | file serial (4)
//! | record count (4) | records (the journal's encoding)
//! | owned RRsets (4) | each: owner length (1) | owner | type (2) | source length (1) | source
//! | FNV-1a-64 of everything before it (8)
//! ```
//!
//! An image that does not read back whole (torn, damaged) is reported and ignored.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ownership::Ownership;
use crate::wire::name::Name;
use crate::xfr::journal::{OwnerChange, Reader, encode_record, sync_parent};
use crate::zone::serial::Fnv;
use crate::zone::{Record, Rtype, Zone};

const MAGIC: &[u8; 4] = b"NFZ1";

/// A zone's content as read back from its image.
pub struct Image {
    /// The serial of the version it holds.
    pub serial: u32,
    /// The zone file's serial then.
    pub file_serial: Option<u32>,
    /// Every record.
    pub records: Vec<Record>,
    /// The dynamic owners.
    pub ownership: Ownership,
}

/// The image file of a zone: `NAME.image` beside its journal.
pub fn image_path(state_dir: &Path, apex: &Name) -> PathBuf {
    crate::sources::state::journal_path(state_dir, apex).with_extension("image")
}

/// Writes the image of `zone` durably.
pub fn write(
    path: &Path,
    zone: &Zone,
    file_serial: Option<u32>,
    ownership: &Ownership,
) -> std::io::Result<()> {
    // Streamed to the file a megabyte at a time: a signed zone of a million names
    // makes an image of hundreds of megabytes, never held whole.
    write_streamed(path, |sink| {
        let mut out = Vec::with_capacity(FLUSH_AT + 1024);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&zone.serial().unwrap_or(0).to_be_bytes());
        out.push(u8::from(file_serial.is_some()));
        out.extend_from_slice(&file_serial.unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&(zone.record_count() as u32).to_be_bytes());
        for record in zone.records() {
            encode_record(&record, &mut out);
            if out.len() >= FLUSH_AT {
                sink(&out)?;
                out.clear();
            }
        }
        out.extend_from_slice(&(ownership.len() as u32).to_be_bytes());
        for (owner, rtype, source) in ownership.iter() {
            out.push(owner.as_wire().len() as u8);
            out.extend_from_slice(owner.as_wire());
            out.extend_from_slice(&rtype.0.to_be_bytes());
            let source = &source.as_bytes()[..source.len().min(255)];
            out.push(source.len() as u8);
            out.extend_from_slice(source);
        }
        sink(&out)
    })
}

/// Octets of an image gathered before they are hashed and written.
const FLUSH_AT: usize = 1 << 20;

/// Writes what `fill` gives its sink, then the FNV-1a-64 of it all, to a new file
/// that replaces `path` once durable (as `write_atomically`).
fn write_streamed(
    path: &Path,
    fill: impl FnOnce(&mut dyn FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        let mut h = Fnv::new();
        fill(&mut |bytes: &[u8]| {
            h.write(bytes);
            file.write_all(bytes)
        })?;
        file.write_all(&h.finish().to_be_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_parent(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Why an image could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// There is none.
    #[error("no image")]
    Missing,
    /// It could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is damaged or torn.
    #[error("{}: damaged (checksum or format); ignored", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
    },
}

/// Reads the image at `path`.
pub fn read(path: &Path) -> Result<Image, ImageError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ImageError::Missing),
        Err(source) => {
            return Err(ImageError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    decode(&bytes).ok_or_else(|| ImageError::Damaged {
        path: path.to_path_buf(),
    })
}

fn decode(bytes: &[u8]) -> Option<Image> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
    let mut h = Fnv::new();
    h.write(body);
    if h.finish().to_be_bytes() != sum {
        return None;
    }
    let mut r = Reader(body);
    if r.take(4)? != MAGIC {
        return None;
    }
    let serial = r.u32()?;
    let present = r.u8()? != 0;
    let file_serial = r.u32()?;
    let count = r.count(10)?;
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        records.push(r.record()?);
    }
    let owned = r.count(4)?;
    let mut changes = Vec::with_capacity(owned);
    for _ in 0..owned {
        let owner = r.name()?;
        let rtype = Rtype(r.u16()?);
        let len = r.u8()? as usize;
        let source = std::str::from_utf8(r.take(len)?).ok()?;
        changes.push(OwnerChange {
            owner,
            rtype,
            source: Some(Arc::from(source)),
        });
    }
    if !r.0.is_empty() {
        return None;
    }
    let mut ownership = Ownership::default();
    ownership.apply(&changes);
    Some(Image {
        serial,
        file_serial: present.then_some(file_serial),
        records,
        ownership,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Name {
        Name::from_text(text, None).unwrap()
    }

    #[test]
    fn an_image_reads_back_and_damage_is_noticed() {
        let apex = n("example.org.");
        let mut soa = n("ns.example.org.").as_wire().to_vec();
        soa.extend_from_slice(n("h.example.org.").as_wire());
        soa.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
        let records = vec![
            Record {
                owner: apex.clone(),
                rtype: Rtype::SOA,
                ttl: 60,
                rdata: soa.into(),
            },
            Record {
                owner: n("web.example.org."),
                rtype: Rtype::A,
                ttl: 30,
                rdata: vec![198, 51, 100, 9].into(),
            },
        ];
        let zone = Zone::build(&apex, records.clone()).unwrap();
        let mut ownership = Ownership::default();
        ownership.apply(&[OwnerChange {
            owner: n("web.example.org."),
            rtype: Rtype::A,
            source: Some(Arc::from("docker")),
        }]);
        let dir = tempfile::tempdir().unwrap();
        let path = image_path(dir.path(), &apex);
        write(&path, &zone, Some(3), &ownership).unwrap();
        let image = read(&path).unwrap();
        assert_eq!(image.serial, 7);
        assert_eq!(image.file_serial, Some(3));
        assert_eq!(image.ownership, ownership);
        let mut got = image.records;
        got.sort();
        let mut want = records;
        want.sort();
        assert_eq!(got, want);
        let mut bytes = std::fs::read(&path).unwrap();
        for cut in [0, 5, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(
                matches!(read(&path), Err(ImageError::Damaged { .. })),
                "cut at {cut}"
            );
        }
        bytes[12] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(read(&path), Err(ImageError::Damaged { .. })));
        assert!(matches!(
            read(&dir.path().join("none.image")),
            Err(ImageError::Missing)
        ));
    }
}
