//! Small cells (`[privacy] min_cell_size = k`): an aggregate table publishes no cell counted from
//! fewer than k users. Such a row keeps its keys (stage, cohort, step, cluster), its numbers are
//! null and `suppressed` is true; with k = 1 every row has `suppressed` false. Applied to the
//! batches as they are written, so every writer and reader downstream sees the same cells.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch};
use datafusion::arrow::compute::{cast, nullif};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;

/// The flag column every aggregate table ends with.
pub(crate) const SUPPRESSED: &str = "suppressed";

/// Which columns of an aggregate table count users, and which hold numbers computed from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CellRule {
    pub counts: &'static [&'static str],
    pub numbers: Numbers,
}

/// The columns a suppressed cell loses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Numbers {
    Only(&'static [&'static str]),
    /// Every column but these keys (tables whose number columns follow the spec).
    AllBut(&'static [&'static str]),
}

impl Numbers {
    fn contains(self, column: &str) -> bool {
        match self {
            Numbers::Only(names) => names.contains(&column),
            Numbers::AllBut(keys) => !keys.contains(&column),
        }
    }
}

/// `schema` with the `suppressed` column.
pub(crate) fn with_flag(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(SUPPRESSED, DataType::Boolean, false));
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` with the rows counted from fewer than `k` users suppressed, and the flag column.
pub(crate) fn suppress(
    batch: &RecordBatch,
    rule: CellRule,
    k: u64,
) -> Result<Vec<ArrayRef>, ArrowError> {
    let small = small_cells(batch, rule, k)?;
    let schema = batch.schema();
    let mut columns = vec![];
    for (f, column) in schema.fields().iter().zip(batch.columns()) {
        columns.push(match rule.numbers.contains(f.name()) {
            true => nullif(column, &small)?,
            false => column.clone(),
        });
    }
    columns.push(Arc::new(small));
    Ok(columns)
}

/// Per row: whether any count column is below `k` (never with k = 1; a null count is not).
fn small_cells(batch: &RecordBatch, rule: CellRule, k: u64) -> Result<BooleanArray, ArrowError> {
    let mut small = vec![false; batch.num_rows()];
    if k <= 1 {
        return Ok(BooleanArray::from(small));
    }
    for name in rule.counts {
        let Some(column) = batch.column_by_name(name) else {
            continue;
        };
        let counts = cast(column, &DataType::Int64)?;
        let counts = counts
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("cast to Int64 gives an Int64Array");
        for (i, n) in counts.iter().enumerate() {
            small[i] |= n.is_some_and(|n| (n as i128) < k as i128);
        }
    }
    Ok(BooleanArray::from(small))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, Float64Array, StringArray};
    use datafusion::arrow::datatypes::{Float64Type, Int64Type};

    use super::*;

    fn cells() -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            (
                "stage",
                Arc::new(StringArray::from(vec!["a", "b", "c"])) as ArrayRef,
            ),
            (
                "users",
                Arc::new(Int64Array::from(vec![10, 4, 5])) as ArrayRef,
            ),
            (
                "rate",
                Arc::new(Float64Array::from(vec![0.1, 0.2, 0.3])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    const RULE: CellRule = CellRule {
        counts: &["users"],
        numbers: Numbers::AllBut(&["stage"]),
    };

    #[test]
    fn cells_below_k_lose_their_numbers_and_keep_their_keys() {
        let c = suppress(&cells(), RULE, 5).unwrap();
        assert_eq!(c[0].as_string::<i32>().value(1), "b", "keys stay");
        let users = c[1].as_primitive::<Int64Type>();
        assert_eq!(users.iter().collect::<Vec<_>>(), [Some(10), None, Some(5)]);
        let rate = c[2].as_primitive::<Float64Type>();
        assert_eq!(
            rate.iter().collect::<Vec<_>>(),
            [Some(0.1), None, Some(0.3)]
        );
        let flag = c[3].as_boolean();
        assert_eq!(
            flag.iter().collect::<Vec<_>>(),
            [Some(false), Some(true), Some(false)]
        );
    }

    #[test]
    fn k_of_one_suppresses_nothing_not_even_empty_cells() {
        let mut batch = cells();
        batch = RecordBatch::try_new(
            batch.schema(),
            vec![
                batch.column(0).clone(),
                Arc::new(Int64Array::from(vec![0, 1, 2])),
                batch.column(2).clone(),
            ],
        )
        .unwrap();
        let c = suppress(&batch, RULE, 1).unwrap();
        assert_eq!(c[1].null_count() + c[2].null_count(), 0);
        assert!(c[3].as_boolean().iter().all(|f| f == Some(false)));
    }
}
