//! The curves behind a classifier's metrics, for plots and the `churn_curves` table: the ROC
//! curve, calibration by tenths of probability and lift by decile of score.
//!
//! Conventions as in [`crate::metrics`] and scikit-learn: the ROC curve has a point per distinct
//! score from high to low, starting at (0, 0) (`roc_curve(drop_intermediate=False)`);
//! calibration bins probabilities into tenths, right-closed, leaving empty bins out
//! (`calibration_curve(n_bins=10, strategy="uniform")`); decile `k` of the scores is the rows
//! ranked in `[ceil((k−1)·n/10), ceil(k·n/10))`, tied scores across an edge counted in
//! proportion, so decile 1's lift is [`crate::metrics::Evaluation`]'s top-decile lift.

use crate::metrics::{positives_in_top, tie_groups};

/// One point of a curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    pub x: f64,
    pub y: f64,
    /// The rows behind the point: at or above the threshold (ROC), in the bin or decile.
    pub rows: usize,
}

/// (false positive rate, true positive rate) per distinct score; `None` without both classes.
pub fn roc_curve(y: &[bool], score: &[f64]) -> Option<Vec<CurvePoint>> {
    let pos = y.iter().filter(|v| **v).count();
    let neg = y.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut points = vec![CurvePoint {
        x: 0.0,
        y: 0.0,
        rows: 0,
    }];
    let (mut tp, mut seen) = (0usize, 0usize);
    for (p, size) in tie_groups(y, score) {
        tp += p;
        seen += size;
        points.push(CurvePoint {
            x: (seen - tp) as f64 / neg as f64,
            y: tp as f64 / pos as f64,
            rows: seen,
        });
    }
    Some(points)
}

/// At most `max` points of `curve`: evenly spaced ones, the first and last always kept (a
/// plot's or a table's worth of a long ROC curve).
pub fn thin(curve: &[CurvePoint], max: usize) -> Vec<CurvePoint> {
    if curve.len() <= max || max < 2 {
        return curve.to_vec();
    }
    let last = curve.len() - 1;
    (0..max).map(|i| curve[i * last / (max - 1)]).collect()
}

/// (mean probability, observed rate) per non-empty tenth of probability.
pub fn calibration(y: &[bool], p: &[f64]) -> Vec<CurvePoint> {
    let edges: Vec<f64> = (1..10).map(|i| f64::from(i) / 10.0).collect();
    let mut bins = [(0.0f64, 0usize, 0usize); 10];
    for (y, p) in y.iter().zip(p) {
        let b = &mut bins[edges.partition_point(|e| e < p)];
        b.0 += p;
        b.1 += *y as usize;
        b.2 += 1;
    }
    bins.iter()
        .filter(|b| b.2 > 0)
        .map(|(sum, positives, n)| CurvePoint {
            x: sum / *n as f64,
            y: *positives as f64 / *n as f64,
            rows: *n,
        })
        .collect()
}

/// (decile 1..10, its positive rate over the base rate); `None` without rows or positives.
pub fn lift_by_decile(y: &[bool], score: &[f64]) -> Option<Vec<CurvePoint>> {
    let n = y.len();
    let pos = y.iter().filter(|v| **v).count();
    if n == 0 || pos == 0 {
        return None;
    }
    let base = pos as f64 / n as f64;
    let groups = tie_groups(y, score);
    let edge = |k: usize| (k * n).div_ceil(10);
    let points = (1..=10)
        .map(|k| {
            let (from, to) = (edge(k - 1), edge(k));
            let rows = to - from;
            let rate = match rows {
                0 => 0.0,
                _ => {
                    (positives_in_top(&groups, to) - positives_in_top(&groups, from)) / rows as f64
                }
            };
            CurvePoint {
                x: k as f64,
                y: rate / base,
                rows,
            }
        })
        .collect();
    Some(points)
}

#[cfg(test)]
mod tests;
