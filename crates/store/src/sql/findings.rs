// What the loop found and chose: evidence rounds, analyses with their ranked plans, and the
// policy's decisions. Each record appends its timeline entry in the same transaction.
// Included once per dialect by sql/mod.rs; see there for `Db`, `Pool`, `Conn`.

/// Stores one collection round's evidence bundle.
pub(crate) async fn record_evidence(
    pool: &Pool,
    incident: &IncidentId,
    round: u32,
    evidence: &Evidence,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let what = || format!("record evidence round {round} of {incident}");
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    sqlx::query(
        "INSERT INTO evidence (incident_id, round, collected_at, items, bytes, body) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&incident.0)
    .bind(i64::from(round))
    .bind(at)
    .bind(i64::try_from(evidence.items.len()).unwrap_or(i64::MAX))
    .bind(i64::try_from(evidence.bytes).unwrap_or(i64::MAX))
    .bind(Json(evidence))
    .execute(&mut *tx)
    .await
    .map_err(|e| not_found_or(incident, e, what))?;
    let dropped = if evidence.truncated > 0 {
        format!(", {} dropped by the budget", evidence.truncated)
    } else {
        String::new()
    };
    let entry = TimelineEntry {
        at,
        kind: TimelineKind::Evidence,
        message: format!(
            "evidence round {round}: {} items, {} bytes{dropped}",
            evidence.items.len(),
            evidence.bytes
        ),
        data: json!({
            "round": round,
            "items": evidence.items.len(),
            "bytes": evidence.bytes,
            "truncated": evidence.truncated,
        }),
    };
    append_entry(&mut tx, incident, &entry).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    Ok(())
}

/// Every evidence round of an incident, in round order.
pub(crate) async fn evidence(
    pool: &Pool,
    incident: &IncidentId,
) -> Result<Vec<EvidenceRound>, StoreError> {
    let rows: Vec<(i64, DateTime<Utc>, Json<Evidence>)> = sqlx::query_as(
        "SELECT round, collected_at, body FROM evidence WHERE incident_id = $1 ORDER BY round",
    )
    .bind(&incident.0)
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query(format!("load the evidence of {incident}"), e))?;
    rows.into_iter()
        .map(|(round, collected_at, Json(evidence))| {
            Ok(EvidenceRound {
                round: to_u32("evidence round", round)?,
                collected_at,
                evidence,
            })
        })
        .collect()
}

/// The latest evidence round of an incident.
pub(crate) async fn latest_evidence(
    pool: &Pool,
    incident: &IncidentId,
) -> Result<Option<EvidenceRound>, StoreError> {
    let row: Option<(i64, DateTime<Utc>, Json<Evidence>)> = sqlx::query_as(
        "SELECT round, collected_at, body FROM evidence WHERE incident_id = $1 \
         ORDER BY round DESC LIMIT 1",
    )
    .bind(&incident.0)
    .fetch_optional(pool)
    .await
    .map_err(|e| StoreError::query(format!("load the evidence of {incident}"), e))?;
    row.map(|(round, collected_at, Json(evidence))| {
        Ok(EvidenceRound {
            round: to_u32("evidence round", round)?,
            collected_at,
            evidence,
        })
    })
    .transpose()
}

/// Stores an analysis and its ranked plans.
pub(crate) async fn record_analysis(
    pool: &Pool,
    incident: &IncidentId,
    attempt: u32,
    analysis: &Analysis,
    at: DateTime<Utc>,
) -> Result<AnalysisId, StoreError> {
    let what = || format!("record an analysis of {incident}");
    let diagnosis = &analysis.diagnosis;
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO analyses (incident_id, attempt, analyzer, category, root_cause, \
         confidence, analyzed_at, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(&incident.0)
    .bind(i64::from(attempt))
    .bind(&analysis.analyzer)
    .bind(diagnosis.category.as_str())
    .bind(resource_key(&diagnosis.root_cause))
    .bind(diagnosis.confidence)
    .bind(at)
    .bind(Json(analysis))
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| not_found_or(incident, e, what))?;
    for (ordinal, plan) in analysis.plans.iter().enumerate() {
        sqlx::query(
            "INSERT INTO plans (analysis_id, ordinal, action, target_key, confidence, body) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(i64::try_from(ordinal).unwrap_or(i64::MAX))
        .bind(plan.action.name().as_str())
        .bind(plan.action.target().as_ref().map(resource_key))
        .bind(plan.confidence)
        .bind(Json(plan))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    }
    let entry = TimelineEntry {
        at,
        kind: TimelineKind::Diagnosis,
        message: format!(
            "diagnosis by {}: {} on {} (confidence {:.2}): {}",
            analysis.analyzer,
            diagnosis.category,
            diagnosis.root_cause,
            diagnosis.confidence,
            diagnosis.summary
        ),
        data: json!({
            "analysis_id": id,
            "attempt": attempt,
            "category": diagnosis.category,
            "root_cause": diagnosis.root_cause,
            "confidence": diagnosis.confidence,
            "plans": analysis.plans.iter().map(|p| p.action.name()).collect::<Vec<_>>(),
        }),
    };
    append_entry(&mut tx, incident, &entry).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    Ok(AnalysisId(id))
}

/// Every analysis of an incident, oldest first.
pub(crate) async fn analyses(
    pool: &Pool,
    incident: &IncidentId,
) -> Result<Vec<AnalysisRecord>, StoreError> {
    let rows: Vec<(i64, i64, DateTime<Utc>, Json<Analysis>)> = sqlx::query_as(
        "SELECT id, attempt, analyzed_at, body FROM analyses WHERE incident_id = $1 ORDER BY id",
    )
    .bind(&incident.0)
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query(format!("load the analyses of {incident}"), e))?;
    rows.into_iter()
        .map(|(id, attempt, analyzed_at, Json(analysis))| {
            Ok(AnalysisRecord {
                id: AnalysisId(id),
                incident: incident.clone(),
                attempt: to_u32("attempt", attempt)?,
                analyzed_at,
                analysis,
            })
        })
        .collect()
}

/// Stores the policy's decision about a plan.
pub(crate) async fn record_decision(
    pool: &Pool,
    incident: &IncidentId,
    attempt: u32,
    plan: &Plan,
    decision: &Decision,
    at: DateTime<Utc>,
) -> Result<DecisionId, StoreError> {
    let what = || format!("record a decision for {incident}");
    let verdict = json!(decision.verdict);
    let risk = json!(decision.risk);
    let verdict = verdict.as_str().unwrap_or_default();
    let risk = risk.as_str().unwrap_or_default();
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO decisions (incident_id, attempt, action, verdict, risk, rule, decided_at, \
         plan, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(&incident.0)
    .bind(i64::from(attempt))
    .bind(plan.action.name().as_str())
    .bind(verdict)
    .bind(risk)
    .bind(&decision.rule)
    .bind(at)
    .bind(Json(plan))
    .bind(Json(decision))
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| not_found_or(incident, e, what))?;
    let target = plan
        .action
        .target()
        .map(|t| format!(" {t}"))
        .unwrap_or_default();
    let entry = TimelineEntry {
        at,
        kind: TimelineKind::Decision,
        message: format!(
            "decision: {verdict} {}{target} (risk {risk}, confidence {:.2}) by rule {}",
            plan.action.name(),
            plan.confidence,
            decision.rule
        ),
        data: json!({
            "decision_id": id,
            "attempt": attempt,
            "plan": plan,
            "decision": decision,
        }),
    };
    append_entry(&mut tx, incident, &entry).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    Ok(DecisionId(id))
}

/// `id, attempt, decided_at, plan, body` of a decision row.
type DecisionRow = (i64, i64, DateTime<Utc>, Json<Plan>, Json<Decision>);

/// Every decision about an incident, oldest first.
pub(crate) async fn decisions(
    pool: &Pool,
    incident: &IncidentId,
) -> Result<Vec<DecisionRecord>, StoreError> {
    let rows: Vec<DecisionRow> = sqlx::query_as(
        "SELECT id, attempt, decided_at, plan, body FROM decisions WHERE incident_id = $1 \
         ORDER BY id",
    )
    .bind(&incident.0)
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query(format!("load the decisions of {incident}"), e))?;
    rows.into_iter()
        .map(|(id, attempt, decided_at, Json(plan), Json(decision))| {
            Ok(DecisionRecord {
                id: DecisionId(id),
                incident: incident.clone(),
                attempt: to_u32("attempt", attempt)?,
                plan,
                decision,
                decided_at,
            })
        })
        .collect()
}

/// A foreign-key violation on an incident id means the incident does not exist.
fn not_found_or(
    incident: &IncidentId,
    e: sqlx::Error,
    what: impl FnOnce() -> String,
) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::IncidentNotFound {
                id: incident.clone(),
            }
        }
        _ => StoreError::query(what(), e),
    }
}
