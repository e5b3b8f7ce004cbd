//! The models' sections: clusters, churn, customer value and recommendations.

use lifecycle_report::{Bar, BarChart, Block, LineChart, Section, Series, TableBlock};

use super::tables::{ReportTables, numbers, table_block, texts};
use crate::Result;
use crate::manifest::Manifest;
use crate::reports::ClvHoldout;
use crate::tables::Table;

/// Cluster sizes and profiles.
pub(super) async fn clusters(t: &ReportTables<'_>) -> Result<Option<Section>> {
    // The mean columns follow `[segmentation] features`.
    let sql = |n: &str| format!("SELECT * FROM {n} ORDER BY cluster");
    let Some(b) = t.query(Table::ClusterProfiles, sql).await? else {
        return Ok(None);
    };
    let bars = texts(&b, 1)?
        .into_iter()
        .zip(numbers(&b, 2)?)
        .map(|(name, n)| Bar::new(name, n));
    Ok(Some(
        Section::new("clusters", "Clusters")
            .with(Block::Bars(BarChart {
                title: "Users by cluster".into(),
                y_label: "users".into(),
                bars: bars.collect(),
                ..BarChart::default()
            }))
            .with(Block::Table(table_block("Cluster profiles (means)", &b)?)),
    ))
}

/// The churn models' evaluation, the gate's verdict and the top drivers.
pub(super) async fn churn(t: &ReportTables<'_>, m: &Manifest) -> Result<Option<Section>> {
    let Some(c) = &m.models.churn else {
        return Ok(None);
    };
    let verdict = match (&c.published, &c.reason) {
        (true, _) => "published".to_string(),
        (false, Some(r)) => format!("withheld: {r}"),
        (false, None) => "withheld".to_string(),
    };
    let facts = vec![
        ("selected model".to_string(), c.selected.clone()),
        ("scores".to_string(), verdict),
        ("scored users".to_string(), c.scored_users.to_string()),
        ("horizon".to_string(), format!("{} days", c.horizon_days)),
    ];
    let num = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    let rows = c.evaluations.iter().map(|e| {
        let x = &e.metrics;
        vec![
            e.model.clone(),
            e.split.name().to_string(),
            x.rows.to_string(),
            format!("{:.3}", x.base_rate),
            num(x.roc_auc),
            num(x.pr_auc),
            format!("{:.4}", x.brier),
            num(x.top_decile_lift),
        ]
    });
    let header = [
        "model",
        "split",
        "rows",
        "base rate",
        "ROC-AUC",
        "PR-AUC",
        "Brier",
        "top-decile lift",
    ];
    let drivers = c
        .importance
        .iter()
        .take(10)
        .map(|f| Bar::new(f.feature.clone(), f.share));
    let mut section = Section::new("churn", "Churn")
        .with(Block::Facts(facts))
        .with(Block::Table(TableBlock {
            title: "Evaluation on later dates (time split)".into(),
            header: header.map(String::from).to_vec(),
            rows: rows.collect(),
        }))
        .with(Block::Bars(BarChart {
            title: "Top drivers (share of importance)".into(),
            y_label: "share".into(),
            bars: drivers.collect(),
            ..BarChart::default()
        }));
    let sql = |n: &str| format!("SELECT curve, x, y FROM {n} ORDER BY curve, point");
    if let Some(b) = t.query(Table::ChurnCurves, sql).await? {
        let (curve, x, y) = (texts(&b, 0)?, numbers(&b, 1)?, numbers(&b, 2)?);
        let points = |name: &str| -> Vec<(f64, f64)> {
            (0..curve.len())
                .filter(|&i| curve[i] == name)
                .map(|i| (x[i], y[i]))
                .collect()
        };
        let line = |title: &str, x_label: &str, y_label: &str, name: &str| {
            Block::Lines(LineChart {
                title: title.into(),
                x_label: x_label.into(),
                y_label: y_label.into(),
                series: vec![Series {
                    name: c.selected.clone(),
                    points: points(name),
                }],
                diagonal: true,
            })
        };
        let lift = points("lift")
            .into_iter()
            .map(|(d, l)| Bar::new(format!("{d:.0}"), l));
        section = section
            .with(line(
                "ROC on the test date",
                "false positive rate",
                "true positive rate",
                "roc",
            ))
            .with(line(
                "Calibration on the test date",
                "predicted churn probability",
                "observed churn rate",
                "calibration",
            ))
            .with(Block::Bars(BarChart {
                title: "Lift by decile of risk (test date)".into(),
                x_label: "decile (1 = riskiest)".into(),
                y_label: "churn rate / base rate".into(),
                bars: lift.collect(),
                threshold: Some(1.0),
            }));
    }
    Ok(Some(section))
}

/// The distribution of CLV and the holdout's actual against predicted purchases.
pub(super) async fn clv(t: &ReportTables<'_>, m: &Manifest) -> Result<Option<Section>> {
    let Some(b) = t
        .query(Table::CustomerValue, |n| {
            format!("SELECT clv_365d FROM {n}")
        })
        .await?
    else {
        return Ok(None);
    };
    let values: Vec<f64> = numbers(&b, 0)?
        .into_iter()
        .filter(|v| v.is_finite())
        .collect();
    let mut section = Section::new("clv", "Customer lifetime value")
        .note(
            "BG/NBD with Gamma-Gamma spend, discounted; the histogram's last bar holds the top 1%.",
        )
        .with(Block::Bars(BarChart {
            title: "CLV over 365 days".into(),
            x_label: "CLV".into(),
            y_label: "purchasers".into(),
            bars: histogram(&values, 20),
            ..BarChart::default()
        }));
    if let Some(ClvHoldout::Evaluated { evaluation, .. }) =
        m.models.clv.as_ref().and_then(|c| c.holdout.as_ref())
    {
        let groups = &evaluation.by_calibration_frequency;
        let point = |i: usize, v: f64| (i as f64, v);
        let actual = groups
            .iter()
            .enumerate()
            .map(|(i, g)| point(i, g.mean_actual));
        let predicted = groups
            .iter()
            .enumerate()
            .map(|(i, g)| point(i, g.mean_predicted));
        let labels: Vec<&str> = groups.iter().map(|g| g.frequency.as_str()).collect();
        section = section
            .note(format!(
                "Holdout by calibration-period purchases ({}, left to right).",
                labels.join(", ")
            ))
            .with(Block::Lines(LineChart {
                title: "Holdout purchases: actual vs predicted".into(),
                x_label: "repeat purchases before the holdout (group)".into(),
                y_label: "mean purchases in the holdout".into(),
                series: vec![
                    Series {
                        name: "actual".into(),
                        points: actual.collect(),
                    },
                    Series {
                        name: "predicted".into(),
                        points: predicted.collect(),
                    },
                ],
                diagonal: false,
            }));
    }
    Ok(Some(section))
}

/// `bins` equal bars from 0 (or the minimum) to the 99th percentile; the last holds the rest.
fn histogram(values: &[f64], bins: usize) -> Vec<Bar> {
    if values.is_empty() {
        return vec![];
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let lo = sorted[0].min(0.0);
    let hi = sorted[(sorted.len() - 1) * 99 / 100].max(lo + 1e-9);
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for v in &sorted {
        let i = (((v - lo) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let label = |i: usize| round_label(lo + width * i as f64);
    counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| Bar::new(label(i), n as f64))
        .collect()
}

fn round_label(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 1.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    }
}

/// NDCG per algorithm (the winner highlighted) and every metric.
pub(super) async fn recommendations(t: &ReportTables<'_>) -> Result<Option<Section>> {
    let sql =
        |n: &str| format!("SELECT algorithm, metric, value FROM {n} ORDER BY algorithm, metric");
    let Some(b) = t.query(Table::RecommendationMetrics, sql).await? else {
        return Ok(None);
    };
    let (alg, metric, value) = (texts(&b, 0)?, texts(&b, 1)?, numbers(&b, 2)?);
    let ndcg: Vec<(String, f64)> = (0..alg.len())
        .filter(|&i| metric[i] == "ndcg")
        .map(|i| (alg[i].clone(), value[i]))
        .collect();
    let best = ndcg
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|b| b.0.clone());
    let bars = ndcg.iter().map(|(a, v)| Bar {
        highlight: Some(a) == best.as_ref(),
        ..Bar::new(a.clone(), *v)
    });
    let pivot = |m: &str| -> Vec<String> {
        let mut algs: Vec<&String> = alg.iter().collect();
        algs.dedup();
        algs.iter()
            .map(|a| {
                (0..alg.len())
                    .find(|&i| &alg[i] == *a && metric[i] == m)
                    .map_or("-".into(), |i| format!("{:.3}", value[i]))
            })
            .collect()
    };
    let mut algs: Vec<String> = alg.clone();
    algs.dedup();
    let metrics = ["precision", "recall", "ndcg", "map", "coverage"];
    let rows = metrics
        .iter()
        .map(|m| std::iter::once(m.to_string()).chain(pivot(m)).collect());
    let winner = best.as_ref().map_or(String::new(), |b| {
        format!("Best NDCG on the held-out period: {b}.")
    });
    Ok(Some(
        Section::new("recommendations", "Recommendations")
            .note(winner)
            .with(Block::Bars(BarChart {
                title: "NDCG by algorithm (held-out period)".into(),
                y_label: "NDCG".into(),
                bars: bars.collect(),
                ..BarChart::default()
            }))
            .with(Block::Table(TableBlock {
                title: "Ranking metrics".into(),
                header: std::iter::once("metric".to_string()).chain(algs).collect(),
                rows: rows.collect(),
            })),
    ))
}
