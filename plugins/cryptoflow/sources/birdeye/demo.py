"""An offline stand-in for Birdeye's OHLCV endpoints, served by the replay server (``make demo`` and the tests).

Candles are generated, not recorded: the same token, type and bucket always give the same candle, for any window and
any date, so the DAG runs offline for any recent interval and re-fetching a window gives the same answer. The item
shapes are the recorded docs examples in ``include/demo/birdeye/``; prices and volumes come from ``tokens.json``.
It behaves like the API where the DAG must care: ``type`` is case-sensitive (``1M`` is a month), answers stop at
the record cap without saying so, one-minute buckets without trades are missing, a missing key is a 401 with
``success: false``, and the current candle is still open.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from cryptoflow.paths import INCLUDE_DIR

DEMO_DIR = INCLUDE_DIR / "demo" / "birdeye"
TYPE_SECONDS = {"1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1H": 3600, "2H": 7200, "4H": 14400,
                "6H": 21600, "8H": 28800, "12H": 43200, "1D": 86400, "3D": 259200, "1W": 604800, "1M": 2592000}
CHAINS = frozenset({"solana", "ethereum", "arbitrum", "avalanche", "bsc", "optimism", "polygon", "base", "zksync",
                    "monad", "hyperevm", "aptos", "fogo", "mantle", "sui"})
_BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")
Response = tuple[int, dict[str, str], Any]


def _load(name: str) -> Any:
    return json.loads((DEMO_DIR / name).read_text())


class FakeBirdeye:
    """Replay-server handlers for ``/defi/ohlcv`` (v1) and ``/defi/v3/ohlcv`` (v3).

    ``api_key``: the key to accept (None: any non-empty key). ``cap``: records per v1 answer. ``gap_every``: about one
    one-minute bucket in ``gap_every`` has no trades, so no candle. ``refuse``: addresses answered with 400.
    """

    def __init__(self, *, api_key: str | None = None, cap: int = 1000, gap_every: int = 7,
                 refuse: Iterable[str] = (), now: Callable[[], float] = time.time,
                 tokens: dict[str, Any] | None = None) -> None:
        self.api_key = api_key
        self.cap = cap
        self.gap_every = gap_every
        self.refuse = set(refuse)
        self.now = now
        spec = tokens if tokens is not None else _load("tokens.json")
        self.default = spec["default"]
        self.tokens = spec.get("tokens", {})
        self._specs: dict[str, tuple[float, float, float]] = {}
        # closed candles never change: remember them (bounded, the demo server runs for days)
        self._closed = functools.lru_cache(maxsize=200_000)(lambda t, a, b: self._make(t, a, b, None))
        self.v1_item = _load("ohlcv_v1_example.json")["data"]["items"][0]
        self.v3_item = _load("ohlcv_v3_example.json")["data"]["items"][0]

    # the market --------------------------------------------------------------------------------------------------
    @staticmethod
    def _units(*parts: object) -> tuple[float, float, float, float]:
        """Four numbers in [0, 1) that depend only on ``parts``."""
        digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
        return tuple(int.from_bytes(digest[i:i + 8], "big") / 2**64 for i in (0, 8, 16, 24))  # type: ignore[return-value]

    def _spec(self, token: str) -> tuple[float, float, float]:
        spec = self._specs.get(token)
        if spec is None:
            info = self.tokens.get(token, self.default)
            spec = self._specs[token] = (float(info["price"]), float(info["volume_per_minute"]),
                                         self._units(token, "phase")[0] * 2 * math.pi)
        return spec

    def price(self, token: str, ts: float) -> float:
        base, _, phase = self._spec(token)
        wave = (0.04 * math.sin(2 * math.pi * ts / 86400 + phase) + 0.015 * math.sin(2 * math.pi * ts / 5400 + phase)
                + 0.004 * math.sin(2 * math.pi * ts / 420 + 2 * phase))
        return float(f"{base * math.exp(wave):.12g}")

    def has_trades(self, token: str, api_type: str, bucket: int) -> bool:
        return self.candle(token, api_type, bucket) is not None

    def candle(self, token: str, api_type: str, bucket: int, now: float | None = None) -> dict[str, Any] | None:
        """The candle starting at ``bucket`` as of ``now``: None without trades; the open candle closes at now."""
        size = TYPE_SECONDS[api_type]
        if now is None or bucket + size <= now:
            return self._closed(token, api_type, bucket)
        return self._make(token, api_type, bucket, now)

    def _make(self, token: str, api_type: str, bucket: int, now: float | None) -> dict[str, Any] | None:
        u_trades, u_high, u_low, u_volume = self._units(token, api_type, bucket)
        size = TYPE_SECONDS[api_type]
        if size <= 60 and self.gap_every > 0 and u_trades < 1 / self.gap_every:
            return None
        end = bucket + size if now is None else min(bucket + size, now)
        _, per_minute, _ = self._spec(token)
        o, c = self.price(token, bucket), self.price(token, end)
        wiggle = 0.002 * min(1.0, size / 3600) + 0.0005
        h = float(f"{max(o, c) * (1 + wiggle * u_high):.12g}")
        low = float(f"{min(o, c) * (1 - wiggle * u_low):.12g}")
        volume = float(f"{per_minute * (end - bucket) / 60 * (0.5 + u_volume):.10g}")
        return {"o": o, "h": h, "l": low, "c": c, "v": volume, "v_usd": float(f"{volume * (o + c) / 2:.10g}"),
                "unix_time": bucket}

    def candles(self, token: str, api_type: str, time_from: int, time_to: int) -> list[dict[str, Any]]:
        """Every candle starting in ``[time_from, time_to]`` that exists now, oldest first (generic fields)."""
        size = TYPE_SECONDS[api_type]
        now = self.now()
        out = []
        bucket = -(-time_from // size) * size
        while bucket <= time_to and bucket <= now:
            candle = self.candle(token, api_type, bucket, now if bucket + size > now else None)
            if candle is not None:
                out.append(candle)
            bucket += size
        return out

    # HTTP ----------------------------------------------------------------------------------------------------------
    @staticmethod
    def _fail(status: int, message: str) -> Response:
        return status, {}, {"success": False, "message": message}

    def _check(self, request) -> tuple[Response | None, dict[str, Any]]:
        key = request.header("X-API-KEY")
        if not key or (self.api_key is not None and key != self.api_key):
            return self._fail(401, "Unauthorized"), {}
        chain = request.header("x-chain") or "solana"
        if chain not in CHAINS:
            return self._fail(400, f"chain {chain} is not supported"), {}
        q = request.query
        address, api_type = q.get("address", ""), q.get("type", "")
        if not address or (chain == "solana" and not _BASE58.match(address)) or address in self.refuse:
            return self._fail(400, "address is invalid format"), {}
        if api_type not in TYPE_SECONDS:
            return self._fail(400, f"type {api_type} is invalid"), {}
        try:
            time_from, time_to = int(q["time_from"]), int(q["time_to"])
        except (KeyError, ValueError):
            return self._fail(400, "time_from and time_to are required unix seconds"), {}
        if not 0 <= time_from <= time_to <= 10_000_000_000:
            return self._fail(400, "time_from / time_to out of range"), {}
        return None, {"address": address, "type": api_type, "time_from": time_from, "time_to": time_to,
                      "currency": q.get("currency", "usd")}

    def _item(self, template: dict[str, Any], candle: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        item = dict(template)   # flat: scalars only
        for key in item:
            if key in ("unixTime", "unix_time"):
                item[key] = candle["unix_time"]
            elif key in candle:
                item[key] = candle[key]
        item.update({"address": args["address"], "type": args["type"], "currency": args["currency"]})
        return item

    def handle_v1(self, request) -> Response:
        error, args = self._check(request)
        if error:
            return error
        found = self.candles(args["address"], args["type"], args["time_from"], args["time_to"])[: self.cap]
        items = [self._item(self.v1_item, c, args) for c in found]
        return 200, {}, {"success": True, "data": {"isScaledUiToken": False, "items": items}}

    def handle_v3(self, request) -> Response:
        error, args = self._check(request)
        if error:
            return error
        try:
            limit = int(request.query.get("count_limit", 5000))
        except ValueError:
            return self._fail(400, "count_limit must be a number")
        if not 0 <= limit <= 5000:
            return self._fail(400, "count_limit must be 0 to 5000")
        found = self.candles(args["address"], args["type"], args["time_from"], args["time_to"])[: limit or 5000]
        items = [self._item(self.v3_item, c, args) for c in found]
        return 200, {}, {"success": True, "data": {"is_scaled_ui_token": False, "items": items}}

    def register(self, server) -> FakeBirdeye:
        server.add("/defi/ohlcv", handler=self.handle_v1)
        server.add("/defi/v3/ohlcv", handler=self.handle_v3)
        return self


def register_demo(server) -> FakeBirdeye:
    """Add the Birdeye routes of the offline demo to a ReplayServer (any non-empty API key is accepted)."""
    return FakeBirdeye().register(server)
