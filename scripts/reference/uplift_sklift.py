"""Reference uplift evaluation metrics from scikit-uplift, for
crates/experiments/fixtures/sklift.json. Run once, never in the test command:

    ~/.venvs/peers/bin/pip install scikit-uplift
    ~/.venvs/peers/bin/python scripts/reference/uplift_sklift.py \
        > crates/experiments/fixtures/sklift.json

Each case is a binary outcome, a treatment flag and a predicted uplift per user (scores rounded
to two decimals in one case, so that ties are handled as sklift handles them). For each:
`qini_auc_score` (with and without `negative_effect`), `uplift_auc_score`, and `uplift_at_k`
at k = 0.1 and 0.3 with both strategies.
"""
import importlib.metadata
import json

import numpy as np
from sklift.metrics import qini_auc_score, uplift_at_k, uplift_auc_score

rng = np.random.default_rng(20261207)


def case(name, n, signal, decimals=None):
    treatment = (rng.random(n) < 0.5).astype(int)
    latent = rng.normal(0.0, 1.0, n)
    base = 1 / (1 + np.exp(-(latent - 1.0)))
    lift = 0.15 * (latent > 0.5)
    y = (rng.random(n) < base + treatment * lift).astype(int)
    score = signal * lift + rng.normal(0.0, 0.1, n)
    if decimals is not None:
        score = np.round(score, decimals)
    score = np.round(score, 6)
    out = {
        "name": name,
        "y": y.tolist(),
        "treatment": treatment.tolist(),
        "uplift": score.tolist(),
        "qini_auc": qini_auc_score(y, score, treatment),
        "qini_auc_no_negative": qini_auc_score(y, score, treatment, negative_effect=False),
        "uplift_auc": uplift_auc_score(y, score, treatment),
    }
    for k in (0.1, 0.3):
        for strategy in ("overall", "by_group"):
            out[f"uplift_at_{k}_{strategy}"] = uplift_at_k(y, score, treatment, strategy, k=k)
    return out


cases = [
    case("informative", 1000, 1.0),
    case("weak", 800, 0.2),
    case("ties", 600, 1.0, decimals=1),
]
version = importlib.metadata.version("scikit-uplift")
print(json.dumps({"scikit_uplift": version, "cases": cases}, indent=1))
