//! `lifecycle demo`: sample data, the demo spec beside it, one run, and its summary.

use lifecycle_synth::GeneratorParams;

use crate::args::{DemoArgs, JobArgs};

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
    let args = JobArgs {
        spec: spec_path.clone(),
        as_of: Some(params.end()),
        input: None,
        output: None,
        cluster: None,
    };
    super::job::run(&args).await?;
    println!(
        "\nrerun or change it: lifecycle run {} --as-of {}",
        spec_path.display(),
        params.end()
    );
    Ok(())
}
