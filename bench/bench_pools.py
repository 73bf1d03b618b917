"""DefiLlama pools sync: 50k generated pools (the yields /pools shape, nulls included) served by the replay server,
fetched, validated and upserted into ``pools`` and ``pool_daily_snapshots`` by the ``pools`` dataset, timed from
request to commit. Ad-hoc scripts that insert row by row take 15 to 30 minutes for this; the target is < 30 s."""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

CHAINS = ["Ethereum", "Arbitrum", "Base", "BSC", "Polygon", "Solana", "Avalanche", "OP Mainnet", "Hyperliquid L1"]
PROJECTS = ["aave-v3", "uniswap-v3", "curve-dex", "lido", "pendle", "morpho-blue", "kamino-lend", "raydium-amm",
            "compound-v3", "balancer-v2", "convex-finance", "yearn-finance", "beefy", "gmx-v2", "orca"]
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _token(rng: random.Random, chain: str) -> str:
    if chain == "Solana":
        return "".join(rng.choice(B58) for _ in range(44))
    return "0x" + "".join(rng.choice("0123456789abcdef") for _ in range(40))


def generate_pools(n: int, seed: int = 7) -> dict:
    """``n`` pools in the yields /pools shape, with the nulls the real answer has."""
    rng = random.Random(seed)
    data = []
    for _ in range(n):
        chain, project = rng.choice(CHAINS), rng.choice(PROJECTS)
        under = [_token(rng, chain) for _ in range(rng.choice((1, 1, 2, 2, 3)))] if rng.random() > 0.1 else None
        reward = [_token(rng, chain)] if rng.random() > 0.6 else None
        base = round(rng.uniform(0, 25), 5) if rng.random() > 0.05 else None
        extra = round(rng.uniform(0, 10), 5) if reward else None
        volume = round(rng.uniform(0, 5e7), 2) if rng.random() > 0.5 else None
        data.append({
            "chain": chain, "project": project, "symbol": "-".join(f"T{rng.randrange(999)}" for _ in under or [0]),
            "tvlUsd": round(rng.lognormvariate(13, 2.5), 2), "apyBase": base, "apyReward": extra,
            "apy": round((base or 0) + (extra or 0), 5), "rewardTokens": reward,
            "pool": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "apyPct1D": round(rng.uniform(-1, 1), 5), "apyPct7D": round(rng.uniform(-3, 3), 5),
            "apyPct30D": round(rng.uniform(-5, 5), 5) if rng.random() > 0.3 else None,
            "stablecoin": rng.random() > 0.7, "ilRisk": rng.choice(("no", "yes")),
            "exposure": "single" if under is not None and len(under) == 1 else "multi",
            "predictions": {"predictedClass": rng.choice(("Stable/Up", "Down")),
                            "predictedProbability": rng.randrange(50, 100), "binnedConfidence": rng.randrange(1, 4)},
            "poolMeta": rng.choice((None, None, "V3 market", "0.05%")), "mu": base, "sigma": round(rng.random(), 5),
            "count": rng.randrange(1, 1500), "outlier": rng.random() > 0.97, "underlyingTokens": under,
            "il7d": None, "apyBase7d": base if rng.random() > 0.5 else None,
            "apyMean30d": round(rng.uniform(0, 25), 5), "volumeUsd1d": volume,
            "volumeUsd7d": volume and round(volume * 6.5, 2), "apyBaseInception": None,
        })
    return {"status": "success", "data": data}


def run(ctx) -> dict[str, float]:
    from cryptoflow.ingest import run_dataset
    from cryptoflow.replay import ReplayServer
    from cryptoflow.sources.defillama import DATASETS

    n = 2_000 if ctx.quick else 50_000
    dsn = ctx.fresh_warehouse("bench_pools")
    body = generate_pools(n)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with ReplayServer(host="127.0.0.1", port=0) as server:
        server.add("/pools", json=body)
        os.environ["AIRFLOW_CONN_WAREHOUSE"] = dsn
        os.environ["AIRFLOW_CONN_DEFILLAMA"] = json.dumps({"conn_type": "http", "host": server.url,
                                                           "extra": {"yields_url": server.url, "timeout": 120}})
        started = time.monotonic()
        result = run_dataset(DATASETS["pools"], today - timedelta(days=1), today, dag_id="bench", run_id="bench",
                             task_id="ingest_pools")
        seconds = time.monotonic() - started
    import psycopg

    with psycopg.connect(dsn) as conn:
        pools, snapshots = conn.execute(
            "SELECT (SELECT count(*) FROM pools), (SELECT count(*) FROM pool_daily_snapshots)").fetchone()
    if result.status != "success" or pools != n or snapshots != n:
        raise RuntimeError(f"pools sync loaded {pools} pools and {snapshots} snapshots of {n}: {result}")
    return {"pools_sync_seconds": round(seconds, 3), "pools_synced": pools}
