//! Loading one zone file, as both the reloader (`dnsd`) and `dnsd check` do it: the
//! parser, the checks and the snapshot build of `zone::load`, with every problem as one
//! line, `file:line: what` (warnings `file:line: warning: what`).

use std::path::Path;

use crate::wire::name::Name;
use crate::zone::Zone;
use crate::zone::load::{LoadError, load_zone};

/// Loads the zone `apex` from `path`: the zone and its warnings, or its errors. This is
/// the reloader's `LoadFn`.
pub fn load(path: &Path, apex: &Name) -> Result<(Zone, Vec<String>), Vec<String>> {
    match load_zone(path, apex) {
        Ok(loaded) => Ok((
            loaded.zone,
            loaded.warnings.iter().map(warning_line).collect(),
        )),
        Err(errors) => Err(errors.iter().map(ToString::to_string).collect()),
    }
}

/// A warning as one line: `file:line: warning: what`.
fn warning_line(e: &LoadError) -> String {
    if e.line == 0 {
        format!("{}: warning: {}", e.file.display(), e.kind)
    } else {
        format!("{}:{}: warning: {}", e.file.display(), e.line, e.kind)
    }
}
