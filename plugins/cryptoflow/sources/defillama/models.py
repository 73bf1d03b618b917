"""Records of the DefiLlama answers, validated at the boundary (failures become rejected_records)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from cryptoflow.sources.defillama.parsing import BadValue, optional_float, parse_number, parse_ts


def _checked(fn, value):
    try:
        return fn(value)
    except BadValue as exc:
        raise ValueError(str(exc)) from None


class MetricPoint(BaseModel):
    """One point of one metric of one entity: the time DefiLlama gives it and a finite value."""

    model_config = ConfigDict(frozen=True)

    asset: str
    metric: str
    ts: datetime
    value: Decimal

    @field_validator("ts", mode="before")
    @classmethod
    def _ts(cls, value: Any) -> datetime:
        return _checked(parse_ts, value)

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, value: Any) -> Decimal:
        return _checked(parse_number, value)

    def row(self) -> dict:
        return {"source": "defillama", "asset": self.asset, "metric": self.metric, "ts": self.ts, "value": self.value}


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text or None


class _Lenient(BaseModel):
    """Catalog records: everything but the identity may be null, and numbers may be NaN (treated as null)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Chain(_Lenient):
    name: str
    gecko_id: str | None = None
    tokenSymbol: str | None = None
    cmcId: str | None = None
    chainId: str | None = None
    tvl: float | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("chain name is empty")
        return value.strip()

    @field_validator("gecko_id", "tokenSymbol", "cmcId", "chainId", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> str | None:
        return _text(value)

    @field_validator("tvl", mode="before")
    @classmethod
    def _number(cls, value: Any) -> float | None:
        return optional_float(value)


class Protocol(_Lenient):
    slug: str
    id: str | None = None
    name: str
    category: str | None = None
    chains: list[str] = []
    gecko_id: str | None = None
    cmcId: str | None = None
    parentProtocol: str | None = None
    url: str | None = None
    symbol: str | None = None
    address: str | None = None
    tvl: float | None = None
    chainTvls: dict[str, Any] | None = None

    @field_validator("slug", "name")
    @classmethod
    def _required(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("id", "category", "gecko_id", "cmcId", "parentProtocol", "url", "symbol", "address",
                     mode="before")
    @classmethod
    def _texts(cls, value: Any) -> str | None:
        text = _text(value)
        return None if text in ("-", "null") else text

    @field_validator("chains", mode="before")
    @classmethod
    def _chains(cls, value: Any) -> list[str]:
        return [str(c) for c in value if c] if isinstance(value, list) else []

    @field_validator("tvl", mode="before")
    @classmethod
    def _number(cls, value: Any) -> float | None:
        return optional_float(value)


class Pool(_Lenient):
    """A yields ``/pools`` entry. Only the pool id, chain and project are required; the rest is often null."""

    model_config = ConfigDict(extra="ignore")

    pool: str
    chain: str
    project: str
    symbol: str | None = None
    poolMeta: str | None = None
    tvlUsd: float | None = None
    apy: float | None = None
    apyBase: float | None = None
    apyReward: float | None = None
    apyBase7d: float | None = None
    apyMean30d: float | None = None
    apyPct1D: float | None = None
    apyPct7D: float | None = None
    apyPct30D: float | None = None
    il7d: float | None = None
    volumeUsd1d: float | None = None
    volumeUsd7d: float | None = None
    stablecoin: bool | None = None
    ilRisk: str | None = None
    exposure: str | None = None
    outlier: bool | None = None
    rewardTokens: list[str] | None = None
    underlyingTokens: list[str] | None = None
    predictions: dict[str, Any] | None = None

    @field_validator("pool", "chain", "project")
    @classmethod
    def _required(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    # numbers: pydantic's own parsing (numbers and numeric strings; anything else rejects the pool). It is several
    # times faster than a Python validator per field, which matters at 20k+ pools; NaN is nulled in pool_row.

    @field_validator("symbol", "poolMeta", "ilRisk", "exposure", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> str | None:
        return _text(value)

    @field_validator("stablecoin", "outlier", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> bool | None:
        return value if isinstance(value, bool) else None

    @field_validator("rewardTokens", "underlyingTokens", mode="before")
    @classmethod
    def _tokens(cls, value: Any) -> list[str] | None:
        if not isinstance(value, list):
            return None
        return [str(t).strip() for t in value if isinstance(t, str) and t.strip()]

    @field_validator("predictions", mode="before")
    @classmethod
    def _predictions(cls, value: Any) -> dict | None:
        return value if isinstance(value, dict) else None


class ChartPoint(_Lenient):
    """A yields ``/chart/{pool}`` day: the last snapshot of a UTC day, ``timestamp`` an ISO string."""

    pool: str
    timestamp: datetime
    tvlUsd: float | None = None
    apy: float | None = None
    apyBase: float | None = None
    apyReward: float | None = None
    il7d: float | None = None
    apyBase7d: float | None = None

    @field_validator("timestamp", mode="before")
    @classmethod
    def _ts(cls, value: Any) -> datetime:
        return _checked(parse_ts, value)

    @field_validator("tvlUsd", "apy", "apyBase", "apyReward", "il7d", "apyBase7d", mode="before")
    @classmethod
    def _number(cls, value: Any) -> float | None:
        return optional_float(value)
