//! The record's SQL, written once and compiled for each dialect.
//!
//! Both dialects take the same statements: `$1`-style placeholders (SQLite reads `$N` as
//! parameter N), `RETURNING`, `ON CONFLICT .. DO UPDATE`, partial indexes. What differs is
//! column types (see the two migration folders) and two statements below: how a write
//! transaction starts and how correlation takes its lock.
//!
//! sqlx code that is generic over the database needs a long list of trait bounds on every
//! function (`&str: Encode<DB>`, `DateTime<Utc>: Decode<DB>`, `usize: ColumnIndex<DB::Row>`, ...),
//! which Rust does not let a trait alias imply. So the operations are plain functions over
//! the type aliases `Db`, `Pool` and `Conn`, kept in the files beside this one and `include!`d
//! into one module per dialect. (`cargo fmt` does not reach included files: run
//! `rustfmt --edition 2024 crates/store/src/sql/*.rs` after editing them.)

/// What every operation file uses.
mod prelude {
    pub(super) use chrono::{DateTime, Utc};
    pub(super) use nightshift_core::{
        Action, Analysis, Decision, Evidence, Incident, IncidentId, Plan, ResourceRef, Signal,
        SignalStatus, State, TimelineEntry, TimelineKind, notice::NotifyEvent,
    };
    pub(super) use serde_json::json;
    pub(super) use sqlx::types::Json;

    pub(super) use crate::codec::{
        approval_str, kind_str, parse, parse_action_status, search_pattern, search_text,
        source_str, state_str, status_str, to_u32,
    };
    pub(super) use crate::error::StoreError;
    pub(super) use crate::records::{
        ActionCount, ActionRecord, ActionStatus, AnalysisId, AnalysisRecord, Approval,
        ApprovalAnswer, ApprovalId, ApprovalStatus, Correlated, DecisionId, DecisionRecord,
        EvidenceRound, IncidentFilter, Ingested, IntentId, NewIncident, NoticeRecord, NoticeStatus,
        PendingNotice, SignalKey, SignalOutcome, Stats, StoredIncident, TimelineRecord,
        resource_key,
    };
    pub(super) use crate::trust::{TrustChange, TrustState};
}

/// SQLite: the embedded default.
pub(crate) mod sqlite {
    use super::prelude::*;
    use sqlx::{Sqlite, SqliteConnection, SqlitePool};

    type Db = Sqlite;
    type Pool = SqlitePool;
    type Conn = SqliteConnection;

    /// Starts a write transaction. `IMMEDIATE` takes the write lock up front, so a
    /// read-then-write transaction waits (busy timeout) instead of failing to upgrade.
    async fn begin_write(pool: &Pool) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// Starts a read transaction: its reads see one snapshot (WAL), from the first on.
    async fn begin_read(pool: &Pool) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
        pool.begin().await
    }

    /// Reads the leadership term; the IMMEDIATE transaction already holds the only write lock.
    fn lock_term_sql() -> &'static str {
        "SELECT term FROM leadership WHERE id = 1"
    }

    /// A signal's `severity` label, from its stored body.
    fn severity_sql() -> &'static str {
        "json_extract(body, '$.labels.severity')"
    }

    /// Serializes correlation for one resource; the IMMEDIATE transaction already holds
    /// the database's only write lock.
    async fn lock_resource(_conn: &mut Conn, _key: &str) -> Result<(), sqlx::Error> {
        Ok(())
    }

    /// Full-text search of the knowledge base: FTS5's bm25 (lower is better, so negated).
    /// `$1` the match expression, `$2` the limit, `$3` an id to leave out.
    fn kb_search_sql() -> &'static str {
        "SELECT e.body, -kb_fts.rank FROM kb_fts JOIN kb_entries e ON e.seq = kb_fts.rowid \
         WHERE kb_fts MATCH $1 AND e.id <> $3 ORDER BY kb_fts.rank LIMIT $2"
    }

    /// Any of the terms, each quoted (they are letters and digits only).
    fn kb_match_query(terms: &[String]) -> String {
        terms
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(" OR ")
    }

    include!("incidents.rs");
    include!("list.rs");
    include!("signals.rs");
    include!("timeline.rs");
    include!("findings.rs");
    include!("approvals.rs");
    include!("actions.rs");
    include!("leadership.rs");
    include!("outbox.rs");
    include!("console.rs");
    include!("kb.rs");
    include!("trust.rs");
}

/// PostgreSQL.
pub(crate) mod postgres {
    use super::prelude::*;
    use sqlx::{PgConnection, PgPool, Postgres};

    type Db = Postgres;
    type Pool = PgPool;
    type Conn = PgConnection;

    /// Starts a write transaction (read committed; updates check the row version).
    async fn begin_write(pool: &Pool) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
        pool.begin().await
    }

    /// Starts a read transaction whose reads see one snapshot.
    async fn begin_read(pool: &Pool) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
        pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
    }

    /// Reads the leadership term and holds its row until the transaction ends: a new leader's
    /// claim waits for an intent being recorded under the old term, never interleaves.
    fn lock_term_sql() -> &'static str {
        "SELECT term FROM leadership WHERE id = 1 FOR SHARE"
    }

    /// A signal's `severity` label, from its stored body.
    fn severity_sql() -> &'static str {
        "body->'labels'->>'severity'"
    }

    /// Serializes correlation for one resource with a transaction-scoped advisory lock, so
    /// two signals for the same root resource cannot open two incidents.
    async fn lock_resource(conn: &mut Conn, key: &str) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(key)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Full-text candidates from the knowledge base: `ts_rank` over the GIN-indexed vector
    /// (cheaper per entry than `ts_rank_cd`; the final order is the agent's own BM25 over
    /// the whole base's word counts, so this only picks which candidates are read).
    /// `$1` the tsquery, `$2` the limit, `$3` an id to leave out.
    fn kb_search_sql() -> &'static str {
        "SELECT body, ts_rank(tsv, q)::float8 AS rank \
         FROM kb_entries, to_tsquery('simple', $1) AS q \
         WHERE tsv @@ q AND id <> $3 ORDER BY rank DESC LIMIT $2"
    }

    /// Any of the terms (letters and digits only, so nothing needs quoting).
    fn kb_match_query(terms: &[String]) -> String {
        terms.join(" | ")
    }

    include!("incidents.rs");
    include!("list.rs");
    include!("signals.rs");
    include!("timeline.rs");
    include!("findings.rs");
    include!("approvals.rs");
    include!("actions.rs");
    include!("leadership.rs");
    include!("outbox.rs");
    include!("console.rs");
    include!("kb.rs");
    include!("trust.rs");
}
