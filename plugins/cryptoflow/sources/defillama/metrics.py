"""``defillama_hourly``: chain, protocol, stablecoin and bridge time series into ``metrics``.

Each run loads the points whose time lies in ``[interval_end - lookback, interval_end)`` (lookback per metric,
default 2 days), so late and restated values are picked up and a backfill loads exactly its range. Every history
request is identical for every run (no window in the URL) and is sent with ``serves_until=interval_end``: in a
backfill, one answer fetched after the range serves every run of it from the raw cache.

A live run (the answer fetched within ``live_tolerance`` of the interval end) also keeps the series' intraday
snapshot point (TVL's last point) at its own time, and drops the older snapshot of the same day, so a day holds its
midnight point plus at most one intraday point.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import psycopg

from cryptoflow.hooks.base import ApiError, ApiKeyRejected, ApiNotFound, ApiResponse, MissingApiKey
from cryptoflow.ingest import Dataset, IngestContext
from cryptoflow.paths import read_sql
from cryptoflow.sources.defillama import parsing
from cryptoflow.sources.defillama.addresses import chain_slug
from cryptoflow.sources.defillama.config import HOURLY_DATASETS, METRICS, EntityRow, MetricSpec, load_entities
from cryptoflow.sources.defillama.hook import DefiLlamaHook
from cryptoflow.sources.defillama.models import MetricPoint
from cryptoflow.warehouse import TableSpec

log = logging.getLogger(__name__)

PARSERS = {
    "chain_tvl": lambda body: parsing.tvl_points(body, "tvl"),
    "protocol_tvl": lambda body: parsing.tvl_points(body, "totalLiquidityUSD"),
    "dimension": parsing.dimension_points,
    "chart": parsing.chart_points,
    "stablecoin": parsing.stablecoin_points,
}


@dataclass(frozen=True)
class Request:
    service: str
    path: str
    params: tuple[tuple[str, str], ...]
    serves_until: datetime


@dataclass
class Job:
    """One metric of one entity and the request that answers it."""

    entity: EntityRow
    spec: MetricSpec
    request: Request
    day: datetime | None = None      # NET_FLOW: the UTC day this request is for


class EntityFailed(Exception):
    pass


def resolve_chains(hook: DefiLlamaHook, serves_until: datetime) -> dict[str, str]:
    """Chain slug (and lower-case name) -> DefiLlama's chain name, from ``/v2/chains``."""
    body = hook.fetch_json("api", "/v2/chains", serves_until=serves_until)
    if not isinstance(body, list):
        raise ApiError("/v2/chains did not answer a list of chains")
    names: dict[str, str] = {}
    for chain in body:
        name = chain.get("name") if isinstance(chain, dict) else None
        if isinstance(name, str) and name.strip():
            names[name.strip().lower()] = name.strip()
            names[chain_slug(name)] = name.strip()
    return names


class MetricsDataset(Dataset):
    source = "defillama"
    hook_class = DefiLlamaHook
    tables = (TableSpec("metrics", ("source", "asset", "metric", "ts"), update_columns=("value",)),)
    stale_after = timedelta(hours=3)
    # Rejects here are mostly whole entities (an unknown slug), not bad points; one bad slug in a small config must
    # not block the others. A run where every entity fails is an error of its own (see _check_any_succeeded).
    max_reject_ratio = 0.5
    live_tolerance: ClassVar[timedelta] = timedelta(hours=1)

    def __init__(self, name: str, metrics: tuple[str, ...]):
        self.name = name
        self.metric_names = metrics
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}")

    # -- planning ---------------------------------------------------------------------------------------------------
    def wanted(self) -> list[tuple[EntityRow, MetricSpec]]:
        return [(e, METRICS[m]) for e in load_entities() for m in e.metrics if m in self.metric_names]

    def plan(self, ctx: IngestContext, wanted: list[tuple[EntityRow, MetricSpec]]) -> list[Job]:
        hook: DefiLlamaHook = ctx.hook
        needs_chains = any(s.kind == "chain" or (s.kind == "protocol" and not e.kind) for e, s in wanted)
        chain_names = resolve_chains(hook, ctx.interval_end) if needs_chains else {}
        jobs = []
        for entity, spec in wanted:
            kind, name = entity.kind, entity.slug
            if spec.kind in ("chain", "protocol"):
                detected = chain_names.get(entity.slug.lower())
                kind = kind or ("chain" if detected else "protocol")
                name = detected or entity.slug
                if kind != spec.kind:
                    how = "set in the kind column" if entity.kind else "detected from /v2/chains"
                    ctx.rejections.add(
                        {"asset": entity.slug, "metric": spec.name},
                        f"{entity.slug!r} is a {kind} ({how}) but {spec.name} is a {spec.kind} metric: fix line "
                        f"{entity.line} of include/config/defillama_entities.csv (metrics, or kind to override)")
                    continue
            jobs.extend(self._jobs_for(ctx, hook, entity, spec, name))
        return jobs

    def _jobs_for(self, ctx, hook, entity: EntityRow, spec: MetricSpec, name: str) -> list[Job]:
        endpoint = spec.endpoint
        service, path = endpoint.service, endpoint.path
        if service == "api_or_pro":
            service, path = ("pro", endpoint.pro_path) if hook.has_pro_key else ("api", endpoint.path)
        values = {"slug": quote(entity.slug, safe=""), "name": quote(name, safe=""), "id": entity.id}
        if spec.name != "NET_FLOW":
            return [Job(entity, spec, Request(service, path.format(**values),
                                              tuple((k, v.format(**values)) for k, v in endpoint.params),
                                              ctx.interval_end))]
        # Net flows of each UTC day that is complete within the window; the answer for a day never changes after
        # the day is over, so it serves every later run.
        start, end = ctx.window(entity.lookback or spec.lookback)
        day = parsing.midnight(start.date()) + (parsing.DAY if not parsing.is_midnight(start) else timedelta(0))
        jobs = []
        while day + parsing.DAY <= end:
            values.update(day=str(int(day.timestamp())), day_end=str(int((day + parsing.DAY).timestamp())))
            jobs.append(Job(entity, spec, Request(service, path.format(**values),
                                                  tuple((k, v.format(**values)) for k, v in endpoint.params),
                                                  day + parsing.DAY), day=day))
            day += parsing.DAY
        return jobs

    # -- fetching ---------------------------------------------------------------------------------------------------
    def fetch_all(self, hook: DefiLlamaHook, requests: list[Request]) -> dict[Request, ApiResponse | EntityFailed]:
        def fetch(request: Request) -> tuple[Request, ApiResponse | EntityFailed]:
            try:
                return request, hook.fetch(request.service, request.path, dict(request.params),
                                           serves_until=request.serves_until)
            except ApiNotFound as exc:
                return request, EntityFailed(f"DefiLlama does not know it (HTTP 404): {exc}")
            except ApiKeyRejected:
                if request.service == "api" and not hook.has_pro_key and "derivatives" in request.path:
                    raise MissingApiKey(
                        "defillama: the free derivatives endpoints refused the request (they moved to the Pro API); "
                        "set DEFILLAMA_API_KEY in .env (or the password of Airflow connection 'defillama'). "
                        "Skipping.") from None
                raise
            except ApiError as exc:
                if exc.status == 400:
                    return request, EntityFailed(f"DefiLlama rejected the request (HTTP 400): {exc}")
                raise

        return dict(hook.map_concurrently(fetch, requests))

    # -- collect ----------------------------------------------------------------------------------------------------
    def collect(self, ctx: IngestContext) -> dict[str, list[dict[str, Any]]]:
        wanted = self.wanted()
        if not wanted:
            log.info("%s: no entity in include/config/defillama_entities.csv asks for %s; nothing to do", self.label,
                     ", ".join(self.metric_names))
            return {"metrics": []}
        if any(spec.pro_only for _, spec in wanted):
            ctx.hook.require_api_key()    # MissingApiKey: the task is skipped with one line naming the variable
        jobs = self.plan(ctx, wanted)
        answers = self.fetch_all(ctx.hook, sorted({j.request for j in jobs}, key=repr))
        now = datetime.now(UTC)
        records: list[dict] = []
        failed: dict[tuple[str, str], str] = {}
        succeeded = 0
        for job in jobs:
            answer = answers[job.request]
            who = (job.entity.slug, job.spec.name)
            if isinstance(answer, EntityFailed):
                failed[who] = str(answer)
                continue
            try:
                points = self.points(ctx, job, answer, now)
            except parsing.BadValue as exc:
                failed[who] = f"unexpected answer shape from {job.request.path}: {exc}"
                continue
            succeeded += 1
            records.extend({"asset": job.entity.slug, "metric": job.spec.name, **p} for p in points)
        for (slug, metric), reason in sorted(failed.items()):
            ctx.rejections.add({"asset": slug, "metric": metric},
                               f"{slug} {metric} not loaded: {reason}. Fix include/config/defillama_entities.csv")
        if failed:
            log.warning("%s: not loaded (the others were): %s", self.label,
                        "; ".join(f"{s} {m}" for s, m in sorted(failed)))
        if jobs and not succeeded:
            raise ApiError(f"{self.label}: every request failed, nothing to load; first: {next(iter(failed.values()))}")
        valid = ctx.rejections.validate(records, MetricPoint)
        ctx.records_fetched = ctx.rejections.seen + len(failed)
        return {"metrics": [p.row() for p in valid]}

    def points(self, ctx: IngestContext, job: Job, answer: ApiResponse, now: datetime) -> list[dict]:
        spec, body = job.spec, answer.body
        if spec.name == "NET_FLOW":
            if not isinstance(body, dict) or "outflows" not in body:
                raise parsing.BadValue("inflows answer has no 'outflows'")
            return [{"ts": int(job.day.timestamp()), "value": body["outflows"]}]
        if spec.parser == "bridge_volume":
            points = parsing.bridge_volume_points(body)[spec.name]
        else:
            points = PARSERS[spec.parser](body)
        start, end = ctx.window(job.entity.lookback or spec.lookback)
        fetched_at = answer.fetched_at or now
        live = spec.live_snapshot and end <= fetched_at < end + self.live_tolerance
        return parsing.select_window(points, start, end, snapshot_until=fetched_at if live else None)

    def after_load(self, ctx: IngestContext, cur: psycopg.Cursor, upserted: dict[str, int]) -> None:
        snapshot_metrics = [m for m in self.metric_names if METRICS[m].live_snapshot]
        if snapshot_metrics:
            longest = max(METRICS[m].lookback for m in snapshot_metrics)
            cur.execute(read_sql("defillama/prune_intraday_points.sql"),
                        {"metrics": snapshot_metrics, "since": ctx.interval_end - longest - parsing.DAY})


def hourly_datasets() -> dict[str, MetricsDataset]:
    out = {}
    for name in HOURLY_DATASETS:
        out[name] = MetricsDataset(name, tuple(m for m, spec in METRICS.items() if spec.dataset == name))
    return out
