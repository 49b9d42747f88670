//! Why a policy could not be read.

use std::path::PathBuf;

/// A policy file that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("unable to read policy file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a valid policy.
    #[error("{}", render(origin, key, *line, *column, message))]
    Invalid {
        /// The file name (or whatever the text was read from).
        origin: String,
        /// Path of the key at fault, like `namespaces.shop.mode`; empty for the whole document.
        key: String,
        /// Line, from 1, when known.
        line: Option<u64>,
        /// Column, from 1, when known.
        column: Option<u64>,
        /// What is wrong and what would be right.
        message: String,
    },
}

fn render(
    origin: &str,
    key: &str,
    line: Option<u64>,
    column: Option<u64>,
    message: &str,
) -> String {
    let mut out = format!("{origin}: ");
    if !key.is_empty() {
        out.push_str(key);
        out.push_str(": ");
    }
    out.push_str(message);
    match (line, column) {
        (Some(line), Some(column)) => out.push_str(&format!(" at line {line} column {column}")),
        (Some(line), None) => out.push_str(&format!(" at line {line}")),
        _ => {}
    }
    out
}
