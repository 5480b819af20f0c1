//! The keys of the configuration about zone files: `[include]` (the folders `$INCLUDE`
//! may read besides the zones folder, and each zone's limits: `zone::files`) and the
//! global `serial`, the policy of every zone whose `[zone."NAME"]` table sets none.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{Problems, SerialPolicy, ZoneOptions};
use crate::zone::files::{DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, DEFAULT_MAX_FILES, LoadOptions};

/// `[include]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(super) struct IncludeSpec {
    dirs: Option<Vec<Spanned<String>>>,
    max_depth: Option<Spanned<i64>>,
    max_files: Option<Spanned<i64>>,
    max_bytes: Option<Spanned<i64>>,
}

/// The keys of `[include]`.
pub(super) const INCLUDE_KEYS: &[&str] = &["dirs", "max-depth", "max-files", "max-bytes"];

/// How zone files are read: `$INCLUDE` from `zones_dir` and `dirs` only (relative
/// folders through `in_file`), within each zone's limits.
pub(super) fn include(
    spec: &IncludeSpec,
    zones_dir: &Path,
    in_file: &dyn Fn(&str) -> PathBuf,
    problems: &mut Problems<'_>,
) -> LoadOptions {
    let mut include_dirs = vec![zones_dir.to_path_buf()];
    for (i, dir) in spec.dirs.iter().flatten().enumerate() {
        if dir.get_ref().is_empty() {
            problems.fail(
                Some(dir.span()),
                format!("include.dirs[{i}]"),
                "is empty".into(),
            );
        } else {
            include_dirs.push(in_file(dir.get_ref()));
        }
    }
    LoadOptions {
        include_dirs,
        max_depth: problems.positive(
            &spec.max_depth,
            "include.max-depth",
            1000,
            DEFAULT_MAX_DEPTH as u64,
        ) as usize,
        max_files: problems.positive(
            &spec.max_files,
            "include.max-files",
            1_000_000,
            DEFAULT_MAX_FILES as u64,
        ) as usize,
        max_bytes: problems.positive(
            &spec.max_bytes,
            "include.max-bytes",
            1 << 40,
            DEFAULT_MAX_BYTES,
        ),
    }
}

/// The options a zone starts from: the global `serial`, else the defaults.
pub(super) fn zone_defaults(
    serial: &Option<Spanned<String>>,
    problems: &mut Problems<'_>,
) -> ZoneOptions {
    let mut defaults = ZoneOptions::default();
    if let Some(serial) = serial {
        match SerialPolicy::from_config(serial.get_ref()) {
            Some(policy) => defaults.serial = policy,
            None => problems.fail(
                Some(serial.span()),
                "serial".into(),
                "expected one of keep, unixtime, date".into(),
            ),
        }
    }
    defaults
}
