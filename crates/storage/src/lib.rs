//! Storage for `lifecycle`: object stores built from URLs, streamed Parquet writes, and the
//! publish protocol that makes a run's outputs appear together or not at all.
//!
//! Start from [`Stores::open`], which turns a URL (`file:///data/out/`, `s3://bucket/out/`,
//! `gs://`, `az://`, `abfss://`, `memory://test/out/`)
//! into a [`Location`]: a store plus a prefix in it. A run writes its tables through a
//! [`Publisher`] into a staging prefix and publishes them with [`Publisher::commit`].
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use lifecycle_storage::Stores;
//! let stores = Stores::default();
//! let out = stores.open(&url::Url::parse("memory://doc/out/").unwrap()).unwrap();
//! out.join("a/b.txt").put_bytes(b"hi".to_vec()).await.unwrap();
//! let again = stores.open(&url::Url::parse("memory://doc/out/a/").unwrap()).unwrap();
//! assert_eq!(again.list().await.unwrap().len(), 1);
//! # });
//! ```

mod aws_profile;
mod location;
mod parquet_io;
mod plain_strings;
mod publish;
mod retention;
mod text_io;

pub use aws_profile::aws_profile_env;
pub use location::{Location, RetrySettings, StoreWrapper, Stores, is_secret_key, store_root};
pub use parquet_io::{WriteStats, open_parquet, read_parquet, read_parquet_column, write_parquet};
pub use publish::{
    Commit, CommitRecord, CommittedTable, GcReport, LeaseInfo, MANIFEST_TABLE, Publisher, commits,
    committed_runs, copy, gc, latest_commit, materialize, read_commit, read_manifest,
    remove_unreferenced_runs, run_folder, table_partition,
};
pub use retention::{RetentionReport, apply_retention};
pub use text_io::{TextFormat, write_text};

/// Result with a [`StorageError`] by default.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A storage operation failed. Every variant names the location involved.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The URL's scheme has no store in this build.
    #[error(
        "unsupported storage URL {url}: scheme `{scheme}` (supported: file, memory, s3, gs, az/abfss)"
    )]
    UnsupportedScheme { url: String, scheme: String },
    /// An option is not an option of any store.
    #[error(
        "setting `storage.options.{key}` is not an option of any store (see the object_store configuration keys)"
    )]
    UnknownOption { key: String },
    /// A store cannot be built from its URL, options and environment.
    #[error("cannot set up storage for {url}: {reason}")]
    Config { url: String, reason: String },
    /// The store refused or failed an operation.
    #[error("storage error at {url}: {source}")]
    Store {
        url: String,
        #[source]
        source: object_store::Error,
    },
    /// Writing a Parquet file failed.
    #[error("cannot write Parquet file {url}: {source}")]
    Parquet {
        url: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// The batches to write could not be produced.
    #[error("cannot produce the rows of {url}: {source}")]
    Upstream {
        url: String,
        #[source]
        source: arrow::error::ArrowError,
    },
    /// Another run of the same date committed first.
    #[error("another run committed this date first ({url} exists); this run published nothing")]
    CommitConflict { url: String },
    /// Another run of the same date holds the lease.
    #[error(
        "another run ({run_id}) is running this date: its lease at {url} expires at {expires_at}"
    )]
    LeaseHeld {
        url: String,
        run_id: String,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// No run of the date is committed.
    #[error("no committed run for {date} under {url}")]
    NotCommitted {
        url: String,
        date: chrono::NaiveDate,
    },
    /// A run manifest is not valid JSON.
    #[error("run manifest {url} is not valid: {source}")]
    Manifest {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}
