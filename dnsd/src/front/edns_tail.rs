//! EDNS options the DoT front adds to a response's OPT record (pure core):
//!
//! - **edns-tcp-keepalive** (RFC 7828 §3.3.2): to a query that carried the option,
//!   the idle timeout the server keeps a connection for, in units of 100 ms;
//! - **Padding** (RFC 7830, block-length policy of RFC 8467 §4.1): a response is
//!   padded to a multiple of 468 octets, so that its length says little about the
//!   name asked (RFC 7830 §3: a responder may pad the responses to every client that
//!   speaks EDNS; it must to those that padded their query).
//!
//! Only a response whose OPT record is its last record gets them (appending there
//! moves nothing that a compression pointer names); others are left as they are.

/// Block size responses are padded to (RFC 8467 §4.1).
pub const RESPONSE_BLOCK: usize = 468;
/// EDNS option codes.
const KEEPALIVE: u16 = 11;
const PADDING: u16 = 12;
/// Type of the OPT pseudo-record.
const OPT: u16 = 41;
/// Largest DNS message over a stream.
const MESSAGE_MAX: usize = 65535;

/// Where a message's OPT record is: the offset of its RDLENGTH field and the end of
/// its RDATA; None without one or when the message does not walk.
fn opt_place(message: &[u8]) -> Option<(usize, usize)> {
    let count = |at: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *message.get(at)?,
            *message.get(at + 1)?,
        ])))
    };
    let mut at = 12;
    for _ in 0..count(4)? {
        at = skip_name(message, at)? + 4;
    }
    let records = count(6)? + count(8)? + count(10)?;
    let mut found = None;
    for _ in 0..records {
        at = skip_name(message, at)?;
        let rtype = count(at)?;
        let rdlength_at = at + 8;
        let end = rdlength_at + 2 + count(rdlength_at)?;
        if end > message.len() {
            return None;
        }
        if rtype == usize::from(OPT) {
            found = Some((rdlength_at, end));
        }
        at = end;
    }
    found
}

/// The offset after the (possibly compressed) name at `at`.
fn skip_name(message: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *message.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l if l & 0xc0 == 0 => at += 1 + usize::from(l),
            _ => return None,
        }
    }
}

/// Whether `message`'s OPT record carries the option `code`.
fn has_option(message: &[u8], code: u16) -> bool {
    let Some((rdlength_at, end)) = opt_place(message) else {
        return false;
    };
    let mut at = rdlength_at + 2;
    while let Some(header) = message.get(at..at + 4) {
        if at >= end {
            break;
        }
        if u16::from_be_bytes([header[0], header[1]]) == code {
            return true;
        }
        at += 4 + usize::from(u16::from_be_bytes([header[2], header[3]]));
    }
    false
}

/// Whether `request` asks for the keepalive timeout (RFC 7828 §3.2.1).
pub fn wants_keepalive(request: &[u8]) -> bool {
    has_option(request, KEEPALIVE)
}

/// Adds to `response`'s OPT record the keepalive `timeout` (in 100 ms units, when
/// `Some`) and Padding up to a multiple of [`RESPONSE_BLOCK`] octets; nothing when
/// its OPT record is missing or not the last record.
pub fn finish(response: &mut Vec<u8>, keepalive: Option<u16>) {
    let Some((rdlength_at, end)) = opt_place(response) else {
        return;
    };
    if end != response.len() {
        return;
    }
    if let Some(timeout) = keepalive {
        response.extend_from_slice(&KEEPALIVE.to_be_bytes());
        response.extend_from_slice(&2u16.to_be_bytes());
        response.extend_from_slice(&timeout.to_be_bytes());
    }
    let unpadded = response.len() + 4;
    let pad = (RESPONSE_BLOCK - unpadded % RESPONSE_BLOCK) % RESPONSE_BLOCK;
    if unpadded + pad <= MESSAGE_MAX {
        response.extend_from_slice(&PADDING.to_be_bytes());
        response.extend_from_slice(&(pad as u16).to_be_bytes());
        response.resize(unpadded + pad, 0);
    }
    let rdlength = response.len() - rdlength_at - 2;
    if let Ok(rdlength) = u16::try_from(rdlength) {
        response[rdlength_at..rdlength_at + 2].copy_from_slice(&rdlength.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response for www.example. A with one answer and an OPT record holding
    /// `options`.
    fn response(options: &[u8]) -> Vec<u8> {
        let mut r = vec![0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1];
        r.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 198, 51, 100, 7]);
        r.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
        r.extend_from_slice(&(options.len() as u16).to_be_bytes());
        r.extend_from_slice(options);
        r
    }

    #[test]
    fn responses_are_padded_to_the_block_and_keepalive_comes_first() {
        let mut r = response(&[]);
        finish(&mut r, Some(100));
        assert_eq!(r.len(), RESPONSE_BLOCK);
        let opt = response(&[]).len();
        assert_eq!(&r[opt..opt + 6], &[0, 11, 0, 2, 0, 100]);
        assert_eq!(&r[opt + 6..opt + 8], &[0, 12]);
        let pad = usize::from(u16::from_be_bytes([r[opt + 8], r[opt + 9]]));
        assert_eq!(opt + 10 + pad, RESPONSE_BLOCK);
        assert!(r[opt + 10..].iter().all(|b| *b == 0));
        // The OPT's RDLENGTH covers both options.
        assert_eq!(
            usize::from(u16::from_be_bytes([r[opt - 2], r[opt - 1]])),
            RESPONSE_BLOCK - opt
        );
        assert_eq!(opt_place(&r), Some((opt - 2, RESPONSE_BLOCK)));
        assert!(has_option(&r, KEEPALIVE) && has_option(&r, PADDING));
    }

    #[test]
    fn a_response_one_past_a_block_takes_two() {
        // A cookie-like option that brings the response to 466 octets: with the
        // padding option's 4, one block is too small.
        let n = RESPONSE_BLOCK - 2 - 4 - response(&[]).len();
        let mut option = vec![0, 10];
        option.extend_from_slice(&(n as u16).to_be_bytes());
        option.resize(4 + n, 7);
        let mut r = response(&option);
        assert_eq!(r.len(), RESPONSE_BLOCK - 2);
        finish(&mut r, None);
        assert_eq!(r.len(), 2 * RESPONSE_BLOCK);
        assert!(has_option(&r, 10) && has_option(&r, PADDING));
    }

    #[test]
    fn without_an_opt_record_last_nothing_changes() {
        let mut r = response(&[]);
        r[11] = 0;
        r.truncate(r.len() - 11);
        let before = r.clone();
        finish(&mut r, Some(100));
        assert_eq!(r, before);
        assert!(!wants_keepalive(&r));
        assert!(wants_keepalive(&response(&[0, 11, 0, 0])));
    }
}
