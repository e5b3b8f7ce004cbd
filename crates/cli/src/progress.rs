//! The terminal's progress display for long commands: `run` and `demo` show the step under way
//! with its elapsed time and a line per finished step, `generate` a bar over the users. Shown
//! only when stderr is a terminal; piped output (a CronJob's JSON logs) is left as it was.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use lifecycle_pipeline::Progress;

/// Whether progress is drawn: stderr is a terminal.
pub(crate) fn shown() -> bool {
    std::io::stderr().is_terminal()
}

/// The steps of a run as one live line.
pub(crate) struct StepLine {
    bar: ProgressBar,
}

impl StepLine {
    /// A display for a run, or None when stderr is not a terminal.
    pub(crate) fn for_run() -> Option<Arc<dyn Progress>> {
        if !shown() {
            return None;
        }
        let style = ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg} {elapsed}")
            .expect("a valid template");
        let bar = ProgressBar::new(0).with_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        Some(Arc::new(StepLine { bar }))
    }
}

impl Progress for StepLine {
    fn started(&self, step: &str, index: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(index as u64 - 1);
        self.bar.set_message(step.to_string());
    }

    fn finished(&self, step: &str, rows: Option<u64>, seconds: f64) {
        let rows = rows.map_or(String::new(), |r| format!("{r} rows"));
        self.bar
            .println(format!("  {step:<16} {rows:>14} {seconds:>8.2} s"));
        self.bar.inc(1);
        if self.bar.position() >= self.bar.length().unwrap_or(0) {
            self.bar.finish_and_clear();
        }
    }
}

impl Drop for StepLine {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// A bar over the users `generate` writes, or a hidden one when stderr is not a terminal.
pub(crate) fn users_bar(users: u64) -> ProgressBar {
    if !shown() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{bar:30} {pos}/{len} users {elapsed}")
        .expect("a valid template");
    ProgressBar::new(users).with_style(style)
}
