// Actions with write-ahead intents: the intent is committed before the change is made, and
// marked done or failed after it, so a crash in between leaves an unfinished intent to
// resume from instead of a change nobody knows about.
// Included once per dialect by sql/mod.rs; see there for `Db`, `Pool`, `Conn`.

/// The columns of [`ActionRow`], as a literal for `concat!`.
macro_rules! action_columns {
    () => {
        "id, incident_id, attempt, idempotency_key, status, intended_at, finished_at, outcome, \
         error, body"
    };
}

/// The columns of an action row, in [`action_columns!`] order.
type ActionRow = (
    i64,
    String,
    i64,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<Json<serde_json::Value>>,
    Option<String>,
    Json<Action>,
);

fn action_record(row: ActionRow) -> Result<ActionRecord, StoreError> {
    let (id, incident, attempt, key, status, intended_at, finished_at, outcome, error, action) =
        row;
    Ok(ActionRecord {
        id: IntentId(id),
        incident: IncidentId(incident),
        attempt: to_u32("attempt", attempt)?,
        action: action.0,
        idempotency_key: key,
        status: parse_action_status(&status)?,
        intended_at,
        finished_at,
        outcome: outcome.map(|o| o.0),
        error,
    })
}

/// Records the intent to carry out `action`, before doing it.
pub(crate) async fn record_intent(
    pool: &Pool,
    incident: &IncidentId,
    attempt: u32,
    action: &Action,
    idempotency_key: &str,
    at: DateTime<Utc>,
    term: Option<u64>,
) -> Result<IntentId, StoreError> {
    let what = || format!("record the intent to {} for {incident}", action.name());
    let target = action.target();
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    if let Some(term) = term {
        check_term(&mut tx, term).await?;
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO actions (incident_id, attempt, action, target_key, idempotency_key, \
         status, intended_at, body, term) VALUES ($1, $2, $3, $4, $5, 'intended', $6, $7, $8) \
         RETURNING id",
    )
    .bind(&incident.0)
    .bind(i64::from(attempt))
    .bind(action.name().as_str())
    .bind(target.as_ref().map(resource_key))
    .bind(idempotency_key)
    .bind(at)
    .bind(Json(action))
    .bind(term.map(|t| t as i64))
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| {
        if StoreError::is_unique_violation(&e) {
            StoreError::DuplicateIntent {
                key: idempotency_key.to_owned(),
            }
        } else {
            not_found_or(incident, e, what)
        }
    })?;
    let on = target.map(|t| format!(" on {t}")).unwrap_or_default();
    let entry = TimelineEntry {
        at,
        kind: TimelineKind::Intent,
        message: format!("intent: {}{on} (key {idempotency_key})", action.name()),
        data: json!({
            "intent_id": id,
            "attempt": attempt,
            "action": action,
            "idempotency_key": idempotency_key,
        }),
    };
    append_entry(&mut tx, incident, &entry).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    Ok(IntentId(id))
}

/// Marks an intent done or failed, exactly once.
pub(crate) async fn finish_intent(
    pool: &Pool,
    intent: IntentId,
    status: ActionStatus,
    outcome: Option<&serde_json::Value>,
    error: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let what = || format!("mark action intent {intent} {status}");
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "UPDATE actions SET status = $1, finished_at = $2, outcome = $3, error = $4 \
         WHERE id = $5 AND status = 'intended' \
         RETURNING incident_id, action, attempt",
    )
    .bind(status.as_str())
    .bind(at)
    .bind(outcome.map(Json))
    .bind(error)
    .bind(intent.0)
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    let Some((incident, action, attempt)) = row else {
        let found: Option<String> = sqlx::query_scalar("SELECT status FROM actions WHERE id = $1")
            .bind(intent.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| StoreError::query(what(), e))?;
        return Err(match found {
            None => StoreError::IntentNotFound { id: intent },
            Some(status) => StoreError::IntentFinished {
                id: intent,
                status: parse_action_status(&status)?,
            },
        });
    };
    let incident = IncidentId(incident);
    let message = match error {
        Some(error) => format!("{action} failed: {error}"),
        None => format!("{action} done"),
    };
    let entry = TimelineEntry {
        at,
        kind: TimelineKind::Action,
        message,
        data: json!({
            "intent_id": intent.0,
            "attempt": attempt,
            "action": action,
            "status": status,
            "outcome": outcome,
            "error": error,
        }),
    };
    append_entry(&mut tx, &incident, &entry).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    Ok(())
}

/// Intents with no outcome yet, oldest first: what a restarted agent must resolve.
pub(crate) async fn unfinished_intents(pool: &Pool) -> Result<Vec<ActionRecord>, StoreError> {
    let rows: Vec<ActionRow> = sqlx::query_as(concat!(
        "SELECT ",
        action_columns!(),
        " FROM actions WHERE status = 'intended' ORDER BY id"
    ))
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query("list unfinished action intents", e))?;
    rows.into_iter().map(action_record).collect()
}

/// Actions on one target intended at or after `since`, oldest first.
pub(crate) async fn actions_for_target(
    pool: &Pool,
    target: &ResourceRef,
    since: DateTime<Utc>,
) -> Result<Vec<ActionRecord>, StoreError> {
    let rows: Vec<ActionRow> = sqlx::query_as(concat!(
        "SELECT ",
        action_columns!(),
        " FROM actions WHERE target_key = $1 AND intended_at >= $2 ORDER BY intended_at, id"
    ))
    .bind(resource_key(target))
    .bind(since)
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query(format!("list the actions on {target}"), e))?;
    rows.into_iter().map(action_record).collect()
}

/// Every action of an incident, oldest first.
pub(crate) async fn actions_of(
    pool: &Pool,
    incident: &IncidentId,
) -> Result<Vec<ActionRecord>, StoreError> {
    let rows: Vec<ActionRow> = sqlx::query_as(concat!(
        "SELECT ",
        action_columns!(),
        " FROM actions WHERE incident_id = $1 ORDER BY id"
    ))
    .bind(&incident.0)
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query(format!("list the actions of {incident}"), e))?;
    rows.into_iter().map(action_record).collect()
}

/// The action recorded under an idempotency key.
pub(crate) async fn action_by_key(
    pool: &Pool,
    idempotency_key: &str,
) -> Result<Option<ActionRecord>, StoreError> {
    let row: Option<ActionRow> = sqlx::query_as(concat!(
        "SELECT ",
        action_columns!(),
        " FROM actions WHERE idempotency_key = $1"
    ))
    .bind(idempotency_key)
    .fetch_optional(pool)
    .await
    .map_err(|e| StoreError::query(format!("look up the action with key {idempotency_key}"), e))?;
    row.map(action_record).transpose()
}
