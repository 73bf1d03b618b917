"""defillama_daily end to end: replay server (real HTTP) standing in for DefiLlama, real PostgreSQL."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from cryptoflow.ingest import run_dataset
from cryptoflow.sources.defillama import DATASETS
from tests.fixtures.defillama.fake_api import HERE, FakeLlama, load

DAY = timedelta(days=1)
TABLES = ("chains", "protocols", "pools", "pool_daily_snapshots", "protocol_daily_snapshots", "contract_mappings",
          "entity_map", "rejected_records")


@pytest.fixture
def llama_conn(monkeypatch, replay_server):
    settings = {"rate_limit_per_s": 500, "backoff_base_s": 0.01, "max_attempts": 2,
                **{f"{k}_url": replay_server.url for k in ("stablecoins", "yields", "coins", "pro")}}
    monkeypatch.setenv("AIRFLOW_CONN_DEFILLAMA", json.dumps(
        {"conn_type": "http", "host": replay_server.url, "extra": settings}))
    monkeypatch.setenv("DEFILLAMA_ENTITIES_CSV", str(HERE / "entities.csv"))
    monkeypatch.setenv("DEFILLAMA_ENTITY_MAP_CSV", str(HERE / "entity_map.csv"))


def today() -> datetime:
    """Today 00:00 UTC, with the test well away from midnight (a run for yesterday is then 'live')."""
    now = datetime.now(UTC)
    left = 86400 - (now.hour * 3600 + now.minute * 60 + now.second)
    if left < 120:
        time.sleep(left + 2)
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def snapshot_of(conn, table: str, order: str = "1, 2") -> list:
    return conn.execute(f"SELECT t.*, xmin::text FROM {table} t ORDER BY {order}").fetchall()


def run(name: str, start: datetime):
    return run_dataset(DATASETS[name], start, start + DAY, dag_id="defillama_daily", run_id="r",
                       task_id=f"ingest_{name}")


@pytest.mark.slow
def test_dag_run_for_yesterday_and_its_rerun(warehouse, replay_server, llama_conn, airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    fake = FakeLlama(replay_server)
    dag = DagBag(dag_folder=str(HERE.parents[2] / "dags" / "defillama_daily.py")).dags["defillama_daily"]
    dag.deadline = None   # Airflow 3.3.2 bug #73428
    end = today()
    dr = dag.test(logical_date=end)
    assert dr.state == "success"
    assert (dr.data_interval_start, dr.data_interval_end) == (end - DAY, end)
    assert {ti.task_id: ti.state for ti in dr.get_task_instances()} == {
        **{f"ingest_{n}": "success" for n in ("catalog", "pools", "pool_history", "contract_mappings", "entity_map")},
        **{f"check_{n}": "success" for n in ("catalog", "pools", "pool_history")}}
    yesterday = (end - DAY).date()

    # catalog
    assert warehouse.execute("SELECT count(*) FROM chains").fetchone() == (7,)
    assert warehouse.execute("SELECT name, gecko_id, chain_id FROM chains WHERE slug = 'op-mainnet'").fetchone() == (
        "OP Mainnet", "optimism", "10")
    curve = warehouse.execute("SELECT name, category, chains, gecko_id, cmc_id, url, chain_tvls FROM protocols "
                              "WHERE slug = 'curve'").fetchone()
    assert curve[:6] == ("Curve", "Dexes", ["Ethereum", "Avalanche", "Fantom", "Polygon", "Arbitrum", "xDai",
                                             "Harmony", "Optimism"], "curve-dao-token", "6538", "https://curve.fi")
    assert "Ethereum-staking" not in curve[6] and "staking" not in curve[6] and len(curve[6]) == 8
    # no double counting: per-chain TVL adds up to the protocol's TVL, synthetic keys kept apart
    aave = load("protocols.json")[2]
    tvl, chain_tvls, synthetic, day = warehouse.execute(
        "SELECT tvl, chain_tvls, synthetic_tvls, day FROM protocol_daily_snapshots WHERE protocol = 'aave'").fetchone()
    assert day == yesterday and float(tvl) == pytest.approx(aave["tvl"])
    assert sum(chain_tvls.values()) == pytest.approx(aave["tvl"])
    assert set(chain_tvls) == {"Ethereum", "Avalanche", "Polygon"}
    assert set(synthetic) == {"staking", "pool2", "borrowed"}
    assert warehouse.execute("SELECT count(*) FROM protocol_daily_snapshots").fetchone() == (10,)

    # pools: nulls everywhere are fine, NaN is null, the pool without an id is rejected
    assert warehouse.execute("SELECT count(*) FROM pools").fetchone() == (7 + 16,)
    assert warehouse.execute("SELECT apy, tvl_usd, symbol, predicted_class FROM pools WHERE project = 'some-vault'"
                             ).fetchone() == (None, None, None, None)
    assert warehouse.execute("SELECT predicted_class, predicted_probability, binned_confidence FROM pools WHERE "
                             "project = 'lido'").fetchone() == ("Stable/Up", 70, 2)
    curve_pool = warehouse.execute("SELECT underlying_tokens, volume_usd_1d FROM pools WHERE project = 'curve-dex'"
                                   ).fetchone()
    assert len(curve_pool[0]) == 3 and float(curve_pool[1]) == pytest.approx(12345678.9)
    # the day's snapshot from /pools for every pool but the one with a /chart history
    by_source = dict(warehouse.execute("SELECT from_endpoint, count(*) FROM pool_daily_snapshots GROUP BY 1"))
    assert by_source == {"pools": 6 + 16, "chart": 3}
    assert {d for (d,) in warehouse.execute("SELECT DISTINCT day FROM pool_daily_snapshots WHERE from_endpoint "
                                            "= 'pools'")} == {yesterday}
    chart = warehouse.execute("SELECT day, tvl_usd, snapshot_at FROM pool_daily_snapshots WHERE from_endpoint = "
                              "'chart' ORDER BY day").fetchall()
    lido = "747c1d2a-c668-4682-b9f9-296708a3dd90"
    assert [d for d, _, _ in chart] == [yesterday - 2 * DAY, yesterday - DAY, yesterday]
    assert chart[-1][1] == fake.value(lido, "TVL", yesterday)
    assert chart[-1][2] == datetime.combine(yesterday, datetime.min.time(), UTC) + timedelta(
        hours=23, minutes=1, seconds=5, milliseconds=123)           # the ISO timestamp, parsed

    # contract mappings
    mappings = {(e, c, a): (k, float(conf), ev) for e, c, a, k, conf, ev in warehouse.execute(
        "SELECT entity, chain, address, kind, confidence, evidence FROM contract_mappings")}
    # aave's bare address (a heuristic, 0.4) is also the reward token of its own pool: two sources agree
    aave_token = mappings[("aave", "ethereum", "0x7fc66500c84a76ad7e9c93437bfc5ac33e2ddae9")]
    assert aave_token[:2] == ("protocol_token", 0.8) and "reward token of 1 of its own yields pool" in aave_token[2]
    assert mappings[("lido", "ethereum", "0x5a98fcbea516cf06857215779fd812ca3bef1b32")][:2] == ("protocol_token", 1.0)
    assert mappings[("curve", "ethereum", "0xd533a949740bb3306d119cc777fa900ba034cd52")][:2] == ("protocol_token", 0.4)
    assert mappings[("multichain", "ethereum", "0x9fb9a33956351cf4fa040f65a13b835a3c8764e3")][:2] == (
        "protocol_token", 0.4)                                      # checksummed mixed case, valid
    assert mappings[("pool:aa70268e-4b52-42bf-a116-608b370f9501", "ethereum",
                     "0x7fc66500c84a76ad7e9c93437bfc5ac33e2ddae9")][:2] == ("reward_token", 0.6)
    assert mappings[("curve-dex", "ethereum", "0xbebc44782c7db0a1a60cb6fe97d0b483032ff1c7")][:2] == (
        "pool_contract", 0.4)
    assert mappings[("raydium-amm", "solana", "8sLbNZoA1cfnvMJLPfp98ZLAnFSYCFApfJKMbiXNLwxj")][:2] == (
        "pool_contract", 0.4)
    assert ("pool:0c9a3e4e-2222-4a5b-8c7d-fedcba987654", "solana",
            "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v") in mappings
    assert not [k for k in mappings if k[0] == "anchor"]             # address "-": nothing to map
    rejected = warehouse.execute("SELECT dataset, reason, record->>'address' FROM rejected_records "
                                 "ORDER BY dataset, 3").fetchall()
    assert [(d, a) for d, _, a in rejected] == [
        ("contract_mappings", "0xaf88d065e77c8cc2239327C5EDb3A432268e5831"),     # checksum typo
        ("contract_mappings", "EPjFWdd5AufqSS"),                                  # too short for Solana
        ("pools", None)]                                                          # no pool id
    assert "EIP-55" in rejected[0][1] and "32 to 44" in rejected[1][1] and "pool" in rejected[2][1]

    # entity map
    entities = {(s, i): (e, k) for s, i, e, k in warehouse.execute(
        "SELECT source, source_id, entity, kind FROM entity_map")}
    assert entities[("defillama", "aave")] == ("aave", "protocol")
    assert entities[("coingecko", "lido-dao")] == ("lido", "protocol")
    assert entities[("coingecko", "matic-network")] == ("polygon", "chain")   # the chain wins a shared gecko id
    assert entities[("defillama", "op-mainnet")] == ("optimism", "chain")     # override
    assert entities[("coingecko", "optimism")] == ("optimism", "chain")

    # the same date again: nothing changes, the big answers come from the raw cache
    before = {t: snapshot_of(warehouse, t) for t in TABLES if t != "rejected_records"}
    calls = len(replay_server.requests)
    dr = dag.test(logical_date=end)
    assert dr.state == "success"
    assert {t: snapshot_of(warehouse, t) for t in before} == before
    assert len(replay_server.requests) == calls


def test_backfilled_day_refreshes_the_catalog_but_writes_no_snapshot(warehouse, replay_server, llama_conn, caplog):
    FakeLlama(replay_server)
    caplog.set_level(logging.WARNING)
    start = datetime(2026, 11, 3, tzinfo=UTC)
    for name in ("catalog", "pools", "pool_history"):
        assert run(name, start).status == "success"
    assert warehouse.execute("SELECT count(*) FROM protocols").fetchone() == (10,)
    assert warehouse.execute("SELECT count(*) FROM pools").fetchone() == (7 + 16,)
    assert warehouse.execute("SELECT count(*) FROM protocol_daily_snapshots").fetchone() == (0,)
    # only the /chart history, and only the days of the window [11-01, 11-04)
    days = warehouse.execute("SELECT from_endpoint, day FROM pool_daily_snapshots ORDER BY day").fetchall()
    assert days == [("chart", datetime(2026, 11, d).date()) for d in (1, 2, 3)]
    assert "Past days cannot be backfilled" in caplog.text


def test_unknown_pool_history_is_rejected(warehouse, replay_server, llama_conn, monkeypatch, tmp_path):
    FakeLlama(replay_server)
    entities = tmp_path / "entities.csv"
    entities.write_text("slug,kind,id,metrics\nlido-steth,pool,747c1d2a-c668-4682-b9f9-296708a3dd90,\n"
                        "gone,pool,not-a-pool,\n")
    monkeypatch.setenv("DEFILLAMA_ENTITIES_CSV", str(entities))
    result = run("pool_history", datetime(2026, 11, 3, tzinfo=UTC))
    assert (result.status, result.rejected) == ("success", 1)
    reason, record = warehouse.execute("SELECT reason, record FROM rejected_records").fetchone()
    assert record == {"pool": "not-a-pool", "slug": "gone"} and "HTTP 400" in reason and "line 3" in reason
    assert warehouse.execute("SELECT count(*) FROM pool_daily_snapshots").fetchone() == (3,)


def test_offline_demo_serves_every_dataset_of_the_shipped_config(warehouse, replay_server, monkeypatch):
    from cryptoflow.sources.defillama import DAILY, HOURLY
    from cryptoflow.sources.defillama.demo import register_demo

    register_demo(replay_server)
    monkeypatch.setenv("AIRFLOW_CONN_DEFILLAMA", json.dumps({
        "conn_type": "http", "host": replay_server.url, "password": "demo-key-0000",
        "extra": {"rate_limit_per_s": 500, **{f"{k}_url": replay_server.url for k in ("stablecoins", "yields", "pro")}},
    }))
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for name, dataset in HOURLY.items():
        result = run_dataset(dataset, end - timedelta(hours=1), end, dag_id="defillama_hourly", task_id=name)
        assert (result.status, result.rejected) == ("success", 0), name
    midnight = end.replace(hour=0)
    for name, dataset in DAILY.items():
        result = run_dataset(dataset, midnight - DAY, midnight, dag_id="defillama_daily", task_id=name)
        assert (result.status, result.rejected) == ("success", 0), name
    loaded = {m for (m,) in warehouse.execute("SELECT DISTINCT metric FROM metrics")}
    from cryptoflow.sources.defillama.config import METRICS
    assert loaded == set(METRICS)                                    # every metric of the shipped config
    assert warehouse.execute("SELECT count(*) > 0 FROM contract_mappings WHERE confidence = 1.0").fetchone() == (True,)
