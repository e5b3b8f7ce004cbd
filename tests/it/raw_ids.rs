//! `[privacy] publish_raw_ids`: with keyed ids, the activation tables carry each key's raw id
//! beside it, and no other table holds a raw id.

use arrow::array::AsArray;
use lifecycle_features::pseudonym::IdKey;

use crate::common::*;
use crate::privacy::{KEY, VAR, demo_log, demo_spec, files_holding, manifest, raw_ids, run_binary};

const ACTIVATION: [&str; 7] = [
    "user_profile",
    "audience_members",
    "audience_suppressions",
    "audience_changes",
    "assignments",
    "uplift_scores",
    "contact_plan",
];

/// An experiment over the demo's `welcome` audience from the first run date: `assignments`
/// is written on both dates.
const EXPERIMENT: &str = "[[experiments]]\nname = \"hello\"\naudience = \"welcome\"\n\
    arms = [{ name = \"control\", weight = 0.5 }, { name = \"treatment\", weight = 0.5 }]\n\
    control = \"control\"\nstart = \"2024-06-22\"\nwindow_days = 7\n";

#[test]
fn raw_ids_go_beside_the_keys_of_the_activation_tables_only() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_log(dir.path());
    let privacy = format!("id_key_env = \"{VAR}\"\npublish_raw_ids = true\n{EXPERIMENT}");
    let spec = demo_spec(&demo, "raw.toml", "raw", "data", &privacy);
    for date in ["2024-06-22", "2024-06-29"] {
        let (code, err) = run_binary(&spec, date, Some(KEY));
        assert_eq!(code, 0, "{date}: {err}");
    }
    let out = demo.join("raw");
    let key = IdKey::new(KEY.as_bytes());
    // The uplift tables need a finished experiment with purchases in both arms: not here.
    for table in &ACTIVATION[..5] {
        let t = Table::read(&out, table, "2024-06-29");
        let names: Vec<String> = t
            .batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let at = names.iter().position(|n| n == "user_key").expect(table);
        assert_eq!(names[at + 1], "user_id", "{table}: {names:?}");
        let (keys, raw) = (t.strings("user_key"), t.strings("user_id"));
        assert!(!keys.is_empty(), "{table} has rows");
        for (k, r) in keys.iter().zip(&raw) {
            let r = r
                .as_deref()
                .unwrap_or_else(|| panic!("{table}: no raw id for {k:?}"));
            assert_eq!(k.as_deref(), Some(key.user_key(r).as_str()), "{table}");
        }
    }
    let csv =
        std::fs::read_to_string(out.join("user_profile/run_date=2024-06-29/part-0.csv")).unwrap();
    assert!(csv.starts_with("user_key,user_id,"), "{}", &csv[..80]);

    // Every other file (tables, exports, reports, manifests) holds keys only.
    let raw = raw_ids(&demo.join("data/users.parquet"));
    let leaks: Vec<_> = files_holding(&out, &raw)
        .into_iter()
        .filter(|(path, _)| {
            !ACTIVATION
                .iter()
                .any(|t| path.to_string_lossy().contains(&format!("/{t}/")))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "raw ids outside the activation tables: {leaks:?}"
    );
    let m = manifest(&out, "2024-06-29");
    assert_eq!(m["privacy"]["raw_id_tables"], serde_json::json!(ACTIVATION));

    // The second run read the first one's assignments back by their keys: every one kept.
    let arms = |date: &str| {
        let t = Table::read(&out, "assignments", date);
        let pairs = t.strings("user_key").into_iter().zip(t.strings("arm"));
        pairs.collect::<std::collections::BTreeSet<_>>()
    };
    let (first, second) = (arms("2024-06-22"), arms("2024-06-29"));
    assert!(!first.is_empty() && first.is_subset(&second), "{first:?}");

    // The second run read the first one's members back by their keys.
    let members = Table::read(&out, "audience_members", "2024-06-29");
    let since = arrow::compute::cast(
        members.batch.column_by_name("entered_on").unwrap(),
        &arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    assert!(
        since
            .as_string::<i32>()
            .iter()
            .any(|d| d == Some("2024-06-22")),
        "members kept since the first run"
    );
}
