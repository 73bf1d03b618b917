"""The watchdog and incident de-duplication: each alert reaches a local webhook once per incident, says what to do,
and says "resolved" when its condition clears; configurable thresholds and deadlines.

Conditions are built from real rows in the test warehouse (``pulls``, ``trades``, ``stream_status``) and evaluated as
of fixed moments, so nothing depends on the wall clock, except where a real DAG run writes them.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cryptoflow import incidents, watchdog
from cryptoflow.alerts import Alert, configured_deadline, parse_duration
from cryptoflow.watchdog import Settings, StaleEvaluation

ROOT = Path(__file__).resolve().parents[1]
HOOK = "/hooks/alerts"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def received(server, kind: str | None = None) -> list[dict]:
    """The messages the webhook received; with ``kind``, only that kind's (opened and resolved)."""
    payloads = [r.json() for r in server.requests if r.path == HOOK]
    return [p for p in payloads if kind is None or p["kind"] in (kind, f"{kind}_resolved")]


def add_pull(conn, *, dag_id: str, source: str, dataset: str, finished_at: datetime | None,
             started_at: datetime | None = None, status: str = "success", records: int = 10, api_calls: int = 5,
             http_errors: int = 0, http_429s: int = 0, error: str | None = None, run_id: str | None = None) -> None:
    started_at = started_at or (finished_at - minutes(1))
    conn.execute(
        """INSERT INTO pulls (dag_id, task_id, run_id, try_number, source, dataset, interval_start, interval_end,
                              status, started_at, finished_at, records_fetched, records_upserted, api_calls,
                              http_errors, http_429s, error)
           VALUES (%s, %s, %s, 1, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (dag_id, f"ingest_{dataset}", run_id or f"scheduled__{started_at.isoformat()}", source, dataset,
         started_at - minutes(5), started_at, status, started_at, finished_at, records, records, api_calls,
         http_errors, http_429s, error))


def birdeye_pull(conn, finished_at: datetime, **kw) -> None:
    add_pull(conn, dag_id="birdeye_5min", source="birdeye", dataset="ohlcv", finished_at=finished_at, **kw)


def evaluate(conn, as_of: datetime, settings: Settings | None = None) -> dict:
    return watchdog.run(conn, as_of, run_id=f"test__{as_of.isoformat()}", settings=settings or Settings(), now=as_of)


def incident_rows(conn, kind: str) -> list[tuple]:
    return conn.execute(
        """SELECT subject, opened_at, last_seen_at, resolved_at, occurrences, alerts_sent, opened_by
           FROM alert_incidents WHERE kind = %s ORDER BY id""", (kind,)).fetchall()


# -- source silent ------------------------------------------------------------------------------------------------
def test_a_silent_source_pages_once_per_incident_then_resolves_then_pages_again(warehouse, alert_webhook):
    birdeye_pull(warehouse, T0 - minutes(4))

    result = evaluate(warehouse, T0)                       # delivered 4 minutes ago: fine
    assert result["states"]["source_silent:birdeye_5min"] == "producing"
    assert received(alert_webhook) == []

    evaluate(warehouse, T0 + minutes(5))                   # 9 minutes: silent
    [opened] = received(alert_webhook)
    assert opened["kind"] == "source_silent"
    assert opened["title"] == "cryptoflow: source silent: birdeye_5min"
    fields = opened["fields"]
    assert fields["Last delivered"].startswith("2026-11-20 09:56:00 UTC, 9 min before")
    assert fields["Threshold"] == "5 min (AIRFLOW__CRYPTOFLOW__SILENT_AFTER_BIRDEYE_5MIN)"
    assert fields["Incident"].startswith("#")
    assert "Alerts and what to do" in opened["action"] and "birdeye_5min" in opened["action"]

    evaluate(warehouse, T0 + minutes(10))                  # still silent: no second message
    evaluate(warehouse, T0 + minutes(15))
    assert len(received(alert_webhook)) == 1
    [(subject, opened_at, last_seen, resolved, occurrences, sent, by)] = incident_rows(warehouse, "source_silent")
    assert (subject, opened_at, last_seen, resolved, occurrences, sent, by) == (
        "birdeye_5min", T0 + minutes(5), T0 + minutes(15), None, 3, 1, "watchdog")

    birdeye_pull(warehouse, T0 + minutes(17))              # delivers again
    evaluate(warehouse, T0 + minutes(20))
    resolved_msg = received(alert_webhook)[1]
    assert resolved_msg["kind"] == "source_silent_resolved"
    assert resolved_msg["title"] == "cryptoflow: resolved: source silent: birdeye_5min"
    assert "delivered records 3 min before" in resolved_msg["fields"]["Now"]
    assert resolved_msg["fields"]["Incident"].startswith(f"#{fields['Incident'][1:].split(',')[0]},")

    evaluate(warehouse, T0 + minutes(25))                  # 8 minutes after the last delivery: a new incident
    assert [m["kind"] for m in received(alert_webhook)] == ["source_silent", "source_silent_resolved", "source_silent"]
    rows = incident_rows(warehouse, "source_silent")
    assert [(r[1], r[3]) for r in rows] == [(T0 + minutes(5), T0 + minutes(20)), (T0 + minutes(25), None)]


def test_only_live_runs_with_records_count_as_delivering(warehouse, alert_webhook):
    birdeye_pull(warehouse, T0 - minutes(30))
    birdeye_pull(warehouse, T0 - minutes(2), records=0)                    # an empty answer delivers nothing
    birdeye_pull(warehouse, T0 - minutes(1), run_id="backfill__2026-11-19T10:00:00+00:00")   # the past
    add_pull(warehouse, dag_id="helius_5min", source="helius", dataset="transactions", finished_at=T0 - minutes(1),
             run_id="backfill__2026-11-19T10:00:00+00:00")                 # only ever backfilled: not a live feed

    result = evaluate(warehouse, T0)

    assert result["states"]["source_silent:birdeye_5min"] == "silent"
    assert result["states"]["source_silent:helius_5min"] == "never_ran"
    [msg] = received(alert_webhook)
    assert msg["fields"]["Feed"] == "birdeye_5min (every 5 minutes, source birdeye)"
    assert "ingest_ohlcv success" in msg["fields"]["Latest run"]


def test_a_source_without_api_key_skips_and_is_not_paged_as_silent(warehouse, alert_webhook):
    missing = "helius: no API key configured; set HELIUS_API_KEY in .env (or the password of Airflow connection " \
              "'helius'). Skipping."
    for minute in range(0, 60, 5):
        add_pull(warehouse, dag_id="helius_5min", source="helius", dataset="transactions",
                 finished_at=T0 - minutes(60 - minute), status="skipped", records=0, api_calls=0, error=missing)

    result = evaluate(warehouse, T0)
    evaluate(warehouse, T0 + minutes(5))

    assert result["states"]["source_silent:helius_5min"] == "not_configured"
    assert received(alert_webhook) == []
    assert incident_rows(warehouse, "source_silent") == []


def test_a_daily_source_has_a_daily_threshold(warehouse, alert_webhook):
    artemis_pull(warehouse, T0 - timedelta(hours=26))
    evaluate(warehouse, T0)
    assert received(alert_webhook) == []
    evaluate(warehouse, T0 + timedelta(hours=1, minutes=5))    # 27 h 5 min
    [msg] = received(alert_webhook)
    assert msg["title"] == "cryptoflow: source silent: artemis_daily"
    assert msg["fields"]["Threshold"].startswith("27 h ")


def add_stream_trade(conn, ingested_at: datetime, n: int) -> None:
    conn.execute(
        """INSERT INTO trades (signature, event_index, source, block_time, mint, side, token_amount, quote_mint,
                               quote_amount, time_is_receive_time, ingested_at)
           VALUES (%s, 0, 'pumpportal', %s, 'Mint111', 'buy', 1, 'So11111111111111111111111111111111111111112', 1,
                   true, %s)""", (f"sig{n}", ingested_at, ingested_at))


def test_the_trade_stream_pages_when_it_writes_no_trades(warehouse, alert_webhook):
    result = evaluate(warehouse, T0)
    assert result["states"]["source_silent:trade_stream"] == "never_ran"     # never started: not watched

    warehouse.execute("""INSERT INTO stream_status (stream, started_at, state, updated_at)
                         VALUES ('pumpportal', %s, 'connected', %s)""", (T0 - minutes(30), T0))
    add_stream_trade(warehouse, T0 - minutes(3), 1)
    evaluate(warehouse, T0 + minutes(1))
    assert received(alert_webhook) == []

    evaluate(warehouse, T0 + minutes(10))
    evaluate(warehouse, T0 + minutes(15))
    [msg] = received(alert_webhook)
    assert msg["title"] == "cryptoflow: source silent: trade_stream"
    assert "trade-stream.log" in msg["action"]

    add_stream_trade(warehouse, T0 + minutes(18), 2)
    evaluate(warehouse, T0 + minutes(20))
    assert [m["kind"] for m in received(alert_webhook)] == ["source_silent", "source_silent_resolved"]


def test_a_long_silent_stream_costs_a_bounded_look_back_not_a_scan_of_trades(warehouse, alert_webhook):
    from cryptoflow.paths import read_sql
    from tests.query_cost import rows_read

    warehouse.execute("""INSERT INTO stream_status (stream, started_at, state, updated_at)
                         VALUES ('pumpportal', %s, 'connected', %s)""", (T0 - timedelta(days=3), T0))
    add_stream_trade(warehouse, T0 - timedelta(days=2), 1)          # its last trade, two days ago
    warehouse.execute("""INSERT INTO trades (signature, event_index, source, block_time, mint, side, token_amount,
                                             quote_mint, quote_amount, ingested_at)
                         SELECT 'h' || n, 0, 'helius', t, 'Mint111', 'buy', 1, 'q', 1, t
                         FROM generate_series(1, 4000) n, LATERAL (SELECT %s - n * interval '1 minute' AS t) x""",
                      (T0,))                                         # Helius kept writing meanwhile
    warehouse.execute("ANALYZE trades")

    evaluate(warehouse, T0)
    [msg] = received(alert_webhook)
    assert msg["title"] == "cryptoflow: source silent: trade_stream"
    assert msg["fields"]["Last delivered"] == \
        "nothing in the 1 h before 2026-11-20 10:00:00 UTC (not looked further back)"

    read = rows_read(warehouse, read_sql("watchdog/stream_activity.sql"), {
        "stream": "pumpportal", "trade_sources": ["pumpportal", "pumpfun"], "as_of": T0,
        "since": T0 - timedelta(hours=1)})
    assert read["trades"] <= 61, read                                # the last hour's trades at most


# -- API error rate -----------------------------------------------------------------------------------------------
def test_api_error_rate_above_ten_percent_pages_once_and_resolves(warehouse, alert_webhook):
    birdeye_pull(warehouse, T0 - minutes(10), api_calls=2, http_errors=1)          # 1 of 2: too few calls to judge
    assert evaluate(warehouse, T0)["states"]["api_error_rate:birdeye"] == "too_few_calls"
    assert received(alert_webhook, "api_error_rate") == []

    birdeye_pull(warehouse, T0 - minutes(4), api_calls=28, http_errors=5, http_429s=4,
                 status="failed", records=0, error="ApiUnavailable: birdeye: GET https://x/defi/ohlcv failed after 5 "
                                                    "attempts; last: HTTP 429")
    evaluate(warehouse, T0)                                                          # 6 of 30 = 20%
    evaluate(warehouse, T0 + minutes(5))
    [msg] = received(alert_webhook, "api_error_rate")
    assert msg["kind"] == "api_error_rate" and msg["title"] == "cryptoflow: API error rate high: birdeye"
    assert msg["fields"]["Error rate"] == "20.0%: 6 of 30 API calls failed, 4 of them HTTP 429, in 2 pulls"
    assert msg["fields"]["Latest error"].startswith("ApiUnavailable")
    assert "rate_limit_per_s" in msg["action"]

    for k in range(12):                                                              # a clean hour follows
        birdeye_pull(warehouse, T0 + minutes(5 * k + 1), api_calls=30)
    evaluate(warehouse, T0 + minutes(40))                                            # 6 of 270: 2.2%
    assert [m["kind"] for m in received(alert_webhook, "api_error_rate")] == ["api_error_rate",
                                                                             "api_error_rate_resolved"]

    birdeye_pull(warehouse, T0 + minutes(62), api_calls=100, http_errors=90)
    evaluate(warehouse, T0 + minutes(65))
    assert [m["kind"] for m in received(alert_webhook, "api_error_rate")] == [
        "api_error_rate", "api_error_rate_resolved", "api_error_rate"]


# -- API key rejected ---------------------------------------------------------------------------------------------
REJECTED = ("ApiKeyRejected: API key rejected for artemis (HTTP 401 from https://data-svc.artemisxyz.com/data/PRICE): "
            "set a valid ARTEMIS_API_KEY in .env or the password of Airflow connection 'artemis'")


def artemis_pull(conn, finished_at, **kw):
    add_pull(conn, dag_id="artemis_daily", source="artemis", dataset="metrics", finished_at=finished_at, **kw)


def test_a_rejected_api_key_pages_once_until_a_pull_gets_through(warehouse, alert_webhook):
    artemis_pull(warehouse, T0 - timedelta(hours=20))
    artemis_pull(warehouse, T0 - minutes(2), status="failed", records=0, api_calls=1, http_errors=1, error=REJECTED)

    evaluate(warehouse, T0)
    evaluate(warehouse, T0 + minutes(5))
    [msg] = received(alert_webhook)
    assert msg["kind"] == "api_key_rejected" and msg["title"] == "cryptoflow: API key rejected: artemis"
    assert msg["fields"]["Datasets"] == "metrics"
    assert "ARTEMIS_API_KEY" in msg["fields"]["Key"] and "Rotate an API key" in msg["action"]

    artemis_pull(warehouse, T0 + minutes(6), api_calls=0)        # answered from the cache: says nothing about the key
    evaluate(warehouse, T0 + minutes(10))
    assert len(received(alert_webhook)) == 1

    artemis_pull(warehouse, T0 + minutes(12), api_calls=3)       # the new key works
    evaluate(warehouse, T0 + minutes(15))
    assert [m["kind"] for m in received(alert_webhook)] == ["api_key_rejected", "api_key_rejected_resolved"]

    artemis_pull(warehouse, T0 + minutes(17), status="failed", records=0, api_calls=1, error=REJECTED)
    evaluate(warehouse, T0 + minutes(20))
    assert [m["kind"] for m in received(alert_webhook)] == ["api_key_rejected", "api_key_rejected_resolved",
                                                           "api_key_rejected"]


def test_a_rejected_pro_key_stays_open_while_the_free_datasets_work(warehouse, alert_webhook):
    pro_rejected = REJECTED.replace("artemis", "defillama").replace("ARTEMIS", "DEFILLAMA")
    for k in range(3):
        at = T0 + timedelta(hours=k)
        add_pull(warehouse, dag_id="defillama_hourly", source="defillama", dataset="pro", finished_at=at,
                 status="failed", records=0, api_calls=1, error=pro_rejected)
        add_pull(warehouse, dag_id="defillama_hourly", source="defillama", dataset="fees", finished_at=at)
        evaluate(warehouse, at + minutes(5))
    [msg] = received(alert_webhook)
    assert msg["title"] == "cryptoflow: API key rejected: defillama" and msg["fields"]["Datasets"] == "pro"


@pytest.mark.slow
def test_failing_tasks_with_a_rejected_key_page_once_through_the_incident(warehouse, alert_webhook, airflow_db,
                                                                          monkeypatch):
    from cryptoflow.sources.birdeye.demo import FakeBirdeye
    from tests.test_birdeye_dag import FIXTURES, load_dag
    from tests.test_birdeye_ingest import KEY, set_connection

    FakeBirdeye(api_key=KEY).register(alert_webhook)
    monkeypatch.setenv("CRYPTOFLOW_WATCHLIST", str(FIXTURES / "watchlist.csv"))
    settings = Settings(silent_after={**Settings().silent_after, "birdeye_5min": None})   # not about silence
    logical = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

    set_connection(monkeypatch, alert_webhook, password="wrong-key-5a4b3c2d")
    for k in range(3):                                           # three failing runs, each task fails at once
        assert load_dag().test(logical_date=logical + minutes(5 * k)).state == "failed"
    [page] = received(alert_webhook)
    assert page["kind"] == "task_failed" and "ApiKeyRejected" in page["fields"]["Error"]
    assert page["fields"]["Incident"].startswith("#")
    assert "wrong-key-5a4b3c2d" not in json.dumps(page)
    [(subject, *_rest, occurrences, sent, by)] = incident_rows(warehouse, "api_key_rejected")
    assert (subject, occurrences, sent, by) == ("birdeye", 3, 1, "task_failure")

    watchdog.run(warehouse, datetime.now(UTC), settings=settings)      # the watchdog sees the same incident
    assert len(received(alert_webhook)) == 1

    set_connection(monkeypatch, alert_webhook, password=KEY)            # rotated
    assert load_dag().test(logical_date=logical + minutes(15)).state == "success"
    watchdog.run(warehouse, datetime.now(UTC), settings=settings)
    assert [m["kind"] for m in received(alert_webhook)] == ["task_failed", "api_key_rejected_resolved"]

    set_connection(monkeypatch, alert_webhook, password="another-wrong-key-9f8e")
    # days later, so the request is not one the raw cache already answered
    assert load_dag().test(logical_date=logical + timedelta(days=3)).state == "failed"
    assert [m["kind"] for m in received(alert_webhook)] == ["task_failed", "api_key_rejected_resolved",
                                                           "task_failed"]


def test_a_key_that_worked_again_does_not_silence_a_new_rejection_without_the_watchdog(warehouse, alert_webhook):
    alert = Alert(title="cryptoflow: task failed: birdeye_5min.ingest_ohlcv", fields={"Error": "ApiKeyRejected"})
    assert watchdog.page_rejected_key("birdeye", "ohlcv", alert)
    birdeye_pull(warehouse, datetime.now(UTC), api_calls=4)             # the key worked; no watchdog ran since
    assert watchdog.page_rejected_key("birdeye", "ohlcv", Alert(title="again", fields={}))
    assert [m["kind"] for m in received(alert_webhook)] == ["task_failed", "api_key_rejected_resolved",
                                                           "task_failed"]


# -- late runs (deadline alerts) ------------------------------------------------------------------------------------
def miss_deadline(dag_id: str, interval_end: datetime, every: timedelta = minutes(5)) -> None:
    """What the triggerer does when a run of ``dag_id`` misses its deadline: run the DAG's deadline callback."""
    import asyncio

    from airflow.triggers.callback import CallbackTrigger

    from cryptoflow.alerts import deadline_alert

    callback = deadline_alert(minutes(15), dag_label=dag_id).callback
    trigger = CallbackTrigger(callback_path=callback.path, callback_kwargs={**callback.kwargs, "context": {
        "dag_run": {"dag_id": dag_id, "dag_run_id": f"scheduled__{interval_end.isoformat()}", "state": "queued",
                    "data_interval_start": (interval_end - every).isoformat(),
                    "data_interval_end": interval_end.isoformat()},
        "deadline": {"id": "x", "deadline_time": (interval_end + minutes(15)).isoformat()}}})

    async def collect():
        return [event async for event in trigger.run()]

    assert asyncio.run(collect())[-1].payload["state"] == "success"


def test_late_runs_of_a_stuck_dag_page_once_then_resolve(warehouse, alert_webhook):
    for k in range(4):                                    # a stuck 5-minute DAG: every run misses its deadline
        miss_deadline("helius_5min", T0 + minutes(5 * k))
    [page] = received(alert_webhook)
    assert page["kind"] == "deadline_missed" and page["title"] == "cryptoflow: run late: helius_5min"
    assert page["fields"]["Run"] == "scheduled__2026-11-20T10:00:00+00:00"
    assert page["fields"]["Incident"].startswith("#")
    assert page["fields"]["Not paged again"].startswith("later runs of helius_5min that miss their deadline, until "
                                                        "none has for 1 h")
    [(subject, _opened, last_late, resolved, occurrences, sent, by)] = incident_rows(warehouse, "deadline_missed")
    assert (subject, resolved, occurrences, sent, by) == ("helius_5min", None, 4, 1, "deadline")

    evaluate(warehouse, last_late + minutes(30))          # no late run for 30 minutes: not yet over
    assert len(received(alert_webhook)) == 1
    evaluate(warehouse, last_late + minutes(65))          # an hour on time: resolved
    [_, resolved_msg] = received(alert_webhook)
    assert resolved_msg["kind"] == "deadline_missed_resolved"
    assert resolved_msg["title"] == "cryptoflow: resolved: run late: helius_5min"
    assert "no run missed its deadline since" in resolved_msg["fields"]["Now"]

    miss_deadline("helius_5min", T0 + timedelta(days=1))  # late again later: a new incident, a new page
    miss_deadline("birdeye_5min", T0 + timedelta(days=1))  # another DAG: its own incident
    assert [(m["kind"], m["fields"].get("DAG")) for m in received(alert_webhook)] == [
        ("deadline_missed", "helius_5min"), ("deadline_missed_resolved", None), ("deadline_missed", "helius_5min"),
        ("deadline_missed", "birdeye_5min")]


def test_a_late_hourly_dag_stays_one_incident_between_its_runs(warehouse, alert_webhook):
    miss_deadline("defillama_hourly", T0, every=timedelta(hours=1))
    [(*_, last_late, _resolved, _occ, _sent, _by)] = incident_rows(warehouse, "deadline_missed")
    evaluate(warehouse, last_late + minutes(65))          # its next run is not due yet: still open (two intervals)
    miss_deadline("defillama_hourly", T0 + timedelta(hours=1), every=timedelta(hours=1))
    assert [m["kind"] for m in received(alert_webhook)] == ["deadline_missed"]


def test_an_old_deadline_incident_does_not_silence_a_late_run_without_the_watchdog(warehouse, alert_webhook):
    miss_deadline("candles", T0)
    warehouse.execute("UPDATE alert_incidents SET opened_at = opened_at - interval '3 hours', "
                      "last_seen_at = last_seen_at - interval '3 hours'")   # the watchdog is paused since
    miss_deadline("candles", T0 + minutes(5))
    assert [m["kind"] for m in received(alert_webhook)] == ["deadline_missed", "deadline_missed_resolved",
                                                           "deadline_missed"]


def test_a_late_run_still_pages_when_the_incident_store_is_unreachable(alert_webhook, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgresql://nobody@127.0.0.1:1/warehouse")
    miss_deadline("helius_5min", T0)
    [page] = received(alert_webhook)
    assert page["kind"] == "deadline_missed" and "Incident" not in page["fields"]


# -- incidents ----------------------------------------------------------------------------------------------------
def test_concurrent_observers_of_one_condition_page_once(warehouse, warehouse_dsn, alert_webhook):
    import psycopg

    start = threading.Barrier(4)
    outcomes = []

    def observer():
        with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
            start.wait()
            outcomes.append(incidents.observe(conn, kind="api_key_rejected", subject="helius", at=T0,
                                              alert=Alert(title="helius key rejected"), opened_by="task_failure"))

    threads = [threading.Thread(target=observer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(received(alert_webhook)) == 1
    assert sorted(o.event for o in outcomes) == ["ongoing", "ongoing", "ongoing", "opened"]
    assert [o.sent for o in outcomes].count(True) == 1
    assert len({o.incident_id for o in outcomes}) == 1


def test_an_opening_message_that_reached_no_channel_is_retried(warehouse, alert_webhook, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_ALERTS_WEBHOOK")
    birdeye_pull(warehouse, T0 - minutes(20))
    evaluate(warehouse, T0)
    assert received(alert_webhook) == []
    monkeypatch.setenv("AIRFLOW_CONN_ALERTS_WEBHOOK", json.dumps(
        {"conn_type": "http", "host": alert_webhook.url, "extra": {"endpoint": HOOK}}))
    evaluate(warehouse, T0 + minutes(5))
    evaluate(warehouse, T0 + minutes(10))
    assert [m["kind"] for m in received(alert_webhook)] == ["source_silent"]


def test_the_watchdog_refuses_to_evaluate_the_past(warehouse, alert_webhook):
    evaluate(warehouse, T0)
    evaluate(warehouse, T0)                                    # the same moment again: fine, and changes nothing
    with pytest.raises(StaleEvaluation, match="already evaluated"):
        evaluate(warehouse, T0 - minutes(5))
    with pytest.raises(StaleEvaluation, match="present"):
        watchdog.run(warehouse, T0 + minutes(5), settings=Settings(), now=T0 + timedelta(hours=2),
                     max_lag=timedelta(hours=1))
    assert warehouse.execute("SELECT count(*) FROM watchdog_evaluations").fetchone()[0] == 1


# -- the DAG --------------------------------------------------------------------------------------------------------
def load_watchdog_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "watchdog.py"))
    assert bag.import_errors == {}
    dag = bag.dags["watchdog"]
    dag.deadline = None   # Airflow 3.3.2 bug #73428: dag.test() crashes on DAGs with deadline= after success
    return dag


@pytest.mark.slow
def test_the_watchdog_dag_pages_for_a_silent_source_once(warehouse, alert_webhook, airflow_db):
    dag = load_watchdog_dag()
    assert dag.catchup is False and dag.timetable.expression == "*/5 * * * *"
    now = datetime.now(UTC)
    logical = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    add_pull(warehouse, dag_id="helius_5min", source="helius", dataset="transactions",
             finished_at=logical - minutes(30))

    run = dag.test(logical_date=logical)
    assert run.state == "success"
    assert run.data_interval_end == logical
    [msg] = received(alert_webhook)
    assert msg["title"] == "cryptoflow: source silent: helius_5min"
    assert "30 min before" in msg["fields"]["Last delivered"]
    [(as_of, findings)] = warehouse.execute("SELECT as_of, findings FROM watchdog_evaluations").fetchall()
    assert as_of == logical
    assert {"kind": "source_silent", "subject": "helius_5min", "state": "silent"}.items() <= \
        next(f for f in findings if f["subject"] == "helius_5min").items()

    again = load_watchdog_dag().test(logical_date=logical)      # a re-run of the same interval pages nothing new
    assert again.state == "success"
    assert len(received(alert_webhook)) == 1


# -- configuration --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [("20", minutes(20)), ("90s", timedelta(seconds=90)), ("2h", minutes(120)),
                                            ("1h30m", minutes(90)), ("1d", timedelta(days=1)), (" 45m ", minutes(45))])
def test_durations(text, expected):
    assert parse_duration(text, "deadline_x") == expected


@pytest.mark.parametrize("text", ["soon", "0", "-5", "1.5h", "5 minutes", "m"])
def test_bad_durations_name_the_variable(text):
    with pytest.raises(ValueError, match="AIRFLOW__CRYPTOFLOW__DEADLINE_X=.*not a positive duration"):
        parse_duration(text, "deadline_x")


def parse_dag_file(name: str):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags" / f"{name}.py"))


def test_a_deadline_is_configurable_without_editing_code(monkeypatch):
    from airflow.serialization.serialized_objects import DagSerialization

    assert parse_dag_file("birdeye_5min").dags["birdeye_5min"].deadline[0].interval == minutes(15)
    monkeypatch.setenv("AIRFLOW__CRYPTOFLOW__DEADLINE_BIRDEYE_5MIN", "25m")
    monkeypatch.setenv("AIRFLOW__CRYPTOFLOW__DEADLINE_CANDLES", "40")
    birdeye = parse_dag_file("birdeye_5min").dags["birdeye_5min"]
    [deadline] = birdeye.deadline
    assert deadline.interval == minutes(25)
    assert deadline.callback.kwargs["expected_within"] == "0:25:00"
    [serialized] = DagSerialization.to_dict(birdeye)["dag"]["deadline"]   # what the scheduler evaluates
    assert serialized["interval"]["__data__"] == 1500.0
    assert parse_dag_file("candles").dags["candles"].deadline[0].interval == minutes(40)
    assert parse_dag_file("defillama_daily").dags["defillama_daily"].deadline[0].interval == timedelta(hours=3)
    assert configured_deadline("watchdog", minutes(15)) == minutes(15)


def test_a_bad_deadline_setting_is_an_import_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CRYPTOFLOW__DEADLINE_HELIUS_5MIN", "soon")
    bag = parse_dag_file("helius_5min")
    [error] = bag.import_errors.values()
    assert "AIRFLOW__CRYPTOFLOW__DEADLINE_HELIUS_5MIN='soon' is not a positive duration" in error


def test_watchdog_thresholds_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CRYPTOFLOW__SILENT_AFTER_BIRDEYE_5MIN", "15m")
    monkeypatch.setenv("AIRFLOW__CRYPTOFLOW__SILENT_AFTER_TRADE_STREAM", "off")
    monkeypatch.setenv("AIRFLOW__CRYPTOFLOW__ERROR_RATE_THRESHOLD", "0.25")
    monkeypatch.setenv("AIRFLOW__CRYPTOFLOW__ERROR_RATE_MIN_CALLS", "50")
    settings = Settings.from_config()
    assert settings.silent_after["birdeye_5min"] == minutes(15)
    assert settings.silent_after["trade_stream"] is None
    assert settings.silent_after["helius_5min"] == minutes(5)
    assert (settings.error_rate_threshold, settings.error_rate_min_calls) == (0.25, 50)
    monkeypatch.setenv("AIRFLOW__CRYPTOFLOW__ERROR_RATE_THRESHOLD", "10%")
    with pytest.raises(ValueError, match="AIRFLOW__CRYPTOFLOW__ERROR_RATE_THRESHOLD='10%' must be a float between"):
        Settings.from_config()


def test_a_configured_threshold_changes_what_pages(warehouse, alert_webhook, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CRYPTOFLOW__SILENT_AFTER_BIRDEYE_5MIN", "15m")
    birdeye_pull(warehouse, T0 - minutes(10))
    watchdog.run(warehouse, T0, now=T0)
    assert received(alert_webhook) == []
    watchdog.run(warehouse, T0 + minutes(10), now=T0)
    [msg] = received(alert_webhook)
    assert msg["fields"]["Threshold"] == "15 min (AIRFLOW__CRYPTOFLOW__SILENT_AFTER_BIRDEYE_5MIN)"
