//! How well predicted uplift ranks users, as scikit-uplift measures it on users held out from
//! training: the Qini coefficient (`qini_auc_score`), the area under the uplift curve
//! (`uplift_auc_score`), each relative to the perfect ranking, and the uplift among the top k
//! (`uplift_at_k`). Outcomes and treatment flags are binary.

/// Users ordered by predicted uplift, highest first; equal scores in reverse input order (a
/// stable ascending sort reversed, as scikit-uplift orders them).
fn descending(uplift: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..uplift.len()).collect();
    order.sort_by(|&a, &b| uplift[a].total_cmp(&uplift[b]));
    order.reverse();
    order
}

/// Running totals over the first users of the ranking.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    all: f64,
    treated: f64,
    treated_responders: f64,
    control_responders: f64,
}

/// The totals at every distinct score, in ranking order (the curves' points before the origin).
fn totals_at_thresholds(y: &[bool], uplift: &[f64], treated: &[bool]) -> Vec<Totals> {
    let order = descending(uplift);
    let mut t = Totals::default();
    let mut points = vec![];
    for (pos, &i) in order.iter().enumerate() {
        t.all += 1.0;
        t.treated += treated[i] as u8 as f64;
        t.treated_responders += (treated[i] && y[i]) as u8 as f64;
        t.control_responders += (!treated[i] && y[i]) as u8 as f64;
        let last = pos + 1 == order.len();
        if last || uplift[order[pos + 1]] != uplift[i] {
            points.push(t);
        }
    }
    points
}

fn ratio(a: f64, b: f64) -> f64 {
    if b != 0.0 { a / b } else { 0.0 }
}

/// A curve from the origin through `value` at each threshold: `(users, value)` points.
fn curve(points: &[Totals], value: impl Fn(&Totals) -> f64) -> Vec<(f64, f64)> {
    std::iter::once((0.0, 0.0))
        .chain(points.iter().map(|t| (t.all, value(t))))
        .collect()
}

/// The Qini curve: treated responders minus control responders scaled to the treated count.
pub fn qini_curve(y: &[bool], uplift: &[f64], treated: &[bool]) -> Vec<(f64, f64)> {
    curve(&totals_at_thresholds(y, uplift, treated), |t| {
        t.treated_responders - t.control_responders * ratio(t.treated, t.all - t.treated)
    })
}

/// The uplift curve: the response rates' difference times the users so far.
pub fn uplift_curve(y: &[bool], uplift: &[f64], treated: &[bool]) -> Vec<(f64, f64)> {
    curve(&totals_at_thresholds(y, uplift, treated), |t| {
        let control = t.all - t.treated;
        (ratio(t.treated_responders, t.treated) - ratio(t.control_responders, control)) * t.all
    })
}

/// The trapezoidal area under `points`.
fn area(points: &[(f64, f64)]) -> f64 {
    points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
        .sum()
}

/// `(actual − random) / (perfect − random)` areas, the random line ending where `perfect` ends.
fn normalised(actual: &[(f64, f64)], perfect: &[(f64, f64)]) -> f64 {
    let end = *perfect.last().expect("a curve has the origin");
    let random = area(&[(0.0, 0.0), end]);
    (area(actual) - random) / (area(perfect) - random)
}

/// The Qini coefficient: the area between the Qini curve and the random line, over the
/// perfect ranking's. With `negative_effect` the perfect ranking puts treated responders first
/// and control responders last; without it, it reaches the overall gain at once.
pub fn qini_auc_score(y: &[bool], uplift: &[f64], treated: &[bool], negative_effect: bool) -> f64 {
    let actual = qini_curve(y, uplift, treated);
    let perfect = if negative_effect {
        let ideal: Vec<f64> = (0..y.len())
            .map(|i| {
                if !y[i] {
                    0.0
                } else if treated[i] {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        qini_curve(y, &ideal, treated)
    } else {
        let (nt, nc) = (count(treated, true), count(treated, false));
        let responders = |arm: bool| (0..y.len()).filter(|&i| y[i] && treated[i] == arm).count();
        let gain = responders(true) as f64 - nt * responders(false) as f64 / nc;
        vec![(0.0, 0.0), (gain, gain), (y.len() as f64, gain)]
    };
    normalised(&actual, &perfect)
}

fn count(treated: &[bool], arm: bool) -> f64 {
    treated.iter().filter(|&&t| t == arm).count() as f64
}

/// The area under the uplift curve, relative to the perfect ranking's.
pub fn uplift_auc_score(y: &[bool], uplift: &[f64], treated: &[bool]) -> f64 {
    let control_responders = (0..y.len()).filter(|&i| y[i] && !treated[i]).count();
    let treated_non_responders = (0..y.len()).filter(|&i| !y[i] && treated[i]).count();
    let ideal: Vec<f64> = (0..y.len())
        .map(|i| {
            let summand = if control_responders > treated_non_responders {
                y[i]
            } else {
                treated[i]
            };
            2.0 * (y[i] == treated[i]) as u8 as f64 + summand as u8 as f64
        })
        .collect();
    normalised(
        &uplift_curve(y, uplift, treated),
        &uplift_curve(y, &ideal, treated),
    )
}

/// How the top k are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopK {
    /// The first k of all users, then split by arm.
    Overall,
    /// The first k of each arm.
    ByGroup,
}

/// The treated response rate minus the control response rate among the top `k` (a share in
/// (0, 1)) of the ranking; NaN when an arm has nobody there.
pub fn uplift_at_k(y: &[bool], uplift: &[f64], treated: &[bool], strategy: TopK, k: f64) -> f64 {
    let order = descending(uplift);
    let rate = |arm: bool, take: usize, pool: &dyn Fn(usize) -> bool| {
        let picked: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| pool(i))
            .take(take)
            .collect();
        let picked: Vec<usize> = picked.into_iter().filter(|&i| treated[i] == arm).collect();
        picked.iter().filter(|&&i| y[i]).count() as f64 / picked.len() as f64
    };
    match strategy {
        TopK::Overall => {
            let n = (y.len() as f64 * k) as usize;
            rate(true, n, &|_| true) - rate(false, n, &|_| true)
        }
        TopK::ByGroup => {
            let take = |arm| (count(treated, arm) * k) as usize;
            rate(true, take(true), &|i| treated[i]) - rate(false, take(false), &|i| !treated[i])
        }
    }
}
