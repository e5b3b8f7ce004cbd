//! Finding the rows that can be exact duplicates without grouping every event. One pass takes
//! each good row's [`ROW_HASH`] of the five contract columns; the hashes seen more than once are
//! the candidates; the quality step then groups only the rows carrying one
//! ([`crate::quality::Distinct`]), where a collision is told apart from a duplicate.
//!
//! A local run sorts the hashes in memory: 8 bytes per good event, taken from the session's
//! memory pool. When the pool cannot give them, and on a cluster, an SQL aggregation on the
//! hash finds the candidates instead (it spills when it must, and runs on the executors).

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::common::runtime::{JoinSet, SpawnedTask};
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use rayon::prelude::*;

use crate::row_hash::ROW_HASH;
use crate::sql::views;
use crate::{FeatureError, Result};

/// With more candidates than this the quality step groups every good row instead: a filter
/// listing them all would cost more than the grouping it saves.
pub const MAX_CANDIDATES: usize = 10_000;

/// The contract columns two rows must agree on to be duplicates.
pub const COLUMNS: &str = "user_id, event_time, event_type, item_id, amount";

/// The step name errors carry.
const STEP: &str = "find duplicates";

/// The hashes are sorted in 2^8 buckets by their top bits, one bucket at a time.
const BUCKET_BITS: u32 = 8;

/// What the search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The hashes carried by more than one good row, sorted; and how many rows broke a rule,
    /// when the search counted them.
    Candidates {
        hashes: Vec<i64>,
        bad_rows: Option<u64>,
    },
    /// More than [`MAX_CANDIDATES`] hashes repeat.
    TooMany,
}

/// `lc_row_hash` of the five contract columns, as SQL.
pub fn row_hash_sql() -> String {
    format!("{ROW_HASH}({COLUMNS})")
}

/// The search in this process. None when the session's memory pool cannot hold the hashes.
pub async fn search_in_memory(ctx: &SessionContext) -> Result<Option<Found>> {
    let sql = format!(
        "SELECT {} AS h, rule FROM {}",
        row_hash_sql(),
        views::EVENTS_CHECKED
    );
    let df = ctx.sql(&sql).await.map_err(FeatureError::engine(STEP))?;
    let streams = df
        .execute_stream_partitioned()
        .await
        .map_err(FeatureError::engine(STEP))?;
    let pool = ctx.runtime_env().memory_pool.clone();
    let mut tasks = JoinSet::new();
    for stream in streams {
        let reservation = MemoryConsumer::new("duplicate check").register(&pool);
        tasks.spawn(drain(stream, Buckets::new(reservation)));
    }
    let mut parts = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let done = done.map_err(|e| DataFusionError::External(Box::new(e)));
        match done.and_then(|r| r) {
            Ok(part) => parts.push(part),
            Err(DataFusionError::ResourcesExhausted(why)) => {
                tracing::info!(%why, "the duplicate check runs as SQL: no memory for the hashes");
                return Ok(None);
            }
            Err(e) => return Err(FeatureError::engine(STEP)(e)),
        }
    }
    let bad_rows = parts.iter().map(|p| p.bad_rows).sum();
    let merged = merge(parts);
    let hashes = SpawnedTask::spawn_blocking(move || repeated(merged))
        .join()
        .await
        .map_err(|e| FeatureError::engine(STEP)(DataFusionError::External(e.into())))?;
    Ok(Some(found(hashes, Some(bad_rows))))
}

/// The search as one SQL aggregation on the row hash.
pub async fn search_with_sql(ctx: &SessionContext) -> Result<Found> {
    let sql = format!(
        "SELECT h FROM (SELECT {} AS h FROM {} WHERE rule IS NULL) \
         GROUP BY h HAVING count(*) > 1 LIMIT {}",
        row_hash_sql(),
        views::EVENTS_CHECKED,
        MAX_CANDIDATES + 1
    );
    let df = ctx.sql(&sql).await.map_err(FeatureError::engine(STEP))?;
    let batches = df.collect().await.map_err(FeatureError::engine(STEP))?;
    let mut hashes: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    hashes.sort_unstable();
    Ok(found(hashes, None))
}

fn found(hashes: Vec<i64>, bad_rows: Option<u64>) -> Found {
    if hashes.len() > MAX_CANDIDATES {
        Found::TooMany
    } else {
        Found::Candidates { hashes, bad_rows }
    }
}

/// One stream's hashes of good rows, by bucket, and its count of rows that broke a rule.
struct Buckets {
    lists: Vec<Vec<i64>>,
    bad_rows: u64,
    reservation: MemoryReservation,
}

impl Buckets {
    fn new(reservation: MemoryReservation) -> Buckets {
        Buckets {
            lists: vec![Vec::new(); 1 << BUCKET_BITS],
            bad_rows: 0,
            reservation,
        }
    }

    /// Adds a batch of (`h`, `rule`); fails when the pool cannot hold the grown lists.
    fn add(&mut self, batch: &RecordBatch) -> Result<(), DataFusionError> {
        let hashes = batch.column(0).as_primitive::<Int64Type>().values();
        let rule = batch.column(1);
        self.bad_rows += (rule.len() - rule.null_count()) as u64;
        for (i, &h) in hashes.iter().enumerate() {
            if rule.is_null(i) {
                self.lists[(h >> (63 - BUCKET_BITS)) as usize].push(h);
            }
        }
        let bytes: usize = self.lists.iter().map(|l| l.capacity()).sum();
        self.reservation.try_resize(bytes * size_of::<i64>())
    }
}

async fn drain(
    mut stream: SendableRecordBatchStream,
    mut buckets: Buckets,
) -> Result<Buckets, DataFusionError> {
    while let Some(batch) = stream.next().await {
        buckets.add(&batch?)?;
    }
    Ok(buckets)
}

/// Every stream's bucket `i` in one list, bucket by bucket (the memory is moved, not copied
/// all at once).
fn merge(parts: Vec<Buckets>) -> Vec<Vec<i64>> {
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return Vec::new();
    };
    let mut lists = first.lists;
    for part in parts {
        for (into, from) in lists.iter_mut().zip(part.lists) {
            into.extend_from_slice(&from);
        }
    }
    lists
}

/// The values occurring more than once, sorted: each bucket sorted on its own (buckets hold
/// ascending ranges), on every core.
fn repeated(mut lists: Vec<Vec<i64>>) -> Vec<i64> {
    lists.par_iter_mut().for_each(|l| l.sort_unstable());
    let mut out: Vec<i64> = lists
        .iter()
        .flat_map(|l| l.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]))
        .collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_values_once_each_in_order() {
        let top = |k: i64| k << (63 - BUCKET_BITS);
        let mut lists = vec![Vec::new(); 1 << BUCKET_BITS];
        lists[0] = vec![5, 1, 5, 5, 2];
        lists[3] = vec![top(3) + 9, top(3) + 9, top(3) + 1];
        lists[255] = vec![top(255) + 1];
        assert_eq!(repeated(lists), vec![5, top(3) + 9]);
    }

    #[test]
    fn too_many_candidates_are_not_listed() {
        let many: Vec<i64> = (0..=MAX_CANDIDATES as i64).collect();
        assert_eq!(found(many, None), Found::TooMany);
        let few = vec![1, 2];
        let f = found(few.clone(), Some(0));
        assert_eq!(
            f,
            Found::Candidates {
                hashes: few,
                bad_rows: Some(0)
            }
        );
    }
}
