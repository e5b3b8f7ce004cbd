//! Written files hold strings as plain `Utf8`, whatever the engine computed them as: queries
//! over the events work on string views (`Utf8View`, faster to scan and group), every reader
//! of our files takes `Utf8`, and the published bytes must not depend on the engine's choice.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::error::ArrowError;

/// `t` with every string view (also inside lists and structs) as `Utf8`.
fn plain_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::List(f) => DataType::List(plain_field(f)),
        DataType::LargeList(f) => DataType::LargeList(plain_field(f)),
        DataType::Struct(fs) => DataType::Struct(fs.iter().map(plain_field).collect()),
        other => other.clone(),
    }
}

fn plain_field(f: &FieldRef) -> FieldRef {
    Arc::new(f.as_ref().clone().with_data_type(plain_type(f.data_type())))
}

/// `schema` with every string view as `Utf8` (metadata kept).
pub(crate) fn plain_schema(schema: &SchemaRef) -> SchemaRef {
    if !schema.fields().iter().any(|f| has_view(f.data_type())) {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(plain_type(f.data_type())))
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` with every string view column cast to `Utf8`, as [`plain_schema`] says.
pub(crate) fn plain_batch(batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let plain = plain_schema(&schema);
    if Arc::ptr_eq(&plain, &schema) {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(plain.fields())
        .map(|(c, f)| match c.data_type() == f.data_type() {
            true => Ok(c.clone()),
            false => cast(c, f.data_type()),
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    RecordBatch::try_new(plain, columns)
}

fn has_view(t: &DataType) -> bool {
    plain_type(t) != *t
}

#[cfg(test)]
mod tests {
    use arrow::array::{
        Array, AsArray, Int32Array, ListBuilder, StringViewArray, StringViewBuilder,
    };

    use super::*;

    #[test]
    fn views_become_plain_strings_with_the_same_values() {
        let mut items = ListBuilder::new(StringViewBuilder::new());
        items.values().append_value("a");
        items.append(true);
        items.append(false);
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8View, true),
            Field::new("n", DataType::Int32, false),
            Field::new(
                "items",
                DataType::List(Arc::new(Field::new_list_field(DataType::Utf8View, true))),
                true,
            ),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringViewArray::from(vec![
                Some("a long id past twelve bytes"),
                None,
            ])),
            Arc::new(Int32Array::from(vec![1, 2])),
            Arc::new(items.finish()),
        ];
        let batch = plain_batch(RecordBatch::try_new(schema, columns).unwrap()).unwrap();
        let s = batch.schema();
        assert_eq!(s.field(0).data_type(), &DataType::Utf8);
        assert_eq!(s.field(1).data_type(), &DataType::Int32);
        let ids: Vec<_> = batch.column(0).as_string::<i32>().iter().collect();
        assert_eq!(ids, [Some("a long id past twelve bytes"), None]);
        let list = batch.column(2).as_list::<i32>();
        assert_eq!(list.value(0).as_string::<i32>().value(0), "a");
        assert!(list.is_null(1));
    }

    #[test]
    fn a_schema_without_views_is_the_same_schema() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, true)]));
        assert!(Arc::ptr_eq(&plain_schema(&schema), &schema));
    }
}
