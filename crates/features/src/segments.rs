//! Lifecycle stages and RFM segments: the `user_segments` and `stage_transitions` tables.
//!
//! **Stages.** The spec's rules are SQL predicates over `user_features`, tried in order; the
//! first that holds names the stage, and a user no rule matches gets `stages.otherwise`. The
//! defaults: `new` (`tenure_days < 30`), `active` (`recency_days < 30`), `at_risk`
//! (`recency_days < 90`), otherwise `churned`. Users in the users table with no event before the
//! cutoff (and a `signup_time` before it, or none) get `stages.prospect` (`prospect`).
//!
//! **RFM scores**, among purchasers (`purchases_total > 0`), each 1–5:
//! R from `purchase_recency_days` (more recent is better), F from `purchases_total`, M from
//! `revenue_total`. With users ordered from worst to best and `rank` the SQL `RANK()` (ties share
//! the lowest rank of their group), `score = 1 + floor(5 · (rank − 1) / n)`. Without ties these
//! are exact quintiles; tied users always share a score, the one of the first position of their
//! group (so the many one-time buyers all get F = 1). The result does not depend on row order.
//!
//! **RFM segment**, from R and `FM = floor((F + M + 1) / 2)` (the mean of F and M, halves up),
//! by this grid (rows R = 5 … 1, columns FM = 1 … 5): see [`SEGMENT_GRID`].

use lifecycle_spec::StageRule;

use crate::sql::lit;

/// `SEGMENT_GRID[r - 1][fm - 1]` is the segment of recency score `r` and frequency-monetary
/// score `fm`.
///
/// | R \ FM | 1 | 2 | 3 | 4 | 5 |
/// |---|---|---|---|---|---|
/// | 5 | new_customer | potential_loyalist | potential_loyalist | champions | champions |
/// | 4 | promising | potential_loyalist | potential_loyalist | loyal | loyal |
/// | 3 | about_to_sleep | about_to_sleep | need_attention | loyal | loyal |
/// | 2 | hibernating | hibernating | at_risk | at_risk | cannot_lose |
/// | 1 | lost | hibernating | at_risk | at_risk | cannot_lose |
pub const SEGMENT_GRID: [[&str; 5]; 5] = [
    ["lost", "hibernating", "at_risk", "at_risk", "cannot_lose"],
    [
        "hibernating",
        "hibernating",
        "at_risk",
        "at_risk",
        "cannot_lose",
    ],
    [
        "about_to_sleep",
        "about_to_sleep",
        "need_attention",
        "loyal",
        "loyal",
    ],
    [
        "promising",
        "potential_loyalist",
        "potential_loyalist",
        "loyal",
        "loyal",
    ],
    [
        "new_customer",
        "potential_loyalist",
        "potential_loyalist",
        "champions",
        "champions",
    ],
];

/// The stage CASE expression over `user_features` columns.
pub fn stage_case(rules: &[StageRule], otherwise: &str) -> String {
    let arms: String = rules
        .iter()
        .map(|r| format!(" WHEN ({}) THEN {}", r.when, lit(&r.name)))
        .collect();
    format!("CASE{arms} ELSE {} END", lit(otherwise))
}

fn segment_case(r: &str, fm: &str) -> String {
    let mut arms = String::new();
    for (ri, row) in SEGMENT_GRID.iter().enumerate() {
        for (fi, seg) in row.iter().enumerate() {
            arms.push_str(&format!(
                " WHEN {} THEN {}",
                (ri + 1) * 10 + fi + 1,
                lit(seg)
            ));
        }
    }
    format!("CASE {r} * 10 + {fm}{arms} END")
}

/// The SELECT for `user_segments` from `user_features` (and `users_mapped` when `prospects`
/// holds the prospect stage name and the users' signup cutoff in microseconds).
pub fn user_segments_sql(
    rules: &[StageRule],
    otherwise: &str,
    prospects: Option<(&str, i64)>,
) -> String {
    let score = |rank: &str| format!("CAST(1 + (5 * ({rank} - 1)) / n AS INT)");
    let rfm = format!(
        "WITH p AS (SELECT user_id, purchase_recency_days AS r, purchases_total AS f, revenue_total AS m \
                    FROM user_features WHERE purchases_total > 0), \
              ranked AS (SELECT user_id, \
                    RANK() OVER (ORDER BY r DESC) AS rr, \
                    RANK() OVER (ORDER BY f ASC) AS fr, \
                    RANK() OVER (ORDER BY m ASC) AS mr, \
                    count(*) OVER () AS n FROM p) \
         SELECT user_id, {} AS recency_score, {} AS frequency_score, {} AS monetary_score FROM ranked",
        score("rr"),
        score("fr"),
        score("mr"),
    );
    let seg = segment_case(
        "s.recency_score",
        "((s.frequency_score + s.monetary_score + 1) / 2)",
    );
    let mut sql = format!(
        "SELECT f.user_id AS user_id, f.stage, s.recency_score, s.frequency_score, \
                s.monetary_score, CAST({seg} AS VARCHAR) AS rfm_segment \
         FROM (SELECT user_id, {stage} AS stage FROM user_features) f \
         LEFT JOIN ({rfm}) s ON f.user_id = s.user_id",
        stage = stage_case(rules, otherwise),
    );
    if let Some((prospect, cutoff_us)) = prospects {
        sql = format!(
            "{sql} UNION ALL \
             SELECT DISTINCT u.user_id, {}, CAST(NULL AS INT), CAST(NULL AS INT), CAST(NULL AS INT), \
                    CAST(NULL AS VARCHAR) \
             FROM users_mapped u \
             WHERE u.user_id IS NOT NULL AND u.user_id <> '' \
               AND (u.signup_time IS NULL OR CAST(u.signup_time AS BIGINT) < {cutoff_us}) \
               AND u.user_id NOT IN (SELECT user_id FROM user_features)",
            lit(prospect)
        );
    }
    format!("SELECT * FROM ({sql}) ORDER BY user_id")
}

/// The SELECT for `stage_transitions` from `previous_segments` to `user_segments`.
pub fn transitions_sql() -> &'static str {
    "SELECT p.stage AS from_stage, c.stage AS to_stage, count(*) AS users \
     FROM previous_segments p FULL OUTER JOIN user_segments c ON p.user_id = c.user_id \
     GROUP BY p.stage, c.stage ORDER BY from_stage NULLS FIRST, to_stage NULLS FIRST"
}

/// Users per stage (`stage`, `n`).
pub fn stage_counts_sql() -> String {
    format!(
        "SELECT stage, count(*) AS n FROM {} GROUP BY stage",
        crate::sql::views::USER_SEGMENTS
    )
}

/// `previous_segments` (user_id, stage) without a previous run: no rows. (With one, the
/// pipeline selects from its file, in this run's id form.)
pub fn no_previous_segments_sql() -> &'static str {
    "SELECT CAST(NULL AS VARCHAR) AS user_id, CAST(NULL AS VARCHAR) AS stage WHERE false"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_covers_every_named_segment_once_at_least() {
        let names = [
            "champions",
            "loyal",
            "potential_loyalist",
            "new_customer",
            "promising",
            "need_attention",
            "about_to_sleep",
            "at_risk",
            "cannot_lose",
            "hibernating",
            "lost",
        ];
        for n in names {
            assert!(SEGMENT_GRID.iter().flatten().any(|s| *s == n), "{n}");
        }
        assert!(SEGMENT_GRID.iter().flatten().all(|s| names.contains(s)));
    }

    #[test]
    fn stage_case_keeps_rule_order() {
        let rule = |name: &str, when: &str| StageRule {
            name: name.into(),
            when: when.into(),
        };
        let rules = vec![rule("a", "x < 1"), rule("b", "y < 2")];
        assert_eq!(
            stage_case(&rules, "z"),
            "CASE WHEN (x < 1) THEN 'a' WHEN (y < 2) THEN 'b' ELSE 'z' END"
        );
    }
}
