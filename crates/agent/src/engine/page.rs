//! A plan that has waited too long for a human: one note on the incident's timeline, which the
//! outbox turns into a page (PagerDuty) and a chat reply. Written once per approval request:
//! the timeline is the memory, so a restart does not page twice.

use chrono::{DateTime, Utc};
use nightshift_core::notice::APPROVAL_WAITING_KEY;
use nightshift_core::{Analyzer, IncidentId, TimelineKind};
use nightshift_store::ApprovalStatus;
use serde_json::json;

use super::timeline::entry;
use super::{Engine, EngineError};

impl<A: Analyzer + 'static> Engine<A> {
    /// Notes that the pending approval of `id` has waited past the configured time, unless
    /// that is already noted.
    pub(super) async fn page_if_waiting_long(
        &self,
        id: &IncidentId,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let Some(after) = self.config.approval_waiting_after else {
            return Ok(());
        };
        let Some(pending) = self
            .store
            .approvals(id)
            .await?
            .into_iter()
            .rev()
            .find(|a| a.status == ApprovalStatus::Pending)
        else {
            return Ok(());
        };
        let waited = (now - pending.requested_at).to_std().unwrap_or_default();
        if waited < after {
            return Ok(());
        }
        let noted = self.store.timeline(id).await?.iter().any(|e| {
            e.kind == TimelineKind::Note
                && e.data.get("approval_id").and_then(|v| v.as_i64()) == Some(pending.id.0)
                && e.data.get(APPROVAL_WAITING_KEY).is_some()
        });
        if noted {
            return Ok(());
        }
        let minutes = waited.as_secs() / 60;
        self.log(
            id,
            entry(
                now,
                TimelineKind::Note,
                format!(
                    "the plan has waited {minutes} min for approval (expires at {})",
                    pending.deadline.to_rfc3339()
                ),
                json!({
                    APPROVAL_WAITING_KEY: waited.as_secs(),
                    "approval_id": pending.id.0,
                    "deadline": pending.deadline,
                }),
            ),
        )
        .await
    }
}
