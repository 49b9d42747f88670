// Signals: dedup by (source, fingerprint), resolution, and the incident each one joined.
// Included once per dialect by sql/mod.rs; see there for `Db`, `Pool`, `Conn`.

/// Signals per `INSERT`: 10 binds each, well under both dialects' parameter limits, and few
/// enough round trips that intake is bound by the database, not by them.
const SIGNALS_PER_STATEMENT: usize = 200;

/// Records a batch of signals in one transaction, returning what each one meant, in order.
pub(crate) async fn record_signals(
    pool: &Pool,
    signals: &[Signal],
) -> Result<Vec<SignalOutcome>, StoreError> {
    let what = || format!("record a batch of {} signals", signals.len());
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let outcomes = record_in(&mut tx, signals).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    Ok(outcomes)
}

/// Records signals inside the caller's transaction.
async fn record_in(conn: &mut Conn, signals: &[Signal]) -> Result<Vec<SignalOutcome>, StoreError> {
    let what = || format!("record a batch of {} signals", signals.len());
    let received = Utc::now();
    let mut outcomes = Vec::with_capacity(signals.len());
    let mut rest = signals;
    while !rest.is_empty() {
        // One statement may not touch a row twice (PostgreSQL refuses, and the outcome of the
        // second touch depends on the first), so a repeated fingerprint starts a new one.
        let mut keys = std::collections::HashSet::with_capacity(SIGNALS_PER_STATEMENT);
        let len = rest
            .iter()
            .take(SIGNALS_PER_STATEMENT)
            .take_while(|s| keys.insert((s.source, s.fingerprint.as_str())))
            .count();
        let (chunk, tail) = rest.split_at(len);
        upsert_signals(&mut *conn, chunk, received, &mut outcomes)
            .await
            .map_err(|e| match e {
                StoreError::Query { source, .. } => StoreError::query(what(), source),
                other => other,
            })?;
        rest = tail;
    }
    Ok(outcomes)
}

/// Inserts the signals (distinct keys), or updates the rows their keys already have.
async fn upsert_signals(
    conn: &mut Conn,
    chunk: &[Signal],
    received: DateTime<Utc>,
    outcomes: &mut Vec<SignalOutcome>,
) -> Result<(), StoreError> {
    let mut insert = sqlx::QueryBuilder::<Db>::new(
        "INSERT INTO signals (source, fingerprint, status, prev_status, name, resource_key, \
         starts_at, ends_at, first_seen, last_seen, deliveries, body) ",
    );
    insert.push_values(chunk, |mut row, signal| {
        row.push_bind(source_str(signal.source))
            .push_bind(signal.fingerprint.as_str())
            .push_bind(status_str(signal.status))
            .push("NULL")
            .push_bind(signal.name.as_str())
            .push_bind(signal.resource.as_ref().map(resource_key))
            .push_bind(signal.starts_at)
            .push_bind(signal.ends_at)
            .push_bind(received)
            .push_bind(received)
            .push("1")
            .push_bind(Json(signal));
    });
    // `prev_status` comes back NULL for a fresh row and as the earlier status for a repeat;
    // a signal that fires again after it resolved is news again and is detached from its
    // old incident, to be correlated afresh.
    // A firing repeat whose incident is already resolved or closed is a recurrence: it is
    // news again (recorded as if it had resolved in between) and detached from the closed
    // incident, so it opens a new one rather than joining the closed one.
    insert.push(
        " ON CONFLICT (source, fingerprint) DO UPDATE SET \
           prev_status = CASE WHEN excluded.status = 'firing' AND signals.incident_id IN \
                                   (SELECT id FROM incidents WHERE state IN ('resolved', 'closed')) \
                              THEN 'resolved' ELSE signals.status END, \
           status = excluded.status, \
           name = excluded.name, \
           resource_key = excluded.resource_key, \
           starts_at = excluded.starts_at, \
           ends_at = excluded.ends_at, \
           last_seen = excluded.last_seen, \
           deliveries = signals.deliveries + 1, \
           body = excluded.body, \
           incident_id = CASE WHEN excluded.status = 'firing' AND (signals.status = 'resolved' \
                                   OR signals.incident_id IN \
                                   (SELECT id FROM incidents WHERE state IN ('resolved', 'closed'))) \
                              THEN NULL ELSE signals.incident_id END \
         RETURNING source, fingerprint, prev_status, incident_id",
    );
    let rows: Vec<(String, String, Option<String>, Option<String>)> = insert
        .build_query_as()
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| StoreError::query("record signals", e))?;
    // RETURNING promises no order. Both databases return rows in VALUES order in practice,
    // so check that cheaply and match by key only when it does not hold.
    let in_order = rows.len() == chunk.len()
        && rows
            .iter()
            .zip(chunk)
            .all(|((source, fingerprint, ..), signal)| {
                source == source_str(signal.source) && *fingerprint == signal.fingerprint
            });
    let rows = if in_order {
        rows
    } else {
        let mut by_key: std::collections::HashMap<(String, String), _> = rows
            .into_iter()
            .map(|row| ((row.0.clone(), row.1.clone()), row))
            .collect();
        let mut ordered = Vec::with_capacity(chunk.len());
        for signal in chunk {
            let key = (
                source_str(signal.source).to_owned(),
                signal.fingerprint.clone(),
            );
            let row = by_key.remove(&key).ok_or_else(|| StoreError::Decode {
                what: "recorded signals".into(),
                problem: format!("no row came back for {}/{}", key.0, key.1),
            })?;
            ordered.push(row);
        }
        ordered
    };
    for (signal, (_, _, prev, incident)) in chunk.iter().zip(rows) {
        let incident = incident.map(IncidentId);
        outcomes.push(outcome(conn, signal, prev.as_deref(), incident, received).await?);
    }
    Ok(())
}

/// What a delivery meant, given the status the row had before it; a resolution that reaches
/// an incident goes on its timeline.
async fn outcome(
    conn: &mut Conn,
    signal: &Signal,
    prev: Option<&str>,
    incident: Option<IncidentId>,
    received: DateTime<Utc>,
) -> Result<SignalOutcome, StoreError> {
    let firing = signal.status == SignalStatus::Firing;
    Ok(match (prev, firing) {
        (None | Some("resolved"), true) => SignalOutcome::New,
        (Some(_), true) | (Some("resolved"), false) => SignalOutcome::Duplicate { incident },
        (_, false) => {
            if let Some(id) = &incident {
                let entry = TimelineEntry {
                    at: signal.ends_at.unwrap_or(received),
                    kind: TimelineKind::Signal,
                    message: format!("signal {} resolved", signal.name),
                    data: json!({
                        "source": signal.source,
                        "fingerprint": signal.fingerprint,
                        "name": signal.name,
                        "status": signal.status,
                    }),
                };
                append_entry(conn, id, &entry).await?;
            }
            SignalOutcome::Resolved { incident }
        }
    })
}

/// Links a recorded signal to an incident and says so on the incident's timeline.
async fn link_signal(
    conn: &mut Conn,
    incident: &IncidentId,
    signal: &SignalKey,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let source = source_str(signal.source);
    let what = || {
        format!(
            "attach signal {source}/{} to {incident}",
            signal.fingerprint
        )
    };
    let row: Option<(String, String)> = sqlx::query_as(
        "UPDATE signals SET incident_id = $1 WHERE source = $2 AND fingerprint = $3 \
         RETURNING name, status",
    )
    .bind(&incident.0)
    .bind(source)
    .bind(&signal.fingerprint)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::IncidentNotFound {
                id: incident.clone(),
            }
        }
        _ => StoreError::query(what(), e),
    })?;
    let Some((name, status)) = row else {
        return Err(StoreError::SignalNotFound {
            origin: source.to_owned(),
            fingerprint: signal.fingerprint.clone(),
        });
    };
    let entry = TimelineEntry {
        at,
        kind: TimelineKind::Signal,
        message: format!("signal {name} ({status}) joined"),
        data: json!({
            "source": signal.source,
            "fingerprint": signal.fingerprint,
            "name": name,
            "status": status,
        }),
    };
    append_entry(conn, incident, &entry).await?;
    Ok(())
}

/// Links signals recorded in the same transaction to an incident, a statement per chunk,
/// without timeline entries.
async fn link_signals(
    conn: &mut Conn,
    incident: &IncidentId,
    signals: &[SignalKey],
) -> Result<(), StoreError> {
    let what = || format!("attach {} signals to {incident}", signals.len());
    for chunk in signals.chunks(SIGNALS_PER_STATEMENT) {
        let mut update = sqlx::QueryBuilder::<Db>::new("UPDATE signals SET incident_id = ");
        update.push_bind(incident.0.as_str());
        update.push(" WHERE (source, fingerprint) IN (");
        let mut keys = update.separated(", ");
        for s in chunk {
            keys.push("(")
                .push_bind_unseparated(source_str(s.source))
                .push_unseparated(", ")
                .push_bind_unseparated(s.fingerprint.as_str())
                .push_unseparated(")");
        }
        update.push(")");
        update
            .build()
            .execute(&mut *conn)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                    StoreError::IncidentNotFound {
                        id: incident.clone(),
                    }
                }
                _ => StoreError::query(what(), e),
            })?;
    }
    Ok(())
}

/// The incident a signal joined, if any.
pub(crate) async fn signal_incident(
    pool: &Pool,
    signal: &SignalKey,
) -> Result<Option<IncidentId>, StoreError> {
    let source = source_str(signal.source);
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT incident_id FROM signals WHERE source = $1 AND fingerprint = $2")
            .bind(source)
            .bind(&signal.fingerprint)
            .fetch_optional(pool)
            .await
            .map_err(|e| {
                StoreError::query(format!("look up signal {source}/{}", signal.fingerprint), e)
            })?;
    Ok(row.and_then(|(id,)| id).map(IncidentId))
}

/// The signals linked to an incident, oldest first, at most `limit`.
pub(crate) async fn incident_signals(
    pool: &Pool,
    incident: &IncidentId,
    limit: i64,
) -> Result<Vec<Signal>, StoreError> {
    let rows: Vec<(Json<Signal>,)> = sqlx::query_as(
        "SELECT body FROM signals WHERE incident_id = $1 ORDER BY first_seen, id LIMIT $2",
    )
    .bind(&incident.0)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query(format!("read the signals of incident {incident}"), e))?;
    Ok(rows.into_iter().map(|(Json(signal),)| signal).collect())
}

pub(crate) async fn incident_signal_count(
    pool: &Pool,
    incident: &IncidentId,
) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signals WHERE incident_id = $1")
        .bind(&incident.0)
        .fetch_one(pool)
        .await
        .map_err(|e| StoreError::query(format!("count the signals of incident {incident}"), e))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(crate) async fn firing_signals(
    pool: &Pool,
    source: nightshift_core::SignalSource,
    limit: i64,
) -> Result<Vec<Signal>, StoreError> {
    let rows: Vec<(Json<Signal>,)> = sqlx::query_as(
        "SELECT body FROM signals WHERE source = $1 AND status = 'firing' \
         ORDER BY last_seen DESC LIMIT $2",
    )
    .bind(source_str(source))
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query("read the firing signals", e))?;
    Ok(rows.into_iter().map(|(Json(signal),)| signal).collect())
}

/// The distinct `severity` labels of the signals of each of `incidents` (one query for a page
/// of the incident list).
pub(crate) async fn incident_severities(
    pool: &Pool,
    incidents: &[IncidentId],
) -> Result<Vec<(IncidentId, String)>, StoreError> {
    if incidents.is_empty() {
        return Ok(vec![]);
    }
    let marks: Vec<String> = (1..=incidents.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT DISTINCT incident_id, {} FROM signals WHERE incident_id IN ({})",
        severity_sql(),
        marks.join(", ")
    );
    let mut q = sqlx::query_as::<Db, (String, Option<String>)>(sqlx::AssertSqlSafe(sql));
    for i in incidents {
        q = q.bind(&i.0);
    }
    let rows = q
        .fetch_all(pool)
        .await
        .map_err(|e| StoreError::query("read the severities of incidents", e))?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, sev)| sev.map(|s| (IncidentId(id), s)))
        .collect())
}
