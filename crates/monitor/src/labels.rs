//! Label sets and their Prometheus fingerprints.

use std::collections::BTreeMap;
use std::fmt;

/// A label set, sorted by name. The metric name, where present, is the `__name__` label.
pub type Labels = BTreeMap<String, String>;

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// The label Prometheus adds to every alert.
pub const ALERT_NAME: &str = "alertname";

/// Prometheus' `model.Fingerprint` of a label set: FNV-1a (64 bit) over each label, in name
/// order, as name, 0xff, value, 0xff. Printed as 16 lowercase hex digits, as Alertmanager does
/// in webhook payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// The fingerprint of a label set (the empty set hashes to the FNV offset basis).
    pub fn of(labels: &Labels) -> Self {
        Fingerprint(nightshift_core::signal::label_set_fingerprint(labels))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Go's `model.LabelSet.String()`: `{a="1", b="2"}`, entries sorted as strings.
pub fn label_set_string(labels: &Labels) -> String {
    let mut entries: Vec<String> = labels
        .iter()
        .map(|(name, value)| format!("{name}={}", crate::gofmt::quote(value)))
        .collect();
    entries.sort();
    format!("{{{}}}", entries.join(", "))
}

/// Builds a label set from pairs; handy for tests and for the simulator.
pub fn labels<I, K, V>(pairs: I) -> Labels
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    pairs
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_prometheus_common() {
        // Independently computed with Python:
        //   h = 0xcbf29ce484222325
        //   for b in b"alertname\xffKubePodCrashLooping\xffnamespace\xffshop\xff":
        //       h = ((h ^ b) * 0x100000001b3) % 2**64
        //   print(f"{h:016x}")
        let ls = labels([("alertname", "KubePodCrashLooping"), ("namespace", "shop")]);
        assert_eq!(Fingerprint::of(&ls).to_string(), "c931caaab84eca64");
        let full = labels([
            ("alertname", "KubePodCrashLooping"),
            ("container", "checkout"),
            ("namespace", "shop"),
            ("pod", "checkout-7d4b9c6f5-x2x9z"),
            ("severity", "warning"),
        ]);
        // Same Python loop over the five labels in name order.
        assert_eq!(Fingerprint::of(&full).to_string(), "76b840bdb279fe2a");
        assert_eq!(
            Fingerprint::of(&Labels::new()).to_string(),
            "cbf29ce484222325"
        );
    }

    #[test]
    fn label_set_string_sorts_entries_like_go() {
        let ls = labels([("a", "x"), ("a1", "y")]);
        // "a1=..." sorts before "a=..." because '1' < '='.
        assert_eq!(label_set_string(&ls), r#"{a1="y", a="x"}"#);
    }

    #[test]
    fn validates_names() {
        assert!(is_valid_label_name("namespace"));
        assert!(!is_valid_label_name("1abc"));
        assert!(!is_valid_label_name("a:b"));
        assert!(is_valid_metric_name("job:rate5m"));
        assert!(!is_valid_metric_name(""));
    }
}
