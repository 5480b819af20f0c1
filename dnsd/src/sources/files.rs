//! Zone files in a folder (kept in git): which file is which zone, and the fingerprint
//! that tells whether one changed.
//!
//! # Which files are zones
//! In the zones folder, a file `NAME.zone` is the zone `NAME` (Knot's convention): no
//! configuration is needed per zone. A `[zone."NAME"] file = "..."` serves that file
//! (relative to the zones folder) instead; a file so claimed is no zone of its own name.
//! Only the folder's top level holds zones: sub-folders are for `$INCLUDE`d files and
//! anything else the operator keeps there, and names starting with a dot (`.git`,
//! editors' swap and lock files) are never zones. The zones folder itself must exist
//! when dnsd starts; it may be a symbolic link, swapped to deploy a new release.
//!
//! # Watching
//! `watcher` watches what the zones read (`watch_plan`) and reloads when `burst` says
//! so: a file is loaded once it is closed after writing or renamed into place.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::reload::ZoneOptions;
use crate::wire::name::Name;

/// A zone and the file it is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneFile {
    /// The zone's apex, lowercased.
    pub apex: Name,
    /// Its master file.
    pub path: PathBuf,
}

/// A problem finding zone files (one log line each).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct SourceProblem {
    /// The folder or file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
    /// Whether the zones folder itself could not be read (then nothing is known).
    pub folder_unreadable: bool,
}

/// The zone a file named `NAME.zone` holds, if its name says one.
pub fn apex_of_file(path: &Path) -> Option<Result<Name, String>> {
    let file_name = path.file_name()?.to_str()?;
    if file_name.starts_with('.') {
        return None;
    }
    let stem = file_name.strip_suffix(".zone")?;
    Some(
        Name::from_text(&format!("{stem}."), None)
            .map(|n| n.to_lowercase())
            .map_err(|e| format!("the file name {stem:?} is not a domain name: {e}")),
    )
}

/// Every zone of the folder and the configuration, by apex, and the problems that keep
/// some from being known (an unreadable folder, a file name that is no domain name).
pub fn zone_files(
    zones_dir: &Path,
    configured: &BTreeMap<Name, ZoneOptions>,
) -> (BTreeMap<Name, PathBuf>, Vec<SourceProblem>) {
    let mut problems = Vec::new();
    let mut zones: BTreeMap<Name, PathBuf> = BTreeMap::new();
    let claimed: HashSet<PathBuf> = configured
        .values()
        .filter_map(|o| o.file.as_ref())
        .map(|f| zones_dir.join(f))
        .collect();
    match std::fs::read_dir(zones_dir) {
        Err(e) => problems.push(SourceProblem {
            path: zones_dir.to_path_buf(),
            message: format!("cannot read the zones folder: {e}"),
            folder_unreadable: true,
        }),
        Ok(entries) => {
            let mut paths: Vec<PathBuf> =
                entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                if claimed.contains(&path) || !path.is_file() {
                    continue;
                }
                match apex_of_file(&path) {
                    None => {}
                    Some(Err(message)) => problems.push(SourceProblem {
                        path,
                        message,
                        folder_unreadable: false,
                    }),
                    Some(Ok(apex)) => {
                        if configured.get(&apex).is_some_and(|o| o.file.is_some()) {
                            continue;
                        }
                        if let Some(other) = zones.get(&apex) {
                            // `Example.org.zone` beside `example.org.zone`: serve the
                            // first, say why the other is not served.
                            problems.push(SourceProblem {
                                message: format!(
                                    "zone {apex} is already read from {}; this file is ignored",
                                    other.display()
                                ),
                                path,
                                folder_unreadable: false,
                            });
                            continue;
                        }
                        zones.insert(apex, path);
                    }
                }
            }
        }
    }
    for (apex, options) in configured {
        let apex = apex.to_lowercase();
        match &options.file {
            Some(file) => {
                zones.insert(apex, zones_dir.join(file));
            }
            None if !zones.contains_key(&apex) => problems.push(SourceProblem {
                path: zones_dir.join(format!("{apex}zone")),
                message: format!("zone {apex} is configured but has no file"),
                folder_unreadable: false,
            }),
            None => {}
        }
    }
    (zones, problems)
}

/// What identifies one version of a file without reading it: a new inode (git and
/// editors that rename), a new size or a new mtime/ctime mean it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    inode: u64,
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Fingerprint {
    /// The fingerprint of `path` now; None if it cannot be read.
    pub fn of(path: &Path) -> Option<Self> {
        let m = std::fs::metadata(path).ok()?;
        Some(Self {
            inode: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_say_the_zone() {
        let apex = |p: &str| apex_of_file(Path::new(p)).map(|r| r.map(|n| n.to_string()));
        assert_eq!(apex("z/example.org.zone"), Some(Ok("example.org.".into())));
        assert_eq!(
            apex("z/100.51.198.in-addr.arpa.zone"),
            Some(Ok("100.51.198.in-addr.arpa.".into()))
        );
        assert_eq!(apex("z/Example.ORG.zone"), Some(Ok("example.org.".into())));
        assert_eq!(apex("z/.example.org.zone.swp"), None);
        assert_eq!(apex("z/.#example.org.zone"), None);
        assert_eq!(apex("z/example.org.zone~"), None);
        assert_eq!(apex("z/README.md"), None);
        assert!(matches!(apex("z/a..b.zone"), Some(Err(_))));
    }

    #[test]
    fn configured_files_replace_and_claim() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "a.example.zone",
            "A.example.zone",
            "b.example.zone",
            "other.txt",
            ".hidden.zone",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.zone")).unwrap();
        std::fs::write(dir.path().join("bad..name.zone"), "").unwrap();
        let mut configured = BTreeMap::new();
        let options = |file: &str| ZoneOptions {
            file: Some(PathBuf::from(file)),
            ..ZoneOptions::default()
        };
        configured.insert(
            Name::from_text("c.example.", None).unwrap(),
            options("b.example.zone"),
        );
        let (zones, problems) = zone_files(dir.path(), &configured);
        let got: Vec<(String, PathBuf)> = zones
            .iter()
            .map(|(a, p)| {
                (
                    a.to_string(),
                    p.strip_prefix(dir.path()).unwrap().to_path_buf(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("a.example.".to_string(), PathBuf::from("A.example.zone")),
                ("c.example.".to_string(), PathBuf::from("b.example.zone")),
            ]
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].message.contains("already read from"));
        assert!(problems[1].message.contains("not a domain name"));
        let (_, problems) = zone_files(&dir.path().join("missing"), &BTreeMap::new());
        assert!(problems[0].folder_unreadable);
    }
}
