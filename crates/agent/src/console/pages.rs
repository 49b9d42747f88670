//! The incident list and the incident page.

use nightshift_store::StoredIncident;

use super::*;

/// The states offered by the list's filter.
const STATES: [&str; 15] = [
    "open",
    "collecting",
    "analyzing",
    "planned",
    "awaiting_approval",
    "approved",
    "rejected",
    "expired",
    "acting",
    "verifying",
    "resolved",
    "unresolved",
    "escalated",
    "observed",
    "closed",
];

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    q: String,
    page: Option<usize>,
}

pub(super) async fn incidents<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<ListQuery>,
) -> Response {
    let (_, s, cookie) = match page_session(&st, &headers, &uri).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let chrome = chrome(&s);
    let state = if q.state.is_empty() {
        None
    } else {
        match serde_json::from_value::<State>(serde_json::Value::String(q.state.clone())) {
            Ok(s) => Some(s),
            Err(_) => {
                return finish(
                    error_page(
                        StatusCode::BAD_REQUEST,
                        chrome,
                        format!(
                            "the field state is {:?}, which is not a state; use one of {}",
                            nightshift_core::text::one_line(&q.state, 40),
                            STATES.join(", ")
                        ),
                    ),
                    cookie,
                );
            }
        }
    };
    let chars = q.q.chars().count();
    if chars > IncidentFilter::MAX_TEXT_CHARS {
        return finish(
            error_page(
                StatusCode::BAD_REQUEST,
                chrome,
                format!(
                    "the field q is {chars} characters long; search for at most {}",
                    IncidentFilter::MAX_TEXT_CHARS
                ),
            ),
            cookie,
        );
    }
    let mut filter = IncidentFilter {
        state,
        namespace: (!q.namespace.is_empty()).then(|| q.namespace.clone()),
        text: Some(q.q.clone()),
        awaiting_first: true,
        ..IncidentFilter::default()
    };
    let ListPage {
        matching,
        page,
        pages,
        shown,
        namespaces,
    } = match list_page(&st, &mut filter, q.page).await {
        Ok(x) => x,
        Err(e) => {
            return finish(
                error_page(StatusCode::INTERNAL_SERVER_ERROR, chrome, e.to_string()),
                cookie,
            );
        }
    };
    let now = st.engine.now();
    let ids: Vec<IncidentId> = shown.iter().map(|i| i.incident.id.clone()).collect();
    // A page without severities is still a page: the column says `-`.
    let severities = st
        .engine
        .store()
        .incident_severities(&ids)
        .await
        .unwrap_or_default();
    let rows = shown
        .iter()
        .map(|i| {
            let mut row = view::row(&i.incident, now);
            row.severity = view::highest_severity(
                severities
                    .iter()
                    .filter(|(id, _)| *id == i.incident.id)
                    .map(|(_, s)| s.as_str()),
            );
            row
        })
        .collect();
    let link = |p: usize| {
        let query = serde_urlencoded::to_string([
            ("state", q.state.as_str()),
            ("namespace", q.namespace.as_str()),
            ("q", q.q.as_str()),
            ("page", &p.to_string()),
        ])
        .unwrap_or_default();
        format!("/console/?{query}")
    };
    let page_view = view::IncidentsPage {
        chrome,
        rows,
        matching,
        states: STATES.to_vec(),
        namespaces,
        state: q.state.clone(),
        namespace: q.namespace.clone(),
        q: q.q.clone(),
        page,
        pages,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
    };
    finish(html(StatusCode::OK, page_view.render()), cookie)
}

/// One page of the incident list, as the store returned it.
struct ListPage {
    /// How many incidents match the filter.
    matching: usize,
    /// The page shown, from 1.
    page: usize,
    /// How many pages there are (at least one).
    pages: usize,
    /// The page's incidents.
    shown: Vec<StoredIncident>,
    /// Every namespace incidents were about, for the filter.
    namespaces: Vec<String>,
}

/// Page `page` (from 1, clamped to the pages there are) of the list `filter` selects: one
/// count, one page read and the namespaces, all done by the store.
async fn list_page<A: Analyzer + 'static>(
    st: &ApiState<A>,
    filter: &mut IncidentFilter,
    page: Option<usize>,
) -> Result<ListPage, nightshift_store::StoreError> {
    let store = st.engine.store();
    let matching = usize::try_from(store.count(filter).await?).unwrap_or(usize::MAX);
    let pages = matching.div_ceil(PAGE_SIZE).max(1);
    let page = page.unwrap_or(1).clamp(1, pages);
    filter.offset = Some(u32::try_from((page - 1) * PAGE_SIZE).unwrap_or(u32::MAX));
    filter.limit = Some(u32::try_from(PAGE_SIZE).unwrap_or(u32::MAX));
    Ok(ListPage {
        matching,
        page,
        pages,
        shown: store.list(filter).await?,
        namespaces: store.namespaces().await?,
    })
}

pub(super) async fn incident<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let (sid, s, cookie) = match page_session(&st, &headers, &uri).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let res = match incident_page(&st, &sid, &s, IncidentId(id)).await {
        Ok(res) | Err(res) => res,
    };
    finish(res, cookie)
}

async fn incident_page<A: Analyzer + 'static>(
    st: &ApiState<A>,
    sid: &str,
    s: &Session,
    id: IncidentId,
) -> Result<Response, Response> {
    let store = st.engine.store();
    let fail = |e: nightshift_store::StoreError| {
        error_page(StatusCode::INTERNAL_SERVER_ERROR, chrome(s), e.to_string())
    };
    let Some(stored) = store.get(&id).await.map_err(fail)? else {
        return Err(incident_not_found(chrome(s), &id));
    };
    let timeline = store.timeline(&id).await.map_err(fail)?;
    let analyses = store.analyses(&id).await.map_err(fail)?;
    let evidence = store.latest_evidence(&id).await.map_err(fail)?;
    let decisions = store.decisions(&id).await.map_err(fail)?;
    let actions = store.actions(&id).await.map_err(fail)?;
    let approvals = store.approvals(&id).await.map_err(fail)?;
    let notices = store.notices(&id).await.map_err(fail)?;
    let record = view::Record {
        incident: &stored.incident,
        timeline: &timeline,
        analyses: &analyses,
        evidence: evidence.as_ref(),
        decisions: &decisions,
        actions: &actions,
        approvals: &approvals,
        notices: &notices,
    };
    let mut page = view::incident_page(&record, chrome(s));
    page.flash = st.console.take_flash(sid).await;
    page.can_note = s.identity.role.allows(Scope::Approve);
    if let Some(seen) = &mut page.seen_before {
        // A page without the entries' titles is still a page: the ids are shown.
        for similar in &mut seen.similar {
            if let Ok(Some(e)) = store.kb_get(&similar.id).await {
                similar.about = Some(format!("{} ({})", e.title, e.outcome.as_str()));
            }
        }
    }
    if stored.incident.state == State::AwaitingApproval {
        let namespace = stored.incident.resource.namespace();
        page.can_approve = s.identity.may_approve_in(namespace);
        if !page.can_approve {
            page.approve_note = Some(format!(
                "This incident waits for an approval; {} ({}) may not answer it.",
                s.identity.name, s.identity.role
            ));
        }
    }
    Ok(html(StatusCode::OK, page.render()))
}
