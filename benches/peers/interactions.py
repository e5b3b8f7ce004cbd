"""The decayed (user, item) interactions of a generated log, as crates/recommend/benches/serve.rs
reads them (LIFECYCLE_BENCH_INTERACTIONS): a headerless CSV of `user,item,weight,bought`.

The weights of the demo job's `[recommendations]`: purchase 5, share 3, like 3, comment 2,
view 1, a 30-day half-life, the 365 days before the cutoff; `bought` is the decayed purchase
count. DuckDB's sums are not the pipeline's exact decimals, so a weight may differ from the
pipeline's in its last bits: this file is for timing, not for comparing lists.

    python benches/peers/interactions.py EVENTS_DIR CUTOFF OUT.csv
    e.g. python benches/peers/interactions.py /tmp/bench10m/data/events 2024-12-31 /tmp/i.csv
"""
import sys

import duckdb

events, cutoff, out = sys.argv[1:4]
decay = f"pow(0.5, (epoch_us(TIMESTAMP '{cutoff}') - epoch_us(event_time)) / (30 * 86400e6))"
duckdb.sql(f"""
COPY (
  SELECT user_id, item_id, sum(w * {decay}) AS weight,
         coalesce(sum(CASE WHEN event_type = 'purchase' THEN {decay} END), 0) AS bought
  FROM (SELECT *, CASE event_type WHEN 'purchase' THEN 5.0 WHEN 'share' THEN 3.0
                   WHEN 'like' THEN 3.0 WHEN 'comment' THEN 2.0 WHEN 'view' THEN 1.0 END AS w
        FROM read_parquet('{events}/*/*.parquet', hive_partitioning = true))
  WHERE item_id IS NOT NULL AND w IS NOT NULL
    AND event_time >= TIMESTAMP '{cutoff}' - INTERVAL 365 DAY
    AND event_time < TIMESTAMP '{cutoff}'
  GROUP BY 1, 2
) TO '{out}' (HEADER false)
""")
