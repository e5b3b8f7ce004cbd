//! The `lifecycle` command line: `generate`, `validate`, `run`, `inspect`, `report`, `gc`, `score`,
//! `demo`, `scheduler` and `executor`.
//!
//! The binary's `main.rs` only calls [`main`]. `args` defines the arguments, `commands` has a
//! module per command, `summary` prints a committed run. Exit codes: 0 success, 1 the run
//! failed (data or storage), 2 bad usage or spec, 3 another run of the same date is running or
//! committed first, 143 stopped by SIGTERM or Ctrl-C (nothing published).

mod args;
mod commands;
mod progress;
mod stores;
mod summary;

use std::io::IsTerminal;

use clap::Parser;
use lifecycle_pipeline::RunError;
use lifecycle_spec::SpecError;

use crate::args::{Cli, Command};
use crate::stores::credential_env;

/// Parses the command line, runs the command, and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_logging();
    // Ballista's scheduler and executors decode and plan a job's whole plan on a runtime
    // thread, recursively: the default 2 MiB stack overflowed on the audience step's profile
    // (a join of eight tables) in debug builds. The stack is reserved, not committed.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 << 20)
        .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let result = runtime.block_on(dispatch(cli.command));
    // A stopped run may leave a model fit running on a blocking thread: do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => 0,
        Err(e) => {
            // Our errors already say what caused them: print the outermost message only.
            eprintln!("error: {e}");
            exit_code(&e)
        }
    }
}

/// The one mapping from errors to exit codes (see the crate doc).
fn exit_code(e: &anyhow::Error) -> i32 {
    if let Some(run) = e.downcast_ref::<RunError>() {
        return run.exit_code();
    }
    if e.downcast_ref::<SpecError>().is_some() {
        return 2;
    }
    1
}

/// Logs go to stderr: JSON at `info` when it is piped (a CronJob's log collector), compact at
/// `warn` on a terminal, where the progress display shows the steps. `LIFECYCLE_LOG` (e.g.
/// `info`, `lifecycle_pipeline=debug`) overrides the level either way.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let terminal = std::io::stderr().is_terminal();
    let default = if terminal { "warn" } else { "info" };
    let filter =
        EnvFilter::try_from_env("LIFECYCLE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if terminal {
        builder.compact().with_target(false).init();
    } else {
        builder.json().init();
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    use commands::*;
    match command {
        Command::Generate(a) => generate::generate(&a.params, &a.out),
        Command::Validate(a) => job::validate(&a).await,
        Command::Run(a) => job::run(&a).await,
        Command::Backfill(a) => dates::backfill(&a).await,
        Command::Demo(a) => demo::demo(&a).await,
        Command::Inspect(a) => inspect::inspect(&a).await,
        Command::Report(a) => report::report(&a).await,
        Command::Gc(a) => maintain::gc(&a).await,
        Command::Erase(a) => erase::erase(&a).await,
        Command::Score(a) => maintain::score(&a).await,
        Command::Scheduler(opts) => {
            let opts = lifecycle_cluster::SchedulerOptions {
                env: credential_env(),
                ..opts
            };
            Ok(lifecycle_cluster::run_scheduler(opts).await?)
        }
        Command::Executor(opts) => {
            let opts = lifecycle_cluster::ExecutorOptions {
                env: credential_env(),
                ..opts
            };
            Ok(lifecycle_cluster::run_executor(opts).await?)
        }
    }
}
