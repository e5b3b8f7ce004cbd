"""Reference population stability index values computed with toad (`toad.metrics.PSI` over
`toad.merge(..., method="quantile", n_bins=10)` splits of the reference sample), for
crates/models/fixtures/psi_toad.json. Run once, never in the test command:

    ~/.venvs/peers/bin/pip install toad numpy pandas scikit-learn
    ~/.venvs/peers/bin/python scripts/reference/psi_toad.py > crates/models/fixtures/psi_toad.json

toad bins a value by the deciles of the reference sample, left-closed, with open outer bins
(`np.digitize`), as lifecycle's `drift` does. Each case is drawn so that no bin is empty on
either side: toad leaves an empty bin out of the sum, lifecycle floors its share at 1e-4.
"""
import json

import numpy as np
import pandas as pd
import toad

rng = np.random.default_rng(20261206)
cases = {
    "same_distribution": (rng.lognormal(3.0, 1.0, 800), rng.lognormal(3.0, 1.0, 600)),
    "shifted": (rng.normal(10.0, 2.0, 800), rng.normal(11.0, 2.0, 700)),
    "wider_and_out_of_range": (rng.normal(0.0, 1.0, 800), rng.normal(0.0, 2.5, 900)),
    "counts_with_ties": (
        rng.poisson(4.0, 1000).astype(float),
        rng.poisson(5.0, 900).astype(float),
    ),
}
out = []
for name, (reference, current) in cases.items():
    # The fixture keeps six decimals: compute on exactly the values it keeps.
    reference, current = np.round(reference, 6), np.round(current, 6)
    splits = toad.merge(pd.Series(reference), method="quantile", n_bins=10, return_splits=True)[1]
    combiner = toad.transform.Combiner().load({"x": list(splits)})
    psi = toad.metrics.PSI(
        pd.DataFrame({"x": current}), pd.DataFrame({"x": reference}), combiner=combiner
    )["x"]
    out.append(
        {
            "case": name,
            "reference": [float(v) for v in reference],
            "current": [float(v) for v in current],
            "splits": [float(s) for s in splits],
            "psi": float(psi),
        }
    )
print(json.dumps({"source": "toad " + toad.__version__, "cases": out}))
