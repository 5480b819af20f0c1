//! The files the resolver starts from: root hints (RFC 8109 §2: the NS records of the
//! root and their addresses, in zone-file format, as Debian's `dns-root-data` ships
//! `/usr/share/dns/root.hints`) and the trust anchor (DS or DNSKEY records of the
//! root, as `/usr/share/dns/root.key`). Both are read with hickory's zone-file parser.

use std::path::{Path, PathBuf};

use hickory_proto::rr::{Name, Record, RecordType};
use hickory_proto::serialize::txt::Parser;

use super::iterator::Hints;

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HintsError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not zone-file text.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The file lacks what it must hold.
    #[error("{}: {message}", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// What is missing.
        message: &'static str,
    },
}

/// Every record of a zone-file-format file (a `$TTL` is assumed when lines have none).
fn records(path: &Path) -> Result<Vec<Record>, HintsError> {
    let text = std::fs::read_to_string(path).map_err(|source| HintsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|message| HintsError::Parse {
        path: path.to_path_buf(),
        message,
    })
}

/// Every record of zone-file text.
pub fn parse(text: &str) -> Result<Vec<Record>, String> {
    let text = format!("$TTL 3600000\n{text}");
    let (_, sets) = Parser::new(text, None, Some(Name::root()))
        .parse()
        .map_err(|e| e.to_string())?;
    Ok(sets.into_values().flat_map(|set| set.into_iter()).collect())
}

/// Reads root hints: the root's NS records and the addresses of their names.
pub fn load_hints(path: &Path) -> Result<Hints, HintsError> {
    let all = records(path)?;
    hints_from(all).ok_or_else(|| HintsError::Missing {
        path: path.to_path_buf(),
        message: "no NS record of the root with an address",
    })
}

/// The hints among `records`, if they name at least one root server with an address.
pub fn hints_from(records: Vec<Record>) -> Option<Hints> {
    let ns: Vec<Record> = records
        .iter()
        .filter(|r| r.record_type() == RecordType::NS && r.name.is_root())
        .cloned()
        .collect();
    let addresses: Vec<Record> = records
        .into_iter()
        .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
        .filter(|r| {
            ns.iter()
                .any(|n| matches!(&n.data, hickory_proto::rr::RData::NS(t) if t.0 == r.name))
        })
        .collect();
    (!addresses.is_empty()).then_some(Hints { ns, addresses })
}

/// Reads a trust anchor file: its DS and DNSKEY records.
pub fn load_anchor(path: &Path) -> Result<Vec<Record>, HintsError> {
    let anchors: Vec<Record> = records(path)?
        .into_iter()
        .filter(|r| matches!(r.record_type(), RecordType::DS | RecordType::DNSKEY))
        .collect();
    if anchors.is_empty() {
        return Err(HintsError::Missing {
            path: path.to_path_buf(),
            message: "no DS or DNSKEY record",
        });
    }
    Ok(anchors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_style_hints_and_anchor_parse() {
        let hints = hints_from(
            parse(
                ".                        3600000      NS    A.ROOT-SERVERS.NET.\n\
                 A.ROOT-SERVERS.NET.      3600000      A     198.51.100.1\n\
                 A.ROOT-SERVERS.NET.      3600000      AAAA  2001:db8::1\n\
                 B.ROOT-SERVERS.NET.      3600000      A     198.51.100.2\n",
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(hints.ns.len(), 1);
        // B is no NS of the root here: not a hint.
        assert_eq!(hints.addresses.len(), 2);
        let anchor = parse(
            ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n",
        )
        .unwrap();
        assert_eq!(anchor[0].record_type(), RecordType::DS);
        assert!(hints_from(anchor).is_none());
    }
}
