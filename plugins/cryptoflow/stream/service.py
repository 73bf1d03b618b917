"""The live trade stream: ONE websocket connection to PumpPortal, micro-batched into the warehouse.

* Subscribes to new tokens and to the trades of the ``watchlist`` tokens (re-read periodically; the difference is
  (un)subscribed on the same connection: PumpPortal bans clients that open several).
* Buffers trades and flushes every ``flush_interval_s`` or ``batch_size`` trades, whichever comes first, in one
  transaction (``writer.Writer.sync``); a failed flush keeps the trades and is retried with back-off.
* Reconnects with capped, jittered exponential back-off and records every period without data in
  ``stream_disconnects`` (from a little before the last received message until the subscription is back), so it can
  be filled from Helius history. A stop (SIGTERM/SIGINT) flushes what is buffered and records a gap that the next
  start closes; a crash is detected at the next start from the stale heartbeat.
* Malformed frames are logged, counted and kept in ``rejected_records``; they never stop the stream.
* After flushes that inserted trades, records a ``trades`` asset event through Airflow's REST API (at most one per
  ``asset_event_interval_s``) so the ``candles`` DAG runs; failures are logged and counted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from cryptoflow.secrets import RedactingFilter, redact
from cryptoflow.stream.airflow_api import AirflowAssetClient, AssetEventError
from cryptoflow.stream.config import StreamConfig
from cryptoflow.stream.frames import MalformedFrame, TokenRow, TradeRow, dumps, parse_frame
from cryptoflow.stream.writer import Gap, Reject, Writer

log = logging.getLogger(__name__)
for _name in ("websockets", "websockets.client"):
    logging.getLogger(_name).addFilter(RedactingFilter())


@dataclass
class Counters:
    frames: int = 0
    control_frames: int = 0
    malformed_frames: int = 0
    trades_received: int = 0
    trades_inserted: int = 0
    trades_duplicate: int = 0
    flushes: int = 0
    flush_errors: int = 0
    reconnects: int = 0
    asset_events_sent: int = 0
    asset_events_failed: int = 0


def utcnow() -> datetime:
    return datetime.now(UTC)


class TradeStream:
    def __init__(self, config: StreamConfig, *, writer: Writer | None = None,
                 asset_client: AirflowAssetClient | None = None, now: Callable[[], datetime] = utcnow):
        self.config = config
        self.tuning = config.tuning
        self.writer = writer or Writer(config.warehouse_dsn, config.stream)
        self.assets = asset_client or AirflowAssetClient(config.api)
        self._now = now
        self.counters = Counters()
        self.buffer: list[TradeRow] = []
        self.pending_tokens: list[TokenRow] = []
        self.rejects: list[Reject] = []
        self.gaps: list[Gap] = []
        self.state = "connecting"
        self.started_at = now()
        self.connected_since: datetime | None = None
        self.last_message_at: datetime | None = None
        self.last_flush_at: datetime | None = None
        self.subscribed: set[str] = set()
        self.watchlist: list[str] | None = None
        self._tokens_seen: set[tuple[str, bool]] = set()
        self._buffer_since: float | None = None
        self._overflow: Gap | None = None
        self._ws: ClientConnection | None = None
        self._send_lock = asyncio.Lock()
        self._sync_lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._flush_wanted = asyncio.Event()
        self._asset_wanted = asyncio.Event()
        self._asset_pending: dict[str, Any] | None = None
        self._asset_failures_logged = 0
        self._last_summary = 0.0

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Stop soon: close the connection, flush, record the gap. Safe to call from a signal handler."""
        if self._stop.is_set():
            return
        log.info("stop requested: flushing %d buffered trade(s) and closing the connection", len(self.buffer))
        self._stop.set()
        if self._ws is not None:
            asyncio.ensure_future(self._ws.close())

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)

    async def run(self) -> None:
        self.started_at = self._now()
        log.info("trade stream %r starting: %s, batches of %d or every %.1fs", self.config.stream,
                 self.config.display_url, self.tuning.batch_size, self.tuning.flush_interval_s)
        if not self.config.api_key:
            log.warning("PUMPPORTAL_API_KEY is not set: subscribing to new tokens only (PumpPortal sends token "
                        "trades only to clients with a key); set it in .env / the pumpportal connection")
        await self._startup()
        helpers = [asyncio.create_task(coro) for coro in (self._flush_loop(), self._status_loop(),
                                                           self._watchlist_loop(), self._asset_loop())]
        try:
            if not self._stop.is_set():
                await self._connection_loop()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._shutdown()

    async def _startup(self) -> None:
        """Pick up the gaps earlier runs left open; waits (with back-off) for the warehouse."""
        attempt = 0
        while not self._stop.is_set():
            try:
                self.gaps = await self.writer.previous_run(timedelta(seconds=self.tuning.gap_margin_s))
                self.watchlist = await self.writer.watchlist()
                for gap in self.gaps:
                    log.info("open gap since %s: %s", gap.disconnected_at, gap.reason)
                return
            except Exception as exc:  # noqa: BLE001 - keep trying; the stream must come up once the DB does
                delay = self._backoff(attempt, self.tuning.db_retry_max_s)
                attempt += 1
                log.error("cannot read the warehouse at start (%s; is it up and migrated?); retrying in %.1fs",
                          redact(exc), delay)
                await self.writer.reset()
                await self._sleep(delay)

    async def _shutdown(self) -> None:
        now = self._now()
        if self._open_gap() is None:
            self.gaps.append(Gap(disconnected_at=now - timedelta(seconds=self.tuning.gap_margin_s),
                                 reason="service stopped", mints=sorted(self.subscribed)))
        self.state = "stopped"
        deadline = time.monotonic() + self.tuning.stop_timeout_s
        while True:
            ok = await self.flush(everything=True)
            if ok or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        if self.buffer:
            log.error("stopping with %d trade(s) not written (warehouse unreachable): fill %s -> %s from Helius "
                      "history", len(self.buffer), self.buffer[0].block_time, self.buffer[-1].block_time)
        if self._asset_pending is not None:
            await self._send_asset_event()
        await self.writer.close()
        log.info("trade stream stopped: %s", asdict(self.counters))

    # -- connection ------------------------------------------------------------------------------------------------
    async def _connection_loop(self) -> None:
        attempt = 0
        first = True
        while not self._stop.is_set():
            self.state = "connecting"
            reason = "the server closed the connection"
            try:
                async with connect(self.config.connect_url, open_timeout=self.tuning.open_timeout_s,
                                   ping_interval=self.tuning.ping_interval_s, ping_timeout=self.tuning.ping_timeout_s,
                                   close_timeout=2, max_size=2**22, user_agent_header="cryptoflow-trade-stream",
                                   proxy=None) as ws:
                    self._ws = ws
                    if self._stop.is_set():
                        break
                    await self._subscribe(ws, sorted(self.watchlist or []))
                    self._on_connected(first)
                    first = False
                    attempt = 0
                    async for message in ws:
                        self._on_message(message)
                        if self._stop.is_set():
                            break
            except InvalidStatus as exc:
                status = exc.response.status_code
                reason = f"handshake refused: HTTP {status}"
                if status in (401, 403):
                    reason += " (is PUMPPORTAL_API_KEY right?)"
            except ConnectionClosed as exc:
                reason = f"connection lost: {redact(exc)}"
            except (OSError, TimeoutError, WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {redact(exc) or 'no detail'}"
            finally:
                self._ws = None
            if self._stop.is_set():
                break
            self._on_disconnected(reason)
            delay = self._backoff(attempt, self.tuning.backoff_max_s)
            attempt += 1
            log.warning("%s; reconnecting in %.1fs (attempt %d)", reason, delay, attempt)
            await self._sleep(delay)

    async def _subscribe(self, ws: ClientConnection, mints: list[str]) -> None:
        if self.tuning.subscribe_new_tokens:
            await self._send(ws, {"method": "subscribeNewToken"})
        self.subscribed = set()
        if mints and self.config.api_key:
            await self._send_keys(ws, "subscribeTokenTrade", mints)
            self.subscribed = set(mints)
        log.info("subscribed: new tokens=%s, %d watchlist token(s)", self.tuning.subscribe_new_tokens,
                 len(self.subscribed))

    async def _send_keys(self, ws: ClientConnection, method: str, keys: list[str]) -> None:
        chunk = max(1, self.tuning.subscribe_chunk)
        for i in range(0, len(keys), chunk):
            await self._send(ws, {"method": method, "keys": keys[i:i + chunk]})

    async def _send(self, ws: ClientConnection, message: dict) -> None:
        async with self._send_lock:
            await ws.send(dumps(message))

    def _on_connected(self, first: bool) -> None:
        now = self._now()
        self.state = "connected"
        self.connected_since = now
        if not first:
            self.counters.reconnects += 1
        for gap in self.gaps:
            if gap.reconnected_at is None and gap is not self._overflow:
                gap.reconnected_at = max(now, gap.disconnected_at)
                gap.touch()
                log.info("receiving again; gap %s -> %s recorded (%s)", gap.disconnected_at, now, gap.reason)
        self._flush_wanted.set()

    def _open_gap(self) -> Gap | None:
        return next((g for g in self.gaps if g.reconnected_at is None and g is not self._overflow), None)

    def _on_disconnected(self, reason: str) -> None:
        now = self._now()
        was_connected = self.state == "connected"
        self.state = "disconnected"
        gap = self._open_gap()
        if gap is not None:
            gap.attempts += 1
            gap.touch()
            return
        # the connection was verified alive at the last message or keepalive pong; anything after may be lost
        alive = [t for t in (self.last_message_at, self.connected_since) if t is not None and was_connected]
        alive.append(now - timedelta(seconds=self.tuning.ping_interval_s + self.tuning.ping_timeout_s))
        start = min(max(alive), now) - timedelta(seconds=self.tuning.gap_margin_s)
        self.gaps.append(Gap(disconnected_at=start, reason=reason, mints=sorted(self.subscribed), attempts=1))
        self._flush_wanted.set()

    def _backoff(self, attempt: int, cap: float) -> float:
        delay = min(cap, self.tuning.backoff_base_s * (2 ** min(attempt, 30)))
        return delay * (0.5 + random.random() / 2)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    # -- frames ----------------------------------------------------------------------------------------------------
    def _on_message(self, message: str | bytes) -> None:
        now = self._now()
        self.counters.frames += 1
        self.last_message_at = now
        try:
            parsed = parse_frame(message, now)
        except MalformedFrame as exc:
            self.counters.malformed_frames += 1
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            log.warning("malformed frame skipped (%s): %.200s", exc, redact(text))
            self.rejects.append(Reject(reason=f"malformed frame: {exc}", frame=redact(text), received_at=now))
            return
        if parsed.reply is not None and self._ws is not None:
            asyncio.ensure_future(self._reply(parsed.reply))
        if parsed.kind == "control":
            self.counters.control_frames += 1
            text = redact(parsed.control or "")
            log.log(logging.WARNING if "error" in text.lower() else logging.INFO, "control message: %s", text)
            return
        if len(self._tokens_seen) > 200_000:   # thousands of new tokens a day: forget (re-sending is harmless)
            self._tokens_seen.clear()
        for token in parsed.tokens:
            key = (token.mint, token.name is not None)
            if key not in self._tokens_seen:
                self._tokens_seen.add(key)
                self.pending_tokens.append(token)
        for trade in parsed.trades:
            self._buffer_trade(trade, now)

    async def _reply(self, text: str) -> None:
        try:
            async with self._send_lock:
                if self._ws is not None:
                    await self._ws.send(text)
        except WebSocketException:
            pass

    def _buffer_trade(self, trade: TradeRow, now: datetime) -> None:
        self.counters.trades_received += 1
        if len(self.buffer) >= self.tuning.max_buffer:
            margin = timedelta(seconds=self.tuning.gap_margin_s)
            if self._overflow is None:
                self._overflow = Gap(disconnected_at=now - margin, reason="buffer full (warehouse unreachable): "
                                     "trades dropped", mints=sorted(self.subscribed), reconnected_at=now + margin)
                self.gaps.append(self._overflow)
                log.error("buffer full (%d trades): dropping new trades; the period is recorded as a gap",
                          len(self.buffer))
            self._overflow.reconnected_at = now + margin
            self._overflow.touch()
            return
        if self._overflow is not None:
            self._overflow = None   # room again: the recorded gap is final
        if not self.buffer:
            self._buffer_since = time.monotonic()
            self._flush_wanted.set()   # the flush loop starts timing this batch
        self.buffer.append(trade)
        if len(self.buffer) >= self.tuning.batch_size:
            self._flush_wanted.set()

    # -- flushing --------------------------------------------------------------------------------------------------
    def _status(self) -> dict[str, Any]:
        return {
            "host": socket.gethostname(), "pid": os.getpid(), "started_at": self.started_at, "state": self.state,
            "connected_since": self.connected_since if self.state == "connected" else None,
            "last_message_at": self.last_message_at, "last_flush_at": self.last_flush_at,
            "subscribed_mints": len(self.subscribed), "trades_buffered": len(self.buffer), **asdict(self.counters)}

    async def flush(self, everything: bool = True, trades: bool = True) -> bool:
        """Write buffered trades (in batches), tokens, rejects, gaps and the status row. False if a write failed."""
        async with self._sync_lock:
            while True:
                n = min(len(self.buffer), self.tuning.batch_size) if trades else 0
                batch = self.buffer[:n]
                tokens, rejects = list(self.pending_tokens), list(self.rejects)
                status = self._status()
                status["trades_buffered"] = len(self.buffer) - n
                if batch:
                    status["flushes"] += 1
                    status["last_flush_at"] = self._now()
                try:
                    result = await self.writer.sync(batch=batch, tokens=tokens, rejects=rejects, gaps=self.gaps,
                                                     status=status)
                except Exception as exc:  # noqa: BLE001 - the data stays buffered; retried with back-off
                    self.counters.flush_errors += 1
                    log.error("flush of %d trade(s) failed, kept for retry: %s: %s", len(batch),
                              type(exc).__name__, redact(exc))
                    await self.writer.reset()
                    return False
                del self.buffer[:n]
                del self.pending_tokens[:len(tokens)]
                del self.rejects[:len(rejects)]
                self.gaps = [g for g in self.gaps if g.reconnected_at is None or g.dirty or g is self._overflow]
                self._buffer_since = time.monotonic() if self.buffer else None
                if batch:
                    self.counters.flushes += 1
                    self.last_flush_at = status["last_flush_at"]
                self.counters.trades_inserted += len(result.inserted)
                self.counters.trades_duplicate += result.duplicates
                if result.inserted:
                    self._note_inserted(result.inserted)
                    log.debug("flushed %d trade(s): %d new, %d duplicate", len(batch), len(result.inserted),
                              result.duplicates)
                if not (trades and everything) or len(self.buffer) < (
                        1 if self.state == "stopped" else self.tuning.batch_size):
                    return True

    async def _flush_loop(self) -> None:
        while True:
            timeout = None
            if self._buffer_since is not None:
                timeout = max(0.0, self._buffer_since + self.tuning.flush_interval_s - time.monotonic())
            try:
                await asyncio.wait_for(self._flush_wanted.wait(), timeout)
            except TimeoutError:
                pass
            self._flush_wanted.clear()
            due = self._buffer_since is not None and (
                len(self.buffer) >= self.tuning.batch_size
                or time.monotonic() >= self._buffer_since + self.tuning.flush_interval_s)
            if not (due or self.rejects or self.pending_tokens or any(g.dirty for g in self.gaps)):
                continue
            if not await self.flush(trades=due):
                await asyncio.sleep(self._backoff(self.counters.flush_errors, self.tuning.db_retry_max_s))
                self._flush_wanted.set()

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tuning.status_interval_s)
            await self.flush(trades=False)
            if time.monotonic() - self._last_summary >= 60:
                self._last_summary = time.monotonic()
                log.info("stream %s: %s, %d buffered, %s", self.config.stream, self.state, len(self.buffer),
                         ", ".join(f"{k}={v}" for k, v in asdict(self.counters).items()))

    async def _watchlist_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tuning.watchlist_refresh_s)
            try:
                async with self._sync_lock:
                    self.watchlist = await self.writer.watchlist()
            except Exception as exc:  # noqa: BLE001 - keep the current subscriptions
                log.warning("could not re-read the watchlist: %s", redact(exc))
                await self.writer.reset()
                continue
            ws = self._ws
            if ws is None or self.state != "connected" or not self.config.api_key:
                continue
            wanted = set(self.watchlist)
            added, removed = sorted(wanted - self.subscribed), sorted(self.subscribed - wanted)
            try:
                if added:
                    await self._send_keys(ws, "subscribeTokenTrade", added)
                if removed:
                    await self._send_keys(ws, "unsubscribeTokenTrade", removed)
            except WebSocketException as exc:
                log.warning("could not update subscriptions (will resubscribe on reconnect): %s", redact(exc))
                continue
            if added or removed:
                self.subscribed = wanted
                log.info("watchlist changed: subscribed %d, unsubscribed %d token(s)", len(added), len(removed))

    # -- asset events ----------------------------------------------------------------------------------------------
    def _note_inserted(self, inserted: list[TradeRow]) -> None:
        if not self.assets.enabled:
            return
        first, last = min(t.block_time for t in inserted), max(t.block_time for t in inserted)
        pending = self._asset_pending or {"stream": self.config.stream, "trades": 0,
                                          "first_block_time": first.isoformat(), "last_block_time": last.isoformat()}
        pending["trades"] += len(inserted)
        pending["first_block_time"] = min(pending["first_block_time"], first.isoformat())
        pending["last_block_time"] = max(pending["last_block_time"], last.isoformat())
        self._asset_pending = pending
        self._asset_wanted.set()

    async def _asset_loop(self) -> None:
        last_sent = -float("inf")
        while True:
            await self._asset_wanted.wait()
            wait = last_sent + self.tuning.asset_event_interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._asset_wanted.clear()
            last_sent = time.monotonic()
            await self._send_asset_event()

    async def _send_asset_event(self) -> None:
        extra, self._asset_pending = self._asset_pending, None
        if extra is None:
            return
        try:
            await asyncio.to_thread(self.assets.send, extra)
            self.counters.asset_events_sent += 1
            self._asset_failures_logged = 0
        except AssetEventError as exc:
            self.counters.asset_events_failed += 1
            if self._asset_pending is None:   # keep the trades for the next attempt
                self._asset_pending = extra
            else:
                pending = self._asset_pending
                pending["trades"] += extra["trades"]
                pending["first_block_time"] = min(pending["first_block_time"], extra["first_block_time"])
                pending["last_block_time"] = max(pending["last_block_time"], extra["last_block_time"])
            self._asset_wanted.set()
            level = logging.WARNING if self._asset_failures_logged % 20 == 0 else logging.DEBUG
            self._asset_failures_logged += 1
            log.log(level, "trades asset event not recorded (%d failure(s) so far; candles still run every 5 "
                    "minutes): %s", self.counters.asset_events_failed, redact(exc))
