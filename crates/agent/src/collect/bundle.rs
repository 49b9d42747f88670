//! The bundle being built: items with a priority, and the byte budget that keeps the most
//! important ones.

use chrono::{DateTime, Utc};
use nightshift_core::{
    Evidence, EvidenceData, EvidenceId, EvidenceItem, EvidenceKind, ResourceRef,
};

use crate::redact::redact;

use super::Collector;

pub(super) struct Bundle {
    pub(super) items: Vec<(u8, EvidenceItem)>,
    pub(super) next: usize,
    pub(super) now: DateTime<Utc>,
}

impl Bundle {
    pub(super) fn push(
        &mut self,
        priority: u8,
        kind: EvidenceKind,
        resource: ResourceRef,
        summary: String,
        data: EvidenceData,
    ) {
        self.next += 1;
        self.items.push((
            priority,
            EvidenceItem {
                id: EvidenceId(format!("E{}", self.next)),
                kind,
                resource,
                summary: redact(&summary),
                data,
                observed_at: self.now,
            },
        ));
    }
}

impl Collector {
    pub(super) fn finish(&self, mut b: Bundle) -> Evidence {
        b.items
            .sort_by_key(|(p, i)| (*p, i.id.0.len(), i.id.0.clone()));
        let mut ev = Evidence::default();
        for (_, item) in b.items {
            let size = serde_json::to_vec(&item).map(|v| v.len()).unwrap_or(0);
            if ev.bytes + size > self.budget.bytes {
                ev.truncated += 1;
                continue;
            }
            ev.bytes += size;
            ev.items.push(item);
        }
        ev
    }
}
