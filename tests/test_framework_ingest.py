"""The ingestion framework end to end: real HTTP (replay server), real PostgreSQL."""

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from cryptoflow.hooks.base import ApiKeyRejected, ApiUnavailable, MalformedResponse, MissingApiKey
from cryptoflow.ingest import run_dataset
from cryptoflow.validation import TooManyRejected
from tests.framework_support import TEST_KEY, ExamplePoints, series

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


@pytest.fixture
def example_conn(monkeypatch, replay_server):
    def configure(**extra):
        settings = {"rate_limit_per_s": 200, "backoff_base_s": 0.01, "max_attempts": 3, **extra}
        monkeypatch.setenv("AIRFLOW_CONN_EXAMPLE", json.dumps(
            {"conn_type": "http", "host": replay_server.url, "password": TEST_KEY, "extra": settings}))
    configure()
    return configure


def table(conn, name, order):
    return conn.execute(f"SELECT * FROM {name} ORDER BY {order}").fetchall()


def run(**kwargs):
    return run_dataset(ExamplePoints(), START, END, dag_id="example_hourly", run_id="r", task_id="ingest_points",
                       **kwargs)


def test_loads_the_interval_and_logs_the_pull(warehouse, replay_server, example_conn):
    replay_server.add("/v1/series", json=series(START - timedelta(minutes=30), 120))
    result = run()
    assert result.status == "success"
    rows = table(warehouse, "metrics", "ts")
    assert len(rows) == 60
    assert rows[0][3] == START and rows[-1][3] == END - timedelta(minutes=1)
    pull = warehouse.execute("SELECT status, records_fetched, records_upserted, records_rejected, api_calls, "
                             "latency_p50_ms IS NOT NULL, interval_start, interval_end FROM pulls").fetchone()
    assert pull == ("success", 60, 61, 0, 1, True, START, END)
    raw = warehouse.execute("SELECT url, params, status, body IS NOT NULL FROM raw_responses").fetchone()
    assert raw == (f"{replay_server.url}/v1/series", {"asset": "sol"}, 200, True)
    status = warehouse.execute("SELECT source, dataset, last_status, stale FROM v_sync_status").fetchone()
    assert status == ("example", "points", "success", True)   # 2026-11-20 is long past the 2 h threshold


def test_rerunning_an_interval_leaves_identical_tables(warehouse, replay_server, example_conn):
    replay_server.add("/v1/series", json=series(START, 60, bad={7}))
    rejects = "SELECT source, dataset, interval_start, reason, record FROM rejected_records"
    run()
    first = [table(warehouse, "metrics", "ts"), table(warehouse, "entity_map", "source_id"),
             warehouse.execute(rejects).fetchall()]
    second_result = run()
    second = [table(warehouse, "metrics", "ts"), table(warehouse, "entity_map", "source_id"),
              warehouse.execute(rejects).fetchall()]
    assert first == second
    assert second_result.upserted == 0          # nothing changed, nothing written
    assert len(first[2]) == 1


def test_bad_record_is_rejected_and_the_rest_load(warehouse, replay_server, example_conn):
    replay_server.add("/v1/series", json=series(START, 60, bad={3}))
    result = run()
    assert (result.fetched, result.rejected) == (60, 1)
    assert warehouse.execute("SELECT count(*) FROM metrics").fetchone() == (59,)
    reason, record = warehouse.execute("SELECT reason, record FROM rejected_records").fetchone()
    assert "value" in reason and record["value"] == "oops"


def test_too_many_rejects_fail_the_task_and_load_nothing(warehouse, replay_server, example_conn):
    replay_server.add("/v1/series", json=series(START, 60, bad=set(range(10))))
    with pytest.raises(TooManyRejected, match="10 of 60 records rejected"):
        run()
    assert warehouse.execute("SELECT count(*) FROM metrics").fetchone() == (0,)
    assert warehouse.execute("SELECT count(*) FROM rejected_records").fetchone() == (10,)
    assert warehouse.execute("SELECT status FROM pulls").fetchone() == ("failed",)


def test_server_errors_are_retried_then_fail_clearly(warehouse, replay_server, example_conn):
    replay_server.add("/v1/series", json=series(START, 60))
    replay_server.inject("/v1/series", "status", status=500, times=None)
    with pytest.raises(ApiUnavailable, match=r"failed after 3 attempts; last: HTTP 500"):
        run()
    assert replay_server.count(path="/v1/series") == 3
    status, error, retries = warehouse.execute("SELECT status, error, retries FROM pulls").fetchone()
    assert status == "failed" and "ApiUnavailable" in error and retries == 2
    assert warehouse.execute("SELECT count(*) FROM metrics").fetchone() == (0,)


def test_transient_errors_are_retried_until_success(warehouse, replay_server, example_conn):
    replay_server.add("/v1/series", json=series(START, 60))
    replay_server.inject("/v1/series", "status", status=503, times=1)
    replay_server.inject("/v1/series", "disconnect", times=1)
    assert run().status == "success"
    assert warehouse.execute("SELECT count(*) FROM metrics").fetchone() == (60,)
    assert warehouse.execute("SELECT retries, http_errors FROM pulls").fetchone() == (2, 2)


def test_retry_after_is_waited_out(warehouse, replay_server, example_conn):
    replay_server.add("/v1/series", json=series(START, 60))
    replay_server.inject("/v1/series", "status", status=429, retry_after=1, times=1)
    assert run().status == "success"
    first, second = replay_server.requests
    assert second.received_at - first.received_at >= 0.95      # Retry-After: 1 honoured, not the 10 ms backoff
    assert warehouse.execute("SELECT http_429s, retries FROM pulls").fetchone() == (1, 1)


def test_truncated_body_is_rejected_without_loading(warehouse, replay_server, example_conn):
    replay_server.add("/v1/series", json=series(START, 60))
    replay_server.inject("/v1/series", "truncate", times=None)
    with pytest.raises(MalformedResponse, match="not valid JSON"):
        run()
    assert warehouse.execute("SELECT count(*) FROM metrics").fetchone() == (0,)
    assert warehouse.execute("SELECT count(*) FROM raw_responses WHERE body IS NULL AND body_text IS NOT NULL"
                             ).fetchone() == (3,)


def test_crash_between_fetch_and_commit_leaves_nothing(warehouse, replay_server, example_conn):
    replay_server.add("/v1/series", json=series(START, 60))
    dataset = ExamplePoints()
    dataset.fail_after_upsert = True
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_dataset(dataset, START, END, dag_id="d", run_id="r", task_id="t")
    assert warehouse.execute("SELECT count(*) FROM metrics").fetchone() == (0,)
    assert warehouse.execute("SELECT count(*) FROM entity_map").fetchone() == (0,)
    assert warehouse.execute("SELECT status FROM pulls").fetchone() == ("failed",)
    assert warehouse.execute("SELECT count(*) FROM raw_responses").fetchone() == (1,)   # what the API said is kept


def test_warehouse_gone_fails_clearly(warehouse, replay_server, example_conn, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgresql://nobody@127.0.0.1:1/warehouse")
    import psycopg

    with pytest.raises(psycopg.OperationalError):
        run()


def test_cache_serves_a_backfill_with_one_call(warehouse, replay_server, example_conn):
    replay_server.add("/v1/series", json=series(START - timedelta(hours=1), 24 * 60))
    for hour in range(12):
        start = START + timedelta(hours=hour)
        run_dataset(ExamplePoints(), start, start + timedelta(hours=1), dag_id="d", run_id=f"r{hour}", task_id="t")
    assert replay_server.count(path="/v1/series") == 1
    assert warehouse.execute("SELECT count(*) FROM metrics").fetchone() == (12 * 60,)
    assert warehouse.execute("SELECT sum(cache_hits), sum(api_calls) FROM pulls").fetchone() == (11, 1)


def test_missing_key_skips_naming_the_variable(warehouse, replay_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_EXAMPLE", json.dumps({"conn_type": "http", "host": replay_server.url}))
    with pytest.raises(MissingApiKey, match="set EXAMPLE_API_KEY in .env"):
        run()
    assert warehouse.execute("SELECT status FROM pulls").fetchone() == ("skipped",)
    assert replay_server.requests == []


def test_rejected_key_fails_without_retries(warehouse, replay_server, example_conn):
    replay_server.add("/v1/series", json={"error": "invalid api key"}, status=401)
    with pytest.raises(ApiKeyRejected, match="API key rejected for example .*EXAMPLE_API_KEY"):
        run()
    assert replay_server.count(path="/v1/series") == 1


def test_our_extra_keys_are_not_sent_as_headers(warehouse, replay_server, example_conn):
    example_conn(chain="solana", **{"X-Client": "cryptoflow"})
    replay_server.add("/v1/series", json=series(START, 1))
    run()
    headers = {k.lower(): v for k, v in replay_server.requests[0].headers.items()}
    assert headers.get("x-client") == "cryptoflow"
    assert not {"chain", "rate_limit_per_s", "backoff_base_s", "max_attempts"} & set(headers)


def test_no_key_anywhere(warehouse, replay_server, example_conn, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    replay_server.add("/v1/series", json=series(START, 60, bad={1}))
    run()
    warehouse.execute("TRUNCATE raw_responses")   # no cached answer: the next runs call the API
    replay_server.inject("/v1/series", "status", status=500, times=None)
    with pytest.raises(ApiUnavailable) as failure:
        run()
    replay_server.clear_faults()
    replay_server.add("/v1/series", json={"error": f"bad key {TEST_KEY}"}, status=403)
    with pytest.raises(ApiKeyRejected) as rejected:
        run()
    assert replay_server.requests[0].query["api-key"] == TEST_KEY     # the key was really sent
    captured = capsys.readouterr()
    texts = [caplog.text, captured.out, captured.err, str(failure.value), str(rejected.value)]
    for name in ("raw_responses", "pulls", "rejected_records", "metrics"):
        texts += [json.dumps(r[0], default=str) for r in warehouse.execute(f"SELECT to_jsonb(t) FROM {name} t")]
    leaks = [t[:400] for t in texts if TEST_KEY in t]
    assert leaks == []
