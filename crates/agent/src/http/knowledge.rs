//! The knowledge base on the API: notes on incidents (`POST /api/v1/incidents/{id}/notes`,
//! recorded as the authenticated identity), search (`GET /api/v1/kb?q=TEXT&limit=N`) and one
//! entry (`GET /api/v1/kb/entries/{id}`, ids such as `inc-000012` or `doc/checkout-oom`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nightshift_core::knowledge::{Hit, Note, Signature};
use nightshift_core::{Analyzer, IncidentId};
use nightshift_store::{KbQuery, StoreError};
use serde::Deserialize;

use super::{ApiError, ApiState, read_body};
use crate::auth::Identity;
use crate::engine::Engine;

/// Search results at most.
const MAX_LIMIT: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    text: String,
}

pub(super) async fn note<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    Extension(who): Extension<Identity>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(&headers, body, 16 * 1024, st.limits.body_read_timeout).await?;
    let b: NoteBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("invalid note body: {e}; expected {{\"text\": TEXT}}"),
        )
    })?;
    if b.text.trim().is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "invalid note body: `text` is empty".into(),
        ));
    }
    match record_note(&st.engine, IncidentId(id), who.name, b.text)
        .await
        .map_err(ApiError::internal)?
    {
        Ok(note) => Ok((StatusCode::CREATED, axum::Json(note)).into_response()),
        Err(StoreError::IncidentNotFound { id }) => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("incident {} not found", id.0),
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Adds `by`'s note to incident `id` with [`crate::learn::add_note`], now: what the API's
/// note and the console's note form record. In its own task, so a client that goes away
/// does not leave half a note.
pub(crate) async fn record_note<A: Analyzer + 'static>(
    engine: &Engine<A>,
    id: IncidentId,
    by: String,
    text: String,
) -> Result<Result<Note, StoreError>, tokio::task::JoinError> {
    let store = engine.store().clone();
    let now = engine.now();
    tokio::spawn(async move { crate::learn::add_note(&store, &id, &by, &text, now).await }).await
}

#[derive(Deserialize)]
pub(super) struct SearchParams {
    q: String,
    limit: Option<usize>,
}

pub(super) async fn search<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    Query(p): Query<SearchParams>,
) -> Result<Response, ApiError> {
    let limit = p.limit.unwrap_or(10).clamp(1, MAX_LIMIT);
    let hits = search_text(&st.engine, p.q, limit)
        .await
        .map_err(ApiError::internal)?;
    Ok(axum::Json(hits).into_response())
}

/// The entries most like a person's words, best first, at most `limit`: what the API's
/// search and the console's knowledge page answer.
pub(crate) async fn search_text<A: Analyzer + 'static>(
    engine: &Engine<A>,
    text: String,
    limit: usize,
) -> Result<Vec<Hit>, StoreError> {
    let vector = crate::learn::query_vector(engine.embeddings(), text.clone()).await;
    let query = KbQuery {
        text,
        signature: Signature::default(),
        exclude: None,
        before: None,
        vector,
    };
    engine.store().kb_search(&query, limit).await
}

pub(super) async fn entry<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match st
        .engine
        .store()
        .kb_get(&id)
        .await
        .map_err(ApiError::internal)?
    {
        Some(e) => Ok(axum::Json(e).into_response()),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no knowledge-base entry {id}"),
        )),
    }
}
