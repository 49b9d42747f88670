// Leadership terms: the fencing token replicas act under. Included by `sql/mod.rs` once per
// dialect.

/// Takes the lead: the term grows by one (the first is 1) and names `holder`.
pub(crate) async fn claim_term(
    pool: &Pool,
    holder: &str,
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let what = || format!("claim a leadership term for {holder}");
    let term: i64 = sqlx::query_scalar(
        "INSERT INTO leadership (id, term, holder, since) VALUES (1, 1, $1, $2) \
         ON CONFLICT (id) DO UPDATE SET term = leadership.term + 1, holder = excluded.holder, \
         since = excluded.since RETURNING term",
    )
    .bind(holder)
    .bind(at)
    .fetch_one(pool)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    Ok(term as u64)
}

/// The current term and its holder, if any replica ever led.
pub(crate) async fn current_term(pool: &Pool) -> Result<Option<(u64, String)>, StoreError> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT term, holder FROM leadership WHERE id = 1")
            .fetch_optional(pool)
            .await
            .map_err(|e| StoreError::query(String::from("read the leadership term"), e))?;
    Ok(row.map(|(t, h)| (t as u64, h)))
}

/// Fails with [`StoreError::Fenced`] unless `term` is the current one. Inside a write
/// transaction, the row is locked until it commits, so a new leader's claim waits for it.
async fn check_term(conn: &mut Conn, term: u64) -> Result<(), StoreError> {
    let current: Option<i64> = sqlx::query_scalar(lock_term_sql())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| StoreError::query(String::from("read the leadership term"), e))?;
    let current = current.map(|c| c as u64);
    if current == Some(term) {
        Ok(())
    } else {
        Err(StoreError::Fenced {
            term,
            current: current.unwrap_or(0),
        })
    }
}
