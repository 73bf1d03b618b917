"""defillama_hourly end to end: replay server (real HTTP) standing in for DefiLlama, real PostgreSQL."""

from __future__ import annotations

import json
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cryptoflow.hooks.base import MissingApiKey
from cryptoflow.ingest import run_dataset
from cryptoflow.sources.defillama import DATASETS
from tests.fixtures.defillama.fake_api import HERE, PRO_KEY, FakeLlama

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def llama_conn(monkeypatch, replay_server):
    """Point the defillama connection (every host) at the replay server; ``configure(key=...)`` adds a Pro key."""

    def configure(key: str | None = None, **extra):
        settings = {"rate_limit_per_s": 500, "backoff_base_s": 0.01, "max_attempts": 2, "max_workers": 4,
                    **{f"{k}_url": replay_server.url for k in ("stablecoins", "yields", "coins", "pro")}, **extra}
        monkeypatch.setenv("AIRFLOW_CONN_DEFILLAMA", json.dumps(
            {"conn_type": "http", "host": replay_server.url, "password": key or "", "extra": settings}))

    monkeypatch.setenv("DEFILLAMA_ENTITIES_CSV", str(HERE / "entities.csv"))
    monkeypatch.setenv("DEFILLAMA_ENTITY_MAP_CSV", str(HERE / "entity_map.csv"))
    configure()
    return configure


def metrics(conn, metric=None) -> dict[tuple[str, str, datetime], Decimal]:
    rows = conn.execute("SELECT asset, metric, ts, value FROM metrics WHERE source = 'defillama'"
                        + (" AND metric = %s" if metric else ""), (metric,) if metric else ()).fetchall()
    return {(a, m, ts): v for a, m, ts, v in rows}


def run(name: str, start: datetime, end: datetime | None = None, run_id: str = "r"):
    return run_dataset(DATASETS[name], start, end or start + HOUR, dag_id="defillama_hourly", run_id=run_id,
                       task_id=f"ingest_{name}")


def midnight(ts: datetime) -> datetime:
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


def test_one_interval_loads_the_window_of_every_series(warehouse, replay_server, llama_conn):
    fake = FakeLlama(replay_server)
    start = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)          # window [11-08 10:00, 11-10 10:00)
    for name in ("chain_tvl", "protocol_tvl", "fees", "volumes", "derivatives", "stablecoins"):
        assert run(name, start).status == "success", name
    days = [datetime(2026, 11, 9, tzinfo=UTC), datetime(2026, 11, 10, tzinfo=UTC)]
    got = metrics(warehouse)
    expected = {}
    for asset, metric in [("ethereum", "CHAIN_TVL"), ("op-mainnet", "CHAIN_TVL"), ("ethereum", "CHAIN_FEES_24H"),
                          ("ethereum", "CHAIN_REVENUE_24H"), ("ethereum", "CHAIN_DEX_VOLUME_24H"),
                          ("ethereum", "CHAIN_OPTIONS_VOLUME_24H"), ("ethereum", "CHAIN_PERPS_VOLUME_24H"),
                          ("aave", "TVL"), ("aave", "FEES_24H"), ("aave", "REVENUE_24H"),
                          ("hyperliquid", "DERIVATIVES_VOLUME_24H"), ("usdt", "STABLECOIN_SUPPLY")]:
        for d in days:
            expected[(asset, metric, d)] = Decimal(fake.value(asset, metric, d.date()))
    kamino = {p["date"]: p["totalLiquidityUSD"] for p in fake.kamino_tvl()}
    for d in days:
        expected[("kamino-lend", "TVL", d)] = Decimal(kamino[int(d.timestamp())])
    assert got == expected


def test_unknown_slug_is_rejected_and_the_others_load(warehouse, replay_server, llama_conn, caplog):
    FakeLlama(replay_server)
    start = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    caplog.set_level(logging.WARNING)
    result = run("protocol_tvl", start)
    assert result.status == "success" and result.rejected == 1
    assert {a for a, _, _ in metrics(warehouse)} == {"aave", "kamino-lend"}
    reason, record = warehouse.execute("SELECT reason, record FROM rejected_records").fetchone()
    assert record == {"asset": "not-a-protocol", "metric": "TVL"}
    assert "not-a-protocol TVL not loaded" in reason and "HTTP 404" in reason and "defillama_entities.csv" in reason
    assert "not-a-protocol TVL" in caplog.text


def test_backfill_of_3_days_calls_each_history_endpoint_once(warehouse, replay_server, llama_conn):
    llama_conn(key=PRO_KEY)
    FakeLlama(replay_server)
    first = datetime(2026, 11, 3, tzinfo=UTC)

    def backfill_run(hour: int) -> list[str]:
        start = first + hour * HOUR
        return [run(name, start, run_id=f"backfill__{start.isoformat()}").status
                for name in ("protocol_tvl", "pro")]

    # 72 hourly runs, 4 at a time like the DAG's max_active_runs
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = [s for run_statuses in pool.map(backfill_run, range(72)) for s in run_statuses]
    assert statuses == ["success"] * 72 * 2

    calls: dict[str, int] = {}
    for r in replay_server.requests:
        key = r.path + "?" + "&".join(f"{k}={v}" for k, v in sorted(r.query.items()) if k == "dataType")
        calls[key] = calls.get(key, 0) + 1
    # every history endpoint about once (the first concurrent runs may each miss the cache), not 72 times; the
    # unknown slug is asked every run: a 404 is not an answer the cache keeps
    assert calls["/v2/chains?"] <= 4
    assert calls["/protocol/aave?"] <= 4
    assert calls[f"/{PRO_KEY}/api/v2/chart/open-interest/protocol/hyperliquid?dataType=openInterestAtEnd"] <= 4
    assert {k: n for k, n in calls.items() if n > 4 and "not-a-protocol" not in k} == {}
    assert calls["/protocol/not-a-protocol?"] == 72
    inflow_days = sorted(int(p.rsplit("/", 1)[1].rstrip("?")) for p in calls if "/api/inflows/aave/" in p)
    expected_days = [datetime(2026, 11, d, tzinfo=UTC) for d in (2, 3, 4, 5)]
    assert inflow_days == [int(d.timestamp()) for d in expected_days]   # only complete days, each on its own

    # one row per (asset, metric, day): the days of the range plus the first run's 2-day lookback, nothing later
    got = metrics(warehouse)
    assert {ts for _, _, ts in got} == set(expected_days)
    assert max(ts for _, _, ts in got) < first + 72 * HOUR
    per_series = {}
    for asset, metric, _ in got:
        per_series[(asset, metric)] = per_series.get((asset, metric), 0) + 1
    assert set(per_series.values()) == {4}
    assert {("aave", "NET_FLOW"), ("hyperliquid", "OPEN_INTEREST"), ("kamino-lend", "TVL")} <= set(per_series)
    assert warehouse.execute("SELECT count(*), sum(cache_hits) > 400 FROM pulls WHERE status = 'success'"
                             ).fetchone() == (144, True)


@pytest.mark.slow
def test_dag_run_for_a_logical_date_and_its_rerun(warehouse, replay_server, llama_conn, airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    fake = FakeLlama(replay_server)
    dag = DagBag(dag_folder=str(HERE.parents[2] / "dags" / "defillama_hourly.py")).dags["defillama_hourly"]
    dag.deadline = None   # Airflow 3.3.2 bug #73428: dag.test() crashes on DAGs with deadline= after success
    logical = datetime(2026, 11, 12, 7, 5, tzinfo=UTC)
    dr = dag.test(logical_date=logical)
    assert dr.state == "success"
    assert (dr.data_interval_start, dr.data_interval_end) == (logical - HOUR, logical)   # dag.test: the end
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    loaded = ("chain_tvl", "protocol_tvl", "fees", "volumes", "derivatives", "stablecoins")
    pro_only = ("bridges", "pro")
    assert states == {**{f"{step}_{name}": "success" for name in loaded for step in ("ingest", "check")},
                      **{f"{step}_{name}": "skipped" for name in pro_only for step in ("ingest", "check")}}
    # no Pro key: skipped, not failed; each loaded dataset passed its data-quality checks
    got = metrics(warehouse)
    days = {datetime(2026, 11, 11, tzinfo=UTC), datetime(2026, 11, 12, tzinfo=UTC)}
    assert {ts for _, _, ts in got} == days
    assert got[("ethereum", "CHAIN_TVL", datetime(2026, 11, 12, tzinfo=UTC))] == fake.value(
        "ethereum", "CHAIN_TVL", datetime(2026, 11, 12).date())
    assert len(got) == 2 * 13
    skipped = warehouse.execute("SELECT dataset, error FROM pulls WHERE status = 'skipped' ORDER BY dataset").fetchall()
    assert [d for d, _ in skipped] == ["bridges", "pro"]
    assert all("DEFILLAMA_API_KEY" in e for _, e in skipped)

    before = warehouse.execute("SELECT *, xmin::text FROM metrics ORDER BY 1, 2, 3, 4").fetchall()
    calls = len(replay_server.requests)
    dr = dag.test(logical_date=logical)
    assert dr.state == "success"
    assert warehouse.execute("SELECT *, xmin::text FROM metrics ORDER BY 1, 2, 3, 4").fetchall() == before
    assert len(replay_server.requests) - calls == 2      # only the unknown slug's two 404s; the rest from cache


def live_interval() -> tuple[datetime, datetime]:
    """The hour that just ended, with the run well inside the next hour (as a scheduled run at :05 would be)."""
    now = datetime.now(UTC)
    left = 3600 - (now.minute * 60 + now.second)
    if left < 60:                       # do not straddle the hour boundary while the test runs
        time.sleep(left + 2)
    now = datetime.now(UTC)
    end = now.replace(minute=0, second=0, microsecond=0)
    if now - end < timedelta(seconds=2):
        time.sleep(2)
    return end - HOUR, end


def test_live_run_keeps_the_intraday_snapshot_next_to_the_midnight_point(warehouse, replay_server, llama_conn):
    fake = FakeLlama(replay_server)
    start, end = live_interval()
    assert run("protocol_tvl", start, end).status == "success"
    aave = {ts: v for (a, m, ts), v in metrics(warehouse, "TVL").items() if a == "aave"}
    snapshots = [ts for ts in aave if ts != midnight(ts)]
    assert len(snapshots) == 1 and end <= snapshots[0] <= datetime.now(UTC)     # taken after the interval ended
    assert aave[snapshots[0]] == fake.value("aave", "TVL", fake.last_day) + Decimal("0.5")
    midnights = {ts for ts in aave if ts == midnight(ts)}
    assert midnights == {d for d in (midnight(end) - DAY, midnight(end)) if end - 2 * DAY <= d < end}
    today = midnight(snapshots[0])
    if today in aave:       # the trap: a midnight point and the intraday point on the same day, both kept
        assert aave[today] == fake.value("aave", "TVL", today.date()) != aave[snapshots[0]]
    kamino = {ts: v for (a, m, ts), v in metrics(warehouse, "TVL").items() if a == "kamino-lend" and ts == snapshots[0]}
    assert kamino == {snapshots[0]: Decimal(2246279745)}         # Kamino's real intraday value

    # an older intraday snapshot of the same day (from an earlier live run) is replaced, the midnight point stays
    older = today + timedelta(seconds=1)
    if older < snapshots[0]:
        warehouse.execute("INSERT INTO metrics (source, asset, metric, ts, value) VALUES "
                          "('defillama', 'aave', 'TVL', %s, 1)", (older,))
        assert run("protocol_tvl", start, end).status == "success"
        again = {ts for (a, m, ts) in metrics(warehouse, "TVL") if a == "aave"}
        assert again == set(aave)


def test_pro_metrics_with_a_key_that_never_leaks(warehouse, replay_server, llama_conn, caplog, capsys):
    from cryptoflow.hooks.base import ApiUnavailable

    caplog.set_level(logging.DEBUG)
    llama_conn(key=PRO_KEY)
    fake = FakeLlama(replay_server, free_derivatives=False)
    start = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    for name in ("bridges", "pro", "derivatives"):
        assert run(name, start).status == "success", name
    got = metrics(warehouse)
    d = datetime(2026, 11, 10, tzinfo=UTC)
    daily = [fake.value("hyperliquid-bridge", "BRIDGE", (d - i * DAY).date()) + 1 for i in range(30)]
    assert got[("hyperliquid-bridge", "BRIDGE_VOLUME_24H", d)] == daily[0]
    assert got[("hyperliquid-bridge", "BRIDGE_VOLUME_7D", d)] == sum(daily[:7])
    assert got[("hyperliquid-bridge", "BRIDGE_VOLUME_30D", d)] == sum(daily)
    assert got[("aave", "NET_FLOW", d - DAY)] == -fake.value("aave", "NET_FLOW", (d - DAY).date())
    assert ("aave", "NET_FLOW", d) not in got                        # 11-10 is not over at 10:00
    assert got[("hyperliquid", "OPEN_INTEREST", d)] == fake.value("hyperliquid", "OPEN_INTEREST", d.date())
    # with a key, derivatives come from the Pro path (the free one refuses here)
    assert got[("hyperliquid", "DERIVATIVES_VOLUME_24H", d)] == fake.value("hyperliquid", "DERIVATIVES_VOLUME_24H",
                                                                           d.date())
    sent = [r.path for r in replay_server.requests if "/bridges/" in r.path or "/api/" in r.path]
    assert sent and all(p.startswith(f"/{PRO_KEY}/") for p in sent)  # the key really is in the path

    warehouse.execute("TRUNCATE raw_responses")                      # no cache: the next run calls the API
    replay_server.inject(re.compile(r".*/api/inflows/.*"), "status", status=502, times=None)
    with pytest.raises(ApiUnavailable) as failure:
        run("pro", start)
    urls = [u for (u,) in warehouse.execute("SELECT url FROM raw_responses")]
    assert [u for u in urls if "/api/" in u] and all(f"{replay_server.url}/***/api/" in u for u in urls if "/api/" in u)
    # our logs (the replay server's own access log stands for DefiLlama's side and does show the path it got)
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("cryptoflow.replay")]
    assert any("/***/" in m for m in ours)                          # urllib3's request lines are masked
    texts = [*ours, *capsys.readouterr(), str(failure.value)]
    for table in ("raw_responses", "pulls", "rejected_records", "metrics"):
        texts += [json.dumps(r[0], default=str) for r in warehouse.execute(f"SELECT to_jsonb(t) FROM {table} t")]
    assert [t[:300] for t in texts if PRO_KEY in t] == []


def test_free_derivatives_refused_without_a_key_skips(warehouse, replay_server, llama_conn):
    FakeLlama(replay_server, free_derivatives=False)
    with pytest.raises(MissingApiKey, match="DEFILLAMA_API_KEY"):
        run("derivatives", datetime(2026, 11, 10, 9, 0, tzinfo=UTC))
    assert warehouse.execute("SELECT status FROM pulls").fetchone() == ("skipped",)
    assert metrics(warehouse) == {}


def test_pro_datasets_without_a_key_skip_without_calling(warehouse, replay_server, llama_conn):
    FakeLlama(replay_server)
    for name in ("bridges", "pro"):
        with pytest.raises(MissingApiKey, match="set DEFILLAMA_API_KEY in .env"):
            run(name, datetime(2026, 11, 10, 9, 0, tzinfo=UTC))
    assert replay_server.requests == []
