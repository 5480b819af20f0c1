//! An interface's carrier (operational state), followed through rtnetlink link
//! events rather than polled: VRRP goes to Fault the moment a cable is pulled.
//!
//! A netlink socket joins the RTMGRP_LINK group first and then asks for the link's
//! current state, so no change between the two is missed. The interface is followed
//! by name: deleted, it has no carrier; created again (a new index), it is found again.

use futures_util::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::sys::AsyncSocket;
use tokio::sync::watch;

use crate::links::LinkError;

/// Whether a link message says the link is up with its carrier (IFF_UP and
/// IFF_RUNNING: operational state up, or unknown for links that report none).
pub fn has_carrier(msg: &LinkMessage) -> bool {
    msg.header.flags.contains(LinkFlags::Up) && msg.header.flags.contains(LinkFlags::Running)
}

fn name_of(msg: &LinkMessage) -> Option<&str> {
    msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

/// Follows the carrier of interface `name`: the receiver holds its current state
/// (false while the interface does not exist) and changes with every link event.
/// The watcher ends when every receiver is dropped and the next event comes.
pub async fn watch(name: &str) -> Result<watch::Receiver<bool>, LinkError> {
    let fail = |reason: String| LinkError {
        op: format!("follow the carrier of {name}"),
        reason,
    };
    let (mut conn, handle, mut events) =
        rtnetlink::new_connection().map_err(|e| fail(e.to_string()))?;
    let groups = rtnetlink::sys::SocketAddr::new(0, rtnetlink::constants::RTMGRP_LINK);
    conn.socket_mut()
        .socket_mut()
        .bind(&groups)
        .map_err(|e| fail(e.to_string()))?;
    tokio::spawn(conn);
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    let now = match links.try_next().await {
        Ok(Some(msg)) => has_carrier(&msg),
        Ok(None) => false,
        Err(_) => false,
    };
    let (tx, rx) = watch::channel(now);
    let name = name.to_string();
    tokio::spawn(async move {
        while let Some((msg, _)) = events.next().await {
            let up = match &msg.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m))
                    if name_of(m) == Some(name.as_str()) =>
                {
                    has_carrier(m)
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(m))
                    if name_of(m) == Some(name.as_str()) =>
                {
                    false
                }
                _ => continue,
            };
            tx.send_if_modified(|v| std::mem::replace(v, up) != up);
            if tx.is_closed() {
                return;
            }
        }
    });
    Ok(rx)
}
