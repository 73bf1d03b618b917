"""The page's read-only connection to the warehouse, and errors an operator can act on (never a secret)."""

from __future__ import annotations

import re

import psycopg

from cryptoflow.secrets import redact_text

WAREHOUSE_CONN_ID = "warehouse"
CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 15_000

_PASSWORD_IN_TEXT = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)
_USERINFO_IN_URL = re.compile(r"(\w+://[^/:@\s]*):[^@/\s]*@")


class WarehouseUnavailable(RuntimeError):
    """The page cannot read the warehouse; the message says why and what to do, and holds no secret."""


def scrub(text: object, secrets: tuple[str, ...] = ()) -> str:
    """``text`` without passwords: known secret values, ``password=...`` pairs and ``user:password@`` in URLs."""
    out = redact_text(text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, "***")
    out = _PASSWORD_IN_TEXT.sub(r"\1***", out)
    return _USERINFO_IN_URL.sub(r"\1:***@", out)


def warehouse_conninfo(conn_id: str = WAREHOUSE_CONN_ID) -> str:
    """The libpq conninfo of Airflow connection ``conn_id`` (``AIRFLOW_CONN_<ID>`` or the metadata database)."""
    from cryptoflow.migrate import warehouse_dsn

    try:
        return warehouse_dsn(conn_id)
    except Exception as exc:  # AirflowNotFoundException, a malformed URI, ...
        raise WarehouseUnavailable(
            f"Airflow connection '{conn_id}' is not usable ({type(exc).__name__}: {scrub(exc)}). Define it "
            f"(AIRFLOW_CONN_{conn_id.upper()}, or Admin > Connections); `make run` writes it from .env.") from None


def connect(conninfo: str) -> psycopg.Connection:
    """A read-only autocommit connection with a statement timeout, or ``WarehouseUnavailable``."""
    password = psycopg.conninfo.conninfo_to_dict(conninfo).get("password") or ""
    try:
        return psycopg.connect(
            conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c default_transaction_read_only=on",
            application_name="cryptoflow-data-health")
    except psycopg.Error as exc:
        detail = " ".join(scrub(exc, (password,)).split())
        raise WarehouseUnavailable(
            f"Cannot connect to the warehouse (Airflow connection '{WAREHOUSE_CONN_ID}'): is its PostgreSQL "
            f"running? `make run` and `make demo` start the local cluster. The error was: {detail}") from None


def describe_query_error(exc: psycopg.Error, conninfo: str) -> str:
    """What an operator should know about a failed page query."""
    password = psycopg.conninfo.conninfo_to_dict(conninfo).get("password") or ""
    detail = scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, (password,))
    if isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedFunction):
        return (f"The warehouse lacks the monitoring views ({detail}): apply the migrations with `make migrate` "
                "(or `python -m cryptoflow.migrate`).")
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return f"A query took longer than {STATEMENT_TIMEOUT_MS // 1000} s and was cancelled ({detail})."
    if isinstance(exc, psycopg.OperationalError):
        return f"The warehouse connection failed during the query ({detail})."
    return f"The query failed: {type(exc).__name__}: {detail}"

