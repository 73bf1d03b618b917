"""The ``candles`` DAG: its schedule, and whole runs with ``dag.test()`` against the real warehouse (a scheduled
run with an interval, an asset-triggered run without one, a rebuild by params, the Birdeye reconciliation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cryptoflow.candles import tasks
from tests.candles_support import MINTS, WSOL, TradeFactory, assert_matches_pandas, insert_trades

ROOT = Path(__file__).resolve().parents[1]
# dag.test() infers a manual run's interval as the last complete one before its logical date: [09:55, 10:00)
LOGICAL = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
INTERVAL = (LOGICAL - timedelta(minutes=5), LOGICAL)


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "candles.py"))
    assert bag.import_errors == {}
    dag = bag.dags["candles"]
    dag.deadline = None   # Airflow 3.3.2 bug #73428: dag.test() crashes on DAGs with deadline= after success
    return dag


def test_schedule_is_the_trades_asset_or_every_five_minutes(dag):
    from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable
    from airflow.serialization.serialized_objects import DagSerialization

    schedule = dag.timetable
    assert isinstance(schedule, AssetOrTimeSchedule)
    assert isinstance(schedule.timetable, CronDataIntervalTimetable) and schedule.timetable.expression == "*/5 * * * *"
    assert [a.name for a in schedule.asset_condition.objects] == ["trades"]
    assert dag.catchup is True and dag.max_active_runs == 1
    assert dag.default_args["retries"] >= 2 and dag.default_args["on_failure_callback"] is not None
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert serialized.timetable.periodic   # so backfills of date ranges are allowed
    assert {t.task_id for t in dag.tasks} == {"refresh_candles", "check_candles", "reconcile_with_birdeye",
                                             "quality_checks"}


def test_scheduled_run_rebuilds_its_interval_and_the_change_log(dag, warehouse, airflow_db):
    factory = TradeFactory(seed=11, hours=1)
    inside = [factory.trade(block_time=INTERVAL[0] + timedelta(seconds=s), mint=MINTS[0]) for s in (1, 61, 62, 299)]
    late = factory.trade(block_time=LOGICAL - timedelta(hours=20), mint=MINTS[1])   # a late trade, long ago
    insert_trades(warehouse, inside + [late])
    run = dag.test(logical_date=LOGICAL)
    assert run.state == "success"
    assert (run.data_interval_start, run.data_interval_end) == INTERVAL
    modes = warehouse.execute(
        "SELECT mode, range_start, range_end, minutes FROM candle_refreshes ORDER BY id").fetchall()
    assert modes == [("range", *INTERVAL, 3), ("incremental", None, None, 1)]
    assert_matches_pandas(warehouse)
    pulls = warehouse.execute("SELECT source, dataset, status, interval_end FROM pulls").fetchall()
    assert pulls == [("trades", "candles", "success", INTERVAL[1])]


def test_asset_triggered_run_without_interval_refreshes_incrementally(dag, warehouse, airflow_db):
    factory = TradeFactory(seed=12, hours=2)
    insert_trades(warehouse, factory.batch(40))
    run = dag.test(logical_date=None)
    assert run.state == "success"
    assert warehouse.execute("SELECT mode FROM candle_refreshes").fetchall() == [("incremental",)]
    assert_matches_pandas(warehouse)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"refresh_candles": "success", "check_candles": "success", "reconcile_with_birdeye": "skipped",
                      "quality_checks": "skipped"}   # no interval to check: the scheduled runs check theirs


def test_rebuild_of_a_range_by_params(dag, warehouse, airflow_db):
    factory = TradeFactory(seed=13, hours=30)
    insert_trades(warehouse, factory.batch(300))
    warehouse.execute("DELETE FROM candles_dirty")   # as if refreshed long ago and the candles then lost
    run = dag.test(logical_date=None, run_conf={"rebuild_from": "2026-11-19T00:00:00Z", "rebuild_to": "2026-11-22"})
    assert run.state == "success"
    assert warehouse.execute("SELECT mode, range_start FROM candle_refreshes ORDER BY id").fetchall()[0] == (
        "range", datetime(2026, 11, 19, tzinfo=UTC))
    assert_matches_pandas(warehouse)


def _birdeye(conn, token: str, bucket: datetime, close: Decimal, interval: str = "1m") -> None:
    conn.execute("""INSERT INTO candles (source, token, interval, bucket_start, open, high, low, close, volume)
                    VALUES ('birdeye', %s, %s, %s, %s, %s, %s, %s, 1)""",
                 (token, interval, bucket, close, close, close, close))


def test_reconciliation_stores_shares_and_alerts_once(dag, warehouse, airflow_db, alert_webhook):
    """The run for [11:50, 11:55) checks [10:45, 11:45) (10 minutes settling, 1 hour): MINTS[0] agrees with
    Birdeye; MINTS[1] is 10% off in every third minute; Birdeye's SOL close converts the SOL prices to USD."""
    factory = TradeFactory(seed=14)
    start = datetime(2026, 11, 20, 10, 50, tzinfo=UTC)
    trades = []
    for minute in range(20):
        for i, mint in enumerate(MINTS[:2]):
            trades.append(factory.trade(block_time=start + timedelta(minutes=minute, seconds=10 + i), mint=mint,
                                        token_amount=Decimal(1000), quote_amount=Decimal("0.5")))
    insert_trades(warehouse, trades)
    for minute in range(20):
        bucket = start + timedelta(minutes=minute)
        _birdeye(warehouse, WSOL, bucket, Decimal("200"))
        _birdeye(warehouse, MINTS[0], bucket, Decimal("0.1005"))                        # 0.0005 SOL * 200 = 0.1
        _birdeye(warehouse, MINTS[1], bucket, Decimal("0.11") if minute % 3 == 0 else Decimal("0.1"))
    _birdeye(warehouse, MINTS[2], start, Decimal("1"))                                   # no derived candle: skipped

    run = dag.test(logical_date=datetime(2026, 11, 20, 11, 55, tzinfo=UTC))
    assert run.state == "success"
    rows = warehouse.execute("""SELECT token, interval, buckets, mismatched, above_threshold, alerted_at IS NOT NULL
                                FROM candle_reconciliation ORDER BY token, interval""").fetchall()
    assert (MINTS[0], "1m", 20, 0, False, False) in rows
    assert (MINTS[1], "1m", 20, 7, True, True) in rows
    assert all(r[0] in MINTS[:2] for r in rows)
    [alert] = [r.json() for r in alert_webhook.requests if r.path == "/hooks/alerts"]
    assert alert["kind"] == "candles_mismatch" and MINTS[1] in alert["fields"]["Tokens"]
    assert MINTS[0] not in alert["fields"]["Tokens"]

    # a later run's window [10:55, 11:55) still disagrees (5 of 15) but does not page again
    summary = tasks.run_reconcile(warehouse, datetime(2026, 11, 20, 12, 5, tzinfo=UTC), {}, dag_id="candles")
    assert summary["above_threshold"] == [f"{MINTS[1]} 1m"] and summary["alerted"] == []
    assert warehouse.execute("""SELECT buckets, mismatched, above_threshold, alerted_at IS NULL FROM
                                candle_reconciliation WHERE token = %s AND window_end = %s""",
                             (MINTS[1], datetime(2026, 11, 20, 11, 55, tzinfo=UTC))).fetchall() == [(15, 5, True, True)]
    assert len([r for r in alert_webhook.requests if r.path == "/hooks/alerts"]) == 1


def test_inconsistent_candle_is_written_and_fails_the_check(warehouse):
    from cryptoflow.candles import refresh

    factory = TradeFactory(seed=15)
    good = factory.trade(block_time=LOGICAL, mint=MINTS[0])
    insert_trades(warehouse, [good])
    # a price that is not quote / token: the bucket's VWAP falls outside its low..high range
    warehouse.execute("UPDATE trades SET price = price * 10 WHERE signature = %s", (good.signature,))
    result = refresh.refresh_incremental(warehouse)
    assert result.candles_written == 5 and len(result.problems) == 5
    with pytest.raises(tasks.CandleCheckFailed, match="5 derived candle"):
        tasks.run_check({"refreshes": [result.as_dict()]})
    assert tasks.run_check({"refreshes": [refresh.refresh_incremental(warehouse).as_dict()]}) == 0


@pytest.mark.parametrize("params, message", [
    ({"rebuild_from": "2026-11-20"}, "both"),
    ({"rebuild_from": "2026-11-21", "rebuild_to": "2026-11-20"}, "must be after"),
    ({"rebuild_from": "yesterday", "rebuild_to": "2026-11-20"}, "not an ISO date"),
])
def test_bad_rebuild_params_are_clear_errors(params, message):
    with pytest.raises(ValueError, match=message):
        tasks.requested_range(params)
