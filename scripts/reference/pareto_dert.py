"""Reference Pareto/NBD DERT (discounted expected residual transactions), for
crates/clv/fixtures/pareto_dert.json. Run once, never in the test command:

    python3 -m venv ~/.venvs/peers && ~/.venvs/peers/bin/pip install lifetimes scipy
    ~/.venvs/peers/bin/python scripts/reference/pareto_dert.py > crates/clv/fixtures/pareto_dert.json

Two independent computations that must agree before anything is written:
1. the closed form of Fader, Hardie & Lee (2005, "RFM and CLV"), with scipy's confluent
   hypergeometric function of the second kind `hyperu(s, s, delta (beta + T))` and lifetimes'
   Pareto/NBD log-likelihood;
2. by definition, DERT = integral over t of exp(-delta t) dE[Y(t)] = delta * integral of
   exp(-delta t) E[Y(t)] dt, with lifetimes' conditional expectation E[Y(t) | x, t_x, T]
   integrated numerically by scipy's quad.
Parameters: the published CDNOW fit (s < 1), and two made-up sets with s > 1 (the incomplete
gamma function of 1 - s then has a negative argument). delta: 15% a year, compounded
continuously, per week (ln 1.15 / 52), and a steeper 1% a week.
"""
import json
import math

import lifetimes
import numpy as np
import pandas as pd
import scipy
from lifetimes import ParetoNBDFitter
from scipy import integrate, special

cases = [(0.0, 0.0, 38.86), (2.0, 30.43, 38.86), (26.0, 30.86, 31.0), (5.0, 10.0, 39.0), (1.0, 38.0, 38.0)]
param_sets = [
    [0.553, 10.578, 0.606, 11.669],
    [0.8, 6.0, 1.7, 9.0],
    [0.4, 12.0, 2.3, 20.0],
]
deltas = [math.log(1.15) / 52.0, 0.01]


def closed_form(p, delta, x, tx, T):
    r, alpha, s, beta = p
    ll = ParetoNBDFitter._conditional_log_likelihood(p, np.array([x]), np.array([tx]), np.array([T]))[0]
    ln = (
        r * math.log(alpha)
        + s * math.log(beta)
        + (s - 1.0) * math.log(delta)
        + special.gammaln(r + x + 1.0)
        - special.gammaln(r)
        - (r + x + 1.0) * math.log(alpha + T)
        - ll
    )
    return math.exp(ln) * special.hyperu(s, s, delta * (beta + T))


def by_integral(p, delta, x, tx, T):
    f = ParetoNBDFitter()
    f.params_ = pd.Series(dict(zip(["r", "alpha", "s", "beta"], p)))
    ey = lambda t: float(f.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T))
    v, _ = integrate.quad(lambda t: math.exp(-delta * t) * ey(t), 0.0, np.inf, limit=400)
    return delta * v


rows = []
for p in param_sets:
    for delta in deltas:
        for x, tx, T in cases:
            a = closed_form(p, delta, x, tx, T)
            b = by_integral(p, delta, x, tx, T)
            assert abs(a - b) < 1e-6 * max(1.0, abs(a)), (p, delta, x, tx, T, a, b)
            rows.append({"params": p, "delta": delta, "x": x, "tx": tx, "T": T, "dert": a})
print(
    json.dumps(
        {
            "source": "lifetimes " + lifetimes.__version__ + " + scipy " + scipy.__version__ + " hyperu, checked by quad",
            "rows": rows,
        },
        indent=1,
    )
)
