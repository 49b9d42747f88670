//! Secrets redaction: the rules live in `nightshift_core::redact`, shared with the model
//! analyzer, which redacts everything again before a request leaves the process.

pub use nightshift_core::redact::{MASK, redact};
