//! What can go wrong with the record. Messages read like log lines and keep their source.

use nightshift_core::IncidentId;
use nightshift_core::incident::InvalidTransition;

use crate::records::{ActionStatus, IntentId};

/// An error of the incident record.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no database this store can open.
    #[error(
        "invalid database url {url:?}: {problem}; expected sqlite://PATH, a file path, sqlite::memory: or postgres://USER@HOST:PORT/DATABASE"
    )]
    InvalidUrl {
        /// The URL as given (passwords removed).
        url: String,
        /// What is wrong with it.
        problem: String,
    },

    /// The SQLite file could not be opened or configured.
    #[error("unable to open sqlite database {path}")]
    OpenSqlite {
        /// The file (or `:memory:`).
        path: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },

    /// No connection to PostgreSQL.
    #[error("unable to connect to postgresql at {target}")]
    ConnectPostgres {
        /// `host:port/database`.
        target: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },

    /// Migrations failed.
    #[error("unable to migrate the {dialect} database")]
    Migrate {
        /// `sqlite` or `postgres`.
        dialect: &'static str,
        /// Why.
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// A statement failed; `action` says what the store was doing.
    #[error("unable to {action}")]
    Query {
        /// What the store was doing, e.g. `load incident inc-000042`.
        action: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },

    /// A stored value could not be read back into its domain type.
    #[error("unable to decode {what} from the database: {problem}")]
    Decode {
        /// What was read.
        what: String,
        /// What was wrong with it.
        problem: String,
    },

    /// Optimistic concurrency: somebody else updated the incident since it was read.
    #[error("incident {id} was modified concurrently (expected version {expected}, found {found})")]
    Concurrent {
        /// Incident.
        id: IncidentId,
        /// The version the caller read.
        expected: i64,
        /// The version in the database.
        found: i64,
    },

    /// No such incident.
    #[error("incident {id} does not exist")]
    IncidentNotFound {
        /// Incident.
        id: IncidentId,
    },

    /// A signal that was never recorded.
    #[error("signal {origin}/{fingerprint} was never recorded")]
    SignalNotFound {
        /// `alertmanager` or `watcher`.
        origin: String,
        /// Its fingerprint.
        fingerprint: String,
    },

    /// The state machine refused a transition the store was asked to make.
    #[error(transparent)]
    Transition(#[from] InvalidTransition),

    /// Approve, reject or expire on an incident that waits for nobody.
    #[error("incident {id} has no pending approval")]
    NoPendingApproval {
        /// Incident.
        id: IncidentId,
    },

    /// A second approval request while one is pending.
    #[error("incident {id} already has a pending approval")]
    ApprovalPending {
        /// Incident.
        id: IncidentId,
    },

    /// An intent with this idempotency key exists: the change must not be made twice.
    #[error("an action intent with idempotency key {key} is already recorded")]
    DuplicateIntent {
        /// The key.
        key: String,
    },

    /// A replica that no longer leads tried to record an intent: another took the lead since.
    #[error(
        "not recorded: this replica led in term {term}, and the record is at term {current}; another replica leads now"
    )]
    Fenced {
        /// The term the replica acted under.
        term: u64,
        /// The current term.
        current: u64,
    },

    /// No such intent.
    #[error("action intent {id} does not exist")]
    IntentNotFound {
        /// Intent.
        id: IntentId,
    },

    /// A value the store refuses to write, and why.
    #[error("{0}")]
    Invalid(String),

    /// The intent already has its outcome.
    #[error("action intent {id} is already {status}")]
    IntentFinished {
        /// Intent.
        id: IntentId,
        /// Its recorded outcome.
        status: ActionStatus,
    },
}

impl StoreError {
    /// A failed statement, with what the store was doing.
    pub(crate) fn query(action: impl Into<String>, source: sqlx::Error) -> Self {
        StoreError::Query {
            action: action.into(),
            source,
        }
    }

    /// Whether the source is a unique-constraint violation.
    pub(crate) fn is_unique_violation(source: &sqlx::Error) -> bool {
        matches!(source, sqlx::Error::Database(db) if db.is_unique_violation())
    }
}
