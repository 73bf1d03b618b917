"""The HTTP hook every source hook extends: rate limit, retries, timeouts, raw landing and cache, no leaked keys."""

from __future__ import annotations

import email.utils
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import requests
from airflow.providers.http.hooks.http import HttpHook
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSkipException,
)

from cryptoflow.hooks.rate_limit import limiter_for
from cryptoflow.secrets import is_secret_param, redact, redact_library_logs, redact_text, redact_url, register_secret

if TYPE_CHECKING:
    from cryptoflow.raw_store import RawStore

redact_library_logs()

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 524, 530})


class ApiError(AirflowException):
    """A request that did not give a usable answer. Messages never contain secrets."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(redact_text(message))
        self.status = status


class ApiNotFound(ApiError):
    """404: the entity or endpoint does not exist (not retried)."""


class ApiUnavailable(ApiError):
    """429s, 5xx, timeouts or connection errors that outlasted every retry."""


class MalformedResponse(ApiError):
    """A body that is not valid JSON (truncated, HTML error page, ...)."""


class ApiKeyRejected(ApiError, AirflowFailException):
    """401/403: retrying cannot help, so the task fails without Airflow retries."""


class MissingApiKey(AirflowSkipException):
    """The source needs a key and none is configured: the task is skipped, not failed."""


@dataclass
class ApiResponse:
    status: int
    body: Any
    url: str                  # redacted
    from_cache: bool = False
    fetched_at: datetime | None = None


@dataclass
class CallStats:
    """What the hook did, for the run log."""

    api_calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    http_429s: int = 0
    http_errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def add_latency(self, ms: float) -> None:
        with self._lock:
            self.latencies_ms.append(ms)

    def percentile(self, q: float) -> float | None:
        with self._lock:
            values = sorted(self.latencies_ms)
        if not values:
            return None
        index = min(len(values) - 1, max(0, int(round(q / 100 * (len(values) - 1)))))
        return values[index]


def _retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class CryptoflowHttpHook(HttpHook):
    """Base of the source hooks.

    Connection ``extra`` keys that are ours (never sent as headers): ``rate_limit_per_s``, ``burst``, ``timeout``,
    ``max_attempts``, ``backoff_base_s``, ``backoff_max_s``, ``max_retry_after_s``, ``max_workers`` and whatever a
    source adds in ``source_extra_keys``. Other extra keys are HTTP headers, as with ``HttpHook``.
    """

    conn_name_attr = "http_conn_id"
    default_conn_name = "http_default"
    conn_type = "http"
    hook_name = "cryptoflow HTTP"

    source: ClassVar[str] = "http"
    default_host = ""
    api_key_env: ClassVar[str | None] = None
    requires_api_key: ClassVar[bool] = False
    default_rate_limit_per_s: ClassVar[float] = 5.0
    default_burst: ClassVar[int | None] = None
    default_timeout_s: ClassVar[float] = 30.0
    default_max_attempts: ClassVar[int] = 5
    default_backoff_base_s: ClassVar[float] = 1.0
    default_backoff_max_s: ClassVar[float] = 30.0
    default_max_retry_after_s: ClassVar[float] = 120.0
    default_max_workers: ClassVar[int] = 4
    own_extra_keys: ClassVar[frozenset[str]] = frozenset(
        {"rate_limit_per_s", "burst", "timeout", "max_attempts", "backoff_base_s", "backoff_max_s",
         "max_retry_after_s", "max_workers"})
    source_extra_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, http_conn_id: str | None = None, method: str = "GET", **kwargs: Any) -> None:
        super().__init__(method=method, http_conn_id=http_conn_id or self.default_conn_name, **kwargs)
        self.stats = CallStats()
        self.raw_store: RawStore | None = None
        self.dataset: str | None = None
        self._connection = None
        self._local = threading.local()

    # -- connection --------------------------------------------------------------------------------------------
    @classmethod
    def get_connection(cls, conn_id: str):
        """The connection, or the source's documented default when none is configured."""
        try:
            return super().get_connection(conn_id)
        except AirflowNotFoundException:
            from airflow.sdk import Connection

            return Connection(conn_id=conn_id, conn_type=cls.conn_type, host=cls.default_host)

    @property
    def connection(self):
        if self._connection is None:
            self._connection = self.get_connection(self.http_conn_id)
            register_secret(self._connection.password)
            self._set_base_url(self._connection)
        return self._connection

    @property
    def extra(self) -> dict:
        return self.connection.extra_dejson or {}

    def setting(self, name: str, default: Any) -> Any:
        value = self.extra.get(name)
        if value in (None, ""):
            return default
        return type(default)(value) if isinstance(default, int | float) and not isinstance(default, bool) else value

    @property
    def api_key(self) -> str | None:
        return self.connection.password or None

    def require_api_key(self) -> str:
        key = self.api_key
        if not key:
            where = f"set {self.api_key_env} in .env" if self.api_key_env else "set the API key"
            raise MissingApiKey(
                f"{self.source}: no API key configured; {where} (or the password of Airflow connection "
                f"'{self.http_conn_id}'). Skipping.")
        return key

    def _configure_session_from_extra(self, session, connection, extra_options):
        session = super()._configure_session_from_extra(session, connection, extra_options)
        for key in self.own_extra_keys | self.source_extra_keys:
            session.headers.pop(key, None)
        return session

    @property
    def session(self) -> requests.Session:
        """One session per thread (requests sessions are not thread-safe)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self.get_conn()
        return session

    # -- what a source overrides ----------------------------------------------------------------------------------
    def authorize(self, url: str, params: dict, headers: dict) -> str:
        """Add the API key to the request (header, query or path); returns the URL to call."""
        return url

    # -- requests ------------------------------------------------------------------------------------------------
    def url_for(self, endpoint: str, base_url: str | None = None) -> str:
        if endpoint.startswith(("http://", "https://")):
            return endpoint
        if base_url is None:
            _ = self.connection  # resolves self.base_url
            base_url = self.base_url
        base = base_url.rstrip("/")
        return f"{base}/{endpoint.lstrip('/')}" if endpoint else base

    @staticmethod
    def request_key(method: str, public_url: str, public_params: dict, json_body: Any = None) -> str:
        canonical = json.dumps([method.upper(), public_url, public_params, json_body], sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def get_json(self, endpoint: str, params: dict | None = None, **kwargs: Any) -> Any:
        return self.request("GET", endpoint, params=params, **kwargs).body

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict | None = None,
        json_body: Any = None,
        headers: dict | None = None,
        base_url: str | None = None,
        serves_until: datetime | None = None,
        accept_status: frozenset[int] = frozenset(),
    ) -> ApiResponse:
        """Send one request (or answer it from the raw cache) and return its parsed JSON body.

        ``serves_until``: the end of the interval this answer is for. A 200 answer to the same request received at
        or after that time is complete for the interval, so it is reused instead of calling the API again.
        ``accept_status``: error statuses the API documents as answers (their JSON body is returned, not raised).
        """
        params = dict(params or {})
        headers = dict(headers or {})
        url = self.authorize(self.url_for(endpoint, base_url), params, headers)
        public_url = redact_url(url)
        public_params = {k: v for k, v in params.items() if not is_secret_param(k)}
        key = self.request_key(method, public_url, public_params, json_body)

        if serves_until is not None and self.raw_store is not None:
            cached = self.raw_store.lookup(key, fetched_at_or_after=serves_until)
            if cached is not None:
                self.stats.add(cache_hits=1)
                body, fetched_at = cached
                return ApiResponse(status=200, body=body, url=public_url, from_cache=True, fetched_at=fetched_at)

        max_attempts = self.setting("max_attempts", self.default_max_attempts)
        timeout = self.setting("timeout", self.default_timeout_s)
        limiter = limiter_for(self.http_conn_id, self.setting("rate_limit_per_s", self.default_rate_limit_per_s),
                              self.extra.get("burst", self.default_burst))
        last_problem = ""
        for attempt in range(1, max_attempts + 1):
            started = time.monotonic()
            retry_after = None
            try:
                with limiter.slot():
                    started = time.monotonic()
                    self.stats.add(api_calls=1)
                    resp = self.session.request(method, url, params=params or None, json=json_body,
                                                headers=headers, timeout=timeout)
                    content = resp.content
            except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                # requests' messages carry the full URL: keep only the exception type and a redacted reason
                last_problem = f"{type(exc).__name__}: {redact_text(exc)}"
                self.stats.add(http_errors=1)
                self.stats.add_latency((time.monotonic() - started) * 1000)
                self._land(method, public_url, public_params, key, None, None, str(last_problem), started)
            else:
                elapsed_ms = (time.monotonic() - started) * 1000
                self.stats.add_latency(elapsed_ms)
                status = resp.status_code
                # an API may echo the key back (error bodies often do): it must not reach raw_responses
                text = redact(content.decode(resp.encoding or "utf-8", errors="replace"))
                body, parse_error = None, None
                try:
                    body = json.loads(text) if text.strip() else None
                except ValueError as exc:
                    parse_error = f"body is not valid JSON ({exc.msg} at char {exc.pos} of {len(text)})"
                fetched_at = self._land(method, public_url, public_params, key, status, body,
                                        text if parse_error or body is None else None, started)
                if (200 <= status < 300 or status in accept_status) and parse_error is None:
                    if status >= 300:
                        self.stats.add(http_errors=1)
                    return ApiResponse(status=status, body=body, url=public_url, fetched_at=fetched_at)
                if 200 <= status < 300:
                    last_problem = f"HTTP {status} but {parse_error}; the response was probably truncated"
                    self.stats.add(http_errors=1)
                else:
                    self.stats.add(http_errors=1)
                    snippet = redact_text(text[:300])
                    if status == 429:
                        self.stats.add(http_429s=1)
                    if status in (401, 403):
                        hint = f"set a valid {self.api_key_env}" if self.api_key_env else "check the credentials"
                        raise ApiKeyRejected(
                            f"API key rejected for {self.http_conn_id} (HTTP {status} from {public_url}): {hint} in "
                            f".env or the password of Airflow connection '{self.http_conn_id}'", status=status)
                    if status == 404:
                        raise ApiNotFound(f"HTTP 404 from {self.http_conn_id}: {public_url} ({snippet})", status=404)
                    if status not in RETRYABLE_STATUS:
                        raise ApiError(f"HTTP {status} from {self.http_conn_id}: {method} {public_url}: {snippet}",
                                       status=status)
                    last_problem = f"HTTP {status}: {snippet}"
                    retry_after = _retry_after_seconds(resp.headers.get("Retry-After"))
            if attempt == max_attempts:
                break
            self.stats.add(retries=1)
            time.sleep(self._backoff(attempt, retry_after))
        if last_problem.startswith("HTTP 2"):
            raise MalformedResponse(
                f"{self.http_conn_id}: {method} {public_url} gave an unusable body after {max_attempts} attempts: "
                f"{last_problem}")
        raise ApiUnavailable(
            f"{self.http_conn_id}: {method} {public_url} failed after {max_attempts} attempts; last: {last_problem}")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.setting("max_retry_after_s", self.default_max_retry_after_s))
        base = self.setting("backoff_base_s", self.default_backoff_base_s)
        cap = self.setting("backoff_max_s", self.default_backoff_max_s)
        return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))  # full jitter

    def _land(self, method, public_url, public_params, key, status, body, body_text, started) -> datetime | None:
        if self.raw_store is None:
            return None
        return self.raw_store.store(
            source=self.source, dataset=self.dataset, conn_id=self.http_conn_id, method=method, url=public_url,
            params=public_params, request_key=key, status=status, body=body,
            body_text=body_text,
            elapsed_ms=(time.monotonic() - started) * 1000)

    def map_concurrently(self, fn: Callable[[Any], Any], items: Iterable[Any], max_workers: int | None = None) -> list:
        """``[fn(item) for item in items]`` on a bounded pool of threads; the first exception is raised."""
        items = list(items)
        workers = max_workers or self.setting("max_workers", self.default_max_workers)
        if workers <= 1 or len(items) <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{self.source}-fetch") as pool:
            return list(pool.map(fn, items))
