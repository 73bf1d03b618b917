"""Birdeye: timeframes, the candle model (v1 and v3 spellings), envelopes, window alignment and the watchlist."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from cryptoflow.hooks.base import MalformedResponse
from cryptoflow.sources.birdeye.hook import BirdeyeConfigError
from cryptoflow.sources.birdeye.models import (
    DEFAULT_TIMEFRAMES,
    TIMEFRAMES,
    BirdeyeCandle,
    BirdeyeUnsuccessful,
    item_time,
    ohlcv_items,
    parse_timeframe,
)
from cryptoflow.sources.birdeye.ohlcv import Need, block_windows, closing_buckets, request_params
from cryptoflow.sources.birdeye.watchlist import load_watchlist, read_watchlist_file

FIXTURES = Path(__file__).parent / "fixtures" / "birdeye"
SOL = "So11111111111111111111111111111111111111112"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


# timeframes: Birdeye's `type` is case-sensitive


@pytest.mark.parametrize(("written", "name", "api_type"), [
    ("1m", "1m", "1m"), ("5m", "5m", "5m"), ("15m", "15m", "15m"), ("1h", "1h", "1H"), ("1H", "1h", "1H"),
    ("4h", "4h", "4H"), ("1d", "24h", "1D"), ("24h", "24h", "1D"), (" 30m ", "30m", "30m"),
])
def test_timeframes_map_to_birdeye_types(written, name, api_type):
    tf = parse_timeframe(written)
    assert (tf.name, tf.api_type) == (name, api_type)


def test_hour_and_month_types_are_upper_case_and_minutes_lower_case():
    assert TIMEFRAMES["1h"].api_type == "1H" and TIMEFRAMES["1h"].seconds == 3600
    assert TIMEFRAMES["1m"].api_type == "1m" and TIMEFRAMES["1m"].seconds == 60
    assert [tf.name for tf in DEFAULT_TIMEFRAMES] == ["1m", "5m", "15m", "1h"]


@pytest.mark.parametrize("written", ["1M", "15M", "1W", "1s", "2d", "hourly", "", "7m"])
def test_unsupported_or_ambiguous_timeframes_are_refused(written):
    with pytest.raises(ValueError) as err:
        parse_timeframe(written)
    if written in ("1M", "15M"):
        assert "month" in str(err.value) and "1m" in str(err.value)


# the candle model


def test_v1_camel_case_docs_example_parses():
    items = ohlcv_items(fixture("ohlcv_v1_sol_15m.json"), "test")
    candles = [BirdeyeCandle.model_validate(i) for i in items]
    assert [c.unix_time for c in candles] == [1726670700, 1726671600]
    first = candles[0]
    assert first.open == Decimal("128.27328370924414")
    assert first.high == Decimal("128.6281001340782")
    assert first.low == Decimal("127.91200927364626")
    assert first.close == Decimal("127.97284640184616")
    assert first.volume == Decimal("58641.16636665621")
    assert first.volume_usd is None
    assert (first.type, first.address, first.currency) == ("15m", SOL, "usd")


def test_v3_snake_case_docs_example_parses_with_usd_volume():
    items = ohlcv_items(fixture("ohlcv_v3_sol_15m.json"), "test")
    candles = [BirdeyeCandle.model_validate(i) for i in items]
    assert [c.unix_time for c in candles] == [1726670700, 1726671600]
    assert candles[0].volume_usd == Decimal("7506048")
    assert candles[0].open == Decimal("128.27328370924414")


def test_pair_variant_parses():
    items = ohlcv_items(fixture("ohlcv_pair_15m.json"), "test")
    assert [BirdeyeCandle.model_validate(i).unix_time for i in items] == [1726700400, 1726701300]


@pytest.mark.parametrize("change", [
    {"h": 1.0},                      # high below open and close
    {"l": 500.0},                    # low above open
    {"o": 0},                        # not a price
    {"c": "NaN"},
    {"v": -5},
    {"unixTime": None},
    {"o": None},
])
def test_bad_candles_are_refused(change):
    item = {**fixture("ohlcv_v1_sol_15m.json")["data"]["items"][0], **change}
    with pytest.raises(ValidationError):
        BirdeyeCandle.model_validate(item)


def test_item_time_reads_either_spelling():
    assert item_time({"unixTime": 60}) == 60
    assert item_time({"unix_time": 120}) == 120
    assert item_time({"unix_time": "180"}) == 180
    assert item_time({"unixTime": 1.5}) is None
    assert item_time({"o": 1}) is None
    assert item_time("x") is None


# envelopes


def test_success_false_is_a_clear_error():
    with pytest.raises(BirdeyeUnsuccessful, match="success=false: address is invalid format"):
        ohlcv_items({"success": False, "message": "address is invalid format"}, "SOL 15m")


@pytest.mark.parametrize(("body", "expected"), [
    ({"success": True, "data": {"items": []}}, []),
    ({"success": True, "data": None}, []),
    ({"success": True, "data": {"items": None}}, []),
])
def test_empty_answers_are_no_candles(body, expected):
    assert ohlcv_items(body, "x") == expected


@pytest.mark.parametrize("body", [[], "oops", {"success": True, "data": []}, {"success": True, "data": {"items": {}}}])
def test_malformed_envelopes_fail(body):
    with pytest.raises(MalformedResponse):
        ohlcv_items(body, "x")


# which candles a run stores, and which requests it makes


def test_closing_buckets_are_the_candles_that_close_in_the_interval():
    start, end = ts(2026, 11, 20, 10, 0), ts(2026, 11, 20, 10, 5)
    assert closing_buckets(TIMEFRAMES["1m"], start, end) == (ts(2026, 11, 20, 10, 0), ts(2026, 11, 20, 10, 4))
    assert closing_buckets(TIMEFRAMES["5m"], start, end) == (ts(2026, 11, 20, 10, 0), ts(2026, 11, 20, 10, 0))
    assert closing_buckets(TIMEFRAMES["15m"], start, end) is None
    assert closing_buckets(TIMEFRAMES["1h"], start, end) is None
    # the 1h candle of 09:00 closes at 10:00, in the interval [09:55, 10:00)
    assert closing_buckets(TIMEFRAMES["1h"], ts(2026, 11, 20, 9, 55), start) == (ts(2026, 11, 20, 9),) * 2
    # an interval not on the grid
    assert closing_buckets(TIMEFRAMES["5m"], ts(2026, 11, 20, 10, 2), ts(2026, 11, 20, 10, 13)) == (
        ts(2026, 11, 20, 10, 0), ts(2026, 11, 20, 10, 5))


def test_consecutive_intervals_store_each_candle_once():
    seen = []
    day = ts(2026, 11, 20)
    for tf in TIMEFRAMES.values():
        buckets = []
        for i in range(288):
            got = closing_buckets(tf, day + i * 300, day + (i + 1) * 300)
            if got:
                buckets.extend(range(got[0], got[1] + 1, tf.seconds))
        assert len(buckets) == len(set(buckets)), tf
        # every candle that closes during the day, none twice, none missing
        assert buckets == list(range(day, day + 86400, tf.seconds)), tf
        seen.append(tf.name)
    assert "1h" in seen


def test_block_windows_are_fixed_and_shared_by_the_runs_of_a_block():
    tf = TIMEFRAMES["1m"]
    a = block_windows(Need(SOL, tf, ts(2026, 11, 20, 10, 0), ts(2026, 11, 20, 10, 4)), 1000)
    b = block_windows(Need(SOL, tf, ts(2026, 11, 20, 10, 5), ts(2026, 11, 20, 10, 9)), 1000)
    assert a == b and len(a) == 1
    window = a[0]
    assert window.start % 60_000 == 0 and window.slots == 1000
    assert window.start <= ts(2026, 11, 20, 10, 0) and ts(2026, 11, 20, 10, 9) < window.end
    # a need that crosses a block boundary takes both blocks
    boundary = window.end
    both = block_windows(Need(SOL, tf, boundary - 120, boundary + 60), 1000)
    assert [w.start for w in both] == [window.start, boundary]


def test_request_params_use_the_case_sensitive_type_and_stay_inside_the_block():
    tf = TIMEFRAMES["1h"]
    [window] = block_windows(Need(SOL, tf, ts(2026, 11, 20, 9), ts(2026, 11, 20, 9)), 1000)
    params = request_params(window, "v1")
    assert params == {"address": SOL, "type": "1H", "currency": "usd", "time_from": window.start,
                      "time_to": window.start + 1000 * 3600 - 1}
    v3 = request_params(window, "v3")
    assert v3["mode"] == "range" and v3["count_limit"] == 5000 and v3["padding"] == "false"


# the watchlist


def test_watchlist_file_with_default_and_own_timeframes():
    tokens = read_watchlist_file(FIXTURES / "watchlist.csv", "solana")
    assert [t.symbol for t in tokens] == ["SOL", "JUP", "WIF"]
    assert [tf.name for tf in tokens[0].timeframes] == ["1m", "5m", "15m", "1h"]
    assert [tf.name for tf in tokens[1].timeframes] == ["1m", "5m"]
    assert [tf.api_type for tf in tokens[2].timeframes] == ["15m", "1H", "4H"]


@pytest.mark.parametrize(("content", "message"), [
    ("symbol,name\nSOL,x\n", "no 'address' column"),
    (f"address,symbol,timeframes\n{SOL},SOL,1M\n", ":2: timeframe '1M'"),
    ("address,symbol\nnot-a-mint,X\n", ":2: address 'not-a-mint' is not a Solana mint"),
    (f"address,symbol\n{SOL},SOL\n{SOL},SOL2\n", ":3: address " + SOL + " is already listed on line 2"),
])
def test_bad_watchlist_lines_fail_naming_file_line_and_fix(tmp_path, content, message):
    path = tmp_path / "watchlist.csv"
    path.write_text(content)
    with pytest.raises(BirdeyeConfigError) as err:
        read_watchlist_file(path, "solana")
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_watchlist_skips_blank_and_comment_lines_and_checks_evm_addresses(tmp_path):
    path = tmp_path / "w.csv"
    evm = "0x" + "ab" * 20
    path.write_text(f"# leading comment\naddress,symbol,name,timeframes\n\n# a comment,,,\n{evm},T,Token,5m\n")
    [token] = read_watchlist_file(path, "base")
    assert token.address == evm and [tf.name for tf in token.timeframes] == ["5m"]
    with pytest.raises(BirdeyeConfigError, match="is not a Solana mint address"):
        read_watchlist_file(path, "solana")


def test_the_project_watchlist_is_valid():
    from cryptoflow.paths import CONFIG_DIR

    path = CONFIG_DIR / "watchlist.csv"
    if not path.exists():
        pytest.skip("include/config/watchlist.csv is not there (owned by the Helius source)")
    tokens = read_watchlist_file(path, "solana")
    assert tokens and all(t.timeframes for t in tokens)


def test_watchlist_path_override_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYPTOFLOW_WATCHLIST", str(tmp_path / "missing.csv"))
    with pytest.raises(BirdeyeConfigError, match="missing.csv does not exist"):
        load_watchlist(None, "solana")
    monkeypatch.setenv("CRYPTOFLOW_WATCHLIST", str(FIXTURES / "watchlist.csv"))
    tokens, origin = load_watchlist(None, "solana")
    assert len(tokens) == 3 and origin.endswith("watchlist.csv")


# connection settings


@pytest.mark.parametrize(("extra", "message"), [
    ({"ohlcv_api": "v2"}, "extra 'ohlcv_api' is 'v2'"),
    ({"candles_per_request": 0}, "extra 'candles_per_request' is 0"),
    ({"candles_per_request": 6000}, "expected 1 to 5000"),
    ({"chain": "Solana Mainnet"}, "extra 'chain'"),
])
def test_bad_connection_settings_fail_clearly(monkeypatch, extra, message):
    from cryptoflow.sources.birdeye.hook import BirdeyeHook

    monkeypatch.setenv("AIRFLOW_CONN_BIRDEYE", json.dumps(
        {"conn_type": "http", "host": "http://127.0.0.1:9", "password": "k-123456", "extra": extra}))
    hook = BirdeyeHook()
    with pytest.raises(BirdeyeConfigError, match=re.escape(message)):
        hook.ohlcv_api, hook.candles_per_request, hook.chain  # noqa: B018


def test_defaults_without_a_connection(monkeypatch):
    from cryptoflow.sources.birdeye.hook import BirdeyeHook

    monkeypatch.delenv("AIRFLOW_CONN_BIRDEYE", raising=False)
    hook = BirdeyeHook()
    assert hook.url_for("/defi/ohlcv") == "https://public-api.birdeye.so/defi/ohlcv"
    assert (hook.chain, hook.ohlcv_api, hook.candles_per_request) == ("solana", "v1", 1000)
    assert hook.api_key is None and BirdeyeHook.default_rate_limit_per_s == 1.0
    assert {"chain", "ohlcv_api", "candles_per_request"} <= BirdeyeHook.source_extra_keys
