//! The analyses' sections: cohort retention, funnels, monitoring and audiences.

use std::collections::BTreeMap;

use lifecycle_report::{Bar, BarChart, Block, Heatmap, Section, TableBlock};

use super::tables::{ReportTables, numbers, texts};
use crate::Result;
use crate::manifest::Manifest;
use crate::tables::Table;

/// The most recent cohorts shown.
const COHORTS: usize = 18;

/// Retention by cohort (rows, oldest first) and period since (columns), all splits together.
pub(super) async fn cohorts(t: &ReportTables<'_>) -> Result<Option<Section>> {
    let sql = |n: &str| {
        format!(
            // A cell with a suppressed split (`users` null) is missing, not a partial sum.
            "SELECT CAST(cohort AS VARCHAR), period, \
                 CASE WHEN count(users) = count(*) THEN CAST(sum(retained) AS DOUBLE) / sum(users) END \
             FROM {n} GROUP BY 1, 2 ORDER BY 1, 2"
        )
    };
    let Some(b) = t.query(Table::CohortRetention, sql).await? else {
        return Ok(None);
    };
    let (cohort, period, rate) = (texts(&b, 0)?, numbers(&b, 1)?, numbers(&b, 2)?);
    let mut rows: Vec<String> = cohort.clone();
    rows.dedup();
    let rows: Vec<String> = rows.split_off(rows.len().saturating_sub(COHORTS));
    let periods = period.iter().fold(0.0f64, |m, p| m.max(*p)) as usize + 1;
    let mut values = vec![vec![None; periods]; rows.len()];
    for ((c, p), r) in cohort.iter().zip(&period).zip(&rate) {
        if let Ok(i) = rows.binary_search(c) {
            values[i][*p as usize] = (!r.is_nan()).then_some(*r);
        }
    }
    Ok(Some(
        Section::new("cohorts", "Cohort retention")
            .note("Share of each cohort (by first event) active in each period since; the last period of each row may be partial.")
            .with(Block::Heatmap(Heatmap {
                title: "Retention by cohort".into(),
                x_label: "periods since the first".into(),
                y_label: "cohort".into(),
                columns: (0..periods).map(|p| p.to_string()).collect(),
                rows,
                values,
                percent: true,
            })),
    ))
}

/// Users per step of each funnel.
pub(super) async fn funnels(t: &ReportTables<'_>) -> Result<Option<Section>> {
    let sql = |n: &str| {
        format!(
            "SELECT funnel, step, event_type, users, conversion_from_first FROM {n} ORDER BY funnel, step"
        )
    };
    let Some(b) = t.query(Table::Funnel, sql).await? else {
        return Ok(None);
    };
    let (funnel, step, kind) = (texts(&b, 0)?, numbers(&b, 1)?, texts(&b, 2)?);
    let (users, from_first) = (numbers(&b, 3)?, numbers(&b, 4)?);
    let mut bars: BTreeMap<&str, Vec<Bar>> = BTreeMap::new();
    for i in 0..funnel.len() {
        let label = format!("{:.0}. {}", step[i], kind[i]);
        bars.entry(funnel[i].as_str())
            .or_default()
            .push(Bar::new(label, users[i]));
    }
    let mut section = Section::new("funnels", "Funnels");
    for (name, bars) in bars {
        let last = (0..funnel.len())
            .rfind(|&i| funnel[i] == name)
            .map(|i| from_first[i]);
        let title = match last.filter(|v| v.is_finite()) {
            Some(c) => format!("{name}: {:.1}% reach the last step", c * 100.0),
            None => name.to_string(),
        };
        section = section.with(Block::Bars(BarChart {
            title,
            y_label: "users".into(),
            bars,
            ..BarChart::default()
        }));
    }
    Ok(Some(section))
}

/// PSI per column (flags highlighted, the limit drawn), and the flags.
pub(super) async fn monitoring(t: &ReportTables<'_>, m: &Manifest) -> Result<Option<Section>> {
    let sql = |n: &str| {
        format!(
            "SELECT \"table\" || '.' || \"column\", current, flagged, \"limit\" FROM {n} \
             WHERE metric = 'psi' ORDER BY current DESC, 1"
        )
    };
    let Some(b) = t.query(Table::Monitoring, sql).await? else {
        return Ok(None);
    };
    let (column, psi, flagged) = (texts(&b, 0)?, numbers(&b, 1)?, texts(&b, 2)?);
    let limit = numbers(&b, 3)?.first().copied().filter(|l| l.is_finite());
    let bars = (0..column.len()).map(|i| Bar {
        highlight: flagged[i] == "true",
        ..Bar::new(column[i].clone(), psi[i])
    });
    let report = m.monitoring.as_ref();
    let flags = report.map_or(vec![], |r| r.flagged.clone());
    let mut section =
        Section::new("monitoring", "Monitoring").note(match report.and_then(|r| r.compared_with) {
            Some(d) => format!(
                "Against the run of {d}: {} flag(s) beyond the [monitoring] limits.",
                flags.len()
            ),
            None => "The first run: nothing to compare with yet.".to_string(),
        });
    if !column.is_empty() {
        section = section.with(Block::Bars(BarChart {
            title: "Population stability index by column".into(),
            y_label: "PSI".into(),
            bars: bars.collect(),
            threshold: limit,
            ..BarChart::default()
        }));
    }
    if !flags.is_empty() {
        section = section.with(flags_table(&flags));
    }
    Ok(Some(section))
}

/// The manifest's flags as a table.
fn flags_table(flags: &[crate::reports::DriftFlag]) -> Block {
    let rows = flags.iter().map(|f| {
        vec![
            format!("{}.{}", f.table, f.column),
            f.metric.name().to_string(),
            format!("{:.3}", f.value),
            format!("{:.3}", f.limit),
        ]
    });
    Block::Table(TableBlock {
        title: "Flagged".into(),
        header: ["column", "metric", "value", "limit"]
            .map(String::from)
            .to_vec(),
        rows: rows.collect(),
    })
}

/// Audience sizes and who was kept out, and why.
pub(super) fn audiences(m: &Manifest) -> Option<Section> {
    let a = m.audiences.as_ref()?;
    let rows = a.audiences.iter().map(|x| {
        let suppressed: Vec<String> = x
            .suppressed
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        vec![
            x.name.clone(),
            x.channel.clone(),
            x.matched.to_string(),
            x.members.to_string(),
            format!("+{} −{}", x.entered, x.exited),
            suppressed.join(", "),
        ]
    });
    let header = [
        "audience",
        "channel",
        "matched",
        "members",
        "entered / exited",
        "suppressed",
    ];
    let bars = a
        .suppressed
        .iter()
        .map(|(r, n)| Bar::new(r.clone(), *n as f64));
    Some(
        Section::new("audiences", "Audiences")
            .note(format!(
                "{} users profiled, {} in the holdout group.",
                a.users, a.held_out
            ))
            .with(Block::Table(TableBlock {
                title: "Audiences".into(),
                header: header.map(String::from).to_vec(),
                rows: rows.collect(),
            }))
            .with(Block::Bars(BarChart {
                title: "Suppressed by reason".into(),
                y_label: "users".into(),
                bars: bars.collect(),
                ..BarChart::default()
            })),
    )
}
