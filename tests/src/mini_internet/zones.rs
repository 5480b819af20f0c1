//! The mini-Internet's zones (`super::MiniInternet`): what each holds, how it is
//! signed (keys made with `ldns-keygen`, zones signed with `ldns-signzone`), and the
//! deliberate breakages (records stripped, wrong DS, expired signatures).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{BIND, CORP, LAME, NSD, ROOT, SILENT, STRIP, TLD};

/// How a zone is signed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Signing {
    Unsigned,
    Nsec,
    Nsec3 {
        iterations: u16,
    },
    /// NSEC3 with opt-out (RFC 5155 §6): unsigned delegations get no NSEC3 record.
    Nsec3OptOut,
    /// Signatures valid from 2019 to 2020 only.
    Expired,
    /// Signed, but the parent's DS names a key that is not there.
    WrongDs,
    /// Signed, served without its DNSKEY RRset.
    NoDnskey,
    /// Signed (NSEC3 when `nsec3`), served without any NSEC/NSEC3 record: wildcard
    /// answers come without the proof that the name itself does not exist.
    NoWildcardProof {
        nsec3: bool,
    },
    /// Signed with Ed448 (algorithm 16), which dnsd's crypto crate (ring) lacks.
    Ed448,
    /// Signed, and the parent's DS names algorithm 200 (`digest: false`) or digest
    /// type 200 (`digest: true`), which no one implements (unassigned, RFC 8624).
    UnknownDs {
        digest: bool,
    },
}

/// A zone of the mini-Internet.
pub(super) struct ZoneDef {
    pub(super) name: &'static str,
    /// Records below the SOA and apex NS (origin-relative names allowed).
    pub(super) body: String,
    pub(super) signing: Signing,
    /// Address of the server that serves it.
    pub(super) server: &'static str,
    /// Children: (name, NS name, glue address or None).
    pub(super) children: Vec<(&'static str, &'static str, Option<&'static str>)>,
}

pub(super) fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

pub(super) fn file_stem(name: &str) -> String {
    match name.trim_end_matches('.') {
        "" => "root".to_string(),
        name => name.to_string(),
    }
}

/// The zones, parents first.
pub(super) fn zone_defs() -> Vec<ZoneDef> {
    let leaf = |name, server, signing, body: &str| ZoneDef {
        name,
        body: body.to_string(),
        signing,
        server,
        children: Vec::new(),
    };
    let big_txt: String = (0..12)
        .map(|i| format!("big TXT \"{i:02} {}\"\n", "x".repeat(200)))
        .collect();
    vec![
        ZoneDef {
            name: ".",
            body: String::new(),
            signing: Signing::Nsec3 { iterations: 0 },
            server: ROOT,
            children: vec![
                ("example.", "ns.example.", Some(TLD)),
                ("lab.", "ns.lab.", Some(TLD)),
            ],
        },
        ZoneDef {
            name: "example.",
            body: String::new(),
            signing: Signing::Nsec,
            server: TLD,
            children: vec![
                ("secure.example.", "ns.secure.example.", Some(BIND)),
                ("expired.example.", "ns.expired.example.", Some(BIND)),
                ("nsec3.example.", "ns.nsec3.example.", Some(NSD)),
                ("insecure.example.", "ns.insecure.example.", Some(NSD)),
                ("wrongds.example.", "ns.wrongds.example.", Some(NSD)),
                ("nodnskey.example.", "ns.nodnskey.example.", Some(NSD)),
                ("iter.example.", "ns.iter.example.", Some(NSD)),
                ("optout.example.", "ns.optout.example.", Some(NSD)),
                ("wcproof.example.", "ns.wcproof.example.", Some(NSD)),
                ("wcproof3.example.", "ns.wcproof3.example.", Some(NSD)),
                ("ed448.example.", "ns.ed448.example.", Some(NSD)),
                ("unknownalg.example.", "ns.unknownalg.example.", Some(NSD)),
                (
                    "unknowndigest.example.",
                    "ns.unknowndigest.example.",
                    Some(NSD),
                ),
                ("outofzone.example.", "ns2.plain.lab.", None),
                ("stripneg.example.", "ns.stripneg.example.", Some(STRIP)),
                ("lame.example.", "ns.lame.example.", Some(LAME)),
                ("timeout.example.", "ns.timeout.example.", Some(SILENT)),
            ],
        },
        ZoneDef {
            name: "lab.",
            body: String::new(),
            signing: Signing::Unsigned,
            server: TLD,
            children: vec![("plain.lab.", "ns.plain.lab.", Some(BIND))],
        },
        leaf(
            "secure.example.",
            BIND,
            Signing::Nsec,
            &format!(
                "www A 198.51.100.80\nwww AAAA 2001:db8::80\n@ MX 10 mail\n\
                 mail A 198.51.100.25\ntxt TXT \"hello\" \"world\"\n*.wild A 198.51.100.81\n\
                 *.wcname CNAME www\n\
                 alias CNAME www.plain.lab.\nchain CNAME www.nsec3.example.\n\
                 loop1 CNAME loop2\nloop2 CNAME loop1\ndn DNAME plain.lab.\n{big_txt}"
            ),
        ),
        leaf(
            "expired.example.",
            BIND,
            Signing::Expired,
            "www A 198.51.100.82\n",
        ),
        leaf(
            "nsec3.example.",
            NSD,
            Signing::Nsec3 { iterations: 0 },
            "www A 198.51.100.83\n*.wild TXT \"wild\"\nback CNAME www.secure.example.\n",
        ),
        leaf(
            "insecure.example.",
            NSD,
            Signing::Unsigned,
            "www A 198.51.100.84\n",
        ),
        leaf(
            "wrongds.example.",
            NSD,
            Signing::WrongDs,
            "www A 198.51.100.85\n",
        ),
        leaf(
            "nodnskey.example.",
            NSD,
            Signing::NoDnskey,
            "www A 198.51.100.86\n",
        ),
        leaf(
            "iter.example.",
            NSD,
            Signing::Nsec3 { iterations: 200 },
            "www A 198.51.100.87\n",
        ),
        leaf(
            "wcproof.example.",
            NSD,
            Signing::NoWildcardProof { nsec3: false },
            "www A 198.51.100.92\n*.wild A 198.51.100.93\n",
        ),
        leaf(
            "wcproof3.example.",
            NSD,
            Signing::NoWildcardProof { nsec3: true },
            "www A 198.51.100.94\n*.wild A 198.51.100.95\n",
        ),
        // Served by NSD through the relay that strips its negative answers' SOA and
        // proofs (`strip.rs`).
        leaf(
            "stripneg.example.",
            STRIP,
            Signing::Nsec,
            "www A 198.51.100.99\n",
        ),
        leaf(
            "ed448.example.",
            NSD,
            Signing::Ed448,
            "www A 198.51.100.96\n",
        ),
        leaf(
            "unknownalg.example.",
            NSD,
            Signing::UnknownDs { digest: false },
            "www A 198.51.100.97\n",
        ),
        leaf(
            "unknowndigest.example.",
            NSD,
            Signing::UnknownDs { digest: true },
            "www A 198.51.100.98\n",
        ),
        ZoneDef {
            name: "optout.example.",
            body: "www A 198.51.100.90\n".to_string(),
            signing: Signing::Nsec3OptOut,
            server: NSD,
            children: vec![("sub.optout.example.", "ns.sub.optout.example.", Some(NSD))],
        },
        leaf(
            "sub.optout.example.",
            NSD,
            Signing::Unsigned,
            "www A 198.51.100.91\n",
        ),
        leaf(
            "outofzone.example.",
            NSD,
            Signing::Unsigned,
            "www A 198.51.100.88\n",
        ),
        ZoneDef {
            name: "corp.example.",
            body: "www A 198.51.100.41\nalias CNAME www.secure.example.\n".to_string(),
            signing: Signing::Unsigned,
            server: CORP,
            children: vec![("dev.corp.example.", "ns.dev.corp.example.", Some(NSD))],
        },
        leaf(
            "dev.corp.example.",
            NSD,
            Signing::Unsigned,
            "www A 198.51.100.42\n",
        ),
        leaf(
            "plain.lab.",
            BIND,
            Signing::Unsigned,
            &format!("www A 198.51.100.89\nsigned CNAME www.secure.example.\nns2 A {NSD}\n"),
        ),
    ]
}

/// Signs `path` for `zone` as `signing` says; returns the signed file and the DS
/// record(s) the parent publishes (zone-file lines).
pub(super) fn sign(work: &Path, zone: &str, path: &Path, signing: Signing) -> (PathBuf, String) {
    let algorithm = match signing {
        Signing::Ed448 => "ED448",
        _ => "ECDSAP256SHA256",
    };
    let keygen = |ksk: bool| -> String {
        let mut cmd = Command::new("ldns-keygen");
        cmd.current_dir(work).args(["-a", algorithm]);
        if ksk {
            cmd.arg("-k");
        }
        let out = cmd.arg(zone).output().expect("run ldns-keygen");
        assert!(out.status.success(), "ldns-keygen: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let ksk = keygen(true);
    let zsk = keygen(false);
    let signed = work.join(format!("{}.signed", file_stem(zone)));
    let mut cmd = Command::new("ldns-signzone");
    cmd.current_dir(work).arg("-f").arg(&signed);
    match signing {
        Signing::NoWildcardProof { nsec3: true } => {
            cmd.args(["-n", "-t", "0"]);
        }
        Signing::Nsec3 { iterations } => {
            cmd.args(["-n", "-t", &iterations.to_string()]);
            if iterations > 0 {
                cmd.args(["-s", "abcd"]);
            }
        }
        Signing::Nsec3OptOut => {
            cmd.args(["-n", "-p", "-t", "0"]);
        }
        Signing::Expired => {
            cmd.args(["-i", "20190101000000", "-e", "20200101000000"]);
        }
        _ => {}
    }
    let out = cmd
        .arg(path)
        .arg(&ksk)
        .arg(&zsk)
        .output()
        .expect("run ldns-signzone");
    assert!(out.status.success(), "ldns-signzone {zone}: {out:?}");
    let mut ds = std::fs::read_to_string(work.join(format!("{ksk}.ds"))).expect("read DS");
    match signing {
        Signing::WrongDs => {
            // Another key's DS: a key tag and digest that match nothing in the zone.
            let other = keygen(true);
            ds = std::fs::read_to_string(work.join(format!("{other}.ds"))).expect("read DS");
        }
        Signing::UnknownDs { digest } => {
            // owner [TTL] class DS key-tag algorithm digest-type digest
            ds = ds
                .lines()
                .map(|line| {
                    let mut fields: Vec<&str> = line.split_whitespace().collect();
                    let at = fields.iter().position(|f| *f == "DS").unwrap_or(0);
                    if let Some(field) = fields.get_mut(at + if digest { 3 } else { 2 }) {
                        *field = "200";
                    }
                    format!("{}\n", fields.join(" "))
                })
                .collect();
        }
        Signing::NoDnskey => strip(&signed, &["DNSKEY"]),
        Signing::NoWildcardProof { .. } => strip(&signed, &["NSEC", "NSEC3"]),
        _ => {}
    }
    (signed, ds)
}

/// Takes the RRsets of `types` and their RRSIGs out of the signed zone file `signed`
/// (ldns-signzone writes one record a line: owner, TTL, class, type, data).
fn strip(signed: &Path, types: &[&str]) {
    let text = std::fs::read_to_string(signed).expect("read signed zone");
    let kept: String = text
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let listed = |field: Option<&&str>| field.is_some_and(|f| types.contains(f));
            let its_sig = fields.get(3) == Some(&"RRSIG") && listed(fields.get(4));
            !(listed(fields.get(3)) || its_sig)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(signed, kept).expect("write signed zone");
}
