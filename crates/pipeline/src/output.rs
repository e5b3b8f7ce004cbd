//! Where a step's tables go: written to the run's staging folder and read back by the later
//! steps (a run), or only planned and registered as views (`validate`). Steps write through
//! this and never know which.

use crate::privacy::Publishing;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::error::ArrowError;
use futures::StreamExt;
use lifecycle_storage::{CommittedTable, Publisher, WriteStats};

use crate::query::Query;
use crate::tables::Table;
use crate::{Result, RunError};

/// A run's tables so far.
pub(crate) enum Output<'a> {
    /// `validate`: plan every SQL table, write nothing.
    Plan,
    /// A run: write into the publisher's staging folder.
    Publish {
        publisher: &'a Publisher,
        written: Vec<(Table, WriteStats)>,
        /// Files written beside a table's Parquet file (text exports), by name.
        files: Vec<(Table, String)>,
        /// Keyed ids and small cells.
        rules: Publishing,
    },
}

impl Output<'_> {
    /// Whether this is a real run (steps that only train models skip their work otherwise).
    pub fn publishes(&self) -> bool {
        matches!(self, Output::Publish { .. })
    }

    /// Runs `sql` into `table` and registers the result as the view `view` for later steps
    /// (read back from the written file, so they do not recompute it). Returns the rows written.
    pub async fn sql(
        &mut self,
        q: Query<'_>,
        table: Table,
        sql: &str,
        view: Option<&str>,
    ) -> Result<u64> {
        let name = table.name();
        let Some(stats) = self.sql_file(q, name, Some(table), sql, view).await? else {
            return Ok(0);
        };
        if let Output::Publish { written, .. } = self {
            written.push((table, stats));
        }
        Ok(stats.rows)
    }

    /// Runs `sql` into a staged file that is never published (`name` is its folder) and
    /// registers it as `view`.
    pub async fn staged(&mut self, q: Query<'_>, name: &str, sql: &str, view: &str) -> Result<u64> {
        let stats = self.sql_file(q, name, None, sql, Some(view)).await?;
        Ok(stats.map_or(0, |s| s.rows))
    }

    /// Writes an in-memory table.
    pub async fn batch(&mut self, table: Table, batch: RecordBatch) -> Result<u64> {
        let rows = batch.num_rows() as u64;
        let Some(stats) = self.write_batch(table.name(), batch, Some(table)).await? else {
            return Ok(rows);
        };
        if let Output::Publish { written, .. } = self {
            written.push((table, stats));
        }
        Ok(stats.rows)
    }

    /// Writes an in-memory table to a staged file that is never published (`name` is its
    /// folder); returns its URL (None when planning).
    pub async fn staged_batch(&self, name: &str, batch: RecordBatch) -> Result<Option<String>> {
        let url = self.staged_url(name);
        Ok(self.write_batch(name, batch, None).await?.and(url))
    }

    /// Writes `batch` to the staging file `name` (nothing when planning), as published when it
    /// is a published `table`.
    async fn write_batch(
        &self,
        name: &str,
        batch: RecordBatch,
        table: Option<Table>,
    ) -> Result<Option<WriteStats>> {
        let Output::Publish {
            publisher, rules, ..
        } = self
        else {
            return Ok(None);
        };
        let batch = match table {
            Some(t) => rules.batch(t, batch)?,
            None => batch,
        };
        let file = publisher.staging_file(name);
        let schema = batch.schema();
        let stream = futures::stream::iter(vec![Ok(batch)]);
        let stats = lifecycle_storage::write_parquet(&file, schema, stream).await?;
        Ok(Some(stats))
    }

    /// Saves a model artifact in the run's folder; returns its URL for the manifest (empty when
    /// nothing is written).
    pub async fn artifact(&self, name: &str, json: Vec<u8>) -> Result<String> {
        let Output::Publish { publisher, .. } = self else {
            return Ok(String::new());
        };
        let loc = publisher.artifact_file(name);
        loc.put_bytes(json).await?;
        Ok(loc.url().to_string())
    }

    /// Publishes raw ids beside keys in the activation tables written from now on.
    pub fn publish_raw_ids(&mut self, lookup: std::sync::Arc<crate::raw_ids::RawIds>) {
        if let Output::Publish { rules, .. } = self {
            rules.raw_ids = Some(lookup);
        }
    }

    /// Whether this run wrote `table` (false when planning).
    pub fn wrote(&self, table: Table) -> bool {
        matches!(self, Output::Publish { written, .. } if written.iter().any(|(t, _)| *t == table))
    }

    /// The URL of a table this run wrote, to read it back.
    pub fn staged_url(&self, name: &str) -> Option<String> {
        match self {
            Output::Plan => None,
            Output::Publish { publisher, .. } => {
                Some(publisher.staging_file(name).url().to_string())
            }
        }
    }

    /// The written tables, as the commit record lists them.
    pub fn committed(&self) -> Vec<(Table, CommittedTable)> {
        let Output::Publish {
            publisher,
            written,
            files,
            ..
        } = self
        else {
            return vec![];
        };
        let of = |t: Table| files.iter().filter(move |(f, _)| *f == t);
        written
            .iter()
            .map(|(t, s)| {
                let mut committed = publisher.committed_table(t.name(), s);
                committed.files = of(*t).map(|(_, name)| name.clone()).collect();
                (*t, committed)
            })
            .collect()
    }

    /// Writes `batches` as the text file `name` beside `table`'s Parquet file, committed with
    /// it (nothing when planning).
    pub async fn text_file<S>(
        &mut self,
        table: Table,
        name: String,
        format: lifecycle_storage::TextFormat,
        batches: S,
    ) -> Result<()>
    where
        S: futures::Stream<Item = std::result::Result<RecordBatch, ArrowError>> + Unpin,
    {
        let Output::Publish {
            publisher, files, ..
        } = self
        else {
            return Ok(());
        };
        let file = publisher.extra_file(table.name(), &name);
        lifecycle_storage::write_text(&file, format, batches).await?;
        files.push((table, name));
        Ok(())
    }

    /// Writes `sql` to the staging file `name` (with `table`'s schema rules) and registers the
    /// written file as `view`; when planning, only plans it (as `view`, when given).
    async fn sql_file(
        &self,
        q: Query<'_>,
        name: &str,
        table: Option<Table>,
        sql: &str,
        view: Option<&str>,
    ) -> Result<Option<WriteStats>> {
        let Output::Publish {
            publisher, rules, ..
        } = self
        else {
            match view {
                Some(view) => q.register_view(view, sql).await?,
                None => drop(q.plan(sql).await?),
            }
            return Ok(None);
        };
        let began = std::time::Instant::now();
        let stream = q
            .plan(sql)
            .await?
            .execute_stream()
            .await
            .map_err(RunError::engine(q.step))?;
        let schema = match table {
            Some(t) => rules.schema(t, &stream.schema()),
            None => crate::tables::stable_schema(&stream.schema(), &[]),
        };
        let (out_schema, rules) = (schema.clone(), rules.clone());
        let stream = stream.map(move |r| {
            let batch = r.map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
            let columns = match table {
                Some(t) => rules.columns(t, &batch)?,
                None => batch.columns().to_vec(),
            };
            RecordBatch::try_new(out_schema.clone(), columns)
        });
        let file = publisher.staging_file(name);
        let stats = lifecycle_storage::write_parquet(&file, schema, Box::pin(stream)).await?;
        let seconds = began.elapsed().as_secs_f64();
        tracing::debug!(step = q.step, name, rows = stats.rows, seconds, "wrote");
        if let Some(view) = view {
            q.register_parquet(view, file.url().as_str()).await?;
        }
        Ok(Some(stats))
    }
}
