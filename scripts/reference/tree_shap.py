"""Reference path-dependent TreeSHAP values computed with the `shap` package, for
crates/models/fixtures/tree_shap.json. Run once, never in the test command:

    ~/.venvs/peers/bin/pip install shap numpy
    ~/.venvs/peers/bin/python scripts/reference/tree_shap.py > crates/models/fixtures/tree_shap.json

A boosted ensemble of random trees is written in lifecycle's saved-model form (`Gbdt`: node
0 the root, `split` nodes send `NaN` and values `<= threshold` left, every node has its
`cover`, the training hessian sum through it) and handed to `shap.TreeExplainer` as a custom
tree dictionary (the same trees, `children_default` = left, `node_sample_weight` = cover).
Few features and a small grid of thresholds and values make a feature recur on a path (the
path unwinding), rows hit thresholds exactly (`<=`) and some values are missing.
"""
import json
import math

import numpy as np
import shap

rng = np.random.default_rng(20261207)
FEATURES = 5
GRID = [-1.0, 0.0, 0.5, 1.0, 2.0]


def grow(nodes, depth):
    """Appends a random subtree in pre-order; returns its index and cover."""
    index = len(nodes)
    nodes.append(None)
    if depth == 0 or (depth < 4 and rng.random() < 0.25):
        cover = float(np.round(rng.uniform(0.5, 40.0), 3))
        nodes[index] = {"kind": "leaf", "value": float(np.round(rng.normal(0, 0.5), 6)), "cover": cover}
        return index, cover
    left, lc = grow(nodes, depth - 1)
    right, rc = grow(nodes, depth - 1)
    nodes[index] = {
        "kind": "split",
        "feature": int(rng.integers(FEATURES)),
        "threshold": float(rng.choice(GRID)),
        "left": left,
        "right": right,
        "value": 0.0,
        "gain": 1.0,
        "cover": lc + rc,
    }
    return index, lc + rc


def as_shap(nodes):
    """The tree as shap's custom dictionary."""
    split = [n["kind"] == "split" for n in nodes]
    left = [n["left"] if s else -1 for n, s in zip(nodes, split)]
    right = [n["right"] if s else -1 for n, s in zip(nodes, split)]
    return {
        "children_left": np.array(left),
        "children_right": np.array(right),
        "children_default": np.array(left),
        "features": np.array([n["feature"] if s else -2 for n, s in zip(nodes, split)]),
        "thresholds": np.array([n["threshold"] if s else -2.0 for n, s in zip(nodes, split)]),
        "values": np.array([[n["value"]] for n in nodes]),
        "node_sample_weight": np.array([n["cover"] for n in nodes]),
    }


trees = []
for _ in range(12):
    nodes = []
    grow(nodes, 5)
    trees.append({"nodes": nodes})
base_score = -0.4
explainer = shap.TreeExplainer(
    {"trees": [as_shap(t["nodes"]) for t in trees], "base_offset": base_score},
    feature_perturbation="tree_path_dependent",
)
rows = rng.choice(GRID + [0.25, 1.5, 3.0], size=(40, FEATURES))
rows[rng.random(rows.shape) < 0.1] = np.nan
values = explainer.shap_values(rows)
print(
    json.dumps(
        {
            "source": "shap " + shap.__version__ + " TreeExplainer(feature_perturbation='tree_path_dependent')",
            "model": {
                "base_score": base_score,
                "trees": trees,
                "feature_gain": [1.0] * FEATURES,
                "validation_loss": [],
            },
            "rows": [[None if math.isnan(v) else float(v) for v in r] for r in rows],
            "shap": [[float(v) for v in r] for r in values],
            "expected_value": float(np.ravel(explainer.expected_value)[0]),
        },
        indent=1,
    )
)
