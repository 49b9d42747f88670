//! Metrics, and what each measures.

use crate::evidence::{EvidenceData, EvidenceId, EvidenceItem};
use crate::resource::ResourceRef;

/// What a metric measures, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricKind {
    Memory,
    Cpu,
    Throttling,
    ErrorRatio,
    Latency,
    RequestRate,
    Replicas,
    Other,
}

impl MetricKind {
    fn of(name: &str) -> MetricKind {
        let n = name.to_ascii_lowercase();
        let has = |s: &str| n.contains(s);
        if has("throttl") {
            MetricKind::Throttling
        } else if has("replicas") {
            MetricKind::Replicas
        } else if (has("error") || has("5xx")) && !has("duration") {
            MetricKind::ErrorRatio
        } else if has("latency") || has("duration") || has("response_time") {
            MetricKind::Latency
        } else if has("memory") && !has("limit") && !has("request") {
            MetricKind::Memory
        } else if has("cpu") && !has("limit") && !has("quota") && !has("period") {
            MetricKind::Cpu
        } else if has("rps") || (has("request") && !has("limit")) {
            MetricKind::RequestRate
        } else {
            MetricKind::Other
        }
    }
}

/// One metric.
#[derive(Debug)]
pub(crate) struct MetricFact<'a> {
    pub id: &'a EvidenceId,
    pub name: &'a str,
    pub kind: MetricKind,
    pub current: f64,
    pub min: f64,
    pub max: f64,
    pub trend_per_minute: f64,
    pub limit: Option<f64>,
    pub window_seconds: u64,
    /// The pod it is about, when it is about a pod.
    pub pod: Option<String>,
    pub owner: Option<ResourceRef>,
}

impl MetricFact<'_> {
    /// `current / limit`, when both are usable.
    pub fn current_ratio(&self) -> Option<f64> {
        ratio(self.current, self.limit?)
    }

    /// `max / limit`, when both are usable.
    pub fn max_ratio(&self) -> Option<f64> {
        ratio(self.max, self.limit?)
    }

    /// A ratio metric as a fraction (percentages brought down to 0..=1).
    pub fn as_fraction(value: f64) -> f64 {
        let v = if value > 1.0 { value / 100.0 } else { value };
        if v.is_finite() {
            v.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// A latency value in milliseconds, from the unit in the name or the magnitude.
    pub fn as_millis(&self, value: f64) -> f64 {
        let n = self.name.to_ascii_lowercase();
        if n.contains("_ms") || n.contains("millis") {
            value
        } else if n.contains("second") || n.ends_with("_s") || value < 30.0 {
            value * 1000.0
        } else {
            value
        }
    }
}

fn ratio(value: f64, limit: f64) -> Option<f64> {
    (limit.is_finite() && value.is_finite() && limit > 0.0).then(|| value / limit)
}

impl<'a> MetricFact<'a> {
    /// Reads the item, if it is of this kind.
    pub fn read(item: &'a EvidenceItem) -> Option<Self> {
        let EvidenceData::Metric {
            name,
            current,
            min,
            max,
            trend_per_minute,
            limit,
            window_seconds,
            ..
        } = &item.data
        else {
            return None;
        };
        let pod = match &item.resource {
            ResourceRef::Pod { name, .. } => Some(name.clone()),
            _ => None,
        };
        Some(MetricFact {
            id: &item.id,
            name,
            kind: MetricKind::of(name),
            current: *current,
            min: *min,
            max: *max,
            trend_per_minute: *trend_per_minute,
            limit: *limit,
            window_seconds: *window_seconds,
            pod,
            owner: None,
        })
    }

    /// The metric's `subject` (`namespace/pod[/container]` by convention).
    pub fn subject(item: &EvidenceItem) -> Option<&str> {
        match &item.data {
            EvidenceData::Metric { subject, .. } => Some(subject),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_kinds_from_names() {
        assert_eq!(
            MetricKind::of("container_memory_working_set_bytes"),
            MetricKind::Memory
        );
        assert_eq!(
            MetricKind::of("container_spec_memory_limit_bytes"),
            MetricKind::Other
        );
        assert_eq!(
            MetricKind::of("container_cpu_usage_seconds_total"),
            MetricKind::Cpu
        );
        assert_eq!(
            MetricKind::of("cpu_throttling_ratio"),
            MetricKind::Throttling
        );
        assert_eq!(MetricKind::of("error_ratio"), MetricKind::ErrorRatio);
        assert_eq!(
            MetricKind::of("http_request_duration_p99"),
            MetricKind::Latency
        );
        assert_eq!(
            MetricKind::of("http_requests_per_second"),
            MetricKind::RequestRate
        );
        assert_eq!(
            MetricKind::of("kube_deployment_spec_replicas"),
            MetricKind::Replicas
        );
    }
}
