use super::*;
use crate::metrics::{Evaluation, roc_auc};

fn xy(points: &[CurvePoint]) -> Vec<(f64, f64)> {
    points.iter().map(|p| (p.x, p.y)).collect()
}

#[test]
fn roc_by_hand_with_a_tie() {
    let y = [true, false, true, false, true];
    let s = [0.9, 0.8, 0.8, 0.1, 0.05];
    // Thresholds 0.9, 0.8 (a positive and a negative tied), 0.1, 0.05.
    let got = roc_curve(&y, &s).unwrap();
    let third = 1.0 / 3.0;
    assert_eq!(
        xy(&got),
        vec![
            (0.0, 0.0),
            (0.0, third),
            (0.5, 2.0 * third),
            (1.0, 2.0 * third),
            (1.0, 1.0)
        ]
    );
    assert_eq!(
        got.iter().map(|p| p.rows).collect::<Vec<_>>(),
        vec![0, 1, 3, 4, 5]
    );
    assert!(roc_curve(&[true, true], &[0.1, 0.2]).is_none());
}

#[test]
fn lift_by_hand_and_decile_one_is_the_top_decile_lift() {
    // 20 rows, the two highest scores positive: decile 1 holds both.
    let y: Vec<bool> = (0..20).map(|i| i < 2).collect();
    let s: Vec<f64> = (0..20).map(|i| 1.0 - f64::from(i) / 20.0).collect();
    let lift = lift_by_decile(&y, &s).unwrap();
    assert_eq!(lift[0].y, 10.0);
    assert!(lift[1..].iter().all(|p| p.y == 0.0 && p.rows == 2));
    assert!(lift_by_decile(&[false; 3], &[0.1, 0.2, 0.3]).is_none());
}

#[test]
fn calibration_by_hand_right_closed_tenths() {
    // 0.1 falls in the first tenth, 0.15 in the second; 0.95 and 1.0 in the last.
    let y = [false, true, true, true, false];
    let p = [0.1, 0.15, 0.95, 1.0, 0.15];
    let got = calibration(&y, &p);
    assert_eq!(got.len(), 3);
    assert_eq!((got[0].x, got[0].y, got[0].rows), (0.1, 0.0, 1));
    assert_eq!((got[1].x, got[1].y, got[1].rows), (0.15, 0.5, 2));
    assert_eq!((got[2].x, got[2].y, got[2].rows), (0.975, 1.0, 2));
}

#[test]
fn thinning_keeps_both_ends() {
    let curve: Vec<CurvePoint> = (0..1000)
        .map(|i| CurvePoint {
            x: f64::from(i),
            y: 0.0,
            rows: 0,
        })
        .collect();
    let thin = thin(&curve, 101);
    assert_eq!(thin.len(), 101);
    assert_eq!((thin[0].x, thin[100].x), (0.0, 999.0));
    assert_eq!(super::thin(&curve[..5], 101).len(), 5);
}

/// `fixtures/curves_sklearn.json`, made by `scripts/reference/churn_curves_sklearn.py`.
#[derive(serde::Deserialize)]
struct Sklearn {
    y: Vec<bool>,
    p: Vec<f64>,
    roc_fpr: Vec<f64>,
    roc_tpr: Vec<f64>,
    roc_auc: f64,
    calibration_true: Vec<f64>,
    calibration_pred: Vec<f64>,
}

#[test]
fn curves_equal_scikit_learns_on_the_fixture() {
    let f: Sklearn =
        serde_json::from_str(include_str!("../../fixtures/curves_sklearn.json")).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    let roc = roc_curve(&f.y, &f.p).unwrap();
    assert_eq!(roc.len(), f.roc_fpr.len());
    for (p, (x, y)) in roc.iter().zip(f.roc_fpr.iter().zip(&f.roc_tpr)) {
        assert!(close(p.x, *x) && close(p.y, *y), "{p:?} vs ({x}, {y})");
    }
    // The trapezoids under the points are the ROC-AUC.
    let area: f64 = roc
        .windows(2)
        .map(|w| (w[1].x - w[0].x) * (w[1].y + w[0].y) / 2.0)
        .sum();
    assert!(close(area, f.roc_auc) && close(roc_auc(&f.y, &f.p).unwrap(), f.roc_auc));
    let cal = calibration(&f.y, &f.p);
    assert_eq!(cal.len(), f.calibration_true.len());
    for (p, (t, m)) in cal
        .iter()
        .zip(f.calibration_true.iter().zip(&f.calibration_pred))
    {
        assert!(close(p.y, *t) && close(p.x, *m), "{p:?} vs ({m}, {t})");
    }
    let lift = lift_by_decile(&f.y, &f.p).unwrap();
    let top = Evaluation::new(&f.y, &f.p).top_decile_lift.unwrap();
    assert!(close(lift[0].y, top), "{} vs {top}", lift[0].y);
    // Rows weighted, the deciles' lifts average to 1.
    let mean: f64 = lift.iter().map(|p| p.y * p.rows as f64).sum::<f64>() / f.y.len() as f64;
    assert!(close(mean, 1.0), "{mean}");
}
