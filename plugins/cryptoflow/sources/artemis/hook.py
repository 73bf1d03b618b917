"""The Artemis data API (https://data-svc.artemisxyz.com): asset metric time series by symbol."""

from __future__ import annotations

from typing import ClassVar

from cryptoflow.hooks.base import CryptoflowHttpHook


class ArtemisHook(CryptoflowHttpHook):
    """``GET /data/api/{METRICS}/?symbols=...&startDate=...&endDate=...``; key in the ``APIKey`` query parameter.

    Connection ``artemis``: password = API key. Our extra keys: ``symbols_per_request`` and ``metrics_per_request``
    (batch sizes of the metrics requests) on top of the framework's rate limit, retry and timeout settings.
    """

    default_conn_name = "artemis"
    hook_name = "Artemis"
    source = "artemis"
    default_host = "https://data-svc.artemisxyz.com"
    api_key_env = "ARTEMIS_API_KEY"
    requires_api_key = True
    # No limit is published; Artemis's own client sends about one request per second.
    default_rate_limit_per_s: ClassVar[float] = 1.0
    default_burst: ClassVar[int | None] = 2
    default_symbols_per_request: ClassVar[int] = 25
    default_metrics_per_request: ClassVar[int] = 10
    source_extra_keys: ClassVar[frozenset[str]] = frozenset({"symbols_per_request", "metrics_per_request"})

    def authorize(self, url: str, params: dict, headers: dict) -> str:
        # As the official SDK does: the APIKey query parameter, plus the X-API-Key header. Neither is stored:
        # "APIKey" is a secret parameter name and headers never reach raw_responses.
        key = self.require_api_key()
        params["APIKey"] = key
        headers["X-API-Key"] = key
        return url

    @property
    def symbols_per_request(self) -> int:
        return max(1, self.setting("symbols_per_request", self.default_symbols_per_request))

    @property
    def metrics_per_request(self) -> int:
        return max(1, self.setting("metrics_per_request", self.default_metrics_per_request))
