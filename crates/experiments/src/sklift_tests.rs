//! The uplift metrics against scikit-uplift on the fixture that
//! `scripts/reference/uplift_sklift.py` wrote (`fixtures/sklift.json`), to 1e-9.

use serde_json::Value;

use crate::uplift_metrics::{TopK, qini_auc_score, uplift_at_k, uplift_auc_score};

fn flags(v: &Value) -> Vec<bool> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap() == 1)
        .collect()
}

#[test]
fn uplift_metrics_match_scikit_uplift() {
    let fixture: Value = serde_json::from_str(include_str!("../fixtures/sklift.json")).unwrap();
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (y, t) = (flags(&case["y"]), flags(&case["treatment"]));
        let uplift: Vec<f64> = case["uplift"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let mut checks = vec![
            (
                "qini_auc".to_string(),
                qini_auc_score(&y, &uplift, &t, true),
            ),
            (
                "qini_auc_no_negative".into(),
                qini_auc_score(&y, &uplift, &t, false),
            ),
            ("uplift_auc".into(), uplift_auc_score(&y, &uplift, &t)),
        ];
        for k in [0.1, 0.3] {
            for (s, strategy) in [("overall", TopK::Overall), ("by_group", TopK::ByGroup)] {
                let got = uplift_at_k(&y, &uplift, &t, strategy, k);
                checks.push((format!("uplift_at_{k}_{s}"), got));
            }
        }
        for (key, got) in checks {
            let want = case[key.as_str()].as_f64().unwrap();
            assert!(
                (got - want).abs() < 1e-9,
                "{name} {key}: {got} vs scikit-uplift {want}"
            );
        }
    }
}
