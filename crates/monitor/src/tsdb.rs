//! An in-memory time series store fed one scrape at a time, with Prometheus staleness.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::duration::millis;
use crate::labels::{Labels, METRIC_NAME, is_valid_label_name, is_valid_metric_name};

/// One scraped value of one series: what an exporter line `name{labels} value` says.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name, e.g. `kube_pod_status_phase`.
    pub name: String,
    /// The labels other than the metric name. Labels with an empty value are dropped, as
    /// Prometheus treats them as absent.
    pub labels: Labels,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// A sample from a name, label pairs and a value.
    pub fn new<I, K, V>(name: impl Into<String>, labels: I, value: f64) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Sample {
            name: name.into(),
            labels: crate::labels::labels(labels),
            value,
        }
    }
}

/// A scrape the store refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TsdbError {
    /// Scrapes must arrive in time order.
    #[error("scrape at {t_ms} ms is not after the previous scrape at {last_ms} ms")]
    OutOfOrder {
        /// The refused scrape's time.
        t_ms: i64,
        /// The previous scrape's time.
        last_ms: i64,
    },
    /// A sample's metric name is not valid.
    #[error("invalid metric name {name:?}: it must match [a-zA-Z_:][a-zA-Z0-9_:]*")]
    InvalidMetricName {
        /// The offending name.
        name: String,
    },
    /// A sample's label name is not valid.
    #[error(
        "invalid label name {label:?} on metric {metric}: it must match [a-zA-Z_][a-zA-Z0-9_]*"
    )]
    InvalidLabelName {
        /// The metric carrying the label.
        metric: String,
        /// The offending label name.
        label: String,
    },
}

/// A stored sample; stale markers end a series the way Prometheus' staleness NaN does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub(crate) t: i64,
    pub(crate) v: f64,
    pub(crate) stale: bool,
}

/// In-memory series store with bounded retention.
///
/// Each [`Tsdb::ingest`] call is one scrape of the whole simulated cluster. A series that was
/// in the previous scrape and is missing from this one gets a stale marker, so instant
/// selectors stop returning it at once instead of after the 5 minute lookback, exactly as in
/// Prometheus.
#[derive(Debug, Clone)]
pub struct Tsdb {
    retention_ms: i64,
    /// Series by metric name, then by full label set (including `__name__`).
    series: BTreeMap<String, BTreeMap<Labels, Vec<Point>>>,
    last_scrape: BTreeSet<Labels>,
    last_ingest_ms: Option<i64>,
}

impl Default for Tsdb {
    fn default() -> Self {
        Tsdb::new(Duration::from_secs(3600))
    }
}

impl Tsdb {
    /// An empty store that keeps samples for `retention` behind the latest scrape.
    pub fn new(retention: Duration) -> Self {
        Tsdb {
            retention_ms: millis(retention).max(1),
            series: BTreeMap::new(),
            last_scrape: BTreeSet::new(),
            last_ingest_ms: None,
        }
    }

    /// Stores one scrape taken at `t_ms` (milliseconds since the Unix epoch).
    ///
    /// Duplicate series within a scrape keep their first value, as Prometheus does. A scrape
    /// with an invalid name is refused whole and changes nothing.
    pub fn ingest(
        &mut self,
        t_ms: i64,
        samples: impl IntoIterator<Item = Sample>,
    ) -> Result<(), TsdbError> {
        if let Some(last_ms) = self.last_ingest_ms
            && t_ms <= last_ms
        {
            return Err(TsdbError::OutOfOrder { t_ms, last_ms });
        }
        let mut scrape: Vec<(Labels, f64)> = Vec::new();
        for sample in samples {
            if !is_valid_metric_name(&sample.name) {
                return Err(TsdbError::InvalidMetricName { name: sample.name });
            }
            let mut labels = Labels::new();
            for (name, value) in sample.labels {
                if !is_valid_label_name(&name) || name == METRIC_NAME {
                    return Err(TsdbError::InvalidLabelName {
                        metric: sample.name,
                        label: name,
                    });
                }
                if !value.is_empty() {
                    labels.insert(name, value);
                }
            }
            labels.insert(METRIC_NAME.to_string(), sample.name);
            scrape.push((labels, sample.value));
        }

        let mut seen = BTreeSet::new();
        for (labels, value) in scrape {
            if seen.contains(&labels) {
                continue;
            }
            let name = labels.get(METRIC_NAME).cloned().unwrap_or_default();
            self.series
                .entry(name)
                .or_default()
                .entry(labels.clone())
                .or_default()
                .push(Point {
                    t: t_ms,
                    v: value,
                    stale: false,
                });
            seen.insert(labels);
        }
        for gone in self.last_scrape.difference(&seen) {
            let name = gone
                .get(METRIC_NAME)
                .map(String::as_str)
                .unwrap_or_default();
            if let Some(points) = self
                .series
                .get_mut(name)
                .and_then(|by_labels| by_labels.get_mut(gone))
            {
                points.push(Point {
                    t: t_ms,
                    v: f64::NAN,
                    stale: true,
                });
            }
        }
        self.last_scrape = seen;
        self.last_ingest_ms = Some(t_ms);
        self.truncate(t_ms.saturating_sub(self.retention_ms));
        Ok(())
    }

    /// Drops samples older than `min_t` and series left without samples.
    fn truncate(&mut self, min_t: i64) {
        for by_labels in self.series.values_mut() {
            for points in by_labels.values_mut() {
                let cut = points.partition_point(|p| p.t < min_t);
                if cut > 0 {
                    points.drain(..cut);
                }
            }
            by_labels.retain(|_, points| !points.is_empty());
        }
        self.series.retain(|_, by_labels| !by_labels.is_empty());
    }

    /// Time of the latest scrape, if any.
    pub fn last_ingest_ms(&self) -> Option<i64> {
        self.last_ingest_ms
    }

    /// Number of series currently held.
    pub fn series_count(&self) -> usize {
        self.series.values().map(BTreeMap::len).sum()
    }

    /// Series whose label set (including `__name__`) satisfies `keep`, restricted to one
    /// metric name when it is known.
    pub(crate) fn select<'a>(
        &'a self,
        name: Option<&str>,
        keep: impl Fn(&Labels) -> bool,
    ) -> Vec<(&'a Labels, &'a [Point])> {
        let buckets: Vec<&BTreeMap<Labels, Vec<Point>>> = match name {
            Some(name) => self.series.get(name).into_iter().collect(),
            None => self.series.values().collect(),
        };
        buckets
            .into_iter()
            .flat_map(|by_labels| by_labels.iter())
            .filter(|(labels, _)| keep(labels))
            .map(|(labels, points)| (labels, points.as_slice()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(value: f64) -> Sample {
        Sample::new("up", [("job", "a")], value)
    }

    #[test]
    fn rejects_out_of_order_and_invalid_scrapes() {
        let mut db = Tsdb::default();
        db.ingest(1000, [up(1.0)]).unwrap();
        assert_eq!(
            db.ingest(1000, [up(1.0)]),
            Err(TsdbError::OutOfOrder {
                t_ms: 1000,
                last_ms: 1000
            })
        );
        let bad = Sample::new("bad-name", [("a", "b")], 1.0);
        assert!(matches!(
            db.ingest(2000, [bad]),
            Err(TsdbError::InvalidMetricName { .. })
        ));
        let bad = Sample::new("ok", [("bad-label", "b")], 1.0);
        assert!(matches!(
            db.ingest(2000, [bad]),
            Err(TsdbError::InvalidLabelName { .. })
        ));
    }

    #[test]
    fn marks_missing_series_stale_and_enforces_retention() {
        let mut db = Tsdb::new(Duration::from_secs(60));
        db.ingest(0, [up(1.0)]).unwrap();
        db.ingest(15_000, [up(1.0)]).unwrap();
        db.ingest(30_000, Vec::new()).unwrap();
        let selected = db.select(Some("up"), |_| true);
        let points = selected[0].1;
        assert_eq!(points.len(), 3);
        assert!(points[2].stale);
        db.ingest(100_000, Vec::new()).unwrap();
        assert_eq!(db.series_count(), 0);
    }
}
