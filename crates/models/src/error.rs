/// Result with a [`ModelError`] by default.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// Why a model could not be fitted or applied.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A parameter is out of range.
    #[error("parameter `{name}`: {reason}")]
    InvalidParam { name: &'static str, reason: String },
    /// The data cannot train this model (too few rows, one class only, ...).
    #[error("{what}: {reason}")]
    InvalidData { what: &'static str, reason: String },
    /// Rows or columns do not line up.
    #[error("{what}: expected {expected}, found {found}")]
    Shape {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    /// A saved model needs a feature the table does not have.
    #[error("the model needs feature column `{column}`, which the feature table does not have")]
    MissingFeature { column: String },
    /// A saved model could not be read.
    #[error("model artifact: {reason}")]
    Artifact { reason: String },
}
