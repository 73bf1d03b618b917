"""DefiLlama: one connection for its free hosts (api, stablecoins, yields, coins) and the Pro host.

The free hosts need no key. Pro requests carry the key in the URL path (``https://pro-api.llama.fi/<KEY>/api/...``):
they are built with a ``{api_key}`` slot that ``authorize`` fills, so the key exists only in the URL actually sent;
stored URLs, logs and errors show ``***`` because the connection password is registered as a secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from cryptoflow.hooks.base import ApiResponse, CryptoflowHttpHook

KEY_SLOT = "{api_key}"

DEFAULT_URLS = {
    "api": "https://api.llama.fi",
    "stablecoins": "https://stablecoins.llama.fi",
    "yields": "https://yields.llama.fi",
    "coins": "https://coins.llama.fi",
    "pro": "https://pro-api.llama.fi",
}


class DefiLlamaHook(CryptoflowHttpHook):
    """Connection ``defillama``: host = the free API (default https://api.llama.fi), password = optional Pro key,
    extra ``stablecoins_url``, ``yields_url``, ``coins_url``, ``pro_url`` for the other hosts."""

    default_conn_name = "defillama"
    hook_name = "DefiLlama"
    source = "defillama"
    default_host = DEFAULT_URLS["api"]
    api_key_env = "DEFILLAMA_API_KEY"
    requires_api_key = False
    default_rate_limit_per_s = 4.0    # free tier: no published limit; ~300 requests/minute is the reported ceiling
    default_burst = 8
    default_timeout_s = 60.0          # /pools and /protocols are large single responses
    source_extra_keys: ClassVar[frozenset[str]] = frozenset({"stablecoins_url", "yields_url", "coins_url", "pro_url"})

    def base_url_of(self, service: str) -> str:
        """The base URL of a DefiLlama service: ``api``, ``stablecoins``, ``yields``, ``coins`` or ``pro``."""
        if service == "api":
            _ = self.connection  # resolves self.base_url from the connection host
            return (self.base_url or self.default_host).rstrip("/")
        if service not in DEFAULT_URLS:
            raise ValueError(f"unknown DefiLlama service {service!r}")
        return str(self.extra.get(f"{service}_url") or DEFAULT_URLS[service]).rstrip("/")

    @property
    def has_pro_key(self) -> bool:
        return bool(self.api_key)

    def pro_url(self, path: str) -> str:
        """The Pro URL of ``path`` (e.g. ``/api/inflows/aave/1700000000``) with a slot for the key."""
        return f"{self.base_url_of('pro')}/{KEY_SLOT}/{path.lstrip('/')}"

    def authorize(self, url: str, params: dict, headers: dict) -> str:
        if KEY_SLOT in url:
            return url.replace(KEY_SLOT, self.require_api_key())
        return url

    def fetch(
        self,
        service: str,
        path: str,
        params: dict | None = None,
        *,
        serves_until: datetime | None = None,
    ) -> ApiResponse:
        """GET ``path`` from a service; ``service="pro"`` needs the key (MissingApiKey, a skip, without one)."""
        url = self.pro_url(path) if service == "pro" else f"{self.base_url_of(service)}/{path.lstrip('/')}"
        return self.request("GET", url, params=params, serves_until=serves_until)

    def fetch_json(self, service: str, path: str, params: dict | None = None, **kwargs: Any) -> Any:
        return self.fetch(service, path, params, **kwargs).body
