//! Perceive: alerts from Alertmanager webhooks and detections from the agent's own watchers,
//! both turned into [`Signal`](nightshift_core::Signal)s.

pub mod alertmanager;
pub mod watchers;
