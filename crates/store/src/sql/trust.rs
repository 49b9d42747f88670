// The trust ladder: fates, each row's state and its changes of mode.

type TrustEventRow = (
    String,
    String,
    String,
    String,
    String,
    DateTime<Utc>,
    String,
    String,
);

fn trust_event(
    (namespace, action, category, incident, fate, at, by, detail): TrustEventRow,
) -> Result<nightshift_core::trust::Event, StoreError> {
    let bad = |what: &str, e: String| StoreError::Decode {
        what: what.to_owned(),
        problem: e,
    };
    Ok(nightshift_core::trust::Event {
        row: nightshift_core::trust::RowKey {
            namespace,
            action: action.parse().map_err(|e| bad("trust action", e))?,
            category: category.parse().map_err(|e| bad("trust category", e))?,
        },
        incident,
        fate: fate.parse().map_err(|e| bad("trust fate", e))?,
        at,
        by,
        detail,
    })
}

/// Records a fate; `false` when this incident already has this fate on this row.
pub(crate) async fn trust_record(
    pool: &Pool,
    e: &nightshift_core::trust::Event,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO trust_events (namespace, action, category, incident, fate, at, by_whom, \
         detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (incident, namespace, action, category, fate) DO NOTHING",
    )
    .bind(&e.row.namespace)
    .bind(e.row.action.as_str())
    .bind(e.row.category.as_str())
    .bind(&e.incident)
    .bind(e.fate.as_str())
    .bind(e.at)
    .bind(&e.by)
    .bind(&e.detail)
    .execute(pool)
    .await
    .map_err(|err| StoreError::query(format!("record the fate of {}", e.incident), err))?;
    Ok(done.rows_affected() == 1)
}

/// Fates since `since`, oldest first.
pub(crate) async fn trust_events(
    pool: &Pool,
    since: DateTime<Utc>,
) -> Result<Vec<nightshift_core::trust::Event>, StoreError> {
    let rows: Vec<TrustEventRow> = sqlx::query_as(
        "SELECT namespace, action, category, incident, fate, at, by_whom, detail \
         FROM trust_events WHERE at >= $1 ORDER BY at, id",
    )
    .bind(since)
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query("read the trust ladder's fates", e))?;
    rows.into_iter().map(trust_event).collect()
}

/// Fates of one row since `since`, oldest first.
pub(crate) async fn trust_row_events(
    pool: &Pool,
    row: &nightshift_core::trust::RowKey,
    since: DateTime<Utc>,
) -> Result<Vec<nightshift_core::trust::Event>, StoreError> {
    let rows: Vec<TrustEventRow> = sqlx::query_as(
        "SELECT namespace, action, category, incident, fate, at, by_whom, detail \
         FROM trust_events WHERE namespace = $1 AND action = $2 AND category = $3 AND at >= $4 \
         ORDER BY at, id",
    )
    .bind(&row.namespace)
    .bind(row.action.as_str())
    .bind(row.category.as_str())
    .bind(since)
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query(format!("read the fates of {row}"), e))?;
    rows.into_iter().map(trust_event).collect()
}

type TrustStateRow = (
    String,
    String,
    String,
    String,
    bool,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
);

fn trust_state(
    (namespace, action, category, mode, pinned, since, changed_at): TrustStateRow,
) -> Result<TrustState, StoreError> {
    let bad = |what: &str, e: String| StoreError::Decode {
        what: what.to_owned(),
        problem: e,
    };
    Ok(TrustState {
        row: nightshift_core::trust::RowKey {
            namespace,
            action: action.parse().map_err(|e| bad("trust action", e))?,
            category: category.parse().map_err(|e| bad("trust category", e))?,
        },
        mode: mode.parse().map_err(|e| bad("trust mode", e))?,
        pinned,
        since,
        changed_at,
    })
}

/// Every row that has a state.
pub(crate) async fn trust_states(pool: &Pool) -> Result<Vec<TrustState>, StoreError> {
    let rows: Vec<TrustStateRow> = sqlx::query_as(
        "SELECT namespace, action, category, mode, pinned, since, changed_at FROM trust_rows \
         ORDER BY namespace, action, category",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query("read the trust ladder's rows", e))?;
    rows.into_iter().map(trust_state).collect()
}

/// One row's state.
pub(crate) async fn trust_state_of(
    pool: &Pool,
    row: &nightshift_core::trust::RowKey,
) -> Result<Option<TrustState>, StoreError> {
    let r: Option<TrustStateRow> = sqlx::query_as(
        "SELECT namespace, action, category, mode, pinned, since, changed_at FROM trust_rows \
         WHERE namespace = $1 AND action = $2 AND category = $3",
    )
    .bind(&row.namespace)
    .bind(row.action.as_str())
    .bind(row.category.as_str())
    .fetch_optional(pool)
    .await
    .map_err(|e| StoreError::query(format!("read {row}"), e))?;
    r.map(trust_state).transpose()
}

/// Sets a row's state and records the change, in one transaction.
pub(crate) async fn trust_set(
    pool: &Pool,
    state: &TrustState,
    change: &TrustChange,
) -> Result<(), StoreError> {
    let what = || format!("set the mode of {}", state.row);
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    sqlx::query(
        "INSERT INTO trust_rows (namespace, action, category, mode, pinned, since, changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (namespace, action, category) DO \
         UPDATE SET mode = excluded.mode, pinned = excluded.pinned, since = excluded.since, \
         changed_at = excluded.changed_at",
    )
    .bind(&state.row.namespace)
    .bind(state.row.action.as_str())
    .bind(state.row.category.as_str())
    .bind(state.mode.as_str())
    .bind(state.pinned)
    .bind(state.since)
    .bind(state.changed_at)
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    sqlx::query(
        "INSERT INTO trust_changes (namespace, action, category, from_mode, to_mode, pinned, \
         reason, by_whom, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&state.row.namespace)
    .bind(state.row.action.as_str())
    .bind(state.row.category.as_str())
    .bind(change.from.as_str())
    .bind(change.to.as_str())
    .bind(state.pinned)
    .bind(&change.reason)
    .bind(&change.by)
    .bind(change.at)
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    tx.commit().await.map_err(|e| StoreError::query(what(), e))
}

type TrustChangeRow = (
    String,
    String,
    String,
    String,
    String,
    bool,
    String,
    String,
    DateTime<Utc>,
);

/// Changes of mode, newest first, at most `limit`.
pub(crate) async fn trust_changes(
    pool: &Pool,
    limit: i64,
) -> Result<Vec<(nightshift_core::trust::RowKey, TrustChange, bool)>, StoreError> {
    let rows: Vec<TrustChangeRow> = sqlx::query_as(
        "SELECT namespace, action, category, from_mode, to_mode, pinned, reason, by_whom, at \
         FROM trust_changes ORDER BY at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query("read the trust ladder's changes", e))?;
    let bad = |what: &str, e: String| StoreError::Decode {
        what: what.to_owned(),
        problem: e,
    };
    rows.into_iter()
        .map(
            |(namespace, action, category, from, to, pinned, reason, by, at)| {
                Ok((
                    nightshift_core::trust::RowKey {
                        namespace,
                        action: action.parse().map_err(|e| bad("trust action", e))?,
                        category: category.parse().map_err(|e| bad("trust category", e))?,
                    },
                    TrustChange {
                        from: from.parse().map_err(|e| bad("trust mode", e))?,
                        to: to.parse().map_err(|e| bad("trust mode", e))?,
                        reason,
                        by,
                        at,
                    },
                    pinned,
                ))
            },
        )
        .collect()
}
