//! Container names to DNS labels (RFC 1035 §2.3.1, RFC 1123 §2.1: letters, digits and
//! hyphens, 1 to 63 octets, no hyphen at either end).
//!
//! The rule, documented in README.md: lowercase; every character other than `a-z`,
//! `0-9` and `-` becomes `-` (so `web_1` → `web-1`, `My.App` → `my-app`); runs of `-`
//! become one; `-` at either end is dropped; the result is cut to 63 octets (and a `-`
//! left at the cut dropped). What is empty after that gives no name (logged).

/// The hostname label for `text`, or None when nothing usable is left.
pub fn label(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len().min(63));
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    out.truncate(63);
    while out.ends_with('-') {
        out.pop();
    }
    (!out.is_empty()).then_some(out)
}

/// A `dns.name` label value: one or more names separated by commas, each relative to
/// the zone (`web`, `api.web`) or absolute (`web.svc.example.net.`); each label is
/// normalised as [`label`] says. Returns (labels, absolute) per name; names with an
/// empty label are left out.
pub fn label_names(value: &str) -> Vec<(Vec<String>, bool)> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .filter_map(|v| {
            let absolute = v.ends_with('.');
            let labels: Option<Vec<String>> =
                v.trim_end_matches('.').split('.').map(label).collect();
            labels.map(|l| (l, absolute))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_hostname_labels() {
        assert_eq!(label("web_1").as_deref(), Some("web-1"));
        assert_eq!(label("My.App").as_deref(), Some("my-app"));
        assert_eq!(label("--a__b--").as_deref(), Some("a-b"));
        assert_eq!(label("___"), None);
        assert_eq!(label("ünï").as_deref(), Some("n"));
        let long = "a".repeat(62) + "-b";
        assert_eq!(label(&long).map(|l| l.len()), Some(62));
    }

    #[test]
    fn label_values_are_relative_or_absolute_names() {
        assert_eq!(
            label_names("api, Web_2.Example.NET., bad..x"),
            vec![
                (vec!["api".to_string()], false),
                (vec!["web-2".into(), "example".into(), "net".into()], true),
            ]
        );
    }
}
