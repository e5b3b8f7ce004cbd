"""scikit-learn on the same churn frames as lifecycle's churn step, for the closing comparison.

Reads the `churn_training` table a run publishes with `[churn] export_training = true` (train,
validation and test observation dates, labels and features) and fits, like lifecycle:
  - LogisticRegression with class_weight='balanced' on log1p(skewed) + standardised features,
    C = 1 / (l2 * n) (lifecycle's objective is the weighted mean loss + l2/2 ||beta||^2);
  - HistGradientBoostingClassifier (max_depth 6, min_samples_leaf 20, l2 1.0, learning rate 0.1,
    class_weight='balanced'), the number of trees chosen on the validation date as lifecycle's
    early stopping does (best validation log loss, up to 300 trees).
Both are Platt-calibrated on the validation date and evaluated on the test date with the same
metric conventions (lifecycle_models::metrics): ROC-AUC, average precision, top-decile lift.

Run: python benches/peers/churn_sklearn.py OUTPUT_DIR RUN_DATE [--l2 1e-4]
(needs scikit-learn, pandas, pyarrow; not part of the test command)
"""
import argparse
import glob
import json
import math
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

p = argparse.ArgumentParser()
p.add_argument("output")
p.add_argument("run_date")
p.add_argument("--l2", type=float, default=1e-4)
a = p.parse_args()

path = f"{a.output}/churn_training/run_date={a.run_date}/part-0.parquet"
df = pd.read_parquet(path)
features = [c for c in df.columns if c not in ("user_id", "observation_date", "split", "churned")]
split = {s: df[df.split == s] for s in ("train", "validation", "test")}
X = {s: d[features].to_numpy(dtype=float) for s, d in split.items()}
y = {s: d.churned.to_numpy(dtype=bool) for s, d in split.items()}


def top_decile_lift(y, p):
    """Precision in the ceil(n/10) highest scores over the base rate, ties in proportion."""
    order = np.argsort(-p, kind="stable")
    top = math.ceil(len(p) / 10)
    ys, ps = y[order], p[order]
    taken, pos, i = 0, 0.0, 0
    while taken < top:
        j = i
        while j < len(ps) and ps[j] == ps[i]:
            j += 1
        size, g = j - i, ys[i:j].sum()
        room = top - taken
        if size <= room:
            pos += g
            taken += size
        else:
            pos += g * room / size
            taken = top
        i = j
    return (pos / top) / y.mean()


def platt(raw_valid, y_valid):
    """Platt scaling with Platt's smoothed targets, fitted like lifecycle's."""
    pos, neg = y_valid.sum(), (~y_valid).sum()
    t = np.where(y_valid, (pos + 1) / (pos + 2), 1 / (neg + 2))
    from scipy.optimize import minimize

    def f(ab):
        z = ab[0] * raw_valid + ab[1]
        return np.mean(np.logaddexp(0, z) - t * z)

    ab = minimize(f, [1.0, 0.0], method="L-BFGS-B").x
    return lambda raw: 1 / (1 + np.exp(-(ab[0] * raw + ab[1])))


def report(name, raw_valid, raw_test, seconds):
    cal = platt(raw_valid, y["validation"])
    pt = cal(raw_test)
    out = {
        "model": name,
        "test_roc_auc": roc_auc_score(y["test"], pt),
        "test_pr_auc": average_precision_score(y["test"], pt),
        "test_top_decile_lift": top_decile_lift(y["test"], pt),
        "test_log_loss": log_loss(y["test"], np.clip(pt, 1e-15, 1 - 1e-15)),
        "validation_roc_auc": roc_auc_score(y["validation"], raw_valid),
        "fit_seconds": seconds,
    }
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}))


# Logistic regression: lifecycle's scaling rule (log1p when min >= 0 and skewness > 1).
train = X["train"]
cols = []
for j in range(train.shape[1]):
    v = train[:, j][~np.isnan(train[:, j])]
    m, s = v.mean(), v.std()
    skew = ((v - m) ** 3).mean() / s**3 if s > 0 else 0
    log = v.min() >= 0 and skew > 1
    w = np.log1p(v) if log else v
    cols.append((log, w.mean(), w.std() if w.std() > 1e-12 else 1.0))


def scale(x):
    z = np.empty_like(x)
    for j, (log, m, s) in enumerate(cols):
        v = np.log1p(np.maximum(x[:, j], 0)) if log else x[:, j]
        z[:, j] = np.where(np.isnan(x[:, j]), 0.0, (v - m) / s)
    return z


n = len(y["train"])
t = time.perf_counter()
lr = LogisticRegression(C=1 / (a.l2 * n), class_weight="balanced", max_iter=5000, tol=1e-8)
lr.fit(scale(X["train"]), y["train"])
secs = time.perf_counter() - t
report("sklearn_logistic", lr.decision_function(scale(X["validation"])),
       lr.decision_function(scale(X["test"])), secs)

t = time.perf_counter()
hgb = HistGradientBoostingClassifier(
    max_iter=300, learning_rate=0.1, max_depth=6, min_samples_leaf=20, l2_regularization=1.0,
    max_leaf_nodes=None, class_weight="balanced", early_stopping=False, random_state=0)
hgb.fit(X["train"], y["train"])
secs = time.perf_counter() - t
wv = np.where(y["validation"], n / (2 * y["train"].sum()), n / (2 * (~y["train"]).sum()))
losses = [log_loss(y["validation"], p[:, 1], sample_weight=wv) for p in hgb.staged_predict_proba(X["validation"])]
best = int(np.argmin(losses)) + 1
raw = lambda x: list(hgb.staged_decision_function(x))[best - 1].ravel()
print(f"# HistGradientBoosting: {best} trees chosen on the validation date")
report("sklearn_hist_gbdt", raw(X["validation"]), raw(X["test"]), secs)

# lifecycle's own numbers from the same run, for the side-by-side.
manifests = glob.glob(f"{a.output}/run_manifest/run_date={a.run_date}/manifest.json")
if manifests:
    churn = json.load(open(manifests[0]))["models"]["churn"]
    for e in churn["evaluations"]:
        if e["split"] == "test":
            m = e["metrics"]
            print(json.dumps({"model": "lifecycle_" + e["model"], "test_roc_auc": round(m["roc_auc"], 4),
                              "test_pr_auc": round(m["pr_auc"], 4),
                              "test_top_decile_lift": round(m["top_decile_lift"], 4),
                              "test_log_loss": round(m["log_loss"], 4)}))
    print(json.dumps({"rows": churn["training"]["rows"], "selected": churn["selected"]}))
