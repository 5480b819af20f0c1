//! Serve-stale (RFC 8767): what an expired cache entry answers when every authority
//! of its zone fails. The cache keeps entries past their TTL until evicted
//! (`table::BlobTable::get` takes a stale window); the resolver asks for them only
//! after a resolution ended in SERVFAIL that is not a DNSSEC verdict.
//!
//! A stale answer carries TTL 30 (§4: "a reasonable value") and the Extended DNS
//! Error Stale Answer (RFC 8914 §4.4, code 3) or Stale NXDOMAIN Answer (§4.20, 19).
//! It is not kept among the rendered answers: the next question tries the
//! authorities again (the iterator's backoff keeps that cheap for dead servers).

use hickory_proto::op::ResponseCode;

use super::cache::Lookup;
use super::iterator::Resolution;

/// TTL of stale records (RFC 8767 §4).
pub const TTL: u32 = 30;
/// EDE 3: Stale Answer.
pub const STALE: u16 = 3;
/// EDE 19: Stale NXDOMAIN Answer.
pub const STALE_NXDOMAIN: u16 = 19;

/// The resolution a stale cache entry gives; None on a miss.
pub fn resolution(found: Lookup) -> Option<Resolution> {
    match found {
        Lookup::Miss => None,
        Lookup::Rrset(rrset) => {
            let mut answer = rrset.records;
            answer.extend(rrset.signatures);
            Some(Resolution {
                rcode: ResponseCode::NoError,
                answer,
                authority: Vec::new(),
                ede: Some(STALE),
            })
        }
        Lookup::Negative(negative) => Some(Resolution {
            rcode: if negative.nxdomain {
                ResponseCode::NXDomain
            } else {
                ResponseCode::NoError
            },
            answer: Vec::new(),
            authority: negative.authority,
            ede: Some(if negative.nxdomain {
                STALE_NXDOMAIN
            } else {
                STALE
            }),
        }),
    }
}
