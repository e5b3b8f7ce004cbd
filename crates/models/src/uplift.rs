//! Uplift models: from a randomised experiment's features, outcomes and arms, who the
//! treatment changes. Two meta-learners over the classifiers already here:
//! - two-model (T-learner): one classifier on the treated users, one on the control users;
//!   uplift = P(y | x, treated) − P(y | x, control);
//! - class transformation (Jaskowski and Jaroszewicz 2012): one classifier of
//!   Z = y·t + (1 − y)(1 − t), with the arms weighted to equal size; uplift = 2·P(Z | x) − 1.
//!
//! Start from [`UpliftParams::fit`].

use serde::{Deserialize, Serialize};

use crate::gbdt::GbdtParams;
use crate::logistic::{LogisticParams, sigmoid};
use crate::scale::Scaler;
use crate::{Classifier, Matrix, ModelError, Result};

/// The meta-learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpliftMethod {
    TwoModel,
    ClassTransformation,
}

/// The classifier under it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BaseLearner {
    Logistic(LogisticParams),
    Gbdt(GbdtParams),
}

/// What to fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpliftParams {
    pub method: UpliftMethod,
    pub learner: BaseLearner,
}

/// A fitted uplift model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpliftModel {
    pub method: UpliftMethod,
    pub scaler: Scaler,
    /// Two-model: the treated users' classifier then the control users'; class
    /// transformation: the one classifier of Z.
    pub classifiers: Vec<Classifier>,
}

/// The rows of `x` where `keep` holds, with their outcomes.
fn subset(x: &Matrix, y: &[bool], keep: impl Fn(usize) -> bool) -> Result<(Matrix, Vec<bool>)> {
    let rows: Vec<usize> = (0..x.rows).filter(|&i| keep(i)).collect();
    let data = rows
        .iter()
        .flat_map(|&i| x.row(i).iter().copied())
        .collect();
    Ok((
        Matrix::new(rows.len(), x.cols, data)?,
        rows.iter().map(|&i| y[i]).collect(),
    ))
}

impl UpliftParams {
    /// Fits on raw features `x` (columns `names`), outcomes `y` and arms `treated`.
    pub fn fit(
        &self,
        x: &Matrix,
        names: &[String],
        y: &[bool],
        treated: &[bool],
    ) -> Result<UpliftModel> {
        if y.len() != x.rows || treated.len() != x.rows {
            return Err(ModelError::Shape {
                what: "uplift outcomes and arms",
                expected: x.rows,
                found: y.len().min(treated.len()),
            });
        }
        let scaler = Scaler::fit(x, names)?;
        let classifiers = match self.method {
            UpliftMethod::TwoModel => {
                let (xt, yt) = subset(x, y, |i| treated[i])?;
                let (xc, yc) = subset(x, y, |i| !treated[i])?;
                vec![
                    self.classifier(&scaler, &xt, &yt, None)?,
                    self.classifier(&scaler, &xc, &yc, None)?,
                ]
            }
            UpliftMethod::ClassTransformation => {
                let z: Vec<bool> = y.iter().zip(treated).map(|(y, t)| y == t).collect();
                let share = treated.iter().filter(|t| **t).count() as f64 / x.rows.max(1) as f64;
                let w: Vec<f64> = treated
                    .iter()
                    .map(|&t| if t { 0.5 / share } else { 0.5 / (1.0 - share) })
                    .collect();
                vec![self.classifier(&scaler, x, &z, Some(&w))?]
            }
        };
        Ok(UpliftModel {
            method: self.method,
            scaler,
            classifiers,
        })
    }

    fn classifier(
        &self,
        scaler: &Scaler,
        x: &Matrix,
        y: &[bool],
        w: Option<&[f64]>,
    ) -> Result<Classifier> {
        Ok(match self.learner {
            BaseLearner::Logistic(p) => Classifier::Logistic(p.fit(&scaler.transform(x)?, y, w)?),
            BaseLearner::Gbdt(p) => Classifier::Gbdt(p.fit(x, y, w, None)?),
        })
    }
}

impl UpliftModel {
    /// The predicted uplift of each row of raw features.
    pub fn uplift(&self, x: &Matrix) -> Result<Vec<f64>> {
        let proba = |c: &Classifier| -> Result<Vec<f64>> {
            let scores = crate::churn::raw_scores(c, &self.scaler, x)?;
            Ok(scores.into_iter().map(sigmoid).collect())
        };
        Ok(match self.method {
            UpliftMethod::TwoModel => {
                let (t, c) = (proba(&self.classifiers[0])?, proba(&self.classifiers[1])?);
                t.iter().zip(&c).map(|(t, c)| t - c).collect()
            }
            UpliftMethod::ClassTransformation => proba(&self.classifiers[0])?
                .into_iter()
                .map(|p| 2.0 * p - 1.0)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Users with two features; the treatment adds 0.25 to the purchase probability where
    /// the first feature is above 0.5 and nothing elsewhere (the planted uplift), and the
    /// second feature moves the baseline only.
    fn experiment(n: usize, seed: u64) -> (Matrix, Vec<bool>, Vec<bool>, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut data, mut y, mut t, mut truth) = (vec![], vec![], vec![], vec![]);
        for _ in 0..n {
            let (a, b): (f64, f64) = (rng.r#gen(), rng.r#gen());
            let treated = rng.r#gen::<f64>() < 0.5;
            let effect = if a > 0.5 { 0.25 } else { 0.0 };
            let p = 0.1 + 0.3 * b + if treated { effect } else { 0.0 };
            data.extend([a, b]);
            y.push(rng.r#gen::<f64>() < p);
            t.push(treated);
            truth.push(effect);
        }
        (Matrix::new(n, 2, data).unwrap(), y, t, truth)
    }

    #[test]
    fn every_learner_ranks_the_planted_uplift_first() {
        let names = vec!["a".to_string(), "b".to_string()];
        let (x, y, t, _) = experiment(8_000, 1);
        let (test, _, _, truth) = experiment(2_000, 2);
        let gbdt = GbdtParams {
            max_trees: 60,
            max_depth: 3,
            ..GbdtParams::default()
        };
        for method in [UpliftMethod::TwoModel, UpliftMethod::ClassTransformation] {
            for learner in [
                BaseLearner::Logistic(LogisticParams::default()),
                BaseLearner::Gbdt(gbdt),
            ] {
                let model = UpliftParams { method, learner }
                    .fit(&x, &names, &y, &t)
                    .unwrap();
                let scores = model.uplift(&test).unwrap();
                let mut order: Vec<usize> = (0..scores.len()).collect();
                order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
                let top: f64 = order[..200].iter().map(|&i| truth[i]).sum::<f64>() / 200.0;
                let mean = truth.iter().sum::<f64>() / truth.len() as f64;
                assert!(
                    top > 1.6 * mean,
                    "{method:?} {learner:?}: top decile {top}, mean {mean}"
                );
            }
        }
    }
}
