//! The run manifest: `run_manifest/run_date=YYYY-MM-DD/manifest.json`, written last, so a run
//! date with a manifest is a committed run. One type writes it and every reader (the next run,
//! `score`, `inspect`, the CLI summary) reads it. Its fields are documented in `docs/outputs.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use lifecycle_features::input::RegisteredInput;
use lifecycle_storage::{CommitRecord, Location};
use serde::{Deserialize, Serialize};

pub(crate) use crate::reports::{ClvHoldout, ClvReport, ModelReports, SegmentationReport};
use crate::{Result, RunError};

/// The manifest format this build writes and reads. A manifest of another version is refused
/// by name, never misread.
pub const MANIFEST_FORMAT: u32 = 1;

/// Everything a run did, for people and for the next run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`] of the build that wrote it (absent in manifests from before the
    /// field, whose layout is version 1).
    #[serde(default = "first_format")]
    pub format_version: u32,
    /// The `lifecycle` version that wrote it.
    pub version: String,
    pub job: String,
    /// The run id and the committed tables: the commit protocol's part.
    #[serde(flatten)]
    pub commit: CommitRecord,
    pub run_date: NaiveDate,
    /// Only events strictly before this instant were used.
    pub cutoff: DateTime<Utc>,
    pub run_time: DateTime<Utc>,
    /// Where the SQL steps ran: `local` (DataFusion in the job's process) or the Ballista
    /// scheduler's `df://host:port`.
    pub engine: String,
    /// What a local run's engine used: its memory limit and what spilled to disk (absent on a
    /// cluster, and in manifests from before the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<crate::engine::ResourceUsage>,
    /// The committed run the stage transitions start from.
    pub previous_run_date: Option<NaiveDate>,
    /// The job spec as written, secrets replaced.
    pub spec: serde_json::Value,
    pub inputs: Vec<RegisteredInput>,
    pub rows: RowCounts,
    /// Quarantined rows per data-quality rule (every rule listed, zeros included).
    pub quality: BTreeMap<String, u64>,
    /// Users per lifecycle stage.
    pub stages: BTreeMap<String, u64>,
    /// Fitted models: parameters, fits, evaluations and saved artifacts.
    pub models: ModelReports,
    /// Audience sizes and suppressions (absent without `[[audiences]]`, and in manifests from
    /// before them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audiences: Option<crate::reports::AudienceReport>,
    /// Experiments' assignments and sample-ratio checks (absent without `[[experiments]]`, and
    /// in manifests from before them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiments: Option<crate::reports::ExperimentReport>,
    /// With `[incremental]`: how the rollup behind `user_features` was built (absent without
    /// it, and in manifests from before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollup: Option<crate::rollup::RollupReport>,
    /// Drift against the previous committed run (absent in manifests from before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<crate::reports::MonitoringReport>,
    /// With `[privacy] id_key_env`: how ids were pseudonymised (never the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<PrivacyRecord>,
    /// `lifecycle erase` runs that rewrote this date, oldest first (absent when none did).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub erasures: Vec<crate::erase::ErasureRecord>,
    pub steps: Vec<StepTiming>,
}

fn first_format() -> u32 {
    1
}

/// How a run pseudonymised user ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivacyRecord {
    /// The column published tables carry instead of `user_id`.
    pub id_column: String,
    /// [`lifecycle_features::pseudonym::IdKey::fingerprint`]: equal on two runs that used the
    /// same key.
    pub key_fingerprint: String,
    /// With `publish_raw_ids`: the tables that carry raw `user_id` beside `user_key`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raw_id_tables: Vec<String>,
}

/// Event rows through the quality step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    /// Rows in the input files read (after partition pruning).
    pub read: u64,
    /// Rows the spec's `filter` excluded on purpose.
    pub filtered: u64,
    /// Rows of users on the erase list (`[privacy] erase_list`), dropped as they were read.
    #[serde(default)]
    pub erased: u64,
    /// Rows quarantined (duplicates count each extra copy).
    pub bad: u64,
    /// Rows that passed every rule.
    pub good: u64,
}

/// How long a step took.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepTiming {
    pub step: String,
    pub seconds: f64,
    pub rows: Option<u64>,
}

impl Manifest {
    /// This run's id.
    pub fn run_id(&self) -> &str {
        &self.commit.run_id
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a manifest always serializes")
    }

    /// Reads a manifest, refusing one of another format version.
    pub fn from_json(bytes: &[u8], url: &str) -> Result<Manifest> {
        #[derive(Deserialize)]
        struct Version {
            #[serde(default = "first_format")]
            format_version: u32,
        }
        let bad = |reason: String| RunError::Manifest {
            url: url.to_string(),
            reason,
        };
        let v: Version = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if v.format_version != MANIFEST_FORMAT {
            return Err(bad(format!(
                "format_version {}; this build reads version {MANIFEST_FORMAT}",
                v.format_version
            )));
        }
        serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))
    }

    /// The manifest of the latest commit of `date` under `output`.
    pub async fn read(output: &Location, date: NaiveDate) -> Result<Manifest> {
        let (loc, bytes) = lifecycle_storage::read_manifest(output, date).await?;
        Manifest::from_json(&bytes, loc.url().as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let t: DateTime<Utc> = "2024-03-01T00:00:00Z".parse().unwrap();
        Manifest {
            format_version: MANIFEST_FORMAT,
            version: "0.1.0".into(),
            job: "shop".into(),
            commit: CommitRecord {
                run_id: "r1".into(),
                outputs: BTreeMap::new(),
                run_files: vec![],
            },
            run_date: t.date_naive(),
            cutoff: t,
            run_time: t,
            engine: "local".into(),
            resources: Some(crate::engine::ResourceUsage {
                memory_limit: Some(1 << 30),
                spill_files: 2,
                spilled_bytes: 4096,
            }),
            previous_run_date: None,
            spec: serde_json::json!({}),
            inputs: vec![],
            rows: RowCounts::default(),
            quality: BTreeMap::new(),
            stages: BTreeMap::new(),
            models: ModelReports::default(),
            audiences: None,
            experiments: None,
            rollup: None,
            monitoring: Some(crate::reports::MonitoringReport {
                compared_with: Some(t.date_naive()),
                flagged: vec![crate::reports::DriftFlag {
                    table: "user_features".into(),
                    column: "events_30d".into(),
                    metric: crate::reports::DriftMetric::Psi,
                    value: 0.4,
                    limit: 0.25,
                }],
            }),
            privacy: Some(PrivacyRecord {
                id_column: "user_key".into(),
                key_fingerprint: "00112233aabbccdd".into(),
                raw_id_tables: vec![],
            }),
            erasures: vec![],
            steps: vec![],
        }
    }

    #[test]
    fn reads_back_what_it_wrote_and_refuses_other_versions_by_name() {
        let m = manifest();
        let back = Manifest::from_json(&m.to_json(), "mem://m.json").unwrap();
        assert_eq!(back.run_id(), "r1");
        // The commit protocol's fields stay at the top level, where storage reads them.
        let v: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
        assert_eq!(v["run_id"], "r1");
        assert!(v["outputs"].is_object());
        let mut v2 = v.clone();
        v2["format_version"] = 2.into();
        let e = Manifest::from_json(&serde_json::to_vec(&v2).unwrap(), "mem://m.json").unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("mem://m.json") && e.contains("format_version 2"),
            "{e}"
        );
        // Manifests from before the field have the version 1 layout.
        let mut old = v;
        old.as_object_mut().unwrap().remove("format_version");
        let back = Manifest::from_json(&serde_json::to_vec(&old).unwrap(), "m").unwrap();
        assert_eq!(back.format_version, 1);
        // And from before `resources` (or from a cluster run): none recorded.
        assert_eq!(back.resources, m.resources);
        old.as_object_mut().unwrap().remove("resources");
        let back = Manifest::from_json(&serde_json::to_vec(&old).unwrap(), "m").unwrap();
        assert_eq!(back.resources, None);
    }
}
