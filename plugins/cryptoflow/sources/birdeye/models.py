"""Birdeye OHLCV: timeframes, the candle model (v1 camelCase and v3 snake_case) and the response envelope."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from cryptoflow.hooks.base import ApiError, MalformedResponse


@dataclass(frozen=True)
class Timeframe:
    name: str        # our candles.interval
    api_type: str    # Birdeye's `type`; case-sensitive: 1m is a minute, 1M a month, 1H an hour
    seconds: int


TIMEFRAMES: dict[str, Timeframe] = {tf.name: tf for tf in (
    Timeframe("1m", "1m", 60),
    Timeframe("3m", "3m", 180),
    Timeframe("5m", "5m", 300),
    Timeframe("15m", "15m", 900),
    Timeframe("30m", "30m", 1800),
    Timeframe("1h", "1H", 3600),
    Timeframe("2h", "2H", 7200),
    Timeframe("4h", "4H", 14400),
    Timeframe("6h", "6H", 21600),
    Timeframe("8h", "8H", 28800),
    Timeframe("12h", "12H", 43200),
    Timeframe("24h", "1D", 86400),   # stored as 24h, like the candles derived from trades
)}
DEFAULT_TIMEFRAMES: tuple[Timeframe, ...] = tuple(TIMEFRAMES[n] for n in ("1m", "5m", "15m", "1h"))
_SPELLING = re.compile(r"^(\d+)([a-zA-Z]+)$")


def parse_timeframe(text: str) -> Timeframe:
    """A timeframe as written in the watchlist: ``1m``, ``5m``, ``1h`` (``1H`` too), ``1d``/``24h``.

    Minutes must be a lower-case ``m``: ``1M`` is Birdeye's one-month candle and is refused, not guessed.
    """
    spelled = text.strip()
    match = _SPELLING.match(spelled)
    if not match:
        raise ValueError(f"timeframe {text!r} is not a number and a unit (e.g. 1m, 15m, 1h)")
    number, unit = match.groups()
    if unit in ("M", "mo", "W", "w"):
        raise ValueError(f"timeframe {text!r} is a week or month candle, which is not supported; "
                         "write 1m for one minute")
    if unit == "m":
        name = f"{number}m"
    elif unit.lower() == "h":
        name = f"{number}h"
    elif unit.lower() == "d" and number == "1":
        name = "24h"
    else:
        name = spelled
    if name not in TIMEFRAMES:
        raise ValueError(f"timeframe {text!r} is not supported; use one of {' '.join(TIMEFRAMES)}")
    return TIMEFRAMES[name]


class BirdeyeCandle(BaseModel):
    """One OHLCV item. v1: ``unixTime``; v3: ``unix_time`` and ``v_usd``. Prices in the requested currency (USD)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    unix_time: int = Field(validation_alias=AliasChoices("unixTime", "unix_time"))
    open: Decimal = Field(validation_alias=AliasChoices("o", "open"), gt=0, allow_inf_nan=False)
    high: Decimal = Field(validation_alias=AliasChoices("h", "high"), gt=0, allow_inf_nan=False)
    low: Decimal = Field(validation_alias=AliasChoices("l", "low"), gt=0, allow_inf_nan=False)
    close: Decimal = Field(validation_alias=AliasChoices("c", "close"), gt=0, allow_inf_nan=False)
    volume: Decimal | None = Field(None, validation_alias=AliasChoices("v", "volume"), ge=0, allow_inf_nan=False)
    volume_usd: Decimal | None = Field(None, validation_alias=AliasChoices("v_usd", "vUsd", "volumeUsd"), ge=0,
                                       allow_inf_nan=False)
    address: str | None = None
    type: str | None = None
    currency: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> BirdeyeCandle:
        if self.low > min(self.open, self.close) or self.high < max(self.open, self.close) or self.low > self.high:
            raise ValueError(f"inconsistent candle: low {self.low} / high {self.high} do not bracket open "
                             f"{self.open} and close {self.close}")
        return self


def item_time(item: Any) -> int | None:
    """The candle start of a raw item (either spelling), or None when it has no usable one."""
    if not isinstance(item, dict):
        return None
    value = item.get("unixTime", item.get("unix_time"))
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


class BirdeyeUnsuccessful(ApiError):
    """An answer with ``success: false``: Birdeye refused the request (the body's message says why)."""


def ohlcv_items(body: Any, what: str) -> list[Any]:
    """The ``data.items`` of an OHLCV answer (``[]`` when there are none); errors for ``success: false``."""
    if not isinstance(body, dict):
        raise MalformedResponse(f"birdeye: {what}: expected a JSON object, got {type(body).__name__}")
    if body.get("success") is False:
        message = body.get("message") or body.get("error") or "(no message)"
        raise BirdeyeUnsuccessful(f"birdeye: {what}: the API answered success=false: {str(message)[:300]}")
    data = body.get("data")
    if data is None:
        return []
    if not isinstance(data, dict):
        raise MalformedResponse(f"birdeye: {what}: 'data' is a {type(data).__name__}, expected an object")
    items = data.get("items")
    if items is None:
        return []
    if not isinstance(items, list):
        raise MalformedResponse(f"birdeye: {what}: 'data.items' is a {type(items).__name__}, expected a list")
    return items
