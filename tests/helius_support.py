"""Helius test scenario: real enhanced transactions (tests/fixtures/helius) placed in one 5-minute interval."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptoflow.sources.helius.demo import FakeHelius, fake_address, fake_signature

FIXTURES = Path(__file__).parent / "fixtures" / "helius"
KEY = "hel-TESTKEY-5b7c2e9d41"
START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
END = START + timedelta(minutes=5)

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
W_MINT = "85VBFQZC9TZkfaptBWjvUw7YbZjy52A6mjtPGjstQAmQ"   # Wormhole (W): a hop of the SOL->USDC swap
TRADER = "FCHTRYx6npkQCogtpZtEFLJeevAFGbDHhJyvqvT6F4kX"    # the wallet of the recorded swaps and transfers
SENDER = "G2YxRa6wt1qePMwfJzdXZG62ej4qaTC7YURzuh2Lwd3t"    # the sender of the recorded SOL transfer
BUSY = fake_address("busy-bot")                              # a wallet with three pages in the interval
BUSY_TXS = 23


def recorded() -> dict[str, dict]:
    return json.loads((FIXTURES / "transactions.json").read_text())


def at(tx: dict, seconds: int, start: datetime = START, **changes) -> dict:
    tx = copy.deepcopy(tx)
    tx["timestamp"] = int(start.timestamp()) + seconds
    tx["slot"] = 380_000_000 + seconds * 2
    tx.update(changes)
    return tx


def write_config(tmp_path: Path, monkeypatch, wallets: list[tuple[str, str, str]],
                 tokens: list[tuple[str, str, str]]) -> None:
    wallets_csv = tmp_path / "whale_wallets.csv"
    wallets_csv.write_text("address,label,tags\n" + "".join(f"{a},{lab},{tags}\n" for a, lab, tags in wallets))
    watchlist_csv = tmp_path / "watchlist.csv"
    watchlist_csv.write_text("address,symbol,name,timeframes\n" + "".join(f"{a},{s},{n},\n" for a, s, n in tokens))
    monkeypatch.setenv("CRYPTOFLOW_WHALE_WALLETS", str(wallets_csv))
    monkeypatch.setenv("CRYPTOFLOW_WATCHLIST", str(watchlist_csv))


def set_connection(monkeypatch, server, password: str | None = KEY, **extra) -> None:
    conn = {"conn_type": "http", "host": server.url,
            "extra": {"rate_limit_per_s": 200, "backoff_base_s": 0.01, "backoff_max_s": 0.05, "finality_lag_s": 0,
                      "alert_max_age_min": 0, **extra}}
    if password is not None:
        conn["password"] = password
    monkeypatch.setenv("AIRFLOW_CONN_HELIUS", json.dumps(conn))


def set_alert_webhook(monkeypatch, server) -> None:
    server.add("/hooks/alerts", method="POST", json={"ok": True})
    monkeypatch.setenv("AIRFLOW_CONN_ALERTS_WEBHOOK", json.dumps(
        {"conn_type": "http", "host": server.url, "extra": {"endpoint": "/hooks/alerts"}}))


def whale_alerts_posted(server) -> list[dict]:
    posts = [r.json() for r in server.requests if r.method == "POST" and r.path == "/hooks/alerts"]
    return [p for p in posts if p.get("kind") == "whale_movement"]


def scenario(start: datetime = START) -> dict[str, list[dict]]:
    """The transactions per address of the test interval, and some just outside it.

    TRADER: a swap with ``nativeInput: null`` (USDC -> SOL), a SOL -> USDC swap, a multi-hop USDC -> SOL swap, an SPL
    transfer, an UNKNOWN transaction, a failed transaction, and one transaction on each side of the interval.
    SENDER: a 1.6 SOL transfer. BUSY: 23 small SOL transfers (three pages of 10). The W token: three transfers
    newer than its one swap, so a type-filtered search (window 3) first answers with the continuation error.
    """
    rec = recorded()
    failed = at(rec["transfer_spl_send"], 160, start, signature=fake_signature("failed", start),
                transactionError={"InstructionError": [0, {"Custom": 6001}]}, description="")
    sol_to_usdc = at(rec["swap_sol_to_usdc"], 70, start)
    trader = [
        at(rec["swap_usdc_to_sol_native_input_null"], 10, start),
        sol_to_usdc,
        at(rec["transfer_spl_send"], 100, start),
        at(rec["unknown"], 130, start),
        failed,
        at(rec["swap_multi_hop_usdc_to_sol"], 200, start),
        at(rec["compressed_nft_mint"], -1, start, signature=fake_signature("before", start)),
        at(rec["compressed_nft_mint"], 300, start, signature=fake_signature("at-end", start)),
    ]
    sender = [at(rec["sol_transfer"], 45, start)]
    busy = []
    for i in range(BUSY_TXS):
        tx = json.loads(json.dumps(rec["sol_transfer"]).replace(SENDER, BUSY))
        tx["nativeTransfers"][0]["amount"] = 1_000_000 + i
        busy.append(at(tx, 5 + 10 * i, start, signature=fake_signature("busy", start, i)))
    noise = json.loads(json.dumps(rec["sol_transfer"]).replace(SENDER, fake_address("noise")))
    w_token = [at(noise, 250 - 10 * i, start, signature=fake_signature("w-noise", start, i))
               for i in range(3)] + [sol_to_usdc]
    txs = {TRADER: trader, SENDER: sender, BUSY: busy, W_MINT: w_token}
    if start != START:   # another interval: the same shapes as new transactions
        renamed = {}
        for address, items in txs.items():
            renamed[address] = []
            for item in items:
                item = copy.deepcopy(item)
                item["signature"] = fake_signature(item["signature"], start)
                renamed[address].append(item)
        txs = renamed
    return txs


def fake_helius(server, start: datetime = START, **kwargs) -> FakeHelius:
    return FakeHelius(scenario(start), api_key=KEY, search_window=3, **kwargs).register(server)


WALLETS = [(TRADER, "Dashy trader", "smart-money"), (SENDER, "Tracker whale", "whale"),
           (BUSY, "Busy bot", "bot mev")]
TOKENS = [(SOL, "SOL", "Wrapped SOL"), (USDC, "USDC", "USD Coin"), (W_MINT, "W", "Wormhole")]
