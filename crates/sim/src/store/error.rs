//! Why a store operation failed, with the HTTP status and `Status.reason` the API answers.

use super::admission::Invalid;

/// Why a store operation failed; the API layer turns these into `Status` objects.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum StoreError {
    /// 404.
    #[error("{kind} \"{name}\" not found")]
    NotFound {
        /// Resource plural (as the API reports it).
        kind: String,
        /// Object name.
        name: String,
    },
    /// 409 on create.
    #[error("{kind} \"{name}\" already exists")]
    AlreadyExists {
        /// Resource plural.
        kind: String,
        /// Object name.
        name: String,
    },
    /// 409 on a stale resourceVersion or failed precondition.
    #[error(
        "Operation cannot be fulfilled on {kind} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict {
        /// Resource plural.
        kind: String,
        /// Object name.
        name: String,
    },
    /// 422: admission rejected the object.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 410 on a watch from a compacted version.
    #[error("too old resource version: {requested} ({oldest})")]
    Gone {
        /// Version asked for.
        requested: u64,
        /// Oldest version still known.
        oldest: u64,
    },
    /// 429 when an eviction would violate a disruption budget.
    #[error("{0}")]
    TooManyRequests(String),
    /// 405 on writes to read-only resources.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 403 from admission: `<resource> "<name>" is forbidden: <why>`.
    #[error("{}", forbidden_message(resource, name, why))]
    Forbidden {
        /// Qualified resource (`configmaps`, `deployments.apps`).
        resource: String,
        /// Object name (empty when the server had not named it yet).
        name: String,
        /// Why.
        why: String,
        /// `details.causes`.
        causes: Vec<serde_json::Value>,
    },
}

/// The message of a 403 as `errors.NewForbidden` words it.
fn forbidden_message(resource: &str, name: &str, why: &str) -> String {
    if name.is_empty() {
        format!("{resource} is forbidden: {why}")
    } else {
        format!("{resource} \"{name}\" is forbidden: {why}")
    }
}

impl StoreError {
    /// HTTP status code of the error.
    pub fn code(&self) -> u16 {
        match self {
            StoreError::NotFound { .. } => 404,
            StoreError::AlreadyExists { .. } | StoreError::Conflict { .. } => 409,
            StoreError::Invalid(_) => 422,
            StoreError::BadRequest(_) => 400,
            StoreError::Gone { .. } => 410,
            StoreError::TooManyRequests(_) => 429,
            StoreError::MethodNotAllowed(_) => 405,
            StoreError::Forbidden { .. } => 403,
        }
    }

    /// Kubernetes `Status.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "NotFound",
            StoreError::AlreadyExists { .. } => "AlreadyExists",
            StoreError::Conflict { .. } => "Conflict",
            StoreError::Invalid(_) => "Invalid",
            StoreError::BadRequest(_) => "BadRequest",
            StoreError::Gone { .. } => "Expired",
            StoreError::TooManyRequests(_) => "TooManyRequests",
            StoreError::MethodNotAllowed(_) => "MethodNotAllowed",
            StoreError::Forbidden { .. } => "Forbidden",
        }
    }

    /// The error for a write to a resource that takes none.
    pub(super) fn read_only(rt: &crate::resources::ResourceType) -> Self {
        StoreError::MethodNotAllowed(format!(
            "the server does not allow this method on the requested resource {}",
            rt.plural
        ))
    }
}
