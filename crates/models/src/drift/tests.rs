use std::collections::BTreeMap;

use super::*;

#[test]
fn psi_by_hand_with_an_empty_bin_floored() {
    // Ten values, one per decile bin (edges 0.9, 1.8, ..., 8.1).
    let previous: Vec<f64> = (0..10).map(f64::from).collect();
    let b = Baseline::of(&previous);
    let edges: Vec<f64> = (1..10).map(|i| 0.9 * f64::from(i)).collect();
    for (got, want) in b.edges().iter().zip(&edges) {
        assert!((got - want).abs() < 1e-12, "{:?}", b.edges());
    }
    // Half in the first bin, half in the last, eight bins empty.
    let current = [0.0, 0.0, 0.0, 0.0, 0.0, 9.0, 9.0, 9.0, 9.0, 9.0];
    let want = 2.0 * (0.4 * 5f64.ln()) + 8.0 * ((1e-4 - 0.1) * (1e-4f64 / 0.1).ln());
    assert!((b.psi(&current).unwrap() - want).abs() < 1e-12);
}

#[test]
fn ties_merge_edges_and_values_outside_the_range_still_count() {
    let previous = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0];
    let b = Baseline::of(&previous);
    let want = [0.0, 0.4, 1.3, 2.2, 3.1];
    assert_eq!(b.edges().len(), want.len(), "{:?}", b.edges());
    for (got, want) in b.edges().iter().zip(want) {
        assert!((got - want).abs() < 1e-12, "{:?}", b.edges());
    }
    // Bins: below 0 (empty on both sides), six zeros, 1, 2, 3, 4. A current of only 100s all
    // land in the open last bin with the 4.
    let current = [100.0; 10];
    let want = (1.0 - 0.1) * (1.0f64 / 0.1).ln()
        + (1e-4 - 0.6) * (1e-4f64 / 0.6).ln()
        + 3.0 * ((1e-4 - 0.1) * (1e-4f64 / 0.1).ln());
    assert!((b.psi(&current).unwrap() - want).abs() < 1e-12);
}

#[test]
fn nulls_are_counted_apart_and_no_values_is_no_psi() {
    let s = Summary::of(&[1.0, f64::NAN, 3.0, f64::NAN]);
    assert_eq!(s.rows, 4);
    assert_eq!(s.null_share, 0.5);
    assert_eq!(s.mean, Some(2.0));
    assert_eq!(Summary::of(&[f64::NAN]).mean, None);
    assert_eq!(Summary::of(&[]).null_share, 0.0);
    let b = Baseline::of(&[1.0, 2.0, 3.0]);
    assert_eq!(b.psi(&[f64::NAN, f64::NAN]), None);
    assert_eq!(Baseline::of(&[f64::NAN]).psi(&[1.0]), None);
    // Nulls do not move the PSI of the values there are.
    assert!(b.psi(&[1.0, 2.0, 3.0, f64::NAN]).unwrap().abs() < 1e-12);
}

#[test]
fn category_psi_by_hand() {
    let counts = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    let previous = counts(&[("active", 50), ("at_risk", 50)]);
    let current = counts(&[("active", 50), ("churned", 50)]);
    let want = 2.0 * (0.5 - 1e-4) * (0.5f64 / 1e-4).ln();
    assert!((category_psi(&previous, &current).unwrap() - want).abs() < 1e-12);
    assert!(category_psi(&previous, &previous).unwrap().abs() < 1e-12);
    assert_eq!(category_psi(&previous, &BTreeMap::new()), None);
}

/// One case of `fixtures/psi_toad.json` (made by `scripts/reference/psi_toad.py`).
#[derive(serde::Deserialize)]
struct ToadCase {
    case: String,
    reference: Vec<f64>,
    current: Vec<f64>,
    splits: Vec<f64>,
    psi: f64,
}

#[test]
fn psi_equals_toads_on_the_fixture() {
    #[derive(serde::Deserialize)]
    struct Fixture {
        cases: Vec<ToadCase>,
    }
    let text = include_str!("../../fixtures/psi_toad.json");
    let fixture: Fixture = serde_json::from_str(text).unwrap();
    assert_eq!(fixture.cases.len(), 4);
    for c in fixture.cases {
        let b = Baseline::of(&c.reference);
        assert_eq!(b.edges().len(), c.splits.len(), "{}", c.case);
        for (got, want) in b.edges().iter().zip(&c.splits) {
            assert!((got - want).abs() < 1e-9, "{}: {got} vs {want}", c.case);
        }
        let psi = b.psi(&c.current).unwrap();
        assert!(
            (psi - c.psi).abs() < 1e-9,
            "{}: {psi} vs toad {}",
            c.case,
            c.psi
        );
    }
}

proptest::proptest! {
    #[test]
    fn psi_is_zero_for_the_same_values_and_never_negative(
        previous in proptest::collection::vec(-1e6f64..1e6, 1..200),
        current in proptest::collection::vec(-1e6f64..1e6, 1..200),
    ) {
        let b = Baseline::of(&previous);
        proptest::prop_assert!(b.psi(&previous).unwrap().abs() < 1e-9);
        proptest::prop_assert!(b.psi(&current).unwrap() >= -1e-12);
    }
}
