//! The key set of a moment: from a zone's stored keys and their timeline, which keys
//! are published in the DNSKEY RRset, which sign what (RFC 6781 §3.1; both
//! algorithms during an algorithm rollover, RFC 6840 §5.11), and which key-signing
//! keys the CDS and CDNSKEY RRsets name (RFC 7344 §4); and the DS the parent publishes.

use super::keys::FLAG_SEP;
use super::policy::KeyScheme;
use super::sign::{KeySet, SigningKey};
use super::store::StoredKey;
use super::timeline::{self, TimelineKey};
use crate::wire::name::Name;

/// The key set that signs at `now` under `env`'s policy with `keys` (`timeline`):
/// the published keys in the DNSKEY RRset (of another algorithm than the policy's only
/// during an algorithm rollover: every RRset is then signed with both, RFC 6840
/// §5.11); the signing
/// key-signing keys sign it (under CSK, everything), the signing ZSKs the rest; the
/// CDS (SHA-256) and CDNSKEY RRsets name the key-signing keys the parent's DS set
/// should hold (RFC 7344 §4).
pub fn key_set(apex: &Name, keys: &[StoredKey], env: &timeline::Env<'_>, now: u64) -> KeySet {
    let policy = env.policy;
    let mut set = KeySet::default();
    let line: Vec<TimelineKey> = keys.iter().map(StoredKey::timeline).collect();
    for (key, t) in keys.iter().zip(&line) {
        // Keys of another algorithm are published while they sign (an algorithm
        // rollover, `timeline`) or until their planned removal.
        let other = key.pair.algorithm() != policy.algorithm;
        if !t.published(now) || (other && !t.signing(now) && t.times.remove.is_none()) {
            continue;
        }
        set.dnskeys.push(key.dnskey());
        if !t.signing(now) {
            continue;
        }
        let signing = SigningKey {
            tag: key.tag,
            pair: key.pair.clone(),
        };
        // A key of another algorithm signs as its algorithm's keys did: with a ZSK
        // of its algorithm beside it, the DNSKEY RRset only.
        let scheme = if other {
            let with_zsk = keys.iter().zip(&line).any(|(o, ot)| {
                o.pair.algorithm() == key.pair.algorithm() && !ot.sep && ot.signing(now)
            });
            if with_zsk {
                KeyScheme::KskZsk
            } else {
                KeyScheme::Csk
            }
        } else {
            policy.scheme
        };
        match (scheme, t.sep) {
            (KeyScheme::Csk, true) => {
                set.ksks.push(signing.clone());
                set.zsks.push(signing);
            }
            (KeyScheme::Csk, false) => {}
            (KeyScheme::KskZsk, true) => set.ksks.push(signing),
            (KeyScheme::KskZsk, false) => set.zsks.push(signing),
        }
    }
    if policy.publish_cds {
        let owner = apex.to_lowercase();
        for i in timeline::ds_wanted(&line, now, env) {
            let dnskey = keys[i].dnskey();
            set.cds
                .push(super::keys::ds_rdata(owner.as_wire(), &dnskey));
            set.cdnskeys.push(dnskey);
        }
    }
    set
}

/// The DS RDATAs (SHA-256) of the zone's key-signing keys: what the parent publishes.
pub fn ds_records(apex: &Name, keys: &[StoredKey]) -> Vec<(u16, Vec<u8>)> {
    let owner = apex.to_lowercase();
    keys.iter()
        .filter(|k| k.flags & FLAG_SEP != 0)
        .map(|k| (k.tag, super::keys::ds_rdata(owner.as_wire(), &k.dnskey())))
        .collect()
}
