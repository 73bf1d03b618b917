"""What the Data health page shows, read from the warehouse's monitoring views (include/sql/health/*.sql)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from cryptoflow.health.db import describe_query_error
from cryptoflow.paths import read_sql

# window the charts cover -> bucket size (about 72 to 120 points per line)
WINDOWS: dict[str, tuple[timedelta, timedelta]] = {
    "6h": (timedelta(hours=6), timedelta(minutes=5)),
    "24h": (timedelta(hours=24), timedelta(minutes=15)),
    "3d": (timedelta(days=3), timedelta(hours=1)),
    "7d": (timedelta(days=7), timedelta(hours=2)),
    "30d": (timedelta(days=30), timedelta(hours=6)),
}
DEFAULT_WINDOW = "24h"
CANDLE_SOURCES = {"birdeye": "USD", "trades": "SOL"}   # candle source -> the unit of its prices
CANDLE_INTERVALS = ("1m", "5m", "15m", "1h", "6h", "24h")
CANDLE_LIMIT = 60
RECENT_PULLS = 30
RECENT_REJECTIONS = 25
RECORD_CHARS = 300
MAX_TOKEN_CHARS = 64
WRAPPED_SOL = "So11111111111111111111111111111111111111112"


@dataclass(frozen=True)
class PageRequest:
    """The page's query parameters, validated: anything unknown falls back to the default, with a notice."""

    window: str = DEFAULT_WINDOW
    token: str | None = None
    candle_source: str | None = None
    interval: str = "1m"
    notices: tuple[str, ...] = ()

    @classmethod
    def parse(cls, window: str | None, token: str | None, candle_source: str | None,
              interval: str | None) -> PageRequest:
        notices = []
        if window and window not in WINDOWS:
            notices.append(f"Unknown window {window!r}: showing {DEFAULT_WINDOW}. Choose one of {', '.join(WINDOWS)}.")
            window = None
        if candle_source and candle_source not in CANDLE_SOURCES:
            notices.append(f"Unknown candle source {candle_source!r}: choose one of {', '.join(CANDLE_SOURCES)}.")
            candle_source = None
        if interval and interval not in CANDLE_INTERVALS:
            notices.append(f"Unknown candle interval {interval!r}: showing 1m. "
                           f"Choose one of {', '.join(CANDLE_INTERVALS)}.")
            interval = None
        token = (token or "").strip() or None
        if token and (len(token) > MAX_TOKEN_CHARS or not token.isalnum()):
            notices.append("That token address is not a mint address (letters and digits only).")
            token = None
        return cls(window=window or DEFAULT_WINDOW, token=token, candle_source=candle_source,
                   interval=interval or "1m", notices=tuple(notices))


@dataclass
class Section:
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass
class PageData:
    request: PageRequest
    now: datetime
    since: datetime
    bucket: timedelta
    freshness: Section
    metrics: Section
    recent_pulls: Section
    rejections: Section
    tokens: Section
    candles: Section
    token: str | None = None           # the token whose candles are shown
    candle_source: str = "birdeye"


def _section(conn: psycopg.Connection, conninfo: str, sql_file: str, params: dict[str, Any]) -> Section:
    """One query; a failure is the section's message, so the rest of the page still shows."""
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(read_sql(f"health/{sql_file}"), params)
            return Section(rows=cur.fetchall())
    except psycopg.Error as exc:
        return Section(error=describe_query_error(exc, conninfo))


def _choose_token(request: PageRequest, tokens: list[dict[str, Any]]) -> tuple[str | None, str]:
    """The token and candle source to show: the requested ones, else a watchlist token with candles (SOL first)."""
    source = request.candle_source
    if request.token:
        if source is None:
            known = next((t for t in tokens if t["token"] == request.token), None)
            source = "trades" if known and not known["has_birdeye"] and known["has_trades"] else "birdeye"
        return request.token, source
    ranked = sorted(tokens, key=lambda t: (t["symbol"] != "SOL" and t["token"] != WRAPPED_SOL, t["symbol"] or "~",
                                           t["token"]))
    for wanted in ([source] if source else ["birdeye", "trades"]):
        for t in ranked:
            if t[f"has_{wanted}"]:
                return t["token"], wanted
    return (ranked[0]["token"] if ranked else None), source or "birdeye"


def load_page_data(conn: psycopg.Connection, conninfo: str, request: PageRequest) -> PageData:
    span, bucket = WINDOWS[request.window]
    now = conn.execute("SELECT now()").fetchone()[0]
    since = now - span
    tokens = _section(conn, conninfo, "candle_tokens.sql", {})
    token, candle_source = _choose_token(request, tokens.rows)
    candles = Section()
    if token:
        candles = _section(conn, conninfo, "latest_candles.sql", {
            "source": candle_source, "token": token, "interval": request.interval, "limit": CANDLE_LIMIT})
        candles.rows.reverse()   # oldest first
    return PageData(
        request=request, now=now, since=since, bucket=bucket,
        freshness=_section(conn, conninfo, "freshness.sql", {}),
        metrics=_section(conn, conninfo, "pull_metrics.sql", {"bucket": bucket, "since": since, "until": now}),
        recent_pulls=_section(conn, conninfo, "recent_pulls.sql", {"limit": RECENT_PULLS}),
        rejections=_section(conn, conninfo, "recent_rejections.sql",
                            {"limit": RECENT_REJECTIONS, "record_chars": RECORD_CHARS}),
        tokens=tokens, candles=candles, token=token, candle_source=candle_source,
    )
