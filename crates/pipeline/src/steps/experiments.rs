//! `[[experiments]]`: assigns this run's new audience members to arms (GrowthBook's hash with
//! each experiment's seed), keeps every earlier assignment as the previous commit has it, and
//! reads each experiment out against its control (`lifecycle_experiments`) from the events
//! after each user's assignment.

use std::collections::{BTreeMap, HashSet};

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Date32Type, Float64Type};
use lifecycle_audiences::holdout::Holdout;
use lifecycle_experiments::arms::{assign, bucket_ranges};
use lifecycle_experiments::readout::compare;
use lifecycle_experiments::sample::{Kind, Paired};
use lifecycle_experiments::srm::{SRM_THRESHOLD, srm_p_value};
use lifecycle_features::experiments::{MetricWindows, metric_names, user_metrics_sql};
use lifecycle_features::sql::{in_list, views};
use lifecycle_spec::{RETENTION_DAYS, ValidExperiment, ValidJobSpec};

use super::{Run, StepInfo};
use crate::Result;
use crate::experiment_tables::{self as tables, Assignment, ResultRow};
use crate::query::Query;
use crate::reports::{ExperimentCounts, ExperimentReport};
use crate::tables::Table;

pub(crate) const STEP: StepInfo = StepInfo {
    name: "experiments",
    from_rollup: false,
    reads: &[views::EVENTS_CLEAN],
    writes: &[Table::Assignments, Table::ExperimentResults],
};

/// Writes `assignments` and `experiment_results`.
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    if !run.out.publishes() {
        return Ok(None);
    }
    let q = Query::new(&run.ctx, "experiments");
    let previous = previous_assignments(q.step("read the previous assignments"), run).await?;
    let members = audience_members(q, run).await?;
    let mut list = entrants(run.spec, run.run_date, &previous, &members);
    let new_today = list.len();
    list.extend(previous);
    list.retain(|a| run.spec.experiments.iter().any(|e| e.name == a.experiment));
    list.sort_by(|a, b| (&a.experiment, &a.user_id).cmp(&(&b.experiment, &b.user_id)));
    let rows = list.len() as u64;
    run.out
        .batch(Table::Assignments, tables::assignments_batch(&list))
        .await?;
    if let Some(url) = run.out.staged_url(Table::Assignments.name()) {
        q.register_parquet(views::ASSIGNMENTS, &url).await?;
    }
    let samples = user_samples(q.step("measure the experiments"), run).await?;
    let results = readouts(&run.spec.experiments, &list, &samples);
    run.experiments = Some(report(&run.spec.experiments, &results, new_today));
    run.out
        .batch(Table::ExperimentResults, tables::results_batch(&results))
        .await?;
    Ok(Some(rows))
}

/// The previous commit's assignments, ids in this run's form (none without one).
async fn previous_assignments(q: Query<'_>, run: &Run<'_>) -> Result<Vec<Assignment>> {
    let table = Table::Assignments.name();
    let Some(t) = run
        .previous
        .as_ref()
        .and_then(|m| m.commit.outputs.get(table))
    else {
        return Ok(vec![]);
    };
    q.register_parquet(views::PREVIOUS_ASSIGNMENTS, &t.url)
        .await?;
    let columns = ["experiment", "user_id", "arm", "bucket", "assigned_on"];
    let ids = &run.previous_ids;
    let sql = crate::rotation::previous_select(ids, views::PREVIOUS_ASSIGNMENTS, &columns);
    let mut out = vec![];
    for b in q.collect(&sql).await? {
        out.extend(assignment_rows(q, &b)?);
    }
    Ok(out)
}

fn assignment_rows(q: Query<'_>, b: &RecordBatch) -> Result<Vec<Assignment>> {
    let (exp, users, arms) = (q.texts(b, 0)?, q.texts(b, 1)?, q.texts(b, 2)?);
    let bucket = b.column(3).as_primitive::<Float64Type>();
    let on = b.column(4).as_primitive::<Date32Type>();
    let mut out = Vec::with_capacity(b.num_rows());
    for (i, ((e, u), a)) in exp.into_iter().zip(users).zip(arms).enumerate() {
        if let (Some(experiment), Some(user_id), Some(arm), Some(assigned_on)) =
            (e, u, a, on.value_as_date(i))
        {
            let bucket = bucket.value(i);
            out.push(Assignment {
                experiment,
                user_id,
                arm,
                bucket,
                assigned_on,
            });
        }
    }
    Ok(out)
}

/// This run's members of each audience, as `(audience, user_id)`.
pub(super) async fn audience_members(q: Query<'_>, run: &Run<'_>) -> Result<Vec<(String, String)>> {
    let mut out = vec![];
    for b in super::exports::read_back(run, Table::AudienceMembers).await? {
        let (aud, users) = (q.texts(&b, 0)?, q.texts(&b, 1)?);
        out.extend(
            aud.into_iter()
                .zip(users)
                .filter_map(|(a, u)| Some((a?, u?))),
        );
    }
    Ok(out)
}

/// The members of each assigning experiment's audience not yet assigned to it (never a user
/// of the global holdout), with their arm.
fn entrants(
    spec: &ValidJobSpec,
    date: chrono::NaiveDate,
    previous: &[Assignment],
    members: &[(String, String)],
) -> Vec<Assignment> {
    let holdout = spec.activation.holdout.as_ref().map(|h| Holdout {
        share: h.share,
        seed: h.seed.clone(),
    });
    let known: HashSet<(&str, &str)> = previous
        .iter()
        .map(|a| (a.experiment.as_str(), a.user_id.as_str()))
        .collect();
    let mut out = vec![];
    for e in spec.experiments.iter().filter(|e| e.assigns_on(date)) {
        let weights: Vec<f64> = e.arms.iter().map(|a| a.weight).collect();
        let ranges = bucket_ranges(e.arms.len(), 1.0, Some(&weights));
        for (_, user) in members.iter().filter(|(a, _)| *a == e.audience) {
            let held = holdout.as_ref().is_some_and(|h| h.holds_out(user));
            if held || known.contains(&(e.name.as_str(), user.as_str())) {
                continue;
            }
            if let (bucket, Some(arm)) = assign(&e.seed, user, &ranges) {
                out.push(Assignment {
                    experiment: e.name.clone(),
                    user_id: user.clone(),
                    arm: e.arms[arm].name.clone(),
                    bucket,
                    assigned_on: date,
                });
            }
        }
    }
    out
}

/// `(post, pre)` pairs per experiment, arm and metric (in [`metric_names`]' order over every
/// experiment's event types), of the users whose window has ended.
type Samples = BTreeMap<(String, String), Vec<Vec<(f64, f64)>>>;

/// Every measured user's metrics, gathered per experiment and arm in user order.
async fn user_samples(q: Query<'_>, run: &Run<'_>) -> Result<Samples> {
    let spec = run.spec;
    let windows: Vec<MetricWindows<'_>> = spec
        .experiments
        .iter()
        .map(|e| MetricWindows {
            experiment: &e.name,
            window_days: e.window_days,
            pre_days: e.pre_days,
        })
        .collect();
    let types = event_types(&spec.experiments);
    let today = crate::churn_tables::days_since_epoch(run.run_date) as i64;
    let purchase = in_list(&spec.purchase_types);
    let sql = user_metrics_sql(&windows, &types, (&purchase, today, RETENTION_DAYS));
    let metrics = metric_names(&types).len();
    let mut out = Samples::new();
    for b in q.collect(&sql).await? {
        let (exp, arms) = (q.texts(&b, 0)?, q.texts(&b, 1)?);
        let values: Vec<Vec<f64>> = (3..b.num_columns())
            .map(|c| q.numbers(&b, c))
            .collect::<Result<_>>()?;
        for (i, (e, a)) in exp.into_iter().zip(arms).enumerate() {
            let (Some(e), Some(a)) = (e, a) else { continue };
            let per_metric = out.entry((e, a)).or_insert_with(|| vec![vec![]; metrics]);
            for (m, pairs) in per_metric.iter_mut().enumerate() {
                pairs.push((values[2 * m][i], values[2 * m + 1][i]));
            }
        }
    }
    Ok(out)
}

/// Every experiment's event-type metrics, in order of first mention.
fn event_types(experiments: &[ValidExperiment]) -> Vec<String> {
    let mut types: Vec<String> = vec![];
    for t in experiments.iter().flat_map(|e| &e.metrics) {
        if !types.contains(t) {
            types.push(t.clone());
        }
    }
    types
}

fn kind(metric: &str) -> Kind {
    match metric {
        "conversion" | "retention" => Kind::Proportion,
        _ => Kind::Mean,
    }
}

/// The result rows of every experiment: each arm and metric it reads out.
fn readouts(
    experiments: &[ValidExperiment],
    list: &[Assignment],
    samples: &Samples,
) -> Vec<ResultRow> {
    let types = event_types(experiments);
    let names = metric_names(&types);
    let mut rows = vec![];
    for e in experiments {
        let assigned: Vec<u64> = e
            .arms
            .iter()
            .map(|a| {
                list.iter()
                    .filter(|x| x.experiment == e.name && x.arm == a.name)
                    .count() as u64
            })
            .collect();
        let weights: Vec<f64> = e.arms.iter().map(|a| a.weight).collect();
        let srm = srm_p_value(&assigned, &weights);
        let base = names.len() - types.len();
        for (m, metric) in names.iter().enumerate() {
            if m >= base && !e.metrics.contains(&types[m - base]) {
                continue;
            }
            let paired = |arm: usize| {
                let pairs = samples.get(&(e.name.clone(), e.arms[arm].name.clone()));
                Paired::of(kind(metric), pairs.map_or(&[][..], |p| &p[m]))
            };
            let control = paired(e.control);
            for (i, arm) in e.arms.iter().enumerate() {
                let p = paired(i);
                rows.push(ResultRow {
                    experiment: e.name.clone(),
                    arm: arm.name.clone(),
                    metric: metric.clone(),
                    users: p.post.n,
                    mean: p.post.mean(),
                    pre_mean: p.pre.mean(),
                    comparison: (i != e.control).then(|| compare(&control, &p)),
                    assigned: assigned[i],
                    srm_p_value: srm,
                    srm_flagged: srm < SRM_THRESHOLD,
                });
            }
        }
    }
    rows
}

/// The manifest's summary: per experiment its users per arm and the sample-ratio check.
fn report(
    experiments: &[ValidExperiment],
    rows: &[ResultRow],
    new_today: usize,
) -> ExperimentReport {
    let mut counts = BTreeMap::new();
    for e in experiments {
        let mine: Vec<&ResultRow> = rows
            .iter()
            .filter(|r| r.experiment == e.name && r.metric == "conversion")
            .collect();
        let Some(first) = mine.first() else { continue };
        counts.insert(
            e.name.clone(),
            ExperimentCounts {
                assigned: mine.iter().map(|r| (r.arm.clone(), r.assigned)).collect(),
                measured: mine.iter().map(|r| (r.arm.clone(), r.users)).collect(),
                srm_p_value: first.srm_p_value,
                srm_flagged: first.srm_flagged,
            },
        );
    }
    ExperimentReport {
        experiments: counts,
        assigned_today: new_today as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn experiment() -> ValidExperiment {
        let arm = |name: &str| lifecycle_spec::ArmSpec {
            name: name.into(),
            weight: 0.5,
        };
        ValidExperiment {
            name: "e".into(),
            audience: "a".into(),
            arms: vec![arm("control"), arm("treatment")],
            control: 0,
            seed: "e".into(),
            start: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            end: None,
            window_days: 7,
            pre_days: 7,
            metrics: vec![],
        }
    }

    /// `control` and `treatment` users assigned.
    fn assigned(control: usize, treatment: usize) -> Vec<Assignment> {
        let one = |i: usize, arm: &str| Assignment {
            experiment: "e".into(),
            user_id: format!("u{i}"),
            arm: arm.into(),
            bucket: 0.0,
            assigned_on: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
        };
        let c = (0..control).map(|i| one(i, "control"));
        c.chain((0..treatment).map(|i| one(control + i, "treatment")))
            .collect()
    }

    #[test]
    fn a_planted_sample_ratio_mismatch_is_flagged() {
        let e = [experiment()];
        let flagged = |c, t| {
            let rows = readouts(&e, &assigned(c, t), &Samples::new());
            assert_eq!(rows.len(), 6, "two arms × three metrics");
            assert!(rows.iter().all(|r| r.srm_flagged == rows[0].srm_flagged));
            rows[0].srm_flagged
        };
        // 5,300 against 4,700 under 50/50: chi-square 36, p about 2e-9.
        assert!(flagged(5_300, 4_700));
        // 5,050 against 4,950: p about 0.32.
        assert!(!flagged(5_050, 4_950));
    }
}
