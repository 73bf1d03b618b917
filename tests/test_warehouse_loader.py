"""The bulk upsert loader against a real PostgreSQL: both paths (direct COPY and stage + merge)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cryptoflow.warehouse import OPTIMISTIC_COPY_MIN_ROWS, upsert_rows

KEY = ("source", "asset", "metric", "ts")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rows(n, value=lambda i: Decimal(i), start=0):
    return [{"source": "t", "asset": "a", "metric": "M", "ts": T0 + timedelta(hours=start + i), "value": value(i)}
            for i in range(n)]


def load(conn, batch, **kwargs):
    with conn.transaction(), conn.cursor() as cur:
        return upsert_rows(cur, "metrics", batch, KEY, **kwargs)


def snapshot(conn):
    return conn.execute("SELECT ts, value, updated_at FROM metrics ORDER BY ts").fetchall()


@pytest.mark.parametrize("n", [10, OPTIMISTIC_COPY_MIN_ROWS + 500])   # stage path, direct-COPY path
def test_insert_rerun_and_change(warehouse, n):
    assert load(warehouse, rows(n)) == n
    first = snapshot(warehouse)
    assert len(first) == n
    assert load(warehouse, rows(n)) == 0                      # same data: nothing written
    assert snapshot(warehouse) == first                       # not even updated_at
    changed = rows(n, value=lambda i: Decimal(i) + (1 if i % 100 == 0 else 0))
    assert load(warehouse, changed) == len(range(0, n, 100))  # only the changed rows
    after = dict((ts, v) for ts, v, _ in snapshot(warehouse))
    assert after[T0] == Decimal(1) and after[T0 + timedelta(hours=1)] == Decimal(1)


def test_partial_overlap_merges_new_and_existing(warehouse):
    n = OPTIMISTIC_COPY_MIN_ROWS * 2
    load(warehouse, rows(n // 2))
    overlapping = rows(n, start=0, value=lambda i: Decimal(i) * 2)   # first half changes, second half is new
    assert load(warehouse, overlapping) == n - 1                      # row 0 is 0 either way
    values = [v for _, v, _ in snapshot(warehouse)]
    assert values == [Decimal(i) * 2 for i in range(n)]


def test_duplicate_keys_in_one_batch_last_wins(warehouse):
    batch = rows(3) + [{**rows(1)[0], "value": Decimal(99)}]
    assert load(warehouse, batch) == 3
    assert snapshot(warehouse)[0][1] == Decimal(99)


def test_update_columns_limit_what_changes(warehouse):
    warehouse.execute("INSERT INTO tokens (mint, symbol, name) VALUES ('m1', 'OLD', 'Old name')")
    with warehouse.transaction(), warehouse.cursor() as cur:
        upsert_rows(cur, "tokens", [{"mint": "m1", "symbol": "NEW", "name": "New name"}], ("mint",),
                    update_columns=("name",))
    assert warehouse.execute("SELECT symbol, name FROM tokens").fetchone() == ("OLD", "New name")


def test_json_columns_and_failure_rolls_back_everything(warehouse):
    with pytest.raises(ValueError, match="no column"):
        with warehouse.transaction(), warehouse.cursor() as cur:
            upsert_rows(cur, "tokens", [{"mint": "m1", "metadata": {"uri": "x", "n": Decimal("1.5")}}], ("mint",))
            upsert_rows(cur, "tokens", [{"mint": "m2", "no_such_column": 1}], ("mint",))
    assert warehouse.execute("SELECT count(*) FROM tokens").fetchone() == (0,)
    with warehouse.transaction(), warehouse.cursor() as cur:
        upsert_rows(cur, "tokens", [{"mint": "m1", "metadata": {"uri": "x", "n": Decimal("1.5")}}], ("mint",))
    assert warehouse.execute("SELECT metadata FROM tokens").fetchone() == ({"uri": "x", "n": "1.5"},)


def test_missing_key_column_is_a_clear_error(warehouse):
    with pytest.raises(ValueError, match=r"lack key column\(s\) \['ts'\]"):
        load(warehouse, [{"source": "t", "asset": "a", "metric": "M", "value": 1}])


def test_rows_may_leave_out_optional_columns(warehouse):
    batch = [{"mint": "m1", "symbol": "A", "name": "Alpha"}, {"mint": "m2", "symbol": "B"}]
    with warehouse.transaction(), warehouse.cursor() as cur:
        upsert_rows(cur, "tokens", batch, ("mint",))
    loaded = warehouse.execute("SELECT mint, name FROM tokens ORDER BY mint").fetchall()
    assert loaded == [("m1", "Alpha"), ("m2", None)]
