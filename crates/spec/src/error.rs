//! Errors split by who is at fault: the spec (the user's configuration) or the data (the user's
//! files). Storage and engine errors belong to the crates that own those layers.

use std::path::PathBuf;

/// Result with a [`SpecError`] by default.
pub type Result<T, E = SpecError> = std::result::Result<T, E>;

/// The job spec is wrong: it cannot be read, is not valid TOML, or a setting has a bad value.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The spec file could not be read.
    #[error("cannot read job spec {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The spec is not valid TOML, has an unknown key, or a value of the wrong kind.
    #[error("job spec {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    /// A setting has a value that parses but makes no sense.
    #[error("setting `{setting}` is invalid: {reason}")]
    Invalid { setting: String, reason: String },
}

/// The longest span of days any setting may name (about a century): date arithmetic on the
/// cutoff stays far inside what times can represent.
pub const MAX_DAYS: u64 = 36_600;

/// Checks that a day count is at most [`MAX_DAYS`].
pub(crate) fn check_days(setting: &str, days: u64) -> Result<()> {
    if days > MAX_DAYS {
        return Err(SpecError::invalid(
            setting,
            format!(
                "{days} days is more than the {MAX_DAYS} (about a century) any window may span"
            ),
        ));
    }
    Ok(())
}

impl SpecError {
    pub(crate) fn invalid(setting: impl Into<String>, reason: impl Into<String>) -> Self {
        SpecError::Invalid {
            setting: setting.into(),
            reason: reason.into(),
        }
    }
}

/// The input data breaks the event contract in a way that stops the run.
///
/// Row-level problems (a null user, an unparseable time) do not stop a run: they are quarantined
/// and counted. These errors are about whole files and columns, or too many bad rows.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The input location holds no files to read.
    #[error("no input files found for {table} at {location}{hint}")]
    NoInputFiles {
        table: String,
        location: String,
        /// Empty, or what may be wrong (a local folder that does not exist).
        hint: String,
    },
    /// A column the spec maps from is not in a file.
    #[error(
        "file {file}: column `{column}` (mapped to `{contract_column}`) is missing; the file has: {available}"
    )]
    MissingColumn {
        file: String,
        column: String,
        contract_column: String,
        available: String,
    },
    /// A mapped column has a type the contract cannot take.
    #[error(
        "file {file}: column `{column}` (mapped to `{contract_column}`) has type {found}, expected {expected}"
    )]
    WrongType {
        file: String,
        column: String,
        contract_column: String,
        found: String,
        expected: String,
    },
    /// A column has one type in one file and another in the next; `first` and `second` are
    /// `<type> in <file>`.
    #[error(
        "column `{column}` has type {first} but {second}: every file of an input must give a \
         column one type"
    )]
    TypesDiffer {
        column: String,
        first: String,
        second: String,
    },
    /// A file cannot be read or decoded (corrupt, truncated, not the declared format).
    #[error("file {file} cannot be read as {format}: {reason}")]
    Unreadable {
        file: String,
        format: String,
        reason: String,
    },
    /// A mapping or filter expression from the spec does not fit the data.
    #[error("{table}: expression for `{setting}` does not fit the data: {reason}")]
    BadExpression {
        table: String,
        setting: String,
        reason: String,
    },
    /// More rows failed the quality rules than the spec allows.
    #[error(
        "{bad} of {total} event rows ({percent:.3}%) failed data-quality rules, above the \
         limit of {limit_percent:.3}% (quality.max_bad_fraction); by rule: {by_rule}"
    )]
    TooManyBadRows {
        bad: u64,
        total: u64,
        percent: f64,
        limit_percent: f64,
        by_rule: String,
    },
}
