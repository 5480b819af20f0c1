//! What an authoritative server's response means for the question asked of it: the
//! pure core of the iterator (RFC 1034 §5.3.3, step 4), tested without sockets.
//!
//! The server was asked as a server of `zone`; only records at or below `zone` are
//! believed (the bailiwick rule: a server cannot speak for names outside the zones it
//! was asked about, RFC 2181 §5.4.1, and out-of-bailiwick data is the classic cache
//! poisoning vector). The answer section is read as RFC 1034 §4.3.2 writes it: a
//! CNAME chain from the question's name (followed while it stays in bailiwick), then
//! the RRset asked for. A referral (RFC 1034 §4.3.2 step 3b) is an NS RRset in the
//! authority section, without a SOA, for a zone strictly below `zone` that holds the
//! name; its glue is the addresses of the additional section at or below `zone`.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// What a response says.
#[derive(Clone, Debug, PartialEq)]
pub struct Classified {
    /// The DNAMEs and CNAMEs followed from the question's name, in order (in
    /// bailiwick only), each followed by its RRSIGs.
    pub chain: Vec<Record>,
    /// What the response says about the chain's last name.
    pub outcome: Outcome,
    /// For a positive answer or chain whose RRSIGs show wildcard expansion (RFC 4035
    /// §5.3.4): the NSEC/NSEC3 records of the authority section and their RRSIGs, the
    /// proof that the name itself does not exist. Empty otherwise.
    pub proof: Vec<Record>,
}

/// What a response says about a name.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The RRset asked for (and its RRSIGs, in `signatures`).
    Answer {
        /// The records.
        records: Vec<Record>,
        /// Their signatures.
        signatures: Vec<Record>,
    },
    /// The chain ends at this name, outside the zone or not answered: ask again.
    Alias(Name),
    /// The name does not exist; the authority records (SOA, NSEC...) that say so.
    NxDomain(Vec<Record>),
    /// The name exists without data of the type; the authority records.
    NoData(Vec<Record>),
    /// Ask the servers of a zone closer to the name.
    Referral {
        /// The child zone.
        zone: Name,
        /// Its NS RRset, as the parent gives it.
        ns: Vec<Record>,
        /// Addresses of name servers, in bailiwick of the parent.
        glue: Vec<Record>,
        /// The rest of the authority section in bailiwick (DS, RRSIG, NSEC...).
        authority: Vec<Record>,
    },
    /// Not an answer for this question from a server of this zone: try another.
    Lame(&'static str),
}

/// The DNAME type (RFC 6672), which hickory keeps as unknown data.
pub const DNAME: u16 = 39;

/// Most CNAMEs followed inside one response.
const MAX_CHAIN_IN_RESPONSE: usize = 12;

/// Classifies `response` to the question (`qname`, `qtype`) asked of a server of
/// `zone`, without RD (iterating).
pub fn classify(zone: &Name, qname: &Name, qtype: RecordType, response: &Message) -> Classified {
    classify_asked(zone, qname, qtype, response, false)
}

/// [`classify`] for a question asked with RD (`recursion_desired`: of a forwarder),
/// whose answers come from a resolver: RA on them is expected, not a sign of lameness.
pub fn classify_asked(
    zone: &Name,
    qname: &Name,
    qtype: RecordType,
    response: &Message,
    recursion_desired: bool,
) -> Classified {
    let mut classified = classify_sections(zone, qname, qtype, response, recursion_desired);
    let (positive, alias) = match &classified.outcome {
        Outcome::Answer { signatures, .. } => (signatures.iter().any(is_expansion), false),
        Outcome::Alias(_) => (false, true),
        _ => return classified,
    };
    // The NSEC/NSEC3 records of a response whose chain is continued elsewhere come
    // along with it, as Unbound prepends them (`handle_cname_response`): the proofs a
    // wildcard-expanded CNAME needs, and the denial of a DS at the target's cut that
    // makes an empty answer beyond it insecure (RFC 4035 §5.2).
    if positive || alias || classified.chain.iter().any(is_expansion) {
        classified.proof = response
            .authorities
            .iter()
            .filter(|r| zone.zone_of(&r.name))
            .filter(|r| {
                let rtype = covered_type(r).unwrap_or(r.record_type());
                matches!(rtype, RecordType::NSEC | RecordType::NSEC3)
            })
            .cloned()
            .collect();
    }
    classified
}

/// Whether `record` is an RRSIG whose labels field is below its owner's label count:
/// the RRset it covers was expanded from a wildcard (RFC 4035 §5.3.2; the count
/// leaves a leading `*` out, as the labels field does).
pub fn is_expansion(record: &Record) -> bool {
    match &record.data {
        RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(sig)) => {
            sig.input().num_labels < record.name.num_labels()
        }
        _ => false,
    }
}

/// [`classify`] without the wildcard proof.
fn classify_sections(
    zone: &Name,
    qname: &Name,
    qtype: RecordType,
    response: &Message,
    recursion_desired: bool,
) -> Classified {
    let mut chain = Vec::new();
    let in_zone = |name: &Name| zone.zone_of(name);
    let lame = |chain, why| Classified {
        chain,
        outcome: Outcome::Lame(why),
        proof: Vec::new(),
    };
    let rcode = response.metadata.response_code;
    if rcode != ResponseCode::NoError && rcode != ResponseCode::NXDomain {
        return lame(chain, "error rcode");
    }
    // RFC 1034 §4.3.2: the answer section starts at the question's name and may
    // follow CNAMEs.
    let mut current = qname.clone();
    while qtype != RecordType::CNAME && chain.len() < MAX_CHAIN_IN_RESPONSE {
        // RFC 6672 §3.4: a DNAME above the name comes before the CNAME synthesized
        // from it; the client gets both.
        if let Some(dname) = response.answers.iter().find(|r| {
            u16::from(r.record_type()) == DNAME
                && r.name != current
                && r.name.zone_of(&current)
                && in_zone(&r.name)
                && !chain.contains(r)
        }) {
            let signatures = signatures_of(&response.answers, &dname.name, dname.record_type());
            chain.push(dname.clone());
            chain.extend(signatures);
        }
        let Some(cname) = response.answers.iter().find(|r| {
            r.record_type() == RecordType::CNAME && r.name == current && in_zone(&r.name)
        }) else {
            break;
        };
        let RData::CNAME(target) = &cname.data else {
            break;
        };
        if chain.iter().any(|r: &Record| r.name == target.0) || target.0 == *qname {
            return lame(chain, "CNAME loop");
        }
        chain.push(cname.clone());
        chain.extend(signatures_of(
            &response.answers,
            &cname.name,
            RecordType::CNAME,
        ));
        current = target.0.clone();
    }
    let authority: Vec<Record> = response
        .authorities
        .iter()
        .filter(|r| in_zone(&r.name))
        .cloned()
        .collect();
    let soa_here = authority.iter().any(|r| r.record_type() == RecordType::SOA);
    if rcode == ResponseCode::NXDomain {
        // RFC 6604 §3: NXDOMAIN speaks of the last name of the chain.
        if !in_zone(&current) {
            return Classified {
                outcome: Outcome::Alias(current),
                chain,
                proof: Vec::new(),
            };
        }
        return Classified {
            chain,
            outcome: Outcome::NxDomain(authority),
            proof: Vec::new(),
        };
    }
    let records: Vec<Record> = response
        .answers
        .iter()
        .filter(|r| r.name == current && r.record_type() == qtype && in_zone(&r.name))
        .cloned()
        .collect();
    if !records.is_empty() {
        let signatures = signatures_of(&response.answers, &current, qtype);
        return Classified {
            chain,
            outcome: Outcome::Answer {
                records,
                signatures,
            },
            proof: Vec::new(),
        };
    }
    if chain.iter().any(|r| r.record_type() == RecordType::CNAME) {
        // The chain leaves the answer section: the rest is asked for anew (the
        // target may be in another zone, or this server may know more).
        if in_zone(&current) && soa_here && response.answers.iter().all(|r| r.name != current) {
            return Classified {
                chain,
                outcome: Outcome::NoData(authority),
                proof: Vec::new(),
            };
        }
        return Classified {
            outcome: Outcome::Alias(current),
            chain,
            proof: Vec::new(),
        };
    }
    // A referral: NS for a zone strictly below ours, at or above the name, and no
    // SOA. AA does not matter: some servers set it on referrals (RFC 5155 B.3's
    // referral to an opt-out delegation has it), and NODATA comes with a SOA, not
    // with a child's NS RRset; Unbound reads them so too.
    let cut = authority.iter().find_map(|r| {
        (r.record_type() == RecordType::NS && r.name != *zone && r.name.zone_of(&current))
            .then(|| r.name.clone())
    });
    if let Some(child) = cut.filter(|_| !soa_here) {
        let ns: Vec<Record> = authority
            .iter()
            .filter(|r| r.record_type() == RecordType::NS && r.name == child)
            .cloned()
            .collect();
        let glue = response
            .additionals
            .iter()
            .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
            .filter(|r| in_zone(&r.name))
            .filter(|r| {
                ns.iter()
                    .any(|n| matches!(&n.data, RData::NS(t) if t.0 == r.name))
            })
            .cloned()
            .collect();
        let authority = authority
            .into_iter()
            .filter(|r| !(r.record_type() == RecordType::NS && r.name == child))
            .collect();
        return Classified {
            chain,
            outcome: Outcome::Referral {
                zone: child,
                ns,
                glue,
                authority,
            },
            proof: Vec::new(),
        };
    }
    match empty_answer(zone, &current, response, soa_here, recursion_desired) {
        Ok(()) => Classified {
            chain,
            outcome: Outcome::NoData(authority),
            proof: Vec::new(),
        },
        Err(why) => lame(chain, why),
    }
}

/// Whether a NOERROR response with neither the answer nor a referral for `name` is a
/// NODATA (Ok) or lame (Err: why), by Unbound's rules (`response_type_from_server`
/// in iter_resptype.c, on the response with out-of-zone records left out): a SOA
/// makes it a NODATA (RFC 2308 §2.2); so does an empty answer without AA or SOA
/// (RFC 2308 §2.2's type 3, which Unbound accepts), unless the server offers
/// recursion (RA without AA: a resolver answering from its cache, not an authority),
/// the NS RRset of a zone above the one asked is there (an upward referral: a lame
/// server, RFC 1034 §4.3.2), or the zone's own NS RRset without AA (a lame server
/// that holds the zone's delegation from a cache). An answer to a question asked
/// with RD comes from a resolver: RA there is no fault.
fn empty_answer(
    zone: &Name,
    name: &Name,
    response: &Message,
    soa_here: bool,
    recursion_desired: bool,
) -> Result<(), &'static str> {
    let aa = response.metadata.authoritative;
    let recursive = response.metadata.recursion_available && !aa && !recursion_desired;
    if soa_here {
        return match recursive {
            true => Err("a resolver's NODATA"),
            false => Ok(()),
        };
    }
    let answered_here = response.answers.iter().any(|r| r.name == *name);
    for ns in response
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::NS)
    {
        if ns.name == *zone {
            if recursive || (!answered_here && !aa && !recursion_desired) {
                return Err("the zone's NS RRset without AA");
            }
            return Ok(());
        }
        if ns.name.zone_of(zone) && !answered_here {
            return Err("upward referral");
        }
    }
    match recursive {
        true => Err("a resolver's empty answer"),
        false => Ok(()),
    }
}

/// The last CNAME target of `chain`, else `name`: the name the outcome speaks of.
pub fn chain_end(chain: &[Record], name: &Name) -> Name {
    chain
        .iter()
        .rev()
        .find_map(|r| match &r.data {
            RData::CNAME(t) => Some(t.0.clone()),
            _ => None,
        })
        .unwrap_or_else(|| name.clone())
}

/// The RRSIGs in `section` covering (`owner`, `covered`).
pub fn signatures_of(section: &[Record], owner: &Name, covered: RecordType) -> Vec<Record> {
    section
        .iter()
        .filter(|r| r.name == *owner && r.record_type() == RecordType::RRSIG)
        .filter(|r| covered_type(r) == Some(covered))
        .cloned()
        .collect()
}

/// The type an RRSIG record covers (RFC 4034 §3.1: the first two octets of RDATA).
pub fn covered_type(record: &Record) -> Option<RecordType> {
    match &record.data {
        RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(sig)) => {
            Some(sig.input().type_covered)
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "classify_tests.rs"]
pub(crate) mod tests;
