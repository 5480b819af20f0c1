//! Replay entries on the wire: the fake servers' replies built from an entry for a
//! query (REPLY flags, ADJUST copy_id/copy_query, the sections' records), whether a
//! query matches an entry's MATCH keywords (Unbound's testcode/testpkts.c
//! `find_match`), the client's query of a STEP QUERY, and a CHECK_ANSWER's comparison
//! of dnsd's answer with the entry.
//!
//! Comparison (`MATCH all` in testpkts.c is the whole packet printed as text, names
//! lowercased, TTLs zeroed unless `MATCH ttl`): here the header flags (QR AA TC RD RA
//! AD CD), opcode, rcode and the question are compared, then each section as a
//! multiset of records (owner and RDATA lowercased, TTLs only with `MATCH ttl`,
//! within 5 s since the clock runs). The answer section decides the verdict
//! ([`Grade::Verdict`]); authority and additional differences (Unbound adds NS
//! records and glue with `minimal-responses: no`) leave a [`Grade::Verdict`] short of
//! [`Grade::Full`].

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use super::parse::Entry;

/// The wire form of one record written in zone-file text (`owner [ttl] [class] type
/// rdata`, names absolute, TTL 3600 when absent), read by dnsd's own master-file
/// RDATA parser (hickory's text parser leaves out RRSIG, NSEC, DNSKEY and DNAME).
pub fn record_wire(line: &str) -> Result<Vec<u8>, String> {
    use dnsd::zone::{lexer::Lexer, rdata_text::rdata_into, record::Rtype, text};
    let bad = |what: &str| format!("{line:?}: {what}");
    let mut lexer = Lexer::new(line.as_bytes());
    let mut tokens = Vec::new();
    match lexer.next_entry(&mut tokens) {
        Some(Ok(_)) => {}
        Some(Err((_, e))) => return Err(bad(&e.to_string())),
        None => return Err(bad("empty")),
    }
    let (owner, mut rest) = tokens.split_first().ok_or_else(|| bad("empty"))?;
    let mut out = Vec::new();
    text::name_into(owner.text, &[0], &mut out).map_err(|e| bad(&format!("owner: {e:?}")))?;
    let (mut ttl, mut class) = (3600u32, 1u16);
    let rtype = loop {
        let (t, tail) = rest.split_first().ok_or_else(|| bad("no type"))?;
        rest = tail;
        let word = std::str::from_utf8(t.text).map_err(|_| bad("not UTF-8"))?;
        match word.to_ascii_uppercase().as_str() {
            "IN" => class = 1,
            "CH" => class = 3,
            "HS" => class = 4,
            w if w.bytes().all(|b| b.is_ascii_digit()) => {
                ttl = w.parse().map_err(|_| bad("TTL"))?
            }
            w => break Rtype::from_text(w).ok_or_else(|| bad(&format!("type {w}")))?,
        }
    };
    let mut rdata = Vec::new();
    rdata_into(rtype, rest, &[0], &mut rdata).map_err(|e| bad(&e.to_string()))?;
    out.extend_from_slice(&rtype.0.to_be_bytes());
    out.extend_from_slice(&class.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    let len = u16::try_from(rdata.len()).map_err(|_| bad("RDATA too long"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&rdata);
    Ok(out)
}

/// The records of one section's text lines.
pub fn records(lines: &[String]) -> Result<Vec<Record>, String> {
    use hickory_proto::serialize::binary::BinDecodable;
    lines
        .iter()
        .map(|line| {
            let wire = record_wire(line)?;
            Record::from_bytes(&wire).map_err(|e| format!("{line:?}: {e}"))
        })
        .collect()
}

/// A trust anchor line as dnsd reads it: DS lines as they are, a DNSKEY turned into
/// its DS (SHA-256, RFC 4034 §5.1.4; dnsd's anchor file takes DS records).
pub fn anchor_as_ds(line: &str) -> Result<String, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if !words.iter().any(|w| w.eq_ignore_ascii_case("DNSKEY")) {
        return Ok(line.to_string());
    }
    let wire = record_wire(line)?;
    let owner_len = name_len(&wire).ok_or("bad owner")?;
    let rdata = wire.get(owner_len + 10..).ok_or("short record")?;
    let owner: Vec<u8> = wire[..owner_len]
        .iter()
        .map(u8::to_ascii_lowercase)
        .collect();
    let ds = dnsd::dnssec::keys::ds_rdata(&owner, rdata);
    let hex: String = ds[4..].iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{} 3600 IN DS {} {} {} {hex}",
        words[0],
        u16::from_be_bytes([ds[0], ds[1]]),
        ds[2],
        ds[3]
    ))
}

/// Length of the uncompressed wire name at the start of `wire`.
fn name_len(wire: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let len = usize::from(*wire.get(at)?);
        at += 1 + len;
        if len == 0 {
            return Some(at);
        }
    }
}

/// The questions of a QUESTION section (`name [class] type`).
pub fn questions(lines: &[String]) -> Result<Vec<Query>, String> {
    lines
        .iter()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (name, rest) = words.split_first().ok_or("empty question")?;
            let mut name = Name::from_ascii(name).map_err(|e| format!("{line:?}: {e}"))?;
            name.set_fqdn(true);
            let mut class = DNSClass::IN;
            let mut qtype = None;
            for word in rest {
                let upper = word.to_ascii_uppercase();
                match upper.as_str() {
                    "IN" | "CH" | "HS" | "ANY" if qtype.is_none() && upper != "ANY" => {
                        class = upper.parse().map_err(|_| format!("{line:?}: class"))?
                    }
                    _ => {
                        qtype = Some(
                            upper
                                .parse::<RecordType>()
                                .map_err(|_| format!("{line:?}: type {word}"))?,
                        )
                    }
                }
            }
            let mut q = Query::query(name, qtype.ok_or(format!("{line:?}: no type"))?);
            q.query_class = class;
            Ok(q)
        })
        .collect()
}

fn rcode_of(entry: &Entry) -> ResponseCode {
    for word in &entry.reply {
        let code = match word.to_ascii_uppercase().as_str() {
            "NOERROR" => 0,
            "FORMERR" => 1,
            "SERVFAIL" => 2,
            "NXDOMAIN" => 3,
            "NOTIMPL" | "NOTIMP" => 4,
            "REFUSED" => 5,
            "YXDOMAIN" => 6,
            "YXRRSET" => 7,
            "NXRRSET" => 8,
            "NOTAUTH" => 9,
            "NOTZONE" => 10,
            _ => continue,
        };
        return ResponseCode::from_low(code);
    }
    ResponseCode::NoError
}

fn opcode_of(entry: &Entry) -> OpCode {
    for word in &entry.reply {
        match word.to_ascii_uppercase().as_str() {
            "NOTIFY" => return OpCode::Notify,
            "UPDATE" => return OpCode::Update,
            "STATUS" => return OpCode::Status,
            _ => {}
        }
    }
    OpCode::Query
}

/// The message an entry describes; `query` (the request it answers) for ADJUST.
pub fn message(entry: &Entry, query: Option<&Message>) -> Result<Message, String> {
    let id = match query {
        Some(q) if entry.adjusts("copy_id") => q.metadata.id,
        _ => 0,
    };
    let qr = if entry.replies("QR") {
        MessageType::Response
    } else {
        MessageType::Query
    };
    let mut msg = Message::new(id, qr, opcode_of(entry));
    let meta = &mut msg.metadata;
    meta.authoritative = entry.replies("AA");
    meta.truncation = entry.replies("TC");
    meta.recursion_desired = entry.replies("RD");
    meta.recursion_available = entry.replies("RA");
    meta.authentic_data = entry.replies("AD");
    meta.checking_disabled = entry.replies("CD");
    meta.response_code = rcode_of(entry);
    msg.queries = match query {
        Some(q) if entry.adjusts("copy_query") => q.queries.clone(),
        _ => questions(&entry.sections[0])?,
    };
    msg.answers = records(&entry.sections[1])?;
    msg.authorities = records(&entry.sections[2])?;
    msg.additionals = records(&entry.sections[3])?;
    if entry.replies("DO") {
        let mut edns = Edns::new();
        edns.set_dnssec_ok(true);
        edns.set_max_payload(4096);
        msg.edns = Some(edns);
    }
    Ok(msg)
}

/// A fake server's reply to `query` from `entry`, in wire form.
pub fn reply(entry: &Entry, query: &Message) -> Result<Vec<u8>, String> {
    let msg = message(entry, Some(query))?;
    msg.to_vec()
        .map_err(|e| format!("entry at line {}: {e}", entry.line))
}

/// Whether `name` is `zone` or below it.
fn is_subdomain(name: &Name, zone: &Name) -> bool {
    zone.zone_of(name)
}

/// Whether `query` (received over TCP when `tcp`) matches the MATCH keywords of
/// `entry` (testpkts.c `find_match`; `all` is not used for queries and ignored).
pub fn query_matches(entry: &Entry, expected: &Message, query: &Message, tcp: bool) -> bool {
    let q = query.queries.first();
    let e = expected.queries.first();
    for keyword in &entry.matches {
        let ok = match keyword.to_ascii_lowercase().as_str() {
            "opcode" => query.metadata.op_code == expected.metadata.op_code,
            "qtype" => q.map(|q| q.query_type) == e.map(|e| e.query_type),
            "qname" => match (q, e) {
                (Some(q), Some(e)) => q.name.to_lowercase() == e.name.to_lowercase(),
                _ => q.is_none() && e.is_none(),
            },
            // Deckard's `question`: name, type and class of the question.
            "question" => match (q, e) {
                (Some(q), Some(e)) => {
                    q.name.to_lowercase() == e.name.to_lowercase()
                        && q.query_type == e.query_type
                        && q.query_class == e.query_class
                }
                _ => q.is_none() && e.is_none(),
            },
            "subdomain" => match (q, e) {
                (Some(q), Some(e)) => is_subdomain(&q.name.to_lowercase(), &e.name.to_lowercase()),
                _ => false,
            },
            "do" => query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
            "noedns" => query.edns.is_none(),
            "tcp" => tcp,
            "udp" => !tcp,
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// The client's request of a STEP QUERY entry (id 0 as written; RD, CD, AD and DO as
/// its REPLY line says; EDNS with 4096 octets when DO).
pub fn client_query(entry: &Entry) -> Result<Vec<u8>, String> {
    let mut msg = message(entry, None)?;
    msg.metadata.message_type = MessageType::Query;
    msg.metadata.id = 0x5250;
    if msg.edns.is_none() && entry.replies("DO") {
        msg.edns = Some(Edns::new());
    }
    msg.to_vec().map_err(|e| e.to_string())
}

/// How well an answer matched a CHECK_ANSWER.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grade {
    /// Header, question or answer section differ.
    Fail,
    /// Header, rcode, question and answer as expected; authority or additional differ.
    Verdict,
    /// Everything compared as expected.
    Full,
}

fn flags(msg: &Message) -> String {
    let m = &msg.metadata;
    [
        (m.message_type == MessageType::Response, "QR"),
        (m.authoritative, "AA"),
        (m.truncation, "TC"),
        (m.recursion_desired, "RD"),
        (m.recursion_available, "RA"),
        (m.authentic_data, "AD"),
        (m.checking_disabled, "CD"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| *n)
    .collect::<Vec<_>>()
    .join(" ")
}

/// A record as compared: lowercased, TTL apart.
fn canonical(r: &Record) -> (String, u32) {
    let text = format!("{} {} {} {}", r.name, r.dns_class, r.record_type(), r.data);
    (text.to_ascii_lowercase(), r.ttl)
}

/// The differences between two sections as multisets ("missing X", "extra Y").
fn section_diff(name: &str, want: &[Record], got: &[Record], ttl: bool) -> Vec<String> {
    let mut got: Vec<(String, u32)> = got.iter().map(canonical).collect();
    let mut diffs = Vec::new();
    for r in want {
        let (text, want_ttl) = canonical(r);
        let at = got
            .iter()
            .position(|(t, g)| *t == text && (!ttl || want_ttl.abs_diff(*g) <= 5));
        match at {
            Some(i) => {
                got.remove(i);
            }
            None => diffs.push(format!("{name}: missing {text}")),
        }
    }
    diffs.extend(got.into_iter().map(|(t, _)| format!("{name}: extra {t}")));
    diffs
}

/// Compares dnsd's `answer` with a CHECK_ANSWER `entry`: the grade and what differs.
pub fn check(
    entry: &Entry,
    answer: &Message,
    bytes: &[u8],
) -> Result<(Grade, Vec<String>), String> {
    let want = message(entry, None)?;
    let all = entry.matches_on("all");
    let ttl = entry.matches_on("ttl");
    let mut verdict = Vec::new();
    let (wq, gq) = (want.queries.first(), answer.queries.first());
    if (all || entry.matches_on("opcode")) && want.metadata.op_code != answer.metadata.op_code {
        verdict.push(format!(
            "opcode {:?}, expected {:?}",
            answer.metadata.op_code, want.metadata.op_code
        ));
    }
    let name = |q: Option<&Query>| q.map(|q| q.name.to_lowercase().to_string());
    if (all || entry.matches_on("qname") || entry.matches_on("question")) && name(wq) != name(gq) {
        verdict.push(format!("qname {:?}, expected {:?}", name(gq), name(wq)));
    }
    if (all || entry.matches_on("qtype") || entry.matches_on("question"))
        && wq.map(|q| q.query_type) != gq.map(|q| q.query_type)
    {
        verdict.push("qtype differs".into());
    }
    if (all || entry.matches_on("rcode"))
        && want.metadata.response_code != answer.metadata.response_code
    {
        verdict.push(format!(
            "rcode {}, expected {}",
            answer.metadata.response_code, want.metadata.response_code
        ));
    }
    if all && flags(&want) != flags(answer) {
        verdict.push(format!(
            "flags [{}], expected [{}]",
            flags(answer),
            flags(&want)
        ));
    }
    if all || entry.matches_on("answer") {
        verdict.extend(section_diff("answer", &want.answers, &answer.answers, ttl));
    }
    let mut rest = Vec::new();
    if all {
        rest.extend(section_diff(
            "authority",
            &want.authorities,
            &answer.authorities,
            ttl,
        ));
        rest.extend(section_diff(
            "additional",
            &want.additionals,
            &answer.additionals,
            ttl,
        ));
    }
    for code in entry.matches.iter().filter_map(|m| m.strip_prefix("ede=")) {
        let got = crate::dns::ede_codes(bytes);
        let ok = if code == "any" {
            !got.is_empty()
        } else {
            code.parse::<u16>().is_ok_and(|c| got.contains(&c))
        };
        if !ok {
            rest.push(format!("EDE {got:?}, expected {code}"));
        }
    }
    let grade = match (verdict.is_empty(), rest.is_empty()) {
        (false, _) => Grade::Fail,
        (true, false) => Grade::Verdict,
        (true, true) => Grade::Full,
    };
    verdict.extend(rest);
    Ok((grade, verdict))
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
