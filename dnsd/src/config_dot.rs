//! A `[[listener]]`'s transport (`transport = "udp-tcp"`, the default, or `"dot"`,
//! DNS over TLS, RFC 7858) and, for DoT, its `certificate` and `key` PEM files
//! (relative to the configuration file's folder). Whether the files load is checked
//! when dnsd starts and on each SIGHUP (`front::dot::Certificates`), with an error
//! naming the file.

use std::path::Path;

use toml::Spanned;

use super::Problems;
use crate::front::dot::TlsFiles;

/// The TLS files of a listener (`key` is its path, e.g. `listener[2]`): None for
/// UDP+TCP, or after saying what is wrong.
pub(super) fn listener_tls(
    transport: &Option<Spanned<String>>,
    certificate: &Option<Spanned<String>>,
    private_key: &Option<Spanned<String>>,
    key: &str,
    base: &Path,
    problems: &mut Problems<'_>,
) -> Option<TlsFiles> {
    let dot = match transport {
        None => false,
        Some(t) => match t.get_ref().as_str() {
            "udp-tcp" => false,
            "dot" => true,
            _ => {
                problems.fail(
                    Some(t.span()),
                    format!("{key}.transport"),
                    "expected one of udp-tcp, dot".into(),
                );
                return None;
            }
        },
    };
    if !dot {
        for (value, name) in [(certificate, "certificate"), (private_key, "key")] {
            if let Some(v) = value {
                problems.fail(
                    Some(v.span()),
                    format!("{key}.{name}"),
                    "only for transport = \"dot\"".into(),
                );
            }
        }
        return None;
    }
    let mut file = |value: &Option<Spanned<String>>, name: &str| match value {
        Some(v) => Some(base.join(v.get_ref())),
        None => {
            problems.fail(
                transport.as_ref().map(Spanned::span),
                format!("{key}.{name}"),
                "is missing: a DoT listener needs a certificate and a key (PEM files)".into(),
            );
            None
        }
    };
    let certificate = file(certificate, "certificate");
    let private_key = file(private_key, "key");
    Some(TlsFiles {
        certificate: certificate?,
        key: private_key?,
    })
}
