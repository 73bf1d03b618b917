"""A 2-hour backfill (24 five-minute runs) of 20 wallets within the rate limit, no interval fetched twice."""

from __future__ import annotations

import copy
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from cryptoflow.ingest import run_dataset
from cryptoflow.sources import get_dataset
from cryptoflow.sources.helius.demo import FakeHelius, fake_address, fake_signature
from tests.helius_support import KEY, SENDER, SOL, recorded, set_connection, write_config

RATE, BURST = 100, 1
WALLETS = [fake_address("backfill", i) for i in range(20)]
BACKFILL_START = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
RUNS = 24


class Activity:
    """Wallet i sends a transfer every 30 + 17 * i seconds: some wallets need two pages per interval, most one."""

    def __init__(self) -> None:
        self.template = recorded()["sol_transfer"]
        self.index = {w: i for i, w in enumerate(WALLETS)}

    def times(self, address: str, start: int, end: int) -> range:
        i = self.index[address]
        period = 30 + 17 * i
        return range(start + (7 * i - start) % period, end, period)

    def __call__(self, address: str, start: int, end: int) -> list[dict]:
        if address not in self.index:
            return []
        out = []
        for ts in self.times(address, start, end):
            tx = json.loads(json.dumps(self.template).replace(SENDER, address))
            tx.update(signature=fake_signature("backfill", address, ts), timestamp=ts, slot=380_000_000 + ts % 10**6)
            out.append(copy.deepcopy(tx))
        return out


def test_two_hour_backfill_of_20_wallets(warehouse, replay_server, monkeypatch, tmp_path):
    write_config(tmp_path, monkeypatch, [(w, f"wallet {n}", "test") for n, w in enumerate(WALLETS)],
                 [(SOL, "SOL", "Wrapped SOL")])
    set_connection(monkeypatch, replay_server, rate_limit_per_s=RATE, burst=BURST, max_workers=4, page_limit=5)
    activity = Activity()
    FakeHelius(generator=activity, api_key=KEY).register(replay_server)
    dataset = get_dataset("helius", "transactions")

    began = time.monotonic()
    for n in range(RUNS):
        start = BACKFILL_START + timedelta(minutes=5 * n)
        result = run_dataset(dataset, start, start + timedelta(minutes=5), dag_id="helius_5min",
                             task_id="ingest_transactions", run_id=f"backfill__{start.isoformat()}")
        assert (result.status, result.rejected, result.cache_hits) == ("success", 0, 0)
    elapsed = time.monotonic() - began

    requests = [r for r in replay_server.requests if r.path.startswith("/v0/addresses/")]
    t0 = int(BACKFILL_START.timestamp())
    # every (wallet, interval) was asked for exactly once, and never a request twice (pages included)
    first_pages = Counter((r.path.split("/")[3], int(r.query["gte-time"])) for r in requests
                          if "before-signature" not in r.query)
    assert set(first_pages) == {(w, t0 + 300 * n) for w in WALLETS for n in range(RUNS)}
    assert set(first_pages.values()) == {1}
    identities = Counter((r.path, tuple(sorted((k, v) for k, v in r.query.items() if k != "api-key")))
                         for r in requests)
    assert max(identities.values()) == 1
    assert all(int(r.query["lt-time"]) - int(r.query["gte-time"]) == 300 for r in requests)
    assert len(requests) > len(first_pages)   # some intervals needed a second page

    # the rate limit held: no 1-second window saw more than RATE requests, and the run took as long as it must
    times = sorted(r.received_at for r in requests)
    busiest = max(sum(1 for t in times[i:i + RATE + 1] if t - times[i] < 1.0) for i in range(len(times)))
    assert busiest <= RATE
    assert elapsed >= (len(requests) - BURST) / RATE

    expected = sum(len(activity.times(w, t0, t0 + 300 * RUNS)) for w in WALLETS)
    assert warehouse.execute("SELECT count(*) FROM wallet_transactions").fetchone() == (expected,)
    assert warehouse.execute("SELECT count(DISTINCT interval_start), count(*) FROM pulls WHERE status = 'success'"
                             ).fetchone() == (RUNS, RUNS)
