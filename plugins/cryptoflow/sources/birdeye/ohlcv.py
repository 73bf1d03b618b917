"""Birdeye OHLCV candles of the watchlist tokens into ``candles`` (source ``birdeye``).

A run for ``[start, end)`` stores, per token and timeframe T, the candles that *closed* in its interval:
``start < bucket_start + T <= end``. Candles still open at ``end`` belong to a later run, so re-running an interval
stores the same rows, and a backfill stores what the live runs did.

Requests cover fixed blocks of ``candles_per_request`` (default 1000) candles aligned to multiples of the block
length since the epoch. Every run inside a block sends the identical request, so during a backfill the block is
fetched once and the other runs read it from the raw cache (``serves_until``); a live run needs a fresh answer.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from airflow.sdk.exceptions import AirflowFailException

from cryptoflow.hooks.base import ApiError, ApiKeyRejected
from cryptoflow.ingest import Dataset, IngestContext
from cryptoflow.sources.birdeye.hook import MAX_RECORDS, OHLCV_ENDPOINTS, BirdeyeHook
from cryptoflow.sources.birdeye.models import (
    BirdeyeCandle,
    BirdeyeUnsuccessful,
    Timeframe,
    item_time,
    ohlcv_items,
)
from cryptoflow.sources.birdeye.watchlist import WatchedToken, load_watchlist
from cryptoflow.warehouse import TableSpec

log = logging.getLogger(__name__)
SOURCE = "birdeye"
TOKEN_REFUSED_STATUSES = frozenset({400, 404})   # Birdeye: bad address / wrong x-chain for the address


class BirdeyeTokenRefused(ApiError):
    """Birdeye refused the requests for one or more watchlist tokens (listed in the message)."""


@dataclass(frozen=True)
class Need:
    """The candles of one token and timeframe a run stores: bucket starts ``first`` to ``last`` (inclusive)."""

    token: str
    timeframe: Timeframe
    first: int
    last: int


@dataclass(frozen=True)
class Window:
    """One request: candles starting in ``[start, end)`` (unix seconds, multiples of the timeframe)."""

    token: str
    timeframe: Timeframe
    start: int
    end: int

    @property
    def slots(self) -> int:
        return (self.end - self.start) // self.timeframe.seconds

    def describe(self) -> str:
        return (f"{self.token} {self.timeframe.api_type} "
                f"[{_iso(self.start)}, {_iso(self.end)})")


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unix(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise AirflowFailException(f"interval bound {moment} has no time zone")
    return int(moment.timestamp() // 1)


def closing_buckets(timeframe: Timeframe, start: int, end: int) -> tuple[int, int] | None:
    """First and last bucket start of the candles that close in ``(start, end]``, or None when none does."""
    size = timeframe.seconds
    first = (start // size) * size          # the first bucket with bucket + size > start
    last = (end // size) * size - size      # the last bucket with bucket + size <= end
    return (first, last) if first <= last else None


def block_windows(need: Need, candles_per_request: int) -> list[Window]:
    """The fixed blocks that hold the needed candles (the same blocks for every run they serve)."""
    size = need.timeframe.seconds
    block = candles_per_request * size
    return [Window(need.token, need.timeframe, b, b + block)
            for b in range((need.first // block) * block, need.last + 1, block)]


def request_params(window: Window, api: str) -> dict[str, Any]:
    params: dict[str, Any] = {
        "address": window.token,
        "type": window.timeframe.api_type,
        "currency": "usd",
        "time_from": window.start,
        # one second short of the next block: whether Birdeye's bound is inclusive or not, no extra slot
        "time_to": window.end - 1,
    }
    if api == "v3":
        params.update({"mode": "range", "count_limit": MAX_RECORDS["v3"], "padding": "false"})
    return params


def fetch_window(hook: BirdeyeHook, window: Window, serves_until: datetime) -> list[Any]:
    """The raw items of ``window``; a window the record cap truncated is split and fetched again in halves."""
    api = hook.ohlcv_api
    items = _get(hook, window, api, serves_until)
    cap = MAX_RECORDS[api]
    if len(items) >= cap and window.slots > len(items):
        # The API returns at most `cap` candles and says nothing when it cut the answer short.
        half = window.slots // 2
        middle = window.start + half * window.timeframe.seconds
        log.warning("birdeye: %s returned %d candles, the most one answer holds, for %d possible: splitting "
                    "(lower candles_per_request to %d to avoid the extra requests)", window.describe(), len(items),
                    window.slots, cap)
        return (fetch_window(hook, Window(window.token, window.timeframe, window.start, middle), serves_until)
                + fetch_window(hook, Window(window.token, window.timeframe, middle, window.end), serves_until))
    return items


def _get(hook: BirdeyeHook, window: Window, api: str, serves_until: datetime) -> list[Any]:
    endpoint, params = OHLCV_ENDPOINTS[api], request_params(window, api)
    # an answer fetched once the window's last candle closed is complete for every run it serves
    complete_after = min(serves_until, datetime.fromtimestamp(window.end, UTC))
    try:
        response = hook.request("GET", endpoint, params=params, serves_until=complete_after)
    except ApiKeyRejected as exc:
        if exc.status != 403:
            raise
        # Birdeye answers 403 to a valid key whose package does not include the endpoint (or chain)
        raise ApiKeyRejected(
            f"birdeye: HTTP 403 for {endpoint}: the API key was accepted, but its Birdeye package does not include "
            f"this endpoint or chain ({hook.chain}). The free package has /defi/ohlcv (connection extra ohlcv_api "
            "'v1'); upgrade the package or change the connection's ohlcv_api / chain", status=403) from None
    try:
        return ohlcv_items(response.body, window.describe())
    except BirdeyeUnsuccessful:
        if not response.from_cache:
            raise
    log.warning("birdeye: the cached answer for %s says success=false; asking the API again", window.describe())
    return ohlcv_items(hook.request("GET", endpoint, params=params).body, window.describe())


class OhlcvDataset(Dataset):
    source: ClassVar[str] = SOURCE
    name: ClassVar[str] = "ohlcv"
    hook_class: ClassVar[type[BirdeyeHook]] = BirdeyeHook
    tables: ClassVar[tuple[TableSpec, ...]] = (
        TableSpec("candles", key=("source", "token", "interval", "bucket_start")),
    )
    stale_after: ClassVar[timedelta] = timedelta(minutes=30)

    def __init__(self, watchlist_path: str | None = None):
        self.watchlist_path = watchlist_path   # None: $CRYPTOFLOW_WATCHLIST or include/config/watchlist.csv

    def needs(self, tokens: list[WatchedToken], start: datetime, end: datetime) -> list[Need]:
        out = []
        for token in tokens:
            for timeframe in token.timeframes:
                buckets = closing_buckets(timeframe, _unix(start), _unix(end))
                if buckets is not None:
                    out.append(Need(token.address, timeframe, *buckets))
        return out

    def collect(self, ctx: IngestContext) -> dict[str, list[dict[str, Any]]]:
        hook: BirdeyeHook = ctx.hook  # type: ignore[assignment]
        tokens, origin = load_watchlist(ctx.warehouse, hook.chain, self.watchlist_path)
        if not tokens:
            log.warning("birdeye: no watchlist tokens in %s: nothing to load. Add tokens to "
                        "include/config/watchlist.csv", origin)
            return {"candles": []}
        needs = self.needs(tokens, ctx.interval_start, ctx.interval_end)
        per_request = hook.candles_per_request
        windows = sorted({w for need in needs for w in block_windows(need, per_request)},
                         key=lambda w: (w.token, w.timeframe.seconds, w.start))
        log.info("birdeye: %d tokens from %s, %d token/timeframe pairs with candles closing in [%s, %s), "
                 "%d requests (before cache)", len(tokens), origin, len(needs), ctx.interval_start,
                 ctx.interval_end, len(windows))

        failed = threading.Event()

        def fetch(window: Window) -> tuple[Window, list[Any] | None, ApiError | None]:
            if failed.is_set():   # the run fails anyway: do not spend requests (or a rejected key) on the rest
                return window, None, None
            try:
                return window, fetch_window(hook, window, ctx.interval_end), None
            except ApiError as exc:
                if exc.status in TOKEN_REFUSED_STATUSES and not isinstance(exc, BirdeyeUnsuccessful):
                    return window, None, exc
                failed.set()
                raise
            except Exception:
                failed.set()
                raise

        # the first request alone: a rejected key or an unreachable API shows up after one request, not one per worker
        results = [fetch(w) for w in windows[:1]] + hook.map_concurrently(fetch, windows[1:])
        answers = {w: (items, err) for w, items, err in results}
        refused = sorted({f"{w.token} ({w.timeframe.api_type}): {err}" for w, (_, err) in answers.items() if err})
        if refused:
            raise BirdeyeTokenRefused(
                f"birdeye refused {len(refused)} watchlist request(s); fix or remove these tokens in the watchlist "
                f"(or set the connection's x-chain, now {hook.chain!r}): " + "; ".join(refused[:10]),
                status=None)

        rows: list[dict[str, Any]] = []
        timeless = 0
        for need in needs:
            raw: list[Any] = []
            for window in block_windows(need, per_request):
                raw.extend(answers[window][0] or [])
            timeless += self._select(ctx, need, raw, rows)
        ctx.records_fetched = ctx.rejections.seen + timeless
        return {"candles": rows}

    @staticmethod
    def _select(ctx: IngestContext, need: Need, raw: list[Any], rows: list[dict[str, Any]]) -> int:
        """Validate the items of ``need``'s buckets into ``rows``; returns how many items had no candle time."""
        size, api_type = need.timeframe.seconds, need.timeframe.api_type
        wanted, timeless = [], 0
        for item in raw:
            start = item_time(item)
            if start is None:
                timeless += 1
                ctx.rejections.add(item, f"birdeye {need.token} {api_type}: item has no candle time "
                                         "(unixTime / unix_time)")
            elif need.first <= start <= need.last:
                wanted.append(item)
        for item in wanted:
            valid = ctx.rejections.validate([item], BirdeyeCandle)
            if not valid:
                continue
            candle = valid[0]
            where = f"birdeye {need.token} {api_type} at {_iso(candle.unix_time)}"
            if candle.unix_time % size:
                ctx.rejections.add(item, f"{where}: not on a {need.timeframe.name} boundary")
            elif candle.type is not None and candle.type != api_type:
                ctx.rejections.add(item, f"{where}: the API sent type {candle.type!r} for type {api_type!r}")
            elif candle.address is not None and candle.address != need.token:
                ctx.rejections.add(item, f"{where}: the API sent the candle of {candle.address}")
            else:
                rows.append({
                    "source": SOURCE,
                    "token": need.token,
                    "interval": need.timeframe.name,
                    "bucket_start": datetime.fromtimestamp(candle.unix_time, UTC),
                    "open": candle.open,
                    "high": candle.high,
                    "low": candle.low,
                    "close": candle.close,
                    "volume": candle.volume,
                    "volume_usd": candle.volume_usd,
                })
        return timeless
