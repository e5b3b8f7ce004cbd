//! The contact plan: of an audience's members, whom contacting is worth its cost. Each member
//! has an expected incremental value (predicted uplift × customer value − the contact's cost);
//! the plan sends to the members of positive value, best first, while the budget lasts. Every
//! contact costs the same, so best-first is the optimum under the budget. (Frequency caps are
//! already in the members: `select` kept out whoever a contact would take over a cap.)

/// One member's place in the plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Planned {
    /// The member's index in the input.
    pub member: usize,
    /// 1 for the most valuable member.
    pub rank: usize,
    pub value: f64,
    pub send: bool,
}

/// What the plan is worth.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PlanTotals {
    pub members: usize,
    pub sent: usize,
    /// Σ value over the members sent to.
    pub value_sent: f64,
    /// Σ value had every member been contacted.
    pub value_all: f64,
    pub cost_sent: f64,
}

/// The plan over members of expected incremental `values` (each already net of `cost`),
/// ranked best first (ties by input order) under an optional `budget`.
pub fn plan(values: &[f64], cost: f64, budget: Option<f64>) -> (Vec<Planned>, PlanTotals) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    let mut totals = PlanTotals {
        members: values.len(),
        value_all: values.iter().sum(),
        ..PlanTotals::default()
    };
    let planned = order
        .into_iter()
        .enumerate()
        .map(|(rank, member)| {
            let affordable = budget.is_none_or(|b| totals.cost_sent + cost <= b + 1e-9);
            let send = values[member] > 0.0 && affordable;
            if send {
                totals.sent += 1;
                totals.value_sent += values[member];
                totals.cost_sent += cost;
            }
            Planned {
                member,
                rank: rank + 1,
                value: values[member],
                send,
            }
        })
        .collect();
    (planned, totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_sends_positive_values_best_first_while_the_budget_lasts() {
        let values = [0.5, -0.2, 2.0, 0.0, 1.0, 0.3];
        let (p, t) = plan(&values, 1.0, Some(2.5));
        let sent: Vec<usize> = p.iter().filter(|x| x.send).map(|x| x.member).collect();
        assert_eq!(
            sent,
            vec![2, 4],
            "the two best fit a budget of 2.5 at 1.0 each"
        );
        assert_eq!(
            p[0],
            Planned {
                member: 2,
                rank: 1,
                value: 2.0,
                send: true
            }
        );
        assert_eq!((t.sent, t.cost_sent, t.value_sent), (2, 2.0, 3.0));
        assert!((t.value_all - 3.6).abs() < 1e-12);
        // Without a budget: every positive value, never a zero or negative one.
        let (p, t) = plan(&values, 1.0, None);
        let sent: Vec<usize> = p.iter().filter(|x| x.send).map(|x| x.member).collect();
        assert_eq!(sent, vec![2, 4, 0, 5]);
        assert!(t.value_sent > t.value_all);
    }

    #[test]
    fn no_subset_within_the_budget_is_worth_more() {
        // Brute force over every subset of a small audience at equal costs.
        let values = [0.7, 1.3, -0.4, 0.2, 0.9, 1.1, 0.05];
        let (cost, budget) = (0.5, 1.6);
        let (_, t) = plan(&values, cost, Some(budget));
        let best = (0u32..1 << values.len())
            .filter(|m| m.count_ones() as f64 * cost <= budget)
            .map(|m| {
                (0..values.len())
                    .filter(|i| m >> i & 1 == 1)
                    .map(|i| values[i])
                    .sum::<f64>()
            })
            .fold(f64::MIN, f64::max);
        assert!(
            (t.value_sent - best).abs() < 1e-12,
            "{} vs {best}",
            t.value_sent
        );
    }
}
