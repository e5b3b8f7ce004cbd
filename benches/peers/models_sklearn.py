"""scikit-learn on the matrix crates/models/benches/training.rs writes (x.npy, y.npy): the same fits, timed.

Run by the bench itself (LIFECYCLE_PEER_PYTHON); prints `<model> <seconds> <detail>` lines.
K-means: 50 Lloyd iterations from one k-means++ start (tol 0, algorithm 'lloyd');
logistic regression: lbfgs to tol 1e-6 with C = 1 / (1e-4 * n) (lifecycle's objective);
HistGradientBoostingClassifier: 100 trees, depth 6, min_samples_leaf 20, no early stopping.
"""
import sys
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

d, runs = sys.argv[1], int(sys.argv[2])
x = np.load(f"{d}/x.npy")
y = np.load(f"{d}/y.npy")
n = len(y)


def best(f):
    t_best, out = float("inf"), None
    for _ in range(runs):
        t = time.perf_counter()
        out = f()
        t_best = min(t_best, time.perf_counter() - t)
    return t_best, out


t, km = best(lambda: KMeans(8, init="k-means++", n_init=1, max_iter=50, tol=0.0,
                            algorithm="lloyd", random_state=1).fit(x))
print(f"kmeans {t:.4f} iterations={km.n_iter_} inertia={km.inertia_:.6e}")
t, lr = best(lambda: LogisticRegression(C=1 / (1e-4 * n), tol=1e-6, max_iter=1000).fit(x, y))
print(f"logistic {t:.4f} iterations={lr.n_iter_[0]}")
t, gb = best(lambda: HistGradientBoostingClassifier(
    max_iter=100, learning_rate=0.1, max_depth=6, max_leaf_nodes=None, min_samples_leaf=20,
    l2_regularization=1.0, early_stopping=False, random_state=0).fit(x, y))
auc = roc_auc_score(y, gb.predict_proba(x)[:, 1])
print(f"hist_gbdt {t:.4f} trees={gb.n_iter_} training_auc={auc:.4f}")
