// Approvals: a request moves the incident to awaiting_approval; an answer or the deadline
// moves it on. Row, incident and timeline change in one transaction.
// Included once per dialect by sql/mod.rs; see there for `Db`, `Pool`, `Conn`.

/// `id, incident_id, decision_id, status, requested_at, deadline, decided_by, reason,
/// decided_at` of an approval row.
type ApprovalRow = (
    i64,
    String,
    Option<i64>,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
);

/// The columns of [`ApprovalRow`], as a literal for `concat!`.
macro_rules! approval_columns {
    () => {
        "id, incident_id, decision_id, status, requested_at, deadline, decided_by, reason, \
         decided_at"
    };
}

fn approval(row: ApprovalRow) -> Result<Approval, StoreError> {
    let (id, incident, decision, status, requested_at, deadline, decided_by, reason, decided_at) =
        row;
    Ok(Approval {
        id: ApprovalId(id),
        incident: IncidentId(incident),
        decision: decision.map(DecisionId),
        status: parse("approval status", &status)?,
        requested_at,
        deadline,
        decided_by,
        reason,
        decided_at,
    })
}

/// Moves the incident to awaiting_approval and opens a request that expires at `deadline`.
pub(crate) async fn request_approval(
    pool: &Pool,
    stored: &mut StoredIncident,
    decision: Option<DecisionId>,
    at: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> Result<ApprovalId, StoreError> {
    let id = stored.incident.id.clone();
    let what = || format!("request approval for {id}");
    let mut next = stored.clone();
    let transition = next
        .incident
        .transition(State::AwaitingApproval, at, "approval requested")?;
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    save_incident(&mut tx, &next.incident, next.version).await?;
    let approval: i64 = sqlx::query_scalar(
        "INSERT INTO approvals (incident_id, decision_id, status, requested_at, deadline) \
         VALUES ($1, $2, 'pending', $3, $4) RETURNING id",
    )
    .bind(&id.0)
    .bind(decision.map(|d| d.0))
    .bind(at)
    .bind(deadline)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| {
        if StoreError::is_unique_violation(&e) {
            StoreError::ApprovalPending { id: id.clone() }
        } else {
            StoreError::query(what(), e)
        }
    })?;
    append_entry(&mut tx, &id, &transition).await?;
    let entry = TimelineEntry {
        at,
        kind: TimelineKind::Approval,
        message: format!("approval requested; expires at {}", deadline.to_rfc3339()),
        data: json!({
            "approval_id": approval,
            "decision_id": decision.map(|d| d.0),
            "deadline": deadline,
        }),
    };
    append_entry(&mut tx, &id, &entry).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    next.version += 1;
    *stored = next;
    Ok(ApprovalId(approval))
}

/// Records a human's answer to the incident's pending request and moves the incident to
/// approved or rejected.
pub(crate) async fn decide_approval(
    pool: &Pool,
    id: &IncidentId,
    answer: &ApprovalAnswer,
) -> Result<StoredIncident, StoreError> {
    let verdict = if answer.approve {
        ApprovalStatus::Approved
    } else {
        ApprovalStatus::Rejected
    };
    let what = || format!("record the approval answer for {id}");
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let pending: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM approvals WHERE incident_id = $1 AND status = 'pending'",
    )
    .bind(&id.0)
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    let Some(approval) = pending else {
        return Err(StoreError::NoPendingApproval { id: id.clone() });
    };
    let mut stored = load_incident(&mut tx, id).await?;
    let to = if answer.approve {
        State::Approved
    } else {
        State::Rejected
    };
    let why = format!("{} by {}", approval_str(verdict), answer.by);
    let transition = stored.incident.transition(to, answer.at, &why)?;
    save_incident(&mut tx, &stored.incident, stored.version).await?;
    close_approval(&mut tx, approval, verdict, Some(answer), answer.at, what).await?;
    let reason = answer
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    let entry = TimelineEntry {
        at: answer.at,
        kind: TimelineKind::Approval,
        message: format!("{} by {}{reason}", approval_str(verdict), answer.by),
        data: json!({
            "approval_id": approval,
            "verdict": verdict,
            "by": answer.by,
            "reason": answer.reason,
        }),
    };
    append_entry(&mut tx, id, &entry).await?;
    append_entry(&mut tx, id, &transition).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    stored.version += 1;
    Ok(stored)
}

/// Expires every pending request whose deadline is at or before `now`, moving incidents
/// that still await approval to expired. Returns the expired requests.
pub(crate) async fn expire_approvals(
    pool: &Pool,
    now: DateTime<Utc>,
) -> Result<Vec<Approval>, StoreError> {
    let what = || "expire overdue approvals".to_owned();
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let rows: Vec<ApprovalRow> = sqlx::query_as(concat!(
        "SELECT ",
        approval_columns!(),
        " FROM approvals WHERE status = 'pending' AND deadline <= $1 ORDER BY deadline, id"
    ))
    .bind(now)
    .fetch_all(&mut *tx)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    let mut expired = Vec::with_capacity(rows.len());
    for row in rows {
        let mut approval = approval(row)?;
        close_approval(
            &mut tx,
            approval.id.0,
            ApprovalStatus::Expired,
            None,
            now,
            what,
        )
        .await?;
        let mut stored = load_incident(&mut tx, &approval.incident).await?;
        let id = stored.incident.id.clone();
        let note = TimelineEntry {
            at: now,
            kind: TimelineKind::Approval,
            message: format!(
                "approval expired unanswered (deadline {})",
                approval.deadline.to_rfc3339()
            ),
            data: json!({ "approval_id": approval.id.0, "verdict": ApprovalStatus::Expired }),
        };
        append_entry(&mut tx, &id, &note).await?;
        // An incident moved on by other means keeps its state; only the request closes.
        if stored.incident.state == State::AwaitingApproval {
            let transition =
                stored
                    .incident
                    .transition(State::Expired, now, "approval deadline passed")?;
            save_incident(&mut tx, &stored.incident, stored.version).await?;
            append_entry(&mut tx, &id, &transition).await?;
        }
        approval.status = ApprovalStatus::Expired;
        approval.decided_at = Some(now);
        expired.push(approval);
    }
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    Ok(expired)
}

async fn close_approval(
    conn: &mut Conn,
    approval: i64,
    status: ApprovalStatus,
    answer: Option<&ApprovalAnswer>,
    at: DateTime<Utc>,
    what: impl Fn() -> String,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE approvals SET status = $1, decided_by = $2, reason = $3, decided_at = $4 \
         WHERE id = $5 AND status = 'pending'",
    )
    .bind(approval_str(status))
    .bind(answer.map(|a| a.by.as_str()))
    .bind(answer.and_then(|a| a.reason.as_deref()))
    .bind(at)
    .bind(approval)
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    Ok(())
}

/// Every pending request, soonest deadline first (overdue ones included).
pub(crate) async fn pending_approvals(pool: &Pool) -> Result<Vec<Approval>, StoreError> {
    let rows: Vec<ApprovalRow> = sqlx::query_as(concat!(
        "SELECT ",
        approval_columns!(),
        " FROM approvals WHERE status = 'pending' ORDER BY deadline, id"
    ))
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query("list pending approvals", e))?;
    rows.into_iter().map(approval).collect()
}

/// Every request of an incident, oldest first.
pub(crate) async fn approvals(
    pool: &Pool,
    incident: &IncidentId,
) -> Result<Vec<Approval>, StoreError> {
    let rows: Vec<ApprovalRow> = sqlx::query_as(concat!(
        "SELECT ",
        approval_columns!(),
        " FROM approvals WHERE incident_id = $1 ORDER BY id"
    ))
    .bind(&incident.0)
    .fetch_all(pool)
    .await
    .map_err(|e| StoreError::query(format!("list the approvals of {incident}"), e))?;
    rows.into_iter().map(approval).collect()
}
