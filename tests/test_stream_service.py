"""The live trade stream end to end: a local websocket server replays recorded frames (with a dropped connection,
malformed and duplicate frames), the service writes into the real warehouse, and a local HTTP server stands in for
Airflow's REST API. Waits are on conditions (frames processed, rows written), never on fixed sleeps."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Context, Decimal
from pathlib import Path

import psycopg
import pytest

from cryptoflow.stream import config as stream_config
from cryptoflow.stream.frames import WSOL_MINT
from cryptoflow.stream.service import TradeStream
from cryptoflow.stream.writer import Writer
from cryptoflow.stream.ws_replay import WsReplayServer

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "pumpfun"
API_KEY = "pp-test-key-8f3a"
ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
WATCHED = ["7C2DVGUgTQacpTxkkrobAnYMvof5ZoJMhSvocq4apump", "1ggxALwRLkeVwv3NGHqm7VPji4TvvbTxWT1gmRYmEPk"]


def signature(n: int) -> str:
    return "".join(ALPHABET[(n * 7 + i * 13) % len(ALPHABET)] for i in range(87)) + ALPHABET[n % len(ALPHABET)]


def portal_frame(n: int, mint: str = WATCHED[0], side: str = "buy") -> str:
    frame = json.loads((FIXTURES / "pumpportal_trade_buy.json").read_text())
    frame.update(signature=signature(n), mint=mint, txType=side, tokenAmount=1000 + n + 0.123456,
                 solAmount=round(0.01 * (n + 1), 9))
    return json.dumps(frame)


def frontend_frame(n: int) -> str:
    obj = json.loads((FIXTURES / "frontend_trade_created.json").read_text())
    obj.update(signature=signature(n), sol_amount=62_000_000 + n, timestamp=1_795_000_000 + n)
    return "42" + json.dumps(["tradeCreated", obj])


def stream_env(ws_url: str, dsn: str, api_url: str, **tuning: object) -> dict[str, str]:
    env = {"AIRFLOW_CONN_PUMPPORTAL": json.dumps({"conn_type": "generic", "host": ws_url, "password": API_KEY}),
           "WAREHOUSE_DSN": dsn, "AIRFLOW_API_URL": api_url, "AIRFLOW_API_USER": "admin",
           "AIRFLOW_API_PASSWORD": "airflow-pw-123"}
    defaults = {"backoff_base_s": 0.05, "backoff_max_s": 0.2, "status_interval_s": 0.2, "flush_interval_s": 0.2,
                "asset_event_interval_s": 0.1, "watchlist_refresh_s": 0.3, "gap_margin_s": 5}
    env.update({f"TRADE_STREAM_{k.upper()}": str(v) for k, v in {**defaults, **tuning}.items()})
    return env


def fake_airflow(replay_server, asset_id: int = 7) -> None:
    replay_server.add("/auth/token", method="POST", status=201, json={"access_token": "jwt-token"})
    replay_server.add("/api/v2/assets", json={"assets": [{"id": 3, "name": "trades_archive"},
                                                         {"id": asset_id, "name": "trades"}], "total_entries": 2})
    replay_server.add("/api/v2/assets/events", method="POST", json={"id": 1, "asset_id": asset_id})


async def run_until(stream: TradeStream, condition, timeout: float = 30.0) -> None:
    """Run the stream until ``condition()`` holds, then stop it (SIGTERM's path) and wait for the clean stop."""
    task = asyncio.create_task(stream.run())
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            if task.done():
                task.result()
                raise AssertionError("the stream stopped on its own")
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met in {timeout}s: {stream.counters}")
            await asyncio.sleep(0.02)
    finally:
        stream.request_stop()
        await asyncio.wait_for(task, 30)


def rows(conn: psycopg.Connection, query: str, *args) -> list[tuple]:
    return conn.execute(query, args).fetchall()


@pytest.fixture
def watchlist(warehouse):
    for mint in WATCHED:
        warehouse.execute("INSERT INTO watchlist (address, symbol) VALUES (%s, 'X')", (mint,))
    return WATCHED


def test_disconnect_malformed_and_duplicate_frames_lose_and_duplicate_nothing(warehouse, warehouse_dsn, watchlist,
                                                                              replay_server, caplog):
    fake_airflow(replay_server)
    first = [portal_frame(n) for n in range(6)] + [frontend_frame(100)]
    second = [portal_frame(n, mint=WATCHED[1], side="sell") for n in range(6, 12)]
    create = (FIXTURES / "pumpportal_create.json").read_text()
    subscribed = {"expect": {"method": "subscribeTokenTrade"}}
    script = ([subscribed] + [{"send": f} for f in first]
              + [{"send": first[2]}, {"send": "{this is not json"}, {"send": first[6]}]   # duplicates, garbage
              + [{"drop": True}]                                                          # network failure
              + [subscribed] + [{"send": f} for f in second]
              + [{"send": first[0]}, {"send": create}, {"send": '{"message": "ack"}'}])    # resent after reconnect
    expected_trades = len(first) + len(second) + 1                                        # + the creator's buy
    with WsReplayServer(script) as ws:
        config = stream_config.load(stream_env(ws.url, warehouse_dsn, replay_server.url))
        stream = TradeStream(config)
        asyncio.run(run_until(stream, lambda: ws.exhausted and stream.counters.frames >= len(script) + 1
                              and stream.counters.trades_inserted == expected_trades
                              and stream.counters.asset_events_sent >= 1))
        connections = list(ws.connections)

    trades = rows(warehouse, "SELECT signature, event_index, source, mint, side, token_amount, quote_amount, price, "
                             "time_is_receive_time, quote_mint FROM trades ORDER BY signature")
    assert len(trades) == expected_trades
    assert len({t[0] for t in trades}) == expected_trades and {t[1] for t in trades} == {0}
    by_sig = {t[0]: t for t in trades}
    t3 = by_sig[signature(3)]
    assert t3[2:7] == ("pumpportal", WATCHED[0], "buy", Decimal("1003.123456"), Decimal("0.04"))
    assert t3[7] == Context(prec=34).divide(Decimal("0.04"), Decimal("1003.123456"))
    assert t3[8] is True and t3[9] == WSOL_MINT
    assert by_sig[signature(100)][2] == "pumpfun" and by_sig[signature(100)][8] is False
    assert by_sig[signature(7)][4] == "sell"

    # one period without data, from before the last frame received to the resubscription; then the stop
    gaps = rows(warehouse, "SELECT disconnected_at, reconnected_at, reason, attempts, mints FROM stream_disconnects "
                           "ORDER BY id")
    assert len(gaps) == 2
    (lost_at, back_at, reason, attempts, mints), stopped = gaps
    assert "connection lost" in reason and attempts == 1 and sorted(mints) == sorted(WATCHED)
    assert back_at is not None and lost_at < back_at
    assert stopped[2] == "service stopped" and stopped[1] is None

    assert rows(warehouse, "SELECT reason FROM rejected_records WHERE source = 'pumpportal'") == [
        ("malformed frame: not JSON: Expecting property name enclosed in double quotes at position 1",)]
    status = rows(warehouse, "SELECT state, malformed_frames, trades_duplicate, trades_inserted, reconnects "
                             "FROM stream_status")
    assert status == [("stopped", 1, 3, expected_trades, 1)]
    tokens = dict(rows(warehouse, "SELECT mint, name FROM tokens"))
    assert tokens[WATCHED[1]] == "Christmas Bacon" and tokens["9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFinpump"] \
        == "Fixture Coin" and WATCHED[0] in tokens
    prices = dict(rows(warehouse, "SELECT mint, signature FROM token_prices"))
    assert prices[WATCHED[0]] == signature(5)   # the newest of its trades (receive times increase)

    # both connections subscribed to new tokens and the watchlist, with the key in the query, masked in the record
    assert len(connections) == 2
    for conn in connections:
        assert conn.query == {"api-key": "***"} and conn.unmet == []
        assert {"method": "subscribeNewToken"} in conn.messages
        assert {"method": "subscribeTokenTrade", "keys": sorted(WATCHED)} in conn.messages

    # asset events: logged in, found the `trades` asset by name, and the events cover every inserted trade
    events = [r for r in replay_server.requests if r.path == "/api/v2/assets/events"]
    assert events and all(r.json()["asset_id"] == 7 for r in events)
    assert sum(r.json()["extra"]["trades"] for r in events) == expected_trades
    assert all(r.header("Authorization") == "Bearer jwt-token" for r in events)
    assert API_KEY not in caplog.text and "airflow-pw-123" not in caplog.text


def test_handshake_refusals_and_an_unreachable_airflow_are_not_fatal(warehouse, warehouse_dsn, watchlist):
    script = [{"send": portal_frame(n)} for n in range(3)]
    with WsReplayServer(script) as ws:
        ws.reject_next(2, status=503)
        config = stream_config.load(stream_env(ws.url, warehouse_dsn, "http://127.0.0.1:9"))
        stream = TradeStream(config)
        asyncio.run(run_until(stream, lambda: stream.counters.trades_inserted == 3
                              and stream.counters.asset_events_failed >= 1))
    assert rows(warehouse, "SELECT count(*) FROM trades") == [(3,)]
    gaps = rows(warehouse, "SELECT reason, attempts, reconnected_at IS NOT NULL FROM stream_disconnects ORDER BY id")
    assert gaps[0] == ("handshake refused: HTTP 503", 2, True)
    assert stream.counters.asset_events_sent == 0


class FlakyWriter(Writer):
    """The real writer, but the warehouse is 'down' for the first ``failures`` flushes with trades."""

    def __init__(self, *args, failures: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.failures = failures

    async def sync(self, *, batch, **kwargs):
        if batch and self.failures > 0:
            self.failures -= 1
            raise psycopg.OperationalError("connection to server failed: warehouse down (test)")
        return await super().sync(batch=batch, **kwargs)


def test_failed_flushes_keep_the_trades_until_the_warehouse_is_back(warehouse, warehouse_dsn, watchlist):
    script = [{"send": portal_frame(n)} for n in range(5)]
    with WsReplayServer(script) as ws:
        config = stream_config.load(stream_env(ws.url, warehouse_dsn, "off", db_retry_max_s=0.1))
        stream = TradeStream(config, writer=FlakyWriter(warehouse_dsn, "pumpportal", failures=2))
        asyncio.run(run_until(stream, lambda: stream.counters.trades_inserted == 5))
    assert stream.counters.flush_errors == 2
    assert rows(warehouse, "SELECT count(*), count(DISTINCT signature) FROM trades") == [(5, 5)]


def test_restart_closes_the_stop_gap_and_a_crash_is_detected(warehouse, warehouse_dsn, watchlist):
    with WsReplayServer([{"send": portal_frame(0)}]) as ws:
        env = stream_env(ws.url, warehouse_dsn, "off")
        stream = TradeStream(stream_config.load(env))
        asyncio.run(run_until(stream, lambda: stream.counters.trades_inserted == 1))
        ws.extend([{"send": portal_frame(1)}])
        stream = TradeStream(stream_config.load(env))
        asyncio.run(run_until(stream, lambda: stream.counters.trades_inserted == 1))
        # a run that died without stopping: its heartbeat says connected and no gap is open
        warehouse.execute("UPDATE stream_status SET state = 'connected'")
        warehouse.execute("DELETE FROM stream_disconnects WHERE reconnected_at IS NULL")
        ws.extend([{"send": portal_frame(2)}])
        stream = TradeStream(stream_config.load(env))
        asyncio.run(run_until(stream, lambda: stream.counters.trades_inserted == 1))
    gaps = rows(warehouse, "SELECT reason, reconnected_at IS NOT NULL FROM stream_disconnects ORDER BY id")
    assert gaps[0] == ("service stopped", True)      # closed by the second start
    assert gaps[1][0].startswith("the previous run ended without a clean shutdown") and gaps[1][1]
    assert gaps[2] == ("service stopped", False)
    assert rows(warehouse, "SELECT count(*) FROM trades") == [(3,)]


def test_sigterm_flushes_a_partial_batch(warehouse, warehouse_dsn, watchlist):
    """The real process: batches of 4, no time-based flush; 10 trades -> 2 batches + 2 buffered at SIGTERM."""
    script = [{"send": portal_frame(n)} for n in range(10)]
    with WsReplayServer(script) as ws:
        env = {**os.environ, **stream_env(ws.url, warehouse_dsn, "off", batch_size=4, flush_interval_s=3600,
                                          status_interval_s=0.1),
               "PYTHONPATH": str(ROOT / "plugins")}
        proc = subprocess.Popen([sys.executable, "-m", "cryptoflow.stream"], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 60
            while rows(warehouse, "SELECT trades_received, trades_buffered FROM stream_status") != [(10, 2)]:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "the stream did not receive the 10 trades"
                time.sleep(0.1)
            assert rows(warehouse, "SELECT count(*) FROM trades") == [(8,)]
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, output
    assert rows(warehouse, "SELECT count(*), count(DISTINCT signature) FROM trades") == [(10, 10)]
    assert rows(warehouse, "SELECT state, trades_buffered FROM stream_status") == [("stopped", 0)]
    assert rows(warehouse, "SELECT reason FROM stream_disconnects WHERE reconnected_at IS NULL") == [
        ("service stopped",)]
    assert API_KEY not in output
