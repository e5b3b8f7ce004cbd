"""The run for day N with 30, 180 and 365 days of history: the feature step and the whole run
from every event against those of `[incremental]`, which updates the previous day's rollup and
reads only the recent date partitions.

For each history length H, `lifecycle generate` writes one log of H days in a steady state:
users sign up at a constant rate (`--users-per-day`) from `--warmup-days` before the log's first
day (`lifecycle generate --warmup-days`), so every log, short or long, has about the same active
users and events on every day; only the history behind day N grows (and with it the users seen
at least once, one `user_features` row each).
Then, on the log's last day N, three runs of a minimal spec (events, default features and
stages):

- `events`: no `[incremental]` section: `user_features` from every event, as before;
- `full`: `[incremental] mode = "full"`: the rollup rebuilt from every event, then the features;
- `incremental`: the run of N - 1 first (a rebuild), then the run of N, which reads the rollup
  of N - 1 and recomputes the last `lookback_days` (3) days only.

Prints, per H and run, the events read, the events of day N - 1, and the seconds of the
`features` step (from the manifest) and of the whole run (wall clock), and checks that the three
`user_features` and the three `cohort_retention` files are byte-identical.

    python benches/incremental_history.py [--days 30 180 365] [--users-per-day 300]
        [--warmup-days 900]
        [--dir DIR] [--bin target/release/lifecycle]

Needs a release build of lifecycle (LIFECYCLE_BIN or --bin; else $CARGO_TARGET_DIR/release).
Standard library only. Never part of the test command: the figures go into the issue notes.
"""
import argparse
import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path

START = dt.date(2024, 1, 1)

SPEC = """[job]
name = "history-{name}"
output = "out_{name}"
[events]
url = "data/events/"
partition_key = "dt"
{section}
"""

SECTIONS = {
    "events": "",
    "full": '[incremental]\nmode = "full"\n',
    "incremental": "[incremental]\n",
}


def args():
    p = argparse.ArgumentParser()
    p.add_argument("--days", type=int, nargs="+", default=[30, 180, 365])
    p.add_argument("--users-per-day", type=int, default=300)
    p.add_argument("--warmup-days", type=int, default=900)
    p.add_argument("--dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "lifecycle-history"))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/lifecycle/target"))
    p.add_argument("--bin", default=os.environ.get("LIFECYCLE_BIN", f"{target}/release/lifecycle"))
    return p.parse_args()


def lifecycle(a, *argv, cwd=None):
    done = subprocess.run([a.bin, *argv], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"lifecycle {' '.join(argv)} failed:\n{done.stderr}")


def generate(a, days: int) -> Path:
    """The log of `days` days in its own folder (kept between invocations of the script)."""
    work = Path(a.dir) / f"days-{days}-rate-{a.users_per_day}-warmup-{a.warmup_days}"
    if not (work / "data/events").exists():
        work.mkdir(parents=True, exist_ok=True)
        users = str(a.users_per_day * (days + a.warmup_days))
        lifecycle(a, "generate", "--out", str(work / "data"), "--users", users, "--items", "5000",
                  "--days", str(days), "--start", START.isoformat(),
                  "--warmup-days", str(a.warmup_days))
    return work


def run(a, work: Path, name: str, day: dt.date):
    """One run; its features step's seconds, its wall seconds and its manifest."""
    spec = work / f"{name}.toml"
    spec.write_text(SPEC.format(name=name, section=SECTIONS[name]))
    began = time.perf_counter()
    lifecycle(a, "run", str(spec), "--as-of", day.isoformat(), cwd=work)
    wall = time.perf_counter() - began
    manifest = json.loads((work / f"out_{name}/run_manifest/run_date={day}/manifest.json").read_text())
    features = next(s["seconds"] for s in manifest["steps"] if s["step"] == "features")
    return features, wall, manifest


def rows_of_day(work: Path, day: dt.date) -> int:
    """Events filed under `day` (from the Parquet footers, via pyarrow when it is there)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return -1
    folder = work / f"data/events/dt={day}"
    return sum(pq.ParquetFile(f).metadata.num_rows for f in folder.glob("*.parquet"))


def main():
    a = args()
    print("days  events_read  events_day_N-1  users  run          features_s  run_s  rollup")
    for days in a.days:
        work = generate(a, days)
        day = START + dt.timedelta(days=days - 1)
        previous = day - dt.timedelta(days=1)
        for name in SECTIONS:
            if name == "incremental":
                run(a, work, name, previous)
            features, wall, manifest = run(a, work, name, day)
            rollup = manifest.get("rollup") or {}
            how = "-" if not rollup else (f"rebuilt" if rollup.get("rebuilt") else
                                         f"from {rollup.get('recomputed_from')}")
            users = sum(manifest["stages"].values())
            print(f"{days:4}  {manifest['rows']['read']:11}  {rows_of_day(work, previous):14}  "
                  f"{users:6}  {name:11}  {features:10.3f}  {wall:5.2f}  {how}")
        for table in ("user_features", "cohort_retention"):
            files = [(work / f"out_{n}/{table}/run_date={day}/part-0.parquet").read_bytes()
                     for n in SECTIONS]
            assert all(f == files[0] for f in files), f"{table} differ at {days} days"


if __name__ == "__main__":
    main()
