"""Settings of the trade stream service, from the environment (the same ``AIRFLOW_CONN_*`` values Airflow uses).

* ``AIRFLOW_CONN_PUMPPORTAL``: JSON ``{"conn_type": "generic", "host": "wss://pumpportal.fun/api/data",
  "password": "<key>", "extra": {...}}`` (or a URI). The key is sent as ``?api-key=``. Tuning keys may sit in
  ``extra`` (``batch_size``, ``flush_interval_s``, ...) or in ``TRADE_STREAM_<KEY>`` variables, which win.
* ``WAREHOUSE_DSN`` or ``AIRFLOW_CONN_WAREHOUSE`` (URI or JSON): the warehouse.
* ``AIRFLOW_API_URL`` (default ``AIRFLOW__API__BASE_URL`` or http://localhost:8080; ``off`` disables asset events),
  ``AIRFLOW_API_USER`` (default ``admin``), ``AIRFLOW_API_PASSWORD`` or the simple auth manager's generated password
  file (``AIRFLOW_API_PASSWORD_FILE``, ``AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE`` or
  ``$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from cryptoflow.secrets import register_secret

DEFAULT_URL = "wss://pumpportal.fun/api/data"
CONN_ENV = "AIRFLOW_CONN_PUMPPORTAL"
API_KEY_SETTING = "PUMPPORTAL_API_KEY"


class StreamConfigError(ValueError):
    pass


@dataclass
class Tuning:
    batch_size: int = 500                  # flush when this many trades are buffered ...
    flush_interval_s: float = 1.0          # ... or when the oldest buffered trade is this old
    max_buffer: int = 200_000              # beyond this, new trades are dropped and the loss recorded as a gap
    backoff_base_s: float = 1.0            # reconnect delays: base * 2^attempt, with jitter, capped
    backoff_max_s: float = 60.0
    open_timeout_s: float = 10.0
    ping_interval_s: float = 20.0          # keepalive; a dead connection is noticed after interval + timeout
    ping_timeout_s: float = 20.0
    status_interval_s: float = 10.0        # heartbeat into stream_status
    watchlist_refresh_s: float = 60.0      # re-read the watchlist table, (un)subscribe the difference
    asset_event_interval_s: float = 60.0   # at most one `trades` asset event per this many seconds
    gap_margin_s: float = 5.0              # gaps start this much before the last received message
    db_retry_max_s: float = 30.0           # back-off cap while the warehouse is unreachable
    stop_timeout_s: float = 15.0           # on SIGTERM, keep retrying the final flush this long
    subscribe_chunk: int = 1000            # keys per subscribe message (PumpPortal allows 5000)
    subscribe_new_tokens: bool = True


@dataclass
class ApiSettings:
    url: str | None
    user: str
    password: str | None
    password_files: tuple[str, ...] = ()
    asset_name: str = "trades"
    timeout_s: float = 5.0

    def resolve_password(self) -> str | None:
        """The password: given, or read now from the generated file (Airflow may start after the stream)."""
        if self.password:
            return self.password
        for candidate in self.password_files:
            try:
                password = json.loads(Path(candidate).read_text()).get(self.user)
            except (OSError, ValueError, AttributeError):
                continue
            if password:
                register_secret(password)
                return password
        return None


@dataclass
class StreamConfig:
    url: str                     # without the key
    api_key: str
    warehouse_dsn: str
    tuning: Tuning
    api: ApiSettings
    stream: str = "pumpportal"

    @property
    def connect_url(self) -> str:
        """The URL to connect to, key included: never log it (``display_url`` is the safe form)."""
        if not self.api_key:
            return self.url
        parts = urlsplit(self.url)
        query = parse_qsl(parts.query, keep_blank_values=True) + [("api-key", self.api_key)]
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, quote_via=quote), parts.fragment))

    @property
    def display_url(self) -> str:
        return self.url + (" (with api-key)" if self.api_key else " (no api-key)")


def _json_or_uri(value: str, what: str) -> dict:
    value = value.strip()
    if value.startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise StreamConfigError(f"{what} is not valid JSON ({exc.msg}); expected "
                                    '{"conn_type": ..., "host": ..., "password": ...}') from None
    parts = urlsplit(value)
    return {"conn_type": parts.scheme, "host": parts.hostname, "port": parts.port, "login": parts.username,
            "password": parts.password, "schema": parts.path.lstrip("/"),
            "extra": dict(parse_qsl(parts.query))}


def pumpportal_connection(env: dict[str, str]) -> tuple[str, str, dict]:
    """(url, key, extra) of the ``pumpportal`` connection."""
    raw = env.get(CONN_ENV)
    if not raw:
        return DEFAULT_URL, env.get(API_KEY_SETTING, ""), {}
    conn = _json_or_uri(raw, CONN_ENV)
    host = (conn.get("host") or DEFAULT_URL).strip()
    if "://" not in host:
        scheme = conn.get("schema") if conn.get("schema") in ("ws", "wss") else "wss"
        host = f"{scheme}://{host}" + (f":{conn['port']}" if conn.get("port") else "")
    if urlsplit(host).scheme not in ("ws", "wss"):
        raise StreamConfigError(f"{CONN_ENV}: host must be a ws:// or wss:// URL, got scheme "
                                f"{urlsplit(host).scheme!r}")
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra) if extra.strip() else {}
    return host, conn.get("password") or "", extra


def warehouse_dsn(env: dict[str, str]) -> str:
    if env.get("WAREHOUSE_DSN"):
        return env["WAREHOUSE_DSN"]
    raw = env.get("AIRFLOW_CONN_WAREHOUSE")
    if not raw:
        raise StreamConfigError("no warehouse: set WAREHOUSE_DSN or AIRFLOW_CONN_WAREHOUSE")
    if not raw.strip().startswith("{"):
        return raw.strip().replace("postgres://", "postgresql://", 1)
    import psycopg

    conn = _json_or_uri(raw, "AIRFLOW_CONN_WAREHOUSE")
    return psycopg.conninfo.make_conninfo(
        host=conn.get("host") or "localhost", port=conn.get("port") or 5432, user=conn.get("login") or None,
        password=conn.get("password") or None, dbname=conn.get("schema") or None)


def _coerce(value: object, kind: type) -> object:
    if kind is bool:
        return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")
    return kind(value)


def tuning(env: dict[str, str], extra: dict) -> Tuning:
    out = Tuning()
    for f in fields(Tuning):
        kind = type(getattr(out, f.name))
        for source, value in (("extra", extra.get(f.name)), ("env", env.get(f"TRADE_STREAM_{f.name.upper()}"))):
            if value in (None, ""):
                continue
            try:
                setattr(out, f.name, _coerce(value, kind))
            except (TypeError, ValueError):
                raise StreamConfigError(f"{f.name} ({source}): expected a {kind.__name__}, got {value!r}") from None
    if out.batch_size < 1 or out.flush_interval_s <= 0 or out.backoff_base_s < 0 or out.backoff_max_s <= 0:
        raise StreamConfigError("batch_size, flush_interval_s and backoff_max_s must be positive")
    return out


def api_settings(env: dict[str, str]) -> ApiSettings:
    url = env.get("AIRFLOW_API_URL", env.get("AIRFLOW__API__BASE_URL") or "http://localhost:8080").strip()
    if url.lower() in ("", "off", "none", "false"):
        return ApiSettings(url=None, user="", password=None)
    password = env.get("AIRFLOW_API_PASSWORD") or None
    register_secret(password)
    files = [env.get("AIRFLOW_API_PASSWORD_FILE"), env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")]
    if env.get("AIRFLOW_HOME"):
        files.append(str(Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"))
    return ApiSettings(url=url.rstrip("/"), user=env.get("AIRFLOW_API_USER") or "admin", password=password,
                       password_files=tuple(f for f in files if f),
                       asset_name=env.get("TRADE_STREAM_ASSET") or "trades")


def load(env: dict[str, str] | None = None) -> StreamConfig:
    env = dict(os.environ if env is None else env)
    url, key, extra = pumpportal_connection(env)
    register_secret(key)
    return StreamConfig(url=url, api_key=key, warehouse_dsn=warehouse_dsn(env), tuning=tuning(env, extra),
                        api=api_settings(env), stream=env.get("TRADE_STREAM_NAME") or "pumpportal")
