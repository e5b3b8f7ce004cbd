//! What a run reports while it works, for a display such as the command line's progress line:
//! each step as it starts and ends. The logs are separate and unchanged.

/// Receives a run's steps as they happen (from the run's task; keep it quick).
pub trait Progress: Send + Sync {
    /// Step `index` (from 1) of `total` starts.
    fn started(&self, step: &str, index: usize, total: usize);
    /// The step ended after `seconds`, with the rows it reported.
    fn finished(&self, step: &str, rows: Option<u64>, seconds: f64);
}
