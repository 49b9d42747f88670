// The incident list: filters, the awaiting-first order and pages, and counts; the namespaces
// the console's filter offers; filling in the list's columns on rows older than them.
// Included once per dialect by sql/mod.rs; see there for `Db`, `Pool`, `Conn`.
//
// Each query writes only the conditions that apply (no `$1 IS NULL OR ..`), so that the
// planner of either database can fit an index to it: `incidents_state` (state, seq),
// `incidents_namespace` (namespace, seq), `incidents_resource` (resource_key, seq), or `seq`
// alone. The awaiting-first order is two such queries, one per side, rather than an
// `ORDER BY CASE ..` that would sort every matching row to return a page of them.

/// Which rows of the list a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListPart {
    /// Every row the filter matches.
    All,
    /// Those awaiting approval.
    Awaiting,
    /// The others.
    NotAwaiting,
}

/// The `WHERE` clause of `filter` (paging aside) for `part`, and the values bound to it as
/// `$1`, `$2`, ... in order.
fn list_conditions(filter: &IncidentFilter, part: ListPart) -> (String, Vec<String>) {
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<String> = Vec::new();
    let mut bind = |condition: &str, value: String| {
        values.push(value);
        conditions.push(condition.replace('?', &format!("${}", values.len())));
    };
    if let Some(state) = filter.state {
        bind("state = ?", state_str(state).to_owned());
    }
    if let Some(resource) = &filter.resource {
        bind("resource_key = ?", resource_key(resource));
    }
    if let Some(namespace) = &filter.namespace {
        bind("namespace = ?", namespace.clone());
    }
    if let Some(pattern) = filter.text.as_deref().and_then(search_pattern) {
        bind("search LIKE ? ESCAPE '\\'", pattern);
    }
    if filter.open_only {
        conditions.push("state <> 'closed'".into());
    }
    match part {
        ListPart::All => {}
        ListPart::Awaiting => conditions.push("state = 'awaiting_approval'".into()),
        ListPart::NotAwaiting => conditions.push("state <> 'awaiting_approval'".into()),
    }
    if conditions.is_empty() {
        (String::new(), values)
    } else {
        (format!(" WHERE {}", conditions.join(" AND ")), values)
    }
}

/// One page of `part` of the list, newest first.
async fn list_part(
    conn: &mut Conn,
    filter: &IncidentFilter,
    part: ListPart,
    offset: i64,
    limit: i64,
) -> Result<Vec<StoredIncident>, StoreError> {
    let (conditions, values) = list_conditions(filter, part);
    let n = values.len();
    let sql = format!(
        "SELECT body, version FROM incidents{conditions} ORDER BY seq DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let mut query = sqlx::query_as::<Db, IncidentRow>(sqlx::AssertSqlSafe(sql));
    for value in values {
        query = query.bind(value);
    }
    let rows = query
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| StoreError::query("list incidents", e))?;
    Ok(rows.into_iter().map(stored).collect())
}

/// How many rows of `part` of the list there are.
async fn count_part(
    conn: &mut Conn,
    filter: &IncidentFilter,
    part: ListPart,
) -> Result<i64, StoreError> {
    let (conditions, values) = list_conditions(filter, part);
    let sql = format!("SELECT COUNT(*) FROM incidents{conditions}");
    let mut query = sqlx::query_scalar::<Db, i64>(sqlx::AssertSqlSafe(sql));
    for value in values {
        query = query.bind(value);
    }
    query
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| StoreError::query("count incidents", e))
}

/// Incidents matching the filter, newest first or awaiting approval first, one page.
pub(crate) async fn list_incidents(
    pool: &Pool,
    filter: &IncidentFilter,
) -> Result<Vec<StoredIncident>, StoreError> {
    let what = "list incidents";
    let offset = i64::from(filter.offset.unwrap_or(0));
    let limit = filter.limit.map_or(i64::MAX, i64::from);
    // With a state asked for, every row is on one side of the order.
    if !filter.awaiting_first || filter.state.is_some() {
        let mut conn = pool
            .acquire()
            .await
            .map_err(|e| StoreError::query(what, e))?;
        return list_part(&mut conn, filter, ListPart::All, offset, limit).await;
    }
    // One snapshot for both sides, so that an incident answered meanwhile is on neither
    // twice nor missing.
    let mut tx = begin_read(pool)
        .await
        .map_err(|e| StoreError::query(what, e))?;
    let awaiting = count_part(&mut tx, filter, ListPart::Awaiting).await?;
    let mut page = Vec::new();
    if offset < awaiting {
        let first = limit.min(awaiting - offset);
        page = list_part(&mut tx, filter, ListPart::Awaiting, offset, first).await?;
    }
    let left = limit.saturating_sub(i64::try_from(page.len()).unwrap_or(i64::MAX));
    if left > 0 {
        let skip = offset.saturating_sub(awaiting).max(0);
        page.extend(list_part(&mut tx, filter, ListPart::NotAwaiting, skip, left).await?);
    }
    tx.commit().await.map_err(|e| StoreError::query(what, e))?;
    Ok(page)
}

/// How many incidents match the filter, whatever its offset and limit.
pub(crate) async fn count_incidents(
    pool: &Pool,
    filter: &IncidentFilter,
) -> Result<u64, StoreError> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| StoreError::query("count incidents", e))?;
    let n = count_part(&mut conn, filter, ListPart::All).await?;
    Ok(u64::try_from(n).unwrap_or_default())
}

/// The namespaces incidents were about, each once, in byte order (not the database's
/// collation, which differs between the two).
pub(crate) async fn namespaces(pool: &Pool) -> Result<Vec<String>, StoreError> {
    let mut names: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT namespace FROM incidents WHERE namespace IS NOT NULL")
            .fetch_all(pool)
            .await
            .map_err(|e| StoreError::query("list the namespaces of incidents", e))?;
    names.sort_unstable();
    Ok(names)
}

/// Fills in `namespace` and `search` on rows written before those columns (migration 0005),
/// from their bodies, a thousand rows per transaction.
pub(crate) async fn fill_list_columns(pool: &Pool) -> Result<(), StoreError> {
    let what = "fill in the incident list's columns";
    loop {
        let mut tx = begin_write(pool)
            .await
            .map_err(|e| StoreError::query(what, e))?;
        let rows: Vec<(String, Json<Incident>)> =
            sqlx::query_as("SELECT id, body FROM incidents WHERE search IS NULL LIMIT 1000")
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| StoreError::query(what, e))?;
        if rows.is_empty() {
            return Ok(());
        }
        for (id, Json(incident)) in rows {
            sqlx::query("UPDATE incidents SET namespace = $1, search = $2 WHERE id = $3")
                .bind(incident.resource.namespace())
                .bind(search_text(&incident.title, &incident.resource))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::query(what, e))?;
        }
        tx.commit().await.map_err(|e| StoreError::query(what, e))?;
    }
}
