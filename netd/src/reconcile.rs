//! One reconciliation pass: the configuration's desired state against the kernel, and
//! the changes that move the kernel there (links, then sysctls, then the nftables
//! table), each logged; and the pass that removes everything netd owns.
//!
//! Everything that can refuse the configuration (unknown interfaces, a bridge name
//! taken by another kind of link) is checked before the first change, so a refused
//! configuration applies nothing.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::config::{Config, ConfigError};
use crate::links::{self, Kernel, LinkChange, LinkError, Netlink};
use crate::nat::apply::{self, NftError, fingerprint};
use crate::nat::render::render;
use crate::nat::ruleset::{Ruleset, delete_batch};
use crate::owned::{NftRecord, Owned};
use crate::sysctl::{self, SysctlChange};

/// Why a pass failed.
#[derive(Debug)]
pub enum ApplyError {
    /// The configuration does not fit this host; nothing was applied.
    Config(Vec<ConfigError>),
    /// A netlink operation failed.
    Link(LinkError),
    /// nft refused or could not run.
    Nft(NftError),
    /// The state file or a sysctl.
    Io(io::Error),
    /// Another netd holds the state folder.
    Lock(crate::lock::LockError),
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(errors) => {
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
            Self::Link(e) => write!(f, "{e}"),
            Self::Nft(e) => write!(f, "{e}"),
            Self::Io(e) => write!(f, "{e}"),
            Self::Lock(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ApplyError {}

impl From<LinkError> for ApplyError {
    fn from(e: LinkError) -> Self {
        Self::Link(e)
    }
}
impl From<NftError> for ApplyError {
    fn from(e: NftError) -> Self {
        Self::Nft(e)
    }
}
impl From<io::Error> for ApplyError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// What a pass needs between calls.
pub struct Context {
    /// Where the ownership record lives.
    pub state_dir: PathBuf,
    /// Route netlink.
    pub netlink: Netlink,
    /// What netd owns.
    pub owned: Owned,
    /// The ruleset this process loaded last: lets the next pass change only elements.
    pub loaded: Option<Ruleset>,
}

impl Context {
    /// Opens netlink and reads the ownership record.
    pub fn open(state_dir: &Path) -> Result<Self, ApplyError> {
        Ok(Self {
            state_dir: state_dir.to_path_buf(),
            netlink: Netlink::connect()?,
            owned: Owned::load(state_dir)?,
            loaded: None,
        })
    }

    /// Writes what this pass owns to the record, keeping what the VRRP instances of
    /// this process recorded there meanwhile.
    fn save(&mut self) -> Result<(), ApplyError> {
        let (bridges, sysctls, nft) = (
            self.owned.bridges.clone(),
            self.owned.sysctls.clone(),
            self.owned.nft,
        );
        let vrrp = Owned::update(&self.state_dir, |disk| {
            disk.bridges = bridges;
            disk.sysctls = sysctls;
            disk.nft = nft;
            disk.vrrp.clone()
        })?;
        self.owned.vrrp = vrrp;
        Ok(())
    }
}

/// Everything `apply` would change, computed without changing anything.
pub struct Plan {
    /// Link changes.
    pub links: Vec<LinkChange>,
    /// Sysctl changes.
    pub sysctls: Vec<SysctlChange>,
    /// The table netd would load.
    pub ruleset: Ruleset,
}

/// Checks `config` against `kernel` and computes the link and sysctl changes.
pub fn plan(config: &Config, kernel: &Kernel, owned: &Owned) -> Result<Plan, ApplyError> {
    let mut errors = config.check_interfaces(|n| kernel.links.contains_key(n));
    let links = match links::plan::plan(&config.bridges, kernel, &owned.bridges) {
        Ok(c) => c,
        Err(e) => {
            errors.extend(e);
            Vec::new()
        }
    };
    if !errors.is_empty() {
        return Err(ApplyError::Config(errors));
    }
    Ok(Plan {
        links,
        sysctls: sysctl::plan(config.forwarding)?,
        ruleset: render(config),
    })
}

/// Moves the kernel to `config`; returns the changes made, each also logged with
/// `reason` (`apply`, `config changed`, `drift repaired`).
pub async fn apply(
    ctx: &mut Context,
    config: &Config,
    reason: &str,
) -> Result<Vec<String>, ApplyError> {
    let kernel = ctx.netlink.kernel().await?;
    let plan = plan(config, &kernel, &ctx.owned)?;
    let mut done = Vec::new();

    for change in &plan.links {
        // Intent first: a change that makes netd own something is recorded before it
        // is made, so a failure or a kill right after it cannot make netd forget it
        // (and later adopt its own bridge). Giving something up is recorded after.
        let gains = change.gains_ownership();
        if gains {
            links::plan::record(&mut ctx.owned.bridges, change);
            ctx.save()?;
        }
        ctx.netlink.apply(change).await?;
        if !gains {
            links::plan::record(&mut ctx.owned.bridges, change);
            ctx.save()?;
        }
        info!(reason, change = %change, "link");
        done.push(change.to_string());
    }

    for change in &plan.sysctls {
        ctx.owned
            .sysctls
            .entry(change.name.to_string())
            .or_insert_with(|| change.was.clone());
        ctx.save()?;
        sysctl::write(change.name, change.value)?;
        info!(reason, change = %change, "sysctl");
        done.push(change.to_string());
    }

    let table = if config.bridges.is_empty() && config.nat.is_empty() && config.forwards.is_empty()
    {
        // Nothing to translate or forward (a VRRP-only host): no table at all.
        drop_table(ctx).await?
    } else {
        load_table(ctx, &plan.ruleset).await?
    };
    if let Some(change) = table {
        info!(reason, change = %change, "nftables");
        done.push(change);
    }
    Ok(done)
}

/// Loads `ruleset` unless the kernel already holds it: as element changes when this
/// process loaded the table last and nobody touched it since, else whole.
async fn load_table(ctx: &mut Context, ruleset: &Ruleset) -> Result<Option<String>, ApplyError> {
    let text = ruleset.table_text();
    let rendered = fingerprint(&text);
    let listing_before = apply::list_table().await?;
    let intact = match (ctx.owned.nft, &listing_before) {
        (Some(r), Some(l)) => fingerprint(l) == r.listing,
        _ => false,
    };
    if intact && ctx.owned.nft.is_some_and(|r| r.rendered == rendered) {
        return Ok(None);
    }
    let delta = match (&ctx.loaded, intact) {
        (Some(old), true) => ruleset.delta_batch(old),
        _ => None,
    };
    let change = match delta {
        Some(batch) => {
            apply::run_batch("change elements", &batch).await?;
            format!("~ nftables: {} element change(s)", batch.lines().count())
        }
        None => {
            // `add; delete; table {..}`: one transaction, safe whether the table exists.
            apply::run_batch("load table", &format!("{}{text}", delete_batch())).await?;
            let what = if listing_before.is_some() {
                "replaced"
            } else {
                "created"
            };
            format!(
                "~ nftables: table inet netd {what} ({} elements)",
                ruleset.element_count()
            )
        }
    };
    let listing = apply::list_table().await?.unwrap_or_default();
    // Someone changed the table between the load and this listing: record nothing
    // that matches it, so the next pass sees drift and loads it again.
    let listing = if apply::holds_every_element(&listing, ruleset) {
        fingerprint(&listing)
    } else {
        warn!("nftables: table inet netd changed while it was loaded; reloading next pass");
        0
    };
    ctx.owned.nft = Some(NftRecord { rendered, listing });
    ctx.loaded = Some(ruleset.clone());
    ctx.save()?;
    Ok(Some(change))
}

/// What in the host's other tables would break `config`'s forwards or masquerade
/// (`crate::nat::coexist`); nothing is changed.
pub async fn coexistence(config: &Config) -> Result<Vec<crate::nat::coexist::Warning>, NftError> {
    if config.forwards.is_empty() && config.nat.is_empty() {
        return Ok(Vec::new());
    }
    let listing = apply::list_ruleset().await?;
    Ok(crate::nat::coexist::check(&listing, config))
}

/// Removes netd's table if netd loaded one.
async fn drop_table(ctx: &mut Context) -> Result<Option<String>, ApplyError> {
    if ctx.owned.nft.is_none() {
        return Ok(None);
    }
    apply::run_batch("delete table", &delete_batch()).await?;
    ctx.owned.nft = None;
    ctx.loaded = None;
    ctx.save()?;
    Ok(Some("- nftables: table inet netd".into()))
}

/// Removes everything netd owns: what VRRP instances that did not stop cleanly left
/// (addresses, accept-mode tables), its table, what it did to links, the sysctls it
/// changed (restored). Goes on after an error and returns every error.
pub async fn down(ctx: &mut Context) -> (Vec<String>, Vec<String>) {
    let mut done = Vec::new();
    let mut errors = Vec::new();
    let vrrp = std::mem::take(&mut ctx.owned.vrrp);
    for (name, left) in vrrp {
        let (d, e) = crate::vrrp::supervise::undo(&ctx.netlink, &name, &left).await;
        for change in &d {
            info!(change = %change, "down");
        }
        done.extend(d);
        if !e.is_empty() {
            errors.extend(e);
            ctx.owned.vrrp.insert(name, left);
        }
    }
    // The table is netd's by its name, recorded or not (a lost state folder).
    let existed = apply::list_table().await.map(|t| t.is_some());
    match apply::run_batch("delete table", &delete_batch()).await {
        Ok(()) => {
            ctx.owned.nft = None;
            ctx.loaded = None;
            if existed.unwrap_or(true) {
                info!(change = "- nftables: table inet netd", "down");
                done.push("- nftables: table inet netd".to_string());
            }
        }
        Err(e) => errors.push(e.to_string()),
    }
    match ctx.netlink.kernel().await {
        Ok(kernel) => {
            let owned = ctx.owned.bridges.clone();
            for (name, mine) in &owned {
                for change in links::plan::undo(name, mine, &kernel) {
                    match ctx.netlink.apply(&change).await {
                        Ok(()) => {
                            info!(change = %change, "down");
                            done.push(change.to_string());
                        }
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                // Whatever is left of a bridge netd no longer touches is not its own.
                ctx.owned.bridges.remove(name);
            }
        }
        Err(e) => errors.push(e.to_string()),
    }
    let sysctls = std::mem::take(&mut ctx.owned.sysctls);
    for (name, was) in sysctls {
        match sysctl::write(&name, &was) {
            Ok(()) => {
                let change = format!("~ sysctl {name} -> {was} (restored)");
                info!(change = %change, "down");
                done.push(change);
            }
            Err(e) => {
                errors.push(e.to_string());
                ctx.owned.sysctls.insert(name, was);
            }
        }
    }
    // `down` holds the state lock: no other writer, the record is written whole.
    if let Err(e) = ctx.owned.save(&ctx.state_dir) {
        warn!(error = %e, "cannot update the ownership record");
        errors.push(e.to_string());
    }
    (done, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::KernelLink;

    const CONFIG: &str = "[[bridge]]\nname = \"br-svc\"\naddresses = [\"198.51.100.1/24\"]\n\
        members = [\"svc1\"]\n[[nat]]\nsource = [\"198.51.100.0/24\"]\negress = \"up0\"\n\
        [forwarding]\nipv4 = false\n";

    fn kernel(names: &[&str]) -> Kernel {
        let mut k = Kernel::default();
        for (i, n) in names.iter().enumerate() {
            k.links.insert(
                n.to_string(),
                KernelLink {
                    index: i as u32 + 1,
                    up: true,
                    ..KernelLink::default()
                },
            );
        }
        k
    }

    #[test]
    fn an_unknown_interface_refuses_the_whole_plan() {
        let config = crate::config::parse(CONFIG).unwrap();
        let Err(ApplyError::Config(errors)) = plan(&config, &kernel(&["svc1"]), &Owned::default())
        else {
            panic!("accepted")
        };
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["7: nat[0].egress: unknown interface \"up0\""]);
    }

    #[test]
    fn an_empty_host_gets_the_bridge_and_the_table() {
        let config = crate::config::parse(CONFIG).unwrap();
        let p = plan(&config, &kernel(&["svc1", "up0"]), &Owned::default()).unwrap();
        let links: Vec<String> = p.links.iter().map(ToString::to_string).collect();
        assert_eq!(
            links,
            [
                "+ bridge br-svc",
                "+ port svc1 -> br-svc",
                "+ address 198.51.100.1/24 on br-svc",
                "~ up br-svc"
            ]
        );
        // Recorded before it is made: what makes netd own something.
        let gains: Vec<bool> = p.links.iter().map(LinkChange::gains_ownership).collect();
        assert_eq!(gains, [true, true, true, false]);
        assert!(p.sysctls.is_empty());
        assert!(p.ruleset.table_text().contains("oifname \"up0\" ip saddr"));
    }

    #[test]
    fn an_owned_bridge_no_longer_configured_is_removed() {
        let config = crate::config::parse("[forwarding]\nipv4 = false\n").unwrap();
        let mut owned = Owned::default();
        owned.bridges.insert(
            "br-old".into(),
            crate::links::OwnedBridge {
                created: true,
                ..Default::default()
            },
        );
        let mut k = kernel(&["up0"]);
        k.links.insert(
            "br-old".into(),
            KernelLink {
                index: 9,
                is_bridge: true,
                ..KernelLink::default()
            },
        );
        let p = plan(&config, &k, &owned).unwrap();
        let links: Vec<String> = p.links.iter().map(ToString::to_string).collect();
        assert_eq!(links, ["- bridge br-old"]);
        assert!(!p.links[0].gains_ownership());
    }
}
