//! Why a scenario did not load, and where in the file.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::source_map::{KeyPath, Position, SourceMap};

/// Why a scenario file, or a folder of them, did not load.
///
/// Every message names the file; problems inside a file also name the key path and the line,
/// e.g. ``scenarios/x.yaml: faults[0].params: unknown key `memroy` at line 12 column 7``.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{}: unable to read the scenario file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A folder could not be listed.
    #[error("{}: unable to list the scenario folder: {source}", path.display())]
    ListFolder {
        /// The folder.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A folder holds no `*.yaml` or `*.yml` file.
    #[error("{}: no scenario files (*.yaml, *.yml) in the folder", path.display())]
    EmptyFolder {
        /// The folder.
        path: PathBuf,
    },
    /// The file is not a valid scenario.
    #[error("{origin}: {problem}")]
    Invalid {
        /// The file name, or whatever name the text was given.
        origin: String,
        /// What is wrong and where.
        problem: Problem,
    },
}

impl ScenarioError {
    /// The line the problem is on, when it is inside a file and the line is known.
    pub fn line(&self) -> Option<u64> {
        match self {
            ScenarioError::Invalid { problem, .. } => problem.line,
            _ => None,
        }
    }

    /// The problem inside the file, if that is what went wrong.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ScenarioError::Invalid { problem, .. } => Some(problem),
            _ => None,
        }
    }
}

/// What is wrong inside a scenario file and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key path, such as `faults[0].params`; empty when it is about the whole document.
    pub key_path: String,
    /// A lowercase sentence saying what is wrong and what would be right.
    pub message: String,
    /// Line, counted from 1, when known.
    pub line: Option<u64>,
    /// Column, counted from 1, when known.
    pub column: Option<u64>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.key_path.is_empty() {
            write!(f, "{}: ", self.key_path)?;
        }
        f.write_str(&self.message)?;
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, " at line {line} column {column}"),
            (Some(line), None) => write!(f, " at line {line}"),
            _ => Ok(()),
        }
    }
}

/// Shorthand for results of the loader.
pub type Result<T, E = ScenarioError> = std::result::Result<T, E>;

/// The document being validated: its name and where its keys are, to build errors.
pub(crate) struct Doc<'a> {
    pub origin: &'a str,
    pub map: &'a SourceMap,
}

impl Doc<'_> {
    /// An error about `path`, reported at `position`.
    pub fn error_at(
        &self,
        path: &KeyPath,
        position: Option<Position>,
        message: impl Into<String>,
    ) -> ScenarioError {
        invalid(self.origin, path, position, message)
    }

    /// An error about the value at `path`, reported where the value is written.
    pub fn invalid(&self, path: &KeyPath, message: impl Into<String>) -> ScenarioError {
        self.error_at(path, self.map.value_position(path), message)
    }

    /// An error about the key `key` of the mapping at `mapping`, reported where the key is.
    pub fn bad_key(
        &self,
        mapping: &KeyPath,
        key: &str,
        message: impl Into<String>,
    ) -> ScenarioError {
        self.error_at(mapping, self.map.key_position(&mapping.key(key)), message)
    }

    /// The value of a required key, or an error naming the key and the mapping that lacks it.
    pub fn required<T>(&self, value: Option<T>, mapping: &KeyPath, key: &str) -> Result<T> {
        // A key written with no value (`expect:`) is reported on its own line.
        value.ok_or_else(|| {
            let position = self.map.key_position(&mapping.key(key));
            self.error_at(mapping, position, format!("missing required key `{key}`"))
        })
    }
}

/// Builds [`ScenarioError::Invalid`].
pub(crate) fn invalid(
    origin: &str,
    path: &KeyPath,
    position: Option<Position>,
    message: impl Into<String>,
) -> ScenarioError {
    ScenarioError::Invalid {
        origin: origin.to_string(),
        problem: Problem {
            key_path: path.to_string(),
            message: message.into(),
            line: position.map(|p| p.line),
            column: position.map(|p| p.column),
        },
    }
}
