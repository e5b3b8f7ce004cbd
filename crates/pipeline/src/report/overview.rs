//! The report's first sections: input and quality, stages (counts, transitions, forecast) and
//! the RFM grid.

use std::collections::BTreeMap;

use lifecycle_report::{Bar, BarChart, Block, Heatmap, LineChart, Section, Series};

use super::tables::{ReportTables, numbers, texts};
use crate::Result;
use crate::manifest::Manifest;
use crate::tables::Table;

/// Rows read, filtered, quarantined by rule, and the time each step took.
pub(super) fn input(m: &Manifest) -> Section {
    let files: usize = m.inputs.iter().map(|i| i.files.len()).sum();
    let mut facts = vec![
        ("event rows read".to_string(), m.rows.read.to_string()),
        (
            "filtered by the spec".to_string(),
            m.rows.filtered.to_string(),
        ),
        ("quarantined".to_string(), m.rows.bad.to_string()),
        ("good".to_string(), m.rows.good.to_string()),
        ("input files".to_string(), files.to_string()),
    ];
    if m.rows.erased > 0 {
        let erased = (
            "of erased users, dropped".to_string(),
            m.rows.erased.to_string(),
        );
        facts.insert(2, erased);
    }
    let rules = m.quality.iter().map(|(rule, n)| Bar {
        highlight: *n > 0,
        ..Bar::new(rule.clone(), *n as f64)
    });
    // The report cannot time itself: its own step is left out (a rebuilt report then equals
    // the committed one).
    let steps = m.steps.iter().filter(|s| s.step != super::REPORT_STEP);
    let steps = steps.map(|s| Bar::new(s.step.clone(), s.seconds));
    Section::new("input", "Input and quality")
        .note("Rows that break a rule are quarantined (the quarantine table), never dropped.")
        .with(Block::Facts(facts))
        .with(Block::Bars(BarChart {
            title: "Quarantined rows by rule".into(),
            y_label: "rows".into(),
            bars: rules.collect(),
            ..BarChart::default()
        }))
        .with(Block::Bars(BarChart {
            title: "Seconds per step".into(),
            y_label: "seconds".into(),
            bars: steps.collect(),
            ..BarChart::default()
        }))
}

/// Users per stage, the moves since the previous run and the forecast.
pub(super) async fn stages(t: &ReportTables<'_>, m: &Manifest) -> Result<Section> {
    let counts = m.stages.iter().map(|(s, n)| Bar::new(s.clone(), *n as f64));
    let mut section = Section::new("stages", "Lifecycle stages").with(Block::Bars(BarChart {
        title: "Users by stage".into(),
        y_label: "users".into(),
        bars: counts.collect(),
        ..BarChart::default()
    }));
    let sql = |n: &str| {
        format!(
            "SELECT COALESCE(from_stage, '(new)'), COALESCE(to_stage, '(gone)'), users FROM {n}"
        )
    };
    if let Some(b) = t.query(Table::StageTransitions, sql).await? {
        let (from, to, users) = (texts(&b, 0)?, texts(&b, 1)?, numbers(&b, 2)?);
        section = section.with(Block::Heatmap(matrix(
            "Moves since the previous run",
            &from,
            &to,
            &users,
        )));
    }
    let sql = |n: &str| {
        format!("SELECT stage, periods_ahead, users FROM {n} ORDER BY stage, periods_ahead")
    };
    if let Some(b) = t
        .query(Table::StageForecast, sql)
        .await?
        .filter(|b| b.iter().any(|b| b.num_rows() > 0))
    {
        let (stage, ahead, users) = (texts(&b, 0)?, numbers(&b, 1)?, numbers(&b, 2)?);
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for ((s, a), u) in stage.into_iter().zip(ahead).zip(users) {
            series.entry(s).or_default().push((a, u));
        }
        section = section
            .note("The forecast treats the moves since the previous run as a Markov chain: a direction over a few periods, not a count (see docs/outputs.md#stage_forecast).")
            .with(Block::Lines(LineChart {
                title: "Stage forecast".into(),
                x_label: "periods ahead".into(),
                y_label: "expected users".into(),
                series: series.into_iter().map(|(name, points)| Series { name, points }).collect(),
                diagonal: false,
            }));
    }
    Ok(section)
}

/// A from × to matrix of counts.
fn matrix(title: &str, from: &[String], to: &[String], users: &[f64]) -> Heatmap {
    let rows: Vec<String> = sorted_unique(from);
    let columns: Vec<String> = sorted_unique(to);
    let mut values = vec![vec![None; columns.len()]; rows.len()];
    for ((f, t), u) in from.iter().zip(to).zip(users) {
        let (r, c) = (rows.binary_search(f), columns.binary_search(t));
        if let (Ok(r), Ok(c)) = (r, c) {
            // A suppressed move (`users` null, read as NaN) is left blank.
            values[r][c] = (!u.is_nan()).then_some(*u);
        }
    }
    Heatmap {
        title: title.into(),
        x_label: "to stage".into(),
        y_label: "from stage".into(),
        columns,
        rows,
        values,
        percent: false,
    }
}

fn sorted_unique(values: &[String]) -> Vec<String> {
    let mut v = values.to_vec();
    v.sort();
    v.dedup();
    v
}

/// Users by recency (rows, 5 at the top) and frequency score (columns).
pub(super) async fn rfm(t: &ReportTables<'_>) -> Result<Option<Section>> {
    let sql = |n: &str| {
        format!(
            "SELECT recency_score, frequency_score, count(*) FROM {n} \
             WHERE recency_score IS NOT NULL AND frequency_score IS NOT NULL GROUP BY 1, 2"
        )
    };
    let Some(b) = t.query(Table::UserSegments, sql).await? else {
        return Ok(None);
    };
    let (r, f, n) = (numbers(&b, 0)?, numbers(&b, 1)?, numbers(&b, 2)?);
    let mut values = vec![vec![None; 5]; 5];
    for ((r, f), n) in r.into_iter().zip(f).zip(n) {
        let (row, col) = (5 - r as usize, f as usize - 1);
        if row < 5 && col < 5 {
            values[row][col] = Some(n);
        }
    }
    let segments = t
        .query(Table::UserSegments, |n| format!("SELECT COALESCE(rfm_segment, 'no purchases'), count(*) FROM {n} GROUP BY 1 ORDER BY 2 DESC, 1"))
        .await?
        .unwrap_or_default();
    let bars = texts(&segments, 0)?
        .into_iter()
        .zip(numbers(&segments, 1)?)
        .map(|(s, n)| Bar::new(s, n));
    Ok(Some(
        Section::new("rfm", "RFM segments")
            .note("Scores 1 to 5 from the purchasers' quintiles; users without a purchase have no scores.")
            .with(Block::Heatmap(Heatmap {
                title: "Users by recency and frequency score".into(),
                x_label: "frequency score".into(),
                y_label: "recency score".into(),
                columns: (1..=5).map(|s| s.to_string()).collect(),
                rows: (1..=5).rev().map(|s| s.to_string()).collect(),
                values,
                percent: false,
            }))
            .with(Block::Bars(BarChart {
                title: "Users by RFM segment".into(),
                y_label: "users".into(),
                bars: bars.collect(),
                ..BarChart::default()
            })),
    ))
}
