"""Every enhanced transaction of one address whose block time lies in ``[start, end)``.

Requests ask for exactly the interval (``gte-time``/``lt-time``, newest first, ``commitment=finalized``) and page
with ``before-signature``, so a run's requests are the same on every re-run (and answered from the raw cache once
the interval is final) and a backfill never asks for one interval twice. A type-filtered search that finds nothing
in Helius' scan window answers with an error naming the signature to continue before; that is followed. The answer
is still filtered to the interval in code, and paging stops once a page reaches back before the interval, so a
deployment that ignores the time filters (``legacy_pagination``) loads the same rows, only with more requests.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptoflow.hooks.base import ApiError, MalformedResponse
from cryptoflow.sources.helius.hook import NO_EVENTS, HeliusHook, HeliusSettings, continuation, legacy_params_refused

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AddressQuery:
    address: str
    kind: str                       # "wallet" or "token"
    type_filter: str | None = None


@dataclass
class AddressResult:
    query: AddressQuery
    transactions: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    gap_before: str | None = None   # set when the page limit stopped the search: older ones were not fetched


class HeliusProtocolError(ApiError):
    """Helius answered with something that is neither a page of transactions nor a known error object."""


def _params(settings: HeliusSettings, query: AddressQuery, start: datetime, end: datetime,
            legacy: bool) -> dict[str, Any]:
    params: dict[str, Any] = {"commitment": "finalized", "limit": settings.page_limit}
    if not legacy:
        params.update({"sort-order": "desc", "gte-time": int(start.timestamp()),
                       "lt-time": math.ceil(end.timestamp())})
    if query.type_filter:
        params["type"] = query.type_filter
    return params


def fetch_interval(hook: HeliusHook, query: AddressQuery, start: datetime, end: datetime,
                   serves_until: datetime) -> AddressResult:
    settings = hook.settings
    legacy = settings.legacy_pagination or getattr(hook, "legacy_detected", False)
    result = AddressResult(query)
    t0, t1 = start.timestamp(), end.timestamp()
    before: str | None = None
    pages = continuations = 0
    while True:
        if pages >= settings.max_pages_per_address:
            result.gap_before = before
            break
        params = _params(settings, query, start, end, legacy)
        if before:
            params["before" if legacy else "before-signature"] = before
        try:
            body = hook.address_transactions(query.address, params, serves_until)
        except ApiError as exc:
            if not legacy and legacy_params_refused(exc):
                log.warning("helius: the API refused the current parameter names (%s); switching to the legacy "
                            "before/until paging without time filters", exc)
                hook.legacy_detected = legacy = True
                continue
            raise
        result.requests += 1
        if isinstance(body, dict) and "error" in body:
            found = continuation(body["error"])
            if found is None:
                if NO_EVENTS in str(body["error"]):
                    break   # nothing (more) in the searched range
                raise HeliusProtocolError(f"helius: {query.address}: error answer {str(body['error'])[:300]}")
            if continuations >= settings.token_search_max_continuations:
                result.gap_before = found[1]
                break
            continuations += 1
            before = found[1]
            continue
        if not isinstance(body, list):
            raise MalformedResponse(f"helius: {query.address}: expected a list of transactions, got "
                                    f"{type(body).__name__}")
        if not body:
            break
        pages += 1
        # out-of-interval answers are dropped; ones without a usable time are kept for validation to reject
        result.transactions.extend(tx for tx in body if not (t0 > _ts(tx) or _ts(tx) >= t1))
        last = body[-1]
        if not isinstance(last, dict) or not last.get("signature"):
            raise MalformedResponse(f"helius: {query.address}: the last transaction of a page has no signature")
        if _ts(last) < t0:
            break   # newest first: the rest is older than the interval
        if not query.type_filter and len(body) < settings.page_limit:
            break   # a short unfiltered page is the last one
        before = last["signature"]
    return result


def _ts(tx: Any) -> float:
    value = tx.get("timestamp") if isinstance(tx, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else float("nan")
