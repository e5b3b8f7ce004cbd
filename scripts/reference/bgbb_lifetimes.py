"""Reference BG/BB values computed with lifetimes, for crates/clv/fixtures/lifetimes_bgbb.json.
Run once, never in the test command:

    python3 -m venv ~/.venvs/peers && ~/.venvs/peers/bin/pip install lifetimes
    ~/.venvs/peers/bin/python scripts/reference/bgbb_lifetimes.py > crates/clv/fixtures/lifetimes_bgbb.json

The data is the donation file of Fader, Hardie & Shang (2010), as lifetimes ships it: the
11,104 first-time supporters of 1995, each with 6 later yearly opportunities to donate, in 22
distinct (x, t_x, n) histories with their counts. BetaGeoBetaBinomFitter is fitted on it; then,
with the fitted parameters, each history's log-likelihood, P(alive) (m = 0), and expected
transactions in the next 1, 5 and 10 opportunities; and the unconditional expected
transactions of a new customer in n = 1, 3 and 6 opportunities (the mean of lifetimes'
distribution of X(n), complete for n <= 6 since the data's x runs from 0 to 6).
"""
import json

import lifetimes
import numpy as np
from lifetimes import BetaGeoBetaBinomFitter
from lifetimes.datasets import load_donations

d = load_donations()
x, tx, n, w = d["frequency"], d["recency"], d["periods"], d["weights"]
fit = BetaGeoBetaBinomFitter().fit(x, tx, n, weights=w)
p = fit.params_
params = [float(p["alpha"]), float(p["beta"]), float(p["gamma"]), float(p["delta"])]
ll = BetaGeoBetaBinomFitter._loglikelihood(params, x, tx, n)
future = [1, 5, 10]
new_n = [1, 3, 6]


def expected(k):
    """E[X(k)] from lifetimes' expected customers with each x in the first k opportunities."""
    dist = fit.expected_number_of_transactions_in_first_n_periods(k)["model"]
    return float((dist.index.values * dist.values).sum() / dist.values.sum())


print(
    json.dumps(
        {
            "source": "lifetimes " + lifetimes.__version__ + " BetaGeoBetaBinomFitter, load_donations()",
            "histories": [
                {"x": int(a), "tx": int(b), "n": int(c), "count": int(e)}
                for a, b, c, e in zip(x, tx, n, w)
            ],
            "params": params,
            "total_log_likelihood": float(np.sum(ll * w)),
            "log_likelihood": [float(v) for v in ll],
            "p_alive": [
                float(v) for v in fit.conditional_probability_alive(0, x, tx, n)
            ],
            "future": future,
            "conditional_expected": [
                [float(v) for v in fit.conditional_expected_number_of_purchases_up_to_time(m, x, tx, n)]
                for m in future
            ],
            "new_customer_n": new_n,
            "expected": [expected(k) for k in new_n],
        },
        indent=1,
    )
)
