//! DNSSEC signing (RFC 4033-4035, 5155, 6781, 7583, 9276): every zone dnsd is primary
//! for can be signed, and kept signed as each diff arrives.
//!
//! The zone's manager calls the signer between applying a batch of changes (and its
//! serial) and writing the journal: from the new version and the batch's diff, the
//! signer computes the extra changes — signatures of the RRsets that changed, the
//! NSEC or NSEC3 links around the names that changed, the SOA's new signature — and
//! applies them on top, so that every version served, journaled and transferred is
//! signed. A zone's first version, and any version after a key or policy change, is
//! signed whole.
//!
//! - `policy`: what a zone's signing looks like (algorithm, keys, NSEC/NSEC3, times).
//! - `keys`: key pairs (ring), DNSKEY RDATA, key tags, DS.
//! - `rdata`: RRSIG, NSEC, NSEC3 RDATA; canonical RDATA; type bitmaps; base32hex.
//! - `sign`: one RRset's signature; the key set of a moment.
//! - `nsec`, `nsec3`: the chains, whole or repaired around changed names.
//! - `signer`: a version signed whole, or the changes a diff needs; refreshes.
//! - `resign`: a key or algorithm change signed again in batches, a version each.
//! - `rechain`: a change of the denial of existence walked in batches, likewise.
//! - `rrset_changes`: the transaction steps those share (an RRset signed in place).
//! - `store`: keys in the state folder (0600); `bind_format`: BIND's key files.
//! - `keyset`: which keys are published and sign at a moment, the CDS, the DS.
//! - `timeline`: each key's life and the rollovers (a pure core, given the time).
//! - `parent`: asking the parent whether it publishes a new key's DS.
//! - `stage`: the zone manager's signing stage.
//! - `withdraw`: going insecure when signing is turned off (RFC 8078 §4 delete form).
//! - `timer`: the daemon's signing timer (refreshes, key steps, the parent's DS).
//! - `status`: each key's state for `dnsd keys list`, `dnsd ctl status`, the metrics.

pub mod bind_format;
pub mod cli;
pub mod keys;
pub mod keyset;
pub mod nsec;
pub mod nsec3;
pub mod parent;
pub mod policy;
pub mod rdata;
pub mod rechain;
pub mod resign;
mod rrset_changes;
pub mod sign;
pub mod signer;
pub mod stage;
pub mod status;
pub mod store;
pub mod timeline;
pub mod timer;
pub mod withdraw;

pub use keys::{Algorithm, KeyPair};
pub use policy::{Denial, KeyScheme, Policy};
pub use sign::{KeySet, SigningKey};

#[cfg(test)]
mod tools_tests;

#[cfg(test)]
mod resign_tests;

#[cfg(test)]
mod rechain_tests;

#[cfg(test)]
mod rechain_keys_tests;

#[cfg(test)]
mod rollover_sim;

#[cfg(test)]
mod rollover_tests;

#[cfg(test)]
mod rollover_tools_tests;

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod bench_tests;
