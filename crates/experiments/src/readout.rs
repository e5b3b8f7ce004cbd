//! One arm against the control, as gbstats' frequentist engine reads it out: a two-sided Welch
//! t-test (`TwoSidedTTest`) of the absolute lift and of the relative lift (delta method), and
//! the same with CUPED, the metric adjusted by its pre-assignment value with one coefficient
//! pooled over both arms (`RegressionAdjustedStatistic`, `compute_theta`).

use crate::dist::{t_quantile, t_two_sided_p};
use crate::sample::{Paired, Sample};

/// The confidence level of every interval.
pub const CONFIDENCE: f64 = 0.95;

/// What a t-test needs of one arm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmStatistic {
    pub n: u64,
    /// The mean, CUPED-adjusted or not.
    pub mean: f64,
    /// The mean before adjustment: the relative lift's denominator.
    pub unadjusted_mean: f64,
    pub variance: f64,
}

impl ArmStatistic {
    /// Without adjustment.
    pub fn plain(s: &Sample) -> ArmStatistic {
        ArmStatistic {
            n: s.n,
            mean: s.mean(),
            unadjusted_mean: s.mean(),
            variance: s.variance(),
        }
    }

    /// Adjusted by `theta` times the pre-assignment metric.
    pub fn adjusted(p: &Paired, theta: f64) -> ArmStatistic {
        ArmStatistic {
            n: p.post.n,
            mean: p.post.mean() - theta * p.pre.mean(),
            unadjusted_mean: p.post.mean(),
            variance: p.post.variance() + theta * theta * p.pre.variance()
                - 2.0 * theta * p.covariance(),
        }
    }
}

/// Absolute (treatment − control) or relative ((treatment − control) / control) lift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Difference {
    Absolute,
    Relative,
}

/// A lift with its interval and p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub lift: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    /// The variance of `lift`.
    pub variance: f64,
}

/// The two-sided Welch t-test of `treatment` against `control`; None where gbstats gives no
/// result (a control mean of 0, or an arm without variance).
pub fn t_test(control: &ArmStatistic, treatment: &ArmStatistic, d: Difference) -> Option<Estimate> {
    let (a, b) = (control, treatment);
    if a.mean == 0.0 || a.unadjusted_mean == 0.0 || a.variance <= 0.0 || b.variance <= 0.0 {
        return None;
    }
    let (na, nb) = (a.n as f64, b.n as f64);
    let (lift, variance) = match d {
        Difference::Absolute => (b.mean - a.mean, b.variance / nb + a.variance / na),
        Difference::Relative => (
            (b.mean - a.mean) / a.unadjusted_mean,
            b.variance / (a.unadjusted_mean.powi(2) * nb)
                + a.variance * b.unadjusted_mean.powi(2) / (a.unadjusted_mean.powi(4) * na),
        ),
    };
    let dof = welch_dof(a, b);
    let width = t_quantile(1.0 - (1.0 - CONFIDENCE) / 2.0, dof) * variance.sqrt();
    Some(Estimate {
        lift,
        ci_low: lift - width,
        ci_high: lift + width,
        p_value: t_two_sided_p(lift / variance.sqrt(), dof),
        variance,
    })
}

/// The Welch–Satterthwaite degrees of freedom.
fn welch_dof(a: &ArmStatistic, b: &ArmStatistic) -> f64 {
    let (na, nb) = (a.n as f64, b.n as f64);
    (b.variance / nb + a.variance / na).powi(2)
        / (b.variance.powi(2) / (nb * nb * (nb - 1.0))
            + a.variance.powi(2) / (na * na * (na - 1.0)))
}

/// The CUPED coefficient pooled over both arms: cov(post, pre) / var(pre), or 0 when either
/// has no variance (then the adjusted readout is the plain one).
pub fn theta(control: &Paired, treatment: &Paired) -> f64 {
    let joint = control.joined(treatment);
    if joint.pre.variance() == 0.0 || joint.post.variance() == 0.0 {
        return 0.0;
    }
    joint.covariance() / joint.pre.variance()
}

/// Everything a readout reports of one arm against the control.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub absolute: Option<Estimate>,
    pub relative: Option<Estimate>,
    pub cuped_absolute: Option<Estimate>,
    pub cuped_relative: Option<Estimate>,
    pub theta: f64,
    /// 1 − the adjusted absolute lift's variance over the plain one's.
    pub variance_reduction: Option<f64>,
}

/// `treatment` against `control`, plain and with CUPED.
pub fn compare(control: &Paired, treatment: &Paired) -> Comparison {
    let (a, b) = (
        ArmStatistic::plain(&control.post),
        ArmStatistic::plain(&treatment.post),
    );
    let theta = theta(control, treatment);
    let (ca, cb) = (
        ArmStatistic::adjusted(control, theta),
        ArmStatistic::adjusted(treatment, theta),
    );
    let absolute = t_test(&a, &b, Difference::Absolute);
    let cuped_absolute = t_test(&ca, &cb, Difference::Absolute);
    let variance_reduction = match (absolute, cuped_absolute) {
        (Some(p), Some(c)) => Some(1.0 - c.variance / p.variance),
        _ => None,
    };
    Comparison {
        absolute,
        relative: t_test(&a, &b, Difference::Relative),
        cuped_absolute,
        cuped_relative: t_test(&ca, &cb, Difference::Relative),
        theta,
        variance_reduction,
    }
}
