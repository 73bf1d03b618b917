"""``defillama_daily``: the catalog (chains, protocols, pools), daily snapshots, contract mappings, entity map.

``/v2/chains``, ``/protocols`` and yields ``/pools`` only tell the present. The catalog tables take whatever the
answer says; the daily snapshot of day D is written only by a live run, whose answer was fetched right after D ended
(``snapshot_tolerance``): a backfill of past days cannot reconstruct them from these endpoints and says so. Pools
listed in ``defillama_entities.csv`` (kind ``pool``) get their day-by-day history from yields ``/chart/{pool}``
instead, which a backfill can load.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from cryptoflow.hooks.base import ApiError, ApiNotFound, ApiResponse
from cryptoflow.ingest import Dataset, IngestContext
from cryptoflow.sources.defillama import parsing
from cryptoflow.sources.defillama.addresses import BadAddress, chain_slug, family, normalize_address, split_prefixed
from cryptoflow.sources.defillama.config import load_entities, load_identity_overrides
from cryptoflow.sources.defillama.hook import DefiLlamaHook
from cryptoflow.sources.defillama.models import Chain, ChartPoint, Pool, Protocol
from cryptoflow.warehouse import TableSpec

log = logging.getLogger(__name__)


def fetch_listing(ctx: IngestContext, service: str, path: str) -> ApiResponse:
    """A whole-catalog answer; identical for every dataset of a run, so the second dataset reads it from the cache."""
    return ctx.hook.fetch(service, path, serves_until=ctx.interval_end)


def answer_time(ctx: IngestContext, answer: ApiResponse) -> datetime:
    """When the answer was received, as recorded in raw_responses (so a re-run from the cache gives the same time)."""
    return answer.fetched_at or datetime.now(UTC)   # None only without raw landing (outside run_dataset)


def snapshot_day(ctx: IngestContext, answer: ApiResponse, tolerance: timedelta, what: str) -> date | None:
    """The day a present-state answer is a snapshot of: the interval's last day, when the answer was fetched within
    ``tolerance`` after the interval ended; None (with a log line saying why) otherwise."""
    fetched_at = answer_time(ctx, answer)
    day = (ctx.interval_end - timedelta(microseconds=1)).date()
    if ctx.interval_end <= fetched_at < ctx.interval_end + tolerance:
        return day
    log.warning("%s of %s not written: DefiLlama only gives the present state, and this answer was fetched at %s, "
                "not right after the day ended (%s). Past days cannot be backfilled from this endpoint.",
                what, day, fetched_at.isoformat(timespec="seconds"), ctx.interval_end.isoformat())
    return None


def _list_of(body: Any, key: str | None, what: str) -> list:
    items = body.get(key) if key and isinstance(body, dict) else body
    if not isinstance(items, list):
        raise ApiError(f"{what}: expected a list{f' under {key!r}' if key else ''}, got {type(items).__name__}")
    return items


class _DailyDataset(Dataset):
    source = "defillama"
    hook_class = DefiLlamaHook
    stale_after = timedelta(hours=30)
    snapshot_tolerance: ClassVar[timedelta] = timedelta(days=1)


# -- catalog: chains, protocols, protocol_daily_snapshots ---------------------------------------------------------

class CatalogDataset(_DailyDataset):
    name = "catalog"
    tables = (
        TableSpec("chains", ("slug",)),
        TableSpec("protocols", ("slug",)),
        TableSpec("protocol_daily_snapshots", ("protocol", "day")),
    )

    def collect(self, ctx: IngestContext) -> dict[str, list[dict]]:
        chains_answer = fetch_listing(ctx, "api", "/v2/chains")
        protocols_answer = fetch_listing(ctx, "api", "/protocols")
        chains = ctx.rejections.validate(_list_of(chains_answer.body, None, "/v2/chains"), Chain)
        protocols = ctx.rejections.validate(_list_of(protocols_answer.body, None, "/protocols"), Protocol)
        chain_rows = {}
        for c in chains:
            slug = parsing_slug(c.name)
            chain_rows[slug] = {"slug": slug, "name": c.name, "gecko_id": c.gecko_id, "cmc_id": c.cmcId,
                                "token_symbol": c.tokenSymbol, "chain_id": c.chainId, "tvl": c.tvl}
        protocol_rows, snapshots = [], []
        day = snapshot_day(ctx, protocols_answer, self.snapshot_tolerance, "protocol_daily_snapshots")
        snapshot_at = answer_time(ctx, protocols_answer)
        for p in protocols:
            per_chain, extras = parsing.split_chain_tvls(p.chainTvls)
            protocol_rows.append({
                "slug": p.slug, "defillama_id": p.id, "name": p.name, "category": p.category, "chains": p.chains,
                "gecko_id": p.gecko_id, "cmc_id": p.cmcId, "parent": p.parentProtocol, "url": p.url,
                "symbol": p.symbol, "address": p.address, "tvl": p.tvl, "chain_tvls": per_chain})
            if day is not None:
                snapshots.append({"protocol": p.slug, "day": day, "tvl": p.tvl, "chain_tvls": per_chain,
                                  "synthetic_tvls": extras, "snapshot_at": snapshot_at})
        return {"chains": list(chain_rows.values()), "protocols": protocol_rows, "protocol_daily_snapshots": snapshots}


def parsing_slug(name: str) -> str:
    """A chain's catalog slug: its DefiLlama name in lower case with hyphens ('OP Mainnet' -> 'op-mainnet')."""
    return "-".join(name.strip().lower().split())


# -- pools and their daily snapshots --------------------------------------------------------------------------------

def _finite(value: float | None) -> float | None:
    return None if value is None or value != value or value in (math.inf, -math.inf) else value


def pool_row(p: Pool) -> dict:
    predictions = p.predictions or {}
    return {
        "pool": p.pool, "chain": p.chain, "project": p.project, "symbol": p.symbol, "pool_meta": p.poolMeta,
        "tvl_usd": _finite(p.tvlUsd), "apy": _finite(p.apy), "apy_base": _finite(p.apyBase),
        "apy_reward": _finite(p.apyReward), "apy_base_7d": _finite(p.apyBase7d), "apy_mean_30d": _finite(p.apyMean30d),
        "apy_pct_1d": _finite(p.apyPct1D), "apy_pct_7d": _finite(p.apyPct7D), "apy_pct_30d": _finite(p.apyPct30D),
        "il_7d": _finite(p.il7d), "volume_usd_1d": _finite(p.volumeUsd1d), "volume_usd_7d": _finite(p.volumeUsd7d),
        "stablecoin": p.stablecoin, "il_risk": p.ilRisk, "exposure": p.exposure, "outlier": p.outlier,
        "reward_tokens": p.rewardTokens, "underlying_tokens": p.underlyingTokens,
        "predicted_class": _text_or_none(predictions.get("predictedClass")),
        "predicted_probability": _number_or_none(predictions.get("predictedProbability")),
        "binned_confidence": _int_or_none(predictions.get("binnedConfidence")),
    }


def _text_or_none(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None


def _number_or_none(value: Any) -> float | None:
    return _finite(float(value)) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and -32768 <= value < 32768 else None


class PoolsDataset(_DailyDataset):
    """All yields pools (one large answer) and, for a live run, their snapshot of the day. Pools configured for
    history are left to ``pool_history`` (yields /chart is the better source for their days)."""

    name = "pools"
    tables = (TableSpec("pools", ("pool",)), TableSpec("pool_daily_snapshots", ("pool", "day")))

    def collect(self, ctx: IngestContext) -> dict[str, list[dict]]:
        answer = fetch_listing(ctx, "yields", "/pools")
        pools = ctx.rejections.validate(_list_of(answer.body, "data", "yields /pools"), Pool)
        day = snapshot_day(ctx, answer, self.snapshot_tolerance, "pool_daily_snapshots")
        snapshot_at = answer_time(ctx, answer)
        with_history = {e.id for e in load_entities() if e.kind == "pool"}
        rows = [pool_row(p) for p in pools]
        snapshots = [] if day is None else [
            {"pool": row["pool"], "day": day, "tvl_usd": row["tvl_usd"], "apy": row["apy"], "apy_base": row["apy_base"],
             "apy_reward": row["apy_reward"], "volume_usd_1d": row["volume_usd_1d"], "il_7d": row["il_7d"],
             "apy_base_7d": row["apy_base_7d"], "snapshot_at": snapshot_at, "from_endpoint": "pools"}
            for row in rows if row["pool"] not in with_history]
        return {"pools": rows, "pool_daily_snapshots": snapshots}


class PoolHistoryDataset(_DailyDataset):
    """Daily history of the pools listed in defillama_entities.csv (kind ``pool``, id = yields pool id) from
    yields ``/chart/{pool}``: the days whose last snapshot lies in ``[interval_end - lookback, interval_end)``."""

    name = "pool_history"
    tables = (TableSpec("pool_daily_snapshots", ("pool", "day")),)
    lookback: ClassVar[timedelta] = timedelta(days=3)
    max_reject_ratio = 0.5   # mostly whole pools (an unknown id); see MetricsDataset

    def collect(self, ctx: IngestContext) -> dict[str, list[dict]]:
        entities = [e for e in load_entities() if e.kind == "pool"]
        if not entities:
            log.info("%s: no pool in include/config/defillama_entities.csv; nothing to do", self.label)
            return {}

        def fetch(entity):
            try:
                return entity, ctx.hook.fetch("yields", f"/chart/{quote(entity.id, safe='')}",
                                              serves_until=ctx.interval_end)
            except ApiError as exc:   # 404, or 400 "invalid configID!": that pool, not the run
                if isinstance(exc, ApiNotFound) or exc.status == 400:
                    return entity, exc
                raise

        records, failed = [], 0
        for entity, answer in ctx.hook.map_concurrently(fetch, entities):
            if isinstance(answer, ApiError):
                failed += 1
                ctx.rejections.add({"pool": entity.id, "slug": entity.slug},
                                   f"pool {entity.slug} ({entity.id}) not loaded: {answer}. Fix line {entity.line} "
                                   "of include/config/defillama_entities.csv")
                continue
            start, end = ctx.window(entity.lookback or self.lookback)
            items = answer.body.get("data") if isinstance(answer.body, dict) else None
            for item in items if isinstance(items, list) else []:
                ts = parsing.try_ts(item.get("timestamp")) if isinstance(item, dict) else None
                if ts is None or start <= ts < end:
                    records.append({**item, "pool": entity.id} if isinstance(item, dict) else {"raw": item})
        if failed == len(entities):
            raise ApiError(f"{self.label}: no configured pool could be loaded")
        points = ctx.rejections.validate(records, ChartPoint)
        ctx.records_fetched = ctx.rejections.seen + failed
        return {"pool_daily_snapshots": [
            {"pool": p.pool, "day": p.timestamp.date(), "tvl_usd": p.tvlUsd, "apy": p.apy, "apy_base": p.apyBase,
             "apy_reward": p.apyReward, "volume_usd_1d": None, "il_7d": p.il7d, "apy_base_7d": p.apyBase7d,
             "snapshot_at": p.timestamp, "from_endpoint": "chart"} for p in points]}


# -- contract mappings ---------------------------------------------------------------------------------------------

CONFIDENCE = {"verified": 1.0, "agree": 0.8, "reliable": 0.6, "heuristic": 0.4, "guess": 0.2}
UNCHECKED_CAP = CONFIDENCE["heuristic"]   # an address whose format we cannot check for its chain


@dataclass
class Candidate:
    entity: str
    chain: str
    raw: str
    kind: str
    confidence: float
    evidence: str


def protocol_address_candidates(p: Protocol) -> list[Candidate]:
    """The protocol's ``address`` field: 'chain:addr' names its chain; a bare address is DefiLlama's Ethereum
    convention, which we trust only as far as the protocol's chains support it."""
    raw = p.address
    if not raw:
        return []
    prefix, value = split_prefixed(raw)
    if prefix == "coingecko":
        return []
    evidence = f"address field of /protocols entry {p.slug!r}: {raw!r}"
    if prefix:
        return [Candidate(p.slug, prefix, value, "protocol_token", CONFIDENCE["reliable"], evidence)]
    chains = [chain_slug(c) for c in p.chains]
    looks_evm = value.lower().startswith("0x")
    if len(chains) == 1 and (looks_evm == (family(chains[0]) == "evm") or family(chains[0]) == "other"):
        chain, level, why = chains[0], "heuristic", f"bare address; the protocol's only chain is {chains[0]}"
    elif looks_evm and "ethereum" in chains:
        chain, level, why = "ethereum", "heuristic", "bare address: DefiLlama's Ethereum default, protocol on Ethereum"
    elif looks_evm:
        chain, level, why = "ethereum", "guess", "bare address: DefiLlama's Ethereum default, not a chain it lists"
    elif "solana" in chains:
        chain, level, why = "solana", "heuristic", "bare non-EVM address; the protocol is on Solana"
    else:
        chain, level, why = (chains[0] if chains else "unknown"), "guess", "bare non-EVM address; first listed chain"
    return [Candidate(p.slug, chain, value, "protocol_token", CONFIDENCE[level], f"{evidence} ({why})")]


def pool_candidates(p: Pool) -> list[Candidate]:
    chain = chain_slug(p.chain)
    out = []
    evm_id = p.pool.split("-")[0] if p.pool.lower().startswith("0x") else ""
    solana_id = p.pool if family(chain) == "solana" and "-" not in p.pool and 32 <= len(p.pool) <= 44 else ""
    pool_id = evm_id if len(evm_id) == 42 else solana_id
    if pool_id:
        out.append(Candidate(p.project, chain, pool_id, "pool_contract", CONFIDENCE["heuristic"],
                             f"yields pool id {p.pool!r} of project {p.project!r} is an address"))
    for field, kind in (("underlyingTokens", "underlying_token"), ("rewardTokens", "reward_token")):
        for token in getattr(p, field) or []:
            prefix, value = split_prefixed(token)
            out.append(Candidate(f"pool:{p.pool}", prefix or chain, value, kind, CONFIDENCE["reliable"],
                                 f"{field} of yields pool {p.pool!r} ({p.project}, {p.symbol})"))
    return out


class ContractMappingsDataset(_DailyDataset):
    name = "contract_mappings"
    tables = (TableSpec("contract_mappings", ("entity", "chain", "address")),)
    # Addresses come from free-text fields of thousands of entries; some junk is expected and goes to
    # rejected_records, but a quarter of them bad means the extraction is broken.
    max_reject_ratio = 0.25

    def collect(self, ctx: IngestContext) -> dict[str, list[dict]]:
        protocols = [p for p in (_validate_quietly(Protocol, x) for x in
                                 _list_of(fetch_listing(ctx, "api", "/protocols").body, None, "/protocols")) if p]
        pools = [p for p in (_validate_quietly(Pool, x) for x in
                             _list_of(fetch_listing(ctx, "yields", "/pools").body, "data", "yields /pools")) if p]
        candidates = [c for p in protocols for c in protocol_address_candidates(p)]
        candidates += [c for p in pools for c in pool_candidates(p)]
        candidates += verified_candidates()
        ctx.records_fetched = len(candidates)

        rows: dict[tuple[str, str, str], dict] = {}
        for c in candidates:
            try:
                address, checked = normalize_address(c.chain, c.raw)
            except BadAddress as exc:
                ctx.rejections.add({"entity": c.entity, "chain": c.chain, "address": c.raw, "kind": c.kind,
                                    "evidence": c.evidence}, f"malformed {c.chain} address: {exc}")
                continue
            confidence, evidence = c.confidence, c.evidence
            if not checked and confidence > UNCHECKED_CAP:
                confidence, evidence = UNCHECKED_CAP, f"{evidence}; address format not checked for chain {c.chain}"
            key = (c.entity, c.chain, address)
            if key not in rows or rows[key]["confidence"] < confidence:
                rows[key] = {"entity": c.entity, "chain": c.chain, "address": address, "kind": c.kind,
                             "confidence": confidence, "evidence": evidence}
        corroborate(rows, pools)
        return {"contract_mappings": list(rows.values())}


def _validate_quietly(model, record):
    """Catalog entries are validated (and rejected) by the catalog and pools datasets; here bad ones are skipped."""
    try:
        return model.model_validate(record)
    except ValueError:
        return None


def corroborate(rows: dict[tuple[str, str, str], dict], pools: list[Pool]) -> None:
    """A protocol's token that is also a reward token of the protocol's own yields pools: two sources agree."""
    rewarded: dict[tuple[str, str, str], int] = defaultdict(int)
    for p in pools:
        chain = chain_slug(p.chain)
        for token in p.rewardTokens or []:
            prefix, value = split_prefixed(token)
            try:
                address, _ = normalize_address(prefix or chain, value)
            except BadAddress:
                continue
            rewarded[(p.project, prefix or chain, address)] += 1
    for key, row in rows.items():
        n = rewarded.get(key, 0)
        if row["kind"] == "protocol_token" and n and row["confidence"] < CONFIDENCE["agree"]:
            row["confidence"] = CONFIDENCE["agree"]
            row["evidence"] += f"; also the reward token of {n} of its own yields pool(s)"


def verified_candidates() -> list[Candidate]:
    out = []
    for o in load_identity_overrides():
        if o.contract:
            prefix, value = split_prefixed(o.contract)
            why = f"checked by hand: include/config/entity_map.csv line {o.line}"
            out.append(Candidate(o.defillama_slug, prefix or "ethereum", value, "protocol_token",
                                 CONFIDENCE["verified"], why))
    return out


# -- entity map ----------------------------------------------------------------------------------------------------

class EntityMapDataset(_DailyDataset):
    """DefiLlama slugs and CoinGecko ids -> entity. The entity is the override's, else the parent protocol's slug,
    else the DefiLlama slug; a CoinGecko id maps to the entity whose ``gecko_id`` it is (chains win over protocols
    for a shared id: a chain's gecko id is its native token). Artemis ids are mapped to the same entities by
    artemis_daily (include/config/artemis_entity_map.csv), so the rows of both sources meet in ``entity``."""

    name = "entity_map"
    tables = (TableSpec("entity_map", ("source", "source_id")),)

    def collect(self, ctx: IngestContext) -> dict[str, list[dict]]:
        protocols = [p for p in (_validate_quietly(Protocol, x) for x in
                                 _list_of(fetch_listing(ctx, "api", "/protocols").body, None, "/protocols")) if p]
        chains = [c for c in (_validate_quietly(Chain, x) for x in
                              _list_of(fetch_listing(ctx, "api", "/v2/chains").body, None, "/v2/chains")) if c]
        overrides = {o.defillama_slug: o for o in load_identity_overrides()}
        rows: list[dict] = []

        def add(source, source_id, entity, kind, evidence):
            if source_id:
                rows.append({"source": source, "source_id": source_id, "entity": entity, "kind": kind,
                             "evidence": evidence})

        def resolve(slug: str, default_entity: str, why: str) -> tuple[str, str]:
            override = overrides.get(slug)
            if override and override.entity:
                return override.entity, f"include/config/entity_map.csv line {override.line}"
            return default_entity, why

        # later rows win for the same key: protocols, then chains, then the hand-written overrides
        for p in protocols:
            parent = p.parentProtocol.removeprefix("parent#") if p.parentProtocol else None
            entity, why = resolve(p.slug, parent or p.slug, f"child of {p.parentProtocol}" if parent else "own slug")
            add("defillama", p.slug, entity, "protocol", f"/protocols entry {p.slug!r} ({why})")
            add("coingecko", p.gecko_id, entity, "protocol", f"gecko_id of /protocols entry {p.slug!r} ({why})")
        for c in chains:
            slug = parsing_slug(c.name)
            entity, why = resolve(slug, slug, "own slug")
            add("defillama", slug, entity, "chain", f"/v2/chains entry {c.name!r} ({why})")
            add("coingecko", c.gecko_id, entity, "chain", f"gecko_id of /v2/chains entry {c.name!r} ({why})")
        derived = {r["source_id"]: r for r in rows if r["source"] == "defillama"}
        for o in overrides.values():
            known = derived.get(o.defillama_slug)
            entity = o.entity or (known["entity"] if known else o.defillama_slug)
            kind = o.kind or (known["kind"] if known else None)
            why = f"include/config/entity_map.csv line {o.line}"
            add("defillama", o.defillama_slug, entity, kind, why)
            add("coingecko", o.coingecko_id, entity, kind, why)
        return {"entity_map": rows}
