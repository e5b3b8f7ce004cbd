//! Property: any spec, however odd its values, is either valid or refused with an error that
//! names the spec file (it does not parse) or the setting at fault, and never panics.

use std::path::Path;

use proptest::prelude::*;

use crate::JobSpec;

const PATH: &str = "/jobs/prop.toml";

fn int() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "-1",
        "0",
        "1",
        "2",
        "3",
        "7",
        "30",
        "36600",
        "36601",
        "4294967295",
        "9223372036854775807",
    ])
    .prop_map(String::from)
}

fn float() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "nan", "inf", "-inf", "0.0", "-0.5", "0.5", "1.0", "1e300", "2",
    ])
    .prop_map(String::from)
}

fn text() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "''",
        "'x'",
        "'s3://b/p/'",
        "'ftp://x/'",
        "'../o'",
        "'memory://m/'",
        "'é'",
        "'a''b'",
        "'ev/'",
        "'ev/out'",
        "'2024-02-30'",
        "'2024-03-01'",
        "'cosine'",
        "'bm25'",
        "'csv'",
    ])
    .prop_map(String::from)
}

/// One `key = value` line for a section: a known key with a value of any kind, or a typo.
fn line(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    let value = prop_oneof![
        int(),
        float(),
        text(),
        Just("true".to_string()),
        prop::collection::vec(int(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        prop::collection::vec(text(), 0..3).prop_map(|v| format!("[{}]", v.join(", "))),
    ];
    let key = prop_oneof![
        9 => prop::sample::select(keys).prop_map(String::from),
        1 => Just("enabeld".to_string()),
    ];
    (key, value).prop_map(|(k, v)| format!("{k} = {v}"))
}

fn section(name: &'static str, keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(line(keys), 0..4)
        .prop_map(move |lines| format!("[{name}]\n{}\n", lines.join("\n")))
}

fn document() -> impl Strategy<Value = String> {
    let sections = (
        section(
            "features",
            &[
                "windows_days",
                "activity_window_days",
                "long_window_days",
                "per_type",
            ],
        ),
        section(
            "quality",
            &["max_bad_fraction", "max_future_hours", "deduplicate"],
        ),
        section(
            "clv",
            &[
                "enabled",
                "period_days",
                "holdout_days",
                "horizons_days",
                "time_unit_days",
                "penalty",
            ],
        ),
        section(
            "churn",
            &[
                "enabled",
                "horizon_days",
                "active_window_days",
                "observation_dates",
                "step_days",
                "models",
            ],
        ),
        section(
            "recommendations",
            &[
                "enabled",
                "window_days",
                "test_days",
                "n",
                "neighbours",
                "half_life_days",
                "similarity",
            ],
        ),
        section("segmentation", &["enabled", "k", "k_range", "features"]),
        section("stages", &["otherwise", "prospect"]),
    );
    let job = prop::collection::vec(line(&["as_of", "lease_seconds"]), 0..2);
    let events = prop::collection::vec(line(&["url", "format", "filter", "partition_key"]), 0..3);
    (job, events, sections).prop_map(|(job, events, s)| {
        format!(
            "[job]\nname = 'p'\noutput = 'out'\n{}\n[events]\nurl = 'ev/'\n{}\n{}{}{}{}{}{}{}",
            job.join("\n"),
            events.join("\n"),
            s.0,
            s.1,
            s.2,
            s.3,
            s.4,
            s.5,
            s.6
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_spec_is_valid_or_names_what_is_wrong(doc in document()) {
        let result = JobSpec::from_toml_str(&doc, Path::new(PATH)).and_then(|s| s.validate());
        if let Err(e) = result {
            let msg = e.to_string();
            prop_assert!(
                msg.contains(PATH) || msg.contains("setting `"),
                "neither the file nor a setting named: {msg}\n{doc}"
            );
        }
    }
}
