"""A minimal source used by the framework tests: one hook, one dataset writing two tables."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from cryptoflow.hooks.base import CryptoflowHttpHook
from cryptoflow.ingest import Dataset, IngestContext
from cryptoflow.warehouse import TableSpec

TEST_KEY = "sk-TESTKEY-9f8e7d6c5b4a"


class ExampleHook(CryptoflowHttpHook):
    default_conn_name = "example"
    hook_name = "Example API"
    source = "example"
    api_key_env = "EXAMPLE_API_KEY"
    requires_api_key = True
    source_extra_keys = frozenset({"chain"})

    def authorize(self, url: str, params: dict, headers: dict) -> str:
        params["api-key"] = self.api_key  # the way Helius and Artemis take their keys
        return url


class Point(BaseModel):
    ts: int
    value: float


class ExamplePoints(Dataset):
    """Points of one series, filtered to the interval; writes metrics and, to test atomicity, entity_map."""

    source = "example"
    name = "points"
    hook_class = ExampleHook
    tables = (TableSpec("metrics", ("source", "asset", "metric", "ts")),
              TableSpec("entity_map", ("source", "source_id")))
    fail_after_upsert = False

    def collect(self, ctx: IngestContext) -> dict[str, list[dict]]:
        body = ctx.hook.get_json("/v1/series", {"asset": "sol"}, serves_until=ctx.interval_end)
        start, end = ctx.interval_start.timestamp(), ctx.interval_end.timestamp()
        points = ctx.rejections.validate([p for p in body["points"] if start <= p.get("ts", start) < end], Point)
        return {
            "metrics": [{"source": "example", "asset": "sol", "metric": "PRICE",
                         "ts": datetime.fromtimestamp(p.ts, UTC), "value": p.value} for p in points],
            "entity_map": [{"source": "example", "source_id": "sol", "entity": "solana", "kind": "asset"}],
        }

    def after_load(self, ctx, cur, upserted):
        if self.fail_after_upsert:
            raise RuntimeError("simulated crash between the upserts and the commit")


def series(start: datetime, n: int, step_s: int = 60, bad: set[int] = frozenset()) -> dict:
    t0 = int(start.timestamp())
    return {"points": [{"ts": t0 + i * step_s, "value": "oops" if i in bad else 100 + i} for i in range(n)]}
