"""A local websocket server that replays recorded trade-feed frames: the stand-in for PumpPortal in the tests and
the offline demo.

A *script* is a list of steps, consumed once across connections (a client that reconnects continues after the
step where it was cut off):

* ``{"send": "<text>"}`` / ``{"json": {...}}``: send one frame (anything: a malformed frame is just bad text);
* ``{"drop": true}``: cut the TCP connection without a close frame (what a network failure looks like);
* ``{"close": 1011}``: close cleanly with that code;
* ``{"sleep": 0.1}``: pause;
* ``{"expect": {"method": "subscribeTokenTrade"}}``: wait (up to 10 s) until this connection's client has sent a
  message containing these items (so a test knows the client subscribed before what follows).

``reject_next(n, status)`` refuses the next ``n`` handshakes with an HTTP status. Every connection's path, query
(``api-key`` masked) and the client's messages are recorded; subscription messages are answered like PumpPortal
does. With ``generator`` (the demo), frames are produced forever once the script is exhausted.

    python -m cryptoflow.stream.ws_replay --port 8766 --demo      # endless time-shifted demo trades
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from cryptoflow.paths import INCLUDE_DIR
from cryptoflow.secrets import MASK, is_secret_param

log = logging.getLogger(__name__)
Step = dict[str, Any]


@dataclass
class RecordedConnection:
    number: int
    path: str
    query: dict[str, str]
    messages: list[Any] = field(default_factory=list)
    frames_sent: int = 0
    ended_by: str = ""
    unmet: list[Any] = field(default_factory=list)

    def has_message(self, expected: dict) -> bool:
        return any(isinstance(m, dict) and all(m.get(k) == v for k, v in expected.items()) for m in self.messages)


class WsReplayServer:
    def __init__(self, script: list[Step] | None = None, host: str = "127.0.0.1", port: int = 0, *,
                 generator: Callable[[], Iterator[str]] | None = None, rate_per_s: float = 20.0,
                 drop_every_s: float | None = None):
        self.script: list[Step] = list(script or [])
        self.host, self.port = host, port
        self.generator = generator
        self.rate_per_s = rate_per_s
        self.drop_every_s = drop_every_s
        self.connections: list[RecordedConnection] = []
        self.cursor = 0
        self._rejects: list[int] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._frames: Iterator[str] | None = None

    # -- control (thread-safe) -------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/api/data"

    def extend(self, steps: list[Step]) -> None:
        with self._lock:
            self.script.extend(steps)

    def reject_next(self, times: int, status: int = 503) -> None:
        with self._lock:
            self._rejects.extend([status] * times)

    @property
    def exhausted(self) -> bool:
        with self._lock:
            return self.cursor >= len(self.script)

    def frames_sent(self) -> int:
        return sum(c.frames_sent for c in self.connections)

    def client_messages(self) -> list[Any]:
        return [m for c in self.connections for m in c.messages]

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> WsReplayServer:
        self._thread = threading.Thread(target=self._run, name="ws-replay", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        if not self._ready.is_set():
            raise RuntimeError("the websocket replay server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> WsReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        async with serve(self._handle, self.host, self.port, process_request=self._process_request,
                         ping_interval=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stopped.wait()
            server.close(close_connections=True)

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        with self._lock:
            status = self._rejects.pop(0) if self._rejects else None
        if status is not None:
            return connection.respond(status, "replay server: refused on purpose\n")
        return None

    # -- one connection --------------------------------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        parts = urlsplit(ws.request.path)
        query = {k: (MASK if is_secret_param(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)}
        record = RecordedConnection(number=len(self.connections) + 1, path=parts.path, query=query)
        self.connections.append(record)
        subscribed = asyncio.Event()
        reader = asyncio.create_task(self._read(ws, record, subscribed))
        try:
            try:
                await asyncio.wait_for(subscribed.wait(), timeout=10)
            except TimeoutError:
                pass
            record.ended_by = await self._replay(ws, record)
        except ConnectionClosed:
            record.ended_by = "client closed"
        finally:
            reader.cancel()

    async def _read(self, ws: ServerConnection, record: RecordedConnection, subscribed: asyncio.Event) -> None:
        try:
            async for message in ws:
                try:
                    parsed = json.loads(message)
                except ValueError:
                    parsed = message
                record.messages.append(parsed)
                method = parsed.get("method") if isinstance(parsed, dict) else None
                if method == "subscribeNewToken":
                    await ws.send(json.dumps({"message": "Successfully subscribed to token creation events."}))
                elif method in ("subscribeTokenTrade", "subscribeAccountTrade"):
                    await ws.send(json.dumps({"message": "Successfully subscribed to keys."}))
                elif method and method.startswith("unsubscribe"):
                    await ws.send(json.dumps({"message": "Unsubscribed from keys."}))
                if method:
                    subscribed.set()
        except ConnectionClosed:
            pass

    def _next_step(self) -> Step | None:
        with self._lock:
            if self.cursor < len(self.script):
                step = self.script[self.cursor]
                self.cursor += 1
                return step
        return None

    async def _replay(self, ws: ServerConnection, record: RecordedConnection) -> str:
        connected_at = asyncio.get_running_loop().time()
        while not self._stopped.is_set():
            step = self._next_step()
            if step is None:
                if self.generator is None:
                    await ws.wait_closed()
                    return "client closed"
                if self.drop_every_s and asyncio.get_running_loop().time() - connected_at > self.drop_every_s:
                    ws.transport.abort()
                    return "dropped (demo)"
                if self._frames is None:
                    self._frames = self.generator()
                await asyncio.sleep(random.expovariate(self.rate_per_s))
                step = {"send": next(self._frames)}
            if "sleep" in step:
                await asyncio.sleep(float(step["sleep"]))
            elif "expect" in step:
                deadline = asyncio.get_running_loop().time() + 10
                while not record.has_message(step["expect"]):
                    if asyncio.get_running_loop().time() > deadline:
                        record.unmet.append(step["expect"])
                        log.warning("connection %d: the client never sent %s", record.number, step["expect"])
                        break
                    await asyncio.sleep(0.01)
            elif step.get("drop"):
                ws.transport.abort()
                return "dropped"
            elif "close" in step:
                await ws.close(int(step["close"]), "replay server: closing on purpose")
                return "closed"
            else:
                text = step["send"] if "send" in step else json.dumps(step["json"])
                await ws.send(text)
                record.frames_sent += 1
        return "server stopped"


# -- the demo ----------------------------------------------------------------------------------------------------
DEMO_DIR = INCLUDE_DIR / "demo" / "pumpfun"


def demo_frames(directory: Path = DEMO_DIR, seed: int | None = None) -> Callable[[], Iterator[str]]:
    """Endless frames shaped like the recorded ones: trades of the demo tokens at a random-walk price stamped now,
    now and then a token creation and a frontend-shaped (``tradeCreated``) trade. Without a seed, each start
    makes new signatures (a restarted demo must not replay trades the warehouse already has)."""
    spec = json.loads((directory / "demo.json").read_text())
    seed = time.time_ns() if seed is None else seed

    def generate() -> Iterator[str]:
        rng = random.Random(seed)
        prices = {t["mint"]: float(t["price_sol"]) for t in spec["tokens"]}
        n = 0
        while True:
            n += 1
            token = rng.choice(spec["tokens"])
            mint = token["mint"]
            prices[mint] *= 1 + rng.gauss(0, 0.004)
            sol = round(rng.uniform(0.01, 2.5), 9)
            tokens = round(sol / prices[mint], 6)
            signature = "".join(rng.choice(spec["alphabet"]) for _ in range(88))
            trader = rng.choice(spec["traders"])
            if n % 97 == 0:
                new_mint = "".join(rng.choice(spec["alphabet"]) for _ in range(40)) + "pump"
                frame = dict(spec["create_template"], signature=signature, mint=new_mint,
                             traderPublicKey=trader, name=f"Demo coin {n}", symbol=f"DEMO{n % 1000}")
                yield json.dumps(frame)
            elif n % 11 == 0:
                frame = dict(spec["trade_created_template"], signature=signature, mint=mint, user=trader,
                             is_buy=rng.random() < 0.5, sol_amount=int(sol * 1e9), token_amount=int(tokens * 1e6),
                             timestamp=int(datetime.now(UTC).timestamp()), name=token["name"],
                             symbol=token["symbol"])
                yield "42" + json.dumps(["tradeCreated", frame])
            else:
                frame = dict(spec["pumpportal_template"], signature=signature, mint=mint, traderPublicKey=trader,
                             txType=rng.choice(["buy", "sell"]), tokenAmount=tokens, solAmount=sol)
                yield json.dumps(frame)

    return generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cryptoflow.stream.ws_replay", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--script", type=Path, help="a JSON file with a list of steps to replay first")
    parser.add_argument("--demo", action="store_true", help="then generate demo trades forever")
    parser.add_argument("--rate", type=float, default=5.0, help="demo frames per second (default: %(default)s)")
    parser.add_argument("--drop-every", type=float, default=None, help="demo: cut each connection after N seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    script = json.loads(args.script.read_text()) if args.script else []
    server = WsReplayServer(script, args.host, args.port, generator=demo_frames() if args.demo else None,
                            rate_per_s=args.rate, drop_every_s=args.drop_every)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        server.start()
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 2
    log.info("websocket replay server on %s (%d scripted steps%s)", server.url, len(script),
             ", then demo trades" if args.demo else "")
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
