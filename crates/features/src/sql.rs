//! The SQL vocabulary shared by every step: the names of the views and tables the steps
//! register on one session, quoting helpers, and the small queries the pipeline runs between
//! steps (counts, previews, lookups).

/// Names of the views and tables registered on a run's session, in the order they appear.
pub mod views {
    /// The input files as read, per input (`events_raw`, `users_raw`, `items_raw`).
    pub const EVENTS_RAW: &str = "events_raw";
    /// The inputs mapped onto the event contract.
    pub const EVENTS_MAPPED: &str = "events_mapped";
    pub const USERS_MAPPED: &str = "users_mapped";
    pub const ITEMS_MAPPED: &str = "items_mapped";
    /// Mapped events with the first quality rule each breaks.
    pub const EVENTS_CHECKED: &str = "events_checked";
    /// Good rows that can be duplicates grouped on the five contract columns, with their
    /// copies (staged by a run; see `quality::Distinct`).
    pub const EVENTS_GROUPED: &str = "events_grouped";
    /// Rows that broke a rule.
    pub const QUARANTINE: &str = "quarantine";
    /// Good events, one row per distinct event.
    pub const EVENTS_CLEAN: &str = "events_clean";
    /// `[incremental]`: the previous run's rollup tables (empty when there are none or they
    /// are rebuilt), the recomputed days from `events_clean`, and this run's tables as written
    /// (`crate::rollup`).
    pub const PREVIOUS_DAILY: &str = "previous_user_daily";
    pub const PREVIOUS_HISTORY: &str = "previous_user_history";
    pub const PREVIOUS_ITEMS: &str = "previous_user_items_daily";
    pub const PREVIOUS_PERIODS: &str = "previous_user_periods";
    pub const RECENT_DAILY: &str = "rollup_recent_daily";
    pub const RECENT_ITEMS: &str = "rollup_recent_items";
    pub const USER_DAILY: &str = "user_daily";
    pub const USER_HISTORY: &str = "user_history";
    pub const USER_ITEMS_DAILY: &str = "user_items_daily";
    pub const USER_PERIODS: &str = "user_periods";
    pub const USER_FEATURES: &str = "user_features";
    pub const USER_SEGMENTS: &str = "user_segments";
    pub const STAGE_TRANSITIONS: &str = "stage_transitions";
    /// The previous committed run's `user_segments` file, and its (user_id, stage) view.
    pub const PREVIOUS_SEGMENTS_FILE: &str = "previous_segments_file";
    pub const PREVIOUS_SEGMENTS: &str = "previous_segments";
    /// `user_features` as of a churn observation date.
    pub const CHURN_FEATURES: &str = "churn_features";
    /// Each user's activity and revenue per cohort period (staged by a run).
    pub const COHORT_ACTIVITY: &str = "cohort_activity";
    /// The quarantine as a run wrote it (for the counts per rule).
    pub const QUARANTINE_WRITTEN: &str = "quarantine_written";
    /// Every experiment's assignments, as this run writes them.
    pub const ASSIGNMENTS: &str = "experiment_assignments";
    /// The previous committed run's assignments.
    pub const PREVIOUS_ASSIGNMENTS: &str = "previous_assignments";
}

/// Quotes an identifier for SQL.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal for SQL.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `'a', 'b'` for an SQL `IN` list; a list that matches nothing when empty.
pub fn in_list(values: &[String]) -> String {
    if values.is_empty() {
        return "CAST(NULL AS VARCHAR)".into();
    }
    values.iter().map(|v| lit(v)).collect::<Vec<_>>().join(", ")
}

/// The number of rows of `table`.
pub fn row_count(table: &str) -> String {
    format!("SELECT count(*) FROM {table}")
}

/// The first `n` rows of `table`.
pub fn head(table: &str, n: usize) -> String {
    format!("SELECT * FROM {table} LIMIT {n}")
}

/// Every row of `table` ordered by `user_id` (what the models gather).
pub fn by_user(table: &str) -> String {
    format!("SELECT * FROM {table} ORDER BY user_id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(lit("o'brien"), "'o''brien'");
        assert_eq!(in_list(&["a".into(), "b'".into()]), "'a', 'b'''");
        assert_eq!(in_list(&[]), "CAST(NULL AS VARCHAR)");
    }
}
