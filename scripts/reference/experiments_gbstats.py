"""Reference experiment readouts from GrowthBook's gbstats (frequentist engine), for
crates/experiments/fixtures/gbstats.json. Run once, never in the test command:

    ~/.venvs/peers/bin/pip install gbstats
    ~/.venvs/peers/bin/python scripts/reference/experiments_gbstats.py \
        > crates/experiments/fixtures/gbstats.json

Each case is a control and a treatment arm of per-user values (a metric after assignment and
the same metric in the days before, for CUPED), rounded to six decimals and computed on exactly
the values kept. For each case: the two-sided Welch t-test of the absolute and of the relative
lift (delta method), with and without regression adjustment (CUPED, theta pooled over both
arms), as gbstats' `TwoSidedTTest` reports them (estimate, 95% interval, p-value), and the
sample-ratio-mismatch p-value of `check_srm` for the arms' sizes and weights.
"""
import importlib.metadata
import json

import numpy as np
from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
from gbstats.models.statistics import (
    ProportionStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from gbstats.utils import check_srm

rng = np.random.default_rng(20261207)


def revenue(n, lift, pre):
    """Revenue per user: most users spend nothing; spending correlates with `pre`."""
    buys = rng.random(n) < 0.25 + 0.1 * (pre > 0)
    return np.round(np.where(buys, rng.lognormal(3.0 + lift, 0.8, n) + 0.5 * pre, 0.0), 6)


def arm_values(kind, n, lift):
    if kind == "proportion":
        pre = (rng.random(n) < 0.3).astype(float)
        post = (rng.random(n) < 0.2 + 0.3 * pre + lift).astype(float)
    else:
        pre = revenue(n, 0.0, np.zeros(n))
        post = revenue(n, lift, pre)
    return post, pre


def statistic(kind, values):
    if kind == "proportion":
        return ProportionStatistic(n=len(values), sum=float(values.sum()))
    return SampleMeanStatistic(
        n=len(values), sum=float(values.sum()), sum_squares=float((values**2).sum())
    )


def readout(kind, control, treatment, relative, cuped):
    def stat(arm):
        post, pre = arm
        if not cuped:
            return statistic(kind, post)
        return RegressionAdjustedStatistic(
            n=len(post),
            post_statistic=statistic(kind, post),
            pre_statistic=statistic(kind, pre),
            post_pre_sum_of_products=float((post * pre).sum()),
            theta=0,
        )

    config = FrequentistConfig(difference_type="relative" if relative else "absolute")
    test = TwoSidedTTest(stat(control), stat(treatment), config)
    r = test.compute_result()
    theta = getattr(test.stat_a, "theta", 0.0)
    return {
        "estimate": r.expected,
        "ci": list(r.ci),
        "p_value": r.p_value,
        "variance": float(test.variance),
        "theta": float(theta),
    }


cases = []
for name, kind, sizes, lift in [
    ("conversion_small_lift", "proportion", (400, 380), 0.04),
    ("conversion_no_lift", "proportion", (500, 520), 0.0),
    ("revenue_lift", "mean", (450, 470), 0.3),
    ("revenue_unequal_arms", "mean", (300, 600), 0.1),
]:
    control = arm_values(kind, sizes[0], 0.0)
    treatment = arm_values(kind, sizes[1], lift)
    results = {}
    for relative in (False, True):
        for cuped in (False, True):
            key = f"{'relative' if relative else 'absolute'}{'_cuped' if cuped else ''}"
            results[key] = readout(kind, control, treatment, relative, cuped)
    cases.append(
        {
            "name": name,
            "kind": kind,
            "control": {"post": control[0].tolist(), "pre": control[1].tolist()},
            "treatment": {"post": treatment[0].tolist(), "pre": treatment[1].tolist()},
            "results": results,
        }
    )

srm = [
    {"users": users, "weights": weights, "p_value": check_srm(users, weights)}
    for users, weights in [
        ([5000, 5000], [0.5, 0.5]),
        ([5000, 5200], [0.5, 0.5]),
        ([5000, 5600], [0.5, 0.5]),
        ([3000, 3050, 2900], [0.34, 0.33, 0.33]),
        ([900, 2100], [0.3, 0.7]),
    ]
]
version = importlib.metadata.version("gbstats")
print(json.dumps({"gbstats": version, "cases": cases, "srm": srm}, indent=1))
