//! Reading any DNS message (RFC 1035 §4.1) record by record: the responses, zone
//! transfers and NOTIFY messages that peers send, which `message` (requests only,
//! borrowed, for the query path) does not read.
//!
//! Names are decompressed (RFC 1035 §4.1.4): pointers must point backwards, and a name
//! stays within 255 octets, so a hostile message cannot loop or grow. RDATA is given
//! both as received and uncompressed: the names inside the RDATA of the types that
//! RFC 3597 §4 says may be compressed (RFC 1035's, and RP, AFSDB, RT, PX, SRV, NAPTR,
//! KX, which some servers compress) are written out in full, so that a record read
//! here is the same record however the sender compressed it.

use super::message::{HEADER_LEN, Header};
use super::name::{MAX_LABEL_LEN, MAX_NAME_LEN, Name};
use crate::zone::{Record, Rtype};

/// Why a message could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The message ends before what its counts announce.
    #[error("message truncated or malformed at octet {0}")]
    Malformed(usize),
    /// A name pointer that loops or points forward.
    #[error("bad name compression at octet {0}")]
    BadPointer(usize),
}

/// A message being read: the header, then the question, then the records of the
/// answer, authority and additional sections in order.
pub struct Reader<'m> {
    msg: &'m [u8],
    at: usize,
    /// The header.
    pub header: Header,
    questions_left: u16,
    records_left: [u16; 3],
}

/// One question of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuestionEntry {
    /// QNAME, decompressed, case as sent.
    pub name: Name,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
}

/// The sections records come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Answer.
    Answer,
    /// Authority.
    Authority,
    /// Additional.
    Additional,
}

/// One record as read: where it lies in the message and its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRecord<'m> {
    /// The section it is in.
    pub section: Section,
    /// The offset of its first octet (its owner name).
    pub start: usize,
    /// The offset after its last octet.
    pub end: usize,
    /// The owner, decompressed, case as sent.
    pub owner: Name,
    /// TYPE.
    pub rtype: Rtype,
    /// CLASS.
    pub class: u16,
    /// TTL.
    pub ttl: u32,
    /// RDATA as received (names in it may point elsewhere in the message).
    pub rdata: &'m [u8],
    /// Offset of the RDATA in the message.
    pub rdata_at: usize,
}

impl<'m> Reader<'m> {
    /// Starts reading `msg`; None when it is shorter than a header.
    pub fn new(msg: &'m [u8]) -> Option<Self> {
        let header = Header::parse(msg)?;
        Some(Self {
            msg,
            at: HEADER_LEN,
            header,
            questions_left: header.qdcount,
            records_left: [header.ancount, header.nscount, header.arcount],
        })
    }

    /// The message.
    pub fn message(&self) -> &'m [u8] {
        self.msg
    }

    /// The next question, None when none is left.
    pub fn question(&mut self) -> Result<Option<QuestionEntry>, ReadError> {
        if self.questions_left == 0 {
            return Ok(None);
        }
        let mut name = Vec::with_capacity(32);
        let at = read_name(self.msg, self.at, &mut name)?;
        let fixed = self.msg.get(at..at + 4).ok_or(ReadError::Malformed(at))?;
        self.at = at + 4;
        self.questions_left -= 1;
        Ok(Some(QuestionEntry {
            name: Name::from_wire(&name).map_err(|_| ReadError::Malformed(at))?,
            qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
        }))
    }

    /// The next record (questions not read yet are skipped first); None after the last.
    pub fn record(&mut self) -> Result<Option<RawRecord<'m>>, ReadError> {
        while self.questions_left > 0 {
            self.question()?;
        }
        let Some(index) = self.records_left.iter().position(|&n| n > 0) else {
            return Ok(None);
        };
        self.records_left[index] -= 1;
        let section = [Section::Answer, Section::Authority, Section::Additional][index];
        let start = self.at;
        let mut owner = Vec::with_capacity(32);
        let at = read_name(self.msg, start, &mut owner)?;
        let fixed = self.msg.get(at..at + 10).ok_or(ReadError::Malformed(at))?;
        let rtype = Rtype(u16::from_be_bytes([fixed[0], fixed[1]]));
        let class = u16::from_be_bytes([fixed[2], fixed[3]]);
        let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        let rdata_at = at + 10;
        let rdata = self
            .msg
            .get(rdata_at..rdata_at + rdlen)
            .ok_or(ReadError::Malformed(rdata_at))?;
        self.at = rdata_at + rdlen;
        Ok(Some(RawRecord {
            section,
            start,
            end: self.at,
            owner: Name::from_wire(&owner).map_err(|_| ReadError::Malformed(start))?,
            rtype,
            class,
            ttl,
            rdata,
            rdata_at,
        }))
    }
}

impl RawRecord<'_> {
    /// The record as a zone holds it: RDATA with its names uncompressed.
    pub fn to_record(&self, msg: &[u8]) -> Result<Record, ReadError> {
        Ok(Record {
            owner: self.owner.clone(),
            rtype: self.rtype,
            ttl: self.ttl,
            rdata: self.rdata_uncompressed(msg)?,
        })
    }

    /// [`RawRecord::to_record`], taking the owner instead of copying it.
    pub fn into_record(self, msg: &[u8]) -> Result<Record, ReadError> {
        let rdata = self.rdata_uncompressed(msg)?;
        Ok(Record {
            owner: self.owner,
            rtype: self.rtype,
            ttl: self.ttl,
            rdata,
        })
    }

    fn rdata_uncompressed(&self, msg: &[u8]) -> Result<Box<[u8]>, ReadError> {
        // Exactly the RDATA's length when it holds no name that could be compressed,
        // so that the box is made without a copy.
        let room = if name_layout(self.rtype).is_some() {
            16
        } else {
            0
        };
        let mut rdata = Vec::with_capacity(self.rdata.len() + room);
        uncompressed_rdata(msg, self.rtype, self.rdata_at, self.rdata.len(), &mut rdata)?;
        Ok(rdata.into_boxed_slice())
    }
}

/// Appends the name at `at` in `msg`, decompressed, to `out`; returns the offset after
/// the name as it lies at `at` (after the first pointer, if any).
pub fn read_name(msg: &[u8], mut at: usize, out: &mut Vec<u8>) -> Result<usize, ReadError> {
    let start_len = out.len();
    let mut end = None;
    // Each pointer must point before the name part that holds it: no loop is possible.
    let mut limit = at;
    loop {
        let len = *msg.get(at).ok_or(ReadError::Malformed(at))?;
        match len {
            0 => {
                out.push(0);
                if out.len() - start_len > MAX_NAME_LEN {
                    return Err(ReadError::Malformed(at));
                }
                return Ok(end.unwrap_or(at + 1));
            }
            1..=63 => {
                let label = msg
                    .get(at..at + 1 + len as usize)
                    .ok_or(ReadError::Malformed(at))?;
                out.extend_from_slice(label);
                if out.len() - start_len > MAX_NAME_LEN {
                    return Err(ReadError::Malformed(at));
                }
                at += 1 + len as usize;
            }
            0xc0..=0xff => {
                let low = *msg.get(at + 1).ok_or(ReadError::Malformed(at))?;
                let target = (usize::from(len & 0x3f) << 8) | usize::from(low);
                if target >= limit {
                    return Err(ReadError::BadPointer(at));
                }
                end.get_or_insert(at + 2);
                limit = target;
                at = target;
            }
            _ => return Err(ReadError::Malformed(at)),
        }
    }
}

/// Where the names are in the RDATA of a type whose names may be compressed: octets
/// of fixed data before each name (None: the type has no compressible names).
fn name_layout(rtype: Rtype) -> Option<&'static [Field]> {
    use Field::{Fixed, Name as N, Strings};
    Some(match rtype.0 {
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => &[N],
        // SOA: MNAME, RNAME, five 32-bit fields.
        6 => &[N, N, Fixed(20)],
        // MINFO, RP
        14 | 17 => &[N, N],
        // MX, AFSDB, RT, KX: a 16-bit field and a name.
        15 | 18 | 21 | 36 => &[Fixed(2), N],
        // PX: preference, MAP822, MAPX400.
        26 => &[Fixed(2), N, N],
        // SRV: priority, weight, port, target.
        33 => &[Fixed(6), N],
        // NAPTR: order, preference, flags, services, regexp, replacement.
        35 => &[Fixed(4), Strings(3), N],
        _ => return None,
    })
}

#[derive(Clone, Copy)]
enum Field {
    Fixed(usize),
    Strings(usize),
    Name,
}

/// Appends the RDATA of type `rtype` at `msg[at..at + len]` to `out` with its names
/// uncompressed; other types are copied as they are.
pub fn uncompressed_rdata(
    msg: &[u8],
    rtype: Rtype,
    at: usize,
    len: usize,
    out: &mut Vec<u8>,
) -> Result<(), ReadError> {
    let end = at + len;
    let rdata = msg.get(at..end).ok_or(ReadError::Malformed(at))?;
    let Some(layout) = name_layout(rtype) else {
        out.extend_from_slice(rdata);
        return Ok(());
    };
    let mut pos = at;
    for field in layout {
        match *field {
            Field::Fixed(n) => {
                let bytes = msg
                    .get(pos..pos + n)
                    .filter(|_| pos + n <= end)
                    .ok_or(ReadError::Malformed(pos))?;
                out.extend_from_slice(bytes);
                pos += n;
            }
            Field::Strings(count) => {
                for _ in 0..count {
                    let n = *msg
                        .get(pos)
                        .filter(|_| pos < end)
                        .ok_or(ReadError::Malformed(pos))? as usize;
                    let bytes = msg
                        .get(pos..pos + 1 + n)
                        .filter(|_| pos + 1 + n <= end)
                        .ok_or(ReadError::Malformed(pos))?;
                    out.extend_from_slice(bytes);
                    pos += 1 + n;
                }
            }
            Field::Name => {
                if pos >= end {
                    return Err(ReadError::Malformed(pos));
                }
                pos = read_name(msg, pos, out)?;
                if pos > end {
                    return Err(ReadError::Malformed(pos));
                }
            }
        }
    }
    if pos != end {
        return Err(ReadError::Malformed(pos));
    }
    Ok(())
}

/// Skips the name at `at` (compressed or not) without reading it; returns the offset
/// after it.
pub fn skip_name(msg: &[u8], mut at: usize) -> Result<usize, ReadError> {
    let mut total = 0usize;
    loop {
        let len = *msg.get(at).ok_or(ReadError::Malformed(at))?;
        match len {
            0 => return Ok(at + 1),
            1..=63 if usize::from(len) <= MAX_LABEL_LEN => {
                total += 1 + usize::from(len);
                if total > MAX_NAME_LEN {
                    return Err(ReadError::Malformed(at));
                }
                at += 1 + usize::from(len);
            }
            0xc0..=0xff => {
                msg.get(at + 1).ok_or(ReadError::Malformed(at))?;
                return Ok(at + 2);
            }
            _ => return Err(ReadError::Malformed(at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response for example.org. MX with compressed names in owner and RDATA.
    fn compressed() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x84, 0x00, 0, 1, 0, 2, 0, 0, 0, 0];
        m.extend_from_slice(b"\x07example\x03org\x00\x00\x0f\x00\x01");
        // example.org. MX 10 mail.example.org. (owner and target compressed)
        m.extend_from_slice(&[0xc0, 12, 0, 15, 0, 1, 0, 0, 1, 0, 0, 9, 0, 10]);
        m.extend_from_slice(b"\x04mail\xc0\x0c");
        // mail.example.org. A 198.51.100.1, the owner pointing into the RDATA above.
        let mail_at = 12 + 17 + 14;
        m.extend_from_slice(&[0xc0, mail_at as u8, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        m.extend_from_slice(&[198, 51, 100, 1]);
        m
    }

    #[test]
    fn reads_questions_and_records_with_names_uncompressed() {
        let m = compressed();
        let mut r = Reader::new(&m).unwrap();
        let q = r.question().unwrap().unwrap();
        assert_eq!(q.name.as_wire(), b"\x07example\x03org\x00");
        assert_eq!((q.qtype, q.qclass), (15, 1));
        let mx = r.record().unwrap().unwrap();
        assert_eq!(mx.section, Section::Answer);
        assert_eq!(mx.owner.as_wire(), b"\x07example\x03org\x00");
        let record = mx.to_record(&m).unwrap();
        assert_eq!(&record.rdata[..], b"\x00\x0a\x04mail\x07example\x03org\x00");
        let a = r.record().unwrap().unwrap();
        assert_eq!(a.owner.as_wire(), b"\x04mail\x07example\x03org\x00");
        assert_eq!(a.ttl, 60);
        assert_eq!(a.to_record(&m).unwrap().rdata[..], [198, 51, 100, 1]);
        assert_eq!(r.record().unwrap(), None);
    }

    #[test]
    fn refuses_loops_forward_pointers_and_truncation() {
        let mut m = vec![0; 12];
        m.extend_from_slice(&[0xc0, 12]);
        assert_eq!(
            read_name(&m, 12, &mut Vec::new()),
            Err(ReadError::BadPointer(12))
        );
        m.extend_from_slice(&[0xc0, 20]);
        assert!(read_name(&m, 14, &mut Vec::new()).is_err());
        assert!(read_name(b"\x05ab", 0, &mut Vec::new()).is_err());
        // A name of 127 pointers to 2-octet labels stays within 255 octets.
        let mut long = vec![0u8; 12];
        for i in 0..130u16 {
            let prev = if i == 0 { None } else { Some(12 + (i - 1) * 4) };
            long.extend_from_slice(b"\x01a");
            match prev {
                Some(p) => long.extend_from_slice(&(0xc000 | p).to_be_bytes()),
                None => long.extend_from_slice(&[0, 0]),
            }
        }
        let last = 12 + 129 * 4;
        assert!(read_name(&long, last, &mut Vec::new()).is_err());
    }

    #[test]
    fn rdata_of_unknown_types_is_copied_and_bad_rdata_refused() {
        let m = b"\x01\x02\x03";
        let mut out = Vec::new();
        uncompressed_rdata(m, Rtype(65280), 0, 3, &mut out).unwrap();
        assert_eq!(out, m);
        // An MX whose name runs past its RDLENGTH.
        let m = b"\x00\x0a\x04mail\x00";
        assert!(uncompressed_rdata(m, Rtype::MX, 0, 5, &mut Vec::new()).is_err());
        assert!(uncompressed_rdata(m, Rtype::MX, 0, 8, &mut Vec::new()).is_ok());
    }
}
