//! Writing the messages of a zone transfer (RFC 5936 §2.2, RFC 1995 §4): header,
//! the question, and records appended one by one until the next does not fit, with
//! name compression (RFC 1035 §4.1.4) suited to records that come in canonical order.
//!
//! # Compression
//! An owner name points at the longest suffix it shares with the previous owner (in
//! canonical order, neighbours share their parents), or at the zone's apex; the names
//! inside the RDATA of the types RFC 1035 defined (NS, CNAME, SOA, PTR, MX, ...) point
//! at the apex. Names are always matched byte for byte against names written in this
//! message (never against the question's case), and only the first 16 KiB of a
//! message can be pointed at: messages are kept that small ([`MESSAGE_LIMIT`]), which
//! costs one header, question and MAC per 16 KiB and keeps every name compressible.

use crate::wire::message::HEADER_LEN;
use crate::wire::name::{label_offsets, wire_len};
use crate::zone::Rtype;

/// The size a transfer message is filled to (then the next record starts a new
/// message): the largest offset a compression pointer reaches.
pub const MESSAGE_LIMIT: usize = 0x3fff;

/// A record to write: borrowed from a zone version or a diff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The owner (uncompressed wire format).
    pub owner: &'a [u8],
    /// The type.
    pub rtype: Rtype,
    /// The TTL.
    pub ttl: u32,
    /// The RDATA (uncompressed).
    pub rdata: &'a [u8],
}

/// Suffixes of the previous owner that later names may point at: (suffix length in
/// octets, offset in the message).
type Suffixes = smallvec::SmallVec<[(u8, u16); 8]>;

/// One message of a transfer being written.
pub struct Message {
    buf: Vec<u8>,
    limit: usize,
    count: u16,
    apex: Vec<u8>,
    apex_at: Option<u16>,
    prev: Vec<u8>,
    prev_suffixes: Suffixes,
}

impl Message {
    /// A writer of messages of at most `limit` octets.
    pub fn new(limit: usize) -> Self {
        Self {
            buf: Vec::with_capacity(limit.min(1 << 16) + 512),
            limit,
            count: 0,
            apex: Vec::new(),
            apex_at: None,
            prev: Vec::new(),
            prev_suffixes: Suffixes::new(),
        }
    }

    /// Changes the size limit (for the next message).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Starts a new message: header with `id` and `flags` (counts filled in as records
    /// come), the question as received (`question`: name, type, class), for the zone
    /// whose apex (lowercased wire) is `apex`.
    pub fn start(&mut self, id: u16, flags: u16, question: Option<&[u8]>, apex: &[u8]) {
        self.buf.clear();
        self.buf.extend_from_slice(&id.to_be_bytes());
        self.buf.extend_from_slice(&flags.to_be_bytes());
        self.buf.extend_from_slice(&[0; HEADER_LEN - 4]);
        self.count = 0;
        self.apex.clear();
        self.apex.extend_from_slice(apex);
        self.apex_at = None;
        self.prev.clear();
        self.prev_suffixes.clear();
        if let Some(question) = question {
            self.buf.extend_from_slice(question);
            self.buf[5] = 1;
            let qname = &question[..question.len().saturating_sub(4)];
            if qname == apex {
                self.apex_at = Some(HEADER_LEN as u16);
            }
        }
    }

    /// Appends `record` to the answer section; false (and the message as it was) when
    /// it does not fit the limit.
    pub fn push(&mut self, record: &RecordRef<'_>) -> bool {
        let mark = self.buf.len();
        let (suffixes, apex_at) = self.name(record.owner);
        self.buf.extend_from_slice(&record.rtype.0.to_be_bytes());
        self.buf.extend_from_slice(&1u16.to_be_bytes());
        self.buf.extend_from_slice(&record.ttl.to_be_bytes());
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.rdata(record.rtype, record.rdata, apex_at);
        let rdlen = self.buf.len() - len_at - 2;
        if self.buf.len() > self.limit || rdlen > usize::from(u16::MAX) {
            self.buf.truncate(mark);
            return false;
        }
        self.buf[len_at..len_at + 2].copy_from_slice(&(rdlen as u16).to_be_bytes());
        self.count += 1;
        self.buf[6..8].copy_from_slice(&self.count.to_be_bytes());
        self.prev.clear();
        self.prev.extend_from_slice(record.owner);
        self.prev_suffixes = suffixes;
        self.apex_at = apex_at;
        true
    }

    /// Records in the message.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// The message so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The message, to append a TSIG record to.
    pub fn buf_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Sets the header's flags (TC, RCODE) after the fact.
    pub fn set_flags(&mut self, flags: u16) {
        self.buf[2..4].copy_from_slice(&flags.to_be_bytes());
    }

    /// Writes `name` (an owner), pointing at the longest suffix it shares with the
    /// previous owner or at the apex. Returns the suffixes of `name` that later names
    /// may point at, and where the apex is once this record is written.
    fn name(&mut self, name: &[u8]) -> (Suffixes, Option<u16>) {
        let mut suffixes = Suffixes::new();
        let mut apex_at = self.apex_at;
        for at in label_offsets(name) {
            let suffix = &name[at..];
            let target = self.target(suffix);
            if let Some(offset) = target {
                self.literal(&name[..at], name.len(), &mut suffixes, &mut apex_at);
                self.buf.extend_from_slice(&(0xc000 | offset).to_be_bytes());
                // The suffixes of the one pointed at are suffixes of this name too.
                if self
                    .prev_suffixes
                    .iter()
                    .any(|&(l, _)| usize::from(l) == suffix.len())
                {
                    let inherited = self
                        .prev_suffixes
                        .iter()
                        .filter(|&&(l, _)| usize::from(l) <= suffix.len());
                    suffixes.extend(inherited.copied());
                }
                return (suffixes, apex_at);
            }
        }
        self.literal(
            &name[..name.len() - 1],
            name.len(),
            &mut suffixes,
            &mut apex_at,
        );
        self.buf.push(0);
        (suffixes, apex_at)
    }

    /// Writes the labels `labels` (the first part of a name `full_len` long) and
    /// notes where each suffix that starts there lies.
    fn literal(
        &mut self,
        labels: &[u8],
        full_len: usize,
        suffixes: &mut Suffixes,
        apex_at: &mut Option<u16>,
    ) {
        let base = self.buf.len();
        for at in label_offsets(labels) {
            let offset = base + at;
            if offset > 0x3fff {
                break;
            }
            let len = full_len - at;
            if len <= usize::from(u8::MAX) {
                suffixes.push((len as u8, offset as u16));
            }
            if apex_at.is_none() && len == self.apex.len() {
                *apex_at = Some(offset as u16);
            }
        }
        self.buf.extend_from_slice(labels);
    }

    /// Where `suffix` was written before in this message, if it was.
    fn target(&self, suffix: &[u8]) -> Option<u16> {
        if suffix == self.apex.as_slice()
            && let Some(at) = self.apex_at
        {
            return Some(at);
        }
        if suffix.len() > self.prev.len() || !self.prev.ends_with(suffix) {
            return None;
        }
        // A suffix of the previous owner on a label boundary of that owner.
        self.prev_suffixes
            .iter()
            .find(|&&(len, _)| usize::from(len) == suffix.len())
            .map(|&(_, offset)| offset)
    }

    /// Writes RDATA, its names (for the types RFC 1035 defined) pointing at the apex.
    fn rdata(&mut self, rtype: Rtype, rdata: &[u8], apex_at: Option<u16>) {
        let names: &[u8] = match rtype.0 {
            // NS, MD, MF, CNAME, MB, MG, MR, PTR: one name.
            2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 => &[0],
            // SOA: two names, then fixed fields; MINFO: two names.
            6 | 14 => &[0, 0],
            // MX: preference, then a name.
            15 => &[2],
            _ => &[],
        };
        let Some(apex_at) = apex_at.filter(|_| !names.is_empty()) else {
            self.buf.extend_from_slice(rdata);
            return;
        };
        let mut at = 0;
        for &skip in names {
            let Some(fixed) = rdata.get(at..at + usize::from(skip)) else {
                self.buf.extend_from_slice(&rdata[at.min(rdata.len())..]);
                return;
            };
            self.buf.extend_from_slice(fixed);
            at += usize::from(skip);
            let Some(len) = rdata.get(at..).and_then(wire_len) else {
                self.buf.extend_from_slice(&rdata[at.min(rdata.len())..]);
                return;
            };
            let name = &rdata[at..at + len];
            let apex = self.apex.as_slice();
            let apex_start = name.len().checked_sub(apex.len());
            let points = apex_start.is_some_and(|s| {
                &name[s..] == apex && (s == 0 || label_offsets(name).any(|o| o == s))
            });
            match apex_start {
                Some(s) if points => {
                    self.buf.extend_from_slice(&name[..s]);
                    self.buf
                        .extend_from_slice(&(0xc000 | apex_at).to_be_bytes());
                }
                _ => self.buf.extend_from_slice(name),
            }
            at += len;
        }
        self.buf.extend_from_slice(&rdata[at..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::name::Name;
    use crate::wire::reader::Reader;

    fn n(text: &str) -> Vec<u8> {
        Name::from_text(text, None).unwrap().as_wire().to_vec()
    }

    fn question(apex: &[u8]) -> Vec<u8> {
        let mut q = apex.to_vec();
        q.extend_from_slice(&[0, 252, 0, 1]);
        q
    }

    /// Writes `records` into one message and reads them back.
    fn round_trip(
        apex: &str,
        records: &[(Vec<u8>, Rtype, Vec<u8>)],
    ) -> (usize, Vec<crate::zone::Record>) {
        let apex = n(apex);
        let mut m = Message::new(MESSAGE_LIMIT);
        m.start(7, 0x8400, Some(&question(&apex)), &apex);
        for (owner, rtype, rdata) in records {
            assert!(m.push(&RecordRef {
                owner,
                rtype: *rtype,
                ttl: 300,
                rdata,
            }));
        }
        let bytes = m.bytes().to_vec();
        let mut r = Reader::new(&bytes).unwrap();
        let mut out = Vec::new();
        while let Some(rec) = r.record().unwrap() {
            out.push(rec.to_record(&bytes).unwrap());
        }
        (bytes.len(), out)
    }

    #[test]
    fn names_compress_against_neighbours_and_the_apex_and_read_back() {
        let mut soa = n("ns1.example.org.");
        soa.extend(n("hostmaster.example.org."));
        soa.extend_from_slice(&[0; 20]);
        let mut mx = vec![0, 10];
        mx.extend(n("mail.example.org."));
        let records = vec![
            (n("example.org."), Rtype::SOA, soa),
            (n("example.org."), Rtype::MX, mx),
            (n("a.b.example.org."), Rtype::A, vec![1, 2, 3, 4]),
            (n("c.b.example.org."), Rtype::A, vec![1, 2, 3, 5]),
            (n("d.c.b.example.org."), Rtype::NS, n("ns.elsewhere.net.")),
            (n("x.example.org."), Rtype::CNAME, n("a.b.example.org.")),
        ];
        let (len, back) = round_trip("example.org.", &records);
        for ((owner, rtype, rdata), got) in records.iter().zip(&back) {
            assert_eq!(got.owner.as_wire(), &owner[..]);
            assert_eq!(got.rtype, *rtype);
            assert_eq!(&got.rdata[..], &rdata[..]);
        }
        let uncompressed: usize = 12
            + 17
            + records
                .iter()
                .map(|(o, _, r)| o.len() + 10 + r.len())
                .sum::<usize>();
        assert!(len < uncompressed - 60, "{len} vs {uncompressed}");
    }

    #[test]
    fn a_record_that_does_not_fit_leaves_the_message_as_it_was() {
        let apex = n("example.org.");
        let mut m = Message::new(110);
        m.start(1, 0x8400, Some(&question(&apex)), &apex);
        let big = vec![0u8; 60];
        assert!(m.push(&RecordRef {
            owner: &apex,
            rtype: Rtype(99),
            ttl: 1,
            rdata: &big
        }));
        let before = m.bytes().to_vec();
        assert!(!m.push(&RecordRef {
            owner: &apex,
            rtype: Rtype(99),
            ttl: 1,
            rdata: &big
        }));
        assert_eq!(m.bytes(), &before[..]);
        assert_eq!(m.count(), 1);
    }
}
