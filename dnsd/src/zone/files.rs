//! Reading the files of one zone — the zone file and what it `$INCLUDE`s — as content
//! that comes from a repository and is not trusted:
//!
//! - only regular files are read: a FIFO, a device (`/dev/zero`), a socket or a folder
//!   is refused without blocking on it (opened `O_NONBLOCK`, checked with `fstat` on
//!   the open descriptor, so a swap after a check cannot slip one in);
//! - an `$INCLUDE` must resolve (symbolic links followed) inside the zone file's own
//!   folder or a folder the configuration allows (`[include] dirs`): NSD and Knot read
//!   any path, which lets a zone in git pull `/proc/self/environ` into error messages;
//! - each zone has a budget: include depth, files read and bytes read (all files and
//!   `$GENERATE` output together). A zone that exceeds it fails alone, at the line of
//!   the directive, and no file can make the loader block or grow without bound.
//!
//! The limits' defaults are in [`LoadOptions::default`]; `dnsd.toml`'s `[include]`
//! table changes them.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Default of `[include] max-depth`: `$INCLUDE`s nested in one another.
pub const DEFAULT_MAX_DEPTH: usize = 16;
/// Default of `[include] max-files`: files read for one zone, the zone file included.
pub const DEFAULT_MAX_FILES: usize = 1024;
/// Default of `[include] max-bytes`: octets read for one zone (1 GiB, about 30 million
/// names), `$GENERATE` output included.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// How the files of a zone may be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Folders besides the zone file's own from which `$INCLUDE` may read (with their
    /// sub-folders). The daemon passes its zones folder and `[include] dirs`.
    pub include_dirs: Vec<PathBuf>,
    /// Most `$INCLUDE`s nested in one another.
    pub max_depth: usize,
    /// Most files read for one zone.
    pub max_files: usize,
    /// Most octets read (and generated) for one zone.
    pub max_bytes: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            include_dirs: Vec::new(),
            max_depth: DEFAULT_MAX_DEPTH,
            max_files: DEFAULT_MAX_FILES,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// Why a file of a zone was not read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The system refused (no such file, permissions, ...).
    Io(std::io::Error),
    /// Not a regular file: what it is instead ("a FIFO").
    NotRegular(&'static str),
    /// An `$INCLUDE` outside the allowed folders.
    Outside,
    /// More files than `max_files`.
    TooManyFiles(usize),
    /// More octets than `max_bytes`.
    TooManyBytes(u64),
}

impl ReadError {
    /// Whether the zone's budget is spent: nothing more of it can be read.
    pub fn exhausts_budget(&self) -> bool {
        matches!(self, Self::TooManyFiles(_) | Self::TooManyBytes(_))
    }
}

/// What one zone has read so far, against its [`LoadOptions`].
pub(crate) struct Budget {
    options: LoadOptions,
    /// The allowed folders, canonical (computed once the zone file is known).
    allowed: Vec<PathBuf>,
    files: usize,
    bytes: u64,
}

impl Budget {
    pub fn new(options: LoadOptions) -> Self {
        Self {
            options,
            allowed: Vec::new(),
            files: 0,
            bytes: 0,
        }
    }

    /// Most nested `$INCLUDE`s.
    pub fn max_depth(&self) -> usize {
        self.options.max_depth
    }

    /// Opens the zone file itself (`path`, chosen by the configuration), to be read a
    /// piece at a time ([`Budget::read_some`]): its folder becomes an allowed include
    /// folder.
    pub fn open_zone_file(&mut self, path: &Path) -> Result<Opened, ReadError> {
        let canonical = std::fs::canonicalize(path).map_err(ReadError::Io)?;
        let mut allowed: Vec<PathBuf> = canonical
            .parent()
            .map(Path::to_path_buf)
            .into_iter()
            .collect();
        allowed.extend(
            self.options
                .include_dirs
                .iter()
                .filter_map(|dir| std::fs::canonicalize(dir).ok()),
        );
        self.allowed = allowed;
        self.open(&canonical)
    }

    /// Opens a file named by `$INCLUDE`, at `canonical` (symbolic links resolved).
    pub fn open_include(&mut self, canonical: &Path) -> Result<Opened, ReadError> {
        if !self.allowed.iter().any(|dir| canonical.starts_with(dir)) {
            return Err(ReadError::Outside);
        }
        self.open(canonical)
    }

    /// Counts `n` octets of `$GENERATE` output; fails past the byte budget.
    pub fn generated(&mut self, n: usize) -> Result<(), ReadError> {
        self.bytes = self.bytes.saturating_add(n as u64);
        if self.bytes > self.options.max_bytes {
            return Err(ReadError::TooManyBytes(self.options.max_bytes));
        }
        Ok(())
    }

    /// Opens `canonical` without blocking and checks that it is a regular file that
    /// fits the remaining byte budget.
    fn open(&mut self, canonical: &Path) -> Result<Opened, ReadError> {
        if self.files >= self.options.max_files {
            return Err(ReadError::TooManyFiles(self.options.max_files));
        }
        self.files += 1;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(canonical)
            .map_err(ReadError::Io)?;
        let meta = file.metadata().map_err(ReadError::Io)?;
        let kind = meta.file_type();
        if !kind.is_file() {
            let what = if kind.is_dir() {
                "a folder"
            } else if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_char_device() {
                "a character device"
            } else if kind.is_block_device() {
                "a block device"
            } else if kind.is_socket() {
                "a socket"
            } else {
                "not a file"
            };
            return Err(ReadError::NotRegular(what));
        }
        let left = self.options.max_bytes.saturating_sub(self.bytes);
        if meta.len() > left {
            return Err(ReadError::TooManyBytes(self.options.max_bytes));
        }
        // One octet past the budget tells a file that grew too big from one that fits.
        Ok(Opened {
            file: file.take(left.saturating_add(1)),
            size: meta.len(),
        })
    }

    /// Appends up to `want` more octets of `opened` to `buf`; 0: the end of the file.
    /// Fails past the byte budget (a file that grows while it is read).
    pub fn read_some(
        &mut self,
        opened: &mut Opened,
        buf: &mut Vec<u8>,
        want: usize,
    ) -> Result<usize, ReadError> {
        let read = (&mut opened.file)
            .take(want as u64)
            .read_to_end(buf)
            .map_err(ReadError::Io)?;
        self.bytes = self.bytes.saturating_add(read as u64);
        if self.bytes > self.options.max_bytes {
            return Err(ReadError::TooManyBytes(self.options.max_bytes));
        }
        Ok(read)
    }
}

/// A file of a zone, open and checked, read by [`Budget::read_some`].
pub(crate) struct Opened {
    file: std::io::Take<std::fs::File>,
    /// Its size when it was opened.
    size: u64,
}

impl Opened {
    /// Its size when it was opened, in octets.
    pub fn size(&self) -> u64 {
        self.size
    }
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
