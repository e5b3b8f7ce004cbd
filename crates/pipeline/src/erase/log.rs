//! What an erasure did, for an auditor: `erasure_log/erasure-<completed>-<list sha256>.json`
//! under the output, and an [`ErasureRecord`] in each rewritten date's manifest. Neither holds
//! a user id or key (keeping either would keep the person): the list is named by its checksum
//! and its `request_id`s.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use lifecycle_storage::Location;
use serde::{Deserialize, Serialize};

use crate::Result;

/// The folder of erasure logs under an output.
pub const ERASURE_LOG: &str = "erasure_log";

/// One `lifecycle erase` that completed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErasureLog {
    /// The list's location and SHA-256 (of its bytes).
    pub list_url: String,
    pub list_sha256: String,
    /// The list's `request_id`s (empty when it has none).
    pub request_ids: Vec<String>,
    /// Distinct users listed.
    pub users_listed: usize,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    /// Committed dates looked at.
    pub dates_checked: usize,
    /// The dates that held listed users, rewritten and committed anew.
    pub dates: Vec<DateErasure>,
    /// Run folders deleted: the rewritten dates' previous commits' and any other no latest
    /// commit names (superseded or failed runs, which held the rows too).
    pub runs_removed: Vec<String>,
}

/// One rewritten date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DateErasure {
    pub run_date: NaiveDate,
    /// The commit the rewrite replaced, and its own.
    pub previous_run_id: String,
    pub run_id: String,
    /// Rows removed, per table (tables without any left out).
    pub rows_removed: BTreeMap<String, u64>,
}

/// An erasure as a rewritten date's manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErasureRecord {
    pub erased_at: DateTime<Utc>,
    pub list_sha256: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_ids: Vec<String>,
    /// The run whose tables were rewritten.
    pub previous_run_id: String,
    pub rows_removed: BTreeMap<String, u64>,
}

impl ErasureLog {
    /// Rows removed over every date and table.
    pub fn rows_removed(&self) -> u64 {
        self.dates
            .iter()
            .flat_map(|d| d.rows_removed.values())
            .sum()
    }

    /// Writes the log under `output`; returns where.
    pub async fn write(&self, output: &Location) -> Result<Location> {
        let name = format!(
            "{ERASURE_LOG}/erasure-{}-{}.json",
            self.completed_at.format("%Y%m%dT%H%M%S%.3fZ"),
            &self.list_sha256[..12.min(self.list_sha256.len())]
        );
        let loc = output.join(&name);
        let body = serde_json::to_vec_pretty(self).expect("a log serializes");
        loc.put_bytes(body).await?;
        Ok(loc)
    }
}
