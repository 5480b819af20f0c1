//! The answer options the daemon serves with (`answer::AnswerOptions`), built from
//! the configuration, and the rotation of a generated cookie secret: every
//! `secret-lifetime-hours` a new random secret makes cookies and the previous one
//! still checks them until the next rotation, so that a cookie stays good for its
//! whole hour (RFC 9018 §4.3) across a rotation. Configured secrets never rotate: a
//! cluster changes them in its configuration (RFC 9018 §5).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::answer::AnswerOptions;
use crate::config::Config;
use crate::cookies::{Secret, Secrets};
use crate::rrl::Limiter;

/// The options `config` asks for; `None` if the kernel gave no random secret.
pub fn answer_options(config: &Config) -> Option<AnswerOptions> {
    let cookies = if !config.cookies.enabled {
        None
    } else if let Some((first, rest)) = config.cookies.secrets.split_first() {
        Some(Secrets::new(*first, rest))
    } else {
        Some(Secrets::new(Secret::random()?, &[]))
    };
    Some(AnswerOptions {
        udp_max: config.udp_max_response_size,
        nsid: config.nsid.clone(),
        identity: config.identity.clone(),
        cookies,
        require_cookie: config.cookies.require,
        updates: config.dynamic.update.enabled(),
        // The daemon always runs the transfer service (`crate::xfr`).
        transfers: true,
    })
}

/// The rate limiter, if any listener is limited; its table is allocated here.
pub fn limiter(config: &Config) -> Option<Arc<Limiter>> {
    if !config.listen.iter().any(|addr| config.rrl.applies_to(addr)) {
        return None;
    }
    let seed = Secret::random().map_or(0, |s| {
        u64::from_le_bytes([
            s.0[0], s.0[1], s.0[2], s.0[3], s.0[4], s.0[5], s.0[6], s.0[7],
        ])
    });
    let limiter = Limiter::new(config.rrl.settings.clone(), seed);
    tracing::info!(
        table_bytes = limiter.table_bytes(),
        log_only = config.rrl.settings.log_only,
        "response rate limiting on"
    );
    Some(Arc::new(limiter))
}

/// Replaces a generated cookie secret every `lifetime` until `shutdown`; does
/// nothing when cookies are off or their secrets are configured.
pub async fn rotate_cookie_secret(
    config: &Config,
    options: Arc<ArcSwap<AnswerOptions>>,
    mut shutdown: watch::Receiver<bool>,
) {
    if !config.cookies.enabled || !config.cookies.secrets.is_empty() {
        return;
    }
    let lifetime: Duration = config.cookies.secret_lifetime;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(lifetime) => {}
            _ = shutdown.changed() => return,
        }
        let Some(next) = Secret::random() else {
            tracing::warn!("no random cookie secret from the kernel; keeping the current one");
            continue;
        };
        options.rcu(|current| {
            let mut options = AnswerOptions::clone(current);
            options.cookies = options.cookies.map(|s| s.rotated(next));
            options
        });
        tracing::info!("cookie secret rotated");
    }
}

/// Exempts the transfer peers of `config` from rate limiting, when `[rrl]
/// exempt-transfer-peers` (the default) says so: at start and on each SIGHUP.
pub fn exempt_transfer_peers(limiter: Option<&Limiter>, config: &Config) {
    let Some(limiter) = limiter else {
        return;
    };
    let settings = &config.rrl.settings;
    let peers = if config.rrl.exempt_transfer_peers {
        config
            .xfr
            .rrl_peers(settings.ipv4_prefix, settings.ipv6_prefix)
    } else {
        Vec::new()
    };
    if !peers.is_empty() {
        tracing::info!(
            peers = peers.len(),
            "rate limiting exempts the transfer peers"
        );
    }
    limiter.set_transfer_peers(peers);
}
