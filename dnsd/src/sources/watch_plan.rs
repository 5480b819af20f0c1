//! What the zone watcher watches: the files the zones actually read, resolved through
//! symbolic links, and every link on the way — so that an edit to a symlinked zone
//! file's target or to an `$INCLUDE` outside the folder is seen, and a swap of a link
//! (a symlink-swap deploy of the zones folder, a Kubernetes ConfigMap's `..data`) is
//! seen too and leads to resolving everything again.
//!
//! ```text
//!  zones folder, each zone's files (as named) ─► resolve each path component by
//!  component ─► canonical file   ─► its folder is watched; events there: a change
//!            └► each link passed ─► its folder is watched; events there: a swap
//! ```
//!
//! Folders are watched one by one, never recursively: a `.git/objects` tree or a log
//! file beside the zones costs nothing, and only events for a file a zone reads (or a
//! new `NAME.zone` at the folder's top level) can start a reload. A path component
//! that does not exist yet (an `$INCLUDE` of a file still to be written) counts as a
//! link: its creation is a swap. The repository that holds the zones folder, if any, is
//! found too: while git holds its `index.lock` (a checkout, a merge) a reload waits.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use super::files::apex_of_file;
use crate::wire::name::Name;

/// Most symbolic links followed for one path (Linux's own limit).
const MAX_LINKS: usize = 40;

/// A path resolved component by component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The path with every link resolved (its last components may not exist).
    pub canonical: PathBuf,
    /// Every symbolic link passed, and the first missing component, each as its
    /// resolved folder joined with its name.
    pub links: Vec<PathBuf>,
    /// Whether a component is missing (then the last link is the first missing one).
    pub missing: bool,
}

/// Resolves `path` (made absolute against the working directory).
pub fn resolve(path: &Path) -> Resolved {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut links = Vec::new();
    let mut done = PathBuf::from("/");
    let mut todo: Vec<OsString> = Vec::new();
    push_components(&absolute, &mut todo);
    let mut followed = 0;
    let mut missing = false;
    while let Some(part) = todo.pop() {
        if part == ".." {
            done.pop();
            continue;
        }
        let next = done.join(&part);
        if missing {
            done = next;
            continue;
        }
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() && followed < MAX_LINKS => {
                followed += 1;
                links.push(next.clone());
                match std::fs::read_link(&next) {
                    Ok(target) => {
                        if target.is_absolute() {
                            done = PathBuf::from("/");
                        }
                        push_components(&target, &mut todo);
                    }
                    Err(_) => done = next,
                }
            }
            Ok(_) => done = next,
            Err(_) => {
                links.push(next.clone());
                missing = true;
                done = next;
            }
        }
    }
    Resolved {
        canonical: done,
        links,
        missing,
    }
}

/// Pushes `path`'s components onto the stack `todo`, the first on top.
fn push_components(path: &Path, todo: &mut Vec<OsString>) {
    let parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    todo.extend(parts.into_iter().rev());
}

/// What a path in a watched folder is to the zones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// The zones that read this file (or pass this link).
    pub zones: BTreeSet<Name>,
    /// A symbolic link (or a missing component) on the way to them: a change there
    /// is a swap, after which every path is resolved again.
    pub link: bool,
    /// A link on the way to the zones folder itself: every zone depends on it.
    pub all: bool,
}

/// What an event's path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// A file, link or folder the zones depend on.
    Known(&'a Entry),
    /// A file `NAME.zone` at the zones folder's top level that no zone reads yet.
    NewZone(Name),
    /// git's `index.lock` of the repository holding the zones.
    GitLock,
    /// Nothing a zone reads.
    Ignored,
}

/// The folders to watch and what each path in them is.
#[derive(Debug, Clone, Default)]
pub struct WatchPlan {
    /// The zones folder, resolved.
    zones_dir: PathBuf,
    entries: HashMap<PathBuf, Entry>,
    dirs: BTreeSet<PathBuf>,
    git_lock: Option<PathBuf>,
}

impl WatchPlan {
    /// The plan for a zones folder and every zone's files (`Reloader::watched`).
    pub fn new(zones_dir: &Path, zones: &[(Name, Vec<PathBuf>)]) -> Self {
        let mut plan = Self::default();
        let top = resolve(zones_dir);
        plan.zones_dir = top.canonical.clone();
        plan.dirs.insert(top.canonical.clone());
        // The folder's own name: a rename swap (`mv zones.new zones`) is a swap too.
        let mut links = top.links.clone();
        links.push(top.canonical.clone());
        for link in links {
            let entry = plan.entry(&link);
            entry.link = true;
            entry.all = true;
        }
        let mut folders: HashMap<PathBuf, Resolved> = HashMap::new();
        for (apex, files) in zones {
            for file in files {
                let resolved = resolve_cached(file, &mut folders);
                for link in &resolved.links {
                    let entry = plan.entry(link);
                    entry.link = true;
                    entry.zones.insert(apex.clone());
                }
                plan.entry(&resolved.canonical).zones.insert(apex.clone());
            }
        }
        plan.git_lock = git_dir(&top.canonical).map(|dir| dir.join("index.lock"));
        if plan.git_lock.is_none() {
            // `git init` or a clone after dnsd started: its `.git` appearing is a swap,
            // after which the plan finds the repository.
            plan.entry(&top.canonical.join(".git")).link = true;
        }
        if let Some(dir) = plan.git_lock.as_ref().and_then(|l| l.parent()) {
            plan.dirs.insert(dir.to_path_buf());
        }
        plan
    }

    /// The entry of `path`, its folder marked for watching.
    fn entry(&mut self, path: &Path) -> &mut Entry {
        if let Some(dir) = path.parent() {
            self.dirs.insert(dir.to_path_buf());
        }
        self.entries.entry(path.to_path_buf()).or_default()
    }

    /// The folders to watch (some may not exist).
    pub fn dirs(&self) -> &BTreeSet<PathBuf> {
        &self.dirs
    }

    /// git's index lock, when the zones folder is in a repository.
    pub fn git_lock(&self) -> Option<&Path> {
        self.git_lock.as_deref()
    }

    /// The zones folder, resolved.
    pub fn zones_dir(&self) -> &Path {
        &self.zones_dir
    }

    /// What an event for `path` (a watched folder joined with a name) is.
    pub fn classify(&self, path: &Path) -> Target<'_> {
        if let Some(entry) = self.entries.get(path) {
            return Target::Known(entry);
        }
        if self.git_lock.as_deref() == Some(path) {
            return Target::GitLock;
        }
        if path.parent() == Some(&self.zones_dir)
            && let Some(Ok(apex)) = apex_of_file(path)
        {
            return Target::NewZone(apex);
        }
        Target::Ignored
    }
}

/// Resolves `file`, its folder once per folder (thousands of zones share one).
fn resolve_cached(file: &Path, folders: &mut HashMap<PathBuf, Resolved>) -> Resolved {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return resolve(file);
    };
    let folder = folders
        .entry(dir.to_path_buf())
        .or_insert_with(|| resolve(dir))
        .clone();
    let mut links = folder.links;
    let joined = folder.canonical.join(name);
    if folder.missing {
        return Resolved {
            canonical: joined,
            links,
            missing: true,
        };
    }
    match std::fs::symlink_metadata(&joined) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let rest = resolve(&joined);
            links.extend(rest.links);
            Resolved {
                canonical: rest.canonical,
                links,
                missing: rest.missing,
            }
        }
        Ok(_) => Resolved {
            canonical: joined,
            links,
            missing: false,
        },
        Err(_) => {
            links.push(joined.clone());
            Resolved {
                canonical: joined,
                links,
                missing: true,
            }
        }
    }
}

/// The git folder of the repository holding `dir`: the nearest `.git` folder, or the
/// folder a `.git` file (a worktree) points to.
fn git_dir(dir: &Path) -> Option<PathBuf> {
    for folder in dir.ancestors() {
        let dot_git = folder.join(".git");
        let Ok(meta) = std::fs::metadata(&dot_git) else {
            continue;
        };
        if meta.is_dir() {
            return Some(dot_git);
        }
        let text = std::fs::read_to_string(&dot_git).ok()?;
        let pointed = text.trim().strip_prefix("gitdir:")?.trim();
        return Some(folder.join(pointed));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn n(text: &str) -> Name {
        Name::from_text(text, None).unwrap()
    }

    #[test]
    fn links_are_resolved_and_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("releases/r1/inc")).unwrap();
        std::fs::write(root.join("releases/r1/a.zone"), "").unwrap();
        symlink("releases/r1", root.join("zones")).unwrap();
        let r = resolve(&root.join("zones/a.zone"));
        assert_eq!(r.canonical, root.join("releases/r1/a.zone"));
        assert_eq!(r.links, vec![root.join("zones")]);
        // A missing component and what follows it.
        let r = resolve(&root.join("zones/inc/new/x.inc"));
        assert_eq!(r.canonical, root.join("releases/r1/inc/new/x.inc"));
        assert_eq!(
            r.links,
            vec![root.join("zones"), root.join("releases/r1/inc/new")]
        );
        assert_eq!(
            // `..` after a link leaves its target, as the kernel does.
            resolve(&root.join("zones/../r1/./a.zone")).canonical,
            root.join("releases/r1/a.zone")
        );
    }

    #[test]
    fn a_configmap_layout_is_watched_through_its_data_link() {
        // kubelet: NAME -> ..data/NAME, ..data -> ..2024_01_01_x, the files inside.
        let dir = tempfile::tempdir().unwrap();
        let zones = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(zones.join("..2024_01_01_x")).unwrap();
        std::fs::write(zones.join("..2024_01_01_x/a.example.zone"), "").unwrap();
        symlink("..2024_01_01_x", zones.join("..data")).unwrap();
        symlink("..data/a.example.zone", zones.join("a.example.zone")).unwrap();
        symlink("/nowhere/log", zones.join("dnsd.log")).unwrap();
        let plan = WatchPlan::new(
            &zones,
            &[(n("a.example."), vec![zones.join("a.example.zone")])],
        );
        let data = plan.classify(&zones.join("..data"));
        assert!(matches!(data, Target::Known(e) if e.link && e.zones.contains(&n("a.example."))));
        let file = plan.classify(&zones.join("..2024_01_01_x/a.example.zone"));
        assert!(matches!(file, Target::Known(e) if !e.link));
        assert!(plan.dirs().contains(&zones.join("..2024_01_01_x")));
        assert_eq!(
            plan.classify(&zones.join("b.example.zone")),
            Target::NewZone(n("b.example."))
        );
        assert_eq!(plan.classify(&zones.join("dnsd.log")), Target::Ignored);
        assert_eq!(plan.classify(&zones.join("sub/c.zone")), Target::Ignored);
    }

    #[test]
    fn the_repository_is_found_above_the_zones_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::create_dir_all(root.join("dns/zones")).unwrap();
        let plan = WatchPlan::new(&root.join("dns/zones"), &[]);
        assert_eq!(
            plan.git_lock(),
            Some(root.join(".git/index.lock").as_path())
        );
        assert_eq!(
            plan.classify(&root.join(".git/index.lock")),
            Target::GitLock
        );
        assert!(plan.dirs().contains(&root.join(".git")));
        assert!(
            !plan
                .dirs()
                .iter()
                .any(|d| d.starts_with(root.join(".git/objects")))
        );
    }
}
