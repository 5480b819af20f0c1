//! Loading netd's table with `nft -f -`: one input, one transaction, all or nothing.

use std::fmt;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::nat::ruleset::TABLE;

/// An `nft` run that failed.
#[derive(Debug)]
pub struct NftError {
    /// What was being done.
    pub op: &'static str,
    /// nft's message, or why it could not run.
    pub reason: String,
}

impl fmt::Display for NftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nft {}: {}", self.op, self.reason.trim_end())
    }
}

impl std::error::Error for NftError {}

/// The nft binary: `$NETD_NFT` or `nft` from `PATH`. It dies with netd: an nft
/// left running by a killed netd could otherwise load a stale table after the next
/// netd (or `netd down`) has moved on. nft's batch is one kernel transaction, so
/// killing it never leaves half a table.
fn nft() -> Command {
    let mut cmd = Command::new(std::env::var_os("NETD_NFT").unwrap_or_else(|| "nft".into()));
    // SAFETY: prctl(2) is async-signal-safe and touches only the child being made.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// Runs `batch` as one `nft -f -` transaction.
pub async fn run_batch(op: &'static str, batch: &str) -> Result<(), NftError> {
    run(op, batch, false).await.map(drop)
}

/// Whether `listing` (nft's) holds every element of `ruleset`: a listing taken
/// right after a load that lacks one was changed by someone else in between, and
/// must not be recorded as what netd loaded.
pub fn holds_every_element(listing: &str, ruleset: &crate::nat::ruleset::Ruleset) -> bool {
    let mut seen = std::collections::HashSet::new();
    for line in listing.lines() {
        let line = line.trim();
        let line = line.strip_prefix("elements = {").unwrap_or(line);
        for item in line.split(", ") {
            let item = item
                .trim()
                .trim_end_matches(',')
                .trim_end_matches('}')
                .trim();
            if !item.is_empty() {
                seen.insert(item);
            }
        }
    }
    ruleset.sets.iter().flat_map(|s| &s.elements).all(|e| {
        let text = match &e.data {
            Some(d) => format!("{} : {d}", e.key),
            None => e.key.clone(),
        };
        seen.contains(text.as_str())
    })
}

async fn run(op: &'static str, batch: &str, output: bool) -> Result<String, NftError> {
    let fail = |reason: String| NftError { op, reason };
    let mut child = nft()
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(if output {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run nft: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(batch.as_bytes())
            .await
            .map_err(|e| fail(format!("writing to nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| fail(format!("waiting for nft: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(fail(String::from_utf8_lossy(&out.stderr).into_owned()))
    }
}

/// The kernel's listing of netd's table, or `None` when there is no such table.
pub async fn list_table() -> Result<Option<String>, NftError> {
    let fail = |reason: String| NftError {
        op: "list table",
        reason,
    };
    let out = nft()
        .args(["list", "table"])
        .args(TABLE.split(' '))
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| fail(format!("cannot run nft: {e}")))?;
    if out.status.success() {
        return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No such file or directory") {
        Ok(None)
    } else {
        Err(fail(stderr.into_owned()))
    }
}

/// The kernel's whole ruleset, as `nft list ruleset` prints it (read only).
pub async fn list_ruleset() -> Result<String, NftError> {
    let out = nft()
        .args(["list", "ruleset"])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| NftError {
            op: "list ruleset",
            reason: format!("cannot run nft: {e}"),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(NftError {
            op: "list ruleset",
            reason: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// FNV-1a, 64 bits: a stable fingerprint of a table's text, kept in the state file to
/// tell whether the kernel still holds what netd loaded.
pub fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
