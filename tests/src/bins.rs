//! Locating the workspace's binaries (built by `cargo build --profile ci --workspace --bins`,
//! which `test.sh` runs before the tests, or by `cargo build --release`).

use std::path::PathBuf;

/// Path of the workspace binary `name` (`dnsd`, `netd`), from the profile folder that
/// holds the running test executable: a test always runs the binaries built with it
/// (no environment variable can point it at others).
pub fn path(name: &str) -> PathBuf {
    // target/<profile>/deps/<test-exe>
    let exe = std::env::current_exe().expect("the test executable has a path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf();
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --profile ci --workspace --bins` first (test.sh does)",
        bin.display()
    );
    bin
}
