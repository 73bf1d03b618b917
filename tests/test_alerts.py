"""Failure and deadline alerts reach a local HTTP server, with the context on-call needs and no secrets."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from cryptoflow.alerts import Alert, deadline_alert, send_alert, task_failure_alert
from tests.framework_support import TEST_KEY


@pytest.fixture
def alert_channels(monkeypatch, replay_server):
    replay_server.add("/hooks/alerts", json={"ok": True}, method="POST")
    replay_server.add("/slack/T000/B000/XXX", body="ok", method="POST")
    monkeypatch.setenv("AIRFLOW_CONN_ALERTS_WEBHOOK", json.dumps(
        {"conn_type": "http", "host": replay_server.url, "extra": {"endpoint": "/hooks/alerts"}}))
    monkeypatch.setenv("AIRFLOW_CONN_ALERTS_SLACK", json.dumps(
        {"conn_type": "slackwebhook", "password": f"{replay_server.url}/slack/T000/B000/XXX"}))
    return replay_server


def received(server, path):
    return [r.json() for r in server.requests if r.path == path]


def test_task_failure_alert_has_the_context_on_call_needs(alert_channels, warehouse):
    # warehouse: empty, so no open failure incident of the task keeps this page quiet (tests/test_failure_incidents.py)
    from cryptoflow.hooks.base import ApiKeyRejected

    ti = SimpleNamespace(dag_id="birdeye_5min", task_id="ingest_ohlcv", try_number=3, max_tries=2,
                         log_url="http://localhost:8080/dags/birdeye_5min/runs/r1/tasks/ingest_ohlcv?try_number=3")
    context = {"ti": ti, "run_id": "scheduled__2026-11-20T10:00:00+00:00",
               "data_interval_start": datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
               "data_interval_end": datetime(2026, 11, 20, 10, 5, tzinfo=UTC),
               "exception": ApiKeyRejected("API key rejected for birdeye (HTTP 401)")}
    task_failure_alert(context)
    [payload] = received(alert_channels, "/hooks/alerts")
    assert payload["kind"] == "task_failed"
    fields = payload["fields"]
    assert fields["DAG"] == "birdeye_5min" and fields["Task"] == "ingest_ohlcv"
    assert fields["Interval"] == "2026-11-20 10:00:00+00:00 -> 2026-11-20 10:05:00+00:00"
    assert fields["Try"] == "3 of 3"
    assert "ApiKeyRejected" in fields["Error"] and fields["Log"] == ti.log_url
    assert "rotate it" in payload["action"]
    [slack] = received(alert_channels, "/slack/T000/B000/XXX")
    assert "birdeye_5min.ingest_ohlcv" in slack["text"] and "What to do" in slack["text"]


def test_failed_task_in_a_real_dag_run_pages_without_the_key(alert_channels, airflow_db, warehouse):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder="tests/dags/failing_task.py").dags["alert_test_failing"]
    dag.deadline = None   # Airflow 3.3.2 bug #73428: dag.test() crashes on DAGs with a deadline
    run = dag.test(logical_date=datetime(2026, 11, 20, 10, tzinfo=UTC))
    assert run.state == "failed"
    [payload] = received(alert_channels, "/hooks/alerts")
    assert payload["fields"]["DAG"] == "alert_test_failing"
    assert payload["fields"]["Task"] == "fetch_something"
    assert payload["fields"]["Interval"].startswith("2026-11-20 09:00:00")   # the interval the run covers
    assert "exploded" in payload["fields"]["Error"]
    raw = json.dumps([r.to_dict() for r in alert_channels.requests])
    assert TEST_KEY not in raw


def test_deadline_alert_runs_in_the_triggerer_path(alert_channels, warehouse):
    # warehouse: empty, so no open incident of an earlier late run keeps this one quiet (tests/test_watchdog.py)
    from airflow.triggers.callback import CallbackTrigger

    alert = deadline_alert(timedelta(minutes=15), dag_label="helius_5min")
    assert alert.interval == timedelta(minutes=15)
    callback = alert.callback
    trigger = CallbackTrigger(callback_path=callback.path, callback_kwargs={
        **callback.kwargs,
        "context": {"dag_run": {"dag_id": "helius_5min", "dag_run_id": "scheduled__2026-11-20T10:00:00+00:00",
                                "state": "running", "data_interval_start": "2026-11-20T10:00:00Z",
                                "data_interval_end": "2026-11-20T10:05:00Z"},
                    "deadline": {"id": "x", "deadline_time": "2026-11-20T10:20:00Z"}}})

    async def collect():
        return [event async for event in trigger.run()]

    events = asyncio.run(collect())
    assert events[-1].payload["state"] == "success", events[-1].payload
    [payload] = received(alert_channels, "/hooks/alerts")
    assert payload["kind"] == "deadline_missed"
    assert payload["fields"]["Run"] == "scheduled__2026-11-20T10:00:00+00:00"
    assert payload["fields"]["Deadline"] == "2026-11-20T10:20:00Z"


def test_one_broken_channel_does_not_stop_the_others(alert_channels, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_ALERTS_SLACK", json.dumps(
        {"conn_type": "slackwebhook", "password": "http://127.0.0.1:1/nothing-listens"}))
    reached = send_alert(Alert(title="test"))
    assert reached == ["alerts_webhook"]


def test_no_channel_configured_is_a_warning_not_an_error(monkeypatch, caplog):
    for name in ("AIRFLOW_CONN_ALERTS_SLACK", "AIRFLOW_CONN_ALERTS_WEBHOOK", "AIRFLOW_CONN_SMTP_DEFAULT"):
        monkeypatch.delenv(name, raising=False)
    assert send_alert(Alert(title="nobody listens")) == []
    assert "no alert channel reached" in caplog.text
