//! `lifecycle validate` and `lifecycle run`: a job spec, with the command line's overrides
//! applied before validation.

use lifecycle_pipeline::RunOptions;
use lifecycle_spec::{JobSpec, Overrides, ValidJobSpec};

use crate::args::{JobArgs, RunArgs};
use crate::stores::env_stores;

/// Reads the spec and applies `--input`, `--output` and `--cluster` (resolved against the
/// working folder) before validating it.
pub(crate) fn load_spec(a: &JobArgs) -> anyhow::Result<ValidJobSpec> {
    let overrides = Overrides {
        input: a.input.clone(),
        output: a.output.clone(),
        cluster: a.cluster.clone(),
    };
    let cwd = std::env::current_dir()?;
    let raw = JobSpec::from_file(&a.spec)?.with_overrides(&overrides, &cwd)?;
    Ok(raw.validate()?)
}

/// Run options for the CLI: `--as-of`, and stores that read credentials from this process's
/// environment.
pub(crate) fn run_options(a: &JobArgs) -> RunOptions {
    RunOptions {
        as_of: a.as_of,
        stores: env_stores(),
        progress: crate::progress::StepLine::for_run(),
        ..RunOptions::default()
    }
}

/// Checks the spec and every input without running.
pub(crate) async fn validate(a: &JobArgs) -> anyhow::Result<()> {
    let spec = load_spec(a)?;
    let opts = RunOptions {
        progress: None,
        ..run_options(a)
    };
    let inputs = lifecycle_pipeline::validate_job(&spec, &opts).await?;
    println!("spec {} is valid", a.spec.display());
    for i in inputs {
        println!("  {}: {} file(s) at {}", i.table, i.files.len(), i.location);
    }
    Ok(())
}

/// Runs the job and prints its summary. SIGTERM (what Kubernetes sends) or Ctrl-C stops it:
/// nothing is published, the lease is released, the exit code is 143. With `--catch-up`, the
/// dates missed since the latest committed one run first.
pub(crate) async fn run(a: &RunArgs) -> anyhow::Result<()> {
    let spec = load_spec(&a.job)?;
    let opts = run_options(&a.job);
    if a.catch_up {
        let output = lifecycle_pipeline::job_output(&spec, &opts)?;
        let cutoff = lifecycle_pipeline::cutoff_date(&spec, &opts);
        let dates = lifecycle_pipeline::catch_up_dates(&output, cutoff).await?;
        return super::dates::run_dates(&spec, &opts, &dates).await;
    }
    let summary =
        lifecycle_pipeline::run_job_until(&spec, &opts, lifecycle_cluster::shutdown_signal())
            .await?;
    crate::summary::print_summary(&summary);
    Ok(())
}
