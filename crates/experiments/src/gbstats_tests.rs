//! The readout against GrowthBook's gbstats on the fixture that
//! `scripts/reference/experiments_gbstats.py` wrote (`fixtures/gbstats.json`): every estimate,
//! interval end and p-value to 1e-6, and the sample-ratio-mismatch p-values.

use serde_json::Value;

use crate::readout::{Estimate, compare};
use crate::sample::{Kind, Paired};
use crate::srm::srm_p_value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/gbstats.json")).expect("fixture parses")
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

fn arm(case: &Value, name: &str, kind: Kind) -> Paired {
    let post = numbers(&case[name]["post"]);
    let pre = numbers(&case[name]["pre"]);
    let pairs: Vec<(f64, f64)> = post.into_iter().zip(pre).collect();
    Paired::of(kind, &pairs)
}

fn close(what: &str, got: f64, expected: f64) {
    assert!(
        (got - expected).abs() < 1e-6,
        "{what}: {got} vs gbstats {expected}"
    );
}

fn check(what: &str, got: Option<Estimate>, expected: &Value) {
    let got = got.unwrap_or_else(|| panic!("{what}: no result"));
    close(
        &format!("{what} lift"),
        got.lift,
        expected["estimate"].as_f64().unwrap(),
    );
    let ci = numbers(&expected["ci"]);
    close(&format!("{what} ci low"), got.ci_low, ci[0]);
    close(&format!("{what} ci high"), got.ci_high, ci[1]);
    close(
        &format!("{what} p"),
        got.p_value,
        expected["p_value"].as_f64().unwrap(),
    );
    close(
        &format!("{what} variance"),
        got.variance,
        expected["variance"].as_f64().unwrap(),
    );
}

#[test]
fn readouts_match_gbstats() {
    let f = fixture();
    for case in f["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let kind = match case["kind"].as_str().unwrap() {
            "proportion" => Kind::Proportion,
            _ => Kind::Mean,
        };
        let c = compare(&arm(case, "control", kind), &arm(case, "treatment", kind));
        let r = &case["results"];
        check(&format!("{name} absolute"), c.absolute, &r["absolute"]);
        check(&format!("{name} relative"), c.relative, &r["relative"]);
        check(
            &format!("{name} CUPED absolute"),
            c.cuped_absolute,
            &r["absolute_cuped"],
        );
        check(
            &format!("{name} CUPED relative"),
            c.cuped_relative,
            &r["relative_cuped"],
        );
        close(
            &format!("{name} theta"),
            c.theta,
            r["absolute_cuped"]["theta"].as_f64().unwrap(),
        );
        let reduction = c.variance_reduction.unwrap();
        assert!(reduction > 0.0 && reduction < 1.0, "{name}: {reduction}");
    }
}

#[test]
fn sample_ratio_checks_match_gbstats() {
    for case in fixture()["srm"].as_array().unwrap() {
        let users: Vec<u64> = numbers(&case["users"]).iter().map(|u| *u as u64).collect();
        let weights = numbers(&case["weights"]);
        close(
            &format!("srm {users:?}"),
            srm_p_value(&users, &weights),
            case["p_value"].as_f64().unwrap(),
        );
    }
}
