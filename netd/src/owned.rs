//! What netd owns on this host, kept in `<state-dir>/owned.json` so that it survives
//! restarts and crashes: the bridges it created, the addresses it added and the ports
//! it enslaved, the sysctls it changed (with their values before), fingerprints of the
//! nftables table it loaded, and each running VRRP instance's virtual addresses and
//! accept-mode table. `netd down` undoes exactly this and nothing else.
//!
//! The record is written *before* a change that makes netd own something (intent),
//! and after a change that gives it up, so a crash at any point leaves a record that
//! names at least what exists; undoing what does not exist is a no-op. Every write
//! replaces the file atomically (a temporary file of a unique name, fsync, rename).
//! Within one process, writers (the reconcile pass, the VRRP instances) go through
//! [`Owned::update`], which reads, changes and writes under one lock; between
//! processes, `crate::lock` lets one netd at a time change the host.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::links::OwnedBridge;

/// Fingerprints of the table netd loaded last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NftRecord {
    /// Of the text netd rendered.
    pub rendered: u64,
    /// Of the kernel's listing right after loading it.
    pub listing: u64,
}

/// What a VRRP instance may have put on the host while it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedVrrp {
    /// The interface its addresses go on.
    pub interface: String,
    /// Its virtual addresses.
    pub addresses: Vec<IpNet>,
    /// Its accept-mode table (`inet netd_vrrp_<name>`), when it loads one.
    pub table: Option<String>,
}

/// The record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Owned {
    /// Bridges netd manages and what it did to each.
    pub bridges: BTreeMap<String, OwnedBridge>,
    /// Sysctls netd changed: name -> value before.
    pub sysctls: BTreeMap<String, String>,
    /// The table netd loaded, if any.
    pub nft: Option<NftRecord>,
    /// VRRP instances that started and have not stopped cleanly, by name.
    pub vrrp: BTreeMap<String, OwnedVrrp>,
}

/// Serializes read-change-write cycles of the record within this process.
static WRITERS: Mutex<()> = Mutex::new(());

impl Owned {
    /// The record's file in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("owned.json")
    }

    /// Reads the record; an absent file is an empty record.
    pub fn load(dir: &Path) -> io::Result<Self> {
        let path = Self::path(dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }

    /// Writes the record atomically: a temporary file of a name no other writer
    /// uses, flushed to disk, renamed over the record. An empty record removes the file.
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        let path = Self::path(dir);
        let context = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        if self.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(context(e)),
                _ => Ok(()),
            };
        }
        std::fs::create_dir_all(dir).map_err(context)?;
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let tmp = dir.join(format!(
            ".owned.json.{}.{}.tmp",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let text = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        let written = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&text)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            // The rename itself is durable once the folder is.
            std::fs::File::open(dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(context)
    }

    /// Reads the record in `dir`, lets `change` edit it, and writes it back, under a
    /// lock that keeps this process's other writers out meanwhile.
    pub fn update<T>(dir: &Path, change: impl FnOnce(&mut Owned) -> T) -> io::Result<T> {
        let _guard = WRITERS.lock().unwrap_or_else(|p| p.into_inner());
        let mut owned = Self::load(dir)?;
        let before = owned.clone();
        let out = change(&mut owned);
        if owned != before {
            owned.save(dir)?;
        }
        Ok(out)
    }

    /// Whether netd owns nothing.
    pub fn is_empty(&self) -> bool {
        self.bridges.is_empty()
            && self.sysctls.is_empty()
            && self.nft.is_none()
            && self.vrrp.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vrrp() -> OwnedVrrp {
        OwnedVrrp {
            interface: "eth0".into(),
            addresses: vec!["198.51.100.1/24".parse().unwrap()],
            table: Some("netd_vrrp_svc".into()),
        }
    }

    #[test]
    fn absent_record_is_empty_and_empty_record_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Owned::load(dir.path()).unwrap(), Owned::default());
        Owned::update(dir.path(), |o| o.vrrp.insert("svc".into(), vrrp())).unwrap();
        assert!(Owned::path(dir.path()).exists());
        Owned::update(dir.path(), |o| o.vrrp.clear()).unwrap();
        assert!(!Owned::path(dir.path()).exists());
    }

    #[test]
    fn updates_keep_what_other_writers_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let bridge = OwnedBridge {
            created: true,
            ..Default::default()
        };
        Owned::update(dir.path(), |o| o.bridges.insert("br-svc".into(), bridge)).unwrap();
        Owned::update(dir.path(), |o| o.vrrp.insert("svc".into(), vrrp())).unwrap();
        let o = Owned::load(dir.path()).unwrap();
        assert!(o.bridges["br-svc"].created);
        assert_eq!(o.vrrp["svc"], vrrp());
    }

    #[test]
    fn concurrent_writers_lose_nothing_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|s| {
            for i in 0..8 {
                let dir = dir.path();
                s.spawn(move || {
                    for j in 0..20 {
                        Owned::update(dir, |o| o.sysctls.insert(format!("k{i}.{j}"), "0".into()))
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(Owned::load(dir.path()).unwrap().sysctls.len(), 160);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["owned.json"]);
    }

    #[test]
    fn a_damaged_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(Owned::path(dir.path()), "{").unwrap();
        let e = Owned::load(dir.path()).unwrap_err();
        assert!(e.to_string().contains("owned.json"), "{e}");
    }
}
