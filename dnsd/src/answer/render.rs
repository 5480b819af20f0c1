//! Writing a response: header, the question as received, the described RRsets with
//! name compression (RFC 1035 §4.1.4), the OPT record (RFC 6891 §6.1.2), and truncation
//! to the size the transport allows (RFC 2181 §9, RFC 6891 §7).
//!
//! Compression: owner names and the names inside the RDATA of the types RFC 1035
//! defined (NS, CNAME, SOA, PTR, MX, MINFO, MB, MG, MR, MD, MF) may point at earlier
//! names; names in the RDATA of later types (SRV, NAPTR, SVCB, DNAME, ...) are written
//! in full (RFC 3597 §4, RFC 2782, RFC 6672 §2.5). The compression table is a small
//! array of offsets on the stack; a name is matched from its longest suffix down.
//!
//! An RRset is written with its signatures (`Item::sigs`, RFC 4035 §3.1.1) and they
//! stand or fall together. Truncation happens at RRset boundaries: an answer or authority RRset, or required
//! glue, that does not fit sets TC and ends the response; an additional RRset that does
//! not fit is left out. The question and the OPT record always stay.

use super::response::{Data, Item, NameRef, Response, Section};
use crate::wire::message::{HEADER_LEN, option};
use crate::wire::name::label_offsets;
use crate::zone::Rtype;

/// Most names the compression table remembers.
const TABLE_LEN: usize = 48;
/// Offsets at or beyond this cannot be pointed at (14-bit pointers).
const MAX_POINTER: usize = 0x3fff;

/// A response being written into `out`.
pub struct Writer<'o> {
    out: &'o mut Vec<u8>,
    table: [u16; TABLE_LEN],
    table_len: usize,
}

/// The header fields the writer fills in at the end.
#[derive(Clone, Copy, Debug)]
pub struct Head {
    /// The request's id.
    pub id: u16,
    /// QR, opcode, AA, TC, RD and the low four bits of the RCODE.
    pub flags: u16,
}

/// What the OPT record of the response says.
#[derive(Clone, Copy, Debug)]
pub struct Opt<'a> {
    /// Our UDP payload size.
    pub udp_size: u16,
    /// The upper eight bits of the 12-bit RCODE.
    pub extended_rcode: u8,
    /// The DO bit, echoed.
    pub dnssec_ok: bool,
    /// An Extended DNS Error info-code (RFC 8914), if any.
    pub ede: Option<u16>,
    /// The COOKIE option's data (RFC 7873 §4): client and server cookie.
    pub cookie: Option<[u8; super::cookie::REPLY_LEN]>,
    /// Our name server identifier (RFC 5001), to a request that asked.
    pub nsid: Option<&'a [u8]>,
}

impl Opt<'_> {
    /// Octets the record takes.
    pub fn wire_len(&self) -> usize {
        11 + self.rdata_len()
    }

    fn rdata_len(&self) -> usize {
        self.ede.map_or(0, |_| 6)
            + self.cookie.map_or(0, |c| 4 + c.len())
            + self.nsid.map_or(0, |n| 4 + n.len())
    }
}

impl<'o> Writer<'o> {
    /// Starts a response in `out` (cleared) with a header whose counts are zero, and
    /// the question copied as received (`question` = name, type and class).
    pub fn new(out: &'o mut Vec<u8>, question: Option<&[u8]>) -> Self {
        out.clear();
        out.extend_from_slice(&[0; HEADER_LEN]);
        let mut writer = Writer {
            out,
            table: [0; TABLE_LEN],
            table_len: 0,
        };
        if let Some(question) = question {
            writer.out.extend_from_slice(question);
            writer.out[5] = 1;
            // The question's name is uncompressed: each of its suffixes is a target.
            let name_len = question.len() - 4;
            for at in label_offsets(&question[..name_len]) {
                writer.remember(HEADER_LEN + at);
            }
        }
        writer
    }

    /// Sets id and flags, and returns the response's length.
    pub fn finish(self, head: Head) -> usize {
        self.out[0..2].copy_from_slice(&head.id.to_be_bytes());
        self.out[2..4].copy_from_slice(&head.flags.to_be_bytes());
        self.out.len()
    }

    fn remember(&mut self, at: usize) {
        if at <= MAX_POINTER && self.table_len < TABLE_LEN {
            self.table[self.table_len] = at as u16;
            self.table_len += 1;
        }
    }

    fn add_count(&mut self, index: usize, n: u16) {
        let at = 4 + 2 * index;
        let count = u16::from_be_bytes([self.out[at], self.out[at + 1]]).saturating_add(n);
        self.out[at..at + 2].copy_from_slice(&count.to_be_bytes());
    }

    /// Writes `name` (uncompressed wire), compressed against earlier names.
    fn name(&mut self, name: &[u8]) {
        let mut start = 0;
        while start + 1 < name.len() {
            let suffix = &name[start..];
            if let Some(target) = self.table[..self.table_len]
                .iter()
                .copied()
                .find(|&t| same_name(self.out, t as usize, suffix))
            {
                self.prefix(&name[..start]);
                self.out.extend_from_slice(&(0xc000 | target).to_be_bytes());
                return;
            }
            start += 1 + name[start] as usize;
        }
        self.prefix(&name[..name.len() - 1]);
        self.out.push(0);
    }

    /// Writes the labels `labels` (no root), remembering each suffix they start.
    fn prefix(&mut self, labels: &[u8]) {
        let base = self.out.len();
        self.out.extend_from_slice(labels);
        for at in label_offsets_of_prefix(labels) {
            self.remember(base + at);
        }
    }

    /// Writes the records of `item`; returns how many.
    fn item(&mut self, response: &Response<'_>, item: &Item<'_>, qname: &[u8]) -> u16 {
        let class_ttl = {
            let mut b = [0u8; 6];
            b[0..2].copy_from_slice(&1u16.to_be_bytes());
            b[2..6].copy_from_slice(&item.ttl.to_be_bytes());
            b
        };
        // The first record writes the owner; the others point at it.
        let mut owner_at: Option<u16> = None;
        let mut write_owner = |w: &mut Self| match owner_at {
            Some(at) => w.out.extend_from_slice(&(0xc000 | at).to_be_bytes()),
            None => {
                let at = w.out.len();
                match item.owner {
                    NameRef::Question => {
                        w.out
                            .extend_from_slice(&(0xc000 | HEADER_LEN as u16).to_be_bytes());
                        owner_at = Some(HEADER_LEN as u16);
                    }
                    other => {
                        w.name(response.name(other, qname));
                        owner_at = (at <= MAX_POINTER).then_some(at as u16);
                        if w.out[at] & 0xc0 == 0xc0 {
                            owner_at =
                                Some(u16::from_be_bytes([w.out[at], w.out[at + 1]]) & 0x3fff);
                        }
                    }
                }
            }
        };
        match item.data {
            Data::Rrset(rrset) => {
                let mut n = 0;
                for rdata in rrset.rdatas() {
                    write_owner(self);
                    self.out.extend_from_slice(&item.rtype.0.to_be_bytes());
                    self.out.extend_from_slice(&class_ttl);
                    self.rdata(item.rtype, rdata);
                    n += 1;
                }
                if let Some(sigs) = item.sigs {
                    let ttl = sig_ttl(item.ttl, sigs, response.now);
                    let mut class_ttl = class_ttl;
                    class_ttl[2..6].copy_from_slice(&ttl.to_be_bytes());
                    for rdata in sigs.rdatas() {
                        write_owner(self);
                        self.out.extend_from_slice(&Rtype::RRSIG.0.to_be_bytes());
                        self.out.extend_from_slice(&class_ttl);
                        self.rdata(Rtype::RRSIG, rdata);
                        n += 1;
                    }
                }
                n
            }
            Data::Cname(target) => {
                write_owner(self);
                self.out.extend_from_slice(&Rtype::CNAME.0.to_be_bytes());
                self.out.extend_from_slice(&class_ttl);
                let len_at = self.out.len();
                self.out.extend_from_slice(&[0, 0]);
                self.name(response.name(target, qname));
                self.patch_len(len_at);
                1
            }
        }
    }

    /// Writes RDLENGTH and RDATA, compressing the names of the RFC 1035 types.
    fn rdata(&mut self, rtype: Rtype, rdata: &[u8]) {
        let (head, names) = match rtype.0 {
            // NS, MD, MF, CNAME, MB, MG, MR, PTR: one name.
            2..=5 | 7..=9 | 12 => (0, 1),
            // SOA: two names, then five numbers; MINFO: two names.
            6 | 14 => (0, 2),
            // MX: preference, then a name.
            15 => (2, 1),
            _ => (0, 0),
        };
        if names == 0 {
            self.out
                .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            self.out.extend_from_slice(rdata);
            return;
        }
        let len_at = self.out.len();
        self.out.extend_from_slice(&[0, 0]);
        let Some(fixed) = rdata.get(..head) else {
            self.raw_rdata(len_at, rdata);
            return;
        };
        self.out.extend_from_slice(fixed);
        let mut at = head;
        for _ in 0..names {
            let Some(len) = rdata.get(at..).and_then(crate::wire::name::wire_len) else {
                self.raw_rdata(len_at, rdata);
                return;
            };
            self.name(&rdata[at..at + len]);
            at += len;
        }
        self.out.extend_from_slice(&rdata[at..]);
        self.patch_len(len_at);
    }

    /// Falls back to the RDATA as stored when it does not parse as its type.
    fn raw_rdata(&mut self, len_at: usize, rdata: &[u8]) {
        self.out.truncate(len_at);
        self.out
            .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        self.out.extend_from_slice(rdata);
    }

    fn patch_len(&mut self, len_at: usize) {
        let len = (self.out.len() - len_at - 2) as u16;
        self.out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    }

    /// Writes the described sections within `limit` octets (OPT room excluded);
    /// returns whether the response had to be truncated.
    pub fn sections(&mut self, response: &Response<'_>, qname: &[u8], limit: usize) -> bool {
        for (index, section) in [Section::Answer, Section::Authority, Section::Additional]
            .into_iter()
            .enumerate()
        {
            for item in response.items().iter().filter(|i| i.section == section) {
                let mark = self.out.len();
                let table_mark = self.table_len;
                let n = self.item(response, item, qname);
                if self.out.len() > limit {
                    self.out.truncate(mark);
                    self.table_len = table_mark;
                    if item.required {
                        return true;
                    }
                    continue;
                }
                self.add_count(index + 1, n);
            }
        }
        false
    }

    /// Appends an unsigned TSIG record carrying `error` (RFC 8945 §5.3.2): class ANY,
    /// TTL 0, an empty MAC, no other data.
    pub fn tsig_error(
        &mut self,
        key: &[u8],
        algorithm: &[u8],
        time_and_fudge: &[u8],
        original_id: u16,
        error: u16,
    ) {
        self.out.extend_from_slice(key);
        self.out.extend_from_slice(&Rtype::TSIG.0.to_be_bytes());
        self.out.extend_from_slice(&255u16.to_be_bytes());
        self.out.extend_from_slice(&[0, 0, 0, 0]);
        let len_at = self.out.len();
        self.out.extend_from_slice(&[0, 0]);
        self.out.extend_from_slice(algorithm);
        self.out.extend_from_slice(time_and_fudge);
        self.out.extend_from_slice(&[0, 0]);
        self.out.extend_from_slice(&original_id.to_be_bytes());
        self.out.extend_from_slice(&error.to_be_bytes());
        self.out.extend_from_slice(&[0, 0]);
        self.patch_len(len_at);
        self.add_count(3, 1);
    }

    /// Appends the OPT record.
    pub fn opt(&mut self, opt: &Opt) {
        self.out.push(0);
        self.out.extend_from_slice(&Rtype::OPT.0.to_be_bytes());
        self.out.extend_from_slice(&opt.udp_size.to_be_bytes());
        let do_bit = if opt.dnssec_ok { 0x80 } else { 0 };
        self.out
            .extend_from_slice(&[opt.extended_rcode, 0, do_bit, 0]);
        self.out
            .extend_from_slice(&(opt.rdata_len() as u16).to_be_bytes());
        if let Some(nsid) = opt.nsid {
            self.option(option::NSID, nsid);
        }
        if let Some(cookie) = &opt.cookie {
            self.option(option::COOKIE, cookie);
        }
        if let Some(code) = opt.ede {
            self.option(option::EDE, &code.to_be_bytes());
        }
        self.add_count(3, 1);
    }

    /// Appends one EDNS option.
    fn option(&mut self, code: u16, data: &[u8]) {
        self.out.extend_from_slice(&code.to_be_bytes());
        self.out
            .extend_from_slice(&(data.len() as u16).to_be_bytes());
        self.out.extend_from_slice(data);
    }

    /// Appends a CHAOS TXT record owned by the question's name, TTL 0, holding `text`
    /// as one character-string (at most 255 octets; the rest is cut).
    pub fn chaos_txt(&mut self, text: &[u8]) {
        let text = &text[..text.len().min(255)];
        self.out
            .extend_from_slice(&(0xc000 | HEADER_LEN as u16).to_be_bytes());
        self.out.extend_from_slice(&Rtype::TXT.0.to_be_bytes());
        self.out.extend_from_slice(&3u16.to_be_bytes());
        self.out.extend_from_slice(&[0, 0, 0, 0]);
        self.out
            .extend_from_slice(&(text.len() as u16 + 1).to_be_bytes());
        self.out.push(text.len() as u8);
        self.out.extend_from_slice(text);
        self.add_count(1, 1);
    }
}

/// The TTL of the signatures `sigs` of an RRset whose TTL is `ttl`, at `now` (Unix
/// seconds, 0 = unknown): no longer than the RRset's, nor than the time left before
/// the first of them expires (RFC 4035 §2.2, RFC 4034 §3; serial arithmetic, RFC 1982).
fn sig_ttl(ttl: u32, sigs: crate::zone::RrsetRef<'_>, now: u32) -> u32 {
    if now == 0 {
        return ttl;
    }
    sigs.rdatas()
        .filter_map(|rdata| rdata.get(8..12))
        .map(|b| {
            let expiration = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            // Past expiry (or more than 68 years ahead): nothing left to cache.
            u32::try_from(expiration.wrapping_sub(now) as i32).unwrap_or(0)
        })
        .fold(ttl, u32::min)
}

/// Label offsets within a run of labels that has no root label.
fn label_offsets_of_prefix(labels: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= labels.len() {
            return None;
        }
        let this = at;
        at += 1 + labels[at] as usize;
        Some(this)
    })
}

/// Whether the (possibly compressed) name at `at` in `packet` equals `name`, ignoring
/// ASCII case. Only names this writer wrote are looked at; pointers go backwards.
fn same_name(packet: &[u8], mut at: usize, name: &[u8]) -> bool {
    let mut i = 0;
    let mut hops = 0;
    loop {
        let Some(&len) = packet.get(at) else {
            return false;
        };
        if len & 0xc0 == 0xc0 {
            let Some(&low) = packet.get(at + 1) else {
                return false;
            };
            let target = (usize::from(len & 0x3f) << 8) | usize::from(low);
            hops += 1;
            if target >= at || hops > 127 {
                return false;
            }
            at = target;
            continue;
        }
        let len = len as usize;
        if name.get(i) != Some(&(len as u8)) {
            return false;
        }
        if len == 0 {
            return true;
        }
        match (
            packet.get(at + 1..at + 1 + len),
            name.get(i + 1..i + 1 + len),
        ) {
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => {}
            _ => return false,
        }
        at += 1 + len;
        i += 1 + len;
    }
}
