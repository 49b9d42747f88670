// The timeline: the append-only audit log, ordered by a global sequence.
// Included once per dialect by sql/mod.rs; see there for `Db`, `Pool`, `Conn`.

/// Appends one entry inside a transaction, returning its sequence number.
async fn append_entry(
    conn: &mut Conn,
    incident: &IncidentId,
    entry: &TimelineEntry,
) -> Result<i64, StoreError> {
    let seq = insert_entry(conn, incident, entry).await?;
    // What people are told of goes to the outbox with the entry, or not at all.
    if let Some(event) = nightshift_core::notice::event_of(entry) {
        enqueue_notice(conn, incident, seq, event, entry.at).await?;
    }
    Ok(seq)
}

async fn insert_entry(
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

/// Appends one entry on its own (with its outbox rows, in one transaction).
pub(crate) async fn append(
    pool: &Pool,
    incident: &IncidentId,
    entry: &TimelineEntry,
) -> Result<i64, StoreError> {
    let what = || format!("append to the timeline of {incident}");
    if nightshift_core::notice::event_of(entry).is_none() {
        let mut conn = pool
            .acquire()
            .await
            .map_err(|e| StoreError::query(what(), e))?;
        return insert_entry(&mut conn, incident, entry).await;
    }
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let seq = append_entry(&mut tx, incident, entry).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    Ok(seq)
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

/// The sequence number of the newest timeline entry, of `incident` or of any incident.
pub(crate) async fn newest_seq(
    pool: &Pool,
    incident: Option<&IncidentId>,
) -> Result<Option<i64>, StoreError> {
    let q = match incident {
        Some(i) => {
            sqlx::query_as("SELECT MAX(seq) FROM timeline WHERE incident_id = $1").bind(&i.0)
        }
        None => sqlx::query_as("SELECT MAX(seq) FROM timeline"),
    };
    let row: (Option<i64>,) = q
        .fetch_one(pool)
        .await
        .map_err(|e| StoreError::query("read the newest timeline entry", e))?;
    Ok(row.0)
}
