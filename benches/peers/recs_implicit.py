"""`implicit`'s ALS on the split lifecycle's recommendation step evaluated on.

Reads `recommendation_train` (user_id, item_id, decayed weight) and `recommendation_test` from a
run with `[recommendations] export_split = true` (jobs/online_retail.toml), fits implicit's CPU
ALS with lifecycle's settings (64 factors, regularization 0.01, 15 iterations, CG, confidence
1 + alpha * w with alpha = 10), lists 10 items per test user without filtering items the user
already has (lifecycle's lists do not filter them either: exclude_purchased = false), and
scores them with lifecycle's metric conventions (crates/recommend/src/metrics.rs). Prints them
next to lifecycle's own numbers from the run's manifest.

Run: python benches/peers/recs_implicit.py OUTPUT RUN_DATE   (needs implicit, pandas, pyarrow)
"""
import json
import math
import sys

import numpy as np
import pandas as pd
import scipy.sparse as sp
import threadpoolctl
from implicit.cpu.als import AlternatingLeastSquares

out, run_date = sys.argv[1], sys.argv[2]
train = pd.read_parquet(f"{out}/recommendation_train/run_date={run_date}/part-0.parquet")
test = pd.read_parquet(f"{out}/recommendation_test/run_date={run_date}/part-0.parquet")
manifest = json.load(open(f"{out}/run_manifest/run_date={run_date}/manifest.json"))
spec = manifest["spec"]["recommendations"]
als = spec["als"]
k = spec["n"]

users = {u: i for i, u in enumerate(sorted(train.user_id.unique()))}
items = sorted(train.item_id.unique())
item_index = {v: i for i, v in enumerate(items)}
m = sp.csr_matrix(
    (1.0 + als["alpha"] * train.weight.to_numpy(dtype=np.float32),
     (train.user_id.map(users).to_numpy(), train.item_id.map(item_index).to_numpy())),
    shape=(len(users), len(items)), dtype=np.float32)
threadpoolctl.threadpool_limits(1, "blas")
model = AlternatingLeastSquares(factors=als["factors"], regularization=als["regularization"],
                                iterations=als["iterations"], use_cg=True, random_state=als["seed"])
model.fit(m, show_progress=False)

relevant = test[test.user_id.isin(users)].groupby("user_id").item_id.apply(set).to_dict()
uids = sorted(relevant)
rows = np.array([users[u] for u in uids])
ids, _ = model.recommend(rows, m[rows], N=k, filter_already_liked_items=False)
p = r = nd = ap = 0.0
shown = set()
for u, rec in zip(uids, ids):
    truth = relevant[u]
    rec = [items[i] for i in rec]
    shown.update(rec)
    hits, dcg, psum = 0, 0.0, 0.0
    for rank, it in enumerate(rec, 1):
        if it in truth:
            hits += 1
            dcg += 1 / math.log2(1 + rank)
            psum += hits / rank
    ideal = sum(1 / math.log2(1 + r_) for r_ in range(1, min(len(truth), k) + 1))
    p += hits / k
    r += hits / len(truth)
    nd += dcg / ideal
    ap += psum / min(len(truth), k)
n = len(uids)
print(json.dumps({"algorithm": "implicit_als", "users": n, "precision": round(p / n, 4),
                  "recall": round(r / n, 4), "ndcg": round(nd / n, 4), "map": round(ap / n, 4),
                  "coverage": round(len(shown) / len(items), 4)}))
for e in manifest["models"]["recommendations"]["evaluation"]:
    mt = e["metrics"]
    print(json.dumps({"algorithm": "lifecycle_" + e["algorithm"], "users": mt["users"],
                      **{key: round(mt[key], 4) for key in ("precision", "recall", "ndcg", "map", "coverage")}}))
