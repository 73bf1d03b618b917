"""Task failures are incidents per (DAG, task): the first failure pages, later ones are counted, a success of the task
(for the failed interval or a later one) sends one "resolved" message, and a failure after that pages again.

Messages are received on a local webhook; incidents are rows of the test warehouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from cryptoflow.alerts import task_failure_alert, task_success_resolve

HOOK = "/hooks/alerts"
L = datetime(2026, 11, 20, 10, tzinfo=UTC)


def received(server) -> list[dict]:
    return [r.json() for r in server.requests if r.path == HOOK]


def incident_rows(conn) -> list[dict]:
    cur = conn.execute("""SELECT subject, resolved_at, occurrences, alerts_sent, opened_by, notified_at,
                                 resolved_notified_at, last_message, details
                          FROM alert_incidents WHERE kind = 'task_failed' ORDER BY id""")
    names = [c.name for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


@pytest.fixture
def flaky_dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder="tests/dags/flaky_task.py").dags["alert_test_flaky"]
    dag.deadline = None   # Airflow 3.3.2 bug #73428: dag.test() crashes on DAGs with a deadline
    return dag


def run(dag, logical_date: datetime, *, succeed: bool, error: str = "the API answered 500") -> str:
    return dag.test(logical_date=logical_date, run_conf={"succeed": succeed, "error": error}).state


def test_a_task_that_keeps_failing_pages_once_then_resolves_then_pages_again(flaky_dag, warehouse, alert_webhook):
    hour = timedelta(hours=1)
    assert run(flaky_dag, L, succeed=False, error="the API answered 500") == "failed"
    assert run(flaky_dag, L + 2 * hour, succeed=False, error="the API answered 503") == "failed"

    [page] = received(alert_webhook)                      # two failed runs of the task, one message
    assert page["kind"] == "task_failed" and page["title"] == "cryptoflow: task failed: alert_test_flaky.fetch_prices"
    fields = page["fields"]
    assert fields["Interval"] == "2026-11-20 09:00:00+00:00 -> 2026-11-20 10:00:00+00:00"   # the first failure's
    assert fields["Error"] == "RuntimeError: the API answered 500" and fields["Try"] == "1 of 1"
    assert fields["Log"] and "fetch_prices" in fields["Log"]
    assert fields["Incident"].startswith("#") and "paged once, not again while open" in fields["Incident"]
    assert fields["Not paged again"].startswith("later failures of fetch_prices in live runs of alert_test_flaky")
    assert page["action"].startswith("read the log, fix the cause")
    [row] = incident_rows(warehouse)
    assert (row["subject"], row["resolved_at"], row["occurrences"], row["alerts_sent"], row["opened_by"]) == (
        "alert_test_flaky.fetch_prices", None, 2, 1, "task_failure")
    assert row["details"]["interval"] == "2026-11-20 11:00:00+00:00 -> 2026-11-20 12:00:00+00:00"   # the latest
    assert row["details"]["error"] == "RuntimeError: the API answered 503"
    assert "the API answered 503" in row["last_message"]
    assert datetime.fromisoformat(row["details"]["failed_through"]) == L + 2 * hour

    # the interval between the two failures succeeds (a clear, a catch-up): the newest failed one still fails
    assert run(flaky_dag, L + hour, succeed=True) == "success"
    assert len(received(alert_webhook)) == 1 and incident_rows(warehouse)[0]["resolved_at"] is None

    assert run(flaky_dag, L + 3 * hour, succeed=True) == "success"
    [_, resolved] = received(alert_webhook)
    assert resolved["kind"] == "task_failed_resolved"
    assert resolved["title"] == "cryptoflow: resolved: task failed: alert_test_flaky.fetch_prices"
    assert resolved["fields"]["Now"].startswith("succeeded for 2026-11-20 12:00:00+00:00 -> 2026-11-20 13:00:00")
    assert "seen 2 times" in resolved["fields"]["Incident"]
    assert "stay failed until cleared" in resolved["action"]

    assert run(flaky_dag, L + 4 * hour, succeed=True) == "success"    # nothing open: nothing to say
    assert run(flaky_dag, L + 5 * hour, succeed=False) == "failed"    # failing again: a new incident, a new page
    assert [m["kind"] for m in received(alert_webhook)] == ["task_failed", "task_failed_resolved", "task_failed"]
    rows = incident_rows(warehouse)
    assert [(r["resolved_at"] is None, r["alerts_sent"], r["occurrences"]) for r in rows] == [
        (False, 2, 2), (True, 1, 1)]


def test_a_success_asks_the_warehouse_only_when_an_incident_could_be_open(flaky_dag, warehouse, alert_webhook,
                                                                          monkeypatch):
    from cryptoflow import warehouse as warehouse_module

    connects = []
    real_connect = warehouse_module.connect

    def counting_connect(*args, **kwargs):
        connects.append(args)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(warehouse_module, "connect", counting_connect)
    early = datetime(2026, 11, 2, 5, tzinfo=UTC)          # before every other run of this DAG in the test session
    assert run(flaky_dag, early, succeed=True) == "success"
    assert connects == []                                  # no failed run before it, first try: no connection
    assert run(flaky_dag, early + timedelta(hours=1), succeed=False) == "failed"
    assert len(connects) == 1                              # the failure opens the incident
    assert run(flaky_dag, early + timedelta(hours=2), succeed=True) == "success"
    assert len(connects) == 2                              # a failed run before it: asks, and resolves
    assert [m["kind"] for m in received(alert_webhook)] == ["task_failed", "task_failed_resolved"]


# -- the callbacks, called with the context Airflow gives them ------------------------------------------------------
def context(*, interval_end: datetime, run_type: str = "scheduled", try_number: int = 1,
            exception: BaseException | None = None) -> dict:
    ti = SimpleNamespace(dag_id="birdeye_5min", task_id="ingest_ohlcv", try_number=try_number, max_tries=2,
                         log_url=f"http://localhost:8080/dags/birdeye_5min/runs/x/tasks/ingest_ohlcv?try={try_number}")
    return {"ti": ti, "run_id": f"{run_type}__{interval_end.isoformat()}",
            "dag_run": SimpleNamespace(run_type=run_type),
            "data_interval_start": interval_end - timedelta(minutes=5), "data_interval_end": interval_end,
            "exception": exception or RuntimeError("HTTP 500 from the API")}


def test_backfill_failures_are_their_own_incident(warehouse, alert_webhook):
    old = datetime(2026, 10, 1, tzinfo=UTC)
    task_failure_alert(context(interval_end=L, try_number=3))                              # live: pages
    for k in range(3):                                                                     # backfill: pages once
        task_failure_alert(context(interval_end=old + timedelta(minutes=5 * k), run_type="backfill", try_number=3))
    assert [m["kind"] for m in received(alert_webhook)] == ["task_failed", "task_failed"]

    # a live success resolves the live incident only (the stand-in ti cannot ask Airflow, so the callback asks the
    # warehouse); the backfill's keeps counting its failures instead of reopening every time a live run succeeds
    task_success_resolve(context(interval_end=L + timedelta(minutes=5)))
    task_failure_alert(context(interval_end=old + timedelta(minutes=15), run_type="backfill", try_number=3))
    assert [m["kind"] for m in received(alert_webhook)] == ["task_failed", "task_failed", "task_failed_resolved"]
    task_success_resolve(context(interval_end=old + timedelta(minutes=20), run_type="backfill"))
    assert [m["kind"] for m in received(alert_webhook)] == ["task_failed", "task_failed", "task_failed_resolved",
                                                           "task_failed_resolved"]
    rows = incident_rows(warehouse)
    assert [(r["subject"], r["occurrences"], r["resolved_at"] is not None) for r in rows] == [
        ("birdeye_5min.ingest_ohlcv", 1, True), ("birdeye_5min.ingest_ohlcv (backfill)", 4, True)]


def test_an_incident_quiet_for_longer_than_the_repage_period_does_not_silence_a_new_failure(warehouse,
                                                                                            alert_webhook):
    task_failure_alert(context(interval_end=L, try_number=3))
    # the task was marked success by hand (no callback), then nothing failed for 13 hours
    warehouse.execute("UPDATE alert_incidents SET opened_at = opened_at - interval '13 hours', "
                      "last_seen_at = last_seen_at - interval '13 hours'")
    task_failure_alert(context(interval_end=L + timedelta(hours=13), try_number=3))
    [first, second] = received(alert_webhook)
    assert "Previous incident" not in first["fields"]
    assert second["fields"]["Previous incident"].endswith(
        "closed, no failure for 12 h (AIRFLOW__CRYPTOFLOW__TASK_FAILURE_REPAGE_AFTER)")
    rows = incident_rows(warehouse)
    assert [(r["resolved_at"] is not None, r["resolved_notified_at"]) for r in rows] == [(True, None), (False, None)]


def test_a_failure_pages_every_time_when_the_incident_store_is_unreachable(alert_webhook, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgresql://nobody@127.0.0.1:1/warehouse")
    task_failure_alert(context(interval_end=L, try_number=3))
    task_failure_alert(context(interval_end=L + timedelta(minutes=5), try_number=3))
    pages = received(alert_webhook)
    assert len(pages) == 2                                 # no de-duplication without the store, but no lost page
    for page in pages:
        assert page["kind"] == "task_failed" and page["fields"]["Error"] == "RuntimeError: HTTP 500 from the API"
        assert not {"Incident", "Not paged again", "Previous incident"} & set(page["fields"])
    task_success_resolve(context(interval_end=L + timedelta(minutes=10), try_number=2))   # must not raise
    assert len(received(alert_webhook)) == 2
