"""`implicit`'s ALS on the matrix crates/recommend/benches/als.rs writes, timed per iteration.

Same model as lifecycle's: 64 factors, regularization 0.01, CG (implicit's default of 3 steps), confidence
1 + alpha * w with alpha = 1 (implicit takes confidences as the matrix values), float32, CPU,
the same number of threads. Run by the bench (LIFECYCLE_PEER_PYTHON). Then both models' training
loss by implicit's calculate_loss, on lifecycle's factors (ours_users.npy, ours_items.npy) and its own.
"""
import sys
import time

import numpy as np
import scipy.sparse as sp
import threadpoolctl
from implicit.cpu.als import AlternatingLeastSquares

d, users, items, iterations, threads = sys.argv[1], *map(int, sys.argv[2:6])
m = sp.csr_matrix(
    (np.load(f"{d}/values.npy"), np.load(f"{d}/indices.npy"), np.load(f"{d}/indptr.npy")),
    shape=(users, items),
)
m.data = 1.0 + m.data  # confidence 1 + alpha * w
threadpoolctl.threadpool_limits(1, "blas")
model = AlternatingLeastSquares(factors=64, regularization=0.01, iterations=iterations,
                                use_cg=True, num_threads=threads,
                                calculate_training_loss=False, random_state=1)
t = time.perf_counter()
model.fit(m.astype(np.float32), show_progress=False)
print(f"implicit {(time.perf_counter() - t) / iterations:.4f} s/iteration")
# Both models' training loss by implicit's own function (the same formula for both).
from implicit.cpu import _als  # noqa: E402

cui = m.astype(np.float32).tocsr()
ours_x = np.load(f"{d}/ours_users.npy").reshape(users, 64)
ours_y = np.load(f"{d}/ours_items.npy").reshape(items, 64)
theirs = _als.calculate_loss(cui, model.user_factors, model.item_factors, 0.01, num_threads=threads)
ours = _als.calculate_loss(cui, ours_x, ours_y, 0.01, num_threads=threads)
print(f"loss implicit={theirs:.6f} lifecycle={ours:.6f} (implicit's calculate_loss, after {iterations} iterations)")
