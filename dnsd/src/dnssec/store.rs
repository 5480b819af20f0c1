//! A zone's keys in the state folder: `STATE/keys/ZONE/`, a folder only the service
//! user may enter (0700), one key per pair of files in BIND's format so that keys move
//! between dnsd, BIND and Knot (`dnssec-keygen`, `keymgr import-bind`) without a
//! rollover:
//!
//! - `K<zone>.+<alg>+<tag>.key`: the DNSKEY record (RFC 4034 §2.2 presentation), 0644;
//! - `K<zone>.+<alg>+<tag>.private`: the private key (BIND "Private-key-format:
//!   v1.3"), 0600, written to a temporary file, synced and renamed into place;
//! - `K<zone>.+<alg>+<tag>.state`: dnsd's timeline of the key (`timeline`): when it
//!   is published, signs, retires, leaves, and when the parent's DS was seen; one
//!   `name: seconds-since-the-epoch` a line. A key without one (made by an older
//!   dnsd, or imported) has been published and signing since before anything.
//!
//! Private material is never logged: errors name the file, never its content. The
//! file formats are in `bind_format`; the key set of a moment in `keyset`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use data_encoding::BASE64;

use super::bind_format::{parse_dnskey, parse_private, parse_times, private_text, times_text};
use super::keys::{Algorithm, FLAG_SEP, FLAG_ZONE, KeyError, KeyPair, key_tag};
use super::policy::{KeyScheme, Policy};
use super::timeline::{KeyTimes, TimelineKey};
use crate::wire::name::Name;

/// A key read from (or written to) the store.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// The DNSKEY flags.
    pub flags: u16,
    /// The key tag.
    pub tag: u16,
    /// The key pair.
    pub pair: Arc<KeyPair>,
    /// The `.private` file.
    pub path: PathBuf,
    /// Its timeline (the `.state` file).
    pub times: KeyTimes,
}

impl StoredKey {
    /// The DNSKEY RDATA.
    pub fn dnskey(&self) -> Vec<u8> {
        self.pair.dnskey_rdata(self.flags)
    }

    /// The key as the timeline sees it.
    pub fn timeline(&self) -> TimelineKey {
        TimelineKey {
            tag: self.tag,
            algorithm: self.pair.algorithm(),
            sep: self.flags & FLAG_SEP != 0,
            times: self.times,
        }
    }

    /// The `.state` file.
    pub fn state_path(&self) -> PathBuf {
        self.path.with_extension("state")
    }

    /// "CSK", "KSK" or "ZSK" under `scheme`.
    pub fn role(&self, scheme: KeyScheme) -> &'static str {
        match (scheme, self.flags & FLAG_SEP != 0) {
            (KeyScheme::Csk, _) => "CSK",
            (KeyScheme::KskZsk, true) => "KSK",
            (KeyScheme::KskZsk, false) => "ZSK",
        }
    }
}

/// Why the key store could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A file or folder could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A key file is malformed or its halves do not match.
    #[error("{path}: {message}")]
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the key material).
        message: String,
    },
    /// A key could not be made.
    #[error(transparent)]
    Key(#[from] KeyError),
}

fn io(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The folder of zone `apex`'s keys.
pub fn zone_dir(state_dir: &Path, apex: &Name) -> PathBuf {
    let text = apex.to_lowercase().to_string();
    let text = text.trim_end_matches('.');
    state_dir
        .join("keys")
        .join(if text.is_empty() { "root" } else { text })
}

/// BIND's base name of a key: `K<zone>.+<alg>+<tag>`.
fn base_name(apex: &Name, algorithm: Algorithm, tag: u16) -> String {
    let zone = apex.to_lowercase().to_string();
    format!("K{zone}+{:03}+{tag:05}", algorithm.number())
}

/// Every key of zone `apex`, sorted by tag; keys that cannot be read are errors (the
/// caller keeps the zone's last signed version).
pub fn load(state_dir: &Path, apex: &Name) -> Result<Vec<StoredKey>, StoreError> {
    let dir = zone_dir(state_dir, apex);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&dir, e)),
    };
    let mut keys = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| io(&dir, e))?.path();
        if path.extension().is_some_and(|e| e == "private") {
            keys.push(read_pair(&path)?);
        }
    }
    keys.sort_by_key(|k| (k.tag, k.pair.algorithm()));
    Ok(keys)
}

/// The flags and key pair of a `.private` file and its `.key` file.
fn read_key(private_path: &Path) -> Result<(u16, KeyPair), StoreError> {
    let bad = |message: String| StoreError::Bad {
        path: private_path.to_path_buf(),
        message,
    };
    let key_path = private_path.with_extension("key");
    let key_text = fs::read_to_string(&key_path).map_err(|e| io(&key_path, e))?;
    let (flags, algorithm, public) = parse_dnskey(&key_text).ok_or_else(|| StoreError::Bad {
        path: key_path.clone(),
        message: "no DNSKEY record of a known algorithm".into(),
    })?;
    let text = fs::read_to_string(private_path).map_err(|e| io(private_path, e))?;
    let private = parse_private(&text, algorithm).map_err(bad)?;
    let pair = KeyPair::from_parts(algorithm, private, &public)
        .map_err(|e| bad(format!("does not match {}: {e}", key_path.display())))?;
    Ok((flags, pair))
}

/// Reads a `.private` file, its `.key` file and its `.state` file.
pub fn read_pair(private_path: &Path) -> Result<StoredKey, StoreError> {
    let (flags, pair) = read_key(private_path)?;
    let dnskey = pair.dnskey_rdata(flags);
    let state_path = private_path.with_extension("state");
    let times = match fs::read_to_string(&state_path) {
        Ok(text) => parse_times(&text).map_err(|message| StoreError::Bad {
            path: state_path.clone(),
            message,
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => KeyTimes::default(),
        Err(e) => return Err(io(&state_path, e)),
    };
    Ok(StoredKey {
        flags,
        tag: key_tag(&dnskey),
        pair: Arc::new(pair),
        path: private_path.to_path_buf(),
        times,
    })
}

/// Writes `key`'s `.state` file (durably).
pub fn save_times(key: &StoredKey) -> Result<(), StoreError> {
    write_file(&key.state_path(), times_text(&key.times).as_bytes(), 0o644)
}

/// A key in BIND's format from elsewhere (`dnssec-keygen`, `keymgr`): its
/// `.private` file and the `.key` beside it, whose DNSKEY record must be owned by
/// `apex`.
pub fn read_foreign(private_path: &Path, apex: &Name) -> Result<StoredKey, StoreError> {
    let key_path = private_path.with_extension("key");
    let text = fs::read_to_string(&key_path).map_err(|e| io(&key_path, e))?;
    let owner = text
        .lines()
        .map(|l| l.split(';').next().unwrap_or("").trim())
        .find(|l| {
            l.split_whitespace()
                .any(|t| t.eq_ignore_ascii_case("DNSKEY"))
        })
        .and_then(|l| l.split_whitespace().next())
        .and_then(|o| Name::from_text(o, Some(apex)).ok());
    if owner.as_ref().map(Name::to_lowercase) != Some(apex.to_lowercase()) {
        return Err(StoreError::Bad {
            path: key_path,
            message: format!("not a DNSKEY of {apex}"),
        });
    }
    let (flags, pair) = read_key(private_path)?;
    Ok(StoredKey {
        flags,
        tag: key_tag(&pair.dnskey_rdata(flags)),
        pair: Arc::new(pair),
        path: private_path.to_path_buf(),
        times: KeyTimes::default(),
    })
}

/// Writes `bytes` to `path` with `mode`, durably: a temporary file, synced, renamed.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| io(&tmp, e))?;
    // The mode of an existing file is not changed by open().
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| io(&tmp, e))?;
    file.write_all(bytes).map_err(|e| io(&tmp, e))?;
    file.sync_all().map_err(|e| io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Stores `pair` as a key of zone `apex` with `flags` and `times`.
pub fn save(
    state_dir: &Path,
    apex: &Name,
    pair: KeyPair,
    flags: u16,
    times: KeyTimes,
) -> Result<StoredKey, StoreError> {
    let dir = zone_dir(state_dir, apex);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| io(&dir, e))?;
    let dnskey = pair.dnskey_rdata(flags);
    let tag = key_tag(&dnskey);
    // Not Path::with_extension: the base name holds dots of its own.
    let base = base_name(apex, pair.algorithm(), tag);
    let (key_path, private_path) = (
        dir.join(format!("{base}.key")),
        dir.join(format!("{base}.private")),
    );
    let zone = apex.to_lowercase();
    let role = if flags & FLAG_SEP != 0 {
        "key-signing (SEP)"
    } else {
        "zone-signing"
    };
    let key_text = format!(
        "; This is a {role} key, keyid {tag}, for {zone}\n{zone} IN DNSKEY {flags} 3 {} {}\n",
        pair.algorithm().number(),
        BASE64.encode(pair.public_key())
    );
    write_file(&key_path, key_text.as_bytes(), 0o644)?;
    write_file(&private_path, private_text(&pair).as_bytes(), 0o600)?;
    let key = StoredKey {
        flags,
        tag,
        pair: Arc::new(pair),
        path: private_path,
        times,
    };
    save_times(&key)?;
    Ok(key)
}

/// Generates and stores a key of `algorithm`: a key-signing key (SEP) or not, on the
/// timeline at `times`.
pub fn generate(
    state_dir: &Path,
    apex: &Name,
    algorithm: Algorithm,
    sep: bool,
    times: KeyTimes,
) -> Result<StoredKey, StoreError> {
    let pair = KeyPair::generate(algorithm)?;
    let flags = FLAG_ZONE | if sep { FLAG_SEP } else { 0 };
    save(state_dir, apex, pair, flags, times)
}

/// The zone's keys, generating those the policy needs and the store lacks (a CSK, or
/// a KSK and a ZSK, of the policy's algorithm). The second value lists the keys made.
pub fn ensure(
    state_dir: &Path,
    apex: &Name,
    policy: &Policy,
) -> Result<(Vec<StoredKey>, Vec<StoredKey>), StoreError> {
    let mut keys = load(state_dir, apex)?;
    let of_alg = |keys: &[StoredKey], sep: bool| {
        keys.iter()
            .any(|k| k.pair.algorithm() == policy.algorithm && (k.flags & FLAG_SEP != 0) == sep)
    };
    let mut made = Vec::new();
    let wanted: &[bool] = match policy.scheme {
        KeyScheme::Csk => &[true],
        KeyScheme::KskZsk => &[true, false],
    };
    for &sep in wanted {
        if !of_alg(&keys, sep) {
            let key = generate(state_dir, apex, policy.algorithm, sep, KeyTimes::default())?;
            made.push(key.clone());
            keys.push(key);
        }
    }
    keys.sort_by_key(|k| (k.tag, k.pair.algorithm()));
    Ok((keys, made))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dnsd-keys-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn keys_are_stored_private_and_read_back() {
        let dir = tempdir("store");
        let apex = Name::from_text("Example.ORG.", None).unwrap();
        for (scheme, count) in [(KeyScheme::Csk, 1), (KeyScheme::KskZsk, 2)] {
            let _ = fs::remove_dir_all(&dir);
            let policy = Policy {
                scheme,
                ..Policy::default()
            };
            let (keys, made) = ensure(&dir, &apex, &policy).unwrap();
            assert_eq!((keys.len(), made.len()), (count, count));
            let (again, made) = ensure(&dir, &apex, &policy).unwrap();
            assert!(made.is_empty());
            assert_eq!(
                again.iter().map(|k| k.tag).collect::<Vec<_>>(),
                keys.iter().map(|k| k.tag).collect::<Vec<_>>()
            );
            let env = crate::dnssec::timeline::Env {
                policy: &policy,
                dnskey_ttl: 3600,
                max_ttl: &|| 3600,
            };
            let set = crate::dnssec::keyset::key_set(&apex, &again, &env, 1);
            assert_eq!((set.ksks.len(), set.zsks.len()), (1, 1));
        }
        let zone_dir = zone_dir(&dir, &apex);
        assert!(zone_dir.ends_with("keys/example.org"));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&zone_dir), 0o700);
        for entry in fs::read_dir(&zone_dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            assert!(name.starts_with("Kexample.org.+013+"), "{name}");
            if name.ends_with(".private") {
                assert_eq!(mode(&path), 0o600, "{name}");
                let text = fs::read_to_string(&path).unwrap();
                assert!(
                    text.starts_with("Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\n")
                );
            }
        }
        // A corrupt key is an error naming its file, not a new key.
        let private = load(&dir, &apex).unwrap()[0].path.clone();
        fs::write(
            &private,
            "Private-key-format: v1.3\nAlgorithm: 13\nPrivateKey: AAAA\n",
        )
        .unwrap();
        let e = load(&dir, &apex).unwrap_err();
        assert!(
            e.to_string().contains(&private.display().to_string()),
            "{e}"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
