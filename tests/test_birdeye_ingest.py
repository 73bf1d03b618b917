"""Birdeye OHLCV end to end through run_dataset: real HTTP to the replay server, real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cryptoflow.hooks.base import ApiKeyRejected, MissingApiKey
from cryptoflow.ingest import run_dataset
from cryptoflow.sources import get_dataset
from cryptoflow.sources.birdeye.demo import FakeBirdeye
from cryptoflow.sources.birdeye.hook import BirdeyeHook
from cryptoflow.sources.birdeye.models import TIMEFRAMES, BirdeyeUnsuccessful
from cryptoflow.sources.birdeye.ohlcv import BirdeyeTokenRefused
from cryptoflow.validation import TooManyRejected

FIXTURES = Path(__file__).parent / "fixtures" / "birdeye"
KEY = "test-key-123"
SOL = "So11111111111111111111111111111111111111112"
JUP = "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN"
WIF = "EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm"
# tokens and timeframes of tests/fixtures/birdeye/watchlist.csv
WATCHLIST = {SOL: ("1m", "5m", "15m", "1h"), JUP: ("1m", "5m"), WIF: ("15m", "1h", "4h")}
DAY = datetime(2026, 11, 20, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hour, minutes=minute)


def set_connection(monkeypatch, server, password: str | None = KEY, **extra) -> None:
    conn = {"conn_type": "http", "host": server.url,
            "extra": {"rate_limit_per_s": 1000, "burst": 1000, "backoff_base_s": 0.01, "backoff_max_s": 0.05,
                      **extra}}
    if password is not None:
        conn["password"] = password
    monkeypatch.setenv("AIRFLOW_CONN_BIRDEYE", json.dumps(conn))


def write_watchlist(tmp_path, monkeypatch, lines: list[str]) -> Path:
    path = tmp_path / "watchlist.csv"
    path.write_text("address,symbol,name,timeframes\n" + "\n".join(lines) + "\n")
    monkeypatch.setenv("CRYPTOFLOW_WATCHLIST", str(path))
    return path


@pytest.fixture
def fake(warehouse, replay_server, monkeypatch) -> FakeBirdeye:
    set_connection(monkeypatch, replay_server)
    monkeypatch.setenv("CRYPTOFLOW_WATCHLIST", str(FIXTURES / "watchlist.csv"))
    return FakeBirdeye(api_key=KEY).register(replay_server)


def run(start: datetime, end: datetime | None = None, run_id: str = "test"):
    return run_dataset(get_dataset("birdeye", "ohlcv"), start, end or start + timedelta(minutes=5),
                       dag_id="birdeye_5min", task_id="ingest_ohlcv", run_id=run_id)


def expected_rows(fake: FakeBirdeye, start: datetime, end: datetime, watchlist=None) -> set[tuple]:
    """The candles that close in [start, end), straight from the fake market (no production code involved)."""
    rows = set()
    s, e = int(start.timestamp()), int(end.timestamp())
    for token, names in (watchlist or WATCHLIST).items():
        for name in names:
            tf = TIMEFRAMES[name]
            for bucket in range(s - tf.seconds * 2 - s % tf.seconds, e + 1, tf.seconds):
                if not s < bucket + tf.seconds <= e:
                    continue
                candle = fake.candle(token, tf.api_type, bucket)
                if candle is not None:
                    rows.add((token, name, datetime.fromtimestamp(bucket, UTC), *(
                        Decimal(repr(candle[k])) for k in ("o", "h", "l", "c", "v"))))
    return rows


def loaded_rows(warehouse) -> set[tuple]:
    return set(warehouse.execute(
        "SELECT token, interval, bucket_start, open, high, low, close, volume FROM candles WHERE source = 'birdeye'"
    ).fetchall())


def ohlcv_requests(server) -> list:
    return [r for r in server.requests if r.path in ("/defi/ohlcv", "/defi/v3/ohlcv")]


# one interval


def test_an_interval_loads_exactly_the_candles_that_closed_in_it(fake, warehouse, replay_server):
    result = run(at(11, 55), at(12, 0))

    rows = loaded_rows(warehouse)
    assert rows == expected_rows(fake, at(11, 55), at(12, 0))
    by_interval = {}
    for token, interval, bucket, *_ in rows:
        by_interval.setdefault((token, interval), set()).add(bucket)
    # the 1h candle of 11:00 and WIF's 4h candle of 08:00 close at 12:00; nothing still open at 12:00 is stored
    assert by_interval[(SOL, "1h")] == {at(11)}
    assert by_interval[(WIF, "4h")] == {at(8)}
    assert by_interval[(SOL, "15m")] == {at(11, 45)}
    assert by_interval[(SOL, "5m")] == {at(11, 55)}
    assert all(bucket >= at(11, 55) for (_, iv), b in by_interval.items() if iv == "1m" for bucket in b)
    assert max(b for buckets in by_interval.values() for b in buckets) < at(12, 0)
    assert result.status == "success" and result.upserted == len(rows) and result.rejected == 0
    source_only = warehouse.execute("SELECT DISTINCT source, volume_usd FROM candles").fetchall()
    assert source_only == [("birdeye", None)]   # v1 gives no USD volume


def test_requests_use_case_sensitive_types_and_the_chain_header(fake, warehouse, replay_server):
    run(at(11, 55), at(12, 0))

    requests = ohlcv_requests(replay_server)
    sent = {(r.query["address"], r.query["type"]) for r in requests}
    assert sent == {(SOL, "1m"), (SOL, "5m"), (SOL, "15m"), (SOL, "1H"), (JUP, "1m"), (JUP, "5m"),
                    (WIF, "15m"), (WIF, "1H"), (WIF, "4H")}
    for r in requests:
        assert r.header("x-chain") == "solana"
        assert r.header("X-API-KEY") == KEY
        assert r.query["currency"] == "usd"
        # our connection settings are not HTTP headers
        assert r.header("chain") is None and r.header("rate_limit_per_s") is None and r.header("burst") is None
        assert KEY not in r.raw_query


def test_an_interval_without_closing_candles_makes_no_request(warehouse, replay_server, monkeypatch, tmp_path):
    fake = FakeBirdeye(api_key=KEY).register(replay_server)
    set_connection(monkeypatch, replay_server)
    write_watchlist(tmp_path, monkeypatch, [f"{WIF},WIF,dogwifhat,15m 1h"])

    result = run(at(10, 0), at(10, 5))

    assert result.status == "success" and result.upserted == 0
    assert ohlcv_requests(replay_server) == []
    assert fake is not None


def test_missing_candles_are_gaps_not_zeros(fake, warehouse, replay_server):
    # the first 5 minutes of the day in which SOL has a 1m bucket without trades
    minute = next(m for m in range(600, 1440) if not fake.has_trades(SOL, "1m", int(at(0, m).timestamp())))
    start = at(0, minute - minute % 5)
    gap = at(0, minute)

    run(start, start + timedelta(minutes=5))

    sol_1m = {r[2] for r in loaded_rows(warehouse) if r[0] == SOL and r[1] == "1m"}
    assert gap not in sol_1m
    assert sol_1m == {start + timedelta(minutes=i) for i in range(5)} - {
        start + timedelta(minutes=i) for i in range(5)
        if not fake.has_trades(SOL, "1m", int((start + timedelta(minutes=i)).timestamp()))}
    assert warehouse.execute("SELECT count(*) FROM candles WHERE volume = 0 OR open = 0").fetchone()[0] == 0


# re-runs and backfills


def test_rerunning_an_interval_is_a_no_op(fake, warehouse, replay_server):
    first = run(at(11, 55), at(12, 0), run_id="first")
    before = warehouse.execute("SELECT *, xmin::text FROM candles ORDER BY 1, 2, 3, 4").fetchall()
    calls = len(ohlcv_requests(replay_server))

    again = run(at(11, 55), at(12, 0), run_id="again")

    assert first.upserted > 0
    assert again.status == "success" and again.upserted == 0
    assert again.api_calls == 0 and again.cache_hits == calls   # answered from raw_responses
    assert len(ohlcv_requests(replay_server)) == calls
    assert warehouse.execute("SELECT *, xmin::text FROM candles ORDER BY 1, 2, 3, 4").fetchall() == before


def test_a_live_run_stores_what_a_backfill_of_the_interval_stores(fake, warehouse, replay_server):
    for minute in (40, 45, 50, 55):
        start = at(11, minute)
        end = start + timedelta(minutes=5)
        # the API as seen 3 s after the interval ended: the current candles are still open
        fake.now = lambda end=end: end.timestamp() + 3
        run(start, end, run_id=f"live-{minute}")
        warehouse.execute("DELETE FROM raw_responses")   # each live run asked before the next interval ended
    live = loaded_rows(warehouse)
    assert any(r[1] == "1h" for r in live)

    warehouse.execute("TRUNCATE candles, raw_responses")
    fake.now = lambda: datetime.now(UTC).timestamp()
    for minute in (40, 45, 50, 55):
        run(at(11, minute), at(11, minute + 5), run_id=f"backfill-{minute}")

    assert loaded_rows(warehouse) == live == expected_rows(fake, at(11, 40), at(12, 0))


def test_a_one_day_backfill_makes_a_few_requests_per_token_and_timeframe(fake, warehouse, replay_server,
                                                                        monkeypatch, tmp_path):
    watchlist = {SOL: ("1m", "5m", "15m", "1h"), WIF: ("1h", "4h")}
    write_watchlist(tmp_path, monkeypatch, [f"{SOL},SOL,Wrapped SOL,", f"{WIF},WIF,dogwifhat,1h 4h"])

    for i in range(288):
        start = DAY + timedelta(minutes=5 * i)
        run(start, start + timedelta(minutes=5), run_id=f"backfill__{start.isoformat()}")

    assert loaded_rows(warehouse) == expected_rows(fake, DAY, DAY + timedelta(days=1), watchlist)
    counts: dict[tuple[str, str], int] = {}
    for r in ohlcv_requests(replay_server):
        counts[(r.query["address"], r.query["type"])] = counts.get((r.query["address"], r.query["type"]), 0) + 1
    # one request per block of 1000 candles (aligned to the epoch) that the day's candles touch
    blocks = {}
    for token, names in watchlist.items():
        for name in names:
            tf = TIMEFRAMES[name]
            day = int(DAY.timestamp())
            blocks[(token, tf.api_type)] = len({b // (1000 * tf.seconds) for b in range(day, day + 86400, tf.seconds)})
    assert counts == blocks
    assert blocks[(SOL, "1m")] == 3 and max(blocks.values()) == 3     # 1440 minutes over 3 blocks of 1000
    pulls = warehouse.execute(
        "SELECT count(*), sum(api_calls), sum(cache_hits), bool_and(status = 'success') FROM pulls").fetchone()
    assert pulls[0] == 288 and pulls[1] == sum(counts.values()) and pulls[2] > 288 and pulls[3]


# the 1000-record cap


def test_a_window_the_record_cap_truncated_is_split(warehouse, replay_server, monkeypatch, tmp_path):
    fake = FakeBirdeye(api_key=KEY, gap_every=0).register(replay_server)
    set_connection(monkeypatch, replay_server, candles_per_request=2500)   # more than one answer holds
    write_watchlist(tmp_path, monkeypatch, [f"{SOL},SOL,Wrapped SOL,1m"])
    block = 2500 * 60
    # an interval near the end of its block: a truncated answer (the first 1000 candles) would miss it
    end = datetime.fromtimestamp((int(at(12).timestamp()) // block + 1) * block - 600, UTC)
    start = end - timedelta(minutes=5)

    result = run(start, end)

    assert loaded_rows(warehouse) == expected_rows(fake, start, end, {SOL: ("1m",)})
    assert result.upserted == 5
    windows = [(int(r.query["time_from"]), int(r.query["time_to"])) for r in ohlcv_requests(replay_server)]
    assert windows[0][1] - windows[0][0] + 1 == block                       # the block, cut at 1000
    assert max(1 + (b - a) // 60 for a, b in windows[1:]) > 1000 >= min(1 + (b - a) // 60 for a, b in windows[1:])
    assert len(windows) == 7                                                 # 2500 -> 2 x 1250 -> 4 x 625


def test_a_full_answer_for_a_1000_candle_block_is_not_split(warehouse, replay_server, monkeypatch, tmp_path):
    FakeBirdeye(api_key=KEY, gap_every=0).register(replay_server)
    set_connection(monkeypatch, replay_server)
    write_watchlist(tmp_path, monkeypatch, [f"{SOL},SOL,Wrapped SOL,1m"])

    run(at(12), at(12, 5))

    [request] = ohlcv_requests(replay_server)
    assert int(request.query["time_to"]) - int(request.query["time_from"]) + 1 == 1000 * 60


# v3 (snake_case)


def test_v3_endpoint_snake_case_answers_load_the_same_candles_with_usd_volume(fake, warehouse, replay_server,
                                                                               monkeypatch):
    set_connection(monkeypatch, replay_server, ohlcv_api="v3")

    run(at(11, 55), at(12, 0))

    requests = ohlcv_requests(replay_server)
    assert {r.path for r in requests} == {"/defi/v3/ohlcv"}
    assert all(r.query["mode"] == "range" and r.query["count_limit"] == "5000" for r in requests)
    assert loaded_rows(warehouse) == expected_rows(fake, at(11, 55), at(12, 0))
    usd = warehouse.execute("SELECT token, interval, bucket_start, volume_usd FROM candles").fetchall()
    for token, interval, bucket, volume_usd in usd:
        candle = fake.candle(token, TIMEFRAMES[interval].api_type, int(bucket.timestamp()))
        assert volume_usd == Decimal(repr(candle["v_usd"]))


# the offline demo


def test_the_demo_serves_any_recent_interval(warehouse, replay_server, monkeypatch):
    from cryptoflow.sources.birdeye.demo import register_demo

    register_demo(replay_server)
    set_connection(monkeypatch, replay_server, password="demo-key")
    monkeypatch.setenv("CRYPTOFLOW_WATCHLIST", str(FIXTURES / "watchlist.csv"))
    now = datetime.now(UTC)
    end = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0) - timedelta(minutes=5)

    result = run(end - timedelta(minutes=5), end)

    assert result.status == "success" and result.upserted > 0
    assert {r[1] for r in loaded_rows(warehouse)} >= {"1m", "5m"}


# errors


def test_success_false_fails_the_run_with_the_api_message(fake, warehouse, replay_server):
    replay_server.add("/defi/ohlcv", json={"success": False, "message": "Compute units exhausted"})

    with pytest.raises(BirdeyeUnsuccessful, match="success=false: Compute units exhausted"):
        run(at(11, 55), at(12, 0))

    assert warehouse.execute("SELECT count(*) FROM candles").fetchone()[0] == 0
    status, error = warehouse.execute("SELECT status, error FROM pulls").fetchone()
    assert status == "failed" and "Compute units exhausted" in error


def test_a_cached_success_false_answer_is_asked_again(fake, warehouse, replay_server, monkeypatch, tmp_path):
    write_watchlist(tmp_path, monkeypatch, [f"{SOL},SOL,Wrapped SOL,5m"])
    failing = replay_server.add("/defi/ohlcv", json={"success": False, "message": "try later"})
    with pytest.raises(BirdeyeUnsuccessful):
        run(at(12), at(12, 5))
    replay_server.clear_routes()
    fake.register(replay_server)
    assert failing not in replay_server.routes

    result = run(at(12), at(12, 5))

    assert result.status == "success" and result.api_calls == 1
    assert loaded_rows(warehouse) == expected_rows(fake, at(12), at(12, 5), {SOL: ("5m",)})


def test_a_bad_key_fails_at_once_with_a_clear_message_and_no_key(warehouse, replay_server, monkeypatch):
    FakeBirdeye(api_key=KEY).register(replay_server)
    bad_key = "wrong-key-9f8e7d6c"
    set_connection(monkeypatch, replay_server, password=bad_key)
    monkeypatch.setenv("CRYPTOFLOW_WATCHLIST", str(FIXTURES / "watchlist.csv"))

    with pytest.raises(ApiKeyRejected) as err:
        run(at(11, 55), at(12, 0))

    message = str(err.value)
    assert "HTTP 401" in message and "BIRDEYE_API_KEY" in message and bad_key not in message
    assert err.value.status == 401
    assert len(ohlcv_requests(replay_server)) == 1          # not retried
    status, error = warehouse.execute("SELECT status, error FROM pulls").fetchone()
    assert status == "failed" and "BIRDEYE_API_KEY" in error and bad_key not in error
    raw = warehouse.execute("SELECT status, url, params::text, coalesce(body::text, body_text) FROM raw_responses")
    for row in raw.fetchall():
        assert row[0] == 401 and all(bad_key not in str(v) for v in row)


def test_a_package_without_the_endpoint_says_so(fake, warehouse, replay_server, monkeypatch):
    set_connection(monkeypatch, replay_server, ohlcv_api="v3")
    replay_server.inject("/defi/v3/ohlcv", "status", status=403, times=None)

    with pytest.raises(ApiKeyRejected, match="package does not include") as err:
        run(at(11, 55), at(12, 0))

    assert err.value.status == 403 and KEY not in str(err.value)
    assert len(ohlcv_requests(replay_server)) == 1


def test_without_a_key_the_run_skips_naming_the_variable(fake, warehouse, replay_server, monkeypatch):
    set_connection(monkeypatch, replay_server, password=None)

    with pytest.raises(MissingApiKey, match="BIRDEYE_API_KEY"):
        run(at(11, 55), at(12, 0))

    assert ohlcv_requests(replay_server) == []
    assert warehouse.execute("SELECT status FROM pulls").fetchone()[0] == "skipped"


def test_tokens_birdeye_refuses_fail_the_run_naming_them(fake, warehouse, replay_server, monkeypatch, tmp_path):
    unknown = "9" * 43
    fake.refuse.add(unknown)
    write_watchlist(tmp_path, monkeypatch, [f"{SOL},SOL,Wrapped SOL,5m", f"{unknown},UNK,Unknown,5m"])

    with pytest.raises(BirdeyeTokenRefused) as err:
        run(at(12), at(12, 5))

    assert unknown in str(err.value) and "address is invalid format" in str(err.value)
    assert SOL not in str(err.value)
    assert warehouse.execute("SELECT count(*) FROM candles").fetchone()[0] == 0


def test_rate_limited_answers_are_retried(fake, warehouse, replay_server):
    replay_server.inject("/defi/ohlcv", "status", status=429, retry_after=0, times=2)

    result = run(at(11, 55), at(12, 0))

    assert result.status == "success"
    assert loaded_rows(warehouse) == expected_rows(fake, at(11, 55), at(12, 0))
    assert warehouse.execute("SELECT http_429s, retries FROM pulls").fetchone() == (2, 2)


def test_candles_of_another_type_or_bad_items_are_rejected_not_loaded(fake, warehouse, replay_server, monkeypatch,
                                                                      tmp_path):
    write_watchlist(tmp_path, monkeypatch, [f"{SOL},SOL,Wrapped SOL,1m"])
    month_bucket = int(at(12, 1).timestamp())
    no_time_bucket = int(at(12, 2).timestamp())

    def month_candles(request):
        status, headers, body = fake.handle_v1(request)
        for item in body["data"]["items"]:
            if item["unixTime"] == month_bucket:
                item["type"] = "1M"              # what a case-insensitive client would have asked for
            elif item["unixTime"] == no_time_bucket:
                del item["unixTime"]
        return status, headers, body

    replay_server.add("/defi/ohlcv", handler=month_candles)
    with pytest.raises(TooManyRejected):
        run(at(12), at(12, 5))

    reasons = [r[0] for r in warehouse.execute("SELECT reason FROM rejected_records ORDER BY reason")]
    assert any("type '1M' for type '1m'" in r for r in reasons)
    assert any("no candle time" in r for r in reasons)
    assert warehouse.execute("SELECT count(*) FROM candles").fetchone()[0] == 0


def test_the_default_rate_limit_is_one_request_per_second(warehouse, replay_server, monkeypatch, tmp_path):
    FakeBirdeye(api_key=KEY).register(replay_server)
    monkeypatch.setenv("AIRFLOW_CONN_BIRDEYE", json.dumps(
        {"conn_type": "http", "host": replay_server.url, "password": KEY}))
    write_watchlist(tmp_path, monkeypatch, [f"{SOL},SOL,Wrapped SOL,1m 5m 15m"])

    run(at(11, 55), at(12, 0))

    times = sorted(r.received_at for r in ohlcv_requests(replay_server))
    assert len(times) == 3
    assert all(later - earlier >= 0.9 for earlier, later in zip(times, times[1:], strict=False))


def test_other_chains_go_in_the_header_and_the_cache_key(warehouse, replay_server, monkeypatch, tmp_path):
    FakeBirdeye(api_key=KEY).register(replay_server)
    evm = "0x" + "ab" * 20
    set_connection(monkeypatch, replay_server, chain="base")
    write_watchlist(tmp_path, monkeypatch, [f"{evm},TKN,Token,5m"])

    run(at(12), at(12, 5))

    [request] = ohlcv_requests(replay_server)
    assert request.header("x-chain") == "base" and request.query["address"] == evm
    base_hook = BirdeyeHook()
    assert base_hook.chain == "base"
    set_connection(monkeypatch, replay_server, chain="ethereum")
    eth_hook = BirdeyeHook()
    assert base_hook.request_key("GET", "u", {"a": 1}) != eth_hook.request_key("GET", "u", {"a": 1})


def test_a_bad_chain_setting_fails_clearly(fake, warehouse, replay_server, monkeypatch):
    set_connection(monkeypatch, replay_server, chain="Solana Mainnet")

    with pytest.raises(Exception, match="extra 'chain'"):
        run(at(12), at(12, 5))
    assert ohlcv_requests(replay_server) == []
