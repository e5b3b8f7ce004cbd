"""Reference solution for lifecycle-models' logistic regression unit test.

Fits scikit-learn's LogisticRegression on the test's 12-row weighted problem. Our objective,
(1/W) * sum(w_i * logloss_i) + (l2/2) * ||beta||^2, is scikit-learn's with C = 1 / (l2 * W).
Run: python benches/peers/logistic_reference.py   (needs scikit-learn; not part of the tests)
"""
import numpy as np
from sklearn.linear_model import LogisticRegression

X = np.array([
    [0.5, 1.0], [1.0, -0.5], [1.5, 2.0], [2.0, 0.0],
    [2.5, 1.5], [3.0, -1.0], [0.2, 0.3], [1.2, 1.1],
    [2.2, -0.7], [2.8, 0.4], [3.5, 1.0], [0.8, -1.2],
])
y = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0])
w = np.array([1.0, 2.0, 1.0, 1.0, 0.5, 1.0, 1.0, 3.0, 1.0, 1.0, 1.0, 1.0])
for l2 in [0.1]:
    m = LogisticRegression(C=1.0 / (l2 * w.sum()), tol=1e-12, max_iter=10_000)
    m.fit(X, y, sample_weight=w)
    print(f"l2={l2}: [{float(m.intercept_[0])!r}, {float(m.coef_[0][0])!r}, {float(m.coef_[0][1])!r}]")
m = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y, sample_weight=w)
print(f"l2=0: [{float(m.intercept_[0])!r}, {float(m.coef_[0][0])!r}, {float(m.coef_[0][1])!r}]")
