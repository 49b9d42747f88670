// The knowledge base: entries written whole with their index words, found by full text
// (each dialect's own ranking, `kb_search_sql`) or by resource.

/// Writes `entries` (new or replacing those with the same id) in one transaction: all or
/// none.
pub(crate) async fn kb_put(
    pool: &Pool,
    entries: &[nightshift_core::knowledge::Entry],
) -> Result<(), StoreError> {
    let what = || format!("write {} knowledge-base entries", entries.len());
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    kb_write_all(&mut tx, entries).await?;
    tx.commit().await.map_err(|e| StoreError::query(what(), e))
}

/// Writes entries and keeps `kb_terms` (how many entries hold each word, and under the empty
/// word how many there are) in step: what each entry's text adds, less what the text it
/// replaces held, summed over the batch and applied once per word, in word order so that
/// two writers lock rows in the same order. Counted here rather than by a trigger: a
/// trigger counts row by row, and a batch of a thousand entries would update the row of a
/// common word a thousand times in one transaction.
async fn kb_write_all(
    conn: &mut Conn,
    entries: &[nightshift_core::knowledge::Entry],
) -> Result<(), StoreError> {
    let what = || "count the words of knowledge-base entries".to_string();
    let mut texts: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for chunk in entries.chunks(500) {
        let places: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        // Placeholders only: the ids are bound, never spliced.
        let sql = format!(
            "SELECT id, text FROM kb_entries WHERE id IN ({})",
            places.join(", ")
        );
        let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
        for e in chunk {
            query = query.bind(e.id.as_str());
        }
        texts.extend(
            query
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| StoreError::query(what(), e))?,
        );
    }
    let mut delta: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    let mut count = |text: &str, by: i64| {
        let mut seen = std::collections::HashSet::new();
        for w in std::iter::once("").chain(text.split(' ').filter(|w| !w.is_empty())) {
            if seen.insert(w) {
                *delta.entry(w.to_string()).or_default() += by;
            }
        }
    };
    for entry in entries {
        let text = entry.index_text();
        if let Some(old) = texts.get(&entry.id) {
            count(old, -1);
        }
        count(&text, 1);
        kb_write(&mut *conn, entry, &text).await?;
        texts.insert(entry.id.clone(), text);
    }
    for (term, by) in delta.into_iter().filter(|(_, by)| *by != 0) {
        sqlx::query(
            "INSERT INTO kb_terms (term, entries) VALUES ($1, $2) ON CONFLICT (term) \
             DO UPDATE SET entries = kb_terms.entries + excluded.entries",
        )
        .bind(&term)
        .bind(by)
        .execute(&mut *conn)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    }
    Ok(())
}

async fn kb_write(
    conn: &mut Conn,
    entry: &nightshift_core::knowledge::Entry,
    text: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO kb_entries (id, source, category, namespace, resource, outcome, \
         occurred_at, body, text, text_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (id) DO UPDATE SET source = excluded.source, category = \
         excluded.category, namespace = excluded.namespace, resource = excluded.resource, \
         outcome = excluded.outcome, occurred_at = excluded.occurred_at, body = excluded.body, \
         text = excluded.text, text_hash = excluded.text_hash",
    )
    .bind(&entry.id)
    .bind(entry.source.as_str())
    .bind(entry.signature.category.map(|c| c.as_str()))
    .bind(entry.signature.namespace.as_deref())
    .bind(entry.signature.resource.as_deref())
    .bind(entry.outcome.as_str())
    .bind(entry.occurred_at)
    .bind(Json(entry))
    .bind(text)
    .bind(nightshift_core::knowledge::vector::text_hash(
        &entry.embedding_text(),
    ))
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::query(format!("write knowledge-base entry {}", entry.id), e))?;
    Ok(())
}

/// One entry.
pub(crate) async fn kb_get(
    pool: &Pool,
    id: &str,
) -> Result<Option<nightshift_core::knowledge::Entry>, StoreError> {
    let row: Option<(Json<nightshift_core::knowledge::Entry>,)> =
        sqlx::query_as("SELECT body FROM kb_entries WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(|e| StoreError::query(format!("read knowledge-base entry {id}"), e))?;
    Ok(row.map(|(Json(e),)| e))
}

/// Adds a note to an entry and indexes its words; `false` when there is no such entry.
pub(crate) async fn kb_note(
    pool: &Pool,
    id: &str,
    note: &nightshift_core::knowledge::Note,
) -> Result<bool, StoreError> {
    let what = || format!("add a note to knowledge-base entry {id}");
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let row: Option<(Json<nightshift_core::knowledge::Entry>,)> =
        sqlx::query_as("SELECT body FROM kb_entries WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| StoreError::query(what(), e))?;
    let Some((Json(mut entry),)) = row else {
        return Ok(false);
    };
    entry.notes.push(note.clone());
    kb_write_all(&mut tx, std::slice::from_ref(&entry)).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    Ok(true)
}

/// Entries matching any of `terms` (letters and digits only), best full-text rank first, at
/// most `limit`, without `exclude`; with each its rank (higher is better).
pub(crate) async fn kb_lexical(
    pool: &Pool,
    terms: &[String],
    exclude: Option<&str>,
    limit: i64,
) -> Result<Vec<(nightshift_core::knowledge::Entry, f64)>, StoreError> {
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(Json<nightshift_core::knowledge::Entry>, f64)> = sqlx::query_as(kb_search_sql())
        .bind(kb_match_query(terms))
        .bind(limit)
        .bind(exclude.unwrap_or(""))
        .fetch_all(pool)
        .await
        .map_err(|e| StoreError::query("search the knowledge base", e))?;
    Ok(rows.into_iter().map(|(Json(e), rank)| (e, rank)).collect())
}

/// How many entries hold each of `terms` (absent: none), and under the empty word how many
/// entries there are (`kb_terms`, kept by the migration's triggers).
pub(crate) async fn kb_term_entries(
    pool: &Pool,
    terms: &[String],
) -> Result<Vec<(String, i64)>, StoreError> {
    // Placeholders only: the terms are bound, never spliced.
    let places: Vec<String> = (1..=terms.len() + 1).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT term, entries FROM kb_terms WHERE term IN ({})",
        places.join(", ")
    );
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind("");
    for t in terms {
        query = query.bind(t.as_str());
    }
    query
        .fetch_all(pool)
        .await
        .map_err(|e| StoreError::query("read how many knowledge-base entries hold each word", e))
}

/// Incident entries on `resource` since `since`, newest first, at most `limit`.
pub(crate) async fn kb_on_resource(
    pool: &Pool,
    resource: &str,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<nightshift_core::knowledge::Entry>, StoreError> {
    let rows: Vec<(Json<nightshift_core::knowledge::Entry>,)> = sqlx::query_as(
        "SELECT body FROM kb_entries WHERE resource = $1 AND occurred_at >= $2 \
         ORDER BY occurred_at DESC LIMIT $3",
    )
    .bind(resource)
    .bind(since)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query(format!("read knowledge-base entries on {resource}"), e))?;
    Ok(rows.into_iter().map(|(Json(e),)| e).collect())
}

/// Entries, newest first, at most `limit`.
pub(crate) async fn kb_list(
    pool: &Pool,
    limit: i64,
) -> Result<Vec<nightshift_core::knowledge::Entry>, StoreError> {
    let rows: Vec<(Json<nightshift_core::knowledge::Entry>,)> =
        sqlx::query_as("SELECT body FROM kb_entries ORDER BY occurred_at DESC, seq DESC LIMIT $1")
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(|e| StoreError::query("list the knowledge base", e))?;
    Ok(rows.into_iter().map(|(Json(e),)| e).collect())
}

/// How many entries there are.
pub(crate) async fn kb_count(pool: &Pool) -> Result<u64, StoreError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kb_entries")
        .fetch_one(pool)
        .await
        .map_err(|e| StoreError::query("count the knowledge base", e))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Entries by id (any order; ids not found are left out).
pub(crate) async fn kb_get_many(
    pool: &Pool,
    ids: &[String],
) -> Result<Vec<nightshift_core::knowledge::Entry>, StoreError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let places: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        // Placeholders only: the ids are bound, never spliced.
        let sql = format!(
            "SELECT body FROM kb_entries WHERE id IN ({})",
            places.join(", ")
        );
        let mut query = sqlx::query_as::<_, (Json<nightshift_core::knowledge::Entry>,)>(
            sqlx::AssertSqlSafe(sql),
        );
        for id in chunk {
            query = query.bind(id.as_str());
        }
        out.extend(
            query
                .fetch_all(pool)
                .await
                .map_err(|e| StoreError::query("read knowledge-base entries", e))?
                .into_iter()
                .map(|(Json(e),)| e),
        );
    }
    Ok(out)
}

/// Entries without a vector in `space`, or whose text changed since theirs was made, oldest
/// first, at most `limit`.
pub(crate) async fn kb_unembedded(
    pool: &Pool,
    space: &str,
    limit: i64,
) -> Result<Vec<nightshift_core::knowledge::Entry>, StoreError> {
    let rows: Vec<(Json<nightshift_core::knowledge::Entry>,)> = sqlx::query_as(
        "SELECT e.body FROM kb_entries e LEFT JOIN kb_vectors v ON v.id = e.id AND \
         v.space = $1 WHERE v.id IS NULL OR v.text_hash <> e.text_hash ORDER BY e.seq LIMIT $2",
    )
    .bind(space)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query(format!("find entries without a {space} vector"), e))?;
    Ok(rows.into_iter().map(|(Json(e),)| e).collect())
}

/// Writes vectors of `space` (`(id, hash of the text it was made from, unit vector bytes)`)
/// in one transaction, replacing earlier ones of the same entry and space with a new `seq`.
/// A vector of an entry that is gone is skipped.
pub(crate) async fn kb_vectors_put(
    pool: &Pool,
    space: &str,
    vectors: &[(String, i64, Vec<u8>)],
) -> Result<(), StoreError> {
    let what = || format!("write {} {space} vectors", vectors.len());
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    for (id, hash, bytes) in vectors {
        sqlx::query("DELETE FROM kb_vectors WHERE id = $1 AND space = $2")
            .bind(id)
            .bind(space)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::query(what(), e))?;
        sqlx::query(
            "INSERT INTO kb_vectors (id, space, text_hash, vector) SELECT id, $2, $3, $4 \
             FROM kb_entries WHERE id = $1",
        )
        .bind(id)
        .bind(space)
        .bind(hash)
        .bind(bytes)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    }
    tx.commit().await.map_err(|e| StoreError::query(what(), e))
}

/// Vectors of `space` written after `seq`, in order: `(seq, id, bytes)`.
pub(crate) async fn kb_vectors_after(
    pool: &Pool,
    space: &str,
    seq: i64,
) -> Result<Vec<(i64, String, Vec<u8>)>, StoreError> {
    sqlx::query_as(
        "SELECT seq, id, vector FROM kb_vectors WHERE space = $1 AND seq > $2 ORDER BY seq",
    )
    .bind(space)
    .bind(seq)
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query(format!("read {space} vectors"), e))
}
