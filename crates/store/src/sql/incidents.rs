// Incidents: id allocation, correlation, optimistic updates, lookups.
// Included once per dialect by sql/mod.rs; see there for `Db`, `Pool`, `Conn`.

/// `body, version` of an incident row.
type IncidentRow = (Json<Incident>, i64);

fn stored((Json(incident), version): IncidentRow) -> StoredIncident {
    StoredIncident { incident, version }
}

/// Opens an incident with the next id.
pub(crate) async fn create_incident(
    pool: &Pool,
    new: &NewIncident,
) -> Result<StoredIncident, StoreError> {
    let what = || format!("open an incident for {}", resource_key(&new.resource));
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let stored = insert_incident(&mut tx, new).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    Ok(stored)
}

/// Joins the open incident for the resource, or opens one, under a per-resource lock.
pub(crate) async fn open_or_join(pool: &Pool, new: &NewIncident) -> Result<Correlated, StoreError> {
    let what = || format!("correlate a signal with {}", resource_key(&new.resource));
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let correlated = open_or_join_in(&mut tx, new).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    Ok(correlated)
}

/// [`open_or_join`] inside the caller's transaction.
async fn open_or_join_in(conn: &mut Conn, new: &NewIncident) -> Result<Correlated, StoreError> {
    let key = resource_key(&new.resource);
    lock_resource(&mut *conn, &key)
        .await
        .map_err(|e| StoreError::query(format!("correlate a signal with {key}"), e))?;
    Ok(match find_open(&mut *conn, &key).await? {
        Some(incident) => {
            if let Some(signal) = &new.signal {
                link_signal(&mut *conn, &incident.id, signal, new.opened_at).await?;
            }
            Correlated {
                incident,
                opened: false,
            }
        }
        None => Correlated {
            incident: insert_incident(&mut *conn, new).await?,
            opened: true,
        },
    })
}

/// A webhook batch in one transaction: record every signal (repeats deduplicate), then group
/// the new firing ones by the root resource the caller worked out for each (`roots`, in the
/// order of `signals`) and, per group, join the open incident for that resource or open one
/// (under the resource's lock), link the group's signals and append the entry `summarize`
/// writes for it. One commit for the whole batch: an alert storm costs one disk sync, not one
/// per incident or per signal.
pub(crate) async fn ingest_batch(
    pool: &Pool,
    signals: &[Signal],
    roots: &[Option<ResourceRef>],
    opened_at: DateTime<Utc>,
    summarize: &(dyn Fn(&[&Signal]) -> TimelineEntry + Sync),
) -> Result<Ingested, StoreError> {
    let what = || format!("take in a batch of {} signals", signals.len());
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let outcomes = record_in(&mut tx, signals).await?;
    let mut groups: std::collections::BTreeMap<&ResourceRef, Vec<usize>> = Default::default();
    for (i, (signal, outcome)) in signals.iter().zip(&outcomes).enumerate() {
        if *outcome == SignalOutcome::New
            && signal.status == SignalStatus::Firing
            && let Some(Some(root)) = roots.get(i)
        {
            groups.entry(root).or_default().push(i);
        }
    }
    let mut correlated = Vec::with_capacity(groups.len());
    for (root, members) in groups {
        let group: Vec<&Signal> = members.iter().map(|i| &signals[*i]).collect();
        let first = group[0];
        let new = NewIncident {
            resource: root.clone(),
            title: format!("{} on {root}", first.name),
            opened_at,
            signal: Some(SignalKey::of(first)),
        };
        let rest: Vec<SignalKey> = group.iter().skip(1).map(|s| SignalKey::of(s)).collect();
        let c = open_or_join_in(&mut tx, &new).await?;
        link_signals(&mut tx, &c.incident.id, &rest).await?;
        append_entry(&mut tx, &c.incident.id, &summarize(&group)).await?;
        correlated.push((c, members));
    }
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    Ok(Ingested {
        outcomes,
        correlated,
    })
}

async fn insert_incident(conn: &mut Conn, new: &NewIncident) -> Result<StoredIncident, StoreError> {
    let key = resource_key(&new.resource);
    let what = || format!("open an incident for {key}");
    let seq: i64 = sqlx::query_scalar(
        "UPDATE counters SET value = value + 1 WHERE name = 'incident' RETURNING value",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    let incident = Incident {
        id: IncidentId(format!("inc-{seq:06}")),
        state: State::Open,
        resource: new.resource.clone(),
        title: new.title.clone(),
        category: None,
        root_cause: None,
        attempts: 0,
        opened_at: new.opened_at,
        updated_at: new.opened_at,
        resolved_at: None,
    };
    sqlx::query(
        "INSERT INTO incidents (id, seq, state, resource_key, title, category, root_cause, \
         attempts, opened_at, updated_at, resolved_at, version, body, namespace, search) \
         VALUES ($1, $2, $3, $4, $5, NULL, NULL, 0, $6, $6, NULL, 1, $7, $8, $9)",
    )
    .bind(&incident.id.0)
    .bind(seq)
    .bind(state_str(State::Open))
    .bind(&key)
    .bind(&incident.title)
    .bind(incident.opened_at)
    .bind(Json(&incident))
    .bind(incident.resource.namespace())
    .bind(search_text(&incident.title, &incident.resource))
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    let opened = TimelineEntry {
        at: new.opened_at,
        kind: TimelineKind::Transition,
        message: format!("opened on {key}: {}", new.title),
        data: json!({ "to": State::Open, "resource": key }),
    };
    append_entry(conn, &incident.id, &opened).await?;
    if let Some(signal) = &new.signal {
        link_signal(conn, &incident.id, signal, new.opened_at).await?;
    }
    Ok(StoredIncident {
        incident,
        version: 1,
    })
}

/// Writes the incident back if nobody changed it since `stored.version`, with `entries`
/// appended to its timeline in the same transaction (and a transition entry of its own if
/// the state changed and `entries` has none).
pub(crate) async fn update_incident(
    pool: &Pool,
    stored: &mut StoredIncident,
    entries: &[TimelineEntry],
) -> Result<(), StoreError> {
    let id = stored.incident.id.clone();
    let what = || format!("update incident {id}");
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let (before, _) = current_version(&mut tx, &id).await?;
    save_incident(&mut tx, &stored.incident, stored.version).await?;
    for entry in entries {
        append_entry(&mut tx, &id, entry).await?;
    }
    let after = stored.incident.state;
    if before != after && !entries.iter().any(|e| e.kind == TimelineKind::Transition) {
        let entry = transition_entry(
            before,
            after,
            stored.incident.updated_at,
            "recorded by update",
        );
        append_entry(&mut tx, &id, &entry).await?;
    }
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    stored.version += 1;
    Ok(())
}

/// A transition entry in the domain's own wording.
fn transition_entry(from: State, to: State, at: DateTime<Utc>, why: &str) -> TimelineEntry {
    TimelineEntry {
        at,
        kind: TimelineKind::Transition,
        message: format!("{from:?} -> {to:?}: {why}"),
        data: json!({ "from": from, "to": to }),
    }
}

/// The stored state and version of an incident.
async fn current_version(conn: &mut Conn, id: &IncidentId) -> Result<(State, i64), StoreError> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT state, version FROM incidents WHERE id = $1")
            .bind(&id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| StoreError::query(format!("load incident {id}"), e))?;
    match row {
        None => Err(StoreError::IncidentNotFound { id: id.clone() }),
        Some((state, version)) => Ok((parse("incident state", &state)?, version)),
    }
}

/// Loads an incident inside a transaction.
async fn load_incident(conn: &mut Conn, id: &IncidentId) -> Result<StoredIncident, StoreError> {
    let row: Option<IncidentRow> =
        sqlx::query_as("SELECT body, version FROM incidents WHERE id = $1")
            .bind(&id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| StoreError::query(format!("load incident {id}"), e))?;
    row.map(stored)
        .ok_or_else(|| StoreError::IncidentNotFound { id: id.clone() })
}

/// Overwrites the row if its version is still `expected`, bumping the version.
async fn save_incident(
    conn: &mut Conn,
    incident: &Incident,
    expected: i64,
) -> Result<(), StoreError> {
    let id = &incident.id;
    let what = || format!("update incident {id}");
    let done = sqlx::query(
        "UPDATE incidents SET state = $1, resource_key = $2, title = $3, category = $4, \
         root_cause = $5, attempts = $6, updated_at = $7, resolved_at = $8, body = $9, \
         namespace = $12, search = $13, version = version + 1 \
         WHERE id = $10 AND version = $11",
    )
    .bind(state_str(incident.state))
    .bind(resource_key(&incident.resource))
    .bind(&incident.title)
    .bind(incident.category.map(|c| c.as_str()))
    .bind(incident.root_cause.as_ref().map(resource_key))
    .bind(i64::from(incident.attempts))
    .bind(incident.updated_at)
    .bind(incident.resolved_at)
    .bind(Json(incident))
    .bind(&id.0)
    .bind(expected)
    .bind(incident.resource.namespace())
    .bind(search_text(&incident.title, &incident.resource))
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let (_, found) = current_version(conn, id).await?;
    Err(StoreError::Concurrent {
        id: id.clone(),
        expected,
        found,
    })
}

/// The newest incident for `key` that is neither resolved nor closed.
async fn find_open(conn: &mut Conn, key: &str) -> Result<Option<StoredIncident>, StoreError> {
    let row: Option<IncidentRow> = sqlx::query_as(
        "SELECT body, version FROM incidents \
         WHERE resource_key = $1 AND state NOT IN ('resolved', 'closed') \
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| StoreError::query(format!("look up the open incident for {key}"), e))?;
    Ok(row.map(stored))
}

/// The newest open incident for the resource.
pub(crate) async fn open_incident_for(
    pool: &Pool,
    resource: &ResourceRef,
) -> Result<Option<StoredIncident>, StoreError> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| StoreError::query(format!("look up the open incident for {resource}"), e))?;
    find_open(&mut conn, &resource_key(resource)).await
}

/// One incident.
pub(crate) async fn get_incident(
    pool: &Pool,
    id: &IncidentId,
) -> Result<Option<StoredIncident>, StoreError> {
    let row: Option<IncidentRow> =
        sqlx::query_as("SELECT body, version FROM incidents WHERE id = $1")
            .bind(&id.0)
            .fetch_optional(pool)
            .await
            .map_err(|e| StoreError::query(format!("load incident {id}"), e))?;
    Ok(row.map(stored))
}

/// Every incident that is not closed, oldest first.
pub(crate) async fn in_flight(pool: &Pool) -> Result<Vec<StoredIncident>, StoreError> {
    let rows: Vec<IncidentRow> =
        sqlx::query_as("SELECT body, version FROM incidents WHERE state <> 'closed' ORDER BY seq")
            .fetch_all(pool)
            .await
            .map_err(|e| StoreError::query("list in-flight incidents", e))?;
    Ok(rows.into_iter().map(stored).collect())
}

/// Counts by state, actions by type and status, signals, pending approvals.
pub(crate) async fn stats(pool: &Pool) -> Result<Stats, StoreError> {
    let what = "count incidents and actions";
    let states: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM incidents GROUP BY state ORDER BY state")
            .fetch_all(pool)
            .await
            .map_err(|e| StoreError::query(what, e))?;
    let actions: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT action, status, COUNT(*) FROM actions GROUP BY action, status \
         ORDER BY action, status",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query(what, e))?;
    let (signals, pending): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM signals), \
                (SELECT COUNT(*) FROM approvals WHERE status = 'pending')",
    )
    .fetch_one(pool)
    .await
    .map_err(|e| StoreError::query(what, e))?;
    let count = |n: i64| u64::try_from(n).unwrap_or_default();
    Ok(Stats {
        incidents_by_state: states
            .into_iter()
            .map(|(s, n)| Ok((parse("incident state", &s)?, count(n))))
            .collect::<Result<_, StoreError>>()?,
        actions: actions
            .into_iter()
            .map(|(a, s, n)| {
                Ok(ActionCount {
                    action: parse("action name", &a)?,
                    status: parse_action_status(&s)?,
                    count: count(n),
                })
            })
            .collect::<Result<_, StoreError>>()?,
        signals: count(signals),
        pending_approvals: count(pending),
    })
}
