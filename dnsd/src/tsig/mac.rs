//! The MAC computations of TSIG: ring's HMAC for the SHA family, and HMAC-MD5
//! (RFC 2104 over RFC 1321's MD5, from the `md5` crate) for legacy peers only:
//! RFC 8945 §6 lists hmac-md5 as deprecated but still "MAY" be implemented, and
//! older setups (BIND `dnssec-keygen -a HMAC-MD5`, scripts with `nsupdate -y
//! hmac-md5:...`) still sign with it. ring has no MD5, so this is the one place an
//! HMAC is built by hand: fed incrementally like ring's, never the whole message
//! copied.

use super::Algorithm;

/// MD5's block size.
const MD5_BLOCK: usize = 64;

/// A key ready to MAC with.
#[derive(Clone)]
pub(crate) enum Secret {
    /// A SHA-family HMAC key.
    Ring(ring::hmac::Key),
    /// HMAC-MD5: the key, padded to one block (hashed first when longer).
    Md5(Box<[u8; MD5_BLOCK]>),
}

impl Secret {
    /// The key `secret` for `algorithm`.
    pub(crate) fn new(algorithm: Algorithm, secret: &[u8]) -> Self {
        match algorithm.ring() {
            Some(ring_algorithm) => Secret::Ring(ring::hmac::Key::new(ring_algorithm, secret)),
            None => {
                let mut block = [0u8; MD5_BLOCK];
                if secret.len() > MD5_BLOCK {
                    block[..16].copy_from_slice(&md5::compute(secret).0);
                } else {
                    block[..secret.len()].copy_from_slice(secret);
                }
                Secret::Md5(Box::new(block))
            }
        }
    }

    /// A MAC computation under this key.
    pub(crate) fn context(&self) -> Context {
        match self {
            Secret::Ring(key) => Context::Ring(ring::hmac::Context::with_key(key)),
            Secret::Md5(block) => {
                let mut inner = md5::Context::new();
                inner.consume(block.map(|b| b ^ 0x36));
                Context::Md5 {
                    inner,
                    key: block.clone(),
                }
            }
        }
    }

    /// The MAC of `data`.
    pub(crate) fn sign(&self, data: &[u8]) -> Tag {
        let mut ctx = self.context();
        ctx.update(data);
        ctx.sign()
    }
}

/// A MAC being computed.
// ring's context is the common case and lives on the stack: boxing it would cost an
// allocation per message signed or checked.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum Context {
    /// SHA family, by ring.
    Ring(ring::hmac::Context),
    /// HMAC-MD5: the inner hash so far and the padded key for the outer one.
    Md5 {
        inner: md5::Context,
        key: Box<[u8; MD5_BLOCK]>,
    },
}

impl Context {
    /// Feeds `data`.
    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Context::Ring(ctx) => ctx.update(data),
            Context::Md5 { inner, .. } => inner.consume(data),
        }
    }

    /// The MAC of everything fed.
    pub(crate) fn sign(self) -> Tag {
        match self {
            Context::Ring(ctx) => Tag::Ring(ctx.sign()),
            Context::Md5 { inner, key } => {
                let inner = inner.finalize();
                let mut outer = md5::Context::new();
                outer.consume(key.map(|b| b ^ 0x5c));
                outer.consume(inner.0);
                Tag::Md5(outer.finalize().0)
            }
        }
    }
}

/// A MAC.
#[derive(Clone, Copy)]
pub(crate) enum Tag {
    /// SHA family.
    Ring(ring::hmac::Tag),
    /// HMAC-MD5.
    Md5([u8; 16]),
}

impl AsRef<[u8]> for Tag {
    fn as_ref(&self) -> &[u8] {
        match self {
            Tag::Ring(tag) => tag.as_ref(),
            Tag::Md5(mac) => mac,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 2202 §2, the HMAC-MD5 test cases 1, 2, 3 and 6 (a key longer than a block).
    #[test]
    fn hmac_md5_matches_rfc_2202() {
        let cases: [(&[u8], &[u8], &str); 4] = [
            (&[0x0b; 16], b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "750c783e6ab0b503eaa86e310a5db738",
            ),
            (&[0xaa; 16], &[0xdd; 50], "56be34521d144c88dbb8c733f0e8b3f6"),
            (
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
            ),
        ];
        for (key, data, want) in cases {
            let secret = Secret::new(Algorithm::HmacMd5, key);
            assert_eq!(hex(secret.sign(data).as_ref()), want);
            // Fed in pieces: the same.
            let mut ctx = secret.context();
            for piece in data.chunks(7) {
                ctx.update(piece);
            }
            assert_eq!(hex(ctx.sign().as_ref()), want);
        }
    }
}
