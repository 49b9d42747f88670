// The web console's sessions (`console_sessions`), included into each dialect's module.

/// Keeps `body` under `key_hash` until `expires_ms`, replacing what was there. Expired rows
/// go first; past `cap` rows of `kind`, the one closest to expiry is dropped.
pub(crate) async fn keep_console_entry(
    pool: &Pool,
    key_hash: &str,
    kind: &str,
    body: &serde_json::Value,
    expires_ms: i64,
    now_ms: i64,
    cap: u32,
) -> Result<(), StoreError> {
    let what = || format!("keep a console {kind}");
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    sqlx::query("DELETE FROM console_sessions WHERE expires_ms <= $1")
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM console_sessions WHERE kind = $1")
        .bind(kind)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    if count >= i64::from(cap) {
        sqlx::query(
            "DELETE FROM console_sessions WHERE key_hash = \
             (SELECT key_hash FROM console_sessions WHERE kind = $1 ORDER BY expires_ms LIMIT 1)",
        )
        .bind(kind)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    }
    sqlx::query(
        "INSERT INTO console_sessions (key_hash, kind, body, expires_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key_hash) DO UPDATE SET kind = excluded.kind, body = excluded.body, \
         expires_ms = excluded.expires_ms",
    )
    .bind(key_hash)
    .bind(kind)
    .bind(Json(body))
    .bind(expires_ms)
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    tx.commit().await.map_err(|e| StoreError::query(what(), e))
}

/// What is kept under `key_hash` for `kind`, with its expiry, unless it expired.
pub(crate) async fn console_entry(
    pool: &Pool,
    key_hash: &str,
    kind: &str,
    now_ms: i64,
) -> Result<Option<(serde_json::Value, i64)>, StoreError> {
    let row: Option<(Json<serde_json::Value>, i64)> = sqlx::query_as(
        "SELECT body, expires_ms FROM console_sessions \
         WHERE key_hash = $1 AND kind = $2 AND expires_ms > $3",
    )
    .bind(key_hash)
    .bind(kind)
    .bind(now_ms)
    .fetch_optional(pool)
    .await
    .map_err(|e| StoreError::query(format!("read a console {kind}"), e))?;
    Ok(row.map(|(Json(body), expires)| (body, expires)))
}

/// Takes what is kept under `key_hash` for `kind`: it is gone afterwards, for every replica
/// (`None` when there was nothing, or it had expired).
pub(crate) async fn take_console_entry(
    pool: &Pool,
    key_hash: &str,
    kind: &str,
    now_ms: i64,
) -> Result<Option<serde_json::Value>, StoreError> {
    let row: Option<(Json<serde_json::Value>, i64)> = sqlx::query_as(
        "DELETE FROM console_sessions WHERE key_hash = $1 AND kind = $2 \
         RETURNING body, expires_ms",
    )
    .bind(key_hash)
    .bind(kind)
    .fetch_optional(pool)
    .await
    .map_err(|e| StoreError::query(format!("take a console {kind}"), e))?;
    Ok(row
        .filter(|(_, expires)| *expires > now_ms)
        .map(|(Json(body), _)| body))
}
