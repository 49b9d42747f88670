//! Functions over range vectors (`rate`, `increase`, `delta`, `irate`, `deriv`,
//! `*_over_time`...), following Prometheus 2.42's `functions.go`.

use super::{InstantSample, Point, RangeArg};
use crate::labels::METRIC_NAME;

/// Applies a per-series function to a range vector; the metric name is dropped unless
/// `keep_name` (only `last_over_time` keeps it).
pub(super) fn over_range(
    m: &RangeArg,
    keep_name: bool,
    f: impl Fn(&[Point]) -> Option<f64>,
) -> Vec<InstantSample> {
    m.series
        .iter()
        .filter_map(|series| {
            let value = f(&series.points)?;
            let mut labels = series.labels.clone();
            if !keep_name {
                labels.remove(METRIC_NAME);
            }
            Some(InstantSample { labels, value })
        })
        .collect()
}

/// Prometheus' `extrapolatedRate` for `rate`, `increase` and `delta`.
pub(super) fn extrapolated_rate(
    points: &[Point],
    range_ms: i64,
    end_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let first = points[0];
    let last = points[points.len() - 1];
    let range_start = end_ms - range_ms;
    let mut result = last.value - first.value;
    if is_counter {
        let mut prev = first.value;
        for p in &points[1..] {
            if p.value < prev {
                result += prev;
            }
            prev = p.value;
        }
    }
    let mut duration_to_start = (first.t_ms - range_start) as f64 / 1000.0;
    let duration_to_end = (end_ms - last.t_ms) as f64 / 1000.0;
    let sampled = (last.t_ms - first.t_ms) as f64 / 1000.0;
    let average = sampled / (points.len() - 1) as f64;
    if is_counter && result > 0.0 && first.value >= 0.0 {
        // A counter cannot go below zero: do not extrapolate past the zero point.
        let duration_to_zero = sampled * (first.value / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    let threshold = average * 1.1;
    let mut interval = sampled;
    interval += if duration_to_start < threshold {
        duration_to_start
    } else {
        average / 2.0
    };
    interval += if duration_to_end < threshold {
        duration_to_end
    } else {
        average / 2.0
    };
    let mut factor = interval / sampled;
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Prometheus' `instantValue` for `irate` and `idelta`.
pub(super) fn instant_value(points: &[Point], is_rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let last = points[points.len() - 1];
    let previous = points[points.len() - 2];
    let mut value = if is_rate && last.value < previous.value {
        last.value
    } else {
        last.value - previous.value
    };
    let interval = last.t_ms - previous.t_ms;
    if interval == 0 {
        return None;
    }
    if is_rate {
        value /= interval as f64 / 1000.0;
    }
    Some(value)
}

/// Kahan-Neumaier compensated summation step.
fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Least-squares slope and intercept at `intercept_ms`.
pub(super) fn linear_regression(points: &[Point], intercept_ms: i64) -> (f64, f64) {
    let init = points[0].value;
    let constant = points.iter().all(|p| p.value == init);
    if constant {
        return if init.is_infinite() {
            (f64::NAN, f64::NAN)
        } else {
            (0.0, init)
        };
    }
    let (mut sx, mut cx, mut sy, mut cy) = (0.0, 0.0, 0.0, 0.0);
    let (mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let n = points.len() as f64;
    for p in points {
        let x = (p.t_ms - intercept_ms) as f64 / 1000.0;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(p.value, sy, cy);
        (sxy, cxy) = kahan_inc(x * p.value, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

pub(super) fn over_time(name: &str, points: &[Point]) -> Option<f64> {
    let values = points.iter().map(|p| p.value);
    let first = points.first()?.value;
    Some(match name {
        "changes" => points
            .windows(2)
            .filter(|w| w[0].value != w[1].value && !(w[0].value.is_nan() && w[1].value.is_nan()))
            .count() as f64,
        "resets" => points
            .windows(2)
            .filter(|w| w[1].value < w[0].value)
            .count() as f64,
        "max_over_time" => values.fold(first, |m, v| if v > m || m.is_nan() { v } else { m }),
        "min_over_time" => values.fold(first, |m, v| if v < m || m.is_nan() { v } else { m }),
        "sum_over_time" => values.sum(),
        "count_over_time" => points.len() as f64,
        "last_over_time" => points[points.len() - 1].value,
        "present_over_time" => 1.0,
        "avg_over_time" => {
            let mut mean = first;
            let mut count = 1.0;
            for v in values.skip(1) {
                count += 1.0;
                if mean.is_infinite() {
                    if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                        continue;
                    }
                    if !v.is_infinite() && !v.is_nan() {
                        continue;
                    }
                }
                mean += v / count - mean / count;
            }
            mean
        }
        "stddev_over_time" | "stdvar_over_time" => {
            let (mut count, mut mean, mut aux) = (0.0, 0.0, 0.0);
            for v in values {
                count += 1.0;
                let delta = v - mean;
                mean += delta / count;
                aux += delta * (v - mean);
            }
            let var = aux / count;
            if name == "stddev_over_time" {
                var.sqrt()
            } else {
                var
            }
        }
        _ => return None,
    })
}
