//! `lifecycle demo`: sample data, the demo spec beside it, one run, and its summary.

use lifecycle_synth::GeneratorParams;

use crate::args::{DemoArgs, JobArgs, RunArgs};

/// The demo job spec, also at `jobs/demo.toml`.
const DEMO_SPEC: &str = include_str!("../../../../jobs/demo.toml");

pub(crate) async fn demo(a: &DemoArgs) -> anyhow::Result<()> {
    let params = GeneratorParams {
        users: a.users,
        ..GeneratorParams::default()
    };
    super::generate::generate(&params, &a.dir.join("data"))?;
    let spec_path = a.dir.join("demo.toml");
    std::fs::write(&spec_path, DEMO_SPEC)?;
    let args = RunArgs {
        job: JobArgs {
            spec: spec_path.clone(),
            as_of: Some(params.end()),
            input: None,
            output: None,
            cluster: None,
        },
        catch_up: false,
    };
    super::job::run(&args).await?;
    closing_lines(&spec_path, &a.dir.join("out"), params.end());
    Ok(())
}

/// Where to look next, as commands that work from the checkout right after `cargo run`.
fn closing_lines(spec: &std::path::Path, out: &std::path::Path, date: chrono::NaiveDate) {
    let day = out.join(format!("run_manifest/run_date={date}"));
    let (spec, out) = (spec.display(), out.display());
    println!("\nlook further (an installed binary takes `lifecycle` for `cargo run --`):");
    println!(
        "  the report    {}  (open it in a browser)",
        day.join("report.html").display()
    );
    println!("  the manifest  {}", day.join("manifest.json").display());
    println!("  the runs      cargo run -- inspect {out}");
    println!("  a table       cargo run -- inspect {out} --table user_profile");
    println!("  rerun it      cargo run -- run {spec} --as-of {date}");
}
