//! `dnsd check [--config FILE] [PATH...]`: checks the configuration and zone files
//! without serving, with exactly the validation (`config::load`), the file discovery
//! (`sources::files::zone_files`) and the loading (`daemon::zones::load`) that `dnsd`
//! runs, and reports one line per problem. Made for a git pre-commit hook and a CI step.
//!
//! With no PATH it checks every zone the configuration serves. A PATH may be a zone
//! file (the zone a `[zone."NAME"]` gives that file, else NAME from `NAME.zone`) or a
//! folder of `NAME.zone` files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::zones::load_with;
use crate::config::{self, Config, Overrides, ZoneOptions};
use crate::sources::files::{apex_of_file, zone_files};
use crate::wire::name::Name;
use crate::zone::quote;

/// What a check found.
#[derive(Debug, Default)]
pub struct Report {
    /// One line per problem or warning, in the order found.
    pub lines: Vec<String>,
    /// Whether any problem was an error (exit status 1).
    pub failed: bool,
    /// Zones that loaded.
    pub zones_ok: usize,
    /// Zones checked.
    pub zones: usize,
}

impl Report {
    fn error(&mut self, line: String) {
        self.failed = true;
        self.lines.push(line);
    }
}

/// Checks the configuration `config_file` (or the default) and the zones at `paths`
/// (or every zone the configuration serves).
pub fn check(config_file: Option<&Path>, paths: &[PathBuf]) -> Report {
    let mut report = Report::default();
    let config = match config::load(config_file, &Overrides::default()) {
        Ok(config) => config,
        Err(errors) => {
            errors.iter().for_each(|e| report.error(e.to_string()));
            if paths.is_empty() {
                return report;
            }
            // Still check the zones named, as the default configuration would.
            match config::load(None, &Overrides::default()) {
                Ok(config) => config,
                Err(_) => return report,
            }
        }
    };
    let mut zones: Vec<(Name, PathBuf)> = Vec::new();
    // Secondary zones (with primaries) have no file to check.
    let file_zones = config.reload_settings().zones;
    if paths.is_empty() {
        add_folder(&mut report, &mut zones, &config.zones_dir, &file_zones);
    }
    for path in paths {
        if path.is_dir() {
            // The configuration's zone options belong to its own zones folder only.
            let configured = if same_file(path, &config.zones_dir) {
                file_zones.clone()
            } else {
                BTreeMap::new()
            };
            add_folder(&mut report, &mut zones, path, &configured);
        } else {
            match zone_of(&config, path) {
                Ok(apex) => zones.push((apex, path.clone())),
                Err(message) => report.error(format!("{}: {message}", quote::path(path))),
            }
        }
    }
    for (apex, path) in &zones {
        report.zones += 1;
        match load_with(path, apex, &config.include) {
            Ok((_, warnings)) => {
                report.zones_ok += 1;
                report.lines.extend(warnings);
            }
            Err(errors) => errors.into_iter().for_each(|e| report.error(e)),
        }
    }
    report
}

/// Adds the zones of folder `dir`.
fn add_folder(
    report: &mut Report,
    zones: &mut Vec<(Name, PathBuf)>,
    dir: &Path,
    configured: &BTreeMap<Name, ZoneOptions>,
) {
    let (found, problems) = zone_files(dir, configured);
    problems.iter().for_each(|p| report.error(p.to_string()));
    zones.extend(found);
}

/// The zone a single file holds: the configured zone whose `file` it is, else the
/// zone its name says.
fn zone_of(config: &Config, path: &Path) -> Result<Name, String> {
    if !path.is_file() {
        // Never opened: a FIFO or a device given as a zone must not block the check.
        return Err(match std::fs::metadata(path) {
            Ok(_) => "not a regular file".into(),
            Err(e) => e.to_string(),
        });
    }
    for (apex, options) in &config.zones {
        let file = match &options.file {
            Some(file) => config.zones_dir.join(file),
            None => config.zones_dir.join(format!("{apex}zone")),
        };
        if same_file(&file, path) {
            return Ok(apex.clone());
        }
    }
    match apex_of_file(path) {
        Some(result) => result,
        None => Err("not a NAME.zone file, and no [zone] of the configuration names it".into()),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
