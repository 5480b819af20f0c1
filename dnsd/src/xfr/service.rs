//! The transfer service: what the fronts hand over when `respond` defers it
//! (`AnswerOptions::transfers`): TSIG-signed requests, NOTIFY, AXFR and IXFR.
//!
//! ```text
//!  front (UDP worker / TCP connection)
//!     │ deferred + takes(request)
//!     ▼
//!  TSIG check (RFC 8945 §5.2) ── failed ──► FORMERR / NOTAUTH + TSIG error
//!     │ unsigned, or the key that signed it
//!     ├─ NOTIFY ─► allow-notify ─► the secondary's refresh (`notify_sink`) ─► NOERROR
//!     ├─ AXFR/IXFR ─► allow-transfer, zone, limit ─► plan (out.rs) ─► UDP: one message
//!     │                                                             TCP: streamed
//!     └─ any other signed query ─► respond() with the key in the context
//!  every response to a signed request is signed (a transfer: every message, §5.3.1)
//! ```
//!
//! A refused request is answered as before this service existed (REFUSED with EDE 18
//! Prohibited for a zone we serve, NOTAUTH for any other; NOTIFY: REFUSED), logged
//! with zone, peer and reason, and counted.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::access::XfrSettings;
use super::out::{self, Plan, Producer};
use super::stats::XfrStats;
use super::writer::{MESSAGE_LIMIT, Message};
use crate::answer::{AnswerOptions, Outcome, RequestContext, Transport, respond};
use crate::front::deferred::{DeferredQuery, Recursion};
use crate::manager::{Manager, Published};
use crate::tsig::{self, Check, ResponseSigner, Signed};
use crate::wire::message::{self, Request, opcode, rcode};
use crate::wire::name::Name;
use crate::wire::reader::Section;
use crate::zone::Zone;

/// A NOTIFY a secondary zone's refresh should act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyIn {
    /// The zone (lowercased apex).
    pub zone: Name,
    /// Who sent it.
    pub from: IpAddr,
    /// The serial its SOA announced, if it carried one.
    pub serial: Option<u32>,
}

/// The transfer service (see the module documentation).
pub struct Service {
    manager: Arc<Manager>,
    settings: Arc<ArcSwap<XfrSettings>>,
    permits: Arc<Semaphore>,
    stats: Arc<XfrStats>,
    notify_sink: OnceLock<mpsc::UnboundedSender<NotifyIn>>,
    /// The rate limiter whose transfer-peer exemptions follow the settings.
    limiter: OnceLock<Arc<crate::rrl::Limiter>>,
}

/// What a request prepared for the TCP path turned into.
enum Prepared {
    /// An answer was written (maybe a refusal); send it.
    Answered(Option<Outcome>),
    /// A transfer to stream.
    Transfer(Box<Transfer>),
}

/// A transfer admitted and planned, not sent yet.
struct Transfer {
    zone: Arc<Zone>,
    plan: Plan,
    signer: Option<ResponseSigner>,
    name: String,
    peer: IpAddr,
    client_serial: Option<u32>,
    _permit: OwnedSemaphorePermit,
}

impl Service {
    /// A service over `manager`'s zones with `settings`.
    pub fn new(manager: Arc<Manager>, settings: XfrSettings, stats: Arc<XfrStats>) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(settings.max_transfers_out)),
            manager,
            settings: Arc::new(ArcSwap::from_pointee(settings)),
            stats,
            notify_sink: OnceLock::new(),
            limiter: OnceLock::new(),
        }
    }

    /// The rate limiter that exempts the transfer peers (set once, at start).
    pub fn set_limiter(&self, limiter: Arc<crate::rrl::Limiter>) {
        let _ = self.limiter.set(limiter);
    }

    /// The rate limiter, when UDP responses are limited.
    pub fn limiter(&self) -> Option<&crate::rrl::Limiter> {
        self.limiter.get().map(|l| &**l)
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<XfrStats> {
        &self.stats
    }

    /// Where NOTIFY for secondary zones goes (set once, by the secondaries' refresh).
    pub fn set_notify_sink(&self, sink: mpsc::UnboundedSender<NotifyIn>) {
        let _ = self.notify_sink.set(sink);
    }

    /// Replaces the settings (a configuration reload): access lists and keys at
    /// once, and through [`Self::shared_settings`] the primaries, keys and NOTIFY
    /// targets the refresh and NOTIFY-out tasks use from their next step.
    pub fn set_settings(&self, settings: XfrSettings) {
        self.settings.store(Arc::new(settings));
    }

    /// The settings as they are now, shared with the transfer tasks.
    pub fn shared_settings(&self) -> Arc<ArcSwap<XfrSettings>> {
        self.settings.clone()
    }

    /// Whether `request`, which `respond` deferred, is this service's: NOTIFY, AXFR,
    /// IXFR, or signed (else it is the resolver's).
    pub fn takes(request: &[u8]) -> bool {
        match message::parse(request) {
            Ok(r) => {
                r.header.opcode() == opcode::NOTIFY
                    || r.tsig.is_some()
                    || r.question.is_some_and(|q| matches!(q.qtype, 251 | 252))
            }
            Err(_) => false,
        }
    }

    /// Answers `request` (UDP, or TCP except for transfers, which [`Self::serve_tcp`]
    /// streams) into `out`; None when nothing is to be sent.
    pub fn answer(
        &self,
        request: &[u8],
        context: &RequestContext<'_>,
        out: &mut Vec<u8>,
    ) -> Option<Outcome> {
        match self.prepare(request, context, out) {
            Prepared::Answered(outcome) => outcome,
            // Only TCP plans transfers to stream.
            Prepared::Transfer(_) => None,
        }
    }

    /// Answers `request`, which came over TCP, on `stream`: one response, or every
    /// message of a transfer, each write within the write timeout.
    pub async fn serve_tcp<W: AsyncWrite + Unpin>(
        &self,
        request: &[u8],
        context: RequestContext<'static>,
        options: Arc<AnswerOptions>,
        stream: &mut W,
    ) -> io::Result<()> {
        let context = context.with_options(&options, crate::front::unix_now());
        let mut out = Vec::with_capacity(512);
        let timeout = self.settings.load().write_timeout;
        let transfer = match self.prepare(request, &context, &mut out) {
            Prepared::Answered(None) => return Ok(()),
            Prepared::Answered(Some(_)) => {
                let mut framed = (out.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&out);
                return write_within(stream, &framed, timeout).await;
            }
            Prepared::Transfer(transfer) => transfer,
        };
        self.stream(request, &context, *transfer, stream, timeout)
            .await
    }

    /// Streams a planned transfer.
    async fn stream<W: AsyncWrite + Unpin>(
        &self,
        request: &[u8],
        context: &RequestContext<'_>,
        mut transfer: Transfer,
        stream: &mut W,
        timeout: Duration,
    ) -> io::Result<()> {
        let started = Instant::now();
        let parsed = message::parse(request).map_err(|_| io::Error::other("request"))?;
        let question = parsed.question.map(|q| q.wire);
        let zone = transfer.zone.clone();
        let apex = zone.apex().as_wire();
        let mut producer = Producer::new(
            out::records(&zone, &transfer.plan),
            parsed.header.id,
            parsed.header.flags,
            question,
            apex,
        );
        let overhead = transfer.signer.as_ref().map_or(0, ResponseSigner::overhead);
        let mut msg = Message::new(MESSAGE_LIMIT - overhead);
        let mut batch: Vec<u8> = Vec::with_capacity(1 << 16);
        let mut bytes = 0u64;
        let kind = transfer.plan.name();
        let result: io::Result<()> = async {
            loop {
                let more = producer
                    .next_message(&mut msg)
                    .map_err(|e| io::Error::other(e.to_string()))?;
                if !more {
                    break;
                }
                if let Some(signer) = &mut transfer.signer {
                    signer.sign(msg.buf_mut(), tsig::unix_now());
                }
                let m = msg.bytes();
                batch.extend_from_slice(&(m.len() as u16).to_be_bytes());
                batch.extend_from_slice(m);
                if batch.len() >= 1 << 16 || !producer.has_more() {
                    write_within(stream, &batch, timeout).await?;
                    bytes += batch.len() as u64;
                    batch.clear();
                }
            }
            Ok(())
        }
        .await;
        let ms = started.elapsed().as_millis() as u64;
        let serial = zone.serial().unwrap_or(0);
        match &result {
            Ok(()) => {
                self.stats
                    .transfer_out(&transfer.name, transfer.peer, kind, "ok", bytes, ms);
                tracing::info!(
                    zone = %transfer.name,
                    remote = %context.client,
                    op = kind,
                    serial = %match transfer.client_serial {
                        Some(from) => format!("{from}→{serial}"),
                        None => serial.to_string(),
                    },
                    records = producer.written,
                    bytes,
                    ms,
                    key = context.tsig.map(|k| k.name().to_string()),
                    "transfer out"
                );
            }
            Err(e) => {
                self.stats
                    .transfer_out(&transfer.name, transfer.peer, kind, "error", bytes, ms);
                tracing::warn!(
                    zone = %transfer.name,
                    remote = %context.client,
                    op = kind,
                    serial,
                    records = producer.written,
                    "transfer out failed: {e}"
                );
            }
        }
        result
    }

    /// Checks and routes one request: an answer in `out`, or a transfer to stream.
    fn prepare(&self, request: &[u8], context: &RequestContext<'_>, out: &mut Vec<u8>) -> Prepared {
        let Ok(parsed) = message::parse(request) else {
            return Prepared::Answered(None);
        };
        let settings = self.settings.load();
        let now = tsig::unix_now();
        let signed = match settings.keys.check_request(request, now) {
            Check::Unsigned => None,
            Check::Verified(signed) => Some(signed),
            Check::Failed(failure) => {
                self.stats.tsig_failure(failure.kind.name());
                tracing::warn!(
                    remote = %context.client,
                    key = %failure.key_text(),
                    error = failure.kind.name(),
                    "request refused: TSIG"
                );
                tsig::failure_response(request, &failure, now, out);
                return Prepared::Answered(Some(error_outcome(&parsed, out)));
            }
        };
        // Answers the service writes itself are from the zones with the key known;
        // `respond` must not defer them again.
        let mut options = context.options.clone();
        options.transfers = false;
        let inner = match &signed {
            Some(s) => RequestContext {
                options: &options,
                ..context.with_tsig(&s.key)
            },
            None => RequestContext {
                options: &options,
                ..*context
            },
        };
        let key = signed.as_ref().map(|s| s.key.name().clone());
        let is_transfer = parsed
            .question
            .is_some_and(|q| matches!(q.qtype, 251 | 252));
        if parsed.header.opcode() == opcode::NOTIFY {
            let outcome = self.notify(&parsed, request, &inner, key.as_ref(), &settings, out);
            return Prepared::Answered(sign(outcome, signed.as_ref(), out, now));
        }
        if !is_transfer {
            let outcome = respond_signed(request, &inner, &self.manager, out);
            return Prepared::Answered(sign(outcome, signed.as_ref(), out, now));
        }
        // AXFR and IXFR.
        let Some(question) = parsed.question else {
            return Prepared::Answered(None);
        };
        let apex = match Name::from_wire(question.name) {
            Ok(name) => name.to_lowercase(),
            Err(_) => return Prepared::Answered(None),
        };
        let name = apex.to_string();
        let peer = context.client.ip();
        let kind = if question.qtype == 252 {
            "axfr"
        } else {
            "ixfr"
        };
        let zone_settings = settings.zone(&apex);
        let handle = self.manager.zone(&apex);
        let admitted = zone_settings.allow_transfer.admits(peer, key.as_ref());
        if !admitted || handle.is_none() {
            // As before this service: REFUSED (EDE 18) for a zone we serve, NOTAUTH
            // for another.
            if handle.is_some() {
                self.stats.transfer_out(&name, peer, kind, "refused", 0, 0);
                tracing::warn!(
                    zone = %name,
                    remote = %context.client,
                    op = kind,
                    key = key.as_ref().map(|k| k.to_string()),
                    "transfer refused: not in allow-transfer"
                );
            }
            let outcome = respond(&self.manager.zone_set().load(), request, &inner, out);
            return Prepared::Answered(sign(outcome, signed.as_ref(), out, now));
        }
        let Some(handle) = handle else {
            return Prepared::Answered(None);
        };
        let published = handle.published();
        let Some(zone) = published.zone.clone() else {
            let outcome = refusal(&parsed, rcode::SERVFAIL, out);
            return Prepared::Answered(sign(outcome, signed.as_ref(), out, now));
        };
        if context.transport == Transport::Udp {
            if question.qtype == 252 {
                // RFC 5936 §4.2: AXFR is TCP only (NOTIMP, as NSD).
                let outcome = respond(&self.manager.zone_set().load(), request, &inner, out);
                return Prepared::Answered(sign(outcome, signed.as_ref(), out, now));
            }
            let outcome = self.ixfr_udp(
                &parsed,
                request,
                &published,
                &zone,
                signed.as_ref(),
                peer,
                out,
            );
            return Prepared::Answered(outcome);
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.stats.transfer_out(&name, peer, kind, "refused", 0, 0);
            tracing::warn!(
                zone = %name,
                remote = %context.client,
                op = kind,
                "transfer refused: max-transfers-out reached"
            );
            let outcome = refusal(&parsed, rcode::REFUSED, out);
            return Prepared::Answered(sign(outcome, signed.as_ref(), out, now));
        };
        let (plan, client_serial) = if question.qtype == 252 {
            (Plan::Axfr, None)
        } else {
            match out::soa_serial(request, apex.as_wire(), Section::Authority) {
                Some(serial) => (out::plan_ixfr(&published, &zone, serial), Some(serial)),
                None => {
                    // RFC 1995 §3: IXFR carries the client's SOA; without it, FORMERR.
                    let outcome = refusal(&parsed, rcode::FORMERR, out);
                    return Prepared::Answered(sign(outcome, signed.as_ref(), out, now));
                }
            }
        };
        Prepared::Transfer(Box::new(Transfer {
            zone,
            plan,
            signer: signed.as_ref().map(ResponseSigner::new),
            name,
            peer,
            client_serial,
            _permit: permit,
        }))
    }

    /// IXFR over UDP (RFC 1995 §2): the answer in one datagram when it fits; else our
    /// SOA alone with TC, which tells the client to ask over TCP.
    #[allow(clippy::too_many_arguments)]
    fn ixfr_udp(
        &self,
        parsed: &Request<'_>,
        request: &[u8],
        published: &Published,
        zone: &Zone,
        signed: Option<&Signed>,
        peer: IpAddr,
        out: &mut Vec<u8>,
    ) -> Option<Outcome> {
        let now = tsig::unix_now();
        let question = parsed.question?;
        let apex = zone.apex().as_wire();
        let name = zone.apex().to_string();
        let client_serial = out::soa_serial(request, apex, Section::Authority)?;
        let plan = out::plan_ixfr(published, zone, client_serial);
        let overhead = signed.map_or(0, |s| ResponseSigner::new(s).overhead());
        let limit = udp_limit(parsed).saturating_sub(overhead);
        let mut msg = Message::new(limit);
        let mut producer = Producer::new(
            out::records(zone, &plan),
            parsed.header.id,
            parsed.header.flags,
            Some(question.wire),
            apex,
        );
        let fits = producer.next_message(&mut msg).is_ok() && !producer.has_more();
        let kind = if fits { plan.name() } else { "soa" };
        if !fits {
            let soa_only = Plan::SoaOnly;
            let mut producer = Producer::new(
                out::records(zone, &soa_only),
                parsed.header.id,
                parsed.header.flags,
                Some(question.wire),
                apex,
            );
            let _ = producer.next_message(&mut msg);
            let flags = u16::from_be_bytes([msg.bytes()[2], msg.bytes()[3]]);
            msg.set_flags(flags | message::flags::TC);
        }
        out.clear();
        out.extend_from_slice(msg.bytes());
        if let Some(s) = signed {
            ResponseSigner::new(s).sign(out, now);
        }
        self.stats
            .transfer_out(&name, peer, kind, "ok", out.len() as u64, 0);
        Some(Outcome {
            rcode: rcode::NOERROR,
            qtype: question.qtype,
            len: out.len(),
            truncated: !fits,
            limit: crate::answer::LimitKey::ERROR,
            cookie: Default::default(),
            deferred: false,
        })
    }

    /// NOTIFY (RFC 1996 §3.7): admitted by the zone's allow-notify, for a secondary
    /// zone of ours: the refresh is told, and the answer is NOERROR echoing the
    /// question. Otherwise refused as before this service.
    fn notify(
        &self,
        parsed: &Request<'_>,
        request: &[u8],
        inner: &RequestContext<'_>,
        key: Option<&Name>,
        settings: &XfrSettings,
        out: &mut Vec<u8>,
    ) -> Option<Outcome> {
        let question = parsed.question?;
        let apex = Name::from_wire(question.name).ok()?.to_lowercase();
        let name = apex.to_string();
        let peer = inner.client.ip();
        let zone = settings.zone(&apex);
        let ours = self.manager.zone(&apex).is_some();
        let admitted = ours && zone.is_secondary() && zone.admits_notify(peer, key);
        if !admitted {
            if ours {
                self.stats.notify_in(&name, peer, "refused");
                tracing::warn!(
                    zone = %name,
                    remote = %inner.client,
                    key = key.map(|k| k.to_string()),
                    "NOTIFY refused: {}",
                    if zone.is_secondary() { "not in allow-notify" } else { "not a secondary zone" }
                );
            }
            return respond(&self.manager.zone_set().load(), request, inner, out);
        }
        let serial = out::soa_serial(request, apex.as_wire(), Section::Answer);
        self.stats.notify_in(&name, peer, "accepted");
        tracing::info!(zone = %name, remote = %inner.client, serial, "NOTIFY received");
        if let Some(sink) = self.notify_sink.get() {
            let _ = sink.send(NotifyIn {
                zone: apex,
                from: peer,
                serial,
            });
        }
        // RFC 1996 §4.7: the response echoes the question, with QR and AA.
        out.clear();
        let flags = 0x8400 | (parsed.header.flags & 0x7900);
        out.extend_from_slice(&parsed.header.id.to_be_bytes());
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(question.wire);
        Some(Outcome {
            rcode: rcode::NOERROR,
            qtype: question.qtype,
            len: out.len(),
            truncated: false,
            limit: crate::answer::LimitKey::ERROR,
            cookie: Default::default(),
            deferred: false,
        })
    }
}

impl Recursion for Service {
    fn answer_now(
        &self,
        request: &[u8],
        context: &RequestContext<'_>,
        out: &mut Vec<u8>,
    ) -> Option<Outcome> {
        self.answer(request, context, out)
    }

    fn defer(&self, _query: DeferredQuery) -> bool {
        // Everything the service takes over UDP is answered at once.
        false
    }
}

/// The largest UDP response `request` accepts.
fn udp_limit(parsed: &Request<'_>) -> usize {
    parsed
        .edns
        .map_or(512, |e| usize::from(e.udp_size.max(512)))
}

/// `respond` for a request the service passes back (unsigned, or verified): an answer
/// from the zones; a name the zones do not hold gets REFUSED (signed requests are not
/// recursed for).
fn respond_signed(
    request: &[u8],
    context: &RequestContext<'_>,
    manager: &Manager,
    out: &mut Vec<u8>,
) -> Option<Outcome> {
    let zones = manager.zone_set().load();
    match respond(&zones, request, context, out) {
        Some(outcome) if outcome.deferred => crate::answer::refuse(request, context, out),
        other => other,
    }
}

/// A header-and-question answer with `code`.
fn refusal(parsed: &Request<'_>, code: u16, out: &mut Vec<u8>) -> Option<Outcome> {
    out.clear();
    let flags = 0x8000 | (parsed.header.flags & 0x7900) | code;
    out.extend_from_slice(&parsed.header.id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    if let Some(q) = parsed.question {
        out[5] = 1;
        out.extend_from_slice(q.wire);
    }
    Some(Outcome {
        rcode: code,
        qtype: parsed.question.map_or(0, |q| q.qtype),
        len: out.len(),
        truncated: false,
        limit: crate::answer::LimitKey::ERROR,
        cookie: Default::default(),
        deferred: false,
    })
}

/// Signs the answer in `out` to a verified request.
fn sign(
    outcome: Option<Outcome>,
    signed: Option<&Signed>,
    out: &mut Vec<u8>,
    now: u64,
) -> Option<Outcome> {
    let mut outcome = outcome?;
    if let Some(signed) = signed
        && !out.is_empty()
    {
        ResponseSigner::new(signed).sign(out, now);
        outcome.len = out.len();
    }
    Some(outcome)
}

/// The outcome of a TSIG error response in `out`.
fn error_outcome(parsed: &Request<'_>, out: &[u8]) -> Outcome {
    let code = out.get(3).map_or(rcode::FORMERR, |b| u16::from(b & 0x0f));
    Outcome {
        rcode: code,
        qtype: parsed.question.map_or(0, |q| q.qtype),
        len: out.len(),
        truncated: false,
        limit: crate::answer::LimitKey::ERROR,
        cookie: Default::default(),
        deferred: false,
    }
}

/// Writes `bytes` within `timeout`: a secondary that stops reading is cut off, one
/// that reads slowly is not (the TCP idle timeout does not apply here).
async fn write_within<W: AsyncWrite + Unpin>(
    stream: &mut W,
    bytes: &[u8],
    timeout: Duration,
) -> io::Result<()> {
    match tokio::time::timeout(timeout, stream.write_all(bytes)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("write timeout ({} ms)", timeout.as_millis()),
        )),
    }
}

/// The address a client is logged and counted by.
pub fn peer_of(addr: SocketAddr) -> IpAddr {
    match addr.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr.ip(), IpAddr::V4),
        v4 => v4,
    }
}
