"""Reference isotonic calibration computed with scikit-learn, for
crates/models/fixtures/isotonic_sklearn.json. Run once, never in the test command:

    ~/.venvs/peers/bin/pip install scikit-learn numpy
    ~/.venvs/peers/bin/python scripts/reference/isotonic_sklearn.py > crates/models/fixtures/isotonic_sklearn.json

`IsotonicRegression(out_of_bounds="clip")` fitted on raw scores (log-odds, rounded to one
decimal so that many tie) and 0/1 outcomes; predictions at scores inside, between and outside
the fitted range.
"""
import json

import numpy as np
import sklearn
from sklearn.isotonic import IsotonicRegression

rng = np.random.default_rng(20261207)
n = 300
score = np.round(rng.normal(0.0, 1.5, n), 1)
p = 1.0 / (1.0 + np.exp(-(0.8 * score - 0.5)))
y = rng.random(n) < p
iso = IsotonicRegression(out_of_bounds="clip").fit(score, y.astype(float))
query = np.round(np.linspace(-7.0, 7.0, 57), 3)
print(
    json.dumps(
        {
            "source": "scikit-learn " + sklearn.__version__,
            "score": [float(v) for v in score],
            "y": [bool(v) for v in y],
            "query": [float(v) for v in query],
            "predicted": [float(v) for v in iso.predict(query)],
        }
    )
)
