//! The models' sections: clusters, customer value and recommendations (churn has its own file).

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
    let model = m.models.clv.as_ref();
    let model = model.and_then(|c| lifecycle_clv::RepeatModelKind::from_name(&c.model));
    let model = model.map_or("BG/NBD", |k| k.label());
    let mut section = Section::new("clv", "Customer lifetime value")
        .note(format!(
            "{model} with Gamma-Gamma spend, discounted; the histogram's last bar holds the top 1%."
        ))
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
        let labels: Vec<&str> = groups.iter().map(|g| g.frequency.as_str()).collect();
        section = section
            .note(format!(
                "Holdout by calibration-period purchases ({}, left to right).",
                labels.join(", ")
            ))
            .with(holdout_by_frequency(groups));
    }
    Ok(Some(section))
}

/// Mean actual and predicted holdout purchases per calibration frequency group.
fn holdout_by_frequency(groups: &[lifecycle_clv::holdout::FrequencyGroup]) -> Block {
    let series = |name: &str, value: fn(&lifecycle_clv::holdout::FrequencyGroup) -> f64| Series {
        name: name.into(),
        points: (groups.iter().enumerate())
            .map(|(i, g)| (i as f64, value(g)))
            .collect(),
    };
    Block::Lines(LineChart {
        title: "Holdout purchases: actual vs predicted".into(),
        x_label: "repeat purchases before the holdout (group)".into(),
        y_label: "mean purchases in the holdout".into(),
        series: vec![
            series("actual", |g| g.mean_actual),
            series("predicted", |g| g.mean_predicted),
        ],
        diagonal: false,
    })
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

/// NDCG per algorithm (the winner highlighted and named) and every metric.
pub(super) async fn recommendations(t: &ReportTables<'_>) -> Result<Option<Section>> {
    let sql =
        |n: &str| format!("SELECT algorithm, metric, value FROM {n} ORDER BY algorithm, metric");
    let Some(b) = t.query(Table::RecommendationMetrics, sql).await? else {
        return Ok(None);
    };
    let metrics = RankingMetrics {
        algorithm: texts(&b, 0)?,
        metric: texts(&b, 1)?,
        value: numbers(&b, 2)?,
    };
    let ndcg: Vec<(String, f64)> = (metrics.algorithms().into_iter())
        .filter_map(|a| metrics.value(&a, "ndcg").map(|v| (a, v)))
        .collect();
    let best = ndcg
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|b| b.0.clone());
    let bars = ndcg.iter().map(|(a, v)| Bar {
        highlight: Some(a) == best.as_ref(),
        ..Bar::new(a.clone(), *v)
    });
    let mut section = Section::new("recommendations", "Recommendations");
    if let Some(b) = &best {
        section = section.note(format!("Best NDCG on the held-out period: {b}."));
    }
    Ok(Some(
        section
            .with(Block::Bars(BarChart {
                title: "NDCG by algorithm (held-out period)".into(),
                y_label: "NDCG".into(),
                bars: bars.collect(),
                ..BarChart::default()
            }))
            .with(metrics.table()),
    ))
}

/// `recommendation_metrics` rows: algorithm, metric, value (sorted by algorithm).
struct RankingMetrics {
    algorithm: Vec<String>,
    metric: Vec<String>,
    value: Vec<f64>,
}

impl RankingMetrics {
    fn algorithms(&self) -> Vec<String> {
        let mut algs = self.algorithm.clone();
        algs.dedup();
        algs
    }

    fn value(&self, algorithm: &str, metric: &str) -> Option<f64> {
        let row = (0..self.algorithm.len())
            .find(|&i| self.algorithm[i] == algorithm && self.metric[i] == metric);
        row.map(|i| self.value[i])
    }

    /// A row per metric, a column per algorithm.
    fn table(&self) -> Block {
        let algs = self.algorithms();
        let metrics = ["precision", "recall", "ndcg", "map", "coverage"];
        let cell = |a: &String, m: &str| self.value(a, m).map_or("-".into(), |v| format!("{v:.3}"));
        let rows = metrics.iter().map(|m| {
            let cells = algs.iter().map(|a| cell(a, m));
            std::iter::once(m.to_string()).chain(cells).collect()
        });
        Block::Table(TableBlock {
            title: "Ranking metrics".into(),
            header: std::iter::once("metric".to_string())
                .chain(algs.clone())
                .collect(),
            rows: rows.collect(),
        })
    }
}
