"""artemis.metrics end to end: real HTTP against the replay server, real PostgreSQL, the real DAG."""

import datetime as dt
import json
import logging
import re
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from cryptoflow.hooks.base import ApiUnavailable, MissingApiKey
from cryptoflow.ingest import run_dataset
from cryptoflow.paths import read_sql
from cryptoflow.sources.artemis import demo
from cryptoflow.sources.artemis.config import ArtemisConfigError, load_config
from cryptoflow.sources.artemis.datasets import ArtemisMetrics

FIXTURES = Path(__file__).parent / "fixtures" / "artemis"
ROOT = Path(__file__).resolve().parents[1]
KEY = "art-SECRET-7c1e9b2a44d0"
UTC = dt.UTC
TODAY = dt.date(2030, 1, 1)        # the demo's "today": every test day already has data
END = dt.datetime(2025, 11, 6, 0, 5, tzinfo=UTC)   # a run loading 2025-11-03 (Mon), 11-04, 11-05
DAYS = [dt.date(2025, 11, 3), dt.date(2025, 11, 4), dt.date(2025, 11, 5)]
API_PATH = r"/data/api/[^/]+/?"
API_RE = re.compile(API_PATH)


@pytest.fixture
def artemis_conn(monkeypatch, replay_server):
    def configure(password=KEY, **extra):
        settings = {"rate_limit_per_s": 1000, "backoff_base_s": 0.01, "max_attempts": 2, **extra}
        monkeypatch.setenv("AIRFLOW_CONN_ARTEMIS", json.dumps(
            {"conn_type": "http", "host": replay_server.url, "password": password, "extra": settings}))
    configure()
    return configure


def small(**kwargs) -> ArtemisMetrics:
    return ArtemisMetrics(matrix_path=FIXTURES / "matrix_small.csv", excluded_path=FIXTURES / "excluded.txt",
                          entity_map_path=FIXTURES / "entity_map_small.csv", **kwargs)


def run(dataset, end=END):
    return run_dataset(dataset, end - dt.timedelta(days=1), end, dag_id="artemis_daily",
                       run_id=f"scheduled__{end.isoformat()}", task_id="ingest_metrics")


def serve(server, mutate=None):
    """The demo's generated answers, changed by ``mutate(symbols_node)`` to plant a trap."""
    generate = demo.make_handler(TODAY)

    def handle(request):
        status, headers, body = generate(request)
        if status == 200 and mutate is not None:
            mutate(body["data"]["symbols"])
        return status, headers, body

    server.add(path_regex=API_PATH, handler=handle)


def expected(pairs, days):
    return {(s, m, d): Decimal(str(demo.value(s, m, d))) for s, m in pairs for d in days if demo.has_point(s, m, d)}


def loaded(conn):
    return {(a, m, d): v for a, m, d, v in conn.execute(
        "SELECT asset, metric, (ts AT TIME ZONE 'UTC')::date, value FROM metrics WHERE source = 'artemis'")}


def rejected(conn):
    return conn.execute("SELECT reason, record FROM rejected_records WHERE source = 'artemis' ORDER BY id").fetchall()


def small_pairs():
    return load_config(FIXTURES / "matrix_small.csv", FIXTURES / "excluded.txt", FIXTURES / "entity_map_small.csv") \
        .matrix.pair_set


# -- one run -------------------------------------------------------------------------------------------------------

def test_loads_exactly_the_matrix_pairs_for_the_days_of_the_window(warehouse, replay_server, artemis_conn):
    serve(replay_server)
    result = run(small())
    assert result.status == "success"
    assert loaded(warehouse) == expected(small_pairs(), DAYS)
    assert len(loaded(warehouse)) == 12 * 3   # 12 pairs (the excluded VOLATILITY_90D_ANN column is not pulled)
    assert rejected(warehouse) == []
    # one request for November (all 5 symbols and 5 metrics fit one batch); the answer covers the whole month
    (request,) = replay_server.requests
    assert request.path == "/data/api/PRICE,MC,FEES,DAU,LENDING_DEPOSITS/"
    assert request.query["symbols"] == "aave,doge,eq-coin,eth,sol"
    assert (request.query["startDate"], request.query["endDate"]) == ("2025-11-01", "2025-11-30")
    pull = warehouse.execute("SELECT status, records_fetched, records_rejected, api_calls FROM pulls").fetchone()
    assert pull == ("success", 36, 0, 1)
    links = warehouse.execute("SELECT source, source_id, entity, kind FROM entity_map ORDER BY source_id").fetchall()
    assert links == [("artemis", "aave", "aave", "protocol"), ("artemis", "eth", "ethereum", "chain"),
                     ("artemis", "sol", "solana", "chain")]


def test_error_string_inside_a_200_is_rejected_and_the_rest_loads(warehouse, replay_server, artemis_conn):
    def plant(symbols):
        symbols["sol"]["FEES"] = "Metric not available"

    serve(replay_server, plant)
    assert run(small()).status == "success"
    want = {k: v for k, v in expected(small_pairs(), DAYS).items() if k[:2] != ("sol", "FEES")}
    assert loaded(warehouse) == want
    ((reason, record),) = rejected(warehouse)
    assert "Metric not available" in reason and "FEES" in reason
    assert record == {"symbol": "sol", "metric": "FEES", "error": "Metric not available"}


def test_metric_and_symbol_keys_in_any_case(warehouse, replay_server, artemis_conn):
    def recase(symbols):
        sol = symbols.pop("sol")
        symbols["SOL"] = {"price": sol["PRICE"], "Mc": sol["MC"], "fees": sol["FEES"], "DAU": sol["DAU"]}
        symbols["eth"] = {k.lower(): v for k, v in symbols["eth"].items()}

    serve(replay_server, recase)
    assert run(small()).status == "success"
    assert loaded(warehouse) == expected(small_pairs(), DAYS)
    assert {m for _, m, _ in loaded(warehouse)} == {"PRICE", "MC", "FEES", "DAU", "LENDING_DEPOSITS"}
    assert rejected(warehouse) == []


def test_missing_days_stay_missing_not_zero(warehouse, replay_server, artemis_conn):
    def drop_a_day(symbols):
        symbols["sol"]["DAU"] = [p for p in symbols["sol"]["DAU"] if p["date"] != "2025-11-04"]

    serve(replay_server, drop_a_day)
    assert run(small()).status == "success"
    got = loaded(warehouse)
    assert ("sol", "DAU", dt.date(2025, 11, 4)) not in got
    assert got == {k: v for k, v in expected(small_pairs(), DAYS).items() if k != ("sol", "DAU", dt.date(2025, 11, 4))}
    assert rejected(warehouse) == []
    assert warehouse.execute("SELECT count(*) FROM metrics WHERE value = 0").fetchone() == (0,)


def test_equities_have_no_weekend_points(warehouse, replay_server, artemis_conn):
    serve(replay_server)
    end = dt.datetime(2025, 11, 10, 0, 5, tzinfo=UTC)    # Fri 11-07, Sat 11-08, Sun 11-09
    assert run(small(), end).status == "success"
    days = [dt.date(2025, 11, 7), dt.date(2025, 11, 8), dt.date(2025, 11, 9)]
    assert loaded(warehouse) == expected(small_pairs(), days)
    assert {d for a, _, d in loaded(warehouse) if a == "eq-coin"} == {dt.date(2025, 11, 7)}


def test_val_as_a_string(warehouse, replay_server, artemis_conn):
    def stringify(symbols):
        for point in symbols["eth"]["PRICE"]:
            point["val"] = str(point["val"])
        for point in symbols["aave"]["PRICE"]:
            if point["date"] == "2025-11-04":
                point["val"] = "n/a"

    serve(replay_server, stringify)
    assert run(small()).status == "success"
    want = {k: v for k, v in expected(small_pairs(), DAYS).items() if k != ("aave", "PRICE", dt.date(2025, 11, 4))}
    assert loaded(warehouse) == want        # eth's string prices load as numbers
    ((reason, record),) = rejected(warehouse)
    assert "expected a number" in reason and record["val"] == "n/a" and record["date"] == "2025-11-04"


@pytest.mark.parametrize("answer", ["absent", "error string"])
def test_symbol_unknown_to_the_api(warehouse, replay_server, artemis_conn, answer):
    def forget_doge(symbols):
        if answer == "absent":
            del symbols["doge"]
        else:
            symbols["doge"] = "Symbol doge not found"

    serve(replay_server, forget_doge)
    assert run(small()).status == "success"
    assert loaded(warehouse) == {k: v for k, v in expected(small_pairs(), DAYS).items() if k[0] != "doge"}
    ((reason, record),) = rejected(warehouse)
    assert "'doge'" in reason and record["symbol"] == "doge"


def test_answer_that_is_not_the_documented_shape_fails(warehouse, replay_server, artemis_conn):
    replay_server.add(path_regex=API_PATH, json={"message": "Internal error"})
    with pytest.raises(Exception, match="expected \\{'data'"):
        run(small())
    assert warehouse.execute("SELECT count(*) FROM metrics").fetchone() == (0,)
    assert warehouse.execute("SELECT status FROM pulls").fetchone() == ("failed",)


# -- backfills and re-runs -----------------------------------------------------------------------------------------

def _snapshot(conn):
    return conn.execute("SELECT source, asset, metric, ts, value FROM metrics ORDER BY 1, 2, 3, 4").fetchall()


def months_touched(end):
    return len({(end - dt.timedelta(days=i)).strftime("%Y-%m") for i in (1, 2, 3)})


def test_60_day_backfill_makes_one_request_per_month_and_batch(warehouse, replay_server, artemis_conn):
    artemis_conn(symbols_per_request=2)      # 5 symbols -> 3 batches
    serve(replay_server)
    ends = [dt.datetime(2025, 11, 2, 0, 5, tzinfo=UTC) + dt.timedelta(days=i) for i in range(60)]
    results = [run(small(), end) for end in ends]
    assert all(r.status == "success" for r in results)

    # the days of the 60 windows are 2025-10-30 .. 2025-12-30: months October, November, December
    months_by_batch: dict[tuple, list[str]] = {}
    for request in replay_server.requests:
        months_by_batch.setdefault((request.path, request.query["symbols"]), []).append(request.query["startDate"])
    assert len(months_by_batch) == 3
    for months in months_by_batch.values():
        assert sorted(months) == ["2025-10-01", "2025-11-01", "2025-12-01"]   # each month requested once
    assert sum(r.api_calls for r in results) == 9
    lookups = sum(3 * months_touched(end) for end in ends)    # 3 batches per month a run's days touch
    assert lookups == 192 and sum(r.cache_hits for r in results) == lookups - 9

    days = [dt.date(2025, 10, 30) + dt.timedelta(days=i) for i in range(62)]
    assert loaded(warehouse) == expected(small_pairs(), days)
    backfilled = _snapshot(warehouse)

    # the same 60 days loaded by 60 independent single-day runs, each asking the API itself
    warehouse.execute("TRUNCATE metrics, raw_responses")
    replay_server.clear_log()
    for end in ends:
        warehouse.execute("TRUNCATE raw_responses")
        run(small(), end)
    assert len(replay_server.requests) == lookups
    assert _snapshot(warehouse) == backfilled


def test_rerunning_intervals_is_a_no_op(warehouse, replay_server, artemis_conn):
    def plant(symbols):
        symbols["sol"]["FEES"] = "Metric not available"

    serve(replay_server, plant)
    ends = [END, END + dt.timedelta(days=1), END + dt.timedelta(days=2)]
    for end in ends:
        run(small(), end)
    state = [warehouse.execute("SELECT * FROM metrics ORDER BY asset, metric, ts").fetchall(),
             warehouse.execute("SELECT * FROM entity_map ORDER BY source_id").fetchall(),
             warehouse.execute("SELECT source, interval_start, reason, record FROM rejected_records ORDER BY 2, 3")
             .fetchall()]
    calls = len(replay_server.requests)
    again = [run(small(), end) for end in ends]
    assert [(r.status, r.upserted, r.api_calls) for r in again] == [("success", 0, 0)] * 3
    assert len(replay_server.requests) == calls
    assert state == [warehouse.execute("SELECT * FROM metrics ORDER BY asset, metric, ts").fetchall(),
                     warehouse.execute("SELECT * FROM entity_map ORDER BY source_id").fetchall(),
                     warehouse.execute("SELECT source, interval_start, reason, record FROM rejected_records "
                                       "ORDER BY 2, 3").fetchall()]
    assert len(state[2]) == 3     # one rejected record per interval, replaced (not added to) by each re-run


def test_concurrent_runs_of_one_month_make_one_request(warehouse, replay_server, artemis_conn):
    serve(replay_server)
    replay_server.inject(API_RE, "slow", delay=1.0)     # the first fetch is slow: the other run must wait for it
    results, errors = [], []

    def one(end):
        try:
            results.append(run(small(), end))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(END + dt.timedelta(days=i),)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and len(results) == 3
    assert len(replay_server.requests) == 1
    assert sorted(r.cache_hits for r in results) == [0, 1, 1]


# -- keys, config errors, entity_map -------------------------------------------------------------------------------

def test_no_key_skips_naming_the_variable(warehouse, replay_server, artemis_conn):
    artemis_conn(password="")
    serve(replay_server)
    with pytest.raises(MissingApiKey, match="ARTEMIS_API_KEY"):
        run(small())
    assert replay_server.requests == []
    status, error = warehouse.execute("SELECT status, error FROM pulls").fetchone()
    assert status == "skipped" and "ARTEMIS_API_KEY" in error


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs():
    """Every log line at DEBUG and above while the test runs (works with or without pytest's logging plugin)."""
    handler, root = _Collect(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(level)


def test_key_is_sent_but_never_stored_or_logged(warehouse, replay_server, artemis_conn, all_logs):
    serve(replay_server)
    run(small())
    (request,) = replay_server.requests
    assert request.query["APIKey"] == KEY and request.header("X-API-Key") == KEY
    stored = warehouse.execute("SELECT url, params::text FROM raw_responses").fetchall()
    assert stored and all(KEY not in url and KEY not in params for url, params in stored)
    assert "APIKey" not in stored[0][1]

    replay_server.inject(API_RE, "status", status=503, times=None)
    with pytest.raises(ApiUnavailable) as exc:
        run(small(), dt.datetime(2025, 12, 10, 0, 5, tzinfo=UTC))    # December: not in the cache
    assert KEY not in str(exc.value)
    errors = warehouse.execute("SELECT error FROM pulls WHERE status = 'failed'").fetchall()
    assert errors and all(KEY not in e for (e,) in errors)
    stored = warehouse.execute("SELECT url, params::text, coalesce(body_text, '') FROM raw_responses").fetchall()
    assert all(KEY not in "".join(row) for row in stored)
    assert any("/data/api/" in line for line in all_logs)       # urllib3 logged the requests...
    assert not [line for line in all_logs if KEY in line]       # ...without the key


def test_config_error_fails_the_run_naming_the_line(warehouse, replay_server, artemis_conn, tmp_path):
    serve(replay_server)
    bad = tmp_path / "artemis_config.csv"
    bad.write_text("symbol,PRICE,MC\nsol,x,x\neth,x,x\nsol,x,\n")
    dataset = ArtemisMetrics(matrix_path=bad, excluded_path=FIXTURES / "excluded.txt",
                             entity_map_path=FIXTURES / "entity_map_small.csv")
    with pytest.raises(ArtemisConfigError, match="line 4: duplicate asset 'sol' \\(first on line 2\\)"):
        run(dataset)
    assert replay_server.requests == []
    status, error = warehouse.execute("SELECT status, error FROM pulls").fetchone()
    assert status == "failed" and "artemis_config.csv line 4" in error


def test_entity_map_joins_artemis_to_defillama_and_follows_the_file(warehouse, replay_server, artemis_conn, tmp_path):
    serve(replay_server)
    run(small())
    # what defillama_daily and defillama_hourly write: their own ids, mapped to the same entities
    day = dt.datetime(2025, 11, 4, tzinfo=UTC)
    warehouse.execute("INSERT INTO entity_map (source, source_id, entity, kind) VALUES "
                      "('defillama', 'solana', 'solana', 'chain'), ('defillama', 'aave-v3', 'aave', 'protocol'), "
                      "('defillama', 'uniswap', 'uniswap', 'protocol')")
    warehouse.execute("INSERT INTO metrics (source, asset, metric, ts, value) VALUES "
                      "('defillama', 'solana', 'FEES_24H', %(d)s, 1), ('defillama', 'aave-v3', 'TVL', %(d)s, 2), "
                      "('defillama', 'uniswap', 'FEES_24H', %(d)s, 3)", {"d": day})
    sql = read_sql("artemis/artemis_vs_defillama.sql")
    window = {"date_from": day, "date_to": day + dt.timedelta(days=1)}
    fees = warehouse.execute(sql, {"artemis_metric": "FEES", "defillama_metric": "FEES_24H", **window}).fetchall()
    assert fees == [("solana", "chain", "sol", "solana", day, Decimal(str(demo.value("sol", "FEES", day.date()))),
                     Decimal(1))]
    tvl = warehouse.execute(sql, {"artemis_metric": "LENDING_DEPOSITS", "defillama_metric": "TVL", **window})
    assert [row[:4] + row[5:] for row in tvl] == [
        ("aave", "protocol", "aave", "aave-v3", Decimal(str(demo.value("aave", "LENDING_DEPOSITS", day.date()))),
         Decimal(2))]

    fewer = tmp_path / "map.csv"
    fewer.write_text("artemis_id,defillama_slug,kind,note\nsol,solana,chain,\n")
    run(ArtemisMetrics(matrix_path=FIXTURES / "matrix_small.csv", excluded_path=FIXTURES / "excluded.txt",
                       entity_map_path=fewer))
    assert warehouse.execute("SELECT source, source_id FROM entity_map ORDER BY 1, 2").fetchall() == [
        ("artemis", "sol"), ("defillama", "aave-v3"), ("defillama", "solana"), ("defillama", "uniswap")]


# -- the DAG -------------------------------------------------------------------------------------------------------

def _dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "artemis_daily.py"))
    assert bag.import_errors == {}
    dag = bag.dags["artemis_daily"]
    dag.deadline = None   # Airflow 3.3.2 bug #73428: dag.test() crashes on DAGs with deadline= after success
    return dag


def test_dag_shape():
    dag = _dag()
    assert [t.task_id for t in dag.tasks] == ["ingest_metrics", "check_metrics"]
    assert dag.catchup is True and dag.max_active_runs == 2
    assert dag.start_date == dt.datetime(2026, 11, 1, tzinfo=UTC)
    assert dag.timetable.expression == "5 0 * * *"
    assert dag.default_args["retries"] >= 2


@pytest.mark.slow
def test_dag_test_loads_the_shipped_matrix_for_its_window(warehouse, airflow_db, replay_server, artemis_conn):
    demo.register_demo(replay_server, today=TODAY)
    # a manual run's interval is the cron interval that ends at its logical date
    dr = _dag().test(logical_date=dt.datetime(2026, 11, 21, 0, 5, tzinfo=UTC))
    assert dr.state == "success"
    assert (dr.data_interval_start, dr.data_interval_end) == (dt.datetime(2026, 11, 20, 0, 5, tzinfo=UTC),
                                                              dt.datetime(2026, 11, 21, 0, 5, tzinfo=UTC))
    config = load_config()
    days = [dt.date(2026, 11, 18), dt.date(2026, 11, 19), dt.date(2026, 11, 20)]   # Wed, Thu, Fri
    got = loaded(warehouse)
    assert {(a, m) for a, m, _ in got} == config.matrix.pair_set
    assert {d for _, _, d in got} == set(days)
    assert got == expected(config.matrix.pair_set, days)
    assert rejected(warehouse) == []
    n_links = warehouse.execute("SELECT count(*) FROM entity_map WHERE source = 'artemis'").fetchone()[0]
    assert n_links == len(config.entity_links)
    pull = warehouse.execute("SELECT status, api_calls, records_fetched FROM pulls").fetchone()
    assert pull == ("success", len(replay_server.requests), len(got))
    assert {r.query["startDate"] for r in replay_server.requests} == {"2026-11-01"}


@pytest.mark.slow
def test_dag_without_key_skips(warehouse, airflow_db, replay_server, artemis_conn):
    artemis_conn(password="")
    demo.register_demo(replay_server, today=TODAY)
    dr = _dag().test(logical_date=dt.datetime(2026, 11, 21, 0, 5, tzinfo=UTC))
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states == {"ingest_metrics": "skipped", "check_metrics": "skipped"}
    assert replay_server.requests == []
    status, error = warehouse.execute("SELECT status, error FROM pulls").fetchone()
    assert status == "skipped" and "ARTEMIS_API_KEY" in error
