//! What the agent learned: the knowledge base (`/console/knowledge`, searched as the API's
//! `GET /api/v1/kb` searches it) and the trust ladder (`/console/trust`, as
//! `nightshift trust` shows it).

use nightshift_core::knowledge::{Entry, Hit};
use nightshift_core::trust::Row;
use nightshift_store::TrustChange;

use super::view::time;
use super::*;

/// Entries a search shows at most.
const HITS: usize = 20;
/// Newest entries shown without a search.
const NEWEST: usize = 50;
/// Changes of mode shown.
const CHANGES: usize = 20;
/// The longest search accepted, in characters.
const MAX_QUERY_CHARS: usize = 200;

/// A knowledge-base entry as the page lists it.
#[derive(Debug, Clone)]
pub struct EntryRow {
    /// Id.
    pub id: String,
    /// The incident page, for an incident's entry.
    pub link: Option<String>,
    /// `incident`, `postmortem`, `runbook`.
    pub source: String,
    /// Title.
    pub title: String,
    /// Category, or `-`.
    pub category: String,
    /// How it ended.
    pub outcome: String,
    /// When it happened.
    pub occurred: String,
    /// What was done and whether it fixed it, e.g. `rollback (fixed)`; `-` for nothing.
    pub actions: String,
    /// Notes people added: who, and what.
    pub notes: Vec<(String, String)>,
    /// Similarity to the search, for a search.
    pub similarity: Option<String>,
}

/// The knowledge page.
#[derive(Template)]
#[template(path = "console/knowledge.html")]
pub struct KnowledgePage {
    /// Header.
    pub chrome: Chrome,
    /// The search text (`""`: the newest entries).
    pub q: String,
    /// Entries, best (or newest) first.
    pub rows: Vec<EntryRow>,
}

/// A row of the trust ladder.
#[derive(Debug, Clone)]
pub struct TrustRowView {
    /// Namespace (`-` for cluster-scoped actions).
    pub namespace: String,
    /// Action.
    pub action: String,
    /// Category.
    pub category: String,
    /// Fates that counted for the proposal, of all: `4/5`.
    pub right: String,
    /// Success rate.
    pub rate: String,
    /// Its lower bound.
    pub lower: String,
    /// Approvals, rejections and verified or failed actions: `3/3`.
    pub hands_on: String,
    /// Harmful judgments.
    pub harmful: u32,
    /// What the record earns.
    pub earned: String,
    /// The mode it is in.
    pub mode: String,
    /// Whether a person pinned it.
    pub pinned: bool,
    /// The last fate, or `-`.
    pub last: String,
}

/// A change of a row's mode.
#[derive(Debug, Clone)]
pub struct ModeChangeView {
    /// When.
    pub at: String,
    /// The row.
    pub row: String,
    /// From.
    pub from: String,
    /// To.
    pub to: String,
    /// Why.
    pub reason: String,
    /// Who.
    pub by: String,
    /// Whether it pinned the row.
    pub pinned: bool,
}

/// The trust page.
#[derive(Template)]
#[template(path = "console/trust.html")]
pub struct TrustPage {
    /// Header.
    pub chrome: Chrome,
    /// Rows, ordered by namespace, action and category.
    pub rows: Vec<TrustRowView>,
    /// What moves a row under the policy in force.
    pub rule: String,
    /// The latest changes of mode, newest first.
    pub changes: Vec<ModeChangeView>,
}

/// The incident page of an entry id, when it is an incident's.
pub fn entry_link(id: &str) -> Option<String> {
    id.starts_with("inc-")
        .then(|| format!("/console/incidents/{}", answer::path_segment(id)))
}

/// An entry's row.
pub fn entry_row(e: &Entry, similarity: Option<f64>) -> EntryRow {
    let actions: Vec<String> = e
        .actions
        .iter()
        .map(|a| match a.fixed {
            Some(true) => format!("{} (fixed)", a.action),
            Some(false) => format!("{} (did not fix)", a.action),
            None => format!("{} (not measured)", a.action),
        })
        .collect();
    EntryRow {
        id: e.id.clone(),
        link: entry_link(&e.id),
        source: e.source.as_str().to_string(),
        title: e.title.clone(),
        category: e.category().map_or("-".into(), |c| c.to_string()),
        outcome: e.outcome.as_str().to_string(),
        occurred: time(e.occurred_at),
        actions: if actions.is_empty() {
            "-".into()
        } else {
            actions.join(", ")
        },
        notes: e
            .notes
            .iter()
            .map(|n| (n.by.clone(), n.text.clone()))
            .collect(),
        similarity: similarity.map(|s| format!("{s:.2}")),
    }
}

fn trust_row(r: &Row) -> TrustRowView {
    TrustRowView {
        namespace: r.key.namespace.clone(),
        action: r.key.action.as_str().to_string(),
        category: r.key.category.as_str().to_string(),
        right: format!("{}/{}", r.all.successes, r.all.samples),
        rate: format!("{:.2}", r.all.rate()),
        lower: format!("{:.2}", r.all.lower_bound()),
        hands_on: format!("{}/{}", r.hands_on.successes, r.hands_on.samples),
        harmful: r.harmful,
        earned: r.earned.as_str().to_string(),
        mode: r.mode.as_str().to_string(),
        pinned: r.pinned,
        last: r.last.map_or("-".into(), time),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct KnowledgeQuery {
    #[serde(default)]
    q: String,
}

/// `GET /console/knowledge?q=TEXT`.
pub(super) async fn knowledge<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<KnowledgeQuery>,
) -> Response {
    let (_, s, cookie) = match page_session(&st, &headers, &uri).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let chrome = chrome(&s);
    let chars = q.q.chars().count();
    if chars > MAX_QUERY_CHARS {
        return finish(
            error_page(
                StatusCode::BAD_REQUEST,
                chrome,
                format!(
                    "the field q is {chars} characters long; search for at most {MAX_QUERY_CHARS}"
                ),
            ),
            cookie,
        );
    }
    let text = q.q.trim().to_string();
    let rows = if text.is_empty() {
        st.engine.store().kb_list(NEWEST).await.map(|entries| {
            entries
                .iter()
                .map(|e| entry_row(e, None))
                .collect::<Vec<_>>()
        })
    } else {
        crate::http::knowledge::search_text(&st.engine, text, HITS)
            .await
            .map(|hits: Vec<Hit>| {
                hits.iter()
                    .map(|h| entry_row(&h.entry, Some(h.similarity)))
                    .collect()
            })
    };
    let res = match rows {
        Ok(rows) => html(
            StatusCode::OK,
            KnowledgePage {
                chrome,
                q: q.q,
                rows,
            }
            .render(),
        ),
        Err(e) => error_page(StatusCode::INTERNAL_SERVER_ERROR, chrome, e.to_string()),
    };
    finish(res, cookie)
}

/// `GET /console/trust`.
pub(super) async fn trust<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (_, s, cookie) = match page_session(&st, &headers, &uri).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let chrome = chrome(&s);
    let policy = st.engine.policy();
    let store = st.engine.store();
    let read = async {
        let rows = crate::trust::ladder(store, &policy, st.engine.now()).await?;
        let changes = store.trust_changes(CHANGES).await?;
        Ok::<_, nightshift_store::StoreError>((rows, changes))
    };
    let res = match read.await {
        Ok((rows, changes)) => html(
            StatusCode::OK,
            TrustPage {
                chrome,
                rows: rows.iter().map(trust_row).collect(),
                rule: crate::trust::promotion_rule(&policy.promotion),
                changes: changes
                    .iter()
                    .map(|(row, c, pinned): &(_, TrustChange, bool)| ModeChangeView {
                        at: time(c.at),
                        row: row.to_string(),
                        from: c.from.as_str().to_string(),
                        to: c.to.as_str().to_string(),
                        reason: c.reason.clone(),
                        by: c.by.clone(),
                        pinned: *pinned,
                    })
                    .collect(),
            }
            .render(),
        ),
        Err(e) => error_page(StatusCode::INTERNAL_SERVER_ERROR, chrome, e.to_string()),
    };
    finish(res, cookie)
}
