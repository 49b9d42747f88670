// The timeline: the append-only audit log, ordered by a global sequence.
// Included once per dialect by sql/mod.rs; see there for `Db`, `Pool`, `Conn`.

/// Appends one entry inside a transaction, returning its sequence number.
async fn append_entry(
    conn: &mut Conn,
    incident: &IncidentId,
    entry: &TimelineEntry,
) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        "INSERT INTO timeline (incident_id, at, kind, body) VALUES ($1, $2, $3, $4) \
         RETURNING seq",
    )
    .bind(&incident.0)
    .bind(entry.at)
    .bind(kind_str(entry.kind))
    .bind(Json(entry))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::IncidentNotFound {
                id: incident.clone(),
            }
        }
        _ => StoreError::query(format!("append to the timeline of {incident}"), e),
    })
}

/// Appends one entry on its own.
pub(crate) async fn append(
    pool: &Pool,
    incident: &IncidentId,
    entry: &TimelineEntry,
) -> Result<i64, StoreError> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| StoreError::query(format!("append to the timeline of {incident}"), e))?;
    append_entry(&mut conn, incident, entry).await
}

/// An incident's timeline, in order.
pub(crate) async fn timeline(
    pool: &Pool,
    incident: &IncidentId,
) -> Result<Vec<TimelineEntry>, StoreError> {
    let rows: Vec<(Json<TimelineEntry>,)> =
        sqlx::query_as("SELECT body FROM timeline WHERE incident_id = $1 ORDER BY seq")
            .bind(&incident.0)
            .fetch_all(pool)
            .await
            .map_err(|e| StoreError::query(format!("load the timeline of {incident}"), e))?;
    Ok(rows.into_iter().map(|(Json(entry),)| entry).collect())
}

/// Entries of every incident after sequence number `after`, in order, at most `limit`.
pub(crate) async fn timeline_after(
    pool: &Pool,
    after: i64,
    limit: u32,
) -> Result<Vec<TimelineRecord>, StoreError> {
    let rows: Vec<(i64, String, Json<TimelineEntry>)> = sqlx::query_as(
        "SELECT seq, incident_id, body FROM timeline WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query(format!("read the timeline after {after}"), e))?;
    Ok(rows
        .into_iter()
        .map(|(seq, incident, Json(entry))| TimelineRecord {
            seq,
            incident: IncidentId(incident),
            entry,
        })
        .collect())
}
