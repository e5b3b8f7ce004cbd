"""Reference Pareto/NBD, MBG/NBD (and BG/NBD standard errors) computed with lifetimes, for
crates/clv/fixtures/lifetimes_cdnow.json. Run once, never in the test command:

    python3 -m venv ~/.venvs/peers && ~/.venvs/peers/bin/pip install lifetimes
    ~/.venvs/peers/bin/python scripts/reference/clv_lifetimes.py > crates/clv/fixtures/lifetimes_cdnow.json

Fits on the CDNOW calibration summary (../shared/datasets/cdnow, weeks), then, with the
fitted parameters, every customer-level quantity the Rust models compute, for a handful of
the summary's customers and a few hard histories (no repeat purchase, a purchase at the very
end, many purchases).
"""
import json
import os

import lifetimes
import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter

here = os.path.dirname(os.path.abspath(__file__))
summary = pd.read_csv(
    os.path.join(here, "../../../shared/datasets/cdnow/cdnow_customers_summary.csv")
)
x, tx, T = summary["frequency"], summary["recency"], summary["T"]

cases = [tuple(map(float, r)) for r in summary[["frequency", "recency", "T"]].head(8).values]
cases += [(0.0, 0.0, 38.86), (26.0, 30.86, 31.0), (3.0, 38.0, 38.0), (150.0, 37.5, 39.0)]
cx = np.array([c[0] for c in cases])
ctx = np.array([c[1] for c in cases])
cT = np.array([c[2] for c in cases])

pnbd = ParetoNBDFitter().fit(x, tx, T)
p = pnbd.params_
params = [float(p["r"]), float(p["alpha"]), float(p["s"]), float(p["beta"])]
ll = ParetoNBDFitter._conditional_log_likelihood(params, x, tx, T)
case_ll = ParetoNBDFitter._conditional_log_likelihood(params, cx, ctx, cT)

bg = BetaGeoFitter().fit(x, tx, T)


def errors(fitter):
    """Standard errors of the parameters (lifetimes inverts the Hessian of the total negative
    log-likelihood at the optimum)."""
    return {k: float(v) for k, v in fitter.standard_errors_.items()}


mbg = ModifiedBetaGeoFitter().fit(x, tx, T)
q = mbg.params_
mbg_params = [float(q["r"]), float(q["alpha"]), float(q["a"]), float(q["b"])]
mbg_ll = ModifiedBetaGeoFitter._negative_log_likelihood(
    np.log(mbg_params), x.values, tx.values, T.values, np.ones(len(x)), 0.0
)


def num(v):
    """A scalar, whether lifetimes answered with one or with a one-element array."""
    return float(np.ravel(v)[0])


def mbg_case_ll(c):
    """One history's log-likelihood with the fitted parameters."""
    return -float(
        ModifiedBetaGeoFitter._negative_log_likelihood(
            np.log(mbg_params), np.array([c[0]]), np.array([c[1]]), np.array([c[2]]), np.ones(1), 0.0
        )
    )


print(
    json.dumps(
        {
            "source": "lifetimes " + lifetimes.__version__,
            "pareto_nbd": {
                "params": dict(zip(["r", "alpha", "s", "beta"], params)),
                "log_likelihood": float(np.sum(ll)),
                "cases": [
                    {
                        "x": c[0],
                        "t_x": c[1],
                        "T": c[2],
                        "log_likelihood": float(case_ll[i]),
                        "p_alive": float(pnbd.conditional_probability_alive(c[0], c[1], c[2])),
                        "expected_39": float(
                            pnbd.conditional_expected_number_of_purchases_up_to_time(39, c[0], c[1], c[2])
                        ),
                    }
                    for i, c in enumerate(cases)
                ],
                "unconditional": {
                    str(t): float(pnbd.expected_number_of_purchases_up_to_time(t)) for t in [1, 3, 78]
                },
            },
            "bg_nbd": {
                "params": {k: float(v) for k, v in bg.params_.items()},
                "standard_errors": errors(bg),
            },
            "mbg_nbd": {
                "params": dict(zip(["r", "alpha", "a", "b"], mbg_params)),
                "standard_errors": errors(mbg),
                "log_likelihood": -float(mbg_ll) * len(x),
                "cases": [
                    {
                        "x": c[0],
                        "t_x": c[1],
                        "T": c[2],
                        "log_likelihood": mbg_case_ll(c),
                        "p_alive": num(mbg.conditional_probability_alive(c[0], c[1], c[2])),
                        "expected_39": num(
                            mbg.conditional_expected_number_of_purchases_up_to_time(39, c[0], c[1], c[2])
                        ),
                    }
                    for c in cases
                ],
                "unconditional": {
                    str(t): num(mbg.expected_number_of_purchases_up_to_time(t)) for t in [1, 3, 78]
                },
            },
        },
        indent=1,
    )
)
