//! Special functions in log space: `ln Γ`, digamma, `ln B`, `log(e^a + e^b)`, and the Gauss
//! hypergeometric function `₂F₁` for `0 ≤ z < 1`.

use std::f64::consts::PI;

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, n = 9: relative error below 1e-14).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        return (PI / (PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The digamma function `ψ(x) = d/dx ln Γ(x)` for `x > 0` (recurrence to `x ≥ 10`, then the
/// asymptotic series: absolute error below 1e-13).
pub fn digamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 10.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    acc + x.ln()
        - 0.5 * inv
        - inv2
            * (1.0 / 12.0
                - inv2 * (1.0 / 120.0 - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 / 132.0))))
}

/// `ln B(a, b)`.
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// `ln(e^a + e^b)` without overflow.
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// `ln Γ(a, z)`, the upper incomplete gamma function, for `z > 0` and any `a` that is not zero
/// or a negative integer: for `a > 0` from the regularized `Q(a, z)` (puruspe, Numerical
/// Recipes), below by the recurrence `Γ(a, z) = (Γ(a + 1, z) − z^a e^{−z}) / a` from
/// `a + k > 0`. `None` outside that domain or where the value is not finite.
pub fn ln_upper_gamma(a: f64, z: f64) -> Option<f64> {
    if !(z > 0.0 && z.is_finite() && a.is_finite()) || (a <= 0.0 && a.fract() == 0.0) {
        return None;
    }
    if a > 0.0 {
        let ln = ln_gamma(a) + puruspe::gammq(a, z).ln();
        return ln.is_finite().then_some(ln);
    }
    let steps = (-a).floor() as usize + 1;
    let mut b = a + steps as f64;
    let mut g = (ln_gamma(b) + puruspe::gammq(b, z).ln()).exp();
    for _ in 0..steps {
        b -= 1.0;
        g = (g - (b * z.ln() - z).exp()) / b;
    }
    let ln = g.ln();
    ln.is_finite().then_some(ln)
}

/// `₂F₁(a, b; c; z)` by its power series, for `0 ≤ z < 1` and `c` not a non-positive integer
/// (the BG/NBD's `c = a + b + x − 1` is negative when `a + b < 1`). The terms are summed until
/// they stop changing the sum (relative 1e-15), or `None` after 10⁶ terms.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if !(0.0..1.0).contains(&z) || (c <= 0.0 && c.fract() == 0.0) {
        return None;
    }
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 0..1_000_000u32 {
        let k = k as f64;
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if term.abs() <= 1e-15 * sum.abs() {
            return Some(sum);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_incomplete_gamma_by_hand() {
        // Γ(1, z) = e^{−z}; Γ(1/2, z) = √π erfc(√z); Γ(−1/2, z) = 2 e^{−z}/√z − 2√π erfc(√z).
        let close = |a: f64, z: f64, want: f64| {
            let got = ln_upper_gamma(a, z).unwrap().exp();
            assert!(
                (got / want - 1.0).abs() < 1e-10,
                "Γ({a}, {z}) = {got}, not {want}"
            );
        };
        let sqrt_pi = std::f64::consts::PI.sqrt();
        for z in [0.01f64, 0.3, 2.0, 9.0] {
            let erfc = puruspe::erfc(z.sqrt());
            close(1.0, z, (-z).exp());
            close(0.5, z, sqrt_pi * erfc);
            close(-0.5, z, 2.0 * (-z).exp() / z.sqrt() - 2.0 * sqrt_pi * erfc);
        }
        assert_eq!(ln_upper_gamma(-1.0, 0.5), None);
        assert_eq!(ln_upper_gamma(0.5, 0.0), None);
    }

    #[test]
    fn known_values() {
        assert!((ln_gamma(1.0)).abs() < 1e-14);
        assert!((ln_gamma(0.5) - PI.sqrt().ln()).abs() < 1e-14);
        assert!((ln_gamma(10.0) - 362_880f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(200.25) - 859.257_780_222_548_8).abs() < 1e-9); // Python math.lgamma
        assert!((ln_gamma(0.01) - 4.599_479_878_042_022).abs() < 1e-12);
        // ψ(1) = −γ, ψ(1/2) = −γ − 2 ln 2.
        let euler = 0.577_215_664_901_532_9;
        assert!((digamma(1.0) + euler).abs() < 1e-13);
        assert!((digamma(0.5) + euler + 2.0 * 2f64.ln()).abs() < 1e-13);
        assert!((digamma(0.25) + 4.227_453_533_376_265).abs() < 1e-12);
        // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z.
        for z in [0.1f64, 0.5, 0.9, 0.99] {
            let want = -(1.0 - z).ln() / z;
            assert!(
                (hyp2f1(1.0, 1.0, 2.0, z).unwrap() - want).abs() < 1e-12 * want,
                "{z}"
            );
        }
        // ₂F₁(c, b; c; z) = (1 − z)^(−b), also for a negative c.
        for (c, b, z) in [(-0.4f64, 1.3f64, 0.6f64), (0.7, 2.5, 0.3), (-2.5, 0.5, 0.9)] {
            let want = (1.0 - z).powf(-b);
            assert!(
                (hyp2f1(c, b, c, z).unwrap() / want - 1.0).abs() < 1e-12,
                "{c} {b} {z}"
            );
        }
        assert!(
            hyp2f1(1.0, 1.0, -2.0, 0.5).is_none(),
            "c a non-positive integer"
        );
        assert!((log_add_exp(1000.0, 1000.0) - (1000.0 + 2f64.ln())).abs() < 1e-12);
    }

    #[test]
    fn digamma_is_the_derivative_of_ln_gamma() {
        for x in [0.05f64, 0.3, 1.7, 4.4, 30.0, 250.0] {
            let h = 1e-6 * x.max(1.0);
            let numeric = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
            assert!(
                (numeric - digamma(x)).abs() < 1e-6,
                "{x}: {numeric} vs {}",
                digamma(x)
            );
        }
    }
}
