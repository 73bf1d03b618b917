"""Helius end to end through run_dataset: real HTTP to the replay server, real PostgreSQL, real alert webhook."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cryptoflow.hooks.base import ApiKeyRejected, MissingApiKey
from cryptoflow.ingest import run_dataset
from cryptoflow.sources import get_dataset
from cryptoflow.sources.helius.demo import FakeHelius, fake_signature, register_demo
from cryptoflow.sources.helius.fifo import recompute_wallet_stats
from tests.helius_support import (
    BUSY,
    BUSY_TXS,
    END,
    KEY,
    SENDER,
    SOL,
    START,
    TOKENS,
    TRADER,
    USDC,
    W_MINT,
    WALLETS,
    fake_helius,
    recorded,
    scenario,
    set_alert_webhook,
    set_connection,
    whale_alerts_posted,
    write_config,
)

TABLES = ("wallets", "watchlist", "wallet_transactions", "token_transfers", "trades", "tokens", "whale_movements",
          "whale_alerts", "wallet_token_stats", "wallet_stats")
SIG = {name: tx["signature"] for name, tx in recorded().items()}


def run(start: datetime = START, end: datetime | None = None, run_id: str = "test", dataset=None):
    return run_dataset(dataset or get_dataset("helius", "transactions"), start, end or start + timedelta(minutes=5),
                       dag_id="helius_5min", task_id="ingest_transactions", run_id=run_id)


def sol_price(warehouse, at: datetime, price: str = "150") -> None:
    warehouse.execute(
        """INSERT INTO candles (source, token, interval, bucket_start, open, high, low, close)
           VALUES ('birdeye', %s, '1m', %s, %s, %s, %s, %s)""", (SOL, at, price, price, price, price))


def snapshot(warehouse) -> dict[str, list[tuple]]:
    return {t: sorted(warehouse.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


def helius_requests(server) -> list:
    return [r for r in server.requests if r.path.startswith("/v0/addresses/")]


@pytest.fixture
def setup(warehouse, replay_server, monkeypatch, tmp_path):
    write_config(tmp_path, monkeypatch, WALLETS, TOKENS)
    set_connection(monkeypatch, replay_server, page_limit=10, whale_threshold_usd=100)
    set_alert_webhook(monkeypatch, replay_server)
    sol_price(warehouse, START)
    return fake_helius(replay_server)


def test_loads_exactly_the_interval(setup, warehouse, replay_server, caplog):
    caplog.set_level(logging.DEBUG)
    result = run()
    assert (result.status, result.rejected) == ("success", 0)

    txs = scenario()
    expected = {tx["signature"] for address in (TRADER, SENDER, BUSY) for tx in txs[address]
                if START.timestamp() <= tx["timestamp"] < END.timestamp()}
    loaded = {r[0]: r for r in warehouse.execute(
        "SELECT signature, type, description, error, tracked_addresses FROM wallet_transactions")}
    assert set(loaded) == expected and len(loaded) == 6 + 1 + BUSY_TXS
    assert fake_signature("before", START) not in loaded and fake_signature("at-end", START) not in loaded
    assert loaded[SIG["unknown"]][1:4] == ("UNKNOWN", "", None)
    assert loaded[fake_signature("failed", START)][3] == {"InstructionError": [0, {"Custom": 6001}]}
    assert loaded[SIG["swap_sol_to_usdc"]][4] == sorted([TRADER, W_MINT])

    # the failed transaction moved nothing; the SPL transfer keeps its exact raw amount and decimals
    assert warehouse.execute("SELECT count(*) FROM token_transfers WHERE signature = %s",
                             (fake_signature("failed", START),)).fetchone() == (0,)
    assert warehouse.execute("SELECT amount, raw_amount, decimals FROM token_transfers WHERE signature = %s",
                             (SIG["transfer_spl_send"],)).fetchone() == (Decimal("2.000000"), 2000000, 6)

    trades = warehouse.execute("""SELECT signature, event_index, source, trader, mint, side, token_amount,
                                         quote_mint, quote_amount, price, block_time FROM trades ORDER BY block_time"""
                               ).fetchall()
    assert [t[:9] for t in trades] == [
        (SIG["swap_usdc_to_sol_native_input_null"], 0, "helius", TRADER, SOL, "buy", Decimal("0.100000000"), USDC,
         Decimal("13.279846")),
        (SIG["swap_sol_to_usdc"], 0, "helius", TRADER, SOL, "sell", Decimal("1.452531235"), USDC,
         Decimal("238.630695")),
        (SIG["swap_multi_hop_usdc_to_sol"], 0, "helius", TRADER, SOL, "buy", Decimal("1.122215063"), USDC,
         Decimal("161.000000")),
    ]
    assert trades[0][9] == Decimal("132.79846")
    assert all(round(t[9], 18) == round(t[8] / t[6], 18) for t in trades)
    assert [t[10] for t in trades] == [START + timedelta(seconds=s) for s in (10, 70, 200)]

    # requests: exactly the interval, finalized, paged, quote mints not queried, the type-filter error followed
    requests = helius_requests(replay_server)
    assert all(r.query["commitment"] == "finalized" and r.query["gte-time"] == str(int(START.timestamp()))
               and r.query["lt-time"] == str(int(END.timestamp())) for r in requests)
    by_address = {}
    for r in requests:
        by_address.setdefault(r.path.split("/")[3], []).append(r)
    assert set(by_address) == {TRADER, SENDER, BUSY, W_MINT}
    assert len(by_address[BUSY]) == 3 and [r.query.get("before-signature") is None for r in by_address[BUSY]] == [
        True, False, False]
    assert [r.query["type"] for r in by_address[W_MINT]] == ["SWAP"] * 3
    assert by_address[W_MINT][1].query["before-signature"] == fake_signature("w-noise", START, 2)

    # whale movements above $100 (the test threshold): two swaps against USDC and a 1.6 SOL transfer at $150
    movements = warehouse.execute("""SELECT signature, kind, wallet, side, direction, mint, usd_value, price_source
                                     FROM whale_movements ORDER BY block_time""").fetchall()
    assert [(m[0], m[1], m[2], m[3], m[4], m[6]) for m in movements] == [
        (SIG["sol_transfer"], "transfer", SENDER, None, "out", Decimal("1.596389340") * 150),
        (SIG["swap_sol_to_usdc"], "swap", TRADER, "sell", "out", Decimal("238.630695")),
        (SIG["swap_multi_hop_usdc_to_sol"], "swap", TRADER, "buy", "in", Decimal("161.000000")),
    ]
    alerts = whale_alerts_posted(replay_server)
    assert len(alerts) == 3
    transfer_alert = next(a for a in alerts if SIG["sol_transfer"] in a["text"])
    assert "Tracker whale" in transfer_alert["text"] and "1.60 SOL" in transfer_alert["text"]
    assert "$239" in transfer_alert["text"] and f"https://solscan.io/tx/{SIG['sol_transfer']}" in transfer_alert["text"]

    stats = warehouse.execute("""SELECT w.wallet, w.closed_positions, w.wins, w.losses, w.win_rate, t.open_amount
                                 FROM wallet_stats w JOIN wallet_token_stats t USING (wallet)""").fetchall()
    assert stats == [(TRADER, 1, 1, 0, Decimal("1.0000"), Decimal("1.122215063"))]

    # the key went only to the API, in the query string
    assert all(r.query["api-key"] == KEY for r in requests)
    stored = json.dumps(warehouse.execute(
        """SELECT json_agg(x) FROM (SELECT url, params, body_text FROM raw_responses UNION ALL
           SELECT error, NULL, NULL FROM pulls UNION ALL SELECT reason, record, NULL FROM rejected_records) x""")
                        .fetchone()[0], default=str)
    assert KEY not in stored and "api-key" not in stored and "commitment" in stored
    assert KEY not in json.dumps(alerts) and KEY not in caplog.text


def test_rerun_is_a_no_op_and_alerts_once(setup, warehouse, replay_server):
    run(run_id="first")
    before = snapshot(warehouse)
    calls = len(helius_requests(replay_server))
    result = run(run_id="second")
    assert result.upserted == 0 and snapshot(warehouse) == before
    assert len(whale_alerts_posted(replay_server)) == 3
    # the answers are final: only the type-filter continuation (an HTTP 404, never cached) is asked again
    assert (result.api_calls, result.cache_hits) == (1, 7) and len(helius_requests(replay_server)) == calls + 1


def test_no_key_skips_naming_the_variable(warehouse, replay_server, monkeypatch, tmp_path):
    write_config(tmp_path, monkeypatch, WALLETS, TOKENS)
    set_connection(monkeypatch, replay_server, password=None)
    with pytest.raises(MissingApiKey, match="HELIUS_API_KEY"):
        run()
    assert warehouse.execute("SELECT status, error LIKE '%%HELIUS_API_KEY%%' FROM pulls").fetchall() == [
        ("skipped", True)]
    assert replay_server.requests == []


def test_rejected_key_fails_without_retries(warehouse, replay_server, monkeypatch, tmp_path):
    write_config(tmp_path, monkeypatch, WALLETS, TOKENS)
    set_connection(monkeypatch, replay_server, password="hel-WRONG-key-0000")
    fake_helius(replay_server)
    with pytest.raises(ApiKeyRejected, match="HELIUS_API_KEY"):
        run()
    assert "hel-WRONG-key-0000" not in warehouse.execute("SELECT error FROM pulls").fetchone()[0]


def test_legacy_parameter_names_are_tolerated(warehouse, replay_server, monkeypatch, tmp_path):
    write_config(tmp_path, monkeypatch, WALLETS, TOKENS)
    set_connection(monkeypatch, replay_server, page_limit=10, whale_threshold_usd=100)
    fake_helius(replay_server, legacy=True)
    result = run()
    assert (result.status, result.rejected) == ("success", 0)
    assert warehouse.execute("SELECT count(*) FROM wallet_transactions").fetchone() == (6 + 1 + BUSY_TXS,)
    assert warehouse.execute("SELECT count(*) FROM trades").fetchone() == (3,)
    requests = helius_requests(replay_server)
    refused = [r for r in requests if "gte-time" in r.query]   # sent before the switch (4 threads at most)
    assert 1 <= len(refused) <= 4
    assert any("before" in r.query for r in requests) and not any("before-signature" in r.query for r in requests)


def test_page_limit_leaves_a_visible_gap(setup, warehouse, monkeypatch, replay_server):
    set_connection(monkeypatch, replay_server, page_limit=10, whale_threshold_usd=100, max_pages_per_address=2)
    result = run()
    assert result.rejected == 1
    reason, record = warehouse.execute("SELECT reason, record FROM rejected_records").fetchone()
    assert "max_pages_per_address" in reason and record["address"] == BUSY
    assert warehouse.execute("SELECT count(*) FROM wallet_transactions WHERE %s = ANY(tracked_addresses)",
                             (BUSY,)).fetchone() == (20,)


def test_old_movements_are_recorded_not_alerted(setup, warehouse, monkeypatch, replay_server):
    set_connection(monkeypatch, replay_server, page_limit=10, whale_threshold_usd=100, alert_max_age_min=60)
    run()
    assert whale_alerts_posted(replay_server) == []
    assert warehouse.execute("SELECT DISTINCT status FROM whale_alerts").fetchall() == [("suppressed_stale",)]
    set_connection(monkeypatch, replay_server, page_limit=10, whale_threshold_usd=100)
    run(run_id="rerun")
    assert whale_alerts_posted(replay_server) == []


def test_undelivered_alerts_are_sent_by_a_later_run_once(setup, warehouse, monkeypatch, replay_server):
    monkeypatch.delenv("AIRFLOW_CONN_ALERTS_WEBHOOK")
    run()
    assert warehouse.execute("SELECT DISTINCT status FROM whale_alerts").fetchall() == [("undelivered",)]
    set_alert_webhook(monkeypatch, replay_server)
    run(run_id="second")
    run(run_id="third")
    assert len(whale_alerts_posted(replay_server)) == 3
    assert warehouse.execute("SELECT DISTINCT status, channels FROM whale_alerts").fetchall() == [
        ("sent", ["alerts_webhook"])]


def test_helius_overwrites_a_trade_the_stream_wrote_first(setup, warehouse):
    warehouse.execute(
        """INSERT INTO trades (signature, event_index, source, block_time, trader, mint, side, token_amount,
                               quote_mint, quote_amount, price, time_is_receive_time, feed_fields)
           VALUES (%s, 0, 'pumpportal', %s, %s, %s, 'buy', 0.1, %s, 13.28, 132.8, true, '{"pool": "x"}')""",
        (SIG["swap_usdc_to_sol_native_input_null"], START + timedelta(seconds=12.5), TRADER, SOL, USDC))
    run()
    row = warehouse.execute("""SELECT source, block_time, quote_amount, time_is_receive_time, feed_fields
                               FROM trades WHERE signature = %s""", (SIG["swap_usdc_to_sol_native_input_null"],))
    assert row.fetchone() == ("pumpportal", START + timedelta(seconds=10), Decimal("13.279846"), False,
                              {"pool": "x"})


def test_stats_of_touched_wallets_equal_a_full_recomputation(setup, warehouse, replay_server):
    second = START + timedelta(minutes=5)
    both = scenario()
    for address, txs in scenario(second).items():
        both[address] = both[address] + txs
    FakeHelius(both, api_key=KEY, search_window=3).register(replay_server)   # the latest route wins
    sol_price(warehouse, second, "140")
    # a stream trade of the wallet (another feed, not fetched by Helius) counts too
    warehouse.execute(
        """INSERT INTO trades (signature, event_index, source, block_time, trader, mint, side, token_amount,
                               quote_mint, quote_amount, price)
           VALUES (%s, 0, 'pumpportal', %s, %s, %s, 'sell', 1.5, %s, 240, 160)""",
        (fake_signature("stream"), second + timedelta(seconds=250), TRADER, SOL, USDC))
    run()
    run(second, run_id="second")
    incremental = snapshot(warehouse)
    stats = warehouse.execute("SELECT trades, closed_positions, wins, unmatched_sell_amount FROM wallet_token_stats")
    # closes: 0.1 bought, 1.45 sold; 1.22 bought, 1.45 sold; 1.12 bought, 1.5 sold (the stream trade): all wins
    assert stats.fetchall() == [(7, 3, 3, Decimal("1.960632344"))]
    with warehouse.transaction(), warehouse.cursor() as cur:
        cur.execute("TRUNCATE wallet_token_stats, wallet_stats")
        recompute_wallet_stats(cur)
    full = snapshot(warehouse)
    strip = ("wallet_token_stats", "wallet_stats")   # compared without updated_at, the last column
    assert {t: [r[:-1] for r in incremental[t]] for t in strip} == {t: [r[:-1] for r in full[t]] for t in strip}


def test_demo_serves_any_recent_interval(warehouse, replay_server, monkeypatch):
    register_demo(replay_server)
    set_connection(monkeypatch, replay_server, rate_limit_per_s=1000, max_workers=8)
    monkeypatch.delenv("CRYPTOFLOW_WHALE_WALLETS", raising=False)
    monkeypatch.delenv("CRYPTOFLOW_WATCHLIST", raising=False)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=now.minute % 5 + 60)
    result = run(start)
    assert (result.status, result.rejected) == ("success", 0)
    assert result.fetched > 20
    assert warehouse.execute("SELECT count(*) FROM wallets").fetchone()[0] >= 150


def test_usd_prices_come_from_stored_prices_only(warehouse):
    bonk, wif = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263", "EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm"
    at = START + timedelta(minutes=2)

    def price(mint: str, when: datetime = at):
        return warehouse.execute("SELECT price_usd, price_source FROM helius_price_usd(%s, %s, '15 minutes')",
                                 (mint, when)).fetchone()

    def trade(sig: str, mint: str, quote: str, price_: str, when: datetime) -> None:
        warehouse.execute(
            """INSERT INTO trades (signature, event_index, source, block_time, trader, mint, side, token_amount,
                                   quote_mint, quote_amount, price) VALUES (%s, 0, 'helius', %s, 't', %s, 'buy', 1,
                                   %s, %s, %s)""", (sig, when, mint, quote, price_, price_))

    assert price(USDC) == (1, "peg") and price(SOL) is None and price(bonk) is None   # unknown: no value, no guess
    trade("s1", SOL, USDC, "140", at - timedelta(minutes=1))
    assert price(SOL) == (Decimal(140), "trade_vs_stable")
    trade("b1", bonk, SOL, "0.0000002", at - timedelta(minutes=3))
    assert price(bonk) == (Decimal("0.0000280"), "trade_vs_sol")
    warehouse.execute("INSERT INTO token_prices (mint, price, quote_mint, price_usd, ts, source) VALUES "
                      "(%s, 0.0000002, %s, 0.00003, %s, 'stream')", (bonk, SOL, at - timedelta(minutes=1)))
    assert price(bonk) == (Decimal("0.00003"), "token_prices")
    sol_price(warehouse, at - timedelta(minutes=1), "150")
    assert price(SOL) == (Decimal(150), "birdeye_1m")
    # too old: a price older than the allowed age does not count
    trade("w1", wif, USDC, "2", at - timedelta(minutes=20))
    assert price(wif) is None and price(SOL, at + timedelta(hours=1)) is None


def test_a_malformed_transaction_is_rejected_and_the_rest_loaded(warehouse, replay_server, monkeypatch, tmp_path):
    write_config(tmp_path, monkeypatch, WALLETS, TOKENS)
    set_connection(monkeypatch, replay_server, page_limit=10)
    txs = scenario()
    broken = dict(txs[SENDER][0], signature=fake_signature("broken"), fee="a lot")
    txs[SENDER] = [*txs[SENDER], broken]
    FakeHelius(txs, api_key=KEY, search_window=3).register(replay_server)
    result = run()
    assert (result.status, result.fetched, result.rejected) == ("success", 31, 1)
    reason, record = warehouse.execute("SELECT reason, record FROM rejected_records").fetchone()
    assert reason.startswith("EnhancedTransaction: fee") and record["signature"] == fake_signature("broken")
    assert warehouse.execute("SELECT count(*) FROM wallet_transactions").fetchone() == (30,)
