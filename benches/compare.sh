#!/usr/bin/env bash
# The whole run against the peers, on one generated log: polars and DuckDB computing only the
# feature table (benches/peers/features_peers.py), lifecycle's whole run (read, quality,
# features, stages and RFM, publish), and with --models the demo job with every model on.
# Prints wall time and peak RSS of each, and lifecycle's ratios to the peers.
#
#   benches/compare.sh [--users 250000] [--items 100000] [--days 365] [--dir DIR] [--models]
#
# Needs a release build (built here unless LIFECYCLE_BIN names a binary), Python 3 and /usr/bin/time;
# the peers go into a venv at ~/.cache/lifecycle/bench-venv on first use. Never part of the
# test command: the figures go into the issue notes, not into assertions.
set -euo pipefail
cd "$(dirname "$0")/.."
users=250000 items=100000 days=365 dir="" models=0
while [ $# -gt 0 ]; do
  case "$1" in
    --users) users="$2"; shift 2 ;;
    --items) items="$2"; shift 2 ;;
    --days) days="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --models) models=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
dir="${dir:-${TMPDIR:-/tmp}/lifecycle-bench-$users-$items-$days}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lifecycle/target}"
bin="${LIFECYCLE_BIN:-$CARGO_TARGET_DIR/release/lifecycle}"
[ -n "${LIFECYCLE_BIN:-}" ] || cargo build --release --quiet
venv="$HOME/.cache/lifecycle/bench-venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet polars==2.1.0 duckdb==2.0.1 pyarrow==26.0.1
fi
mkdir -p "$dir"
if [ ! -d "$dir/data/events" ]; then
  "$bin" generate --out "$dir/data" --users "$users" --items "$items" --days "$days" >&2
fi
start=$(python3 -c "print(__import__('datetime').date(2024, 1, 1).isoformat())")
cutoff=$(python3 -c "import datetime as d; print(d.date(2024, 1, 1) + d.timedelta(days=$days))")

# measure NAME COMMAND...: one timed run; appends "NAME wall_s peak_mib" to $dir/results.
: > "$dir/results"
measure() {
  local name="$1"; shift
  if ! /usr/bin/time -f "%e %M" -o "$dir/time.$name" "$@" > "$dir/log.$name" 2>&1; then
    echo "$name failed: $(grep -v '^{' "$dir/log.$name" | tail -2)" >&2
    return 0
  fi
  read -r wall kb < "$dir/time.$name"
  echo "$name $wall $((kb / 1024))" >> "$dir/results"
}
write_spec() {  # write_spec FILE EXTRA: the features-only job, or the demo job
  printf '[job]\nname = "bench"\noutput = "%s"\n[events]\nurl = "data/events/"\n%s' "$3" "$2" > "$1"
}
rm -rf "$dir/out-"* "$dir/peer-"*
measure polars "$venv/bin/python" benches/peers/features_peers.py polars "$dir/data/events" "$cutoff" "$dir/peer-polars.parquet"
measure duckdb "$venv/bin/python" benches/peers/features_peers.py duckdb "$dir/data/events" "$cutoff" "$dir/peer-duckdb.parquet"
write_spec "$dir/features.toml" "" "out-features"
measure lifecycle "$bin" run "$dir/features.toml" --as-of "$cutoff"
if [ "$models" = 1 ]; then
  sed -e 's|^output = .*|output = "out-demo"|' jobs/demo.toml > "$dir/demo.toml"
  measure lifecycle_all_models "$bin" run "$dir/demo.toml" --as-of "$cutoff"
fi
echo "log: $users users, $items items, $days days from $start; cutoff $cutoff; under $dir"
awk '{ printf "%-22s %8.2f s %8d MiB\n", $1, $2, $3 }' "$dir/results"
python3 - "$dir" <<'EOF'
import json, pathlib, sys
d = pathlib.Path(sys.argv[1])
r = {l.split()[0]: (float(l.split()[1]), int(l.split()[2])) for l in open(d / "results")}
for run in [p for p in ("lifecycle", "lifecycle_all_models") if p in r]:
    out = "out-features" if run == "lifecycle" else "out-demo"
    steps = json.load(open(next(d.glob(f"{out}/run_manifest/*/manifest.json"))))["steps"]
    print(f"{run} steps: " + ", ".join(f"{s['step']} {s['seconds']:.2f} s" for s in steps))
for peer in ("polars", "duckdb"):
    w, m = r[peer]
    lw, lm = r["lifecycle"]
    print(f"lifecycle's whole run vs {peer}'s features: {w / lw:.2f}x the speed, {lm / m:.2f}x the memory")
EOF
