//! The VRRP instances of a running daemon: started, stopped and restarted one by one
//! as the configuration changes, so a change to one `[[vrrp]]` block leaves the others
//! running untouched; and undoing what an instance that did not stop cleanly (kill -9,
//! a crash, a block removed while netd was down) left on the host, from the ownership
//! record (`crate::owned`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::config::Instance;
use super::io::{Env, run};
use super::status::Board;
use crate::links::Netlink;
use crate::owned::{Owned, OwnedVrrp};

/// One running instance.
struct Running {
    instance: Instance,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The running instances.
pub struct Supervisor {
    env: Env,
    running: BTreeMap<String, Running>,
}

impl Supervisor {
    /// No instance yet; statuses go to `board`, ownership to `state_dir`.
    pub fn new(netlink: Netlink, board: Arc<Board>, state_dir: Option<PathBuf>) -> Self {
        Self {
            env: Env {
                netlink,
                board,
                state_dir,
            },
            running: BTreeMap::new(),
        }
    }

    /// Makes the running instances those of `wanted`: instances removed or changed
    /// stop (resigning with priority 0), new or changed ones start, the rest go on.
    pub async fn set(&mut self, wanted: &[Instance]) {
        let names: Vec<String> = self.running.keys().cloned().collect();
        for name in names {
            let keep = wanted.iter().any(|w| {
                w.name == name && self.running.get(&name).is_some_and(|r| r.instance == *w)
            });
            if !keep && let Some(r) = self.running.remove(&name) {
                let changed = wanted.iter().any(|w| w.name == name);
                tracing::info!(instance = %name, "vrrp: {}", if changed { "configuration changed: restarting" } else { "removed from the configuration: stopping" });
                stop(r).await;
                if !changed {
                    self.env.board.remove(&name);
                }
            }
        }
        for instance in wanted {
            if self.running.contains_key(&instance.name) {
                continue;
            }
            let (stop, rx) = watch::channel(false);
            let task = tokio::spawn(run(instance.clone(), self.env.clone(), rx));
            self.running.insert(
                instance.name.clone(),
                Running {
                    instance: instance.clone(),
                    stop,
                    task,
                },
            );
        }
    }

    /// Stops every instance (each resigns with priority 0 and removes its addresses).
    pub async fn stop_all(&mut self) {
        let all = std::mem::take(&mut self.running);
        let stops: Vec<_> = all.into_values().map(stop).collect();
        for s in stops {
            s.await;
        }
    }
}

async fn stop(r: Running) {
    let _ = r.stop.send(true);
    if let Err(e) = r.task.await {
        tracing::error!(instance = %r.instance.name, error = %e, "vrrp: instance task failed");
    }
}

/// Removes what the recorded instance `name` left: its addresses on its interface
/// and its accept-mode table. Returns what it did and every error.
pub async fn undo(netlink: &Netlink, name: &str, owned: &OwnedVrrp) -> (Vec<String>, Vec<String>) {
    let (mut done, mut errors) = (Vec::new(), Vec::new());
    for net in &owned.addresses {
        match netlink.remove_address(&owned.interface, *net).await {
            Ok(()) => done.push(format!(
                "- vrrp {name}: address {net} on {}",
                owned.interface
            )),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if let Some(table) = &owned.table {
        match super::accept::remove_table(table).await {
            Ok(()) => done.push(format!("- vrrp {name}: table inet {table}")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    (done, errors)
}

/// Undoes the recorded instances that `configured` does not name (left by a daemon
/// that died, for blocks removed meanwhile) and drops them from the record.
pub async fn clean_leftovers(netlink: &Netlink, dir: &Path, configured: &[Instance]) {
    let owned = match Owned::load(dir) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "vrrp: cannot read the ownership record");
            return;
        }
    };
    for (name, left) in &owned.vrrp {
        if configured.iter().any(|c| &c.name == name) {
            continue;
        }
        let (done, errors) = undo(netlink, name, left).await;
        for d in done {
            tracing::info!(change = %d, "vrrp: left by an earlier run");
        }
        for e in &errors {
            tracing::error!(instance = %name, error = %e, "vrrp: cannot undo what an earlier run left");
        }
        if errors.is_empty()
            && let Err(e) = Owned::update(dir, |o| o.vrrp.remove(name))
        {
            tracing::error!(error = %e, "vrrp: cannot update the ownership record");
        }
    }
}
