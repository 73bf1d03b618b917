"""The Helius hook: Enhanced Transactions by address, key in the ``api-key`` query parameter."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from cryptoflow.hooks.base import ApiError, ApiNotFound, CryptoflowHttpHook
from cryptoflow.secrets import redact_text
from cryptoflow.sources.helius.config import HeliusConfigError

DEFAULT_RPC_URL = "https://mainnet.helius-rpc.com"
# Helius answers a type-filtered search that found nothing in its scan window with HTTP 404 and this error; older
# deployments name the `before` parameter instead of `before-signature`.
_CONTINUE = re.compile(r"Failed to find events within the search period.*?`?(before-signature|after-signature|before|"
                       r"until)`? parameter set to ([1-9A-HJ-NP-Za-km-z]{32,90})", re.S)
NO_EVENTS = "Failed to find events within the search period"


@dataclass(frozen=True)
class HeliusSettings:
    """Our connection extra settings (besides the framework's rate limit and retry settings)."""

    page_limit: int = 100                     # transactions per page (API maximum 100)
    max_pages_per_address: int = 50           # a safety valve; beyond it the rest of the interval is a gap
    finality_lag_s: float = 45.0              # wait after the interval end so its blocks are finalized
    whale_threshold_usd: Decimal = Decimal("10000")
    alert_max_age_min: float = 60.0           # older movements are recorded, not alerted (backfills); 0 = always
    price_max_age_min: float = 15.0           # how old a stored price may be to value a movement
    token_type_filter: str | None = "SWAP"    # type filter of the watchlist-token queries (empty = all types)
    token_search_max_continuations: int = 50  # type-filter continuation errors followed per token and interval
    legacy_pagination: bool = False           # `before`/`until` and no time filters (older API deployments)
    fetch_quote_mints: bool = False           # also query SOL/USDC/USDT by mint (every swap on Solana touches them)

    KEYS: ClassVar[frozenset[str]] = frozenset({
        "rpc_url", "page_limit", "max_pages_per_address", "finality_lag_s", "whale_threshold_usd",
        "alert_max_age_min", "price_max_age_min", "token_type_filter", "token_search_max_continuations",
        "legacy_pagination", "fetch_quote_mints"})

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> HeliusSettings:
        def number(name: str, kind: type, low: float, high: float | None = None):
            raw = extra.get(name)
            if raw in (None, ""):
                return getattr(cls, name)
            try:
                value = kind(str(raw))
            except (ValueError, InvalidOperation):
                raise HeliusConfigError(f"helius: connection extra {name!r} is {raw!r}, not a number") from None
            if value < low or (high is not None and value > high):
                raise HeliusConfigError(f"helius: connection extra {name!r} is {raw!r}; allowed {low} to "
                                        f"{high if high is not None else 'any'}")
            return value

        def flag(name: str) -> bool:
            raw = extra.get(name)
            if raw in (None, ""):
                return getattr(cls, name)
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise HeliusConfigError(f"helius: connection extra {name!r} is {raw!r}; write true or false")
            return text in ("true", "1", "yes")

        type_filter = extra.get("token_type_filter", cls.token_type_filter)
        return cls(
            page_limit=number("page_limit", int, 1, 100),
            max_pages_per_address=number("max_pages_per_address", int, 1),
            finality_lag_s=number("finality_lag_s", float, 0, 600),
            whale_threshold_usd=number("whale_threshold_usd", Decimal, 0),
            alert_max_age_min=number("alert_max_age_min", float, 0),
            price_max_age_min=number("price_max_age_min", float, 0),
            token_type_filter=str(type_filter).strip().upper() or None if type_filter is not None else None,
            token_search_max_continuations=number("token_search_max_continuations", int, 0),
            legacy_pagination=flag("legacy_pagination"),
            fetch_quote_mints=flag("fetch_quote_mints"),
        )


class HeliusHook(CryptoflowHttpHook):
    """Helius Enhanced Transactions API (https://api-mainnet.helius-rpc.com).

    Connection ``helius``: password = API key (sent as the ``api-key`` query parameter, never stored); extra
    ``rpc_url`` (default https://mainnet.helius-rpc.com), the settings of :class:`HeliusSettings` and the
    framework's rate limit / retry settings. Free plan: 2 requests/s on the Enhanced APIs, the default here.
    """

    default_conn_name = "helius"
    hook_name = "Helius"
    source: ClassVar[str] = "helius"
    default_host = "https://api-mainnet.helius-rpc.com"
    api_key_env: ClassVar[str | None] = "HELIUS_API_KEY"
    requires_api_key: ClassVar[bool] = True
    default_rate_limit_per_s: ClassVar[float] = 2.0
    default_burst: ClassVar[int | None] = None
    default_max_workers: ClassVar[int] = 2
    source_extra_keys: ClassVar[frozenset[str]] = HeliusSettings.KEYS
    legacy_detected: bool = False   # set when the API refused the current parameter names during this run

    def authorize(self, url: str, params: dict, headers: dict) -> str:
        params["api-key"] = self.require_api_key()
        return url

    @property
    def settings(self) -> HeliusSettings:
        return HeliusSettings.from_extra(self.extra)

    @property
    def rpc_url(self) -> str:
        return str(self.extra.get("rpc_url") or DEFAULT_RPC_URL)

    def address_transactions(self, address: str, params: dict[str, Any], serves_until) -> list | dict:
        """One page of ``/v0/addresses/{address}/transactions``: a list of transactions, or the error object
        ``{"error": ...}`` of a type-filtered search that found nothing in its scan window (sent as HTTP 404)."""
        endpoint = f"v0/addresses/{address}/transactions"
        answer = self.request("GET", endpoint, params=params, serves_until=serves_until,
                              accept_status=frozenset({404}))
        if answer.status != 404:
            return answer.body
        if isinstance(answer.body, dict) and NO_EVENTS in str(answer.body.get("error", "")):
            return answer.body
        raise ApiNotFound(f"HTTP 404 from {self.http_conn_id}: {answer.url} ({redact_text(str(answer.body)[:300])})",
                          status=404)


def continuation(error: Any) -> tuple[str, str] | None:
    """(parameter, signature) to continue a type-filtered search from its error message, or None at the end."""
    match = _CONTINUE.search(str(error))
    return (match.group(1), match.group(2)) if match else None


def legacy_params_refused(exc: ApiError) -> bool:
    """An HTTP 400 that names one of the parameters older deployments do not know."""
    text = str(exc)
    return exc.status == 400 and any(name in text for name in (
        "before-signature", "after-signature", "gte-time", "lt-time", "sort-order"))
