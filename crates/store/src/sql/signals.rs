// Signals: dedup by (source, fingerprint), resolution, and the incident each one joined.
// Included once per dialect by sql/mod.rs; see there for `Db`, `Pool`, `Conn`.

/// Records a batch of signals in one transaction, returning what each one meant, in order.
pub(crate) async fn record_signals(
    pool: &Pool,
    signals: &[Signal],
) -> Result<Vec<SignalOutcome>, StoreError> {
    let what = || format!("record a batch of {} signals", signals.len());
    let received = Utc::now();
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let mut outcomes = Vec::with_capacity(signals.len());
    for signal in signals {
        outcomes.push(upsert_signal(&mut tx, signal, received).await?);
    }
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    Ok(outcomes)
}

/// One signal: insert it, or update the row its fingerprint already has.
async fn upsert_signal(
    conn: &mut Conn,
    signal: &Signal,
    received: DateTime<Utc>,
) -> Result<SignalOutcome, StoreError> {
    let source = source_str(signal.source);
    let what = || format!("record signal {source}/{}", signal.fingerprint);
    // `prev_status` comes back NULL for a fresh row and as the earlier status for a repeat;
    // a firing signal that fires again after it resolved is news again and is detached from
    // its old incident, to be correlated afresh.
    let (prev, incident): (Option<String>, Option<String>) = sqlx::query_as(
        "INSERT INTO signals (source, fingerprint, status, prev_status, name, resource_key, \
         starts_at, ends_at, first_seen, last_seen, deliveries, body) \
         VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $8, 1, $9) \
         ON CONFLICT (source, fingerprint) DO UPDATE SET \
           prev_status = signals.status, \
           status = excluded.status, \
           name = excluded.name, \
           resource_key = excluded.resource_key, \
           starts_at = excluded.starts_at, \
           ends_at = excluded.ends_at, \
           last_seen = excluded.last_seen, \
           deliveries = signals.deliveries + 1, \
           body = excluded.body, \
           incident_id = CASE WHEN signals.status = 'resolved' AND excluded.status = 'firing' \
                              THEN NULL ELSE signals.incident_id END \
         RETURNING prev_status, incident_id",
    )
    .bind(source)
    .bind(&signal.fingerprint)
    .bind(status_str(signal.status))
    .bind(&signal.name)
    .bind(signal.resource.as_ref().map(resource_key))
    .bind(signal.starts_at)
    .bind(signal.ends_at)
    .bind(received)
    .bind(Json(signal))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    let incident = incident.map(IncidentId);
    let firing = signal.status == SignalStatus::Firing;
    Ok(match (prev.as_deref(), firing) {
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
pub(crate) async fn attach_signal(
    pool: &Pool,
    incident: &IncidentId,
    signal: &SignalKey,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let what = || format!("attach signal {} to {incident}", signal.fingerprint);
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    link_signal(&mut tx, incident, signal, at).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    Ok(())
}

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
            source: source.to_owned(),
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
    append_entry(conn, incident, &entry).await
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
