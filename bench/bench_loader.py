"""The warehouse loader against the ways people load rows: a per-row upsert loop and raw COPY into the table.

All three load the same 200k ``metrics`` rows into the same PostgreSQL in the same run; the figures that matter are
the ratios. Targets: loader >= 8x the per-row loop, >= 0.7x raw COPY into the keyed table.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from cryptoflow.warehouse import upsert_rows

COLUMNS = ("source", "asset", "metric", "ts", "value")
KEY = ("source", "asset", "metric", "ts")


def generate_rows(n: int) -> list[dict]:
    rng = random.Random(42)
    assets = [f"asset{i:03d}" for i in range(200)]
    metrics = ["TVL", "FEES_24H", "REVENUE_24H", "DEX_VOLUME_24H", "PRICE"]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    i = 0
    while len(rows) < n:
        asset, metric = assets[i % len(assets)], metrics[(i // len(assets)) % len(metrics)]
        day = i // (len(assets) * len(metrics))
        rows.append({"source": "bench", "asset": asset, "metric": metric, "ts": start + timedelta(days=day),
                     "value": Decimal(str(round(rng.uniform(1, 1e9), 4)))})
        i += 1
    return rows


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(ctx) -> dict[str, float]:
    n = 20_000 if ctx.quick else 200_000
    per_row_n = 1_000 if ctx.quick else 5_000
    rows = generate_rows(n)
    dsn = ctx.fresh_warehouse("bench_loader")

    with psycopg.connect(dsn) as conn:
        def loader():
            with conn.transaction(), conn.cursor() as cur:
                upsert_rows(cur, "metrics", rows, KEY)

        conn.execute("TRUNCATE metrics")
        conn.commit()
        insert_s = _timed(loader)
        reupsert_s = _timed(loader)

        conn.execute("TRUNCATE metrics")
        conn.commit()

        def raw_copy():
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy("COPY metrics (source, asset, metric, ts, value) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([row[c] for c in COLUMNS])

        copy_s = _timed(raw_copy)
        conn.execute("TRUNCATE metrics")
        conn.commit()

    # How ad-hoc scripts do it: one INSERT ... ON CONFLICT per row, each committed as it goes.
    with psycopg.connect(dsn, autocommit=True) as conn:
        def per_row():
            for row in rows[:per_row_n]:
                conn.execute(
                    "INSERT INTO metrics (source, asset, metric, ts, value) VALUES (%s, %s, %s, %s, %s) "
                    "ON CONFLICT (source, asset, metric, ts) DO UPDATE SET value = EXCLUDED.value",
                    [row[c] for c in COLUMNS])

        per_row_s = _timed(per_row)

    loader_rate, reupsert_rate = n / insert_s, n / reupsert_s
    per_row_rate, copy_rate = per_row_n / per_row_s, n / copy_s
    return {
        "loader_insert_rows_per_s": round(loader_rate),
        "loader_reupsert_rows_per_s": round(reupsert_rate),
        "per_row_rows_per_s": round(per_row_rate),
        "raw_copy_rows_per_s": round(copy_rate),
        "loader_vs_per_row": round(loader_rate / per_row_rate, 2),
        "loader_vs_raw_copy": round(loader_rate / copy_rate, 3),
    }
