//! The report's churn section: the selected model and the gate's verdict, every candidate's
//! metrics, the top drivers, and the test date's ROC, calibration and lift (`churn_curves`).

use lifecycle_report::{Bar, BarChart, Block, LineChart, Section, Series, TableBlock};

use super::tables::{ReportTables, numbers, texts};
use crate::Result;
use crate::manifest::Manifest;
use crate::reports::ChurnReport;
use crate::tables::Table;

/// The section, when the run trained a churn model.
pub(super) async fn churn(t: &ReportTables<'_>, m: &Manifest) -> Result<Option<Section>> {
    let Some(c) = &m.models.churn else {
        return Ok(None);
    };
    let mut section = Section::new("churn", "Churn")
        .with(facts(c))
        .with(evaluations(c))
        .with(drivers(c));
    for block in curves(t, &c.selected).await? {
        section = section.with(block);
    }
    Ok(Some(section))
}

fn facts(c: &ChurnReport) -> Block {
    let verdict = match (&c.published, &c.reason) {
        (true, _) => "published".to_string(),
        (false, Some(r)) => format!("withheld: {r}"),
        (false, None) => "withheld".to_string(),
    };
    Block::Facts(vec![
        ("selected model".to_string(), c.selected.clone()),
        ("scores".to_string(), verdict),
        ("scored users".to_string(), c.scored_users.to_string()),
        ("horizon".to_string(), format!("{} days", c.horizon_days)),
    ])
}

/// Every candidate's metrics on the validation and test dates.
fn evaluations(c: &ChurnReport) -> Block {
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
    Block::Table(TableBlock {
        title: "Evaluation on later dates (time split)".into(),
        header: header.map(String::from).to_vec(),
        rows: rows.collect(),
    })
}

fn drivers(c: &ChurnReport) -> Block {
    let bars = c
        .importance
        .iter()
        .take(10)
        .map(|f| Bar::new(f.feature.clone(), f.share));
    Block::Bars(BarChart {
        title: "Top drivers (share of importance)".into(),
        y_label: "share".into(),
        bars: bars.collect(),
        ..BarChart::default()
    })
}

/// ROC and calibration (against the diagonal) and lift by decile (against 1).
async fn curves(t: &ReportTables<'_>, selected: &str) -> Result<Vec<Block>> {
    let sql = |n: &str| format!("SELECT curve, x, y FROM {n} ORDER BY curve, point");
    let Some(b) = t.query(Table::ChurnCurves, sql).await? else {
        return Ok(vec![]);
    };
    let (curve, x, y) = (texts(&b, 0)?, numbers(&b, 1)?, numbers(&b, 2)?);
    let points = |name: &str| -> Vec<(f64, f64)> {
        let rows = (0..curve.len()).filter(|&i| curve[i] == name);
        rows.map(|i| (x[i], y[i])).collect()
    };
    let line = |title: &str, axes: [&str; 2], name: &str| {
        Block::Lines(LineChart {
            title: title.into(),
            x_label: axes[0].into(),
            y_label: axes[1].into(),
            series: vec![Series {
                name: selected.to_string(),
                points: points(name),
            }],
            diagonal: true,
        })
    };
    let lift = points("lift")
        .into_iter()
        .map(|(d, l)| Bar::new(format!("{d:.0}"), l));
    Ok(vec![
        line(
            "ROC on the test date",
            ["false positive rate", "true positive rate"],
            "roc",
        ),
        line(
            "Calibration on the test date",
            ["predicted churn probability", "observed churn rate"],
            "calibration",
        ),
        Block::Bars(BarChart {
            title: "Lift by decile of risk (test date)".into(),
            x_label: "decile (1 = riskiest)".into(),
            y_label: "churn rate / base rate".into(),
            bars: lift.collect(),
            threshold: Some(1.0),
        }),
    ])
}
