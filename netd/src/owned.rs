//! What netd owns on this host, kept in `<state-dir>/owned.json` so that it survives
//! restarts: the bridges it created, the addresses it added and the ports it
//! enslaved, the sysctls it changed (with their values before), and fingerprints of
//! the nftables table it loaded. `netd down` undoes exactly this and nothing else.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

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
}

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

    /// Writes the record atomically (temporary file, then rename).
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let path = Self::path(dir);
        let tmp = dir.join("owned.json.tmp");
        let text = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)
    }

    /// Whether netd owns nothing.
    pub fn is_empty(&self) -> bool {
        self.bridges.is_empty() && self.sysctls.is_empty() && self.nft.is_none()
    }
}
