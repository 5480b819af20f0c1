//! Names of what the zone managers keep in the state folder, and the first release's
//! `serials` file:
//!
//! - `NAME.journal`: the zone's journal of diffs (`xfr::journal`);
//! - `NAME.image`: the zone's content (`manager::image`);
//! - `serials`: written by the first release (one line per zone,
//!   `APEX SERIAL FILE-SERIAL DIGEST`), read now only as a floor below which a zone that
//!   has no journal yet never serves.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::wire::name::Name;
use crate::xfr::journal;
use crate::zone::serial::Served;

/// The last served state of every zone, as in the `serials` file.
#[derive(Debug, Default)]
pub struct ServedSerials {
    path: PathBuf,
    zones: BTreeMap<Name, Served>,
}

impl ServedSerials {
    /// Reads `STATE/serials`; a missing file is an empty one. Lines that do not parse
    /// are skipped and reported as `file:line: what`.
    pub fn read(state_dir: &Path) -> (Self, Vec<String>) {
        let path = state_dir.join("serials");
        let mut problems = Vec::new();
        let mut zones = BTreeMap::new();
        match fs::read_to_string(&path) {
            Ok(text) => {
                for (i, line) in text.lines().enumerate() {
                    let parsed = line.split_once(' ').and_then(|(apex, rest)| {
                        let apex = Name::from_text(apex, None).ok()?;
                        let mut fields = rest.split_ascii_whitespace();
                        let served = Served {
                            serial: fields.next()?.parse().ok()?,
                            file_serial: fields.next()?.parse().ok()?,
                        };
                        Some((apex, served))
                    });
                    match parsed {
                        Some((apex, served)) => {
                            zones.insert(apex.to_lowercase(), served);
                        }
                        None if line.trim().is_empty() => {}
                        None => problems.push(format!(
                            "{}:{}: not 'ZONE SERIAL FILE-SERIAL DIGEST'; ignored",
                            path.display(),
                            i + 1
                        )),
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
        (Self { path, zones }, problems)
    }

    /// The last served state of `apex` (lowercased).
    pub fn get(&self, apex: &Name) -> Option<Served> {
        self.zones.get(apex).copied()
    }

    /// Records the state of `apex` (lowercased), in memory.
    pub fn set(&mut self, apex: &Name, served: Served) {
        self.zones.insert(apex.clone(), served);
    }

    /// Writes the file atomically (the first release's format, digest 0).
    pub fn write(&self) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut text = String::new();
        for (apex, served) in &self.zones {
            text.push_str(&format!(
                "{apex} {} {} 0\n",
                served.serial, served.file_serial
            ));
        }
        journal::write_atomically(&self.path, text.as_bytes())
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The journal file of a zone: `NAME.journal`, NAME being the apex without its final
/// dot (`root` for the root zone) with any byte that does not belong in a file name
/// written `%XX`.
pub fn journal_path(state_dir: &Path, apex: &Name) -> PathBuf {
    let text = apex.to_lowercase().to_string();
    let text = text.strip_suffix('.').unwrap_or(&text);
    let mut base = String::new();
    if text.is_empty() {
        base.push_str("root");
    }
    for b in text.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => base.push(b as char),
            _ => base.push_str(&format!("%{b:02X}")),
        }
    }
    state_dir.join(format!("{base}.journal"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Name {
        Name::from_text(text, None).unwrap()
    }

    #[test]
    fn serials_round_trip_and_bad_lines_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (mut db, problems) = ServedSerials::read(dir.path());
        assert!(problems.is_empty());
        let served = Served {
            serial: 2026112201,
            file_serial: 1,
        };
        db.set(&n("a\\032b.example."), served);
        db.set(&Name::root(), served);
        db.write().unwrap();
        let (again, problems) = ServedSerials::read(dir.path());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(again.get(&n("a\\032b.example.")), Some(served));
        assert_eq!(again.get(&Name::root()), Some(served));
        let mut text = fs::read_to_string(db.path()).unwrap();
        text.push_str("garbage\n");
        fs::write(db.path(), text).unwrap();
        let (_, problems) = ServedSerials::read(dir.path());
        assert!(problems[0].contains("serials:3:"), "{problems:?}");
    }

    #[test]
    fn journal_file_names_are_safe() {
        let dir = Path::new("/state");
        assert_eq!(
            journal_path(dir, &n("Example.ORG.")),
            dir.join("example.org.journal")
        );
        assert_eq!(journal_path(dir, &Name::root()), dir.join("root.journal"));
        assert_eq!(
            journal_path(dir, &n("a/b.example.")),
            dir.join("a%2Fb.example.journal")
        );
    }
}
