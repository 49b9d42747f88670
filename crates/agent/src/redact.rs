//! Secrets redaction: the rules live in `nightshift_core::redact`, shared with the model
//! analyzer, which redacts everything again before a request leaves the process.

use std::collections::BTreeMap;

pub use nightshift_core::redact::{LineRedactor, MASK, redact, redact_lines};

/// Every value of a label or annotation map redacted; the names are identifiers and stay.
pub fn redact_values(map: BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.into_iter().map(|(k, v)| (k, redact(&v))).collect()
}
