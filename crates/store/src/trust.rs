//! The trust ladder's record: the fate of every proposal, each row's mode when the agent
//! moves it (or a person pins it), and every change of mode. What a row earns is computed by
//! [`nightshift_core::trust`] from these.

use chrono::{DateTime, Utc};
use nightshift_core::policy::Mode;
use nightshift_core::trust::{Event, RowKey};

use crate::open::Pools;
use crate::{Store, StoreError, sql};

/// A row's stored state.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustState {
    /// Which row.
    pub row: RowKey,
    /// Its mode.
    pub mode: Mode,
    /// Whether a person pinned it there.
    pub pinned: bool,
    /// Its last demotion: fates before it no longer earn a promotion.
    pub since: Option<DateTime<Utc>>,
    /// When it last changed.
    pub changed_at: DateTime<Utc>,
}

/// A change of a row's mode, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustChange {
    /// From.
    pub from: Mode,
    /// To.
    pub to: Mode,
    /// Why.
    pub reason: String,
    /// Who (`nightshift` for the agent's own promotions and demotions).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl Store {
    /// Records a fate; `false` when the incident already has this fate on this row.
    pub async fn trust_record(&self, event: &Event) -> Result<bool, StoreError> {
        on_pool!(self, trust_record(event))
    }

    /// Every fate since `since`, oldest first.
    pub async fn trust_events(&self, since: DateTime<Utc>) -> Result<Vec<Event>, StoreError> {
        on_pool!(self, trust_events(since))
    }

    /// One row's fates since `since`, oldest first.
    pub async fn trust_row_events(
        &self,
        row: &RowKey,
        since: DateTime<Utc>,
    ) -> Result<Vec<Event>, StoreError> {
        on_pool!(self, trust_row_events(row, since))
    }

    /// Every row that has a stored state (moved or pinned at least once).
    pub async fn trust_states(&self) -> Result<Vec<TrustState>, StoreError> {
        on_pool!(self, trust_states())
    }

    /// One row's stored state.
    pub async fn trust_state(&self, row: &RowKey) -> Result<Option<TrustState>, StoreError> {
        on_pool!(self, trust_state_of(row))
    }

    /// Sets a row's state and records the change, in one transaction.
    pub async fn trust_set(
        &self,
        state: &TrustState,
        change: &TrustChange,
    ) -> Result<(), StoreError> {
        on_pool!(self, trust_set(state, change))
    }

    /// Changes of mode, newest first, with whether the row was pinned by it.
    pub async fn trust_changes(
        &self,
        limit: usize,
    ) -> Result<Vec<(RowKey, TrustChange, bool)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        on_pool!(self, trust_changes(limit))
    }
}
