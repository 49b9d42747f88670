//! Answering an approval, and adding a note, through the incident page's forms.

use super::*;

pub(super) async fn approve<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    answer(st, headers, id, body, true).await
}

pub(super) async fn reject<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    answer(st, headers, id, body, false).await
}

async fn answer<A: Analyzer + 'static>(
    st: Arc<ApiState<A>>,
    headers: HeaderMap,
    id: String,
    body: Body,
    approve: bool,
) -> Response {
    let (sid, s, form) = match post_session(&st, &headers, body).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let reason = match form.text("reason", MAX_REASON_CHARS) {
        Ok(r) => r
            .map(|r| nightshift_core::text::one_line(r, MAX_REASON_CHARS))
            .filter(|r| !r.is_empty()),
        Err(e) => return error_page(StatusCode::BAD_REQUEST, chrome(&s), e.to_string()),
    };
    let id = IncidentId(id);
    let incident = match st.engine.store().get(&id).await {
        Ok(Some(i)) => i,
        Ok(None) => return incident_not_found(chrome(&s), &id),
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, chrome(&s), e.to_string()),
    };
    let namespace = incident.incident.resource.namespace();
    if !s.identity.may_approve_in(namespace) {
        return error_page(
            StatusCode::FORBIDDEN,
            chrome(&s),
            format!(
                "{} ({}) may not answer approvals in {}",
                s.identity.name,
                s.identity.role,
                namespace.map_or("cluster-scoped resources".to_string(), |n| format!(
                    "namespace {n}"
                ))
            ),
        );
    }
    // Answered in its own task, so a browser that goes away cannot cut the answer in half.
    let engine = st.engine.clone();
    let by = s.identity.name.clone();
    let vote_id = id.clone();
    let vote = tokio::spawn(async move { engine.vote(&vote_id, approve, &by, reason).await }).await;
    let flash = match vote {
        Err(e) => Flash {
            ok: false,
            text: format!("the answer failed: {e}"),
        },
        Ok(Ok(VoteOutcome::Decided { incident, .. })) => Flash {
            ok: true,
            text: if approve {
                format!(
                    "Approved by {}; the incident is now {}.",
                    s.identity.name,
                    view::label(&incident.incident.state)
                )
            } else {
                format!("Rejected by {}.", s.identity.name)
            },
        },
        Ok(Ok(VoteOutcome::Waiting {
            approvers,
            required,
            ..
        })) => Flash {
            ok: true,
            text: format!(
                "Approved by {} ({} of {}); waiting for another approver.",
                s.identity.name,
                approvers.len(),
                required
            ),
        },
        Ok(Ok(VoteOutcome::AlreadyApproved {
            approvers,
            required,
            ..
        })) => Flash {
            ok: false,
            text: format!(
                "{} already approved ({} of {}); waiting for another approver.",
                s.identity.name,
                approvers.len(),
                required
            ),
        },
        Ok(Err(e @ EngineError::NotFound(_))) => {
            return error_page(StatusCode::NOT_FOUND, chrome(&s), e.to_string());
        }
        Ok(Err(e)) => Flash {
            ok: false,
            text: format!("Refused: {e}"),
        },
    };
    st.console.set_flash(&sid, flash).await;
    see_other(&format!("/console/incidents/{}", path_segment(&id.0)))
}

/// `POST /console/incidents/{id}/notes`: an approver's note, recorded as the API's
/// `POST /api/v1/incidents/{id}/notes` records it, as the signed-in identity.
pub(super) async fn note<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let (sid, s, form) = match post_session(&st, &headers, body).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let text = match form.text("text", crate::learn::MAX_NOTE) {
        Ok(t) => t.unwrap_or_default().trim().to_string(),
        Err(e) => return error_page(StatusCode::BAD_REQUEST, chrome(&s), e.to_string()),
    };
    if !s.identity.role.allows(Scope::Approve) {
        return error_page(
            StatusCode::FORBIDDEN,
            chrome(&s),
            format!(
                "{} ({}) may not add notes; approvers and admins may",
                s.identity.name, s.identity.role
            ),
        );
    }
    let id = IncidentId(id);
    let flash = if text.is_empty() {
        Flash {
            ok: false,
            text: "The note is empty; nothing was written.".into(),
        }
    } else {
        match crate::http::knowledge::record_note(
            &st.engine,
            id.clone(),
            s.identity.name.clone(),
            text,
        )
        .await
        {
            Ok(Ok(_)) => Flash {
                ok: true,
                text: format!("Note added by {}.", s.identity.name),
            },
            Ok(Err(nightshift_store::StoreError::IncidentNotFound { .. })) => {
                return incident_not_found(chrome(&s), &id);
            }
            Ok(Err(e)) => Flash {
                ok: false,
                text: format!("The note was not recorded: {e}"),
            },
            Err(e) => Flash {
                ok: false,
                text: format!("The note was not recorded: {e}"),
            },
        }
    };
    st.console.set_flash(&sid, flash).await;
    see_other(&format!("/console/incidents/{}", path_segment(&id.0)))
}

/// `s` as one path segment (ids are `inc-000001`, but a Location header must not be forged).
pub(super) fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
