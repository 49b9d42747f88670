//! The incident list and the incident page.

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
    let (_, s, cookie) = match page_session(&st, &headers, &uri) {
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
    let filter = IncidentFilter {
        state,
        open_only: false,
        resource: None,
        limit: Some(LIST_LIMIT),
    };
    let list = match st.engine.store().list(&filter).await {
        Ok(l) => l,
        Err(e) => {
            return finish(
                error_page(StatusCode::INTERNAL_SERVER_ERROR, chrome, e.to_string()),
                cookie,
            );
        }
    };
    let mut namespaces: Vec<String> = list
        .iter()
        .filter_map(|i| i.incident.resource.namespace().map(str::to_string))
        .collect();
    namespaces.sort();
    namespaces.dedup();
    let incidents: Vec<&Incident> = list.iter().map(|s| &s.incident).collect();
    let (matching, shown) = select(&incidents, &q.namespace, &q.q, q.page.unwrap_or(1));
    let pages = matching.div_ceil(PAGE_SIZE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    let now = st.engine.now();
    let rows = shown.iter().map(|i| view::row(i, now)).collect();
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

/// The incidents of the list in `namespace` (`""`: any) whose title or resource contains
/// `text` (case-insensitive), those waiting for an approval first and otherwise in the store's
/// order (newest first): how many match, and those of page `page` (from 1, clamped).
fn select<'a>(
    incidents: &[&'a Incident],
    namespace: &str,
    text: &str,
    page: usize,
) -> (usize, Vec<&'a Incident>) {
    let needle = text.trim().to_lowercase();
    let mut matching: Vec<&Incident> = incidents
        .iter()
        .copied()
        .filter(|i| namespace.is_empty() || i.resource.namespace() == Some(namespace))
        .filter(|i| {
            needle.is_empty()
                || i.title.to_lowercase().contains(&needle)
                || i.resource.to_string().to_lowercase().contains(&needle)
        })
        .collect();
    // A stable sort keeps the store's order within each group.
    matching.sort_by_key(|i| i.state != State::AwaitingApproval);
    let pages = matching.len().div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let shown = matching
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .copied()
        .collect();
    (matching.len(), shown)
}

pub(super) async fn incident<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let (sid, s, cookie) = match page_session(&st, &headers, &uri) {
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
        return Err(error_page(
            StatusCode::NOT_FOUND,
            chrome(s),
            format!(
                "incident {} not found",
                nightshift_core::text::one_line(&id.0, 80)
            ),
        ));
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
    page.flash = st.console.take_flash(sid);
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use nightshift_core::resource::ResourceRef;

    fn incident(n: usize, namespace: &str, name: &str, state: State) -> Incident {
        let at = chrono::Utc
            .timestamp_opt(1_700_000_000 - n as i64, 0)
            .unwrap();
        Incident {
            id: IncidentId(format!("inc-{n:06}")),
            state,
            resource: ResourceRef::deployment(namespace, name),
            title: format!("{name} is not ready"),
            category: None,
            root_cause: None,
            attempts: 0,
            opened_at: at,
            updated_at: at,
            resolved_at: None,
        }
    }

    fn ids(list: &[&Incident]) -> Vec<String> {
        list.iter().map(|i| i.id.0.clone()).collect()
    }

    #[test]
    fn waiting_approvals_come_first_then_the_stores_order() {
        let all = [
            incident(1, "shop", "web", State::Resolved),
            incident(2, "shop", "orders", State::AwaitingApproval),
            incident(3, "pay", "api", State::Verifying),
            incident(4, "pay", "ledger", State::AwaitingApproval),
        ];
        let refs: Vec<&Incident> = all.iter().collect();
        let (n, shown) = select(&refs, "", "", 1);
        assert_eq!(n, 4);
        assert_eq!(
            ids(&shown),
            ["inc-000002", "inc-000004", "inc-000001", "inc-000003"]
        );
        let (n, shown) = select(&refs, "pay", "", 1);
        assert_eq!(
            (n, ids(&shown)),
            (2, vec!["inc-000004".into(), "inc-000003".into()])
        );
        // The text is looked for in the title and the resource, in any case.
        let (_, shown) = select(&refs, "", "  LEDGER ", 1);
        assert_eq!(ids(&shown), ["inc-000004"]);
        let (_, shown) = select(&refs, "", "deployment/shop/", 1);
        assert_eq!(ids(&shown), ["inc-000002", "inc-000001"]);
        let (n, shown) = select(&refs, "nowhere", "", 1);
        assert_eq!((n, shown.len()), (0, 0));
    }

    #[test]
    fn pages_hold_a_hundred_and_out_of_range_pages_are_clamped() {
        let all: Vec<Incident> = (1..=250)
            .map(|n| incident(n, "shop", "web", State::Resolved))
            .collect();
        let refs: Vec<&Incident> = all.iter().collect();
        let (n, first) = select(&refs, "", "", 1);
        assert_eq!((n, first.len()), (250, 100));
        assert_eq!(first[0].id.0, "inc-000001");
        let (_, third) = select(&refs, "", "", 3);
        assert_eq!(third.len(), 50);
        assert_eq!(third[0].id.0, "inc-000201");
        assert_eq!(ids(&select(&refs, "", "", 99).1), ids(&third));
        assert_eq!(ids(&select(&refs, "", "", 0).1), ids(&first));
    }
}
