//! Choosing a calibration: Platt scaling ([`Platt`]), isotonic regression ([`Isotonic`]), or
//! `auto`, which cross-validates both on the held-out rows (five interleaved folds, Brier
//! score, since an isotonic map can reach 0 and 1 where log-loss is infinite) and refits the
//! winner on all of them. Both fitted on the same rows, isotonic would always win: it is the
//! best monotone map there, and Platt's is monotone too, so the comparison must be out of fold.

use serde::{Deserialize, Serialize};

use crate::calibrate::Platt;
use crate::isotonic::Isotonic;
use crate::{ModelError, Result};

/// How raw scores become probabilities (`[churn] calibration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CalibrationMethod {
    Platt,
    Isotonic,
    /// The one with the lower cross-validated Brier score on the held-out rows.
    Auto,
}

/// A fitted calibration. Untagged, so models saved before isotonic existed (a bare
/// `{ "a": .., "b": .. }`) still load as Platt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Calibration {
    Platt(Platt),
    Isotonic(Isotonic),
}

/// What a calibration fit records: the method used and, with `auto`, both methods' scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationChoice {
    pub method: String,
    /// With `auto`: each method's cross-validated Brier score, Platt first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cross_validated: Vec<MethodScore>,
    /// With `auto`, why the cross-validation could not run (Platt is used then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One method's out-of-fold Brier score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodScore {
    pub method: String,
    pub brier: f64,
}

/// Folds of the `auto` cross-validation (row `i` is held out in fold `i mod FOLDS`).
pub const FOLDS: usize = 5;

impl Calibration {
    /// `"platt"` or `"isotonic"`.
    pub fn name(&self) -> &'static str {
        self.method().name()
    }

    /// The method that fits this kind of calibration.
    fn method(&self) -> CalibrationMethod {
        match self {
            Calibration::Platt(_) => CalibrationMethod::Platt,
            Calibration::Isotonic(_) => CalibrationMethod::Isotonic,
        }
    }

    /// The calibrated probability of a raw score.
    pub fn apply(&self, score: f64) -> f64 {
        match self {
            Calibration::Platt(p) => p.apply(score),
            Calibration::Isotonic(m) => m.apply(score),
        }
    }

    /// Fits one method (not `Auto`) on raw scores and outcomes.
    fn fit_one(method: CalibrationMethod, score: &[f64], y: &[bool]) -> Result<Calibration> {
        Ok(match method {
            CalibrationMethod::Isotonic => Calibration::Isotonic(Isotonic::fit(score, y)?),
            _ => Calibration::Platt(Platt::fit(score, y)?),
        })
    }
}

impl CalibrationMethod {
    /// `"platt"`, `"isotonic"` or `"auto"`.
    pub fn name(self) -> &'static str {
        match self {
            CalibrationMethod::Platt => "platt",
            CalibrationMethod::Isotonic => "isotonic",
            CalibrationMethod::Auto => "auto",
        }
    }

    /// Fits on held-out raw scores (log-odds) and outcomes; with `Auto`, chooses first.
    pub fn fit(self, score: &[f64], y: &[bool]) -> Result<(Calibration, CalibrationChoice)> {
        let (method, cross_validated, note) = match self {
            CalibrationMethod::Auto => match choose(score, y) {
                Ok((m, scores)) => (m, scores, None),
                Err(e) => (CalibrationMethod::Platt, vec![], Some(e.to_string())),
            },
            m => (m, vec![], None),
        };
        let calibration = Calibration::fit_one(method, score, y)?;
        let choice = CalibrationChoice {
            method: calibration.name().to_string(),
            cross_validated,
            note,
        };
        Ok((calibration, choice))
    }
}

/// The method with the lower out-of-fold Brier score (Platt on a tie), and both scores.
fn choose(score: &[f64], y: &[bool]) -> Result<(CalibrationMethod, Vec<MethodScore>)> {
    let methods = [CalibrationMethod::Platt, CalibrationMethod::Isotonic];
    let mut scores = Vec::with_capacity(2);
    for m in methods {
        scores.push(MethodScore {
            method: m.name().to_string(),
            brier: out_of_fold_brier(m, score, y)?,
        });
    }
    let method = if scores[1].brier < scores[0].brier {
        CalibrationMethod::Isotonic
    } else {
        CalibrationMethod::Platt
    };
    Ok((method, scores))
}

/// Mean squared error of the method's probabilities on each fold, fitted on the others.
fn out_of_fold_brier(method: CalibrationMethod, score: &[f64], y: &[bool]) -> Result<f64> {
    let mut squared = 0.0;
    for fold in 0..FOLDS {
        let (mut s, mut t) = (vec![], vec![]);
        for (i, (si, yi)) in score.iter().zip(y).enumerate() {
            if i % FOLDS != fold {
                s.push(*si);
                t.push(*yi);
            }
        }
        let c = Calibration::fit_one(method, &s, &t).map_err(|e| ModelError::InvalidData {
            what: "calibration set",
            reason: format!("cross-validating {} (fold {fold}): {e}", method.name()),
        })?;
        for (i, (si, yi)) in score.iter().zip(y).enumerate() {
            if i % FOLDS == fold {
                squared += (c.apply(*si) - f64::from(u8::from(*yi))).powi(2);
            }
        }
    }
    Ok(squared / score.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Scores whose true probability follows `truth`.
    fn sample(n: usize, truth: impl Fn(f64) -> f64) -> (Vec<f64>, Vec<bool>) {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let s: Vec<f64> = (0..n).map(|_| rng.gen_range(-4.0..4.0)).collect();
        let y = s.iter().map(|v| rng.r#gen::<f64>() < truth(*v)).collect();
        (s, y)
    }

    #[test]
    fn auto_keeps_platt_when_the_truth_is_logistic() {
        let (s, y) = sample(4000, |v| 1.0 / (1.0 + (-(0.8 * v - 0.5)).exp()));
        let (c, choice) = CalibrationMethod::Auto.fit(&s, &y).unwrap();
        assert_eq!(c.name(), "platt", "{choice:?}");
        assert_eq!(choice.cross_validated.len(), 2);
        assert!(choice.cross_validated[0].brier <= choice.cross_validated[1].brier);
    }

    #[test]
    fn auto_picks_isotonic_when_the_truth_is_a_step() {
        // A step no sigmoid can follow: 10% below 0, 90% above 1, 50% between.
        let step = |v: f64| match v {
            v if v < 0.0 => 0.1,
            v if v < 1.0 => 0.5,
            _ => 0.9,
        };
        let (s, y) = sample(4000, step);
        let (c, choice) = CalibrationMethod::Auto.fit(&s, &y).unwrap();
        assert_eq!(c.name(), "isotonic", "{choice:?}");
        assert!((c.apply(0.5) - 0.5).abs() < 0.06, "{}", c.apply(0.5));
        assert!((c.apply(-3.0) - 0.1).abs() < 0.05, "{}", c.apply(-3.0));
    }

    #[test]
    fn a_bare_platt_from_older_models_still_loads() {
        let c: Calibration = serde_json::from_str(r#"{"a":0.5,"b":-0.1}"#).unwrap();
        assert_eq!(c, Calibration::Platt(Platt { a: 0.5, b: -0.1 }));
        let iso = Calibration::Isotonic(Isotonic::fit(&[1.0, 2.0], &[false, true]).unwrap());
        let back: Calibration =
            serde_json::from_str(&serde_json::to_string(&iso).unwrap()).unwrap();
        assert_eq!(back, iso);
    }

    #[test]
    fn a_fold_without_both_classes_falls_back_to_platt_and_says_why() {
        let s = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [false, false, false, false, false, true];
        let (c, choice) = CalibrationMethod::Auto.fit(&s, &y).unwrap();
        assert_eq!(c.name(), "platt");
        let note = choice.note.unwrap();
        assert!(note.contains("cross-validating platt (fold 0)"), "{note}");
        assert!(CalibrationMethod::Isotonic.fit(&s, &y).is_ok());
    }
}
