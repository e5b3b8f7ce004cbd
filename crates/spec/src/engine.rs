//! `[engine]`: how a local run uses the machine's memory, disk and cores, as written and checked.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, SpecError};

/// `[engine]` as written. Sizes are text such as `"2GiB"` or `"512 MiB"`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// The most memory the SQL steps may hold at once; operators that can spill to disk share
    /// it fairly and spill when it is full. Unset: no limit.
    #[serde(default)]
    pub memory_limit: Option<String>,
    /// Where spill files go. Unset: the system temp folder.
    #[serde(default)]
    pub spill_dir: Option<String>,
    /// The most spill data on disk at once. Unset: DataFusion's default, 100 GiB.
    #[serde(default)]
    pub max_spill_size: Option<String>,
    /// Partitions each SQL operator runs in. Unset: the machine's cores.
    #[serde(default)]
    pub target_partitions: Option<usize>,
    /// Rows per batch. Unset: DataFusion's default, 8192.
    #[serde(default)]
    pub batch_size: Option<usize>,
}

/// `[engine]`, checked: sizes in bytes, the spill folder an absolute path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidEngine {
    pub memory_limit: Option<u64>,
    pub spill_dir: Option<PathBuf>,
    pub max_spill_size: Option<u64>,
    pub target_partitions: Option<usize>,
    pub batch_size: Option<usize>,
}

/// The largest `target_partitions` taken: more is a typo, not a machine.
const MAX_PARTITIONS: usize = 4096;
/// The largest `batch_size` taken (DataFusion's batches are arrays of this many rows).
const MAX_BATCH: usize = 1 << 24;

impl EngineSettings {
    /// Checks `[engine]`; a relative `spill_dir` resolves against `base` (the spec's folder).
    pub fn validate(&self, base: &Path) -> Result<ValidEngine> {
        let spill_dir = match self.spill_dir.as_deref().map(str::trim) {
            Some("") => return Err(SpecError::invalid("engine.spill_dir", "must not be empty")),
            Some(s) if s.contains("://") => {
                return Err(SpecError::invalid(
                    "engine.spill_dir",
                    format!("`{s}` is a URL; spill files need a local folder (a path)"),
                ));
            }
            Some(s) => Some(base.join(s)),
            None => None,
        };
        Ok(ValidEngine {
            memory_limit: size("engine.memory_limit", self.memory_limit.as_deref())?,
            spill_dir,
            max_spill_size: size("engine.max_spill_size", self.max_spill_size.as_deref())?,
            target_partitions: count(
                "engine.target_partitions",
                self.target_partitions,
                MAX_PARTITIONS,
            )?,
            batch_size: count("engine.batch_size", self.batch_size, MAX_BATCH)?,
        })
    }
}

/// A size such as `"2GiB"`, `"1.5 GB"` or `"1048576"` (bytes), above zero.
fn size(setting: &str, text: Option<&str>) -> Result<Option<u64>> {
    let Some(text) = text else { return Ok(None) };
    let bytes = text
        .trim()
        .parse::<bytesize::ByteSize>()
        .map_err(|e| {
            SpecError::invalid(
                setting,
                format!("`{text}` is not a size such as \"2GiB\" or \"512MiB\": {e}"),
            )
        })?
        .as_u64();
    if bytes == 0 {
        return Err(SpecError::invalid(setting, "must be above zero"));
    }
    Ok(Some(bytes))
}

fn count(setting: &str, n: Option<usize>, max: usize) -> Result<Option<usize>> {
    match n {
        Some(n) if !(1..=max).contains(&n) => Err(SpecError::invalid(
            setting,
            format!("{n} is not between 1 and {max}"),
        )),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(toml: &str) -> Result<ValidEngine> {
        let raw: EngineSettings = toml::from_str(toml).unwrap();
        raw.validate(Path::new("/jobs"))
    }

    fn setting_of(e: SpecError) -> String {
        match e {
            SpecError::Invalid { setting, .. } => setting,
            other => panic!("not a setting error: {other}"),
        }
    }

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        let e = engine("memory_limit = \"2GiB\"\nmax_spill_size = \"1.5 GB\"").unwrap();
        assert_eq!(e.memory_limit, Some(2 << 30));
        assert_eq!(e.max_spill_size, Some(1_500_000_000));
        assert_eq!(
            engine("memory_limit = \"4096\"").unwrap().memory_limit,
            Some(4096)
        );
        assert_eq!(engine("").unwrap(), ValidEngine::default());
    }

    #[test]
    fn each_bad_value_names_its_setting() {
        for (toml, setting) in [
            ("memory_limit = \"2 gigs\"", "engine.memory_limit"),
            ("memory_limit = \"0MiB\"", "engine.memory_limit"),
            ("max_spill_size = \"-1GiB\"", "engine.max_spill_size"),
            ("spill_dir = \"\"", "engine.spill_dir"),
            ("spill_dir = \"s3://bucket/tmp\"", "engine.spill_dir"),
            ("target_partitions = 0", "engine.target_partitions"),
            ("batch_size = 0", "engine.batch_size"),
            ("batch_size = 100000000", "engine.batch_size"),
        ] {
            assert_eq!(setting_of(engine(toml).unwrap_err()), setting, "{toml}");
        }
    }

    #[test]
    fn a_relative_spill_dir_resolves_against_the_spec_folder() {
        let e = engine("spill_dir = \"tmp/spill\"").unwrap();
        assert_eq!(e.spill_dir, Some(PathBuf::from("/jobs/tmp/spill")));
        let e = engine("spill_dir = \"/scratch\"").unwrap();
        assert_eq!(e.spill_dir, Some(PathBuf::from("/scratch")));
    }
}
