//! `lc_row_hash(a, b, ...)`: one hash of a row's values, DataFusion's own multi-column hash (the
//! one its joins and Ballista's shuffles use) with a fixed seed, so the client and every
//! executor compute the same value. 63 bits, a non-negative BIGINT, so a hash is an SQL literal
//! as it is. Equal rows always hash equal (nulls included); unequal rows may collide, so a hash
//! only ever nominates rows for an exact comparison.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::exec_err;
use datafusion::common::hash_utils::{RandomState, create_hashes};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The SQL name of the function.
pub const ROW_HASH: &str = "lc_row_hash";

/// The seed: fixed, so a hash means the same in every process of a run.
const SEED: u64 = 0x6c69_6665_6379_636c;

/// The UDF, to register on a session.
pub fn row_hash_udf() -> ScalarUDF {
    ScalarUDF::from(RowHash {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

/// The hashes of `columns` (equal lengths), row by row. Numbers SQL holds equal hash equal:
/// `-0.0` as `0.0`, every NaN as one (a grouping puts them together).
pub fn hash_rows(columns: &[ArrayRef], rows: usize) -> datafusion::common::Result<Vec<i64>> {
    let columns: Vec<ArrayRef> = columns.iter().map(canonical).collect();
    let mut hashes = vec![0; rows];
    create_hashes(&columns, &RandomState::with_seed(SEED), &mut hashes)?;
    Ok(hashes.into_iter().map(|h| (h >> 1) as i64).collect())
}

fn canonical(column: &ArrayRef) -> ArrayRef {
    let Some(numbers) = column.as_primitive_opt::<Float64Type>() else {
        return column.clone();
    };
    let same = |v: f64| match v {
        v if v.is_nan() => f64::NAN,
        0.0 => 0.0,
        v => v,
    };
    Arc::new(numbers.unary::<_, Float64Type>(same))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RowHash {
    signature: Signature,
}

impl ScalarUDFImpl for RowHash {
    fn name(&self) -> &str {
        ROW_HASH
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        if args.args.is_empty() {
            return exec_err!("{ROW_HASH} needs at least one value");
        }
        let rows = args.number_rows;
        let columns = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        let hashes = hash_rows(&columns, rows)?;
        Ok(ColumnarValue::Array(Arc::new(Int64Array::from(hashes))))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Float64Array, StringArray};
    use datafusion::arrow::datatypes::Int64Type;

    use super::*;
    use crate::new_session;

    #[test]
    fn equal_rows_hash_equal_and_each_column_counts() {
        let users: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            Some("a"),
            Some("b"),
            None,
        ]));
        let amounts: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1.0),
            Some(1.0),
            Some(1.0),
            None,
        ]));
        let h = hash_rows(&[users.clone(), amounts], 4).unwrap();
        assert_eq!(h[0], h[1]);
        assert_ne!(h[0], h[2], "a different user");
        let other: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(2.0),
            Some(1.0),
            Some(1.0),
            None,
        ]));
        let g = hash_rows(&[users, other], 4).unwrap();
        assert_ne!(g[0], h[0], "a different amount");
        assert_eq!(g[3], h[3], "nulls hash alike");
        assert!(h.iter().chain(&g).all(|&x| x >= 0), "a non-negative BIGINT");
        let zeros: ArrayRef = Arc::new(Float64Array::from(vec![0.0, -0.0, f64::NAN, -f64::NAN]));
        let z = hash_rows(&[zeros], 4).unwrap();
        assert_eq!((z[0], z[2]), (z[1], z[3]), "equal in SQL, equal hashes");
    }

    #[tokio::test]
    async fn the_sql_function_is_the_same_hash() {
        let ctx = new_session();
        let batches = ctx
            .sql("SELECT lc_row_hash('a', CAST(1.0 AS DOUBLE)) AS h")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let users: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
        let amounts: ArrayRef = Arc::new(Float64Array::from(vec![1.0]));
        let want = hash_rows(&[users, amounts], 1).unwrap()[0];
        assert_eq!(
            batches[0].column(0).as_primitive::<Int64Type>().value(0),
            want
        );
    }
}
