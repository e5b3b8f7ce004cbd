"""Churn on a subscription log: lifecycle with and without the behaviour features, against
scikit-learn on the same labels, over several seeds and monthly backtests.

For each seed, `lifecycle generate --mode subscription` writes one log; for each of the last
`--months` monthly cutoffs, jobs/subscription.toml runs twice: `counts` (the `[features.behaviour]`
section removed: windowed counts per type, recency, tenure, revenue) and `behaviour` (as the spec
says). Both export their churn frames (`[churn] export_training = true`), on which
benches/peers/churn_sklearn.py fits scikit-learn's LogisticRegression and
HistGradientBoostingClassifier (same train, validation and test dates, same calibration). Prints
one line per (seed, cutoff, features, model) and the mean test ROC-AUC of each model per feature
set, with the standard error over the backtests.

    python benches/churn_backtest.py [--seeds 1 2 3] [--users 20000] [--days 540] [--months 4]
        [--dir DIR] [--bin target/release/lifecycle]

Needs a release build of lifecycle (LIFECYCLE_BIN or --bin; else $CARGO_TARGET_DIR/release) and
a Python with scikit-learn, scipy, pandas and pyarrow. Never part of the test command: the figures
go into the issue notes, not into assertions.
"""
import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START = dt.date(2024, 1, 1)


def args():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--users", type=int, default=20000)
    p.add_argument("--days", type=int, default=540)
    p.add_argument("--months", type=int, default=4)
    p.add_argument("--dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "lifecycle-churn-backtest"))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/lifecycle/target"))
    p.add_argument("--bin", default=os.environ.get("LIFECYCLE_BIN", f"{target}/release/lifecycle"))
    return p.parse_args()


def spec_variant(features: str, out: Path) -> Path:
    """jobs/subscription.toml with export_training on and, for `counts`, no behaviour section."""
    text = (REPO / "jobs/subscription.toml").read_text()
    if features == "counts":
        text = re.sub(r"\[features\.behaviour\].*?(?=\n\[)", "", text, flags=re.S)
    text = text.replace("[churn]\n", "[churn]\nexport_training = true\n", 1)
    path = out / f"{features}.toml"
    path.write_text(text)
    return path


def run_one(a, data: Path, features: str, cutoff: dt.date):
    """One run of the spec variant; the JSON lines of churn_sklearn.py (lifecycle's included)."""
    work = data.parent / f"{features}-{cutoff}"
    work.mkdir(exist_ok=True)
    (work / "data").unlink(missing_ok=True)
    (work / "data").symlink_to(data)
    spec = spec_variant(features, work)
    subprocess.run([a.bin, "run", str(spec), "--as-of", str(cutoff)], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "LIFECYCLE_LOG": "warn"})
    peers = subprocess.run([sys.executable, str(REPO / "benches/peers/churn_sklearn.py"),
                            str(work / "out"), str(cutoff)], check=True, capture_output=True, text=True)
    return [json.loads(line) for line in peers.stdout.splitlines() if line.startswith("{")]


def main():
    a = args()
    root = Path(a.dir)
    results = []
    for seed in a.seeds:
        data = root / f"seed-{seed}" / "data"
        if not (data / "events").exists():
            subprocess.run([a.bin, "generate", "--mode", "subscription", "--out", str(data),
                            "--users", str(a.users), "--days", str(a.days), "--seed", str(seed)],
                           check=True, stdout=subprocess.DEVNULL)
        end = START + dt.timedelta(days=a.days)
        for k in range(a.months):
            cutoff = end - dt.timedelta(days=30 * k)
            for features in ("counts", "behaviour"):
                for line in run_one(a, data, features, cutoff):
                    if "model" in line:
                        row = {"seed": seed, "cutoff": str(cutoff), "features": features, **line}
                        results.append(row)
                        print(json.dumps(row), flush=True)
    summarise(results)


def summarise(results):
    print("\nmean test ROC-AUC over the backtests (standard error)")
    keys = sorted({(r["features"], r["model"]) for r in results})
    for features, model in keys:
        aucs = [r["test_roc_auc"] for r in results if (r["features"], r["model"]) == (features, model)]
        se = statistics.stdev(aucs) / len(aucs) ** 0.5 if len(aucs) > 1 else float("nan")
        print(f"{features:10} {model:22} {statistics.mean(aucs):.4f} ({se:.4f})  n={len(aucs)}")


if __name__ == "__main__":
    main()
