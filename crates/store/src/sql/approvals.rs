// Approvals: a request moves the incident to awaiting_approval; votes, or the deadline, move
// it on. A request closes at the first rejection or when enough distinct identities approved;
// an approval short of that is recorded and noted on the timeline. Request, votes, incident
// and timeline change in one transaction.
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
        votes: Vec::new(),
    })
}

/// `approval_id, voter, verdict, reason, voted_at, required` of a vote row.
type VoteRow = (i64, String, String, Option<String>, DateTime<Utc>, i64);

/// Fills in the votes of `approvals`.
async fn with_votes(
    conn: &mut Conn,
    approvals: &mut [Approval],
    what: &impl Fn() -> String,
) -> Result<(), StoreError> {
    for approval in approvals.iter_mut() {
        let rows: Vec<VoteRow> = sqlx::query_as(
            "SELECT approval_id, voter, verdict, reason, voted_at, required \
             FROM approval_votes WHERE approval_id = $1 ORDER BY id",
        )
        .bind(approval.id.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
        approval.votes = rows
            .into_iter()
            .map(|(_, by, verdict, reason, at, required)| {
                Ok(crate::records::ApprovalVote {
                    by,
                    verdict: parse("approval vote verdict", &verdict)?,
                    reason,
                    at,
                    required: to_u32("approval vote count", required)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
    }
    Ok(())
}

/// `alice`, `alice and bob`, `alice, bob and carol`.
fn names(list: &[String]) -> String {
    match list {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
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

/// Records one vote on the incident's pending request. A rejection closes it and moves the
/// incident to rejected; an approval closes it and moves the incident to approved when it is
/// the `required`-th distinct one, else it is recorded with a timeline entry saying how many
/// are still needed. An identity's second approval records nothing.
pub(crate) async fn vote_approval(
    pool: &Pool,
    id: &IncidentId,
    answer: &ApprovalAnswer,
    required: u32,
) -> Result<crate::records::VoteOutcome, StoreError> {
    use crate::records::VoteOutcome;
    let required = required.max(1);
    let what = || format!("record the approval answer for {id}");
    let mut tx = begin_write(pool)
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    // Touching the pending row locks it until commit (SQLite's write transaction holds the
    // whole database), so concurrent votes on one request are counted one after the other:
    // two last approvals cannot both see themselves one short.
    let pending: Option<i64> = sqlx::query_scalar(
        "UPDATE approvals SET status = status WHERE incident_id = $1 AND status = 'pending' \
         RETURNING id",
    )
    .bind(&id.0)
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    let Some(approval) = pending else {
        return Err(StoreError::NoPendingApproval { id: id.clone() });
    };
    let mut stored = load_incident(&mut tx, id).await?;
    let mut approvers: Vec<String> = sqlx::query_scalar(
        "SELECT voter FROM approval_votes WHERE approval_id = $1 AND verdict = 'approved' \
         ORDER BY id",
    )
    .bind(approval)
    .fetch_all(&mut *tx)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    if answer.approve && approvers.contains(&answer.by) {
        tx.rollback()
            .await
            .map_err(|e| StoreError::query(what(), e))?;
        return Ok(VoteOutcome::AlreadyApproved {
            incident: stored,
            approval: ApprovalId(approval),
            approvers,
            required,
        });
    }
    let verdict = if answer.approve {
        ApprovalStatus::Approved
    } else {
        ApprovalStatus::Rejected
    };
    sqlx::query(
        "INSERT INTO approval_votes (approval_id, voter, verdict, reason, voted_at, required) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(approval)
    .bind(&answer.by)
    .bind(approval_str(verdict))
    .bind(answer.reason.as_deref())
    .bind(answer.at)
    .bind(i64::from(required))
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    if answer.approve {
        approvers.push(answer.by.clone());
    }
    let votes = approvers.len();
    let reason = answer
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    let data = json!({
        "approval_id": approval,
        "verdict": verdict,
        "by": answer.by,
        "reason": answer.reason,
        "votes": votes,
        "required": required,
        "approvers": approvers,
    });
    if answer.approve && votes < required as usize {
        let left = required as usize - votes;
        let waiting = if left == 1 {
            "waiting for another approver".to_string()
        } else {
            format!("waiting for {left} more approvers")
        };
        let entry = TimelineEntry {
            at: answer.at,
            kind: TimelineKind::Approval,
            message: format!(
                "approved by {} ({votes} of {required}){reason}; {waiting}",
                answer.by
            ),
            data,
        };
        append_entry(&mut tx, id, &entry).await?;
        tx.commit()
            .await
            .map_err(|e| StoreError::query(what(), e))?;
        return Ok(VoteOutcome::Waiting {
            incident: stored,
            approval: ApprovalId(approval),
            approvers,
            required,
        });
    }
    let (to, deciders) = if answer.approve {
        (State::Approved, names(&approvers))
    } else {
        (State::Rejected, answer.by.clone())
    };
    let why = format!("{} by {deciders}", approval_str(verdict));
    let transition = stored.incident.transition(to, answer.at, &why)?;
    save_incident(&mut tx, &stored.incident, stored.version).await?;
    let decided_by = if answer.approve {
        approvers.join(", ")
    } else {
        answer.by.clone()
    };
    close_approval(
        &mut tx,
        approval,
        verdict,
        Some((decided_by.as_str(), answer.reason.as_deref())),
        answer.at,
        what,
    )
    .await?;
    let count = if answer.approve && required > 1 {
        format!(" ({votes} of {required})")
    } else {
        String::new()
    };
    let entry = TimelineEntry {
        at: answer.at,
        kind: TimelineKind::Approval,
        message: format!("{why}{count}{reason}"),
        data,
    };
    append_entry(&mut tx, id, &entry).await?;
    append_entry(&mut tx, id, &transition).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    stored.version += 1;
    Ok(VoteOutcome::Decided {
        incident: stored,
        approval: ApprovalId(approval),
        approvers,
    })
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
    with_votes(&mut tx, &mut expired, &what).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    Ok(expired)
}

/// Closes a pending request; `answer` is who decided it and their reason.
async fn close_approval(
    conn: &mut Conn,
    approval: i64,
    status: ApprovalStatus,
    answer: Option<(&str, Option<&str>)>,
    at: DateTime<Utc>,
    what: impl Fn() -> String,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE approvals SET status = $1, decided_by = $2, reason = $3, decided_at = $4 \
         WHERE id = $5 AND status = 'pending'",
    )
    .bind(approval_str(status))
    .bind(answer.map(|(by, _)| by))
    .bind(answer.and_then(|(_, reason)| reason))
    .bind(at)
    .bind(approval)
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    Ok(())
}

/// Every pending request, soonest deadline first (overdue ones included).
pub(crate) async fn pending_approvals(pool: &Pool) -> Result<Vec<Approval>, StoreError> {
    let what = || "list pending approvals".to_owned();
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let rows: Vec<ApprovalRow> = sqlx::query_as(concat!(
        "SELECT ",
        approval_columns!(),
        " FROM approvals WHERE status = 'pending' ORDER BY deadline, id"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    let mut out = rows
        .into_iter()
        .map(approval)
        .collect::<Result<Vec<_>, _>>()?;
    with_votes(&mut conn, &mut out, &what).await?;
    Ok(out)
}

/// Every request of an incident with its votes, oldest first.
pub(crate) async fn approvals(
    pool: &Pool,
    incident: &IncidentId,
) -> Result<Vec<Approval>, StoreError> {
    let what = || format!("list the approvals of {incident}");
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| StoreError::query(what(), e))?;
    let rows: Vec<ApprovalRow> = sqlx::query_as(concat!(
        "SELECT ",
        approval_columns!(),
        " FROM approvals WHERE incident_id = $1 ORDER BY id"
    ))
    .bind(&incident.0)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| StoreError::query(what(), e))?;
    let mut out = rows
        .into_iter()
        .map(approval)
        .collect::<Result<Vec<_>, _>>()?;
    with_votes(&mut conn, &mut out, &what).await?;
    Ok(out)
}
