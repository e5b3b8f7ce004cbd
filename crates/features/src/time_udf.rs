//! `lc_to_utc(value, format, timezone, unit)`: every time a user's log can hold, as a UTC
//! microsecond timestamp, or null when the value cannot be read (so the quality step can
//! quarantine it instead of failing the whole run, which is what `to_timestamp` would do).
//!
//! - text: with `format` (a chrono format; date-only formats give midnight), else ISO-8601 /
//!   RFC 3339 (`2024-01-31`, `2024-01-31 08:26:00`, `2024-01-31T08:26:00.5Z`, `...+01:00`);
//! - integers: epoch in `unit` (`seconds`, `milliseconds`, `microseconds`; default seconds);
//! - timestamps and dates: as they are;
//! - zone-less values are read in `timezone` (IANA name; default UTC).

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit as ArrowUnit};
use datafusion::common::{DataFusionError, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The SQL name of the function.
pub const TO_UTC: &str = "lc_to_utc";

/// The return type: UTC microseconds, the contract's `event_time` type.
pub fn utc_micros() -> DataType {
    DataType::Timestamp(ArrowUnit::Microsecond, Some("UTC".into()))
}

/// The UDF, to register on a session.
pub fn to_utc_udf() -> ScalarUDF {
    ScalarUDF::from(ToUtc {
        signature: Signature::any(4, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ToUtc {
    signature: Signature,
}

impl ScalarUDFImpl for ToUtc {
    fn name(&self) -> &str {
        TO_UTC
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(utc_micros())
    }
    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let [value, format, tz, unit] = args.args.as_slice() else {
            return exec_err!("{TO_UTC} takes 4 arguments");
        };
        let format = scalar_text(format, "format")?;
        let tz: Tz = match scalar_text(tz, "timezone")? {
            None => Tz::UTC,
            Some(s) => s
                .parse()
                .map_err(|_| DataFusionError::Execution(format!("unknown time zone `{s}`")))?,
        };
        let per_unit: i64 = match scalar_text(unit, "unit")?.as_deref() {
            None | Some("seconds") => 1_000_000,
            Some("milliseconds") => 1_000,
            Some("microseconds") => 1,
            Some(other) => return exec_err!("unknown epoch unit `{other}`"),
        };
        let array = value.to_array(args.number_rows)?;
        let out = convert(&array, format.as_deref(), tz, per_unit)?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

fn scalar_text(v: &ColumnarValue, what: &str) -> datafusion::common::Result<Option<String>> {
    match v {
        ColumnarValue::Scalar(ScalarValue::Null) => Ok(None),
        ColumnarValue::Scalar(s) => match s {
            ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
                Ok(v.clone())
            }
            other => exec_err!("{TO_UTC}: {what} must be text, got {other:?}"),
        },
        ColumnarValue::Array(_) => exec_err!("{TO_UTC}: {what} must be a constant"),
    }
}

fn local_to_micros(tz: Tz, t: NaiveDateTime) -> Option<i64> {
    tz.from_local_datetime(&t)
        .earliest()
        .map(|d| d.timestamp_micros())
}

fn parse_text(s: &str, format: Option<&str>, tz: Tz) -> Option<i64> {
    let s = s.trim();
    if let Some(f) = format {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return local_to_micros(tz, t);
        }
        if let Ok(d) = DateTime::parse_from_str(s, f) {
            return Some(d.timestamp_micros());
        }
        return NaiveDate::parse_from_str(s, f)
            .ok()
            .and_then(|d| local_to_micros(tz, d.and_hms_opt(0, 0, 0)?));
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_micros());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return local_to_micros(tz, t);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| local_to_micros(tz, d.and_hms_opt(0, 0, 0)?))
}

fn convert(
    array: &ArrayRef,
    format: Option<&str>,
    tz: Tz,
    per_unit: i64,
) -> datafusion::common::Result<TimestampMicrosecondArray> {
    let out: TimestampMicrosecondArray = match array.data_type() {
        DataType::Null => TimestampMicrosecondArray::new_null(array.len()),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let strings = cast(array, &DataType::Utf8)?;
            strings
                .as_string::<i32>()
                .iter()
                .map(|v| v.and_then(|s| parse_text(s, format, tz)))
                .collect()
        }
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => {
            let ints = cast(array, &DataType::Int64)?;
            ints.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .iter()
                .map(|v| v.and_then(|x| x.checked_mul(per_unit)))
                .collect()
        }
        DataType::Timestamp(_, zone) => {
            let micros = cast(
                array,
                &DataType::Timestamp(ArrowUnit::Microsecond, zone.clone()),
            )?;
            let micros =
                micros.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
            if zone.is_some() {
                // Already an instant: only the zone it is shown in changes.
                micros.clone()
            } else {
                micros
                    .iter()
                    .map(|v| {
                        v.and_then(|x| {
                            let naive = DateTime::from_timestamp_micros(x)?.naive_utc();
                            local_to_micros(tz, naive)
                        })
                    })
                    .collect()
            }
        }
        DataType::Date32 | DataType::Date64 => {
            let days = cast(array, &DataType::Date32)?;
            days.as_primitive::<datafusion::arrow::datatypes::Date32Type>()
                .iter()
                .map(|v| {
                    v.and_then(|d| {
                        let date = NaiveDate::from_num_days_from_ce_opt(d + 719_163)?;
                        local_to_micros(tz, date.and_hms_opt(0, 0, 0)?)
                    })
                })
                .collect()
        }
        other => return exec_err!("{TO_UTC}: cannot read a time from {other}"),
    };
    Ok(out.with_timezone("UTC"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};

    fn micros(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros()
    }

    #[test]
    fn text_forms() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("2024-01-31"),
            Some("2024-01-31 08:26:00"),
            Some("2024-01-31T08:26:00.5Z"),
            Some("2024-01-31T09:26:00+01:00"),
            Some("not a time"),
            None,
        ]));
        let out = convert(&a, None, Tz::UTC, 1).unwrap();
        assert_eq!(out.value(0), micros("2024-01-31T00:00:00Z"));
        assert_eq!(out.value(1), micros("2024-01-31T08:26:00Z"));
        assert_eq!(out.value(2), micros("2024-01-31T08:26:00.5Z"));
        assert_eq!(out.value(3), micros("2024-01-31T08:26:00Z"));
        assert!(out.is_null(4) && out.is_null(5));
    }

    #[test]
    fn formats_and_zones() {
        let a: ArrayRef = Arc::new(StringArray::from(vec!["19970101", "2011-06-01 12:00:00"]));
        let out = convert(&a, Some("%Y%m%d"), Tz::UTC, 1).unwrap();
        assert_eq!(out.value(0), micros("1997-01-01T00:00:00Z"));
        assert!(out.is_null(1));
        // British Summer Time: 12:00 in London is 11:00 UTC in June.
        let out = convert(&a, Some("%Y-%m-%d %H:%M:%S"), chrono_tz::Europe::London, 1).unwrap();
        assert_eq!(out.value(1), micros("2011-06-01T11:00:00Z"));
    }

    #[test]
    fn epochs() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(1_706_659_200), None]));
        let out = convert(&a, None, Tz::UTC, 1_000_000).unwrap();
        assert_eq!(out.value(0), micros("2024-01-31T00:00:00Z"));
        assert!(out.is_null(1));
    }
}
