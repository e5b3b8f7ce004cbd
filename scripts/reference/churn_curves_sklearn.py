"""Reference ROC and calibration curves computed with scikit-learn, for
crates/models/fixtures/curves_sklearn.json. Run once, never in the test command:

    ~/.venvs/peers/bin/pip install scikit-learn numpy
    ~/.venvs/peers/bin/python scripts/reference/churn_curves_sklearn.py > crates/models/fixtures/curves_sklearn.json

`roc_curve(..., drop_intermediate=False)` gives a point per distinct score (ties form one
threshold), from (0, 0); `calibration_curve(..., n_bins=10, strategy="uniform")` bins
probabilities into tenths, right-closed, and leaves empty bins out. Scores are rounded to two
decimals so that many tie.
"""
import json

import numpy as np
import sklearn
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score, roc_curve

rng = np.random.default_rng(20261206)
n = 400
p = np.round(rng.beta(2.0, 5.0, n), 2)
y = rng.random(n) < p * 1.2
fpr, tpr, _ = roc_curve(y, p, drop_intermediate=False)
prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
print(
    json.dumps(
        {
            "source": "scikit-learn " + sklearn.__version__,
            "y": [bool(v) for v in y],
            "p": [float(v) for v in p],
            "roc_fpr": [float(v) for v in fpr],
            "roc_tpr": [float(v) for v in tpr],
            "roc_auc": float(roc_auc_score(y, p)),
            "calibration_true": [float(v) for v in prob_true],
            "calibration_pred": [float(v) for v in prob_pred],
        }
    )
)
