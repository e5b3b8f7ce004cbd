//! The local DataFusion engine of a run, built from `[engine]`: a memory pool its spilling
//! operators share fairly, a spill folder that counts what spilled, the partitions and batch
//! size; and the one translation of "out of memory" or "out of spill space" into an error that
//! names the setting to change.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytesize::ByteSize;
use datafusion::error::DataFusionError;
use datafusion::execution::disk_manager::{DiskManager, DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SpillFile, SpillWriter, TempFileFactory};
use datafusion::prelude::{SessionConfig, SessionContext};
use lifecycle_spec::{SpecError, ValidEngine};
use serde::{Deserialize, Serialize};

use crate::{Result, RunError};

/// What the engine used, for the manifest's `resources`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceUsage {
    /// `engine.memory_limit` in bytes; None: no limit.
    pub memory_limit: Option<u64>,
    /// Spill files the SQL steps wrote (0: everything fit in memory).
    pub spill_files: u64,
    /// Bytes written to them.
    pub spilled_bytes: u64,
}

/// A spill folder that counts the files made in it and the bytes they reached.
struct SpillMeter {
    disk: Arc<DiskManager>,
    files: AtomicU64,
    bytes: Arc<AtomicU64>,
}

/// A spill file that adds its final size to the meter when the engine lets go of it.
struct MeteredFile {
    file: Arc<dyn SpillFile>,
    bytes: Arc<AtomicU64>,
}

impl TempFileFactory for SpillMeter {
    fn create_temp_file(&self, description: &str) -> datafusion::error::Result<Arc<dyn SpillFile>> {
        let file = self.disk.create_tmp_file(description)?;
        self.files.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::new(MeteredFile {
            file,
            bytes: Arc::clone(&self.bytes),
        }))
    }
}

impl SpillFile for MeteredFile {
    fn path(&self) -> Option<&std::path::Path> {
        self.file.path()
    }
    fn size(&self) -> Option<u64> {
        self.file.size()
    }
    fn read_stream(
        &self,
    ) -> datafusion::error::Result<
        std::pin::Pin<
            Box<dyn futures::Stream<Item = datafusion::error::Result<bytes::Bytes>> + Send>,
        >,
    > {
        self.file.read_stream()
    }
    fn open_writer(&self) -> datafusion::error::Result<Box<dyn SpillWriter>> {
        self.file.open_writer()
    }
}

impl Drop for MeteredFile {
    fn drop(&mut self) {
        let size = self.file.size().unwrap_or(0);
        self.bytes.fetch_add(size, Ordering::Relaxed);
    }
}

/// What a local run's engine has used so far: its memory limit and what spilled.
#[derive(Clone)]
pub(crate) struct Usage {
    meter: Arc<SpillMeter>,
    memory_limit: Option<u64>,
}

impl Usage {
    pub fn report(&self) -> ResourceUsage {
        ResourceUsage {
            memory_limit: self.memory_limit,
            spill_files: self.meter.files.load(Ordering::Relaxed),
            spilled_bytes: self.meter.bytes.load(Ordering::Relaxed),
        }
    }
}

/// A session set up as `engine` says, with the pipeline's settings and functions, and the
/// handle that reads what it used.
pub(crate) fn local_session(engine: &ValidEngine) -> Result<(SessionContext, Usage)> {
    let meter = Arc::new(SpillMeter {
        disk: spill_folder(engine)?,
        files: AtomicU64::new(0),
        bytes: Arc::new(AtomicU64::new(0)),
    });
    let mut runtime = RuntimeEnvBuilder::new().with_disk_manager_builder(
        DiskManagerBuilder::default().with_mode(DiskManagerMode::Custom(meter.clone())),
    );
    if let Some(limit) = engine.memory_limit {
        let top = NonZeroUsize::new(8).expect("8 is not zero");
        let pool = TrackConsumersPool::new(FairSpillPool::new(limit as usize), top);
        runtime = runtime.with_memory_pool(Arc::new(pool));
    }
    let runtime = runtime.build_arc().map_err(RunError::engine("engine"))?;
    let ctx = SessionContext::new_with_config_rt(session_config(engine), runtime);
    lifecycle_features::register_functions(&ctx);
    let usage = Usage {
        meter,
        memory_limit: engine.memory_limit,
    };
    Ok((ctx, usage))
}

/// The pipeline's session settings with `engine`'s partitions and batch size.
pub(crate) fn session_config(engine: &ValidEngine) -> SessionConfig {
    let mut config = lifecycle_features::session_config(SessionConfig::new());
    if let Some(n) = engine.target_partitions {
        config = config.with_target_partitions(n);
    }
    if let Some(n) = engine.batch_size {
        config = config.with_batch_size(n);
    }
    if let Some(limit) = engine.memory_limit {
        let reservation = sort_reservation(limit, &config);
        config = config.with_sort_spill_reservation_bytes(reservation);
    }
    config
}

/// What each sort sets aside for merging its spills: DataFusion's 10 MB, or less under a small
/// memory limit, where several sorts' reservations could take the whole pool before any of
/// them spills (a 24 MiB limit with two sorts failed that way).
fn sort_reservation(limit: u64, config: &SessionConfig) -> usize {
    let default = config.options().execution.sort_spill_reservation_bytes;
    let share = limit as usize / (4 * config.target_partitions().max(1));
    default.min(share)
}

/// The spill folder: `engine.spill_dir` (created if missing) or the system temp folder.
fn spill_folder(engine: &ValidEngine) -> Result<Arc<DiskManager>> {
    let mode = match &engine.spill_dir {
        Some(dir) => DiskManagerMode::Directories(vec![dir.clone()]),
        None => DiskManagerMode::OsTmpDirectory,
    };
    let mut builder = DiskManagerBuilder::default().with_mode(mode);
    if let Some(max) = engine.max_spill_size {
        builder = builder.with_max_temp_directory_size(max);
    }
    let disk = builder.build().map_err(|e| SpecError::Invalid {
        setting: "engine.spill_dir".into(),
        reason: format!("cannot make a spill folder in it: {e}"),
    })?;
    Ok(Arc::new(disk))
}

/// Why the engine gave up, when it is a resource `[engine]` sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exhausted {
    Memory,
    SpillLimit,
    SpillDiskFull,
}

/// `e`, or, when the engine ran out of memory or spill space, an error that names the setting.
pub(crate) fn explain(e: RunError, engine: &ValidEngine) -> RunError {
    let Some(kind) = exhausted(&e) else { return e };
    let shown = |v: Option<u64>| v.map_or("unset".to_string(), |b| ByteSize(b).to_string());
    let (setting, reason) = match kind {
        Exhausted::Memory => (
            "engine.memory_limit",
            format!(
                "the run needs more memory than engine.memory_limit ({}) allows, even spilling \
                 to disk: raise it (and the pod's memory limit with it)",
                shown(engine.memory_limit)
            ),
        ),
        Exhausted::SpillLimit => (
            "engine.max_spill_size",
            format!(
                "the run spilled more than engine.max_spill_size ({}) allows: raise it, or \
                 engine.memory_limit so that less spills",
                shown(engine.max_spill_size)
            ),
        ),
        Exhausted::SpillDiskFull => (
            "engine.spill_dir",
            format!(
                "the spill folder ({}) is full: give it more space, or raise \
                 engine.memory_limit so that less spills",
                engine
                    .spill_dir
                    .as_ref()
                    .map_or("the system temp folder".to_string(), |d| {
                        d.display().to_string()
                    })
            ),
        ),
    };
    RunError::Resources {
        setting,
        reason,
        detail: e.to_string(),
    }
}

/// Which resource ran out, found anywhere in the chain of `e`'s causes.
fn exhausted(e: &RunError) -> Option<Exhausted> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(DataFusionError::ResourcesExhausted(m)) = c.downcast_ref::<DataFusionError>() {
            return Some(if m.contains("disk space") {
                Exhausted::SpillLimit
            } else {
                Exhausted::Memory
            });
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::StorageFull {
                return Some(Exhausted::SpillDiskFull);
            }
            if io.to_string().contains("spilling process has exceeded") {
                return Some(Exhausted::SpillLimit);
            }
        }
        cause = c.source();
    }
    None
}
