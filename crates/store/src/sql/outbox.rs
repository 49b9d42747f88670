// The outbox: one row per notifiable timeline entry and configured destination, written with
// the entry; delivery outcomes; what each destination keeps about an incident.
// Included once per dialect by sql/mod.rs; see there for `Db`, `Pool`, `Conn`.

/// Puts a notifiable entry in the outbox of every configured destination; called by
/// `append_entry` in the entry's own transaction.
async fn enqueue_notice(
    conn: &mut Conn,
    incident: &IncidentId,
    seq: i64,
    event: NotifyEvent,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (destination, seq, incident_id, event, created_at, status, attempts) \
         SELECT name, $1, $2, $3, $4, 'pending', 0 FROM outbox_destination",
    )
    .bind(seq)
    .bind(&incident.0)
    .bind(event.as_str())
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::query(format!("queue the notification of {incident}"), e))?;
    Ok(())
}

/// Makes `names` the destinations that new notifications are queued for. Pending rows of a
/// destination no longer configured are marked skipped, so nothing waits for it forever.
pub(crate) async fn set_destinations(
    pool: &Pool,
    names: &[String],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let what = || "configure the notification destinations".to_string();
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let known: Vec<(String,)> = sqlx::query_as("SELECT name FROM outbox_destination")
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    for (name,) in known {
        if names.contains(&name) {
            continue;
        }
        sqlx::query("DELETE FROM outbox_destination WHERE name = $1")
            .bind(&name)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::query(what(), e))?;
        sqlx::query(
            "UPDATE outbox SET status = 'skipped', error = 'destination no longer configured', \
             done_at = $2 WHERE destination = $1 AND status = 'pending'",
        )
        .bind(&name)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    }
    for name in names {
        sqlx::query("INSERT INTO outbox_destination (name) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::query(what(), e))?;
    }
    tx.commit().await.map_err(|e| StoreError::query(what(), e))
}

/// `seq, incident_id, event, created_at, attempts, body` of a pending row.
type PendingRow = (i64, String, String, DateTime<Utc>, i64, Json<TimelineEntry>);

/// The oldest pending notifications of `destination`, in order, at most `limit`.
pub(crate) async fn pending_notices(
    pool: &Pool,
    destination: &str,
    limit: u32,
) -> Result<Vec<PendingNotice>, StoreError> {
    let rows: Vec<PendingRow> = sqlx::query_as(
        "SELECT o.seq, o.incident_id, o.event, o.created_at, o.attempts, t.body \
         FROM outbox o JOIN timeline t ON t.seq = o.seq \
         WHERE o.destination = $1 AND o.status = 'pending' ORDER BY o.seq LIMIT $2",
    )
    .bind(destination)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query(format!("read the outbox of {destination}"), e))?;
    rows.into_iter()
        .map(
            |(seq, incident, event, created_at, attempts, Json(entry))| {
                Ok(PendingNotice {
                    seq,
                    incident: IncidentId(incident),
                    event: parse("notification event", &event)?,
                    created_at,
                    attempts: to_u32("notification attempts", attempts)?,
                    entry,
                })
            },
        )
        .collect()
}

/// Records one try of a pending notification: delivered, failed for good, skipped, or (for
/// `Pending`) a failure that will be tried again. Only a pending row changes, so a delivery
/// finished twice (two replicas during a handover) is recorded once.
pub(crate) async fn finish_notice(
    pool: &Pool,
    destination: &str,
    seq: i64,
    status: NoticeStatus,
    error: Option<&str>,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = (status != NoticeStatus::Pending).then_some(at);
    let r = sqlx::query(
        "UPDATE outbox SET status = $3, attempts = attempts + 1, error = $4, done_at = $5 \
         WHERE destination = $1 AND seq = $2 AND status = 'pending'",
    )
    .bind(destination)
    .bind(seq)
    .bind(status.as_str())
    .bind(error)
    .bind(done)
    .execute(pool)
    .await
    .map_err(|e| StoreError::query(format!("record a delivery to {destination}"), e))?;
    Ok(r.rows_affected() == 1)
}

/// `destination, seq, event, status, attempts, error, created_at, done_at` of a row.
type NoticeRow = (
    String,
    i64,
    String,
    String,
    i64,
    Option<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// Every notification of an incident, per destination, in order.
pub(crate) async fn notices(
    pool: &Pool,
    incident: &IncidentId,
) -> Result<Vec<NoticeRecord>, StoreError> {
    let rows: Vec<NoticeRow> = sqlx::query_as(
        "SELECT destination, seq, event, status, attempts, error, created_at, done_at \
         FROM outbox WHERE incident_id = $1 ORDER BY seq, destination",
    )
    .bind(&incident.0)
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query(format!("read the notifications of {incident}"), e))?;
    rows.into_iter()
        .map(
            |(destination, seq, event, status, attempts, error, created_at, done_at)| {
                Ok(NoticeRecord {
                    destination,
                    seq,
                    event: parse("notification event", &event)?,
                    status: parse("notification status", &status)?,
                    attempts: to_u32("notification attempts", attempts)?,
                    error,
                    created_at,
                    done_at,
                })
            },
        )
        .collect()
}

/// Pending notifications per destination.
pub(crate) async fn outbox_backlog(pool: &Pool) -> Result<Vec<(String, u64)>, StoreError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT destination, COUNT(*) FROM outbox WHERE status = 'pending' \
         GROUP BY destination ORDER BY destination",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query("count pending notifications", e))?;
    Ok(rows
        .into_iter()
        .map(|(d, n)| (d, n.max(0) as u64))
        .collect())
}

/// What `destination` keeps about `incident` (a message id), if anything.
pub(crate) async fn notice_ref(
    pool: &Pool,
    destination: &str,
    incident: &IncidentId,
) -> Result<Option<String>, StoreError> {
    sqlx::query_scalar("SELECT value FROM outbox_ref WHERE destination = $1 AND incident_id = $2")
        .bind(destination)
        .bind(&incident.0)
        .fetch_optional(pool)
        .await
        .map_err(|e| StoreError::query(format!("read what {destination} keeps of {incident}"), e))
}

/// Keeps `value` for `destination` and `incident`, replacing what was kept.
pub(crate) async fn set_notice_ref(
    pool: &Pool,
    destination: &str,
    incident: &IncidentId,
    value: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox_ref (destination, incident_id, value) VALUES ($1, $2, $3) \
         ON CONFLICT (destination, incident_id) DO UPDATE SET value = excluded.value",
    )
    .bind(destination)
    .bind(&incident.0)
    .bind(value)
    .execute(pool)
    .await
    .map_err(|e| StoreError::query(format!("keep what {destination} knows of {incident}"), e))?;
    Ok(())
}
