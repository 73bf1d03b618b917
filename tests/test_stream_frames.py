"""Unit tests of the trade stream's frame parsing, unit normalisation, de-duplication rules and settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Context, Decimal
from pathlib import Path

import pytest

from cryptoflow.stream import config as stream_config
from cryptoflow.stream.frames import WSOL_MINT, MalformedFrame, TradeRow, dumps, loads, parse_frame
from cryptoflow.stream.writer import assign_event_indexes, latest_per_mint, merge_tokens

FIXTURES = Path(__file__).parent / "fixtures" / "pumpfun"
RECEIVED = datetime(2026, 11, 20, 10, 0, 1, 250000, tzinfo=UTC)
PRICE_CONTEXT = Context(prec=34)   # quote / token to 34 significant digits


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_pumpportal_trade_is_normalised_exactly():
    parsed = parse_frame(fixture_text("pumpportal_trade_buy.json"), RECEIVED)
    assert parsed.kind == "trade"
    (trade,) = parsed.trades
    assert trade.source == "pumpportal"
    assert trade.token_amount == Decimal("354.840158")
    assert trade.quote_amount == Decimal("0.00001")   # 1e-05 SOL, parsed from the text, never a binary float
    assert trade.quote_amount.as_tuple().exponent == -9
    assert trade.price == PRICE_CONTEXT.divide(Decimal("0.00001"), Decimal("354.840158"))
    assert trade.side == "buy"
    assert trade.trader == "952LPLt7zzU4RGUmBoPV7zQwsCire85P12Ht6Tp8Dno9"
    assert trade.mint == "7C2DVGUgTQacpTxkkrobAnYMvof5ZoJMhSvocq4apump"
    assert trade.quote_mint == WSOL_MINT
    # no timestamp or slot in the feed: the receive time is stamped and flagged
    assert trade.block_time == RECEIVED and trade.time_is_receive_time is True and trade.slot is None
    # the feed's own fields are kept, numbers as the exact values sent
    assert loads(dumps(trade.feed_fields)) == loads(fixture_text("pumpportal_trade_buy.json"))
    assert trade.feed_fields["vSolInBondingCurve"] == Decimal("30.119251714755496")
    (token,) = parsed.tokens
    assert token.mint == trade.mint and token.decimals == 6


def test_float_artifacts_are_rounded_to_the_assets_units():
    frame = json.loads(fixture_text("pumpportal_trade_buy.json"))
    raw = json.dumps(frame).replace('"tokenAmount": 354.840158', '"tokenAmount": 0.30000000000000004')
    raw = raw.replace('"solAmount": 1e-05', '"solAmount": 0.1000000000000000055')
    (trade,) = parse_frame(raw, RECEIVED).trades
    assert trade.token_amount == Decimal("0.300000")
    assert trade.quote_amount == Decimal("0.100000000")


def test_token_of_another_pool_keeps_nine_places_and_unknown_decimals():
    frame = json.loads(fixture_text("pumpportal_trade_buy.json")) | {"pool": "raydium", "tokenAmount": 1.123456789}
    parsed = parse_frame(json.dumps(frame), RECEIVED)
    assert parsed.trades[0].token_amount == Decimal("1.123456789")
    assert parsed.tokens[0].decimals is None


def test_frontend_trade_created_frame_divides_lamports_and_raw_amounts_exactly():
    obj = json.loads(fixture_text("frontend_trade_created.json"))
    for text in ("42" + json.dumps(["tradeCreated", obj]), json.dumps(obj)):
        parsed = parse_frame(text, RECEIVED)
        (trade,) = parsed.trades
        assert trade.source == "pumpfun"
        assert trade.quote_amount == Decimal("0.062")                 # 62,000,000 lamports
        assert trade.token_amount == Decimal("2212682.9678")          # 2,212,682,967,800 raw, 6 decimals
        assert trade.price == PRICE_CONTEXT.divide(Decimal("0.062"), Decimal("2212682.9678"))
        assert trade.block_time == datetime(2025, 1, 7, 7, 40, 56, tzinfo=UTC)   # unix 1736235656
        assert trade.time_is_receive_time is False
        assert trade.slot == 312411247
        assert trade.side == "buy" and trade.trader == "5VXgJyJsXDaK1ka1TfuzsT9C88fJJAUCJmRV7zrEQjtQ"
        # trade and coin-state fields stay with the trade; static coin metadata goes to the token
        assert trade.feed_fields["virtual_token_reserves"] == 1070720114321659
        assert trade.feed_fields["tx_index"] == 1 and "usd_market_cap" in trade.feed_fields
        assert "description" not in trade.feed_fields and "name" not in trade.feed_fields
        (token,) = parsed.tokens
        assert (token.name, token.symbol, token.creator) == ("Christmas Bacon", "BACON",
                                                             "7mw6vPWBNb3R9g9Ua1ZzT9a5UstPH6Gg2NwAXsPiq6z7")
        assert token.uri.startswith("https://ipfs.io/") and token.metadata["created_timestamp"] == 1733199569569


def test_create_frame_makes_a_token_and_the_creators_initial_buy():
    parsed = parse_frame(fixture_text("pumpportal_create.json"), RECEIVED)
    assert parsed.kind == "create"
    (token,) = parsed.tokens
    assert (token.name, token.symbol, token.creator) == ("Fixture Coin", "FIX",
                                                         "952LPLt7zzU4RGUmBoPV7zQwsCire85P12Ht6Tp8Dno9")
    (trade,) = parsed.trades
    assert trade.side == "buy" and trade.token_amount == Decimal("34612903.225806")
    assert trade.quote_amount == Decimal("1.000000000")


@pytest.mark.parametrize("text, control, reply", [
    ('{"message": "Successfully subscribed to token creation events."}', "Successfully subscribed", None),
    ('0{"sid":"x","pingInterval":25000,"pingTimeout":20000}', "engine.io open", "40"),
    ("2", "engine.io ping", "3"),
    ('42["newCoinCreated", {}]', "socket.io event newCoinCreated", None),
])
def test_control_messages_are_not_trades(text, control, reply):
    parsed = parse_frame(text, RECEIVED)
    assert parsed.kind == "control" and parsed.trades == []
    assert control in parsed.control and parsed.reply == reply


def _portal(**changes) -> str:
    frame = json.loads(fixture_text("pumpportal_trade_buy.json"))
    for key, value in changes.items():
        if value is ...:
            frame.pop(key)
        else:
            frame[key] = value
    return json.dumps(frame)


@pytest.mark.parametrize("text, reason", [
    ("{not json", "not JSON"),
    ("", "empty frame"),
    ("[1, 2]", "expected a JSON object"),
    (b"\xff\xfe", "not UTF-8"),
    (_portal(signature=...), "signature"),
    (_portal(txType="swap"), "txType"),
    (_portal(tokenAmount="354.8"), "tokenAmount: expected a number"),
    (_portal(tokenAmount=-1), "negative"),
    (_portal(tokenAmount=0), "not positive"),
    (_portal(solAmount=...), "solAmount: missing"),
    ('{"txType": "buy", "signature": "s", "mint": "m", "traderPublicKey": "t", "tokenAmount": NaN, '
     '"solAmount": 1}', "NaN"),
    ('42["tradeCreated", {"signature": "s", "mint": "m", "user": "u", "is_buy": 1, "sol_amount": 1, '
     '"token_amount": 1, "timestamp": 1}]', "is_buy"),
    ('42["tradeCreated", {"signature": "s", "mint": "m", "user": "u", "is_buy": true, "sol_amount": 1, '
     '"token_amount": 1, "timestamp": 1736235656000}]', "milliseconds"),
    ('42["tradeCreated", "x"]', "expected an object"),
])
def test_malformed_frames_say_why(text, reason):
    with pytest.raises(MalformedFrame, match=reason):
        parse_frame(text, RECEIVED)


def _trade(signature: str, mint: str = "M", trader: str = "T", side: str = "buy", t: int = 0) -> TradeRow:
    return TradeRow(signature=signature, source="pumpportal", block_time=datetime(2026, 11, 20, 10, 0, t, tzinfo=UTC),
                    slot=None, trader=trader, mint=mint, side=side, token_amount=Decimal(1), quote_amount=Decimal(1),
                    price=Decimal(1), time_is_receive_time=True, feed_fields={})


def test_event_indexes_and_duplicates():
    batch = [_trade("A"), _trade("A"),                     # an exact duplicate frame
             _trade("B"), _trade("B", mint="N"),           # two trades of one transaction
             _trade("C", trader="other"),                  # Helius stored it with its own trader: same trade
             _trade("D", mint="N"),                        # Helius stored a different trade of this transaction
             _trade("E")]                                  # the stream stored it before a restart
    stored = [("C", 0, "M", "fee-payer", "buy", "helius"), ("D", 0, "M", "x", "sell", "helius"),
              ("E", 0, "M", "T", "buy", "pumpportal")]
    fresh, duplicates = assign_event_indexes(batch, stored)
    assert [(t.signature, t.mint, i) for i, t in fresh] == [("A", "M", 0), ("B", "M", 0), ("B", "N", 1), ("D", "N", 1)]
    assert duplicates == 3


def test_tokens_merge_and_latest_price():
    from cryptoflow.stream.frames import TokenRow

    merged = merge_tokens([TokenRow(mint="M", metadata={"source": "pumpportal"}),
                           TokenRow(mint="M", name="Coin", symbol="C", metadata={"source": "pumpfun", "x": 1})])
    assert len(merged) == 1 and merged[0].name == "Coin" and merged[0].metadata == {"source": "pumpportal", "x": 1}
    latest = latest_per_mint([_trade("B", t=5), _trade("A", t=5), _trade("Z", t=4), _trade("Q", mint="N")])
    assert {(t.mint, t.signature) for t in latest} == {("M", "B"), ("N", "Q")}


def test_dumps_writes_decimals_as_numbers():
    assert dumps({"a": Decimal("1e-05"), "b": [1, True, None, "x"]}) == '{"a":0.00001,"b":[1,true,null,"x"]}'
    with pytest.raises(ValueError):
        dumps({"a": Decimal("NaN")})


def test_settings_from_the_connection_keep_the_key_out_of_display():
    env = {"AIRFLOW_CONN_PUMPPORTAL": json.dumps({"conn_type": "generic", "host": "wss://example.test/api/data",
                                                  "password": "k3y-secret", "extra": {"batch_size": 7}}),
           "AIRFLOW_CONN_WAREHOUSE": json.dumps({"conn_type": "postgres", "host": "db", "port": 5432,
                                                 "login": "wh", "password": "pw", "schema": "warehouse"}),
           "TRADE_STREAM_FLUSH_INTERVAL_S": "0.5", "AIRFLOW_API_URL": "off"}
    cfg = stream_config.load(env)
    assert cfg.connect_url == "wss://example.test/api/data?api-key=k3y-secret"
    assert "k3y-secret" not in cfg.display_url
    assert cfg.tuning.batch_size == 7 and cfg.tuning.flush_interval_s == 0.5
    assert "host=db" in cfg.warehouse_dsn and "dbname=warehouse" in cfg.warehouse_dsn
    assert cfg.api.url is None


def test_asset_events_go_to_the_asset_the_candles_dag_listens_to():
    from cryptoflow.candles.assets import TRADES

    assert stream_config.load({"WAREHOUSE_DSN": "x"}).api.asset_name == TRADES.name == "trades"


@pytest.mark.parametrize("env, message", [
    ({"AIRFLOW_CONN_PUMPPORTAL": '{"host": "https://x"}', "WAREHOUSE_DSN": "x"}, "ws:// or wss://"),
    ({"AIRFLOW_CONN_PUMPPORTAL": "{bad", "WAREHOUSE_DSN": "x"}, "not valid JSON"),
    ({"WAREHOUSE_DSN": "x", "TRADE_STREAM_BATCH_SIZE": "many"}, "batch_size"),
    ({}, "WAREHOUSE_DSN"),
])
def test_bad_settings_are_clear_errors(env, message):
    with pytest.raises(stream_config.StreamConfigError, match=message):
        stream_config.load(env)


def test_demo_frames_are_all_usable():
    import itertools

    from cryptoflow.stream.ws_replay import demo_frames

    parsed = [parse_frame(f, RECEIVED) for f in itertools.islice(demo_frames(seed=1)(), 300)]
    assert {p.kind for p in parsed} == {"trade", "create"}
    assert {t.source for p in parsed for t in p.trades} == {"pumpportal", "pumpfun"}
    assert len({t.signature for p in parsed for t in p.trades}) == sum(len(p.trades) for p in parsed)
