//! Differences from NSD that are allowed, each with its reason (README.md, "Differences
//! from NSD", says the same for users). A rule looks at one case and the two normalized
//! responses and, when it applies, removes the difference it allows from both; the case
//! passes if nothing else differs.

use netfabric_tests::dns::Normalized;

use crate::cases::Case;

/// A named, justified rule.
struct Rule {
    name: &'static str,
    /// Removes the allowed difference; true when the rule applied.
    apply: fn(&Case, &mut Normalized, &mut Normalized) -> bool,
}

const RULES: &[Rule] = &[];

/// Applies every rule to (nsd, subject); returns the names of those that applied.
pub fn apply(case: &Case, nsd: &mut Normalized, subject: &mut Normalized) -> Vec<&'static str> {
    RULES
        .iter()
        .filter(|rule| (rule.apply)(case, nsd, subject))
        .map(|rule| rule.name)
        .collect()
}
