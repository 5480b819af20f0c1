//! The PowerDNS API's JSON, as Proxmox VE's SDN DNS plugin
//! (`PVE/Network/SDN/Dns/PowerdnsPlugin.pm`) reads and writes it, and its mapping to
//! and from zones and transactions (pure). Record contents are presentation format,
//! read with dnsd's zone-file parser and written with hickory's.
//!
//! The plugin's calls: `GET {url}` (the server object), `GET {url}/zones/Z?rrsets=false`
//! (the zone exists), `GET {url}/zones/Z` (its RRsets, matched by `name`),
//! `PATCH {url}/zones/Z` with `rrsets` of `changetype` REPLACE (all records of the
//! RRset, `content` and `disabled`) or DELETE.

use std::path::Path;

use hickory_proto::rr::{RData, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, Restrict};
use serde::{Deserialize, Serialize};

use crate::wire::name::Name;
use crate::zone::files::LoadOptions;
use crate::zone::parse::Parser;
use crate::zone::txn::{Change, Transaction};
use crate::zone::{Rtype, Zone};

/// A `PATCH` body.
#[derive(Debug, Deserialize)]
pub struct Patch {
    /// The RRsets to change.
    pub rrsets: Vec<RrsetPatch>,
}

/// One RRset of a `PATCH`.
#[derive(Debug, Deserialize)]
pub struct RrsetPatch {
    /// Absolute owner name (with its final dot).
    pub name: String,
    /// Type mnemonic.
    #[serde(rename = "type")]
    pub rtype: String,
    /// TTL (REPLACE).
    #[serde(default)]
    pub ttl: Option<u32>,
    /// REPLACE or DELETE.
    pub changetype: String,
    /// The records (REPLACE).
    #[serde(default)]
    pub records: Vec<RecordJson>,
}

/// One record, as the API carries it.
#[derive(Debug, Deserialize, Serialize, Clone, PartialEq, Eq)]
pub struct RecordJson {
    /// RDATA in presentation format.
    pub content: String,
    /// Disabled records are not served (dnsd drops them).
    #[serde(default)]
    pub disabled: bool,
}

/// One RRset, as `GET /zones/Z` shows it.
#[derive(Debug, Serialize)]
pub struct RrsetJson {
    /// Absolute owner name.
    pub name: String,
    /// Type mnemonic.
    #[serde(rename = "type")]
    pub rtype: String,
    /// TTL.
    pub ttl: u32,
    /// Records.
    pub records: Vec<RecordJson>,
    /// Comments (dnsd keeps none).
    pub comments: Vec<String>,
}

/// A zone object (PowerDNS's `Zone`).
#[derive(Debug, Serialize)]
pub struct ZoneJson {
    /// Zone id (its name, with the final dot).
    pub id: String,
    /// Name.
    pub name: String,
    /// "Zone".
    #[serde(rename = "type")]
    pub kind_of: &'static str,
    /// Its URL.
    pub url: String,
    /// "Native": dnsd serves it itself (and to its secondaries).
    pub kind: &'static str,
    /// Serial served.
    pub serial: u32,
    /// Serial served.
    pub edited_serial: u32,
    /// Serial served.
    pub notified_serial: u32,
    /// Primaries (none).
    pub masters: Vec<String>,
    /// Whether signed.
    pub dnssec: bool,
    /// Account.
    pub account: String,
    /// RRsets, unless `rrsets=false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrsets: Option<Vec<RrsetJson>>,
}

/// Why a PATCH was refused (HTTP 422 with PowerDNS's `{"error": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatchError(pub String);

/// The zone object of `zone` under `base` (`/api/v1/servers/ID`).
pub fn zone_json(zone: &Zone, base: &str, with_rrsets: bool) -> ZoneJson {
    let name = zone.apex().to_string();
    let serial = zone.serial().unwrap_or(0);
    ZoneJson {
        id: name.clone(),
        url: format!("{base}/zones/{name}"),
        name,
        kind_of: "Zone",
        kind: "Native",
        serial,
        edited_serial: serial,
        notified_serial: serial,
        masters: Vec::new(),
        dnssec: false,
        account: String::new(),
        rrsets: with_rrsets.then(|| rrsets(zone)),
    }
}

/// Every RRset of `zone` (RRSIG, NSEC and NSEC3 left out), in canonical order.
fn rrsets(zone: &Zone) -> Vec<RrsetJson> {
    let mut out = Vec::new();
    for node in zone.nodes() {
        let owner = node.owner_name().to_string();
        for rrset in node.rrsets() {
            if matches!(rrset.rtype, Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3) {
                continue;
            }
            let records = rrset
                .rdatas()
                .map(|rdata| RecordJson {
                    content: content(rrset.rtype, rdata),
                    disabled: false,
                })
                .collect();
            out.push(RrsetJson {
                name: owner.clone(),
                rtype: rrset.rtype.to_string(),
                ttl: rrset.ttl,
                records,
                comments: Vec::new(),
            });
        }
    }
    out
}

/// RDATA in presentation format (hickory's), or RFC 3597's `\# len hex`.
fn content(rtype: Rtype, rdata: &[u8]) -> String {
    let mut decoder = BinDecoder::new(rdata);
    match RData::read(
        &mut decoder,
        RecordType::from(rtype.0),
        Restrict::new(rdata.len() as u16),
    ) {
        Ok(r) => r.to_string(),
        Err(_) => {
            let hex: String = rdata.iter().map(|b| format!("{b:02x}")).collect();
            format!("\\# {} {hex}", rdata.len())
        }
    }
}

/// The transaction a PATCH asks of `zone` (whose apex is `apex`).
pub fn patch_txn(apex: &Name, patch: &Patch) -> Result<Transaction, PatchError> {
    let mut txn = Transaction::new();
    for rrset in &patch.rrsets {
        let owner_text = if rrset.name.ends_with('.') {
            rrset.name.clone()
        } else {
            format!("{}.", rrset.name)
        };
        let owner = Name::from_text(&owner_text, None)
            .map_err(|e| PatchError(format!("RRset {}: bad name: {e}", rrset.name)))?
            .to_lowercase();
        if !owner.is_subdomain_of(apex) {
            return Err(PatchError(format!(
                "RRset {} IN {}: Name is out of zone",
                rrset.name, rrset.rtype
            )));
        }
        let rtype = Rtype::from_text(&rrset.rtype.to_ascii_uppercase()).ok_or_else(|| {
            PatchError(format!(
                "RRset {}: unknown type {:?}",
                rrset.name, rrset.rtype
            ))
        })?;
        match rrset.changetype.to_ascii_uppercase().as_str() {
            "DELETE" => {
                txn.push(Change::RemoveRrset { owner, rtype });
            }
            "REPLACE" => {
                let ttl = rrset.ttl.ok_or_else(|| {
                    PatchError(format!(
                        "RRset {} IN {}: TTL is required for REPLACE",
                        rrset.name, rrset.rtype
                    ))
                })?;
                let mut rdatas = Vec::new();
                for record in rrset.records.iter().filter(|r| !r.disabled) {
                    rdatas.push(parse_content(apex, &owner, rtype, &record.content)?);
                }
                rdatas.sort();
                rdatas.dedup();
                txn.push(Change::Replace {
                    owner,
                    rtype,
                    ttl,
                    rdatas,
                });
            }
            other => {
                return Err(PatchError(format!(
                    "RRset {} IN {}: changetype {other:?} is not REPLACE or DELETE",
                    rrset.name, rrset.rtype
                )));
            }
        }
    }
    Ok(txn)
}

/// The wire RDATA of `content` for a record of type `rtype` at `owner`, read with the
/// zone-file parser (names in it relative to nothing: PowerDNS wants them absolute).
fn parse_content(
    apex: &Name,
    owner: &Name,
    rtype: Rtype,
    content: &str,
) -> Result<Box<[u8]>, PatchError> {
    let bad = |why: String| PatchError(format!("Record {owner}/{rtype} '{content}': {why}"));
    if content.contains(['\n', '\r']) || content.trim().is_empty() {
        return Err(bad("not one line of RDATA".into()));
    }
    let text = format!("{owner} 0 IN {rtype} {content}\n");
    let mut parser = Parser::new(apex, false, LoadOptions::default());
    parser.parse_bytes(text.as_bytes(), Path::new("api"));
    let (records, diag) = parser.into_parts();
    if let Some(e) = diag.errors.first() {
        return Err(bad(e.kind.to_string()));
    }
    match records.as_slice() {
        [one] if one.record.rtype == rtype => Ok(one.record.rdata.clone()),
        _ => Err(bad("not one record".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_patch_becomes_replace_and_delete() {
        let apex = Name::from_text("home.test.", None).expect("apex");
        let body = r#"{"rrsets":[
            {"name":"vm1.home.test.","type":"A","ttl":14400,"changetype":"REPLACE",
             "records":[{"content":"198.51.100.7","disabled":false,"name":"vm1.home.test.","type":"A"}]},
            {"name":"vm2.home.test.","type":"AAAA","changetype":"DELETE","records":[]}]}"#;
        let patch: Patch = serde_json::from_str(body).expect("json");
        let txn = patch_txn(&apex, &patch).expect("txn");
        assert_eq!(txn.changes.len(), 2);
        assert!(
            matches!(&txn.changes[0], Change::Replace { ttl: 14400, rdatas, .. } if rdatas == &vec![Box::from(&[198u8, 51, 100, 7][..])])
        );
        let outside: Patch = serde_json::from_str(
            r#"{"rrsets":[{"name":"x.other.","type":"A","ttl":1,"changetype":"REPLACE","records":[]}]}"#,
        )
        .expect("json");
        assert!(patch_txn(&apex, &outside).is_err());
        let bad: Patch = serde_json::from_str(
            r#"{"rrsets":[{"name":"x.home.test.","type":"A","ttl":1,"changetype":"REPLACE","records":[{"content":"not-an-address"}]}]}"#,
        )
        .expect("json");
        assert!(patch_txn(&apex, &bad).is_err());
    }
}
