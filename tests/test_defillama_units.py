"""DefiLlama parsing, addresses, config and hook, one function at a time (real payload shapes from fixtures)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cryptoflow.sources.defillama import parsing
from cryptoflow.sources.defillama.addresses import BadAddress, chain_slug, keccak256, normalize_address, split_prefixed
from cryptoflow.sources.defillama.catalog import Candidate, corroborate, pool_candidates, protocol_address_candidates
from cryptoflow.sources.defillama.config import ConfigError, load_entities, load_identity_overrides
from cryptoflow.sources.defillama.hook import DefiLlamaHook
from cryptoflow.sources.defillama.models import MetricPoint, Pool, Protocol
from tests.fixtures.defillama.fake_api import load

UTC0 = datetime(2025, 12, 19, tzinfo=UTC)


# -- timestamps and numbers ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [1766102400, 1766102400.0, "1766102400", 1766102400000, "2025-12-19T00:00:00.000Z",
                                 "2025-12-19T00:00:00+00:00", "2025-12-19T01:00:00+01:00"])
def test_every_time_format_defillama_uses(raw):
    assert parsing.parse_ts(raw) == UTC0


@pytest.mark.parametrize("raw", [None, True, "", "yesterday", -5, float("nan"), [1766102400]])
def test_unusable_times_are_errors(raw):
    with pytest.raises(parsing.BadValue):
        parsing.parse_ts(raw)


def test_values_and_their_rejections():
    assert parsing.parse_number("184000000000.5") == Decimal("184000000000.5")
    assert parsing.parse_number(0.1) == Decimal("0.1")
    for bad in (None, True, "n/a", float("inf"), {"peggedUSD": 1}):
        with pytest.raises(parsing.BadValue):
            parsing.parse_number(bad)
    assert parsing.optional_float(float("nan")) is None and parsing.optional_float("x") is None
    ok = MetricPoint.model_validate({"asset": "usdt", "metric": "STABLECOIN_SUPPLY", "ts": "1766102400", "value": "1"})
    assert ok.ts == UTC0


# -- series ----------------------------------------------------------------------------------------------------------

def test_protocol_tvl_keeps_midnight_and_intraday_points_of_the_same_day():
    body = load("protocol_kamino-lend.json")       # real: ... {1766102400}, {1766173823} on the same UTC day
    points = parsing.tvl_points(body, "totalLiquidityUSD")
    last_two = [parsing.parse_ts(p["ts"]) for p in points[-2:]]
    assert last_two[0] == UTC0 and last_two[1].date() == UTC0.date() and last_two[1] > UTC0
    window = parsing.select_window(points, UTC0 - timedelta(days=1), UTC0 + timedelta(days=1))
    assert [p["value"] for p in window] == [2253572956, 2206265570, 2246279745]   # nothing merged by date


def test_live_snapshot_rule():
    points = [{"ts": 1766016000, "value": 1}, {"ts": 1766102400, "value": 2}, {"ts": 1766173823, "value": 3}]
    end = datetime(2025, 12, 19, 19, 0, tzinfo=UTC)      # the snapshot (19:50) is after the interval end
    start = end - timedelta(days=2)
    assert [p["value"] for p in parsing.select_window(points, start, end)] == [1, 2]
    live = parsing.select_window(points, start, end, snapshot_until=end + timedelta(minutes=55))
    assert [p["value"] for p in live] == [1, 2, 3]
    early = parsing.select_window(points, start, end, snapshot_until=end + timedelta(minutes=30))
    assert [p["value"] for p in early] == [1, 2]         # fetched before that snapshot existed: not ours


def test_both_breakdown_shapes_and_the_chart():
    older = load("overview_options_ethereum.json")       # {protocol: value}
    older.pop("totalDataChart")
    assert [(p["ts"], p["value"]) for p in parsing.dimension_points(older)] == [
        (1656201600, 3947), (1656288000, 4716), (1656374400, 4716)]
    newer = load("summary_fees_hyperliquid.json")        # {chain: {protocol: value}}
    newer["totalDataChart"] = []
    assert [(p["ts"], p["value"]) for p in parsing.dimension_points(newer)] == [(1734912000, 1472923)]
    with_chart = load("overview_derivatives.json")
    assert parsing.dimension_points(with_chart)[0] == {"ts": 1614211200, "value": 24949}


def test_stablecoin_date_is_a_string():
    points = parsing.stablecoin_points(load("stablecoincharts_all_1.json"))
    assert points[0] == {"ts": "1762560000", "value": Decimal("184000000000.5")}
    assert parsing.parse_ts(points[0]["ts"]) == datetime(2025, 11, 8, tzinfo=UTC)


def test_bridge_volume_daily_and_rolling():
    body = load("bridgevolume.json")                      # date strings, deposit / withdraw in USD
    out = parsing.bridge_volume_points(body)
    first = (Decimal("11121806.082658675") + Decimal("13970177.335270314")) / 2
    second = (Decimal("32940139.204768553") + Decimal("157541586.9492474")) / 2
    assert [p["value"] for p in out["BRIDGE_VOLUME_24H"]] == [first, second]
    assert [p["value"] for p in out["BRIDGE_VOLUME_7D"]] == [first, first + second]
    assert out["BRIDGE_VOLUME_30D"][1]["ts"] == 1666051200


def test_synthetic_chain_keys_do_not_double_count():
    curve, aave = load("protocols.json")[0], load("protocols.json")[2]
    chains, extras = parsing.split_chain_tvls(curve["chainTvls"])
    assert "Ethereum-staking" not in chains and extras == {"staking": curve["chainTvls"]["staking"]}
    assert sum(chains.values()) == pytest.approx(curve["tvl"])
    chains, extras = parsing.split_chain_tvls(aave["chainTvls"])
    assert set(chains) == {"Ethereum", "Avalanche", "Polygon"} and set(extras) == {"staking", "pool2", "borrowed"}
    chains, extras = parsing.split_chain_tvls(load("protocol_kamino-lend.json")["currentChainTvls"])
    assert set(chains) == {"Solana"} and set(extras) == {"borrowed"}


def test_pools_with_nulls_everywhere_validate():
    pools = load("pools.json")["data"]
    vault = Pool.model_validate(next(p for p in pools if p["project"] == "some-vault"))
    assert (vault.apy, vault.tvlUsd, vault.symbol, vault.predictions, vault.underlyingTokens) == (None,) * 5
    from cryptoflow.sources.defillama.catalog import pool_row

    row = pool_row(Pool.model_validate({**pools[0], "apy": float("nan"), "tvlUsd": "12.5", "predictions": None}))
    assert (row["apy"], row["tvl_usd"], row["predicted_class"]) == (None, 12.5, None)
    with pytest.raises(ValueError):
        Pool.model_validate(next(p for p in pools if p["project"] == "broken"))


# -- addresses -------------------------------------------------------------------------------------------------------

def test_keccak_and_checksums():
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert normalize_address("ethereum", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed") == (
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", True)                       # EIP-55's own example
    assert normalize_address("ethereum", "0xABCDEF0123456789ABCDEF0123456789ABCDEF01") == (
        "0xabcdef0123456789abcdef0123456789abcdef01", True)                       # all upper case: no checksum
    assert normalize_address("bsc", "0xabcdef0123456789abcdef0123456789abcdef01")[0].islower()
    for chain, bad in [("ethereum", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"),  # one letter's case flipped
                       ("ethereum", "0x1234"), ("arbitrum", "0xZZ" + "0" * 38),
                       ("solana", "EPjFWdd5AufqSS"), ("solana", "0OIl" * 10), ("solana", "1" * 44)]:
        with pytest.raises(BadAddress):
            normalize_address(chain, bad)
    assert normalize_address("solana", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")[1] is True
    assert normalize_address("hyperliquid-l1", "0x0d01dc56dcaaca66ad901c959b4011ec") == (
        "0x0d01dc56dcaaca66ad901c959b4011ec", False)                              # not checked for that chain


def test_chain_names_and_prefixes():
    assert chain_slug("OP Mainnet") == "op-mainnet" and chain_slug("avax") == "avalanche"
    assert chain_slug("Binance") == "bsc"
    assert split_prefixed("hyperliquid:0x0d01dc56dcaaca66ad901c959b4011ec") == (
        "hyperliquid-l1", "0x0d01dc56dcaaca66ad901c959b4011ec")
    assert split_prefixed("0x2::sui::SUI") == (None, "0x2::sui::SUI")


def test_protocol_address_confidence():
    protocols = {p["slug"]: Protocol.model_validate(p) for p in load("protocols.json")}
    (curve,) = protocol_address_candidates(protocols["curve"])
    assert (curve.chain, curve.confidence) == ("ethereum", 0.4)
    assert protocol_address_candidates(protocols["anchor"]) == []                 # address "-"
    prefixed = Protocol.model_validate({**load("protocols.json")[0], "address": "arbitrum:0xabc"})
    assert [(c.chain, c.confidence) for c in protocol_address_candidates(prefixed)] == [("arbitrum", 0.6)]
    elsewhere = Protocol.model_validate({**load("protocols.json")[0], "chains": ["Solana", "Sui"]})
    assert [(c.chain, c.confidence) for c in protocol_address_candidates(elsewhere)] == [("ethereum", 0.2)]


def test_reward_token_of_own_pool_corroborates():
    pools = [Pool.model_validate(p) for p in load("pools.json")["data"] if p.get("pool")]
    address = "0x7fc66500c84a76ad7e9c93437bfc5ac33e2ddae9"
    rows = {("aave", "ethereum", address): {"kind": "protocol_token", "confidence": 0.4, "evidence": "x"},
            ("aave", "arbitrum", address): {"kind": "protocol_token", "confidence": 0.4, "evidence": "y"}}
    corroborate(rows, pools)
    assert rows[("aave", "ethereum", address)]["confidence"] == 0.8
    assert rows[("aave", "arbitrum", address)]["confidence"] == 0.4               # other chain: no agreement
    curve_pool = next(p for p in pools if p.project == "curve-dex")
    kinds = {(c.kind, c.confidence) for c in pool_candidates(curve_pool)}
    assert kinds == {("pool_contract", 0.4), ("underlying_token", 0.6), ("reward_token", 0.6)}
    assert isinstance(pool_candidates(curve_pool)[0], Candidate)


# -- config ----------------------------------------------------------------------------------------------------------

def test_the_shipped_config_files_are_valid():
    entities = load_entities()
    assert {e.kind for e in entities} >= {"", "stablecoin", "bridge", "pool"}
    assert all(e.metrics or e.kind == "pool" for e in entities)
    assert load_identity_overrides()


@pytest.mark.parametrize("line, message", [
    ("aave,,,TVL FEEZ_24H,", "entities.csv:2: unknown metric"),
    ("usdt,stablecoin,,STABLECOIN_SUPPLY,", "entities.csv:2: a stablecoin needs its DefiLlama id"),
    ("aave,token,,TVL,", "entities.csv:2: kind 'token'"),
    ("ethereum,protocol,,CHAIN_TVL,", "entities.csv:2: ['CHAIN_TVL'] are not protocol metrics"),
    ("aave,,,TVL,-1", "entities.csv:2: lookback_days must be positive"),
    ("aave,,,TVL,,extra", "entities.csv:2: more fields"),
])
def test_config_errors_name_the_line(tmp_path, line, message):
    path = tmp_path / "entities.csv"
    path.write_text(f"slug,kind,id,metrics,lookback_days\n{line}\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_entities(path)


# -- hook ------------------------------------------------------------------------------------------------------------

def test_pro_key_goes_in_the_path_and_only_there(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_DEFILLAMA", json.dumps({
        "conn_type": "http", "host": "https://api.example", "password": "sk-abcdef123456",
        "extra": {"pro_url": "https://pro.example", "yields_url": "https://yields.example", "rate_limit_per_s": 3}}))
    hook = DefiLlamaHook()
    assert hook.base_url_of("api") == "https://api.example" and hook.base_url_of("yields") == "https://yields.example"
    assert hook.base_url_of("stablecoins") == "https://stablecoins.llama.fi"       # the documented default
    url = hook.pro_url("/api/inflows/aave/1")
    assert url == "https://pro.example/{api_key}/api/inflows/aave/1" and hook.has_pro_key
    assert hook.authorize(url, {}, {}) == "https://pro.example/sk-abcdef123456/api/inflows/aave/1"
    assert hook.authorize("https://api.example/protocols", {}, {}) == "https://api.example/protocols"
    session = hook.get_conn()
    assert not {"pro_url", "yields_url", "rate_limit_per_s"} & {k.lower() for k in session.headers}
    from cryptoflow.secrets import redact_url
    assert redact_url(hook.authorize(url, {}, {})) == "https://pro.example/***/api/inflows/aave/1"


def test_no_connection_means_the_public_api(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_DEFILLAMA", raising=False)
    hook = DefiLlamaHook()
    assert hook.base_url_of("api") == "https://api.llama.fi" and not hook.has_pro_key
