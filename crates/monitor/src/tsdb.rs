//! An in-memory time series store fed one scrape at a time, with Prometheus staleness.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::duration::millis;
use crate::labels::{Fingerprint, Labels, METRIC_NAME, is_valid_label_name, is_valid_metric_name};

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
    series: Vec<Series>,
    /// Series ids by label-set fingerprint (collisions are resolved by comparing labels).
    by_hash: HashMap<u64, Vec<usize>>,
    /// Series ids by metric name, sorted by label set as Prometheus' index returns them.
    by_name: BTreeMap<String, Vec<usize>>,
    last_scrape: Vec<usize>,
    last_ingest_ms: Option<i64>,
}

#[derive(Debug, Clone)]
struct Series {
    labels: Labels,
    points: Vec<Point>,
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
            series: Vec::new(),
            by_hash: HashMap::new(),
            by_name: BTreeMap::new(),
            last_scrape: Vec::new(),
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

        let mut present = vec![false; self.series.len()];
        let mut scraped = Vec::with_capacity(scrape.len());
        for (labels, value) in scrape {
            let id = self.find_or_create(labels);
            if id >= present.len() {
                present.resize(id + 1, false);
            }
            if present[id] {
                continue;
            }
            present[id] = true;
            scraped.push(id);
            self.series[id].points.push(Point {
                t: t_ms,
                v: value,
                stale: false,
            });
        }
        for &id in &self.last_scrape {
            if !present.get(id).copied().unwrap_or(false) {
                self.series[id].points.push(Point {
                    t: t_ms,
                    v: f64::NAN,
                    stale: true,
                });
            }
        }
        self.last_scrape = scraped;
        self.last_ingest_ms = Some(t_ms);
        self.truncate(t_ms.saturating_sub(self.retention_ms));
        Ok(())
    }

    fn find_or_create(&mut self, labels: Labels) -> usize {
        let hash = Fingerprint::of(&labels).0;
        if let Some(ids) = self.by_hash.get(&hash)
            && let Some(&id) = ids.iter().find(|&&id| self.series[id].labels == labels)
        {
            return id;
        }
        let id = self.series.len();
        let name = labels.get(METRIC_NAME).cloned().unwrap_or_default();
        let series = &self.series;
        let ids = self.by_name.entry(name).or_default();
        let pos = ids.partition_point(|&other| series[other].labels < labels);
        ids.insert(pos, id);
        self.by_hash.entry(hash).or_default().push(id);
        self.series.push(Series {
            labels,
            points: Vec::new(),
        });
        id
    }

    /// Drops samples older than `min_t`; forgets series left without samples once they are
    /// a good part of the store (pods come and go in the simulation).
    fn truncate(&mut self, min_t: i64) {
        let mut empty = 0;
        for series in &mut self.series {
            let cut = series.points.partition_point(|p| p.t < min_t);
            if cut > 0 {
                series.points.drain(..cut);
            }
            if series.points.is_empty() {
                empty += 1;
            }
        }
        if empty > 256 && empty * 2 > self.series.len() {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let old = std::mem::take(&mut self.series);
        let mut remap = vec![usize::MAX; old.len()];
        self.by_hash.clear();
        self.by_name.clear();
        for (old_id, series) in old.into_iter().enumerate() {
            if series.points.is_empty() {
                continue;
            }
            let id = self.series.len();
            remap[old_id] = id;
            let name = series.labels.get(METRIC_NAME).cloned().unwrap_or_default();
            self.by_hash
                .entry(Fingerprint::of(&series.labels).0)
                .or_default()
                .push(id);
            self.by_name.entry(name).or_default().push(id);
            self.series.push(series);
        }
        let series = &self.series;
        for ids in self.by_name.values_mut() {
            ids.sort_by(|a, b| series[*a].labels.cmp(&series[*b].labels));
        }
        self.last_scrape = self
            .last_scrape
            .iter()
            .map(|&id| remap[id])
            .filter(|&id| id != usize::MAX)
            .collect();
    }

    /// Time of the latest scrape, if any.
    pub fn last_ingest_ms(&self) -> Option<i64> {
        self.last_ingest_ms
    }

    /// Number of series currently holding samples.
    pub fn series_count(&self) -> usize {
        self.series.iter().filter(|s| !s.points.is_empty()).count()
    }

    /// Series whose label set (including `__name__`) satisfies `keep`, restricted to one
    /// metric name when it is known, in label order.
    pub(crate) fn select<'a>(
        &'a self,
        name: Option<&str>,
        keep: impl Fn(&Labels) -> bool,
    ) -> Vec<(&'a Labels, &'a [Point])> {
        let ids: Vec<usize> = match name {
            Some(name) => self.by_name.get(name).cloned().unwrap_or_default(),
            None => {
                let mut all: Vec<usize> = (0..self.series.len()).collect();
                all.sort_by(|a, b| self.series[*a].labels.cmp(&self.series[*b].labels));
                all
            }
        };
        ids.into_iter()
            .map(|id| &self.series[id])
            .filter(|s| !s.points.is_empty() && keep(&s.labels))
            .map(|s| (&s.labels, s.points.as_slice()))
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

    #[test]
    fn forgets_expired_series_and_keeps_the_rest_consistent() {
        let mut db = Tsdb::new(Duration::from_secs(60));
        let churn = (0..300).map(|i| Sample::new("pod_up", [("pod", format!("p{i}"))], 1.0));
        db.ingest(0, churn).unwrap();
        db.ingest(61_000, [up(1.0)]).unwrap();
        // At 122s the churned series' stale markers (61s) expire too.
        db.ingest(122_000, [up(2.0)]).unwrap();
        // The 300 expired series were compacted away; `up` survived with its samples.
        assert_eq!(db.series.len(), 1);
        assert_eq!(db.series_count(), 1);
        db.ingest(123_000, Vec::new()).unwrap();
        let selected = db.select(Some("up"), |_| true);
        let values: Vec<(i64, bool)> = selected[0].1.iter().map(|p| (p.t, p.stale)).collect();
        assert_eq!(values, vec![(122_000, false), (123_000, true)]);
        // A series that comes back is found again rather than duplicated.
        db.ingest(124_000, [up(3.0)]).unwrap();
        assert_eq!(db.select(Some("up"), |_| true)[0].1.len(), 3);
    }
}
