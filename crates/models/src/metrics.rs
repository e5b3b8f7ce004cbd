//! Metrics of a binary classifier's scores against observed labels.
//!
//! Conventions (the same as scikit-learn's, so numbers can be compared):
//! - ROC-AUC is the probability that a random positive scores above a random negative, a tie
//!   counting one half (the Mann–Whitney statistic with mid-ranks).
//! - PR-AUC is the average precision: `Σ (R_k − R_{k−1}) · P_k` over the distinct score
//!   thresholds from high to low; tied scores form one threshold.
//! - The top decile is the `ceil(n / 10)` highest scores. When tied scores straddle its edge,
//!   the tied group counts in proportion (the expected value under a random order of ties).
//!   Lift is the top decile's precision over the base rate.
//! - Log loss clips probabilities to `[1e-15, 1 − 1e-15]`.

use serde::{Deserialize, Serialize};

/// Indices sorted by descending score (stable, so equal scores keep their input order).
fn by_score_desc(score: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    idx
}

/// Runs of equal score in descending order: (positives, size) per run.
pub(crate) fn tie_groups(y: &[bool], score: &[f64]) -> Vec<(usize, usize)> {
    let idx = by_score_desc(score);
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut last = None;
    for i in idx {
        if last == Some(score[i]) {
            let g = groups.last_mut().expect("a group is open");
            g.0 += y[i] as usize;
            g.1 += 1;
        } else {
            groups.push((y[i] as usize, 1));
            last = Some(score[i]);
        }
    }
    groups
}

/// ROC-AUC; `None` when either class is absent.
pub fn roc_auc(y: &[bool], score: &[f64]) -> Option<f64> {
    let pos = y.iter().filter(|v| **v).count();
    let neg = y.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    // From the lowest score up: each positive beats the negatives below it and ties half of
    // the negatives with its score.
    let mut negatives_below = 0usize;
    let mut wins = 0.0;
    for (p, size) in tie_groups(y, score).iter().rev() {
        let n = size - p;
        wins += *p as f64 * (negatives_below as f64 + 0.5 * n as f64);
        negatives_below += n;
    }
    Some(wins / (pos as f64 * neg as f64))
}

/// Average precision (PR-AUC); `None` without positives.
pub fn average_precision(y: &[bool], score: &[f64]) -> Option<f64> {
    let pos = y.iter().filter(|v| **v).count();
    if pos == 0 {
        return None;
    }
    let (mut tp, mut seen, mut ap) = (0usize, 0usize, 0.0);
    for (p, size) in tie_groups(y, score) {
        tp += p;
        seen += size;
        ap += (p as f64 / pos as f64) * (tp as f64 / seen as f64);
    }
    Some(ap)
}

/// Mean squared difference between probability and outcome.
pub fn brier(y: &[bool], p: &[f64]) -> f64 {
    let n = y.len().max(1) as f64;
    y.iter()
        .zip(p)
        .map(|(y, p)| (p - *y as u8 as f64).powi(2))
        .sum::<f64>()
        / n
}

/// Mean negative log-likelihood of the outcomes.
pub fn log_loss(y: &[bool], p: &[f64]) -> f64 {
    let n = y.len().max(1) as f64;
    y.iter()
        .zip(p)
        .map(|(y, p)| row_log_loss(*y, *p))
        .sum::<f64>()
        / n
}

/// One row's log loss, the probability clipped to `[1e-15, 1 − 1e-15]` as scikit-learn does.
pub(crate) fn row_log_loss(y: bool, p: f64) -> f64 {
    let p = p.clamp(1e-15, 1.0 - 1e-15);
    if y { -p.ln() } else { -(1.0 - p).ln() }
}

/// Precision among the `ceil(n / 10)` highest scores (ties at the edge in proportion).
pub fn top_decile_precision(y: &[bool], score: &[f64]) -> Option<f64> {
    if y.is_empty() {
        return None;
    }
    let top = y.len().div_ceil(10);
    Some(positives_in_top(&tie_groups(y, score), top) / top as f64)
}

/// Positives among the `top` highest scores of `groups` ([`tie_groups`]), a tied group at the
/// edge counted in proportion (the expected count under a random order of ties).
pub(crate) fn positives_in_top(groups: &[(usize, usize)], top: usize) -> f64 {
    let (mut taken, mut positives) = (0usize, 0.0);
    for (p, size) in groups {
        let room = top - taken;
        if room == 0 {
            break;
        }
        let take = (*size).min(room);
        positives += *p as f64 * take as f64 / *size as f64;
        taken += take;
    }
    positives
}

/// Every metric of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub rows: usize,
    pub positives: usize,
    pub base_rate: f64,
    pub roc_auc: Option<f64>,
    pub pr_auc: Option<f64>,
    pub brier: f64,
    pub log_loss: f64,
    pub top_decile_precision: Option<f64>,
    pub top_decile_lift: Option<f64>,
}

impl Evaluation {
    /// Evaluates probabilities `p` against outcomes `y`.
    pub fn new(y: &[bool], p: &[f64]) -> Evaluation {
        let positives = y.iter().filter(|v| **v).count();
        let base_rate = positives as f64 / y.len().max(1) as f64;
        let top = top_decile_precision(y, p);
        Evaluation {
            rows: y.len(),
            positives,
            base_rate,
            roc_auc: roc_auc(y, p),
            pr_auc: average_precision(y, p),
            brier: brier(y, p),
            log_loss: log_loss(y, p),
            top_decile_precision: top,
            top_decile_lift: top.filter(|_| base_rate > 0.0).map(|t| t / base_rate),
        }
    }

    /// `(name, value)` pairs, for a metrics table.
    pub fn pairs(&self) -> Vec<(&'static str, Option<f64>)> {
        vec![
            ("rows", Some(self.rows as f64)),
            ("positives", Some(self.positives as f64)),
            ("base_rate", Some(self.base_rate)),
            ("roc_auc", self.roc_auc),
            ("pr_auc", self.pr_auc),
            ("brier", Some(self.brier)),
            ("log_loss", Some(self.log_loss)),
            ("top_decile_precision", self.top_decile_precision),
            ("top_decile_lift", self.top_decile_lift),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn roc_auc_by_hand() {
        // Positives at 0.9 and 0.4, negatives at 0.7, 0.3, 0.1: pairs (P, N) won:
        // 0.9 beats all 3; 0.4 beats 0.3 and 0.1 -> 5 of 6.
        let y = [true, false, true, false, false];
        let s = [0.9, 0.7, 0.4, 0.3, 0.1];
        close(roc_auc(&y, &s).unwrap(), 5.0 / 6.0);
        // Perfect and reversed.
        close(roc_auc(&[true, false], &[1.0, 0.0]).unwrap(), 1.0);
        close(roc_auc(&[true, false], &[0.0, 1.0]).unwrap(), 0.0);
        assert_eq!(roc_auc(&[true, true], &[0.2, 0.3]), None);
    }

    #[test]
    fn roc_auc_ties_count_half() {
        // P at 0.5 ties N at 0.5 (1/2), beats N at 0.2 (1); P at 0.8 beats both (2): 3.5 of 4.
        let y = [true, false, true, false];
        let s = [0.5, 0.5, 0.8, 0.2];
        close(roc_auc(&y, &s).unwrap(), 3.5 / 4.0);
        // Every score equal: 0.5 whatever the labels.
        close(
            roc_auc(&[true, false, false, true, false], &[0.3; 5]).unwrap(),
            0.5,
        );
    }

    #[test]
    fn average_precision_by_hand() {
        // Sorted: P(0.9) N(0.7) P(0.4) N(0.3) N(0.1).
        // Recall steps at ranks 1 and 3: precision 1/1 and 2/3 -> AP = 0.5 * 1 + 0.5 * 2/3.
        let y = [true, false, true, false, false];
        let s = [0.9, 0.7, 0.4, 0.3, 0.1];
        close(average_precision(&y, &s).unwrap(), 0.5 + 1.0 / 3.0);
    }

    #[test]
    fn average_precision_ties_form_one_threshold() {
        // Scores 0.8 (P, N tied), then 0.2 (P). Thresholds: 0.8 -> recall 1/2, precision 1/2;
        // 0.2 -> recall 1, precision 2/3. AP = 0.5 * 0.5 + 0.5 * 2/3 (scikit-learn gives the same).
        let y = [true, false, true];
        let s = [0.8, 0.8, 0.2];
        close(average_precision(&y, &s).unwrap(), 0.25 + 1.0 / 3.0);
    }

    #[test]
    fn top_decile_with_ties_at_the_edge() {
        // 20 rows: top decile = 2. Highest score 0.9 (P), then three tied at 0.8 (P, N, N):
        // one place left for three tied rows holding one positive -> 1 + 1/3 positives.
        let mut y = vec![true, true, false, false];
        let mut s = vec![0.9, 0.8, 0.8, 0.8];
        y.extend([false; 16]);
        s.extend([0.1; 16]);
        close(
            top_decile_precision(&y, &s).unwrap(),
            (1.0 + 1.0 / 3.0) / 2.0,
        );
        let e = Evaluation::new(&y, &s);
        close(e.base_rate, 0.1);
        close(e.top_decile_lift.unwrap(), (1.0 + 1.0 / 3.0) / 2.0 / 0.1);
    }

    #[test]
    fn brier_and_log_loss_by_hand() {
        let y = [true, false];
        let p = [0.8, 0.4];
        close(brier(&y, &p), (0.04 + 0.16) / 2.0);
        close(log_loss(&y, &p), -(0.8f64.ln() + 0.6f64.ln()) / 2.0);
        // Clipped, not infinite.
        assert!(log_loss(&[true], &[0.0]).is_finite());
    }
}
