"""Warehouse writes of the trade stream: one transaction per flush for trades, tokens, prices, rejected frames,
disconnect periods and the service's status row.

Trades are inserted with ``ON CONFLICT DO NOTHING``: Helius is authoritative and overwrites, the stream never does.
The feeds carry no trustworthy index of a trade within its transaction, so ``event_index`` is assigned here: a trade
whose transaction already has a stored trade of the same mint, side and trader (any trader when Helius stored it) is
a duplicate; otherwise it gets the next free index of that signature (0 for the first, as Helius numbers a
single-trade transaction).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from cryptoflow.stream.frames import WSOL_MINT, TokenRow, TradeRow, dumps

log = logging.getLogger(__name__)

_INSERT_TRADES = """
INSERT INTO trades (signature, event_index, source, block_time, slot, trader, mint, side, token_amount, quote_mint,
                    quote_amount, price, time_is_receive_time, feed_fields)
SELECT * FROM unnest(%s::text[], %s::int[], %s::text[], %s::timestamptz[], %s::bigint[], %s::text[], %s::text[],
                     %s::text[], %s::numeric[], %s::text[], %s::numeric[], %s::numeric[], %s::boolean[],
                     %s::text[]::jsonb[])
ON CONFLICT (signature, event_index) DO NOTHING
RETURNING signature, event_index
"""

_UPSERT_TOKENS = """
INSERT INTO tokens AS t (mint, symbol, name, decimals, uri, creator, metadata)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::int[], %s::text[], %s::text[], %s::text[]::jsonb[])
ON CONFLICT (mint) DO UPDATE SET
    symbol = coalesce(t.symbol, excluded.symbol),
    name = coalesce(t.name, excluded.name),
    decimals = coalesce(t.decimals, excluded.decimals),
    uri = coalesce(t.uri, excluded.uri),
    creator = coalesce(t.creator, excluded.creator),
    metadata = coalesce(excluded.metadata, '{}') || coalesce(t.metadata, '{}'),
    updated_at = now()
WHERE (t.symbol IS NULL AND excluded.symbol IS NOT NULL) OR (t.name IS NULL AND excluded.name IS NOT NULL)
   OR (t.decimals IS NULL AND excluded.decimals IS NOT NULL) OR (t.uri IS NULL AND excluded.uri IS NOT NULL)
   OR (t.creator IS NULL AND excluded.creator IS NOT NULL)
   OR NOT coalesce(t.metadata, '{}') ?& array(SELECT jsonb_object_keys(coalesce(excluded.metadata, '{}')))
"""

# The newest trade wins; an older price (a late flush, a Helius row written first) never replaces a newer one.
_UPSERT_PRICES = """
INSERT INTO token_prices AS p (mint, price, quote_mint, price_usd, ts, source, signature)
SELECT * FROM unnest(%s::text[], %s::numeric[], %s::text[], %s::numeric[], %s::timestamptz[], %s::text[], %s::text[])
ON CONFLICT (mint) DO UPDATE SET
    price = excluded.price, quote_mint = excluded.quote_mint, price_usd = excluded.price_usd, ts = excluded.ts,
    source = excluded.source, signature = excluded.signature, updated_at = now()
WHERE (excluded.ts, excluded.signature) > (p.ts, coalesce(p.signature, ''))
"""

# SOL's USD price from the newest Birdeye wrapped-SOL candle, to stamp token prices in USD too.
_SOL_USD = """
SELECT close FROM candles
WHERE source = 'birdeye' AND token = %s AND bucket_start <= %s AND bucket_start > %s - interval '1 hour'
ORDER BY bucket_start DESC LIMIT 1
"""

_STATUS = """
INSERT INTO stream_status AS s (stream, host, pid, started_at, state, connected_since, last_message_at, last_flush_at,
    subscribed_mints, frames, control_frames, malformed_frames, trades_received, trades_inserted, trades_duplicate,
    trades_buffered, flushes, flush_errors, reconnects, asset_events_sent, asset_events_failed, updated_at)
VALUES (%(stream)s, %(host)s, %(pid)s, %(started_at)s, %(state)s, %(connected_since)s, %(last_message_at)s,
    %(last_flush_at)s, %(subscribed_mints)s, %(frames)s, %(control_frames)s, %(malformed_frames)s,
    %(trades_received)s, %(trades_inserted)s, %(trades_duplicate)s, %(trades_buffered)s, %(flushes)s,
    %(flush_errors)s, %(reconnects)s, %(asset_events_sent)s, %(asset_events_failed)s, now())
ON CONFLICT (stream) DO UPDATE SET host = excluded.host, pid = excluded.pid, started_at = excluded.started_at,
    state = excluded.state, connected_since = excluded.connected_since, last_message_at = excluded.last_message_at,
    last_flush_at = excluded.last_flush_at, subscribed_mints = excluded.subscribed_mints, frames = excluded.frames,
    control_frames = excluded.control_frames, malformed_frames = excluded.malformed_frames,
    trades_received = excluded.trades_received, trades_inserted = excluded.trades_inserted,
    trades_duplicate = excluded.trades_duplicate, trades_buffered = excluded.trades_buffered,
    flushes = excluded.flushes, flush_errors = excluded.flush_errors, reconnects = excluded.reconnects,
    asset_events_sent = excluded.asset_events_sent, asset_events_failed = excluded.asset_events_failed,
    updated_at = now()
"""


@dataclass
class Gap:
    """A period without trades from the stream; written to ``stream_disconnects`` (again when it changes)."""

    disconnected_at: datetime
    reason: str
    mints: list[str]
    attempts: int = 0
    reconnected_at: datetime | None = None
    id: int | None = None
    version: int = 1      # bumped by ``touch`` on every change
    written: int = 0      # the version stored in the table

    @property
    def dirty(self) -> bool:
        return self.written != self.version

    def touch(self) -> None:
        self.version += 1


@dataclass
class Reject:
    reason: str
    frame: str
    received_at: datetime


@dataclass
class FlushResult:
    inserted: list[TradeRow] = field(default_factory=list)
    duplicates: int = 0


def assign_event_indexes(batch: Sequence[TradeRow], stored: Sequence[tuple]) -> tuple[list[tuple[int, TradeRow]], int]:
    """``(event_index, trade)`` for the trades of ``batch`` that are new, and how many were duplicates.

    ``stored`` are ``(signature, event_index, mint, trader, side, source)`` of trades already in the table for the
    batch's signatures.
    """
    by_signature: dict[str, list[tuple[int, str, str, str, str]]] = {}
    for signature, index, mint, trader, side, source in stored:
        by_signature.setdefault(signature, []).append((index, mint, trader, side, source))
    fresh: list[tuple[int, TradeRow]] = []
    duplicates = 0
    for trade in batch:
        known = by_signature.setdefault(trade.signature, [])
        if any(mint == trade.mint and side == trade.side and (trader == trade.trader or source == "helius")
               for _, mint, trader, side, source in known):
            duplicates += 1
            continue
        index = max((i for i, *_ in known), default=-1) + 1
        known.append((index, trade.mint, trade.trader, trade.side, trade.source))
        fresh.append((index, trade))
    return fresh, duplicates


def merge_tokens(tokens: Sequence[TokenRow]) -> list[TokenRow]:
    """One row per mint: the first non-empty value of each field, metadata merged (earlier keys win)."""
    merged: dict[str, TokenRow] = {}
    for token in tokens:
        prev = merged.get(token.mint)
        if prev is None:
            merged[token.mint] = token
            continue
        merged[token.mint] = TokenRow(
            mint=token.mint, symbol=prev.symbol or token.symbol, name=prev.name or token.name,
            decimals=prev.decimals if prev.decimals is not None else token.decimals, uri=prev.uri or token.uri,
            creator=prev.creator or token.creator, metadata=token.metadata | prev.metadata)
    return list(merged.values())


def latest_per_mint(trades: Sequence[TradeRow]) -> list[TradeRow]:
    latest: dict[str, TradeRow] = {}
    for trade in trades:
        prev = latest.get(trade.mint)
        if prev is None or (trade.block_time, trade.signature) > (prev.block_time, prev.signature):
            latest[trade.mint] = trade
    return list(latest.values())


class Writer:
    """The stream's warehouse connection (async, autocommit off); reconnects lazily after errors."""

    def __init__(self, dsn: str, stream: str):
        self.dsn = dsn
        self.stream = stream
        self._conn: psycopg.AsyncConnection | None = None

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await psycopg.AsyncConnection.connect(self.dsn, connect_timeout=10,
                                                               application_name=f"cryptoflow-stream-{self.stream}")
        return self._conn

    async def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            await self._conn.close()

    async def reset(self) -> None:
        """Drop the connection after an error; the next call opens a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # noqa: BLE001 - it is broken already
                pass

    async def previous_run(self, margin: timedelta) -> list[Gap]:
        """Open gaps left by earlier runs, plus one for a run that died without a clean shutdown."""
        conn = await self._connection()
        async with conn.transaction():
            status = await (await conn.execute(
                "SELECT state, last_message_at, updated_at FROM stream_status WHERE stream = %s",
                (self.stream,))).fetchone()
            rows = await (await conn.execute(
                """SELECT id, disconnected_at, reason, mints, attempts FROM stream_disconnects
                   WHERE stream = %s AND reconnected_at IS NULL ORDER BY disconnected_at""",
                (self.stream,))).fetchall()
        gaps = [Gap(disconnected_at=r[1], reason=r[2], mints=list(r[3]), attempts=r[4], id=r[0], written=1)
                for r in rows]
        if status is not None and status[0] != "stopped" and not gaps:
            last = min(t for t in (status[1], status[2]) if t is not None) - margin
            gaps.append(Gap(disconnected_at=last, reason=f"the previous run ended without a clean shutdown (last "
                            f"heartbeat {status[2]:%Y-%m-%d %H:%M:%S%z})", mints=[]))
        return gaps

    async def watchlist(self) -> list[str]:
        conn = await self._connection()
        async with conn.transaction():
            rows = await (await conn.execute("SELECT address FROM watchlist ORDER BY address")).fetchall()
        return [r[0] for r in rows]

    async def sync(self, *, batch: Sequence[TradeRow], tokens: Sequence[TokenRow], rejects: Sequence[Reject],
                   gaps: Sequence[Gap], status: dict[str, Any]) -> FlushResult:
        """Write everything in one transaction. On error nothing is written and the caller keeps its data."""
        conn = await self._connection()
        result = FlushResult()
        written: list[tuple[Gap, int, int]] = []   # (gap, its id, the version written): applied after the commit
        async with conn.transaction():
            cur = conn.cursor()
            for gap in gaps:
                if not gap.dirty:
                    continue
                version = gap.version
                if gap.id is None:
                    await cur.execute(
                        """INSERT INTO stream_disconnects (stream, disconnected_at, reconnected_at, reason, attempts,
                                                           mints)
                           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
                        (self.stream, gap.disconnected_at, gap.reconnected_at, gap.reason, gap.attempts, gap.mints))
                    written.append((gap, (await cur.fetchone())[0], version))
                else:
                    await cur.execute(
                        """UPDATE stream_disconnects SET reconnected_at = %s, attempts = %s WHERE id = %s""",
                        (gap.reconnected_at, gap.attempts, gap.id))
                    written.append((gap, gap.id, version))
            if batch:
                result = await self._insert_trades(cur, batch)
                if result.inserted:
                    await self._upsert_prices(cur, result.inserted)
            if tokens:
                await self._upsert_tokens(cur, merge_tokens(tokens))
            if rejects:
                await cur.executemany(
                    """INSERT INTO rejected_records (source, dataset, reason, record, rejected_at)
                       VALUES (%s, 'trades', %s, %s::jsonb, %s)""",
                    [(self.stream, r.reason, dumps({"frame": r.frame[:20_000]}), r.received_at) for r in rejects])
            status = dict(status, stream=self.stream)
            status["trades_inserted"] += len(result.inserted)
            status["trades_duplicate"] += result.duplicates
            await cur.execute(_STATUS, status)
        for gap, gap_id, version in written:
            gap.id = gap_id
            gap.written = max(gap.written, version)
        return result

    async def _insert_trades(self, cur: psycopg.AsyncCursor, batch: Sequence[TradeRow]) -> FlushResult:
        signatures = sorted({t.signature for t in batch})
        await cur.execute(
            "SELECT signature, event_index, mint, trader, side, source FROM trades WHERE signature = ANY(%s)",
            (signatures,))
        fresh, duplicates = assign_event_indexes(batch, await cur.fetchall())
        if not fresh:
            return FlushResult(duplicates=duplicates)
        columns: list[list[Any]] = [[] for _ in range(14)]
        for index, t in fresh:
            for i, value in enumerate((t.signature, index, t.source, t.block_time, t.slot, t.trader, t.mint, t.side,
                                       t.token_amount, t.quote_mint, t.quote_amount, t.price, t.time_is_receive_time,
                                       dumps(t.feed_fields))):
                columns[i].append(value)
        await cur.execute(_INSERT_TRADES, columns)
        written = {(r[0], r[1]) for r in await cur.fetchall()}
        inserted = [t for index, t in fresh if (t.signature, index) in written]
        # a key taken meanwhile (a Helius load committing between our read and insert) is a duplicate as well
        return FlushResult(inserted=inserted, duplicates=duplicates + len(fresh) - len(inserted))

    async def _upsert_prices(self, cur: psycopg.AsyncCursor, batch: Sequence[TradeRow]) -> None:
        latest = latest_per_mint(batch)
        newest = max(t.block_time for t in latest)
        await cur.execute(_SOL_USD, (WSOL_MINT, newest, newest))
        row = await cur.fetchone()
        sol_usd: Decimal | None = row[0] if row else None
        await cur.execute(_UPSERT_PRICES, (
            [t.mint for t in latest], [t.price for t in latest], [t.quote_mint for t in latest],
            [t.price * sol_usd if sol_usd is not None else None for t in latest], [t.block_time for t in latest],
            [t.source for t in latest], [t.signature for t in latest]))

    async def _upsert_tokens(self, cur: psycopg.AsyncCursor, tokens: Sequence[TokenRow]) -> None:
        await cur.execute(_UPSERT_TOKENS, (
            [t.mint for t in tokens], [t.symbol for t in tokens], [t.name for t in tokens],
            [t.decimals for t in tokens], [t.uri for t in tokens], [t.creator for t in tokens],
            [dumps(t.metadata) for t in tokens]))
