//! Standard errors of fitted parameters: the observed information (the Hessian of the total
//! negative log-likelihood at the optimum, by central differences) inverted by Cholesky, the
//! square roots of its diagonal. The same numbers lifetimes reports as `se(coef)`.

/// The standard errors of `p`, the maximum of the total log-likelihood `ll`; None when the
/// Hessian there is not positive definite (not a maximum, or a flat direction).
pub fn standard_errors(ll: impl Fn([f64; 4]) -> f64, p: [f64; 4]) -> Option<[f64; 4]> {
    let info = observed_information(&ll, p);
    let inverse = inverse_spd(info)?;
    let se = [0, 1, 2, 3].map(|i| inverse[i][i].sqrt());
    se.iter().all(|v| v.is_finite()).then_some(se)
}

/// −∂²ll/∂pᵢ∂pⱼ by central differences with steps relative to each parameter.
fn observed_information(ll: &impl Fn([f64; 4]) -> f64, p: [f64; 4]) -> [[f64; 4]; 4] {
    let h = p.map(|v| 1e-4 * v.abs().max(1e-8));
    let at = |i: usize, si: f64, j: usize, sj: f64| {
        let mut q = p;
        q[i] += si * h[i];
        q[j] += sj * h[j];
        ll(q)
    };
    let mut info = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in i..4 {
            let d = at(i, 1.0, j, 1.0) - at(i, 1.0, j, -1.0) - at(i, -1.0, j, 1.0)
                + at(i, -1.0, j, -1.0);
            info[i][j] = -d / (4.0 * h[i] * h[j]);
            info[j][i] = info[i][j];
        }
    }
    info
}

// Matrix algebra reads best with the indices of the formulas.
#[allow(clippy::needless_range_loop)]
/// The inverse of a symmetric positive-definite matrix (Cholesky `A = L Lᵀ`, then
/// `A⁻¹ = L⁻ᵀ L⁻¹`); None when it is not positive definite.
fn inverse_spd(a: [[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut l = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..=i {
            let s = a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            match i == j {
                true if s > 0.0 => l[i][i] = s.sqrt(),
                true => return None,
                false => l[i][j] = s / l[j][j],
            }
        }
    }
    // L⁻¹, lower triangular, by forward substitution.
    let mut li = [[0.0; 4]; 4];
    for c in 0..4 {
        for i in c..4 {
            let s = (c..i).map(|k| l[i][k] * li[k][c]).sum::<f64>();
            li[i][c] = (if i == c { 1.0 } else { 0.0 } - s) / l[i][i];
        }
    }
    let mut inv = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..4 {
            inv[i][j] = (i.max(j)..4).map(|k| li[k][i] * li[k][j]).sum();
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{cdnow_summary, lifetimes};
    use crate::{RepeatModelKind, RepeatPurchaseModel, Rfm};

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn the_inverse_of_a_known_matrix() {
        let a = [
            [4.0, 2.0, 0.6, 0.0],
            [2.0, 5.0, 1.0, 0.5],
            [0.6, 1.0, 3.0, 0.2],
            [0.0, 0.5, 0.2, 2.0],
        ];
        let inv = inverse_spd(a).unwrap();
        for i in 0..4 {
            for j in 0..4 {
                let e: f64 = (0..4).map(|k| a[i][k] * inv[k][j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((e - want).abs() < 1e-12, "({i},{j}): {e}");
            }
        }
        assert!(
            inverse_spd([
                [1.0, 2.0, 0.0, 0.0],
                [2.0, 1.0, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
                [0.0, 0.0, 0.0, 1.0]
            ])
            .is_none()
        );
    }

    /// Our standard errors at lifetimes' parameters equal lifetimes' to 1e-3 relative.
    fn check(model: &str, names: [&str; 4], ll: impl Fn([f64; 4], &[Rfm]) -> f64) {
        let (entry, p) = lifetimes(model, names);
        let customers = cdnow_summary();
        let se = standard_errors(|q| ll(q, &customers), p).unwrap();
        for (j, name) in names.iter().enumerate() {
            let want = entry["standard_errors"][name].as_f64().unwrap();
            assert!(
                (se[j] / want - 1.0).abs() < 1e-3,
                "{model} {name}: {} vs lifetimes' {want}",
                se[j]
            );
        }
    }

    #[test]
    fn agree_with_lifetimes_for_bg_nbd_and_mbg_nbd() {
        check("bg_nbd", ["r", "alpha", "a", "b"], |q, c| {
            crate::BgNbd::new(q[0], q[1], q[2], q[3]).log_likelihood(c)
        });
        check("mbg_nbd", ["r", "alpha", "a", "b"], |q, c| {
            RepeatPurchaseModel::log_likelihood(&crate::MbgNbd::new(q[0], q[1], q[2], q[3]), c)
        });
        // And for our own fits, at our optimum.
        let customers = cdnow_summary();
        for kind in [RepeatModelKind::Bgnbd, RepeatModelKind::Mbgnbd] {
            let settings = crate::repeat::FitSettings {
                penalty: 0.0,
                periods_per_unit: 1.0,
            };
            let m = kind.fit(&customers, settings).unwrap();
            assert!(m.standard_errors(&customers).is_some(), "{}", kind.name());
        }
    }
}
