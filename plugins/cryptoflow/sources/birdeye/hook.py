"""The Birdeye HTTP hook: key in the ``X-API-KEY`` header, chain in the ``x-chain`` header."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from airflow.sdk.exceptions import AirflowFailException

from cryptoflow.hooks.base import CryptoflowHttpHook

DEFAULT_CHAIN = "solana"
OHLCV_ENDPOINTS = {"v1": "/defi/ohlcv", "v3": "/defi/v3/ohlcv"}
# Most candles one answer holds: the legacy endpoint truncates silently at 1000, v3 at its count_limit (<= 5000)
MAX_RECORDS = {"v1": 1000, "v3": 5000}
_CHAIN = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class BirdeyeConfigError(AirflowFailException):
    """Wrong settings (connection extra, watchlist): retrying cannot help, so the task fails without retries."""


class BirdeyeHook(CryptoflowHttpHook):
    """Birdeye public API (https://public-api.birdeye.so).

    Connection ``birdeye``: password = API key; extra ``chain`` (``x-chain`` header, default ``solana``),
    ``ohlcv_api`` (``v1`` = ``/defi/ohlcv``, the default and available on the free tier; ``v3`` =
    ``/defi/v3/ohlcv``), ``candles_per_request`` (default 1000) and the framework's rate limit / retry settings.
    """

    default_conn_name = "birdeye"
    hook_name = "Birdeye"
    source: ClassVar[str] = "birdeye"
    default_host = "https://public-api.birdeye.so"
    api_key_env: ClassVar[str | None] = "BIRDEYE_API_KEY"
    requires_api_key: ClassVar[bool] = True
    default_rate_limit_per_s: ClassVar[float] = 1.0   # the free (Standard) tier, per account
    default_burst: ClassVar[int | None] = 1
    source_extra_keys: ClassVar[frozenset[str]] = frozenset({"chain", "ohlcv_api", "candles_per_request"})

    @property
    def chain(self) -> str:
        chain = str(self.extra.get("chain") or DEFAULT_CHAIN).strip().lower()
        if not _CHAIN.match(chain):
            raise BirdeyeConfigError(
                f"birdeye: connection extra 'chain' is {chain!r}; expected a Birdeye chain name such as 'solana', "
                "'ethereum' or 'base'")
        return chain

    @property
    def ohlcv_api(self) -> str:
        api = str(self.extra.get("ohlcv_api") or "v1").strip().lower()
        if api not in OHLCV_ENDPOINTS:
            raise BirdeyeConfigError(
                f"birdeye: connection extra 'ohlcv_api' is {api!r}; expected one of {sorted(OHLCV_ENDPOINTS)}")
        return api

    @property
    def candles_per_request(self) -> int:
        value = self.setting("candles_per_request", 1000)
        if not 1 <= value <= MAX_RECORDS["v3"]:
            raise BirdeyeConfigError(
                f"birdeye: connection extra 'candles_per_request' is {value}; expected 1 to {MAX_RECORDS['v3']}")
        return value

    def authorize(self, url: str, params: dict, headers: dict) -> str:
        headers["X-API-KEY"] = self.require_api_key()
        headers["x-chain"] = self.chain
        headers.setdefault("accept", "application/json")
        return url

    def request_key(self, method: str, public_url: str, public_params: dict, json_body: Any = None) -> str:
        # the chain travels in a header, so it is not part of the URL: keep answers for two chains apart
        return CryptoflowHttpHook.request_key(method, public_url, {**public_params, "x-chain": self.chain},
                                              json_body)
