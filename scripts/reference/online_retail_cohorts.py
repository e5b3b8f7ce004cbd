"""Reference cohort retention on the UCI Online Retail log, computed with DuckDB (not lifecycle),
for tests/it/golden/online_retail_cohorts.csv. Run once, never in the test command:

    python3 -m venv ~/.venvs/peers && ~/.venvs/peers/bin/pip install duckdb
    ~/.venvs/peers/bin/python scripts/reference/online_retail_cohorts.py > tests/it/golden/online_retail_cohorts.csv

It applies jobs/online_retail.toml's cleaning by hand: lines with a CustomerID that are not
cancellations (`InvoiceNo` not starting with C), London local times to UTC, amount = Quantity *
UnitPrice, exact duplicate lines counted once; events before the cutoff 2011-12-10. Cohorts are
months (UTC) of each customer's first line; retained = any line in the period. Prints the first
four cohorts' first four periods.
"""
import pathlib

import duckdb

log = pathlib.Path(__file__).resolve().parents[3] / "shared/datasets/online_retail/online_retail.csv.gz"
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
rows = con.execute(
    f"""
    WITH raw AS (
        SELECT CAST(CustomerID AS VARCHAR) AS user_id,
               timezone('Europe/London', CAST(InvoiceDate AS TIMESTAMP)) AS t,
               StockCode AS item_id, Quantity * UnitPrice AS amount
        FROM read_csv('{log}', header = true, all_varchar = false)
        WHERE CustomerID IS NOT NULL AND InvoiceNo NOT LIKE 'C%'),
    ev AS (SELECT DISTINCT user_id, t, item_id, amount FROM raw WHERE t < TIMESTAMPTZ '2011-12-10 00:00:00+00'),
    c AS (SELECT user_id, date_trunc('month', min(t)) AS cohort FROM ev GROUP BY user_id),
    a AS (SELECT user_id, date_trunc('month', t) AS at, sum(amount) AS revenue FROM ev GROUP BY 1, 2),
    sizes AS (SELECT cohort, count(*) AS users FROM c GROUP BY cohort),
    p AS (SELECT c.cohort, datediff('month', c.cohort, a.at) AS period,
                 count(DISTINCT a.user_id) AS retained, sum(a.revenue) AS revenue
          FROM a JOIN c USING (user_id) GROUP BY 1, 2)
    SELECT strftime(p.cohort, '%Y-%m-%d'), p.period, s.users, p.retained,
           p.retained / s.users AS rate, p.revenue / s.users AS revenue_per_user
    FROM p JOIN sizes s USING (cohort)
    WHERE p.cohort < TIMESTAMPTZ '2011-04-01 00:00:00+00' AND p.period < 4
    ORDER BY 1, 2
    """
).fetchall()
print("cohort,period,users,retained,rate,revenue_per_user")
for r in rows:
    print(f"{r[0]},{r[1]},{r[2]},{r[3]},{r[4]:.12f},{r[5]:.9f}")
