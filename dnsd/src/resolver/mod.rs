//! The recursive resolver: answers the requests the front defers to it (names in no
//! zone served, on listeners that recurse for the client) by iterating from the root
//! hints, through a shared cache (DESIGN.md, the router).
//!
//! ```text
//!  front ──DeferredQuery──► queue (bounded; full: SERVFAIL at once)
//!                             │ dispatcher: one task per request, at most
//!                             ▼ `max-in-flight` at once
//!                  reply: parse request ─► iterator.resolve() ─► reply::render
//!                             │                 │   ▲
//!                             │             upstream │ cache (cache.rs)
//!                             ▼           (UDP/TCP to authoritative servers)
//!                   Reply::send on the client's socket or connection
//! ```
//!
//! Modules: `cache` (RRsets and negative answers, bounded by memory), `classify`
//! (what a server's response means: the iterator's pure core), `iterator` (the
//! resolution algorithm over an `Upstream`), `forward` (forward zones: names asked
//! of configured resolvers instead), `upstream` (the network), `hints` (root
//! hints and trust anchor files), `reply` (the client's response).
//!
//! RFCs: 1034 §5.3.3, 1035, 2181 §5.4.1, 2308, 5452, 6891, 7766, 8109, 8914, 9156.
//! DNSSEC (RFC 4033-4035, 5155, 6840): `trust` builds the chain of trust from the
//! anchor and judges each resolution, `validator` verifies signatures and proofs;
//! secure answers carry AD (to clients that set DO or AD, RFC 6840 §5.7-5.8), bogus
//! ones become SERVFAIL with the EDE that says why, except with CD, which gets the
//! data as it is (RFC 4035 §3.2.2, RFC 6840 §5.9).

pub mod aggressive;
pub mod answers;
pub mod cache;
pub mod classify;
pub mod control;
pub mod forward;
pub mod hints;
pub mod iterator;
pub mod marked;
pub mod memory;
pub mod parent_side;
pub mod prefetch;
pub mod records;
pub mod reply;
pub mod rsa_small;
pub mod sentinel;
pub mod stale;
pub mod stats;
pub mod table;
pub mod tls_upstream;
pub mod trust;
pub mod upstream;
pub mod validator;
pub mod verified;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use tokio::sync::{Semaphore, mpsc};

use crate::front::deferred::{DeferSink, DeferredQuery, Recursion};
use crate::wire::message::{self, class};
use cache::{Cache, Lookup};
use hints::HintsError;
use iterator::{Iterator, Resolution};
use reply::ClientQuery;
use upstream::Network;

/// The resolver's settings (`[resolver]` in the configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Root hints file (zone-file format).
    pub root_hints: PathBuf,
    /// Trust anchor file (DS or DNSKEY records of the root).
    pub trust_anchor: PathBuf,
    /// Cache size in bytes.
    pub cache_bytes: usize,
    /// TTLs stored are at least this (seconds).
    pub min_ttl: u32,
    /// TTLs stored are at most this (seconds).
    pub max_ttl: u32,
    /// RFC 9156 QNAME minimisation.
    pub qname_minimisation: bool,
    /// Requests resolved at once; more wait in the queue.
    pub max_in_flight: usize,
    /// Port authoritative servers are asked on (53).
    pub upstream_port: u16,
    /// Negative trust anchors (RFC 7646): domains not validated.
    pub insecure_domains: Vec<Name>,
    /// RFC 8767: how long after expiry cached data may still answer when every
    /// authority fails (0: never).
    pub serve_stale_secs: u32,
    /// Forward zones (`[resolver.forward]`): a domain and its forwarders; the root's
    /// entry forwards every name.
    pub forward: Vec<(Name, Vec<forward::Forwarder>)>,
    /// CA certificates (PEM) that DoT forwarders' certificates must chain to
    /// (`forward-tls-ca`); read only when some forwarder is declared with TLS.
    pub forward_tls_ca: PathBuf,
    /// Refresh popular names before they expire (`prefetch.rs`).
    pub prefetch: bool,
}

/// Requests waiting for a resolution task.
const QUEUE: usize = 4096;

/// Seconds on a monotonic clock, for the cache.
fn now() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs()
}

/// The running resolver.
pub struct Resolver {
    iterator: Iterator<Network>,
    serve_stale_secs: u32,
    trust: Arc<trust::Trust>,
    answers: Arc<answers::AnswerCache>,
    stats: Arc<stats::ResolverStats>,
    prefetch: bool,
    /// Validated NSEC records used for other names (RFC 8198).
    aggressive: aggressive::Aggressive,
}

/// What the front holds: the queue to the dispatcher and the rendered answers.
struct Frontend {
    queue: mpsc::Sender<DeferredQuery>,
    answers: Arc<answers::AnswerCache>,
    stats: Arc<stats::ResolverStats>,
    /// Where claimed refreshes go (None: prefetch off).
    prefetch: Option<prefetch::Prefetcher>,
}

impl Recursion for Frontend {
    fn answer_now(
        &self,
        request: &[u8],
        context: &crate::answer::RequestContext<'_>,
        out: &mut Vec<u8>,
    ) -> Option<crate::answer::Outcome> {
        let parsed = message::parse(request).ok()?;
        let limit = match (context.transport, parsed.edns) {
            (crate::answer::Transport::Tcp, _) => crate::answer::TCP_SIZE,
            (_, None) => crate::answer::PLAIN_UDP_SIZE,
            (_, Some(edns)) => usize::from(edns.udp_size.clamp(
                crate::answer::PLAIN_UDP_SIZE as u16,
                crate::answer::EDNS_UDP_SIZE,
            )),
        };
        let hit = self
            .answers
            .answer(&parsed, limit, out, now(), self.prefetch.is_some());
        match (hit, &self.prefetch) {
            (answers::Hit::Miss, _) => return None,
            (answers::Hit::Refresh, Some(prefetch)) => prefetch.request(request, context.transport),
            _ => {}
        }
        self.stats.worker_answers.bump();
        Some(crate::answer::Outcome {
            rcode: out.get(3).map_or(0, |b| u16::from(b & 0x0f)),
            qtype: parsed.question.map_or(0, |q| q.qtype),
            len: out.len(),
            truncated: false,
            limit: crate::answer::LimitKey::ERROR,
            cookie: Default::default(),
            deferred: false,
        })
    }

    fn defer(&self, query: DeferredQuery) -> bool {
        let taken = self.queue.try_send(query).is_ok();
        if !taken {
            self.stats
                .queue_full
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        taken
    }
}

/// Unix time in seconds (signature validity windows, RFC 4034 §3.1.5).
fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

impl Resolver {
    /// Reads the hints and the anchor and builds the resolver (no I/O beyond files).
    pub fn new(settings: &Settings) -> Result<Self, HintsError> {
        let hints = hints::load_hints(&settings.root_hints)?;
        let anchor = hints::load_anchor(&settings.trust_anchor)?;
        let trust = trust::Trust::new(&anchor, unix_now)
            .ok_or(HintsError::Missing {
                path: settings.trust_anchor.clone(),
                message: "no DS or DNSKEY record",
            })?
            .with_insecure(&settings.insecure_domains);
        let stats = Arc::new(stats::ResolverStats::default());
        // `cache-size-mb` is the total: three quarters for RRsets, one for rendered
        // answers.
        let cache = Arc::new(Cache::new(
            settings.cache_bytes / 4 * 3,
            settings.min_ttl,
            settings.max_ttl,
        ));
        let answers = Arc::new(answers::AnswerCache::new(settings.cache_bytes / 4));
        stats.attach_cache(cache.clone(), answers.clone());
        let forwards = forward::Forwards::new(&settings.forward);
        let mut upstream = Network::new(settings.upstream_port, stats.clone());
        if forwards.any_tls() {
            let config =
                tls_upstream::client_config(&settings.forward_tls_ca).map_err(|message| {
                    HintsError::Parse {
                        path: settings.forward_tls_ca.clone(),
                        message: format!("forward-tls-ca: {message}"),
                    }
                })?;
            upstream = upstream.with_tls(tls_upstream::TlsUpstream::new(config, stats.clone()));
        }
        Ok(Self {
            stats,
            answers,
            trust: Arc::new(trust),
            serve_stale_secs: settings.serve_stale_secs,
            prefetch: settings.prefetch,
            // An index entry per NSEC RRset, which costs some 300 octets of cache.
            aggressive: aggressive::Aggressive::new(settings.cache_bytes / 1024),
            iterator: Iterator {
                cache,
                upstream,
                hints,
                clock: now,
                qname_minimisation: settings.qname_minimisation,
                forwards,
                parent_side: Default::default(),
            },
        })
    }

    /// The operator's handle on the caches (`cache ...` on the control socket).
    pub fn cache_control(&self) -> control::CacheControl {
        control::CacheControl::new(
            self.iterator.cache.clone(),
            self.answers.clone(),
            self.trust.clone(),
            now,
        )
    }

    /// The counters, for the metrics endpoint.
    pub fn stats(&self) -> Arc<stats::ResolverStats> {
        self.stats.clone()
    }

    /// The cache (metrics, flush).
    pub fn cache(&self) -> &Cache {
        &self.iterator.cache
    }

    /// Starts the dispatcher on the current tokio runtime and returns the sink the
    /// front hands deferred requests to.
    pub fn start(self, max_in_flight: usize) -> DeferSink {
        let (sender, mut receiver) = mpsc::channel::<DeferredQuery>(QUEUE);
        let answers = self.answers.clone();
        let stats = self.stats.clone();
        let (cache, rendered) = (self.iterator.cache.clone(), answers.clone());
        memory::trim_while_evicting(move || cache.freed() + rendered.freed());
        let resolver = Arc::new(self);
        let permits = Arc::new(Semaphore::new(max_in_flight.max(1)));
        let prefetch = resolver
            .prefetch
            .then(|| prefetch::start(resolver.clone(), permits.clone()));
        tokio::spawn(async move {
            while let Some(job) = receiver.recv().await {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let resolver = resolver.clone();
                tokio::spawn(async move {
                    let response = resolver.answer(&job.request, job.transport).await;
                    if let Some(response) = response
                        && let Err(e) = job.reply.send(response)
                    {
                        tracing::debug!(client = %job.client, error = %e, "answer not sent");
                    }
                    drop(permit);
                });
            }
        });
        Arc::new(Frontend {
            queue: sender,
            answers,
            stats,
            prefetch,
        })
    }

    /// The response to `request` (None: send nothing).
    pub async fn answer(
        &self,
        request: &[u8],
        transport: crate::answer::Transport,
    ) -> Option<Vec<u8>> {
        self.respond(request, transport, false).await
    }

    /// [`Self::answer`]; with `fresh`, a prefetch (`prefetch.rs`): the question is
    /// asked of the servers even if cached, and the answer replaces the cached one
    /// (not counted as an answer sent: no one is waiting for it).
    pub async fn respond(
        &self,
        request: &[u8],
        transport: crate::answer::Transport,
        fresh: bool,
    ) -> Option<Vec<u8>> {
        let parsed = message::parse(request).ok()?;
        let question = parsed.question?;
        let name = Name::read(&mut BinDecoder::new(question.name)).ok()?;
        let query = ClientQuery {
            id: parsed.header.id,
            name: name.clone(),
            qtype: RecordType::from(question.qtype),
            rd: parsed.header.recursion_desired(),
            cd: parsed.header.flags & CD != 0,
            edns: parsed.edns.map(|e| (e.udp_size, e.dnssec_ok)),
            transport,
        };
        if question.qclass != class::IN || is_meta(question.qtype) {
            // Only IN is resolved; AXFR, IXFR, ANY and the like are not questions
            // for a resolver (RFC 8482 for ANY: NOTIMP is what Unbound says too).
            let refused = Resolution {
                rcode: ResponseCode::NotImp,
                answer: Vec::new(),
                authority: Vec::new(),
                ede: Some(21),
            };
            return Some(reply::render(&query, &refused, false));
        }
        let name = name.to_lowercase();
        // Cached RRsets found secure before: no validation again (`marked.rs`).
        let marked = match query.rd && !fresh {
            true => {
                marked::secure_answer(&self.iterator.cache, &name, query.qtype, now(), unix_now())
            }
            false => None,
        };
        let from_mark = marked.is_some();
        let synthesized = match query.rd && !fresh && !from_mark {
            true => self.synthesized(&name, query.qtype).await,
            false => None,
        };
        let from_nsec = synthesized.is_some();
        let mut resolution = if let Some(resolution) = marked.or(synthesized) {
            resolution
        } else if query.rd {
            let mut resolution = self.iterator.resolve_with(&name, query.qtype, fresh).await;
            // The TTL caps hold for what is sent too, not only for what is stored.
            for record in resolution
                .answer
                .iter_mut()
                .chain(resolution.authority.iter_mut())
            {
                record.ttl = self.iterator.cache.cap_ttl(record.ttl);
            }
            self.or_stale(&name, query.qtype, resolution)
        } else {
            // RFC 1034 §4.3.1: without RD, only what is at hand.
            self.cached_answer(&name, query.qtype)
        };
        let security = match from_nsec || from_mark {
            // Validated in `synthesized`, or found secure before.
            true => validator::Security::Secure,
            false => {
                self.trust
                    .judge(&self.iterator, &name, query.qtype, &resolution)
                    .await
            }
        };
        // RFC 8509: a secure answer to a trust-anchor sentinel question may fail.
        let security = match sentinel::sentinel(&name, query.qtype) {
            Some(asked)
                if security == validator::Security::Secure
                    && sentinel::fails(asked, &self.trust.root_key_tags()) =>
            {
                validator::Security::Bogus(validator::ede::BOGUS)
            }
            _ => security,
        };
        if security == validator::Security::Secure && !from_nsec && !from_mark && query.rd {
            marked::mark(&self.iterator.cache, &resolution, now());
            // RFC 8198 §4: only validated NSEC records are used for other names.
            // A negative answer (its SOA) is cached whole: its NSEC records are stored
            // apart here; a wildcard answer's proof is stored apart already.
            let negative = resolution
                .authority
                .iter()
                .any(|r| r.record_type() == RecordType::SOA);
            self.aggressive
                .learn(&self.iterator.cache, &resolution.authority, negative, now());
        }
        let secure = match security {
            validator::Security::Secure => true,
            validator::Security::Insecure => false,
            // RFC 4035 §3.2.2, RFC 6840 §5.9: with CD the client validates itself and
            // gets the data as it is (AD still says when we found it secure).
            validator::Security::Bogus(_) if query.cd => false,
            validator::Security::Bogus(code) => {
                tracing::debug!(%name, qtype = %query.qtype, ede = code, "bogus");
                resolution = Resolution {
                    rcode: ResponseCode::ServFail,
                    answer: Vec::new(),
                    authority: Vec::new(),
                    ede: Some(code),
                };
                false
            }
        };
        // RFC 6840 §5.7-5.8: AD for clients that ask for DNSSEC (DO) or set AD.
        let wants_ad =
            query.edns.is_some_and(|(_, dnssec_ok)| dnssec_ok) || parsed.header.flags & AD != 0;
        let bogus = (resolution.rcode == ResponseCode::ServFail)
            .then_some(resolution.ede)
            .flatten()
            .filter(|code| (1..=12).contains(code));
        if !fresh {
            self.stats.verdict(secure, bogus);
            self.stats
                .resolver_answers
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let response = reply::render(&query, &resolution, secure && wants_ad);
        let complete = response.get(2).is_some_and(|b| b & 0x02 == 0);
        let stale = matches!(resolution.ede, Some(stale::STALE | stale::STALE_NXDOMAIN));
        if query.rd
            && complete
            && !stale
            && matches!(
                resolution.rcode,
                ResponseCode::NoError | ResponseCode::NXDomain
            )
        {
            // Kept for the workers to answer the same question themselves.
            self.answers.put(&parsed, &response, now());
        }
        Some(response)
    }

    /// RFC 8767 §5: when resolution failed for want of an authority (a SERVFAIL
    /// that is no DNSSEC verdict), what the cache held until at most
    /// `serve-stale-secs` ago, TTL 30 (§4) and EDE 3 (Stale Answer) or 19 (Stale
    /// NXDOMAIN Answer); else the failure.
    fn or_stale(&self, name: &Name, qtype: RecordType, resolution: Resolution) -> Resolution {
        let dnssec_verdict = resolution.ede.is_some_and(|code| (1..=12).contains(&code));
        if resolution.rcode != ResponseCode::ServFail
            || dnssec_verdict
            || self.serve_stale_secs == 0
        {
            return resolution;
        }
        let found = self
            .iterator
            .cache
            .get_stale(name, qtype, now(), self.serve_stale_secs);
        let Some(mut stale) = stale::resolution(found) else {
            return resolution;
        };
        self.stats
            .stale_answers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(%name, %qtype, "stale answer");
        for record in stale.answer.iter_mut().chain(stale.authority.iter_mut()) {
            record.ttl = match record.ttl {
                0 => stale::TTL,
                ttl => ttl.min(stale::TTL),
            };
        }
        stale
    }

    /// RFC 8198: the negative answer cached NSEC records prove for a question the
    /// cache holds nothing for, validated; None to resolve it as usual.
    async fn synthesized(&self, name: &Name, qtype: RecordType) -> Option<Resolution> {
        let cache = &self.iterator.cache;
        if cache.get(name, qtype, now()) != Lookup::Miss {
            return None;
        }
        let resolution = self.aggressive.synthesize(cache, name, qtype, now())?;
        let security = self
            .trust
            .judge(&self.iterator, name, qtype, &resolution)
            .await;
        if security != validator::Security::Secure {
            tracing::debug!(%name, %qtype, ?security, "NSEC synthesis not secure");
            return None;
        }
        self.stats
            .aggressive_answers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(resolution)
    }

    /// A cache-only answer (RD clear): the RRset or negative answer, else REFUSED.
    fn cached_answer(&self, name: &Name, qtype: RecordType) -> Resolution {
        let mut resolution = Resolution {
            rcode: ResponseCode::NoError,
            answer: Vec::new(),
            authority: Vec::new(),
            ede: None,
        };
        match self.iterator.cache.get(name, qtype, now()) {
            Lookup::Rrset(rrset) => {
                resolution.answer = rrset.records;
                resolution.answer.extend(rrset.signatures);
                // A wildcard expansion's proof (RFC 4035 §5.3.4): without it the
                // validator finds the cached answer bogus.
                resolution.authority = rrset.proof;
            }
            Lookup::Negative(negative) => {
                if negative.nxdomain {
                    resolution.rcode = ResponseCode::NXDomain;
                }
                resolution.authority = negative.authority;
            }
            Lookup::Miss => {
                resolution.rcode = ResponseCode::Refused;
                resolution.ede = Some(20);
            }
        }
        resolution
    }
}

/// CD in the header's flags (RFC 4035 §3.2.2).
const CD: u16 = 0x0010;
/// AD in the header's flags (RFC 4035 §3.2.3).
const AD: u16 = 0x0020;

/// QTYPEs that are not a question for a resolver: IXFR, AXFR, MAILB, MAILA, ANY.
fn is_meta(qtype: u16) -> bool {
    (251..=255).contains(&qtype)
}
