"""The `user_features` table computed by a peer a data engineer would reach for: polars (lazy,
streaming) or DuckDB. The definitions are lifecycle's (docs/outputs.md, `user_features`) with
the default windows (7/30/90 days, A = 30, L = 90) and event types (purchase, view, like,
comment, share, follow, signup); what the quality step does (dropping bad rows and exact
duplicates) is left out, so a peer does less work than lifecycle's whole run.

Run: python benches/peers/features_peers.py polars|duckdb EVENTS_DIR CUTOFF OUT.parquet
(needs polars or duckdb; benches/compare.sh makes the venv). Prints the wall time of the query
and the rows written.
"""
import sys
import time
from datetime import datetime, timezone

engine, events, cutoff, out = sys.argv[1:5]
T = datetime.fromisoformat(cutoff).replace(tzinfo=timezone.utc)
T_US = int(T.timestamp() * 1_000_000)
DAY = 86_400_000_000
TYPES = ["purchase", "view", "like", "comment", "share", "follow", "signup"]


def duckdb_sql():
    def days(expr):
        return f"({T_US} - {expr}) / {DAY}.0"

    since = lambda n: T_US - n * DAY
    per_type = ",\n".join(
        f"count(*) FILTER (WHERE event_type = '{t}' AND ts >= {since(30)}) AS {t}_30d" for t in TYPES
    )
    return f"""
    WITH e AS (
      SELECT user_id, event_type, item_id, amount, event_time,
             epoch_us(event_time) AS ts
      FROM read_parquet('{events}/**/*.parquet', hive_partitioning = false)
      WHERE event_time < TIMESTAMPTZ '{T.isoformat()}'
    )
    SELECT user_id,
      min(event_time) AS first_event_at, max(event_time) AS last_event_at,
      {days('min(ts)')} AS tenure_days, {days('max(ts)')} AS recency_days,
      count(*) AS events_total,
      count(*) FILTER (WHERE ts >= {since(7)}) AS events_7d,
      count(*) FILTER (WHERE ts >= {since(30)}) AS events_30d,
      count(*) FILTER (WHERE ts >= {since(90)}) AS events_90d,
      {per_type},
      count(DISTINCT ts // {DAY}) FILTER (WHERE ts >= {since(30)}) AS active_days_30d,
      count(*) FILTER (WHERE event_type = 'purchase') AS purchases_total,
      coalesce(sum(amount) FILTER (WHERE event_type = 'purchase'), 0) AS revenue_total,
      coalesce(sum(amount) FILTER (WHERE event_type = 'purchase' AND ts >= {since(90)}), 0) AS revenue_90d,
      sum(amount) FILTER (WHERE event_type = 'purchase')
        / nullif(count(*) FILTER (WHERE event_type = 'purchase'), 0) AS avg_order_value,
      max(event_time) FILTER (WHERE event_type = 'purchase') AS last_purchase_at,
      {days("max(ts) FILTER (WHERE event_type = 'purchase')")} AS purchase_recency_days,
      (count(*) FILTER (WHERE ts >= {since(30)})
        - count(*) FILTER (WHERE ts >= {since(60)} AND ts < {since(30)}))
        / (count(*) FILTER (WHERE ts >= {since(60)} AND ts < {since(30)}) + 1.0) AS activity_trend,
      count(DISTINCT item_id) FILTER (WHERE ts >= {since(90)}) AS distinct_items_90d
    FROM e GROUP BY user_id
    """


def run_duckdb():
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"COPY ({duckdb_sql()}) TO '{out}' (FORMAT parquet)")
    return con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]


def run_polars():
    import polars as pl

    e = pl.scan_parquet(f"{events}/**/*.parquet", hive_partitioning=False)
    e = e.filter(pl.col("event_time") < T).with_columns(
        ts=pl.col("event_time").dt.epoch("us")
    )
    ts, ty = pl.col("ts"), pl.col("event_type")
    since = lambda n: ts >= T_US - n * DAY
    buy = ty == "purchase"
    days = lambda x: (T_US - x) / DAY
    prev = (since(60) & ~since(30)).sum().cast(pl.Int64)
    aggs = [
        pl.col("event_time").min().alias("first_event_at"),
        pl.col("event_time").max().alias("last_event_at"),
        days(ts.min()).alias("tenure_days"),
        days(ts.max()).alias("recency_days"),
        pl.len().alias("events_total"),
        *[since(n).sum().alias(f"events_{n}d") for n in (7, 30, 90)],
        *[((ty == t) & since(30)).sum().alias(f"{t}_30d") for t in TYPES],
        (ts // DAY).filter(since(30)).n_unique().alias("active_days_30d"),
        buy.sum().alias("purchases_total"),
        pl.col("amount").filter(buy).sum().alias("revenue_total"),
        pl.col("amount").filter(buy & since(90)).sum().alias("revenue_90d"),
        pl.col("amount").filter(buy).mean().alias("avg_order_value"),
        pl.col("event_time").filter(buy).max().alias("last_purchase_at"),
        days(ts.filter(buy).max()).alias("purchase_recency_days"),
        ((since(30).sum().cast(pl.Int64) - prev) / (prev + 1.0)).alias("activity_trend"),
        pl.col("item_id").filter(since(90)).drop_nulls().n_unique().alias("distinct_items_90d"),
    ]
    e.group_by("user_id").agg(aggs).sink_parquet(out)
    return pl.scan_parquet(out).select(pl.len()).collect().item()


started = time.perf_counter()
rows = run_polars() if engine == "polars" else run_duckdb()
print(f"{engine}: {rows} users in {time.perf_counter() - started:.2f} s")
