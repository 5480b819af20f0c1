//! Loading one zone file, as both the reloader (`dnsd`) and `dnsd check` do it: the
//! parser, the checks and the snapshot build of `zone::load` (or, for the reloader, the
//! file matched against the live version), with every problem as one line, `file:line: what` (warnings `file:line: warning: what`), input escaped.

use std::path::Path;

use crate::config::Config;
use crate::sources::reload::{FileRead, read_zone_file};
use crate::wire::name::Name;
use crate::zone::Zone;
use crate::zone::file_match::FileMatch;
use crate::zone::load::{LoadError, LoadOptions, Loaded, load_zone_with};
use crate::zone::quote;

/// A zone and its warnings, or its errors, each as one line.
pub type LoadResult = Result<(Zone, Vec<String>), Vec<String>>;

/// Loads the zone `apex` from `path` with the default [`LoadOptions`] (`$INCLUDE` only
/// from the zone file's own folder, default limits).
pub fn load(path: &Path, apex: &Name) -> LoadResult {
    load_with(path, apex, &LoadOptions::default())
}

/// Loads the zone `apex` from `path`, its files read as `options` say.
pub fn load_with(path: &Path, apex: &Name, options: &LoadOptions) -> LoadResult {
    lines(load_zone_with(path, apex, options))
}

/// A load's result with every problem as one line.
fn lines(result: Result<Loaded, Vec<LoadError>>) -> LoadResult {
    match result {
        Ok(loaded) => Ok((
            loaded.zone,
            loaded.warnings.iter().map(warning_line).collect(),
        )),
        Err(errors) => Err(errors.iter().map(ToString::to_string).collect()),
    }
}

/// The reloader's `LoadFn` for `config`: zone files read as its `[include]` table says
/// (the zones folder and `dirs` allowed, its limits), with the files each zone read or
/// tried, which the watcher watches.
pub fn loader(
    config: &Config,
) -> impl Fn(&Path, &Name, Option<FileMatch>) -> FileRead + Send + Sync + 'static {
    let options = config.include.clone();
    move |path: &Path, apex: &Name, matcher: Option<FileMatch>| {
        read_zone_file(path, apex, matcher, &options, warning_line)
    }
}

/// A warning as one line: `file:line: warning: what`.
fn warning_line(e: &LoadError) -> String {
    let file = quote::path(&e.file);
    if e.line == 0 {
        format!("{file}: warning: {}", e.kind)
    } else {
        format!("{file}:{}: warning: {}", e.line, e.kind)
    }
}
